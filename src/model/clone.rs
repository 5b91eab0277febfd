//! Model of buffer cloning, io_uring/rsrc.c at Linux 7.1-rc1:
//! `io_register_clone_buffers()` and `io_clone_buffers()`. A clone gives
//! the destination ring new nodes for the source ring's buffers; the
//! `io_mapped_ubuf` is shared (`imu->refs`), so its pins and its charge go
//! with whichever ring drops it last.
//!
//! The rings are the task's ([`World::rings`]); the destination is the one
//! the operation runs on, `w.ctx`.

use super::types::*;
use super::{Errno, World};
use crate::variants::Variant;

/// `struct io_uring_clone_buffers` as the scenario gives it (`src_fd` is
/// the source ring, `pad` is zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoUringCloneBuffers {
    /// The source ring's number.
    pub src: u32,
    /// `src_off`.
    pub src_off: u32,
    /// `dst_off`.
    pub dst_off: u32,
    /// `nr`.
    pub nr: u32,
    /// `flags & IORING_REGISTER_DST_REPLACE`.
    pub replace: bool,
}

/// Model of `io_register_clone_buffers()` — io_uring/rsrc.c, 7.1-rc1.
/// The source is always a ring file of this task, unregistered, and no
/// ring has a submitter task (no `IORING_SETUP_SINGLE_ISSUER`), so the
/// -EBADF and -EEXIST paths cannot be taken.
pub fn io_register_clone_buffers<V: Variant + ?Sized>(
    v: &V,
    w: &mut World,
    arg: &IoUringCloneBuffers,
) -> Result<(), Errno> {
    if !arg.replace && w.ctx.buf_table.nr() != 0 {
        return Err(Errno::EBUSY);
    }
    v.io_clone_buffers(w, arg)
}

/// The source table's nodes: the current ring's when it is the source.
fn src_nodes(w: &World, src: u32) -> Vec<Option<crate::mm::AllocId>> {
    match w.parked.get(src as usize) {
        Some(Some(c)) => c.buf_table.nodes.clone(),
        _ => w.ctx.buf_table.nodes.clone(),
    }
}

/// Model of `io_clone_buffers()` — io_uring/rsrc.c, 7.1-rc1, with 7.2's
/// call of `io_buffer_acct_cloned_hpages()` as the hook
/// [`Variant::io_buffer_acct_cloned_hpages`], which does nothing in 7.1
/// (a clone charges nothing: the buffer was charged once, where it was
/// registered). The rings share `user` and `mm_account` (one task), so the
/// -EINVAL for rings of two users cannot be taken.
pub fn io_clone_buffers<V: Variant + ?Sized>(
    v: &V,
    w: &mut World,
    arg: &IoUringCloneBuffers,
) -> Result<(), Errno> {
    // if offsets are given, must have nr specified too
    if arg.nr == 0 && (arg.dst_off != 0 || arg.src_off != 0) {
        return Err(Errno::EINVAL);
    }
    // not allowed unless REPLACE is set
    if w.ctx.buf_table.nr() != 0 && !arg.replace {
        return Err(Errno::EBUSY);
    }
    let src = src_nodes(w, arg.src);
    let nbufs = src.len() as u32;
    if nbufs == 0 {
        return Err(Errno::ENXIO);
    }
    let nr = if arg.nr == 0 {
        nbufs
    } else if arg.nr > nbufs || arg.nr > IORING_MAX_REG_BUFFERS {
        return Err(Errno::EINVAL);
    } else {
        arg.nr
    };
    // check_add_overflow(arg->nr, arg->src_off, &off) into an int.
    let off = nr as u64 + arg.src_off as u64;
    if off > i32::MAX as u64 || off > nbufs as u64 {
        return Err(Errno::EOVERFLOW);
    }
    // check_add_overflow(arg->nr, arg->dst_off, &nbufs) into an unsigned int.
    let Some(nbufs) = nr.checked_add(arg.dst_off) else {
        return Err(Errno::EOVERFLOW);
    };
    if nbufs > IORING_MAX_REG_BUFFERS {
        return Err(Errno::EINVAL);
    }

    let dst_nr = w.ctx.buf_table.nr();
    let mut data = v.io_rsrc_data_alloc(w, nbufs.max(dst_nr as u32))?;

    // Copy original dst nodes from before the cloned range
    for i in 0..(arg.dst_off as usize).min(dst_nr) {
        if let Some(node) = w.ctx.buf_table.nodes[i] {
            data.nodes[i] = Some(node);
            w.nodes.get_mut(&node).expect("node in table").refs += 1;
        }
    }

    let (mut off, mut i) = (arg.dst_off as usize, arg.src_off as usize);
    for _ in 0..nr {
        // io_rsrc_node_lookup(): NULL past the table.
        let dst_node = match src.get(i).copied().flatten() {
            None => None,
            Some(src_node) => {
                let Some(dst_node) = v.io_rsrc_node_alloc(w) else {
                    free_data(v, w, data);
                    return Err(Errno::ENOMEM);
                };
                let Some(imu) = w.nodes[&src_node].buf else {
                    // Recorded, and gone on from as if the slot were empty.
                    w.oops("io_clone_buffers: refcount_inc(&src_node->buf->refs) with src_node->buf NULL");
                    w.io_cache_free(false, dst_node);
                    data.nodes[off] = None;
                    off += 1;
                    i += 1;
                    continue;
                };
                w.imu_mut(imu).refs += 1;
                w.nodes.get_mut(&dst_node).expect("node just allocated").buf = Some(imu);
                if let Err(e) = v.io_buffer_acct_cloned_hpages(w, imu) {
                    w.imu_mut(imu).refs -= 1;
                    w.io_cache_free(false, dst_node);
                    free_data(v, w, data);
                    return Err(e);
                }
                Some(dst_node)
            }
        };
        data.nodes[off] = dst_node;
        off += 1;
        i += 1;
    }

    // Copy original dst nodes from after the cloned range
    for i in nbufs as usize..dst_nr {
        if let Some(node) = w.ctx.buf_table.nodes[i] {
            data.nodes[i] = Some(node);
            w.nodes.get_mut(&node).expect("node in table").refs += 1;
        }
    }

    // If asked for replace, put the old table. data->nodes[] holds both
    // old and new nodes at this point.
    if arg.replace {
        v.io_rsrc_data_free(w);
    }
    let left = w.ctx.buf_table.nr() != 0;
    w.warn_on_once(left, "io_clone_buffers: ctx->buf_table.nr");
    w.ctx.buf_table = data;
    Ok(())
}

/// `io_rsrc_data_free(ctx, &data)` of the table being built: the model's
/// function frees the ring's own table, so `data` stands in for it while it
/// runs.
fn free_data<V: Variant + ?Sized>(v: &V, w: &mut World, data: IoRsrcData) {
    let own = std::mem::replace(&mut w.ctx.buf_table, data);
    v.io_rsrc_data_free(w);
    w.ctx.buf_table = own;
}
