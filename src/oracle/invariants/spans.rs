//! An imu's first `nr_bvecs` entries as spans of the table's runs, so that
//! an invariant over a buffer costs what its runs cost, not its entries: a
//! `SZ_1T` buffer of small pages is 2^28 bvecs and a few hundred runs. Each
//! check that walks spans gives, entry for entry, what a walk over the
//! entries one by one gives: the same details, counts and order.

use crate::mm::{FolioId, Pfn};
use crate::model::iov_iter::{push_merged, PhysRange};
use crate::model::world::POISON_PFN;
use crate::model::World;

/// Entries `first..first + n`: entry `first + k` has page
/// `page + k * page_step` and names `(addr + k * page_step * PAGE_SIZE,
/// len)`. A slot never written is `POISON_PFN` with no bytes, and steps 0.
#[derive(Clone, Copy, Debug)]
pub struct Span {
    /// Index of the first entry.
    pub first: u64,
    /// Entries.
    pub n: u64,
    /// `bv_page` of the first entry.
    pub page: Pfn,
    /// 1 for written entries (`bv_page + k`), 0 for unwritten ones.
    pub page_step: u64,
    /// `(bv_page << PAGE_SHIFT) + bv_offset` of the first entry.
    pub addr: u64,
    /// `bv_len` of every entry.
    pub len: u64,
    /// Whether the entries were written.
    pub written: bool,
}

impl Span {
    /// The physical range entry `first + k` names.
    pub fn range(&self, k: u64, page_size: u64) -> PhysRange {
        (self.addr + k * self.page_step * page_size, self.len)
    }

    /// `(offset, n, folio)` pieces of the span's entries, split where their
    /// pages leave a folio (by `bv_page`, as the kernel's unpin finds it).
    pub fn folio_pieces<'a>(
        &'a self,
        w: &'a World,
    ) -> Box<dyn Iterator<Item = (u64, u64, Option<FolioId>)> + 'a> {
        if self.page_step == 0 {
            return Box::new(std::iter::once((0, self.n, w.phys.page_folio(self.page))));
        }
        Box::new(
            crate::model::runs::folio_pieces(&w.phys, self.page, self.n)
                .map(|(o, _, k, f)| (o, k, f)),
        )
    }
}

/// The first `nr_bvecs` entries of `imu` (those that exist), as spans.
pub fn bvec_spans(w: &World, imu: crate::mm::AllocId) -> Vec<Span> {
    let shift = w.geo.page_shift;
    w.imu(imu)
        .bvec_runs()
        .into_iter()
        .map(|(first, n, run)| match run {
            Some(r) => Span {
                first,
                n,
                page: r.bv.bv_page,
                page_step: 1,
                addr: (r.bv.bv_page << shift) + r.bv.bv_offset,
                len: r.bv.bv_len,
                written: true,
            },
            None => Span {
                first,
                n,
                page: POISON_PFN,
                page_step: 0,
                addr: POISON_PFN << shift,
                len: 0,
                written: false,
            },
        })
        .collect()
}

/// The bytes the spans name, in entry order, merged where one ends where
/// the next begins: [`push_merged`] of every entry.
pub fn merged_bytes(spans: &[Span], page_size: u64) -> Vec<PhysRange> {
    let mut out = Vec::new();
    for s in spans {
        // Entries that follow each other page by page merge into one
        // range; empty unwritten ones add nothing after the first.
        if !s.written {
            push_merged(&mut out, (s.addr, 0));
        } else if s.len == page_size {
            push_merged(&mut out, (s.addr, s.n * page_size));
        } else {
            for k in 0..s.n {
                push_merged(&mut out, s.range(k, page_size));
            }
        }
    }
    out
}

/// Σ `bv_len` and the number of entries.
pub fn total(spans: &[Span]) -> (u64, u64) {
    spans
        .iter()
        .fold((0, 0), |(b, n), s| (b + s.len * s.n, n + s.n))
}

/// The stretches of `[from, to)` in which an entry's result can only be the
/// same as its neighbours': split at `cuts` (entries that may differ; one
/// out of range, wrapped below 0 as the callers compute it, splits nothing).
pub fn stretches(from: u64, to: u64, cuts: &[u64]) -> Vec<(u64, u64)> {
    let mut at: Vec<u64> = cuts
        .iter()
        .flat_map(|&c| [c, c.wrapping_add(1)])
        .filter(|&c| c > from && c < to)
        .collect();
    at.push(from);
    at.push(to);
    at.sort_unstable();
    at.dedup();
    at.windows(2).map(|w| (w[0], w[1])).collect()
}
