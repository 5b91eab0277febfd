//! Model of io_uring/rsrc.c at Linux 7.1-rc1 (blob 650303626be6): buffer
//! registration, update, unregister, accounting and fixed-buffer import.
//!
//! Functions appear in the order of the C file. Every call from one
//! function of the path to another (GUP's included) goes through the variant
//! `v`, so a variant that replaces a function replaces it at every call
//! site; a function that calls none need not take `v`.

use super::iov_iter::IovIter;
use super::runs::Pages;
use super::types::*;
use super::world::PageArray;
use super::{Errno, World};
use crate::mm::{AllocId, AllocSite, Pfn};
use crate::variants::Variant;

/// Model of `__io_account_mem()` — io_uring/rsrc.c, 7.1-rc1.
/// Divergence: the cmpxchg loop is one step (a single thread).
pub fn __io_account_mem(w: &mut World, nr_pages: u64) -> Result<(), Errno> {
    if nr_pages == 0 {
        return Ok(());
    }
    let user = w.ctx.user.as_mut().expect("caller checked ctx->user");
    // Don't allow more pages than we can safely lock
    let page_limit = user.rlimit_memlock >> w.geo.page_shift;
    let cur_pages = user.locked_vm;
    let new_pages = cur_pages + nr_pages;
    if new_pages > page_limit {
        return Err(Errno::ENOMEM);
    }
    user.locked_vm = new_pages;
    Ok(())
}

/// Model of `io_unaccount_mem()` (with `__io_unaccount_mem()`) — io_uring/rsrc.c, 7.1-rc1.
/// Divergence: `locked_vm` is unsigned here; an unaccount below zero wraps,
/// which the accounting invariant reports.
pub fn io_unaccount_mem(w: &mut World, nr_pages: u64) {
    if let Some(user) = w.ctx.user.as_mut() {
        user.locked_vm = user.locked_vm.wrapping_sub(nr_pages);
    }
    w.ctx.pinned_vm = w.ctx.pinned_vm.wrapping_sub(nr_pages);
}

/// Model of `io_account_mem()` — io_uring/rsrc.c, 7.1-rc1.
/// `mm_account` is always set: the ring is created by the scenario's process.
pub fn io_account_mem<V: Variant + ?Sized>(
    v: &V,
    w: &mut World,
    nr_pages: u64,
) -> Result<(), Errno> {
    if w.ctx.user.is_some() {
        v.__io_account_mem(w, nr_pages)?;
    }
    w.ctx.pinned_vm += nr_pages;
    Ok(())
}

/// Model of `io_validate_user_buf_range()` — io_uring/rsrc.c, 7.1-rc1.
/// `SZ_1G` is [`crate::mm::Geometry::sz_1g`], the PUD size of the geometry.
pub fn io_validate_user_buf_range(w: &World, uaddr: u64, ulen: u64) -> Result<(), Errno> {
    let base = uaddr;
    let ps = w.geo.page_size();
    // PAGE_ALIGN(ulen) in unsigned long arithmetic: wraps for ulen near 2^64.
    let acct_len = ulen.wrapping_add(ps - 1) & w.geo.page_mask();

    // arbitrary limit, but we need something
    if ulen > w.geo.sz_1g() || ulen == 0 {
        return Err(Errno::EFAULT);
    }
    if base.checked_add(acct_len).is_none() {
        return Err(Errno::EOVERFLOW);
    }
    Ok(())
}

/// Model of `io_release_ubuf()` — io_uring/rsrc.c, 7.1-rc1 (after 5afb4bf9fc62).
///
/// Divergence: as in [`unpin_folio_of_each`], the bvecs of one run that
/// are pages of one folio are unpinned by one call where the `n` calls of
/// C would not go below the folio's baseline.
pub fn io_release_ubuf<V: Variant + ?Sized>(v: &V, w: &mut World, imu: AllocId) {
    let nr_bvecs = w.imu(imu).nr_bvecs as u64;
    let slots = w.imu(imu).bvec.slots();
    let mut entries = w.imu(imu).bvec_runs();
    // Slots past the allocation read as never written.
    if nr_bvecs > slots {
        entries.push((slots, nr_bvecs - slots, None));
    }
    for (_, n, run) in entries {
        let Some(r) = run else {
            for _ in 0..n {
                match w.phys.page_folio(super::world::POISON_PFN) {
                    Some(f) => v.unpin_user_folio(w, f, 1),
                    None => {
                        w.warn_on_once(true, "io_release_ubuf: bv_page outside any folio");
                    }
                }
            }
            continue;
        };
        let pieces: Vec<_> = crate::model::runs::folio_pieces(&w.phys, r.bv.bv_page, n).collect();
        unpin_pieces(v, w, pieces, "io_release_ubuf: bv_page outside any folio");
    }
}

/// `unpin_user_folio(folio, 1)` for each page of `pieces`, one call for a
/// piece where its `n` calls would not go below the folio's baseline; a
/// page outside every folio is the warning `outside`.
fn unpin_pieces<V: Variant + ?Sized>(
    v: &V,
    w: &mut World,
    pieces: Vec<(u64, Pfn, u64, Option<crate::mm::FolioId>)>,
    outside: &str,
) {
    for (_, _, n, folio) in pieces {
        match folio {
            Some(folio) if n > 1 && w.phys.put_pin_keeps_baseline(folio, n as i64) => {
                v.unpin_user_folio(w, folio, n)
            }
            Some(folio) => {
                for _ in 0..n {
                    v.unpin_user_folio(w, folio, 1);
                }
            }
            None => {
                w.warn_on_once(true, outside);
            }
        }
    }
}

/// Model of `io_alloc_imu()` — io_uring/rsrc.c, 7.1-rc1.
pub fn io_alloc_imu(w: &mut World, nr_bvecs: u64) -> Option<AllocId> {
    if nr_bvecs as usize <= IO_CACHED_BVECS_SEGS {
        return w.io_cache_alloc(true);
    }
    let id = w.kvmalloc(AllocSite::ImuKvmalloc, super::sizeof::imu(nr_bvecs))?;
    w.imus.insert(id, IoMappedUbuf::uninit(nr_bvecs as usize));
    Some(id)
}

/// Model of `io_free_imu()` — io_uring/rsrc.c, 7.1-rc1.
pub fn io_free_imu(w: &mut World, imu: AllocId) {
    if w.imu(imu).nr_bvecs as usize <= IO_CACHED_BVECS_SEGS {
        w.io_cache_free(true, imu);
    } else {
        w.kfree_object(imu);
    }
}

/// Model of `io_buffer_unmap()` — io_uring/rsrc.c, 7.1-rc1.
/// `imu->release(imu->priv)` is [`super::kbuf::imu_release`]: `io_release_ubuf`
/// for a user buffer, the driver's callback for a kernel one.
pub fn io_buffer_unmap<V: Variant + ?Sized>(v: &V, w: &mut World, imu: AllocId) {
    let refs = w.imu(imu).refs;
    if refs > 1 {
        w.imu_mut(imu).refs -= 1;
        if refs - 1 != 0 {
            return;
        }
    }

    let acct_pages = w.imu(imu).acct_pages;
    if acct_pages != 0 {
        v.io_unaccount_mem(w, acct_pages);
    }
    super::kbuf::imu_release(v, w, imu);
    v.io_free_imu(w, imu);
}

/// Model of `io_rsrc_node_alloc()` — io_uring/rsrc.c, 7.1-rc1 (buffer nodes).
pub fn io_rsrc_node_alloc(w: &mut World) -> Option<AllocId> {
    let node = w.io_cache_alloc(false)?;
    let n = w.nodes.get_mut(&node).expect("node from the cache");
    n.refs = 1;
    n.tag = 0;
    // node->file_ptr = 0, the union `buf` shares: a recycled node does not
    // keep its last buffer.
    n.buf = None;
    Some(node)
}

/// Model of `io_rsrc_data_free()` — io_uring/rsrc.c, 7.1-rc1.
pub fn io_rsrc_data_free<V: Variant + ?Sized>(v: &V, w: &mut World) {
    if w.ctx.buf_table.nr() == 0 {
        return;
    }
    while let Some(slot) = w.ctx.buf_table.nodes.pop() {
        if let Some(node) = slot {
            v.io_put_rsrc_node(w, node);
        }
    }
    if let Some(array) = w.ctx.buf_table.array.take() {
        w.alloc.kvfree(array);
    }
}

/// Model of `io_rsrc_data_alloc()` — io_uring/rsrc.c, 7.1-rc1.
pub fn io_rsrc_data_alloc(w: &mut World, nr: u32) -> Result<IoRsrcData, Errno> {
    match w.kvmalloc_array(
        AllocSite::RsrcDataAlloc,
        nr as u64,
        super::sizeof::RSRC_NODE_PTR,
    ) {
        Some(array) => Ok(IoRsrcData {
            nodes: vec![None; nr as usize],
            array: Some(array),
        }),
        None => Err(Errno::ENOMEM),
    }
}

/// Model of `io_put_rsrc_node()` — io_uring/rsrc.h, 7.1-rc1.
pub fn io_put_rsrc_node<V: Variant + ?Sized>(v: &V, w: &mut World, node: AllocId) {
    let n = w.nodes.get_mut(&node).expect("node in table");
    n.refs -= 1;
    if n.refs == 0 {
        v.io_free_rsrc_node(w, node);
    }
}

/// Model of `io_reset_rsrc_node()` — io_uring/rsrc.h, 7.1-rc1.
pub fn io_reset_rsrc_node<V: Variant + ?Sized>(v: &V, w: &mut World, index: usize) -> bool {
    let Some(node) = w.ctx.buf_table.nodes[index] else {
        return false;
    };
    v.io_put_rsrc_node(w, node);
    w.ctx.buf_table.nodes[index] = None;
    true
}

/// Model of `io_free_rsrc_node()` — io_uring/rsrc.c, 7.1-rc1 (buffer nodes;
/// tags post a CQE, which is not modelled).
pub fn io_free_rsrc_node<V: Variant + ?Sized>(v: &V, w: &mut World, node: AllocId) {
    match w.nodes[&node].buf {
        Some(imu) => v.io_buffer_unmap(w, imu),
        None => w.oops("io_free_rsrc_node: io_buffer_unmap(ctx, node->buf) with node->buf NULL"),
    }
    w.io_cache_free(false, node);
}

/// Model of `io_register_rsrc_update()` with `__io_register_rsrc_update()`
/// — io_uring/rsrc.c, 7.1-rc1, for `IORING_RSRC_BUFFER`: the checks that
/// come before `__io_sqe_buffers_update()`.
pub fn io_register_rsrc_update<V: Variant + ?Sized>(
    v: &V,
    w: &mut World,
    offset: u32,
    iovecs: &[Iovec],
) -> Result<u32, Errno> {
    let nr_args = iovecs.len() as u32;
    // io_register_rsrc_update(): if (!up.nr) return -EINVAL;
    if nr_args == 0 {
        return Err(Errno::EINVAL);
    }
    // __io_register_rsrc_update(): check_add_overflow(up->offset, nr_args, &tmp)
    if offset.checked_add(nr_args).is_none() {
        return Err(Errno::EOVERFLOW);
    }
    v.__io_sqe_buffers_update(w, offset, iovecs)
}

/// Model of `__io_sqe_buffers_update()` — io_uring/rsrc.c, 7.1-rc1. Returns
/// the number of slots updated, or the error of the first one when none was.
/// `offset + iovecs.len()` does not overflow: [`io_register_rsrc_update`]
/// checked it.
/// Divergence: tags are not modelled (no CQEs).
pub fn __io_sqe_buffers_update<V: Variant + ?Sized>(
    v: &V,
    w: &mut World,
    offset: u32,
    iovecs: &[Iovec],
) -> Result<u32, Errno> {
    let nr_args = iovecs.len() as u32;
    let mut last_hpage: Option<Pfn> = None;
    if w.ctx.buf_table.nr() == 0 {
        return Err(Errno::ENXIO);
    }
    if (offset + nr_args) as usize > w.ctx.buf_table.nr() {
        return Err(Errno::EINVAL);
    }

    let mut err = Ok(0);
    let mut done = 0u32;
    while done < nr_args {
        let iov = match v.iovec_from_user(w, &iovecs[done as usize]) {
            Ok(iov) => iov,
            Err(e) => {
                err = Err(e);
                break;
            }
        };
        let node = match v.io_sqe_buffer_register(w, &iov, &mut last_hpage) {
            Ok(node) => node,
            Err(e) => {
                err = Err(e);
                break;
            }
        };
        let i = (offset + done) as usize;
        v.io_reset_rsrc_node(w, i);
        w.ctx.buf_table.nodes[i] = node;
        done += 1;
    }
    if done > 0 {
        Ok(done)
    } else {
        err
    }
}

/// Model of `io_sqe_buffers_unregister()` — io_uring/rsrc.c, 7.1-rc1.
pub fn io_sqe_buffers_unregister<V: Variant + ?Sized>(v: &V, w: &mut World) -> Result<(), Errno> {
    if w.ctx.buf_table.nr() == 0 {
        return Err(Errno::ENXIO);
    }
    v.io_rsrc_data_free(w);
    Ok(())
}

/// Model of `headpage_already_acct()` — io_uring/rsrc.c, 7.1-rc1.
pub fn headpage_already_acct<V: Variant + ?Sized>(
    _v: &V,
    w: &mut World,
    pages: &Pages,
    nr_pages: usize,
    hpage: Pfn,
) -> bool {
    // check current page array
    // A piece is consecutive pages of one folio: its first page decides.
    for (_, p, n, _) in pages.folio_pieces(&w.phys, 0, nr_pages as u64) {
        if w.phys.page_compound(p) && w.phys.compound_head(p) == hpage {
            w.work.headpage_scan += 1;
            return true;
        }
        w.work.headpage_scan += n;
    }

    // check previously registered pages
    for i in 0..w.ctx.buf_table.nr() {
        let Some(node) = w.ctx.buf_table.nodes[i] else {
            continue;
        };
        let Some(imu) = w.nodes[&node].buf else {
            w.oops("headpage_already_acct: imu->nr_bvecs with node->buf NULL");
            continue;
        };
        // Entries within nr_bvecs: a never written one reads as poison,
        // which is in no folio.
        for (_, _, run) in w.imu(imu).bvec_runs() {
            let Some(run) = run else {
                continue;
            };
            for (_, p, n, _) in super::runs::folio_pieces(&w.phys, run.bv.bv_page, run.n) {
                if w.phys.page_compound(p) && w.phys.compound_head(p) == hpage {
                    w.work.headpage_scan += 1;
                    return true;
                }
                w.work.headpage_scan += n;
            }
        }
    }

    false
}

/// Model of `io_buffer_account_pin()` — io_uring/rsrc.c, 7.1-rc1.
pub fn io_buffer_account_pin<V: Variant + ?Sized>(
    v: &V,
    w: &mut World,
    pages: &Pages,
    nr_pages: usize,
    imu: AllocId,
    last_hpage: &mut Option<Pfn>,
) -> Result<(), Errno> {
    let mut acct_pages = 0u64;
    let pieces: Vec<_> = pages.folio_pieces(&w.phys, 0, nr_pages as u64).collect();
    for (i, p, n, _) in pieces {
        // Every page of a piece has the same head: after its first, each
        // is `hpage == last_hpage`.
        w.work.account_pin += n;
        if !w.phys.page_compound(p) {
            acct_pages += n;
        } else {
            let hpage = w.phys.compound_head(p);
            if Some(hpage) == *last_hpage {
                continue;
            }
            *last_hpage = Some(hpage);
            if v.headpage_already_acct(w, pages, i as usize, hpage) {
                continue;
            }
            acct_pages += w.phys.page_size(&w.geo, hpage) >> w.geo.page_shift;
        }
    }
    w.imu_mut(imu).acct_pages = acct_pages;

    if acct_pages == 0 {
        return Ok(());
    }

    let ret = v.io_account_mem(w, acct_pages);
    if ret.is_err() {
        w.imu_mut(imu).acct_pages = 0;
    }
    ret
}

/// Model of `io_coalesce_buffer()` — io_uring/rsrc.c, 7.1-rc1.
pub fn io_coalesce_buffer<V: Variant + ?Sized>(
    v: &V,
    w: &mut World,
    pages: &mut PageArray,
    nr_pages: &mut u64,
    data: &IoImuFolioData,
) -> bool {
    let page_array = &pages.pages;
    let mut nr_pages_left = *nr_pages;
    let nr_folios = data.nr_folios;

    // Store head pages only
    let Some(new_id) = w.kvmalloc_array(
        AllocSite::CoalesceNewArray,
        nr_folios,
        super::sizeof::PAGE_PTR,
    ) else {
        return false;
    };
    let mut new_array = Pages::new();

    let mut j = 0u64;
    for i in 0..nr_folios {
        w.work.coalesce += 1;
        // Only a variant whose folio data disagrees with its page array gets
        // here with j past the end; C would read beyond the array.
        if w.warn_on_once(
            j >= page_array.len(),
            "io_coalesce_buffer: page_array[j] past nr_pages",
        ) {
            break;
        }
        let p = w.phys.compound_head(page_array.at(j));
        let folio = w.phys.page_folio(p);

        w.warn_on_once(
            i > 0 && p != page_array.at(j),
            "io_coalesce_buffer: i > 0 && p != page_array[j]",
        );

        let nr = if i > 0 {
            data.nr_pages_mid
        } else {
            data.nr_pages_head
        };
        let nr = nr.min(nr_pages_left);
        // Drop all but one ref, the entire folio will remain pinned.
        if nr > 1 {
            if let Some(folio) = folio {
                v.unpin_user_folio(w, folio, nr - 1);
            }
        }
        j += nr;
        nr_pages_left -= nr;
        new_array.push(p);
    }

    w.warn_on_once(j != *nr_pages, "io_coalesce_buffer: j != *nr_pages");

    w.alloc.kvfree(pages.id);
    *pages = PageArray {
        id: new_id,
        pages: new_array,
    };
    *nr_pages = nr_folios;
    true
}

/// Model of `io_check_coalesce_buffer()` — io_uring/rsrc.c, 7.1-rc1.
pub fn io_check_coalesce_buffer<V: Variant + ?Sized>(
    _v: &V,
    w: &mut World,
    page_array: &Pages,
    nr_pages: u64,
    data: &mut IoImuFolioData,
) -> bool {
    let phys = &w.phys;
    let work = &mut w.work;
    let first = page_array.at(0);
    let Some(mut folio) = phys.page_folio(first) else {
        return false;
    };
    let (mut count, mut nr_folios) = (1u64, 1u64);

    data.nr_pages_mid = phys.folio_nr_pages(folio);
    data.folio_shift = phys.folio_shift(&w.geo, folio);
    data.first_folio_page_idx = phys.folio_page_idx(folio, first);

    // Check if pages are contiguous inside a folio, and all folios have
    // the same page count except for the head and tail.
    // The loop runs piece by piece: after a piece's first page, every page
    // of it is the next page of the same folio, the `count++` case.
    let mut prev = first;
    for (_, page, n, page_folio) in page_array.folio_pieces(phys, 1, nr_pages) {
        work.check_coalesce += n;
        prev = {
            let last = page + n - 1;
            if page_folio == Some(folio) && page == prev + 1 {
                count += n;
                last
            } else {
                if nr_folios == 1 {
                    if phys.folio_page_idx(folio, prev) != data.nr_pages_mid - 1 {
                        return false;
                    }
                    data.nr_pages_head = count;
                } else if count != data.nr_pages_mid {
                    return false;
                }

                let Some(next) = page_folio else {
                    return false;
                };
                folio = next;
                if phys.folio_size(&w.geo, folio) != (1u64 << data.folio_shift)
                    || phys.folio_page_idx(folio, page) != 0
                {
                    return false;
                }

                count = n;
                nr_folios += 1;
                last
            }
        };
    }
    if nr_folios == 1 {
        data.nr_pages_head = count;
    }

    data.nr_folios = nr_folios;
    true
}

/// Model of `io_sqe_buffer_register()` — io_uring/rsrc.c, 7.1-rc1.
///
/// Returns the new node, `None` for an empty slot (NULL base, zero length).
/// `imu->release = io_release_ubuf; imu->priv = imu;` is [`ImuRelease::Ubuf`].
pub fn io_sqe_buffer_register<V: Variant + ?Sized>(
    v: &V,
    w: &mut World,
    iov: &Iovec,
    last_hpage: &mut Option<Pfn>,
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
        // remove the buffer without installing a new one
        return Ok(None);
    }

    v.io_validate_user_buf_range(w, iov.iov_base, iov.iov_len)?;

    let Some(node) = v.io_rsrc_node_alloc(w) else {
        return Err(Errno::ENOMEM);
    };

    let mut ret: Result<(), Errno> = Err(Errno::ENOMEM);
    'done: {
        match v.io_pin_pages(w, iov.iov_base, iov.iov_len) {
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

        // If it's huge page(s), try to coalesce them into fewer bvec entries
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

        let size = iov.iov_len;
        let page_shift = w.geo.page_shift;
        let page_mask = w.geo.page_mask();
        let len = super::cint::store(
            w,
            "io_sqe_buffer_register: imu->len",
            v.c_types().imu_len,
            iov.iov_len,
        );
        let u = w.imu_mut(m);
        // store original address for later verification
        u.ubuf = iov.iov_base;
        u.len = len;
        u.folio_shift = page_shift;
        u.release = ImuRelease::Ubuf;
        u.flags = 0;
        u.dir = IO_IMU_DEST | IO_IMU_SOURCE;
        if coalesced {
            u.folio_shift = data.folio_shift;
        }
        u.refs = 1;

        let mut off = iov.iov_base & !page_mask;
        if coalesced {
            off += data.first_folio_page_idx << page_shift;
        }

        w.nodes.get_mut(&node).expect("node allocated above").buf = Some(m);
        ret = Ok(());

        fill_bvecs(w, m, &p.pages, nr_pages, size, off);
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

/// The loop of `io_sqe_buffer_register()`'s error path since 5afb4bf9fc62:
/// `for (i = 0; i < nr_pages; i++) unpin_user_folio(page_folio(pages[i]), 1);`
/// A page outside every folio is a warning, not an unpin.
///
/// Divergence: entries that are consecutive pages of one folio are unpinned
/// by one `unpin_user_folio(folio, n)` call, whose effect is that of the
/// `n` calls of C, except where one of them would go below the folio's
/// baseline: then they are made one by one, as C makes them.
pub fn unpin_folio_of_each<V: Variant + ?Sized>(v: &V, w: &mut World, pages: &Pages) {
    let pieces: Vec<_> = pages.folio_pieces(&w.phys, 0, pages.len()).collect();
    unpin_pieces(
        v,
        w,
        pieces,
        "io_sqe_buffer_register: unpin of a page outside any folio",
    );
}

/// The bvec loop of `io_sqe_buffer_register()`: entry `i` is `pages[i]`
/// with `min(size, (1 << folio_shift) - off)` bytes at `off`, `off` being 0
/// after the first. It is written run by run: within a run of consecutive
/// pages, the entries after the first are whole folios (`off == 0`) until
/// `size` runs short, then empty. `bvec_set_page()` stores the length and
/// the offset in `unsigned int`s; `size` goes down by the `size_t`.
pub fn fill_bvecs(
    w: &mut World,
    m: AllocId,
    pages: &Pages,
    nr_pages: u64,
    mut size: u64,
    mut off: u64,
) {
    let fsz = 1u64 << w.imu(m).folio_shift;
    let set = |w: &mut World, len: u64, off: u64| BvecFields {
        len: bvec_field(w, "io_sqe_buffer_register: bvec_set_page(): bv_len", len),
        off: bvec_field(w, "io_sqe_buffer_register: bvec_set_page(): bv_offset", off),
    };
    for (i, p, n) in pages.runs_in(0, nr_pages) {
        let mut k = 0;
        while k < n {
            if off == 0 && (size >= fsz || size == 0) {
                let m_n = if size == 0 {
                    n - k
                } else {
                    (size / fsz).min(n - k)
                };
                let len = size.min(fsz);
                let f = set(w, len, 0);
                w.imu_mut(m).bvec.set_run(
                    i + k,
                    m_n,
                    BioVec {
                        bv_page: p + k,
                        bv_len: f.len,
                        bv_offset: f.off,
                    },
                );
                size -= len * m_n;
                k += m_n;
                continue;
            }
            let vec_len = size.min(fsz - off);
            let f = set(w, vec_len, off);
            w.imu_mut(m).bvec.set(
                i + k,
                BioVec {
                    bv_page: p + k,
                    bv_len: f.len,
                    bv_offset: f.off,
                },
            );
            off = 0;
            size -= vec_len;
            k += 1;
        }
    }
}

/// What `bvec_set_page()` stores of a length and an offset.
struct BvecFields {
    len: u64,
    off: u64,
}

/// `bv->field = v` in `bvec_set_page()` of `io_sqe_buffer_register()`:
/// `unsigned int`, whatever the version.
fn bvec_field(w: &mut World, site: &str, v: u64) -> u64 {
    super::cint::store(w, site, super::cint::CType::UInt, v)
}

/// Model of `io_sqe_buffers_register()` — io_uring/rsrc.c, 7.1-rc1.
///
/// `arg == None` registers a sparse table of `nr_args` empty slots
/// (IORING_REGISTER_BUFFERS2 with IORING_RSRC_REGISTER_SPARSE).
/// Divergence: tags are not modelled; user memory never faults.
pub fn io_sqe_buffers_register<V: Variant + ?Sized>(
    v: &V,
    w: &mut World,
    arg: Option<&[Iovec]>,
    nr_args: u32,
) -> Result<(), Errno> {
    let mut last_hpage: Option<Pfn> = None;

    if w.ctx.buf_table.nr() != 0 {
        return Err(Errno::EBUSY);
    }
    if nr_args == 0 || nr_args > IORING_MAX_REG_BUFFERS {
        return Err(Errno::EINVAL);
    }
    // A local table, installed only after the loop: while it runs,
    // headpage_already_acct() sees the (empty) ctx->buf_table, as in C.
    let mut data = v.io_rsrc_data_alloc(w, nr_args)?;

    let empty = Iovec {
        iov_base: 0,
        iov_len: 0,
    };
    let mut ret = Ok(());
    for i in 0..nr_args as usize {
        let iov = match arg.map(|a| v.iovec_from_user(w, &a[i])) {
            None => empty,
            Some(Ok(iov)) => iov,
            Some(Err(e)) => {
                ret = Err(e);
                break;
            }
        };
        let node = match v.io_sqe_buffer_register(w, &iov, &mut last_hpage) {
            Ok(node) => node,
            Err(e) => {
                ret = Err(e);
                break;
            }
        };
        data.nodes[i] = node;
    }

    w.ctx.buf_table = data;
    if ret.is_err() {
        let _ = v.io_sqe_buffers_unregister(w);
    }
    ret
}

/// Model of `validate_fixed_range()` — io_uring/rsrc.c, 7.1-rc1.
pub fn validate_fixed_range(
    w: &World,
    buf_addr: u64,
    len: u64,
    imu: &IoMappedUbuf,
) -> Result<(), Errno> {
    let Some(buf_end) = buf_addr.checked_add(len) else {
        return Err(Errno::EFAULT);
    };
    // not inside the mapped region
    if buf_addr < imu.ubuf || buf_end > imu.ubuf + imu.len {
        return Err(Errno::EFAULT);
    }
    if len > w.geo.max_rw_count() {
        return Err(Errno::EFAULT);
    }
    Ok(())
}

/// Model of `io_import_fixed()` — io_uring/rsrc.c, 7.1-rc1; a kernel
/// buffer (`IO_REGBUF_F_KBUF`) goes to `io_import_kbuf()` once its range
/// and direction are checked.
pub fn io_import_fixed<V: Variant + ?Sized>(
    v: &V,
    w: &mut World,
    ddir: u32,
    imu: AllocId,
    buf_addr: u64,
    len: u64,
) -> Result<IovIter, Errno> {
    let m = w.imu(imu);
    v.validate_fixed_range(w, buf_addr, len, m)?;
    if m.dir & (1 << ddir) == 0 {
        return Err(Errno::EFAULT);
    }
    if len == 0 {
        return Ok(IovIter::bvec(ddir, imu, 0, 0, 0));
    }

    let mut offset = buf_addr - m.ubuf;
    let folio_shift = m.folio_shift;

    if m.flags & IO_REGBUF_F_KBUF != 0 {
        return v.io_import_kbuf(w, ddir, imu, len, offset);
    }

    // Don't use iov_iter_advance() here, as it's really slow for
    // using the latter parts of a big fixed buffer - it iterates
    // over each segment manually. We can cheat a bit here for user
    // registered nodes, because we know that:
    //
    // 1) it's a BVEC iter, we set it up
    // 2) all bvecs are the same in size, except potentially the
    //    first and last bvec
    let folio_mask = (1u64 << folio_shift) - 1;
    let mut bvec = 0u64;
    let first = w.read_bvec(imu, 0, "io_import_fixed");
    if offset >= first.bv_len {
        // skip first vec
        offset -= first.bv_len;
        let seg_skip = 1 + (offset >> folio_shift);
        bvec += seg_skip;
        offset &= folio_mask;
    }
    let bv = w.read_bvec(imu, bvec, "io_import_fixed");
    let nr_segs = (offset + len + bv.bv_offset + folio_mask) >> folio_shift;
    let mut iter = IovIter::bvec(ddir, imu, bvec, nr_segs, len);
    iter.iov_offset = offset;
    Ok(iter)
}

/// Model of `io_find_buf_node()` — io_uring/rsrc.c, 7.1-rc1: the node of
/// the request's slot, referenced for the request's lifetime (`node->refs++`,
/// `REQ_F_BUF_NODE`); a request that already holds one keeps it.
pub fn io_find_buf_node(w: &mut World, req: &mut IoKiocb) -> Option<AllocId> {
    if let Some(node) = req.buf_node {
        return Some(node);
    }
    let node = (*w.ctx.buf_table.nodes.get(req.buf_index as usize)?)?;
    w.nodes.get_mut(&node).expect("node in table").refs += 1;
    req.buf_node = Some(node);
    Some(node)
}

/// Model of `io_req_put_rsrc_nodes()` — io_uring/io_uring.c, 7.1-rc1, the
/// buffer half: a freed request drops the node it held; the last
/// reference frees the node and unmaps its buffer.
pub fn io_req_put_rsrc_nodes<V: Variant + ?Sized>(v: &V, w: &mut World, req: &mut IoKiocb) {
    if let Some(node) = req.buf_node.take() {
        v.io_put_rsrc_node(w, node);
    }
}

/// Model of `io_import_reg_buf()` — io_uring/rsrc.c, 7.1-rc1. The node
/// reference it takes stays with `req` until [`io_req_put_rsrc_nodes`].
pub fn io_import_reg_buf<V: Variant + ?Sized>(
    v: &V,
    w: &mut World,
    req: &mut IoKiocb,
    buf_addr: u64,
    len: u64,
    ddir: u32,
) -> Result<IovIter, Errno> {
    let Some(node) = v.io_find_buf_node(w, req) else {
        return Err(Errno::EFAULT);
    };
    // io_import_fixed(): if (WARN_ON_ONCE(!imu)) return -EFAULT;
    let Some(imu) = w.nodes[&node].buf else {
        w.warn_on_once(true, "io_import_fixed: !imu");
        return Err(Errno::EFAULT);
    };
    v.io_import_fixed(w, ddir, imu, buf_addr, len)
}

/// Model of `io_vec_fill_bvec()` — io_uring/rsrc.c, 7.1-rc1. `capacity` is
/// the result array's size from the variant's `io_estimate_bvec_size`;
/// writing past it is recorded as [`super::Event::ResBvecOverflow`].
pub fn io_vec_fill_bvec<V: Variant + ?Sized>(
    v: &V,
    w: &mut World,
    ddir: u32,
    imu: AllocId,
    iovec: &[Iovec],
    capacity: u64,
) -> Result<IovIter, Errno> {
    let folio_shift = w.imu(imu).folio_shift;
    let folio_size = super::cint::one_shl(
        w,
        "io_vec_fill_bvec: folio_size = 1 << imu->folio_shift",
        v.c_types().fill_bvec_one,
        folio_shift,
    );
    let folio_mask = folio_size - 1;
    let mut res_bvec: Vec<BioVec> = Vec::new();
    let mut total_len = 0u64;

    for iov in iovec {
        let mut iov_len = iov.iov_len;
        let buf_addr = iov.iov_base;

        v.validate_fixed_range(w, buf_addr, iov_len, w.imu(imu))?;

        if iov_len == 0 {
            return Err(Errno::EFAULT);
        }
        total_len = total_len.checked_add(iov_len).ok_or(Errno::EOVERFLOW)?;

        let mut offset = buf_addr - w.imu(imu).ubuf;
        // Only the first bvec can have non zero bv_offset, account it
        // here and work with full folios below.
        offset += w.read_bvec(imu, 0, "io_vec_fill_bvec").bv_offset;

        let mut src_bvec = offset >> folio_shift;
        offset &= folio_mask;

        while iov_len != 0 {
            let seg_size = iov_len.min(folio_size - offset);
            let src = w.read_bvec(imu, src_bvec, "io_vec_fill_bvec");
            res_bvec.push(BioVec {
                bv_page: src.bv_page,
                bv_len: seg_size,
                bv_offset: offset,
            });
            iov_len -= seg_size;
            offset = 0;
            src_bvec += 1;
        }
    }
    if res_bvec.len() as u64 > capacity {
        w.events.push(super::Event::ResBvecOverflow {
            written: res_bvec.len() as u64,
            capacity,
        });
    }
    if total_len > w.geo.max_rw_count() {
        return Err(Errno::EINVAL);
    }
    res_bvec_fields(w, "io_vec_fill_bvec", &mut res_bvec);

    Ok(IovIter::owned(ddir, res_bvec, total_len))
}

/// What `bvec_set_page()` kept of the lengths and offsets of an import's
/// result bvecs: their `unsigned int`s. Applied once the import succeeds: a
/// table it then fails on is thrown away, truncated or not.
pub fn res_bvec_fields(w: &mut World, who: &str, res_bvec: &mut [BioVec]) {
    let over = |b: &BioVec| b.bv_len > u32::MAX as u64 || b.bv_offset > u32::MAX as u64;
    if !res_bvec.iter().any(over) {
        return;
    }
    let len = format!("{who}: bvec_set_page(): bv_len");
    let off = format!("{who}: bvec_set_page(): bv_offset");
    for b in res_bvec.iter_mut().filter(|b| over(b)) {
        b.bv_len = super::cint::store(w, &len, super::cint::CType::UInt, b.bv_len);
        b.bv_offset = super::cint::store(w, &off, super::cint::CType::UInt, b.bv_offset);
    }
}

/// Model of `io_estimate_bvec_size()` — io_uring/rsrc.c, 7.1-rc1.
pub fn io_estimate_bvec_size(iov: &[Iovec], folio_shift: u32) -> Result<u64, Errno> {
    let mut max_segs = 0u64;
    for v in iov {
        max_segs += (v.iov_len >> folio_shift) + 2;
        if max_segs > i32::MAX as u64 {
            return Err(Errno::EOVERFLOW);
        }
    }
    Ok(max_segs)
}

/// Model of `io_import_reg_vec()` — io_uring/rsrc.c, 7.1-rc1: a kernel
/// buffer is sized by `io_kern_bvec_size()` and filled by
/// `io_vec_fill_kern_bvec()`, a user buffer by `io_estimate_bvec_size()`
/// and `io_vec_fill_bvec()`.
/// Divergence: the iovec/bvec array juggling (`io_vec_realloc`) is reduced to
/// its size; its allocation is not a fault site here, and `io_vec_realloc`
/// is no hook: there is nothing of it left to replace.
pub fn io_import_reg_vec<V: Variant + ?Sized>(
    v: &V,
    w: &mut World,
    ddir: u32,
    req: &mut IoKiocb,
    iov: &[Iovec],
) -> Result<IovIter, Errno> {
    let Some(node) = v.io_find_buf_node(w, req) else {
        return Err(Errno::EFAULT);
    };
    let Some(imu) = w.nodes[&node].buf else {
        w.oops("io_import_reg_vec: imu->dir with node->buf NULL");
        return Err(Errno::EFAULT);
    };
    if w.imu(imu).dir & (1 << ddir) == 0 {
        return Err(Errno::EFAULT);
    }
    if w.imu(imu).flags & IO_REGBUF_F_KBUF != 0 {
        let nr_segs = v.io_kern_bvec_size(w, iov, imu)?;
        return v.io_vec_fill_kern_bvec(w, ddir, imu, iov, nr_segs);
    }
    let nr_segs = v.io_estimate_bvec_size(iov, w.imu(imu).folio_shift)?;
    v.io_vec_fill_bvec(w, ddir, imu, iov, nr_segs)
}
