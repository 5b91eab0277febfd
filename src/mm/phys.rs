//! Physical memory: folios placed in page-frame-number space, with the page
//! helpers of include/linux/mm.h and the counters mm/gup.c keeps.
//!
//! A pfn outside every folio is memory the scenario does not own ("foreign"
//! memory, another process's pages): reading or writing it through a bvec is
//! exactly what the coverage oracle is there to catch.

use super::{Geometry, GUP_PIN_COUNTING_BIAS};
use serde::{Deserialize, Serialize};

/// A `struct page *`: a page frame number. Pointer arithmetic is integer
/// arithmetic, as it is on `vmemmap`.
pub type Pfn = u64;

/// Index of a folio in [`PhysMem`]. The kernel's `struct folio *` is the head
/// page; [`PhysMem::folio`] gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FolioId(pub u32);

/// What allocated a folio; decides `folio_test_hugetlb` and which mappings
/// user space can make of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FolioKind {
    /// An order-0 page (anonymous or shmem).
    Small,
    /// Anonymous multi-size THP of an order between 2 and PMD order - 1.
    Mthp,
    /// Anonymous PMD-sized THP.
    Thp,
    /// A hugetlbfs (memfd `MFD_HUGETLB`) file page, PMD or PUD sized.
    Hugetlb,
    /// A hugetlb page of a `MAP_PRIVATE` mapping, faulted by a write: an
    /// anonymous folio (`folio_test_anon()`) that is also hugetlb.
    HugetlbAnon,
    /// A large shmem (memfd) folio, PMD-sized or mTHP: a file folio, so
    /// neither anonymous nor hugetlb.
    Shmem,
}

/// One folio and its counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Folio {
    /// Pfn of the head page; aligned to `1 << order`.
    pub head: Pfn,
    /// `folio_order()`.
    pub order: u32,
    /// What allocated it.
    pub kind: FolioKind,
    /// `folio_ref_count()`.
    pub refcount: i64,
    /// `folio->_pincount` (large folios only; always 0 for order 0).
    pub pincount: i64,
}

/// A counter that would have gone negative, or another rule of mm/ broken by
/// the caller. Recorded rather than panicking so the oracle can name it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum MmViolation {
    /// `_pincount` or the refcount dropped below its value before any pin.
    PinUnderflow {
        folio: FolioId,
        head: Pfn,
        pincount: i64,
        refcount: i64,
    },
    /// A page pointer that lies in no folio was handed to a folio helper.
    NotAFolioPage { pfn: Pfn, caller: String },
    /// `VM_BUG_ON_PAGE` in `sanity_check_pinned_pages()` (CONFIG_DEBUG_VM):
    /// an anonymous page was unpinned through a page that, like its head,
    /// is not `PageAnonExclusive`, so it cannot be a page that was pinned.
    UnpinNotExclusive { pfn: Pfn, head: Pfn, caller: String },
}

/// All folios of a scenario, by id: in pfn order as the build placed them,
/// then the pages of any THP a pin split ([`PhysMem::split_folio`]).
#[derive(Clone, Debug, Default)]
pub struct PhysMem {
    folios: Vec<Folio>,
    /// Every folio by head pfn, for `page_folio()`.
    by_head: Vec<(Pfn, FolioId)>,
    /// THPs and mTHPs a FOLL_LONGTERM pin split, in order: the folio, whose
    /// id its first page keeps, and its order before.
    pub split: Vec<(FolioId, u32)>,
    /// Counters before any pin, to tell an underflow from a legitimate drop.
    baseline: Vec<(i64, i64)>,
    /// Pages of anonymous folios whose `PageAnonExclusive` is clear. Freshly
    /// faulted anonymous memory is exclusive, so this is empty unless a
    /// scenario shares a folio through fork().
    not_exclusive: std::collections::BTreeSet<Pfn>,
    /// Private hugetlb folios a fork()ed child still maps, each with the
    /// free pool page its copy will take: the first pin that reaches one
    /// copies it (hugetlb's COW) and takes the entry out.
    cow_pending: std::collections::BTreeMap<FolioId, FolioId>,
    /// Copies made, `(original, copy)`, in the order the pins made them.
    pub copied: Vec<(FolioId, FolioId)>,
    /// Violations in the order they happened.
    pub violations: Vec<MmViolation>,
}

impl PhysMem {
    /// Adds a folio at `head` (must be aligned and above every earlier one).
    pub fn add_folio(&mut self, head: Pfn, order: u32, kind: FolioKind) -> FolioId {
        debug_assert_eq!(head % (1 << order), 0, "folio not naturally aligned");
        debug_assert!(self
            .folios
            .last()
            .map_or(true, |f| f.head + (1 << f.order) <= head));
        // One reference for being allocated and mapped; pins add to it.
        self.folios.push(Folio {
            head,
            order,
            kind,
            refcount: 1,
            pincount: 0,
        });
        self.baseline.push((1, 0));
        let id = FolioId(self.folios.len() as u32 - 1);
        self.by_head.push((head, id));
        id
    }

    /// FOLL_LONGTERM's migration of an anonymous THP or mTHP out of
    /// ZONE_MOVABLE or CMA when no folio of its size is free to take it:
    /// mm/migrate.c splits it (`try_split_folio()`) and moves each page
    /// alone, so the pin takes order-0 pages. Modelled in place: its pages
    /// become order-0 folios at the same pfns, the head keeping the id and
    /// the others appended, each keeping the kind (anonymous, a THP's or an
    /// mTHP's pages); where the pages move to, the registration path cannot
    /// see. Only an unpinned folio is split (a pinned one was
    /// migrated when it was pinned). The new folios' ids, in pfn order.
    pub fn split_folio(&mut self, id: FolioId) -> Vec<FolioId> {
        let f = self.folio(id).clone();
        debug_assert!(matches!(f.kind, FolioKind::Thp | FolioKind::Mthp));
        debug_assert_eq!(self.pins(id), 0);
        self.split.push((id, f.order));
        let at = |s: &Self| s.by_head.partition_point(|&(h, _)| h <= f.head);
        let mut ids = vec![id];
        let mut new = Vec::new();
        for p in f.head + 1..f.head + (1 << f.order) {
            self.folios.push(Folio {
                head: p,
                order: 0,
                kind: f.kind,
                refcount: 1,
                pincount: 0,
            });
            self.baseline.push((1, 0));
            let nid = FolioId(self.folios.len() as u32 - 1);
            ids.push(nid);
            new.push((p, nid));
        }
        let i = at(self);
        self.by_head.splice(i..i, new);
        self.folios[id.0 as usize].order = 0;
        ids
    }

    /// The state after fork() and the child's exit: every page of the
    /// anonymous folio `id` loses `PageAnonExclusive` (copy_present_pte()
    /// clears it for the COW share, and the child's exit does not restore it).
    pub fn share_after_fork(&mut self, id: FolioId) {
        let f = self.folio(id);
        debug_assert!(self.folio_test_anon(id));
        let (head, n) = (f.head, 1u64 << f.order);
        self.not_exclusive.extend(head..head + n);
    }

    /// The state while a fork()ed child still maps the private hugetlb
    /// folio `id`: shared as after fork(), and mapped twice, so the first
    /// pin copies it into `copy` (a free pool page, placed by the caller).
    pub fn share_with_child(&mut self, id: FolioId, copy: FolioId) {
        debug_assert_eq!(self.folio(id).kind, FolioKind::HugetlbAnon);
        self.share_after_fork(id);
        self.cow_pending.insert(id, copy);
    }

    /// The pool page a pin of `id` copies into, while a child maps `id`.
    pub fn cow_target(&self, id: FolioId) -> Option<FolioId> {
        self.cow_pending.get(&id).copied()
    }

    /// hugetlb's COW of `id` into its pool page: the copy is freshly
    /// faulted, so exclusive; the original stays the child's, unpinned.
    pub fn cow_copy(&mut self, id: FolioId) -> Option<FolioId> {
        let copy = self.cow_pending.remove(&id)?;
        self.copied.push((id, copy));
        Some(copy)
    }

    /// `folio_test_anon()`: THP, mTHP and private hugetlb pages are
    /// anonymous; small pages and large shmem folios are shmem, and the
    /// other hugetlb pages memfd file pages.
    pub fn folio_test_anon(&self, id: FolioId) -> bool {
        matches!(
            self.folio(id).kind,
            FolioKind::Thp | FolioKind::Mthp | FolioKind::HugetlbAnon
        )
    }

    /// `PageAnonExclusive()`.
    pub fn page_anon_exclusive(&self, page: Pfn) -> bool {
        !self.not_exclusive.contains(&page)
    }

    /// What a FOLL_PIN of a non-exclusive anonymous page leads to
    /// (gup_must_unshare() → FAULT_FLAG_UNSHARE → wp_can_reuse_anon_folio()):
    /// the only remaining mapper reuses the page and marks it exclusive. A
    /// PMD-mapped THP is reused whole, and its flag lives on the head page.
    pub fn unshare(&mut self, page: Pfn, pmd_mapped: bool) {
        // hugetlb_wp() reuses the whole huge page and flags its head; the
        // model clears every page so none is left looking shared.
        if let Some(f) = self
            .page_folio(page)
            .filter(|&f| self.folio_test_hugetlb(f))
        {
            let (head, n) = (self.folio(f).head, self.folio_nr_pages(f));
            let shared: Vec<Pfn> = self.not_exclusive.range(head..head + n).copied().collect();
            for p in shared {
                self.not_exclusive.remove(&p);
            }
            return;
        }
        let target = if pmd_mapped {
            self.compound_head(page)
        } else {
            page
        };
        self.not_exclusive.remove(&target);
    }

    /// Whether any page is non-exclusive (lets the pin walk skip the unshare
    /// step in the common case).
    pub fn any_not_exclusive(&self) -> bool {
        !self.not_exclusive.is_empty()
    }

    /// All folios, by id: in pfn order but for the pages of a split THP.
    pub fn folios(&self) -> &[Folio] {
        &self.folios
    }

    /// The folio with this id.
    pub fn folio(&self, id: FolioId) -> &Folio {
        &self.folios[id.0 as usize]
    }

    /// `page_folio()`; `None` for a pfn that lies in no folio of the scenario.
    pub fn page_folio(&self, page: Pfn) -> Option<FolioId> {
        let i = self.by_head.partition_point(|&(h, _)| h <= page);
        let (_, id) = *self.by_head.get(i.checked_sub(1)?)?;
        let f = self.folio(id);
        (page < f.head + (1 << f.order)).then_some(id)
    }

    /// `compound_head()`: the head page, or the page itself outside folios.
    pub fn compound_head(&self, page: Pfn) -> Pfn {
        self.page_folio(page).map_or(page, |f| self.folio(f).head)
    }

    /// `PageCompound()`: true for every page of a large folio.
    pub fn page_compound(&self, page: Pfn) -> bool {
        self.page_folio(page)
            .is_some_and(|f| self.folio(f).order > 0)
    }

    /// `folio_page_idx()`.
    pub fn folio_page_idx(&self, folio: FolioId, page: Pfn) -> u64 {
        page.wrapping_sub(self.folio(folio).head)
    }

    /// `folio_nr_pages()`.
    pub fn folio_nr_pages(&self, folio: FolioId) -> u64 {
        1 << self.folio(folio).order
    }

    /// `folio_shift()`.
    pub fn folio_shift(&self, geo: &Geometry, folio: FolioId) -> u32 {
        geo.page_shift + self.folio(folio).order
    }

    /// `folio_size()`.
    pub fn folio_size(&self, geo: &Geometry, folio: FolioId) -> u64 {
        geo.folio_bytes(self.folio(folio).order)
    }

    /// `folio_test_hugetlb()`.
    pub fn folio_test_hugetlb(&self, folio: FolioId) -> bool {
        matches!(
            self.folio(folio).kind,
            FolioKind::Hugetlb | FolioKind::HugetlbAnon
        )
    }

    /// `page_size()`: `PAGE_SIZE << compound_order(page)`, the folio's size
    /// for a head page and `PAGE_SIZE` for a tail page, as the kernel's.
    pub fn page_size(&self, geo: &Geometry, page: Pfn) -> u64 {
        geo.page_size() << self.compound_order(page)
    }

    /// `compound_order()`: the folio's order for its head page, 0 for any
    /// other page (a tail page has no `PG_head`), as include/linux/mm.h has it.
    pub fn compound_order(&self, page: Pfn) -> u32 {
        match self.page_folio(page) {
            Some(f) if self.folio(f).head == page => self.folio(f).order,
            _ => 0,
        }
    }

    /// One FOLL_PIN grab of `refs` entries, as `try_grab_folio()` does: a large
    /// folio gets `_pincount += refs` and `refcount += refs`; an order-0 page
    /// gets `refcount += refs * GUP_PIN_COUNTING_BIAS`.
    pub fn grab_pin(&mut self, folio: FolioId, refs: i64) {
        let f = &mut self.folios[folio.0 as usize];
        if f.order > 0 {
            f.pincount += refs;
            f.refcount += refs;
        } else {
            f.refcount += refs * GUP_PIN_COUNTING_BIAS;
        }
    }

    /// The undo of [`PhysMem::grab_pin`] (`gup_put_folio(folio, refs, FOLL_PIN)`).
    /// Going below the pre-pin baseline is recorded as a violation.
    pub fn put_pin(&mut self, folio: FolioId, refs: i64) {
        let f = &mut self.folios[folio.0 as usize];
        if f.order > 0 {
            f.pincount -= refs;
            f.refcount -= refs;
        } else {
            f.refcount -= refs * GUP_PIN_COUNTING_BIAS;
        }
        self.check_underflow(folio);
    }

    /// Whether [`PhysMem::put_pin`] of `refs` would leave both counters at
    /// or above their baseline (so one step records nothing).
    pub fn put_pin_keeps_baseline(&self, folio: FolioId, refs: i64) -> bool {
        let (base_ref, base_pin) = self.baseline[folio.0 as usize];
        let f = &self.folios[folio.0 as usize];
        if f.order > 0 {
            f.pincount - refs >= base_pin && f.refcount - refs >= base_ref
        } else {
            f.pincount >= base_pin && f.refcount - refs * GUP_PIN_COUNTING_BIAS >= base_ref
        }
    }

    /// Model of `folio_put_refs(folio, refs)`: drops plain references only,
    /// leaving `_pincount` as it was. Going below the pre-pin baseline is
    /// recorded as a violation.
    pub fn folio_put_refs(&mut self, folio: FolioId, refs: i64) {
        self.folios[folio.0 as usize].refcount -= refs;
        self.check_underflow(folio);
    }

    /// Records a [`MmViolation::PinUnderflow`] if either counter of `folio`
    /// is below its value before any pin.
    fn check_underflow(&mut self, folio: FolioId) {
        let (base_ref, base_pin) = self.baseline[folio.0 as usize];
        let f = &self.folios[folio.0 as usize];
        if f.pincount < base_pin || f.refcount < base_ref {
            let v = MmViolation::PinUnderflow {
                folio,
                head: f.head,
                pincount: f.pincount,
                refcount: f.refcount,
            };
            self.violations.push(v);
        }
    }

    /// Pins held on `folio` by FOLL_PIN users: `_pincount` for large folios,
    /// the refcount above baseline divided by the bias for order-0 pages.
    pub fn pins(&self, folio: FolioId) -> i64 {
        let f = self.folio(folio);
        if f.order > 0 {
            f.pincount - self.baseline[folio.0 as usize].1
        } else {
            (f.refcount - self.baseline[folio.0 as usize].0).div_euclid(GUP_PIN_COUNTING_BIAS)
        }
    }

    /// `(refcount, pincount)` of every folio, for before/after comparisons.
    pub fn counters(&self) -> Vec<(i64, i64)> {
        self.folios
            .iter()
            .map(|f| (f.refcount, f.pincount))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_size_and_compound_order_are_the_folios_only_at_its_head() {
        let geo = Geometry::REAL;
        let mut p = PhysMem::default();
        let thp = p.add_folio(0x1000, 9, FolioKind::Thp);
        let head = p.folio(thp).head;
        assert_eq!(
            (p.compound_order(head), p.page_size(&geo, head)),
            (9, 2 << 20)
        );
        assert_eq!(
            (p.compound_order(head + 1), p.page_size(&geo, head + 1)),
            (0, 4096)
        );
        assert_eq!(p.page_size(&geo, 0x10), 4096, "a page outside every folio");
        assert!(
            p.page_compound(head + 1),
            "a tail page is still PageCompound"
        );
    }
}
