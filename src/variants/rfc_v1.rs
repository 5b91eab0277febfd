//! `rfc-v1`: "[RFC v1] io_uring/rsrc: add fast path huge page handling in
//! buffer registration" (Swarna Prabhu, 2026-06-08,
//! Message-Id <20260608062937.804758-1-sw.prabhu6@gmail.com>), against 7.1-rc1.
//!
//! The patch splits `io_pin_pages()` into `io_pin_pages_alloc()` and the pin,
//! adds `io_pin_pages_fast_path()`, and changes two places in
//! `io_sqe_buffer_register()`. Those are the functions below; everything
//! else is upstream.

use super::Variant;
use crate::mm::gup::{FOLL_LONGTERM, FOLL_WRITE};
use crate::mm::{AllocId, AllocSite, Pfn};
use crate::model::rsrc::unpin_folio_of_each;
use crate::model::runs::Pages;
use crate::model::world::PageArray;
use crate::model::{
    sizeof, BioVec, Errno, IoImuFolioData, Iovec, World, IO_IMU_DEST, IO_IMU_SOURCE,
};

/// RFC v1 applied to 7.1-rc1.
#[derive(Debug)]
pub struct RfcV1;

/// Model of `io_pin_pages_alloc()` — io_uring/memmap.c, RFC v1.
pub fn io_pin_pages_alloc(w: &mut World, uaddr: u64, len: u64) -> Result<(PageArray, u64), Errno> {
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
    if w.warn_on_once(nr_pages == 0, "io_pin_pages_alloc: !nr_pages") {
        return Err(Errno::EINVAL);
    }
    if w.warn_on_once(
        nr_pages > w.geo.int_max(),
        "io_pin_pages_alloc: nr_pages > INT_MAX",
    ) {
        return Err(Errno::EOVERFLOW);
    }

    let Some(id) = w.kvmalloc_array(AllocSite::PinPagesArray, nr_pages, sizeof::PAGE_PTR) else {
        return Err(Errno::ENOMEM);
    };
    Ok((
        PageArray {
            id,
            pages: Pages::new(),
        },
        nr_pages,
    ))
}

/// Model of `io_pin_pages_fast_path()` — io_uring/memmap.c, RFC v1.
pub fn io_pin_pages_fast_path(
    v: &dyn Variant,
    w: &mut World,
    uaddr: u64,
    len: u64,
) -> Result<(PageArray, u64), Errno> {
    fast_path(v, w, uaddr, len, false)
}

/// The body of [`io_pin_pages_fast_path`]; with `contiguous`, the shortcut is
/// also required to hold `pages[nr_pages - 1] == pages[0] + nr_pages - 1`
/// (the one line `rfc-v1-fixed` adds).
pub(crate) fn fast_path(
    v: &dyn Variant,
    w: &mut World,
    uaddr: u64,
    len: u64,
    contiguous: bool,
) -> Result<(PageArray, u64), Errno> {
    let (mut pages, nr_pages) = io_pin_pages_alloc(w, uaddr, len)?;

    let ret = v.pin_user_pages_fast(
        w,
        uaddr,
        nr_pages,
        FOLL_WRITE | FOLL_LONGTERM,
        &mut pages.pages,
    );
    // success, mapped all pages
    if ret == Ok(nr_pages) {
        let folio = w.phys.page_folio(pages.pages.at(0 as u64));
        let last = w.phys.page_folio(pages.pages.at(nr_pages - 1));
        let in_order = !contiguous
            || pages.pages.at(nr_pages - 1) == pages.pages.at(0 as u64) + (nr_pages - 1);

        if let Some(folio) = folio.filter(|&f| {
            nr_pages > 1 && w.phys.folio_test_hugetlb(f) && last == Some(f) && in_order
        }) {
            let Some(huge_id) = w.kvmalloc_array(AllocSite::FastPathArray, 1, sizeof::PAGE_PTR)
            else {
                return Ok((pages, nr_pages));
            };
            v.unpin_user_folio(w, folio, nr_pages - 1);

            let huge_pages = PageArray {
                id: huge_id,
                pages: Pages::from_iter([pages.pages.at(0)]),
            };
            w.alloc.kvfree(pages.id);
            return Ok((huge_pages, 1));
        }
        return Ok((pages, nr_pages));
    }

    // partial map, or didn't map anything
    let ret = match ret {
        Ok(n) => {
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

impl Variant for RfcV1 {
    fn name(&self) -> &'static str {
        "rfc-v1"
    }
    fn summary(&self) -> &'static str {
        "[RFC v1] io_uring/rsrc: add fast path huge page handling in buffer registration (2026-06-08)"
    }

    /// Model of the refactored `io_pin_pages()` — io_uring/memmap.c, RFC v1:
    /// `io_pin_pages_alloc()` then the unchanged pin. Same behaviour as 7.1.
    fn io_pin_pages(&self, w: &mut World, uaddr: u64, len: u64) -> Result<(PageArray, u64), Errno> {
        let (mut pages, nr_pages) = io_pin_pages_alloc(w, uaddr, len)?;
        let ret = self.pin_user_pages_fast(
            w,
            uaddr,
            nr_pages,
            FOLL_WRITE | FOLL_LONGTERM,
            &mut pages.pages,
        );
        if ret == Ok(nr_pages) {
            return Ok((pages, nr_pages));
        }
        let ret = match ret {
            Ok(n) => {
                if n > 0 {
                    self.unpin_user_pages(w, &pages.pages.prefix(n));
                }
                Errno::EFAULT
            }
            Err(e) => e,
        };
        w.alloc.kvfree(pages.id);
        Err(ret)
    }

    /// Model of `io_sqe_buffer_register()` — io_uring/rsrc.c, 7.1-rc1 with RFC v1.
    fn io_sqe_buffer_register(
        &self,
        w: &mut World,
        iov: &Iovec,
        last_hpage: &mut Option<Pfn>,
    ) -> Result<Option<AllocId>, Errno> {
        io_sqe_buffer_register(self, w, iov, last_hpage, io_pin_pages_fast_path)
    }
}

/// A fast path: `io_pin_pages_fast_path()` as posted, or a corrected one.
pub type FastPath = fn(&dyn Variant, &mut World, u64, u64) -> Result<(PageArray, u64), Errno>;

/// The body of RFC v1's `io_sqe_buffer_register()` (doc on the trait method
/// above), with the fast path it calls as a parameter so that a corrected
/// fast path reuses it unchanged. `v` is a trait object so that the fast
/// path, a plain `fn`, pins and unpins through it.
pub fn io_sqe_buffer_register(
    v: &dyn Variant,
    w: &mut World,
    iov: &Iovec,
    last_hpage: &mut Option<Pfn>,
    fast_path: FastPath,
) -> Result<Option<AllocId>, Errno> {
    let mut imu: Option<AllocId> = None;
    let mut pages: Option<PageArray> = None;
    let mut nr_pages = 0u64;
    let mut data = IoImuFolioData::default();
    let mut coalesced = false;

    if iov.iov_base == 0 {
        if iov.iov_len != 0 {
            return Err(Errno::EFAULT);
        }
        return Ok(None);
    }

    v.io_validate_user_buf_range(w, iov.iov_base, iov.iov_len)?;

    let Some(node) = v.io_rsrc_node_alloc(w) else {
        return Err(Errno::ENOMEM);
    };

    let mut ret: Result<(), Errno> = Err(Errno::ENOMEM);
    'done: {
        // Hunk 1: orig_nr_pages, then the fast path instead of io_pin_pages.
        let ps = w.geo.page_size();
        let mut orig_nr_pages =
            iov.iov_base.wrapping_add(iov.iov_len).wrapping_add(ps - 1) >> w.geo.page_shift;
        orig_nr_pages -= iov.iov_base >> w.geo.page_shift;
        match fast_path(v, w, iov.iov_base, iov.iov_len) {
            Ok((p, n)) => {
                pages = Some(p);
                nr_pages = n;
            }
            Err(e) => {
                ret = Err(e);
                break 'done;
            }
        }
        let p = pages.as_mut().expect("set above");

        if nr_pages > 1 && v.io_check_coalesce_buffer(w, &p.pages.clone(), nr_pages, &mut data) {
            if data.nr_pages_mid != 1 {
                coalesced = v.io_coalesce_buffer(w, p, &mut nr_pages, &data);
            }
        }

        imu = v.io_alloc_imu(w, nr_pages);
        let Some(m) = imu else { break 'done };

        w.imu_mut(m).nr_bvecs = nr_pages as u32;
        ret = v.io_buffer_account_pin(w, &p.pages.clone(), nr_pages as usize, m, last_hpage);
        if ret.is_err() {
            break 'done;
        }

        let mut size = iov.iov_len;
        let page_shift = w.geo.page_shift;
        let page_mask = w.geo.page_mask();
        // Hunk 2: a fast-pathed buffer gets its folio's shift.
        let fast_shift = w
            .phys
            .page_folio(p.pages.at(0 as u64))
            .map(|f| w.phys.folio_shift(&w.geo, f));
        let u = w.imu_mut(m);
        u.ubuf = iov.iov_base;
        u.len = iov.iov_len;
        u.folio_shift = page_shift;
        u.release = crate::model::ImuRelease::Ubuf;
        u.flags = 0;
        u.dir = IO_IMU_DEST | IO_IMU_SOURCE;
        if coalesced {
            u.folio_shift = data.folio_shift;
        } else if nr_pages == 1 && orig_nr_pages > 1 {
            u.folio_shift = fast_shift.unwrap_or(page_shift);
        }
        u.refs = 1;

        let mut off = iov.iov_base & !page_mask;
        if coalesced {
            off += data.first_folio_page_idx << page_shift;
        }

        w.nodes.get_mut(&node).expect("node allocated above").buf = Some(m);
        ret = Ok(());

        let u = w.imu_mut(m);
        for i in 0..nr_pages as usize {
            let vec_len = size.min((1u64 << u.folio_shift) - off);
            u.bvec.set(
                i as u64,
                BioVec {
                    bv_page: p.pages.at(i as u64),
                    bv_len: vec_len,
                    bv_offset: off,
                },
            );
            off = 0;
            size -= vec_len;
        }
    }
    // done:
    let node = match ret {
        Ok(()) => Ok(Some(node)),
        Err(e) => {
            if let Some(m) = imu {
                v.io_free_imu(w, m);
            }
            if let Some(p) = &pages {
                unpin_folio_of_each(v, w, &p.pages.prefix(nr_pages));
            }
            w.io_cache_free(false, node);
            Err(e)
        }
    };
    if let Some(p) = pages {
        w.alloc.kvfree(p.id);
    }
    node
}
