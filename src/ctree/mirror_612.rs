//! The mirror for trees of 6.12 and before: their state in the machine's
//! terms. Slot `i` of `ctx->user_bufs` holding imu X is a table entry whose
//! node is X itself (6.12 has no node per buffer; the node's tag is the
//! slot's, from `buf_data`), `&dummy_ubuf` an empty slot. The reference
//! nodes the ring holds (`rsrc_node`, those queued on `rsrc_ref_list`) are
//! held objects, and a buffer a queued node keeps for removal is a held
//! buffer: pinned and charged until its generation's requests are done.

use super::mirror::{record_oopses, slice, Reader};
use super::CRun;
use crate::mm::AllocId;
use crate::model::types::IoRsrcNode;
use crate::model::World;
use std::ffi::{c_int, c_long, c_uint, c_ulong};

/// `struct rf_ctx_view_612`.
#[repr(C)]
#[derive(Debug)]
pub struct CtxView612 {
    nr_user_bufs: c_uint,
    user_bufs: *const usize,
    dummy: usize,
    locked_vm: c_long,
    has_user: c_int,
    pinned_vm: i64,
    rsrc_node: usize,
    node_cache: *const usize,
    node_cached: c_uint,
}

/// The accessors only the 6.12 glue has.
pub struct Lib612 {
    pub(super) ctx_read: unsafe extern "C" fn(usize, *mut CtxView612),
    pub(super) ref_list_read:
        unsafe extern "C" fn(usize, *mut usize, *mut usize, c_ulong) -> c_ulong,
    pub(super) slot_tag: unsafe extern "C" fn(usize, c_uint) -> u64,
}

/// Replaces `w`'s ring state with the C's.
pub fn mirror(w: &mut World, run: &CRun, lib: &Lib612) {
    let mut v: CtxView612 = unsafe { std::mem::zeroed() };
    unsafe { (lib.ctx_read)(run.ctx, &mut v) };
    let mut r = Reader::new(w, run);
    let array = r.id(v.user_bufs as usize);
    let room = array.map_or(0, |id| {
        r.w_sizes.get(&id).copied().unwrap_or(0) as usize / std::mem::size_of::<usize>()
    });
    if array.is_none() && !v.user_bufs.is_null() && v.nr_user_bufs > 0 {
        r.oopses
            .push("user_bufs: points at freed memory (use after free)".into());
    }
    let mut table = Vec::new();
    for (i, &p) in unsafe { slice(v.user_bufs, (v.nr_user_bufs as usize).min(room)) }
        .iter()
        .enumerate()
    {
        if p == 0 || p == v.dummy {
            table.push(None);
            continue;
        }
        let imu = r.imu(p, &format!("user_bufs[{i}]"));
        if let Some(id) = imu {
            let tag = unsafe { (lib.slot_tag)(run.ctx, i as c_uint) };
            r.nodes.insert(id, node_of(&r, id, tag));
        }
        table.push(imu);
    }
    // The reference nodes, and the buffers queued ones keep.
    let n = unsafe { (lib.ref_list_read)(run.ctx, std::ptr::null_mut(), std::ptr::null_mut(), 0) };
    let (mut nodes, mut bufs) = (vec![0usize; n as usize], vec![0usize; n as usize]);
    unsafe { (lib.ref_list_read)(run.ctx, nodes.as_mut_ptr(), bufs.as_mut_ptr(), n) };
    let mut held_nodes: Vec<AllocId> = nodes.iter().filter_map(|&p| r.id(p)).collect();
    held_nodes.extend(r.id(v.rsrc_node));
    let mut held_bufs = Vec::new();
    for (k, &b) in bufs.iter().enumerate() {
        if b == 0 || b == v.dummy {
            continue;
        }
        if let Some(id) = r.imu(b, &format!("rsrc_ref_list node {k}'s buffer")) {
            if !r.nodes.contains_key(&id) {
                let n = node_of(&r, id, 0);
                r.nodes.insert(id, n);
            }
            held_bufs.push(id);
        }
    }
    let inflight: Vec<Option<AllocId>> = run
        .inflight
        .iter()
        .map(|&req| {
            let p = unsafe { (run.lib.req_node)(req) };
            if p == 0 || p == v.dummy {
                return None;
            }
            r.imu(p, "an in-flight request's buffer")
        })
        .collect();
    for id in inflight.iter().flatten() {
        if !r.nodes.contains_key(id) {
            let n = node_of(&r, *id, 0);
            r.nodes.insert(*id, n);
        }
    }
    let node_cache: Vec<AllocId> = unsafe { slice(v.node_cache, v.node_cached as usize) }
        .iter()
        .filter_map(|&p| r.id(p))
        .collect();
    let Reader {
        nodes: rnodes,
        imus,
        oopses,
        ..
    } = r;
    record_oopses(w, oopses);
    w.ctx.buf_table.nodes = table;
    w.ctx.buf_table.array = array.filter(|_| v.nr_user_bufs > 0 || !v.user_bufs.is_null());
    w.nodes = rnodes;
    w.imus = imus;
    w.ctx.node_cache.entries = node_cache;
    w.ctx.imu_cache.entries.clear();
    w.ctx.hpage_acct.clear();
    w.ctx.held_nodes = held_nodes;
    w.ctx.held_bufs = held_bufs;
    for (req, id) in w.ctx.inflight.iter_mut().zip(inflight) {
        req.req.buf_node = id;
    }
    if let Some(u) = w.ctx.user.as_mut() {
        u.locked_vm = v.locked_vm as u64;
    }
    w.ctx.pinned_vm = v.pinned_vm as u64;
}

/// The node a 6.12 buffer stands in for: itself, with one reference
/// (what 6.12 counts is the buffer's `refs`, which clones share).
fn node_of(r: &Reader, id: AllocId, tag: u64) -> IoRsrcNode {
    IoRsrcNode {
        refs: r.imus.get(&id).map_or(1, |m| m.refs.max(1)),
        tag,
        buf: Some(id),
    }
}
