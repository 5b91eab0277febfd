//! Kernel-registered buffers (`IO_REGBUF_F_KBUF`), io_uring/rsrc.c at Linux
//! 7.1-rc1: the other kind of buffer in the table, the one ublk's zero copy
//! uses. A driver puts the pages of one of its block requests in an empty
//! slot (`io_buffer_register_bvec()`); fixed reads and writes on the slot
//! move data into or out of those pages (`io_import_kbuf()` from
//! `io_import_fixed()`, and for `READV_FIXED` `io_kern_bvec_size()` and
//! `io_vec_fill_kern_bvec()`); the driver takes the slot back
//! (`io_buffer_unregister_bvec()`), and its release callback runs when the
//! buffer's last reference goes, which may be a request still in flight or
//! a clone in another ring. The request holds its pages: nothing is pinned
//! and nothing is charged.
//!
//! The request is [`BlkRequest`], as much of `struct request` as these
//! functions read; the driver's release callback is [`rq_release`], which
//! counts its calls for the `kbuf` invariant.

use super::iov_iter::IovIter;
use super::types::*;
use super::world::POISON_PFN;
use super::{Errno, World};
use crate::mm::AllocId;
use crate::variants::Variant;

/// `READ`, for `rq_data_dir()`: the device reads, the request's pages are
/// filled (a `READ_FIXED` into the buffer, `IO_IMU_DEST`).
pub const READ: u32 = 0;
/// `WRITE`: the request's pages are written out (`WRITE_FIXED` from them).
pub const WRITE: u32 = 1;

/// `struct request`, what `io_buffer_register_bvec()` reads of it, and what
/// became of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlkRequest {
    /// What `rq_for_each_bvec()` yields: the bios' multi-page bvecs, in order.
    pub bvecs: Vec<BioVec>,
    /// `blk_rq_nr_phys_segments()`: at least one per bvec, more where the
    /// queue's segment limits split one.
    pub nr_phys_segments: u32,
    /// `rq_data_dir()`: [`READ`] or [`WRITE`].
    pub data_dir: u32,
    /// Calls of the driver's release callback with this request.
    pub released: u32,
    /// Whether `io_buffer_register_bvec()` returned 0 for it. Set by the
    /// harness from the return value: the driver's contract, that a
    /// registration that succeeded is released exactly once and one that
    /// failed never, is judged against it.
    pub registered: bool,
}

impl BlkRequest {
    /// `blk_rq_bytes()`.
    pub fn bytes(&self) -> u64 {
        self.bvecs.iter().map(|b| b.bv_len).sum()
    }
}

/// `imu->release(imu->priv)` in `io_buffer_unmap()`: `io_release_ubuf(imu)`
/// for a user buffer, the driver's callback with its request for a kernel
/// one. A pointer never written would be a call into whatever the object
/// held: an oops.
pub fn imu_release<V: Variant + ?Sized>(v: &V, w: &mut World, imu: AllocId) {
    match w.imu(imu).release {
        ImuRelease::Ubuf => v.io_release_ubuf(w, imu),
        ImuRelease::Kbuf(rq) => rq_release(w, rq),
        ImuRelease::Unset => w.oops("io_buffer_unmap: imu->release(imu->priv) never set"),
    }
}

/// The driver's release callback (ublk's `ublk_io_release()`): the buffer
/// no longer needs the request's pages. The model counts the call.
pub fn rq_release(w: &mut World, rq: u32) {
    match w.kbuf_rqs.get_mut(rq as usize) {
        Some(r) => r.released += 1,
        None => w.oops("io_buffer_unmap: imu->release(imu->priv) with a priv that is no request"),
    }
}

/// Model of `io_buffer_register_bvec()` — io_uring/rsrc.c, 7.1-rc1: the
/// pages of request `rq` become the buffer in slot `index` of the ring's
/// table, which must exist (`-EINVAL`) and be empty (`-EBUSY`). The imu
/// is sized by `blk_rq_nr_phys_segments()`, which may count more than the
/// bvecs: with more than `IO_CACHED_BVECS_SEGS` segments and no more bvecs
/// than that, it comes from `kvmalloc_flex` and `io_free_imu()`, which
/// decides by `nr_bvecs`, later gives it to the cache. When the imu cannot
/// be had, the node is `kfree()`d, not given back to the node cache.
/// Divergence: `io_ring_submit_lock()` is nothing (one thread).
pub fn io_buffer_register_bvec<V: Variant + ?Sized>(
    v: &V,
    w: &mut World,
    rq: u32,
    index: u32,
) -> Result<(), Errno> {
    let (node, imu) = kbuf_alloc(v, w, rq, index, World::kfree_object)?;
    w.imu_mut(imu).acct_pages = 0;
    kbuf_install(w, node, imu, rq, index);
    Ok(())
}

/// The checks and allocations of `io_buffer_register_bvec()`, the same in
/// 7.1 and 7.2 but for what happens to the node when the imu allocation
/// fails (`node_free`): the new node and imu.
pub fn kbuf_alloc<V: Variant + ?Sized>(
    v: &V,
    w: &mut World,
    rq: u32,
    index: u32,
    node_free: fn(&mut World, AllocId),
) -> Result<(AllocId, AllocId), Errno> {
    if index as usize >= w.ctx.buf_table.nr() {
        return Err(Errno::EINVAL);
    }
    // array_index_nospec(): the index is in range.
    if w.ctx.buf_table.nodes[index as usize].is_some() {
        return Err(Errno::EBUSY);
    }
    let Some(node) = v.io_rsrc_node_alloc(w) else {
        return Err(Errno::ENOMEM);
    };
    // blk_rq_nr_phys_segments() may overestimate the number of bvecs
    // but avoids needing to iterate over the bvecs
    let segs = w.kbuf_rqs[rq as usize].nr_phys_segments;
    let Some(imu) = v.io_alloc_imu(w, segs as u64) else {
        node_free(w, node);
        return Err(Errno::ENOMEM);
    };
    Ok((node, imu))
}

/// The rest of `io_buffer_register_bvec()`: the imu's fields (all but 7.1's
/// `acct_pages`), the request's bvecs copied in (`rq_for_each_bvec()`), the
/// node installed.
pub fn kbuf_install(w: &mut World, node: AllocId, imu: AllocId, rq: u32, index: u32) {
    let r = &w.kbuf_rqs[rq as usize];
    let (len, dir, bvecs) = (r.bytes(), 1u8 << r.data_dir, r.bvecs.clone());
    let page_shift = w.geo.page_shift;
    let u = w.imu_mut(imu);
    u.ubuf = 0;
    u.len = len;
    u.folio_shift = page_shift;
    u.refs = 1;
    u.release = ImuRelease::Kbuf(rq);
    u.flags = IO_REGBUF_F_KBUF;
    u.dir = dir;
    let nr_bvecs = fill_rq_bvecs(w, imu, &bvecs);
    w.imu_mut(imu).nr_bvecs = nr_bvecs;
    w.nodes.get_mut(&node).expect("node allocated above").buf = Some(imu);
    w.ctx.buf_table.nodes[index as usize] = Some(node);
}

/// `rq_for_each_bvec(bv, rq, rq_iter) imu->bvec[nr_bvecs++] = bv;`: returns
/// `nr_bvecs`. An entry past the allocation (an `io_alloc_imu` that gave
/// fewer slots than asked: the segment count is never below the bvecs) is
/// a write out of bounds, recorded and not made.
pub fn fill_rq_bvecs(w: &mut World, imu: AllocId, bvecs: &[BioVec]) -> u32 {
    let slots = w.imu(imu).bvec.slots();
    for (i, bv) in bvecs.iter().enumerate() {
        if i as u64 >= slots {
            w.oops(&format!(
                "slab-out-of-bounds in io_buffer_register_bvec: imu->bvec[{i}] written past the {slots} bvecs allocated"
            ));
            break;
        }
        w.imu_mut(imu).bvec.set(i as u64, *bv);
    }
    bvecs.len() as u32
}

/// Model of `io_buffer_unregister_bvec()` — io_uring/rsrc.c, 7.1-rc1: the
/// driver takes slot `index` back. Past the table or empty is `-EINVAL`,
/// a user buffer is `-EBUSY`; otherwise the table's reference to the node
/// is put (the buffer goes when its last reference does) and the slot is
/// emptied.
pub fn io_buffer_unregister_bvec<V: Variant + ?Sized>(
    v: &V,
    w: &mut World,
    index: u32,
) -> Result<(), Errno> {
    if index as usize >= w.ctx.buf_table.nr() {
        return Err(Errno::EINVAL);
    }
    let Some(node) = w.ctx.buf_table.nodes[index as usize] else {
        return Err(Errno::EINVAL);
    };
    let kbuf = match w.nodes[&node].buf {
        Some(imu) => w.imu(imu).flags & IO_REGBUF_F_KBUF != 0,
        None => {
            w.oops("io_buffer_unregister_bvec: node->buf->flags with node->buf NULL");
            false
        }
    };
    if !kbuf {
        return Err(Errno::EBUSY);
    }
    v.io_put_rsrc_node(w, node);
    w.ctx.buf_table.nodes[index as usize] = None;
    Ok(())
}

/// Model of `io_import_kbuf()` — io_uring/rsrc.c, 7.1-rc1: an iterator over
/// all the buffer's bvecs for `offset + len` bytes, advanced by `offset`
/// with `iov_iter_advance()`, which walks the bvecs one by one: a kernel
/// buffer's bvecs are the request's, of any length, so the user buffer's
/// arithmetic by `folio_shift` does not apply. `nr_segs` is what the
/// advance leaves of `nr_bvecs`, not the bvecs `len` bytes need.
pub fn io_import_kbuf<V: Variant + ?Sized>(
    v: &V,
    w: &mut World,
    ddir: u32,
    imu: AllocId,
    len: u64,
    offset: u64,
) -> Result<IovIter, Errno> {
    let count = len + offset;
    let nr_bvecs = w.imu(imu).nr_bvecs as u64;
    let mut iter = IovIter::bvec(ddir, imu, 0, nr_bvecs, count);
    v.iov_iter_advance(w, &mut iter, offset);
    Ok(iter)
}

/// Model of `io_vec_fill_kern_bvec()` — io_uring/rsrc.c, 7.1-rc1: for each
/// iovec, whose base is an offset into the buffer, the request's bvecs from
/// that offset for its length, cut at bvec boundaries
/// (`bvec_iter_advance()`, `for_each_mp_bvec()`: include/linux/bvec.h).
/// Nothing is checked here, `io_kern_bvec_size()` did it. `capacity` is the
/// result array's size, from the variant's `io_kern_bvec_size`; writing
/// past it is recorded as [`super::Event::ResBvecOverflow`].
/// Divergence: past the allocation there is nothing faithful to follow
/// (the read is recorded); the walk stops there.
pub fn io_vec_fill_kern_bvec<V: Variant + ?Sized>(
    _v: &V,
    w: &mut World,
    ddir: u32,
    imu: AllocId,
    iovec: &[Iovec],
    capacity: u64,
) -> Result<IovIter, Errno> {
    const WHO: &str = "io_vec_fill_kern_bvec";
    let mut res_bvec: Vec<BioVec> = Vec::new();
    let mut total_len = 0u64;
    for iov in iovec {
        let (offset, iov_len) = (iov.iov_base, iov.iov_len);
        // struct bvec_iter bi = { .bi_size = offset + iov_len }: unsigned int,
        // as bvec_iter_advance()'s `bytes` is.
        let mut bi_size = offset.wrapping_add(iov_len) as u32 as u64;
        let (mut bi_idx, mut bi_bvec_done) = (0u64, 0u64);
        let bytes = offset as u32 as u64;
        if w.warn_on_once(
            bytes > bi_size,
            "bvec_iter_advance: Attempted to advance past end of bvec iter",
        ) {
            bi_size = 0;
        } else {
            bi_size -= bytes;
            let mut bytes = bytes + bi_bvec_done;
            while bytes != 0 {
                let bv = w.read_bvec(imu, bi_idx, WHO);
                if bv.bv_page == POISON_PFN || bytes < bv.bv_len {
                    break;
                }
                bytes -= bv.bv_len;
                bi_idx += 1;
            }
            bi_bvec_done = bytes;
        }
        // for_each_mp_bvec(bv, src_bvec, bi, bi) res_bvec[res_idx++] = bv;
        while bi_size != 0 {
            let src = w.read_bvec(imu, bi_idx, WHO);
            let len = bi_size.min(src.bv_len.saturating_sub(bi_bvec_done));
            if src.bv_page == POISON_PFN || (len == 0 && src.bv_len != 0) {
                break;
            }
            res_bvec.push(BioVec {
                bv_page: src.bv_page,
                bv_len: len,
                bv_offset: src.bv_offset + bi_bvec_done,
            });
            // bvec_iter_advance_single()
            let done = bi_bvec_done + len;
            if done == src.bv_len {
                bi_bvec_done = 0;
                bi_idx += 1;
            } else {
                bi_bvec_done = done;
            }
            bi_size -= len;
        }
        total_len += iov_len;
    }
    if res_bvec.len() as u64 > capacity {
        w.events.push(super::Event::ResBvecOverflow {
            written: res_bvec.len() as u64,
            capacity,
        });
    }
    Ok(IovIter::owned(ddir, res_bvec, total_len))
}

/// Model of `iov_kern_bvec_size()` — io_uring/rsrc.c, 7.1-rc1: checks one
/// iovec against the buffer and counts the bvecs it reaches, from the one
/// its offset lies in to the one its last byte lies in.
pub fn iov_kern_bvec_size<V: Variant + ?Sized>(
    v: &V,
    w: &mut World,
    iov: &Iovec,
    imu: AllocId,
) -> Result<u64, Errno> {
    let offset = iov.iov_base;
    v.validate_fixed_range(w, offset, iov.iov_len, w.imu(imu))?;
    let nr_bvecs = w.imu(imu).nr_bvecs as u64;
    let (mut start, mut i, mut off) = (0u64, 0u64, 0u64);
    while off < offset + iov.iov_len && i < nr_bvecs {
        let bv_len = w.read_bvec(imu, i, "iov_kern_bvec_size").bv_len;
        if offset >= off && offset < off + bv_len {
            start = i;
        }
        off += bv_len;
        i += 1;
    }
    Ok(i - start)
}

/// Model of `io_kern_bvec_size()` — io_uring/rsrc.c, 7.1-rc1: the result
/// array's size for a vectored import from a kernel buffer, the bvecs each
/// iovec reaches; an empty iovec is `-EFAULT`, a total past `MAX_RW_COUNT`
/// `-EINVAL`.
pub fn io_kern_bvec_size<V: Variant + ?Sized>(
    v: &V,
    w: &mut World,
    iov: &[Iovec],
    imu: AllocId,
) -> Result<u64, Errno> {
    let mut nr_segs = 0u64;
    let mut total_len = 0u64;
    for i in iov {
        if i.iov_len == 0 {
            return Err(Errno::EFAULT);
        }
        total_len = total_len.checked_add(i.iov_len).ok_or(Errno::EOVERFLOW)?;
        nr_segs += v.iov_kern_bvec_size(w, i, imu)?;
    }
    if total_len > w.geo.max_rw_count() {
        return Err(Errno::EINVAL);
    }
    Ok(nr_segs)
}
