//! Model of the part of io_uring/memmap.c the registration path calls.

use super::world::PageArray;
use super::{sizeof, Errno, World};
use crate::mm::gup::{FOLL_LONGTERM, FOLL_WRITE};
use crate::mm::AllocSite;
use crate::variants::Variant;

/// Model of `io_pin_pages()` — io_uring/memmap.c, Linux 7.1-rc1 (blob 4f9b439319c4).
///
/// Returns the page array and `*npages`.
/// `INT_MAX` is [`crate::mm::Geometry::int_max`]; the array is
/// `nr_pages * sizeof(struct page *)` bytes, so `kvmalloc` refuses it, with
/// its WARN, from `INT_MAX / 8` pages on: below the 1 GiB limit that never
/// happens, under 7.2's 1 TiB it does (3996771b8f75).
pub fn io_pin_pages<V: Variant + ?Sized>(
    v: &V,
    w: &mut World,
    uaddr: u64,
    len: u64,
) -> Result<(PageArray, u64), Errno> {
    let ps = w.geo.page_size();
    let Some(end) = uaddr.checked_add(len) else {
        return Err(Errno::EOVERFLOW);
    };
    let Some(end) = end.checked_add(ps - 1) else {
        return Err(Errno::EOVERFLOW);
    };

    let end = end >> w.geo.page_shift;
    let start = uaddr >> w.geo.page_shift;
    let nr_pages = end - start;
    if w.warn_on_once(nr_pages == 0, "io_pin_pages: !nr_pages") {
        return Err(Errno::EINVAL);
    }
    if w.warn_on_once(
        nr_pages > w.geo.int_max(),
        "io_pin_pages: nr_pages > INT_MAX",
    ) {
        return Err(Errno::EOVERFLOW);
    }

    let Some(id) = w.kvmalloc_array(AllocSite::PinPagesArray, nr_pages, sizeof::PAGE_PTR) else {
        return Err(Errno::ENOMEM);
    };
    let mut pages = PageArray {
        id,
        pages: super::runs::Pages::new(),
    };

    let ret = v.pin_user_pages_fast(
        w,
        uaddr,
        nr_pages,
        FOLL_WRITE | FOLL_LONGTERM,
        &mut pages.pages,
    );
    // success, mapped all pages
    if ret == Ok(nr_pages) {
        return Ok((pages, nr_pages));
    }

    // partial map, or didn't map anything
    let ret = match ret {
        Ok(n) => {
            // if we did partial map, release any pages we did get
            if n > 0 {
                v.unpin_user_pages(w, &pages.pages.prefix(n));
            }
            Errno::EFAULT
        }
        Err(e) => e,
    };
    w.alloc.kvfree(pages.id);
    Err(ret)
}
