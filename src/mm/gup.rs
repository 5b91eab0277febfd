//! Model of the FOLL_PIN side of mm/gup.c: `pin_user_pages_fast`,
//! `unpin_user_folio`, `unpin_user_pages`, as of Linux 7.1-rc1.
//!
//! Divergences, none of which the registration path can observe: no
//! migration out of ZONE_MOVABLE/CMA for FOLL_LONGTERM (every simulated folio
//! is already long-term pinnable), no COW break (hugetlb is mapped
//! MAP_SHARED, anonymous memory is exclusive), and the fast/slow GUP split is
//! one walk. A hole or a read-only page ends the walk: the caller gets the
//! count pinned so far, or -EFAULT when nothing was pinned.

use super::{AddressSpace, Geometry, Pfn, PhysMem};
use crate::model::Errno;

/// `FOLL_WRITE`.
pub const FOLL_WRITE: u32 = 0x01;
/// `FOLL_LONGTERM`.
pub const FOLL_LONGTERM: u32 = 0x100;

/// Model of `pin_user_pages_fast(start, nr_pages, gup_flags, pages)`.
/// Appends one entry per base page (the same page may appear several times
/// when it is mapped several times) and takes one pin per entry.
pub fn pin_user_pages_fast(
    geo: &Geometry,
    aspace: &AddressSpace,
    phys: &mut PhysMem,
    start: u64,
    nr_pages: u64,
    gup_flags: u32,
    pages: &mut Vec<Pfn>,
) -> Result<u64, Errno> {
    let vpn = start >> geo.page_shift;
    let mut pinned = 0u64;
    for (_, backing, n) in aspace.runs(vpn, nr_pages) {
        let Some((pfn, writable, folio)) = backing else {
            break;
        };
        if gup_flags & FOLL_WRITE != 0 && !writable {
            break;
        }
        pages.extend(pfn..pfn + n);
        phys.grab_pin(folio, n as i64);
        pinned += n;
    }
    if pinned == 0 {
        return Err(Errno::EFAULT);
    }
    Ok(pinned)
}

/// Model of `unpin_user_folio(folio, npages)`: drops `npages` pins at once.
pub fn unpin_user_folio(phys: &mut PhysMem, folio: super::FolioId, npages: u64) {
    phys.put_pin(folio, npages as i64);
}

/// Model of `unpin_user_pages(pages, npages)`: one pin per entry, on the
/// folio of each page. A page outside every folio is recorded, not unpinned.
pub fn unpin_user_pages(phys: &mut PhysMem, pages: &[Pfn]) {
    for &p in pages {
        match phys.page_folio(p) {
            Some(f) => phys.put_pin(f, 1),
            None => phys
                .violations
                .push(super::phys::MmViolation::NotAFolioPage {
                    pfn: p,
                    caller: "unpin_user_pages".into(),
                }),
        }
    }
}
