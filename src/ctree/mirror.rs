//! Reads the C's ring back into the simulated machine after each call:
//! the buffer table, nodes, imus with their bvecs, the caches, the
//! `hpage_acct` xarray and the two accounting counters. The oracles then
//! judge the C exactly as they judge the Rust model, from one representation.
//!
//! Objects are named by their ledger id; a table entry or a node's buffer
//! that points at memory the C already freed is a use after free, recorded
//! as an oops, and left out.

use super::{page_to_pfn, CRun, RfBioVec};
use crate::mm::AllocId;
use crate::model::types::{HpageAcct, IoMappedUbuf, IoRsrcNode};
use crate::model::{BioVec, World};
use std::collections::BTreeMap;
use std::ffi::{c_int, c_long, c_uint, c_ulong};

/// `struct rf_ctx_view`.
#[repr(C)]
#[derive(Debug)]
pub struct CtxView {
    table_nr: c_uint,
    nodes: *const usize,
    locked_vm: c_long,
    has_user: c_int,
    pinned_vm: i64,
    node_cache: *const usize,
    node_cached: c_uint,
    imu_cache: *const usize,
    imu_cached: c_uint,
    hpage_acct: *const XaEntry,
    hpage_acct_nr: c_ulong,
}

/// `struct rf_xa_entry`.
#[repr(C)]
#[derive(Debug)]
pub struct XaEntry {
    index: usize,
    value: usize,
    slot: usize,
}

/// `struct rf_node_view`.
#[repr(C)]
#[derive(Debug, Default)]
pub struct NodeView {
    ty: c_uint,
    refs: c_int,
    tag: u64,
    buf: usize,
}

/// `struct rf_imu_view`.
#[repr(C)]
#[derive(Debug)]
pub struct ImuView {
    ubuf: u64,
    len: u64,
    nr_bvecs: c_uint,
    folio_shift: c_uint,
    refs: c_int,
    acct_pages: c_ulong,
    flags: c_uint,
    dir: c_uint,
    bvec: *const RfBioVec,
}

pub(super) unsafe fn slice<'a, T>(p: *const T, n: usize) -> &'a [T] {
    if p.is_null() || n == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(p, n)
    }
}

pub(super) struct Reader<'a> {
    pub(super) run: &'a CRun,
    pub(super) w_sizes: BTreeMap<AllocId, u64>,
    pub(super) nodes: BTreeMap<AllocId, IoRsrcNode>,
    pub(super) imus: BTreeMap<AllocId, IoMappedUbuf>,
    pub(super) oopses: Vec<String>,
}

impl<'a> Reader<'a> {
    /// A reader of `run`'s C, sizing objects by `w`'s ledger.
    pub(super) fn new(w: &World, run: &'a CRun) -> Reader<'a> {
        Reader {
            run,
            w_sizes: w.alloc.live().iter().map(|(&id, a)| (id, a.size)).collect(),
            nodes: BTreeMap::new(),
            imus: BTreeMap::new(),
            oopses: vec![],
        }
    }

    pub(super) fn id(&self, p: usize) -> Option<AllocId> {
        self.run.objects.ids.get(&p).copied()
    }

    fn node(&mut self, p: usize, what: &str) -> Option<AllocId> {
        if p == 0 {
            return None;
        }
        let Some(id) = self.id(p) else {
            self.oopses
                .push(format!("{what}: points at freed memory (use after free)"));
            return None;
        };
        if !self.nodes.contains_key(&id) {
            let mut v = NodeView::default();
            unsafe { (self.run.lib.node_read)(p, &mut v) };
            let buf = self.imu(v.buf, &format!("{what}->buf"));
            self.nodes.insert(
                id,
                IoRsrcNode {
                    refs: v.refs as u32,
                    tag: v.tag,
                    buf,
                },
            );
        }
        Some(id)
    }

    pub(super) fn imu(&mut self, p: usize, what: &str) -> Option<AllocId> {
        if p == 0 {
            return None;
        }
        let Some(id) = self.id(p) else {
            self.oopses
                .push(format!("{what}: points at freed memory (use after free)"));
            return None;
        };
        if !self.imus.contains_key(&id) {
            let mut v: ImuView = unsafe { std::mem::zeroed() };
            unsafe { (self.run.lib.imu_read)(p, &mut v) };
            let size = self.w_sizes.get(&id).copied().unwrap_or(0);
            let slots = size.saturating_sub(self.run.lib.imu_bvec_offset) as usize
                / std::mem::size_of::<RfBioVec>();
            let mut bvec = crate::model::runs::BvecTable::uninit(slots as u64);
            for (i, b) in unsafe { slice(v.bvec, slots) }.iter().enumerate() {
                if b.bv_page != 0 {
                    bvec.set(
                        i as u64,
                        BioVec {
                            bv_page: page_to_pfn(b.bv_page),
                            bv_len: b.bv_len as u64,
                            bv_offset: b.bv_offset as u64,
                        },
                    );
                }
            }
            self.imus.insert(
                id,
                IoMappedUbuf {
                    ubuf: v.ubuf,
                    len: v.len,
                    nr_bvecs: v.nr_bvecs,
                    folio_shift: v.folio_shift,
                    refs: v.refs as u32,
                    acct_pages: v.acct_pages as u64,
                    flags: v.flags as u8,
                    dir: v.dir as u8,
                    // The C registers user buffers only (kernel ones are
                    // refused before a tree runs): io_release_ubuf.
                    release: crate::model::ImuRelease::Ubuf,
                    bvec,
                },
            );
        }
        Some(id)
    }
}

/// Records each oops a read found, once.
pub(super) fn record_oopses(w: &mut World, oopses: Vec<String>) {
    for o in oopses {
        if !w
            .events
            .iter()
            .any(|e| matches!(e, crate::model::Event::Oops { site } if *site == o))
        {
            w.oops(&o);
        }
    }
}

/// Replaces `w`'s ring state with the C's.
pub fn mirror(w: &mut World, run: &CRun) {
    if run.ctx == 0 {
        return;
    }
    if let Some(v612) = &run.lib.v612 {
        return super::mirror_612::mirror(w, run, v612);
    }
    let mut v: CtxView = unsafe { std::mem::zeroed() };
    unsafe { (run.lib.ctx_read)(run.ctx, &mut v) };
    let mut r = Reader::new(w, run);
    // Never more entries than the table's object holds: a wrong count is
    // the C's bug to report, not a read past the object from here.
    let room = match r.id(v.nodes as usize) {
        Some(id) => {
            r.w_sizes.get(&id).copied().unwrap_or(0) as usize / std::mem::size_of::<usize>()
        }
        None if v.table_nr > 0 && !v.nodes.is_null() => {
            r.oopses
                .push("buf_table.nodes: points at freed memory (use after free)".into());
            0
        }
        None => 0,
    };
    let table: Vec<Option<AllocId>> = unsafe { slice(v.nodes, (v.table_nr as usize).min(room)) }
        .iter()
        .enumerate()
        .map(|(i, &p)| r.node(p, &format!("buf_table.nodes[{i}]")))
        .collect();
    for (k, &req) in run.inflight.iter().enumerate() {
        let p = unsafe { (run.lib.req_node)(req) };
        r.node(p, &format!("in-flight request {k}'s buf_node"));
    }
    let node_cache: Vec<AllocId> = unsafe { slice(v.node_cache, v.node_cached as usize) }
        .iter()
        .filter_map(|&p| r.id(p))
        .collect();
    for &p in unsafe { slice(v.node_cache, v.node_cached as usize) } {
        // A cached node keeps what it held; its buffer may be long gone.
        if let Some(id) = r.id(p) {
            let mut nv = NodeView::default();
            unsafe { (run.lib.node_read)(p, &mut nv) };
            let buf = r.id(nv.buf).filter(|_| nv.buf != 0);
            r.nodes.entry(id).or_insert(IoRsrcNode {
                refs: nv.refs as u32,
                tag: nv.tag,
                buf,
            });
        }
    }
    let imu_cache: Vec<AllocId> = unsafe { slice(v.imu_cache, v.imu_cached as usize) }
        .iter()
        .filter_map(|&p| r.imu(p, "imu_cache entry"))
        .collect();
    let hpage: BTreeMap<u64, HpageAcct> = unsafe { slice(v.hpage_acct, v.hpage_acct_nr as usize) }
        .iter()
        .filter(|e| e.value != 0)
        .map(|e| {
            (
                page_to_pfn(e.index),
                HpageAcct {
                    count: (e.value >> 1) as u64,
                    slot: r.id(e.slot).unwrap_or(AllocId(0)),
                },
            )
        })
        .collect();
    let array = (v.table_nr > 0).then(|| r.id(v.nodes as usize)).flatten();
    let Reader {
        nodes,
        imus,
        oopses,
        ..
    } = r;
    record_oopses(w, oopses);
    w.ctx.buf_table.nodes = table;
    w.ctx.buf_table.array = array;
    w.nodes = nodes;
    w.imus = imus;
    w.ctx.node_cache.entries = node_cache;
    w.ctx.imu_cache.entries = imu_cache;
    w.ctx.hpage_acct = hpage;
    if let Some(u) = w.ctx.user.as_mut() {
        u.locked_vm = v.locked_vm as u64;
    }
    w.ctx.pinned_vm = v.pinned_vm as u64;
}

/// The state after ring exit: nothing of the ring is left but the counters.
pub fn after_exit(w: &mut World, locked_vm: u64, pinned_vm: u64) {
    w.ctx.buf_table = Default::default();
    w.nodes.clear();
    w.imus.clear();
    w.ctx.node_cache.entries.clear();
    w.ctx.imu_cache.entries.clear();
    w.ctx.hpage_acct.clear();
    w.ctx.held_nodes.clear();
    w.ctx.held_bufs.clear();
    w.ctx.region_pages = 0;
    if let Some(u) = w.ctx.user.as_mut() {
        u.locked_vm = locked_vm;
    }
    w.ctx.pinned_vm = pinned_vm;
}
