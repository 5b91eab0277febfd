//! The user address space: which folio page backs each virtual page, and
//! whether it may be written.
//!
//! Mappings are kept as runs of consecutive virtual pages backed by
//! consecutive pages of one folio; that is how page tables look after any of
//! the calls user space has (mmap of a hugetlb memfd, a PMD-mapped THP, a THP
//! split by a partial mremap, mTHP, small pages). Holes are just gaps.

use super::{FolioId, Pfn};

/// A run of virtual pages mapped onto consecutive pages of one folio.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// First virtual page number (`vaddr >> PAGE_SHIFT`).
    pub vpn: u64,
    /// Number of pages.
    pub npages: u64,
    /// Pfn backing `vpn`.
    pub pfn: Pfn,
    /// The folio all these pages belong to.
    pub folio: FolioId,
    /// False for a PROT_READ mapping: FOLL_WRITE pins fail there.
    pub writable: bool,
}

/// Mappings sorted by virtual page number, never overlapping.
#[derive(Clone, Debug, Default)]
pub struct AddressSpace {
    maps: Vec<Mapping>,
}

impl AddressSpace {
    /// Adds a mapping; it must lie above every earlier one (the layout builder
    /// places segments in address order and rejects overlaps before this).
    pub fn map(&mut self, m: Mapping) {
        debug_assert!(self.maps.last().map_or(true, |l| l.vpn + l.npages <= m.vpn));
        if m.npages > 0 {
            self.maps.push(m);
        }
    }

    /// Points every mapping of folio `from` (head `from_head`) at the same
    /// pages of folio `to` (head `to_head`): a COW that gives this address
    /// space a copy of the folio in place of the one it shared.
    pub fn remap_folio(&mut self, from: FolioId, from_head: Pfn, to: FolioId, to_head: Pfn) {
        for m in self.maps.iter_mut().filter(|m| m.folio == from) {
            m.pfn = to_head + (m.pfn - from_head);
            m.folio = to;
        }
    }

    /// Gives every page of the mappings of folio `from` the folio `of(pfn)`
    /// its page now belongs to: after a split, one mapping a page.
    pub fn split_folio(&mut self, from: FolioId, of: impl Fn(Pfn) -> FolioId) {
        let mut out = Vec::with_capacity(self.maps.len());
        for m in self.maps.drain(..) {
            if m.folio != from {
                out.push(m);
                continue;
            }
            out.extend((0..m.npages).map(|k| Mapping {
                vpn: m.vpn + k,
                npages: 1,
                pfn: m.pfn + k,
                folio: of(m.pfn + k),
                writable: m.writable,
            }));
        }
        self.maps = out;
    }

    /// All mappings in address order.
    pub fn mappings(&self) -> &[Mapping] {
        &self.maps
    }

    /// The mapping containing `vpn`.
    pub fn find(&self, vpn: u64) -> Option<&Mapping> {
        let i = self.maps.partition_point(|m| m.vpn <= vpn);
        let m = self.maps.get(i.checked_sub(1)?)?;
        (vpn < m.vpn + m.npages).then_some(m)
    }

    /// Pfn behind a virtual page, if mapped.
    pub fn translate(&self, vpn: u64) -> Option<(Pfn, bool)> {
        self.find(vpn).map(|m| (m.pfn + (vpn - m.vpn), m.writable))
    }

    /// The physical runs behind `[vpn, vpn + n)` as `(first vpn, pfn, pages)`,
    /// or `None` where a page is unmapped.
    pub fn runs(
        &self,
        vpn: u64,
        n: u64,
    ) -> impl Iterator<Item = (u64, Option<(Pfn, bool, FolioId)>, u64)> + '_ {
        let end = vpn + n;
        let mut cur = vpn;
        std::iter::from_fn(move || {
            if cur >= end {
                return None;
            }
            let i = self.maps.partition_point(|m| m.vpn + m.npages <= cur);
            let item = match self.maps.get(i) {
                Some(m) if m.vpn <= cur => {
                    let len = (m.vpn + m.npages).min(end) - cur;
                    (cur, Some((m.pfn + (cur - m.vpn), m.writable, m.folio)), len)
                }
                Some(m) => (cur, None, m.vpn.min(end) - cur),
                None => (cur, None, end - cur),
            };
            cur += item.2;
            Some(item)
        })
    }
}
