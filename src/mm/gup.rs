//! Model of the FOLL_PIN side of mm/gup.c: `pin_user_pages_fast`,
//! `unpin_user_folio`, `unpin_user_pages`, as of Linux 7.1-rc1.
//!
//! FOLL_LONGTERM's migration out of ZONE_MOVABLE/CMA is not simulated; what
//! the caller can see of it, a walk that stops at some page with -ENOMEM,
//! -EBUSY or -EAGAIN, comes from the fault plan (`FaultPoint::Gup`).
//! COW: a private hugetlb page a fork()ed child still maps is copied into
//! a new pool page by the first write pin that reaches it (hugetlb_wp(), the
//! page being mapped twice); the pool always has that page (the kernel, when
//! it has none, takes the page from the child instead and reuses it).
//! A THP split: with the plan's `gup_split`, the walk splits each unpinned
//! anonymous THP or mTHP it reaches, as FOLL_LONGTERM's migration does when
//! no large folio is free to move it into, and pins its pages as order-0
//! folios. Divergences, none of which the registration path can observe:
//! any other COW unsharing reuses the page (the other non-exclusive
//! anonymous pages are those a fork()ed child shared and left on exit, so
//! the parent is their only mapper), a split THP's pages stay where they
//! were, and the fast/slow GUP split is one walk. A hole or a read-only page ends the walk: the
//! caller gets the count pinned so far, or -EFAULT when nothing was pinned.
//!
//! The path calls these through the variant's GUP hooks
//! ([`crate::variants::Variant::pin_user_pages_fast`] and the unpins), whose
//! defaults are these functions, so a variant can model a change to GUP.

use super::{AddressSpace, FolioKind, Geometry, Pfn, PhysMem};
use crate::model::runs::Pages;
use crate::model::Errno;

/// `FOLL_WRITE`.
pub const FOLL_WRITE: u32 = 0x01;
/// `FOLL_LONGTERM`.
pub const FOLL_LONGTERM: u32 = 0x100;

/// What the fault plan does to one `pin_user_pages_fast()` call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GupFault {
    /// Stop after that many pages with that error.
    pub fail: Option<(u64, Errno)>,
    /// FOLL_LONGTERM splits each unpinned anonymous THP or mTHP it reaches
    /// ([`PhysMem::split_folio`]).
    pub split: bool,
}

/// Model of `pin_user_pages_fast(start, nr_pages, gup_flags, pages)`.
/// Appends one entry per base page (the same page may appear several times
/// when it is mapped several times) and takes one pin per entry. `fault`,
/// from the fault plan, stops it after that many pages with that error, or
/// splits the THPs it reaches.
#[allow(clippy::too_many_arguments)]
pub fn pin_user_pages_fast(
    geo: &Geometry,
    aspace: &mut AddressSpace,
    phys: &mut PhysMem,
    start: u64,
    nr_pages: u64,
    gup_flags: u32,
    pages: &mut Pages,
    fault: GupFault,
) -> Result<u64, Errno> {
    let mut vpn = start >> geo.page_shift;
    let mut pinned = 0u64;
    let limit = fault.fail.map_or(nr_pages, |(k, _)| k.min(nr_pages));
    while pinned < limit {
        let Some((run_vpn, backing, n)) = aspace.runs(vpn, limit - pinned).next() else {
            break;
        };
        let Some((mut pfn, writable, mut folio)) = backing else {
            break;
        };
        if gup_flags & FOLL_WRITE != 0 && !writable {
            break;
        }
        if fault.split
            && gup_flags & FOLL_LONGTERM != 0
            && matches!(phys.folio(folio).kind, FolioKind::Thp | FolioKind::Mthp)
            && phys.folio(folio).order > 0
            && phys.pins(folio) == 0
        {
            phys.split_folio(folio);
            aspace.split_folio(folio, |p| {
                phys.page_folio(p).expect("a page of the split folio")
            });
            continue;
        }
        // A write pin of a private hugetlb page a live child still maps:
        // hugetlb_wp() finds it mapped twice and copies it into a new pool
        // page, which the pin then takes (and every later pin reuses).
        if gup_flags & FOLL_WRITE != 0 && phys.cow_target(folio).is_some() {
            let from_head = phys.folio(folio).head;
            let copy = phys.cow_copy(folio).expect("a pending copy");
            let to_head = phys.folio(copy).head;
            aspace.remap_folio(folio, from_head, copy, to_head);
            pfn = to_head + (pfn - from_head);
            folio = copy;
        }
        if phys.any_not_exclusive() && phys.folio_test_anon(folio) {
            if phys.folio_test_hugetlb(folio) {
                // Its only mapper now: hugetlb_wp() reuses the whole page.
                phys.unshare(pfn, true);
            } else {
                let f = phys.folio(folio);
                let pmd_mapped = f.order == geo.pmd_order
                    && aspace.find(run_vpn).is_some_and(|m| {
                        m.pfn == f.head && m.npages == 1 << f.order && m.vpn % (1 << f.order) == 0
                    });
                for p in pfn..pfn + n {
                    phys.unshare(p, pmd_mapped);
                }
            }
        }
        pages.push_run(pfn, n);
        phys.grab_pin(folio, n as i64);
        pinned += n;
        vpn = run_vpn + n;
    }
    if pinned == 0 {
        return Err(match fault.fail {
            // The walk reached the failing page before any hole.
            Some((_, e)) if limit == 0 => e,
            _ => Errno::EFAULT,
        });
    }
    Ok(pinned)
}

/// Model of `sanity_check_pinned_pages()` — mm/gup.c, 7.1-rc1, as built with
/// CONFIG_DEBUG_VM: a pinned anonymous page is exclusive, and for a large
/// non-hugetlb folio either the page or its head carries the flag. The
/// `VM_BUG_ON_PAGE` is recorded instead of stopping the kernel.
pub fn sanity_check_pinned_pages(phys: &mut PhysMem, pages: &Pages, caller: &str) {
    let pieces: Vec<_> = pages.folio_pieces(phys, 0, pages.len()).collect();
    for (_, first, n, folio) in pieces {
        let Some(folio) = folio else {
            continue;
        };
        if !phys.folio_test_anon(folio) {
            continue;
        }
        let f = phys.folio(folio);
        let head = f.head;
        let by_head = f.order == 0 || phys.folio_test_hugetlb(folio);
        for page in first..first + n {
            let bad = if by_head {
                !phys.page_anon_exclusive(head)
            } else {
                // Either a PTE-mapped or a PMD-mapped THP.
                !phys.page_anon_exclusive(head) && !phys.page_anon_exclusive(page)
            };
            if bad {
                phys.violations
                    .push(super::phys::MmViolation::UnpinNotExclusive {
                        pfn: page,
                        head,
                        caller: caller.into(),
                    });
            } else if by_head {
                // The same head decides for the rest of the piece.
                break;
            }
        }
    }
}

/// `n` single-pin drops on `folio`, as `n` calls would make them: one step
/// when no call would go below the baseline, else call by call, so an
/// underflow is recorded as often, and with the same counters, as in C.
pub fn put_pins_one_by_one(phys: &mut PhysMem, folio: super::FolioId, n: u64) {
    if phys.put_pin_keeps_baseline(folio, n as i64) {
        phys.put_pin(folio, n as i64);
    } else {
        for _ in 0..n {
            phys.put_pin(folio, 1);
        }
    }
}

/// Model of `unpin_user_page(page)`: the sanity check, then one pin off the
/// page's folio.
pub fn unpin_user_page(phys: &mut PhysMem, page: Pfn, caller: &str) {
    sanity_check_pinned_pages(phys, &Pages::from_iter([page]), caller);
    put_page_pin(phys, page, caller);
}

/// One pin off `page`'s folio; a page outside every folio is recorded, not
/// unpinned.
fn put_page_pin(phys: &mut PhysMem, page: Pfn, caller: &str) {
    match phys.page_folio(page) {
        Some(f) => phys.put_pin(f, 1),
        None => phys
            .violations
            .push(super::phys::MmViolation::NotAFolioPage {
                pfn: page,
                caller: caller.into(),
            }),
    }
}

/// Model of `unpin_user_folio(folio, npages)`: drops `npages` pins at once.
pub fn unpin_user_folio(phys: &mut PhysMem, folio: super::FolioId, npages: u64) {
    phys.put_pin(folio, npages as i64);
}

/// Model of `unpin_user_pages(pages, npages)`: the sanity check, then one pin
/// per entry, on the folio of each page. A page outside every folio is
/// recorded, not unpinned.
pub fn unpin_user_pages(phys: &mut PhysMem, pages: &Pages) {
    sanity_check_pinned_pages(phys, pages, "unpin_user_pages");
    let pieces: Vec<_> = pages.folio_pieces(phys, 0, pages.len()).collect();
    for (_, p, n, folio) in pieces {
        match folio {
            Some(f) => put_pins_one_by_one(phys, f, n),
            None => put_page_pin(phys, p, "unpin_user_pages"),
        }
    }
}
