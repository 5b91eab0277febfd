//! Named invariants, each the kernel rule it protects, checked on one
//! variant after every operation (stateright's `Property::always`, with the
//! rule spelled out for the reviewer who reads the report).

use super::truth::{discontinuities, user_range};
use crate::mm::phys::MmViolation;
use crate::mm::{AllocId, AllocSite, FolioId};
use crate::model::iov_iter::{push_merged, PhysRange};
use crate::model::rsrc::io_estimate_bvec_size;
use crate::model::world::Event;
use crate::model::{Errno, Iovec, World, ITER_DEST, ITER_SOURCE};
use crate::scenario::ConcreteOp;
use crate::variants::Variant;
use std::collections::{BTreeMap, BTreeSet};

/// What the ring looked like before an operation.
#[derive(Clone, Debug)]
pub struct Before {
    /// `(refcount, pincount)` of every folio.
    pub counters: Vec<(i64, i64)>,
    /// `user->locked_vm`.
    pub locked_vm: Option<u64>,
    /// `mm->pinned_vm`.
    pub pinned_vm: u64,
    /// Live allocations not parked in a cache.
    pub live_uncached: BTreeSet<AllocId>,
    /// `ctx->hpage_acct` references by head page (7.2; empty under 7.1).
    pub hpage_refs: BTreeMap<crate::mm::Pfn, u64>,
}

impl Before {
    /// Captures `w`.
    pub fn of(w: &World) -> Self {
        Before {
            counters: w.phys.counters(),
            locked_vm: w.ctx.user.map(|u| u.locked_vm),
            pinned_vm: w.ctx.pinned_vm,
            live_uncached: live_uncached(w),
            hpage_refs: w
                .ctx
                .hpage_acct
                .iter()
                .map(|(&h, e)| (h, e.count))
                .collect(),
        }
    }
}

fn live_uncached(w: &World) -> BTreeSet<AllocId> {
    let cached: BTreeSet<_> = w
        .ctx
        .node_cache
        .entries
        .iter()
        .chain(&w.ctx.imu_cache.entries)
        .copied()
        .collect();
    w.alloc
        .live()
        .keys()
        .filter(|id| !cached.contains(id))
        .copied()
        .collect()
}

/// One operation's result, as the invariants see it.
#[derive(Debug)]
pub struct OpContext<'a> {
    /// The operation; `None` for ring teardown.
    pub op: Option<&'a ConcreteOp>,
    /// Its return value (`-errno` on failure).
    pub ret: i64,
    /// Physical ranges an explicit import touched.
    pub import: Option<&'a [PhysRange]>,
    /// State before it.
    pub before: &'a Before,
    /// Allocation sites the fault plan failed during it.
    pub faults_fired: &'a [AllocSite],
    /// Events recorded during it.
    pub events: &'a [Event],
    /// mm violations recorded during it.
    pub mm_violations: &'a [MmViolation],
    /// Ledger violations recorded during it.
    pub alloc_violations: &'a [crate::mm::alloc::AllocViolation],
}

/// A named invariant.
pub struct Invariant {
    /// Name used in findings and signatures.
    pub name: &'static str,
    /// The kernel rule it protects, in a reviewer's words.
    pub rule: &'static str,
    /// `Err` when it does not hold.
    pub check: fn(&dyn Variant, &mut World, &OpContext) -> Result<(), Fail>,
}

impl std::fmt::Debug for Invariant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// An invariant that did not hold.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    /// [`Invariant::name`].
    pub invariant: &'static str,
    /// Which part of the rule broke (`outside-pins`, `nr-segs`, …): part of
    /// the finding's signature, so that distinct bugs stay distinct.
    pub aspect: String,
    /// What was seen.
    pub detail: String,
}

/// How an invariant check fails: the aspect of the rule, and what was seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fail {
    /// See [`Violation::aspect`].
    pub aspect: String,
    /// See [`Violation::detail`].
    pub detail: String,
}

impl Fail {
    /// A failure of `aspect`.
    pub fn new(aspect: &str, detail: String) -> Self {
        Fail {
            aspect: aspect.to_string(),
            detail,
        }
    }
}

impl std::fmt::Display for Fail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {}", self.aspect, self.detail)
    }
}

/// `Err(Fail)` with a formatted detail.
macro_rules! fail {
    ($aspect:expr, $($fmt:tt)*) => {
        Err(Fail::new($aspect, format!($($fmt)*)))
    };
}

/// The aspect of an out-of-bounds event.
fn event_aspect(e: &Event) -> &'static str {
    match e {
        Event::BvecOutOfBounds { .. } => "bvec-out-of-bounds",
        Event::ResBvecOverflow { .. } => "res-bvec-overflow",
        Event::Warn { .. } => "warning",
        Event::Oops { .. } => "oops",
    }
}

/// Every invariant, in the order they are checked.
pub static INVARIANTS: &[Invariant] = &[
    Invariant {
        name: "coverage",
        rule: "the bvecs of a registered buffer name exactly the physical bytes behind [ubuf, ubuf + len), in order; \
               the bvec lengths sum to imu->len; every byte lies in a folio the buffer holds a pin on \
               (io_sqe_buffer_register's bvec loop; io_release_ubuf unpins page_folio(bv_page))",
        check: coverage,
    },
    Invariant {
        name: "layout",
        rule: "every bvec but the first starts at offset 0 of a folio of 1 << folio_shift bytes, and every bvec but \
               the last is full: io_import_fixed and io_vec_fill_bvec index bvecs by offset >> folio_shift",
        check: layout,
    },
    Invariant {
        name: "import",
        rule: "io_import_fixed and io_vec_fill_bvec give, for any range inside the buffer, exactly the physical \
               bytes of that user range, with nr_segs equal to the bvecs used, without reading bvec[i >= nr_bvecs] \
               or writing past io_estimate_bvec_size",
        check: import,
    },
    Invariant {
        name: "pins",
        rule: "each folio holds exactly as many FOLL_PIN pins as there are bvec entries that will unpin it \
               (one per entry, io_release_ubuf); no pin count goes below where it started; a page handed to \
               unpin_user_page(s) is one a pin came through (sanity_check_pinned_pages, CONFIG_DEBUG_VM)",
        check: pins,
    },
    Invariant {
        name: "accounting",
        rule: "user->locked_vm equals what the version's bookkeeping says the live buffers (installed, or held by a request in flight) charged (7.1: the \
               sum of their acct_pages; 7.2: the ctx->hpage_acct huge pages and the order-0 entries) plus the \
               ring's own regions (io_create_region), and mm->pinned_vm equals that sum (io_buffer_account_pin \
               charges, io_buffer_unmap uncharges the same amount); and while live buffers pin pages, a ring \
               charged to a user (RLIMIT_MEMLOCK applies) has at least what those pins need charged to locked_vm \
               beyond its own regions and to pinned_vm: every compound folio an installed buffer pins, whole, \
               once, and every distinct order-0 page once (uncharged-pins: 7.1's headpage_already_acct bypass)",
        check: accounting,
    },
    Invariant {
        name: "error_unwinds",
        rule: "an operation that fails leaves pins, refcounts, accounting and allocations as they were, and a \
               failed allocation surfaces as -ENOMEM (the done: path of io_sqe_buffer_register)",
        check: error_unwinds,
    },
    Invariant {
        name: "allocation",
        rule: "every live allocation is owned by the ring (its buffer table, a node, an imu, or a cache), every \
               owned object is live, and nothing is freed twice",
        check: allocation,
    },
    Invariant {
        name: "no_warning",
        rule: "no WARN_ON_ONCE fires: the path's own (io_pin_pages, io_coalesce_buffer) and the allocators' on a \
               request over their limit (kvmalloc over INT_MAX, kmalloc over KMALLOC_MAX_SIZE)",
        check: no_warning,
    },
    Invariant {
        name: "oops",
        rule: "the kernel dereferences no NULL pointer: node->buf is set wherever io_free_rsrc_node, \
               headpage_already_acct and io_import_reg_vec read through it",
        check: oops,
    },
    Invariant {
        name: "teardown",
        rule: "after ring exit every folio's refcount and pincount are back at their start, locked_vm and \
               pinned_vm are 0, and no allocation is live",
        check: teardown,
    },
];

/// The invariant called `name`.
pub fn by_name(name: &str) -> Option<&'static Invariant> {
    INVARIANTS.iter().find(|i| i.name == name)
}

/// Installed buffers: `(slot, imu)` for every table slot holding one.
pub fn installed(w: &World) -> Vec<(usize, AllocId)> {
    w.ctx
        .buf_table
        .nodes
        .iter()
        .enumerate()
        .filter_map(|(i, n)| Some((i, w.nodes.get(&(*n)?)?.buf?)))
        .collect()
}

/// Every buffer that holds pins: `(slot, imu)` for the table's, then
/// `(nr + k, imu)` for a buffer only the `k`-th request in flight still
/// holds (dropped from the table by an update or unregister). A buffer's
/// pins, charge and allocations last as long as any of them.
pub fn live_buffers(w: &World) -> Vec<(usize, AllocId)> {
    let mut out = installed(w);
    let in_table: BTreeSet<AllocId> = w.ctx.buf_table.nodes.iter().flatten().copied().collect();
    let mut seen = BTreeSet::new();
    let nr = w.ctx.buf_table.nr();
    for (k, r) in w.ctx.inflight.iter().enumerate() {
        let Some(node) = r.req.buf_node else { continue };
        if in_table.contains(&node) || !seen.insert(node) {
            continue;
        }
        if let Some(imu) = w.nodes.get(&node).and_then(|n| n.buf) {
            out.push((nr + k, imu));
        }
    }
    out
}

/// The physical range each of an imu's first `nr_bvecs` entries names.
pub fn bvec_ranges(w: &World, imu: AllocId) -> Vec<PhysRange> {
    let shift = w.geo.page_shift;
    w.imu(imu)
        .bvecs()
        .map(|b| {
            b.map_or((crate::model::world::POISON_PFN << shift, 0), |b| {
                ((b.bv_page << shift) + b.bv_offset, b.bv_len)
            })
        })
        .collect()
}

fn fmt_ranges(r: &[PhysRange]) -> String {
    let parts: Vec<String> = r
        .iter()
        .take(6)
        .map(|(a, l)| format!("{a:#x}+{l:#x}"))
        .collect();
    let more = if r.len() > 6 {
        format!(" … ({} ranges)", r.len())
    } else {
        String::new()
    };
    format!("[{}]{more}", parts.join(", "))
}

fn coverage(_v: &dyn Variant, w: &mut World, _c: &OpContext) -> Result<(), Fail> {
    for (slot, imu) in installed(w) {
        let m = w.imu(imu);
        let (ubuf, len) = (m.ubuf, m.len);
        let per_bvec = bvec_ranges(w, imu);
        let sum: u64 = per_bvec.iter().map(|r| r.1).sum();
        if sum != len {
            return fail!(
                "length",
                "slot {slot}: bvec lengths sum to {sum:#x}, imu->len is {len:#x} ({} bvecs)",
                per_bvec.len()
            );
        }
        let mut got = Vec::new();
        for r in &per_bvec {
            push_merged(&mut got, *r);
        }
        let pinned: BTreeSet<FolioId> = w
            .imu(imu)
            .bvecs()
            .filter_map(|b| w.phys.page_folio(b?.bv_page))
            .collect();
        for &(addr, l) in &got {
            if let Some(bad) = outside_folios(w, addr, l, &pinned) {
                return fail!(
                    "outside-pins",
                    "slot {slot}: byte {bad:#x} (bvecs {}) is not in a folio this buffer pins: I/O would reach memory it does not own",
                    fmt_ranges(&got)
                );
            }
        }
        let want = user_range(w, ubuf, len);
        if got != want {
            return fail!(
                "wrong-bytes",
                "slot {slot}: bvecs name {} but the user range is backed by {}",
                fmt_ranges(&got),
                fmt_ranges(&want)
            );
        }
    }
    Ok(())
}

/// The first byte of `[addr, addr+len)` outside every folio in `pinned`.
fn outside_folios(w: &World, addr: u64, len: u64, pinned: &BTreeSet<FolioId>) -> Option<u64> {
    let shift = w.geo.page_shift;
    let mut at = addr;
    while at < addr + len {
        let Some(f) = w
            .phys
            .page_folio(at >> shift)
            .filter(|f| pinned.contains(f))
        else {
            return Some(at);
        };
        let fo = w.phys.folio(f);
        at = (fo.head + (1 << fo.order)) << shift;
    }
    None
}

fn layout(_v: &dyn Variant, w: &mut World, _c: &OpContext) -> Result<(), Fail> {
    let shift = w.geo.page_shift;
    for (slot, imu) in installed(w) {
        let fs = w.imu(imu).folio_shift;
        let block = 1u64 << fs;
        let r = bvec_ranges(w, imu);
        let n = r.len();
        for (i, &(addr, len)) in r.iter().enumerate() {
            // The block this bvec must sit in: its folio when folio_shift is
            // larger than a page, its page otherwise.
            let block_start = if fs > shift {
                match w.phys.page_folio(addr >> shift) {
                    Some(f) if w.phys.folio_size(&w.geo, f) == block => {
                        w.phys.folio(f).head << shift
                    }
                    _ => {
                        return fail!(
                            "not-in-folio",
                            "slot {slot}: bvec {i} is not inside a folio of 1 << {fs} bytes"
                        )
                    }
                }
            } else {
                addr & !(block - 1)
            };
            if i > 0 && addr != block_start {
                return fail!(
                    "offset",
                    "slot {slot}: bvec {i} starts {:#x} bytes into its folio",
                    addr - block_start
                );
            }
            if i + 1 < n && addr + len != block_start + block {
                return fail!(
                    "not-full",
                    "slot {slot}: bvec {i} of {n} is not full ({len:#x} bytes, folio_shift {fs})"
                );
            }
        }
    }
    Ok(())
}

/// Probe offsets in `[0, len]`: the ends, and every bvec boundary and
/// physical discontinuity with ±1 byte and ±1 page around it, capped so a
/// buffer of many small pages costs a bounded number of probes.
fn probe_points(w: &World, imu: AllocId, truth: &[PhysRange]) -> Vec<u64> {
    const CAP: usize = 24;
    let len = w.imu(imu).len;
    let ps = w.geo.page_size();
    let mut edges = Vec::new();
    let mut at = 0;
    for b in w.imu(imu).bvecs().flatten() {
        at += b.bv_len;
        edges.push(at);
    }
    edges.extend(discontinuities(truth));
    edges.push(ps - w.imu(imu).ubuf % ps);
    edges.sort_unstable();
    edges.dedup();
    if edges.len() > CAP {
        let step = edges.len().div_ceil(CAP);
        let (head, tail) = (edges[..4].to_vec(), edges[edges.len() - 4..].to_vec());
        edges = head
            .into_iter()
            .chain(edges.iter().step_by(step).copied())
            .chain(tail)
            .collect();
    }
    let mut pts = BTreeSet::from([0, len]);
    for e in edges {
        for p in [e.wrapping_sub(ps), e.wrapping_sub(1), e, e + 1, e + ps] {
            if p <= len {
                pts.insert(p);
            }
        }
    }
    pts.into_iter().collect()
}

/// Import probes from probe points: a short probe starting at every point
/// (one page, and one that runs across the next point), which exercises
/// every start position the arithmetic distinguishes; and a few long ones
/// (the whole buffer, from the first points to the end, from the start to
/// the last points) for the end arithmetic across many bvecs.
fn probes(pts: &[u64], len: u64, ps: u64) -> Vec<(u64, u64)> {
    let mut out = vec![(0, len)];
    for (i, &p) in pts.iter().enumerate() {
        if p >= len {
            continue;
        }
        out.push((p, (len - p).min(ps)));
        if let Some(&q) = pts.get(i + 2) {
            out.push((p, q.min(len) - p));
        }
    }
    for &p in pts.iter().take(3).filter(|&&p| p < len) {
        out.push((p, len - p));
    }
    for &p in pts.iter().rev().take(3).filter(|&&p| p > 0) {
        out.push((0, p));
    }
    out
}

fn import(v: &dyn Variant, w: &mut World, c: &OpContext) -> Result<(), Fail> {
    // The operation's own import, if any, against the truth.
    if let (Some(ConcreteOp::Import { buf_addr, len, .. }), Some(got)) = (c.op, c.import) {
        let want = user_range(w, *buf_addr, *len);
        if got != want.as_slice() {
            return fail!(
                "wrong-bytes",
                "import of {len:#x} bytes at {buf_addr:#x} touched {} instead of {}",
                fmt_ranges(got),
                fmt_ranges(&want)
            );
        }
    }
    if let (Some(ConcreteOp::Readv { iovecs, .. }), Some(got)) = (c.op, c.import) {
        let mut want = Vec::new();
        for iov in iovecs {
            for r in user_range(w, iov.iov_base, iov.iov_len) {
                push_merged(&mut want, r);
            }
        }
        if got != want.as_slice() {
            return fail!(
                "wrong-bytes",
                "readv of {} iovecs touched {} instead of {}",
                iovecs.len(),
                fmt_ranges(got),
                fmt_ranges(&want)
            );
        }
    }
    if let Some(e) = c
        .events
        .iter()
        .find(|e| !matches!(e, Event::Warn { .. } | Event::Oops { .. }))
    {
        return Err(Fail::new(
            event_aspect(e),
            format!("during the operation: {e:?}"),
        ));
    }
    for (slot, imu) in installed(w) {
        let (ubuf, len) = (w.imu(imu).ubuf, w.imu(imu).len);
        let truth = user_range(w, ubuf, len);
        let pts = probe_points(w, imu, &truth);
        // One import moves at most MAX_RW_COUNT bytes (validate_fixed_range
        // refuses more, and io_vec_fill_bvec a longer total): a buffer over
        // 2 GiB, which 7.2 allows, is probed in pieces no longer than that.
        let max = w.geo.max_rw_count();
        let probes: Vec<(u64, u64)> = probes(&pts, len, w.geo.page_size())
            .into_iter()
            .map(|(o, l)| (o, l.min(max)))
            .collect();
        for (k, &(off, l)) in probes.iter().enumerate() {
            let ddir = if k % 2 == 0 { ITER_DEST } else { ITER_SOURCE };
            let mark = w.events.len();
            let iter = v.io_import_fixed(w, ddir, imu, ubuf + off, l);
            let iter = iter.map_err(|e| {
                Fail::new(
                    "failed",
                    format!(
                        "slot {slot}: io_import_fixed(offset {off:#x}, len {l:#x}) failed with {e}"
                    ),
                )
            })?;
            let (got, used) = iter.physical_ranges(w);
            let events = w.events.split_off(mark);
            if let Some(e) = events.first() {
                return Err(Fail::new(
                    event_aspect(e),
                    format!("slot {slot}: io_import_fixed(offset {off:#x}, len {l:#x}): {e:?}"),
                ));
            }
            let want = user_range(w, ubuf + off, l);
            if got != want {
                return fail!("wrong-bytes", 
                    "slot {slot}: io_import_fixed(offset {off:#x}, len {l:#x}) touches {} instead of {}",
                    fmt_ranges(&got),
                    fmt_ranges(&want)
                );
            }
            if l > 0 && iter.nr_segs != used {
                return fail!("nr-segs", "slot {slot}: io_import_fixed(offset {off:#x}, len {l:#x}) set nr_segs {} but uses {used} bvecs", iter.nr_segs);
            }
        }
        // Vectored: neighbouring probes together, two iovecs per call.
        for pair in probes.chunks(2).take(12).filter(|p| {
            p.iter().all(|&(_, l)| l > 0) && p.iter().map(|&(_, l)| l).sum::<u64>() <= max
        }) {
            let iovs: Vec<Iovec> = pair
                .iter()
                .map(|&(o, l)| Iovec {
                    iov_base: ubuf + o,
                    iov_len: l,
                })
                .collect();
            let mark = w.events.len();
            let shift = w.imu(imu).folio_shift;
            let cap = io_estimate_bvec_size(&iovs, shift)
                .map_err(|e| Fail::new("failed", format!("io_estimate_bvec_size: {e}")))?;
            let iter = v.io_vec_fill_bvec(w, ITER_DEST, imu, &iovs, cap);
            let iter = iter.map_err(|e| {
                Fail::new(
                    "failed",
                    format!("slot {slot}: io_vec_fill_bvec({iovs:?}) failed with {e}"),
                )
            })?;
            let (got, _) = iter.physical_ranges(w);
            let events = w.events.split_off(mark);
            if let Some(e) = events.first() {
                return Err(Fail::new(
                    event_aspect(e),
                    format!(
                        "slot {slot}: io_vec_fill_bvec({}): {e:?}",
                        fmt_iovs(&iovs, ubuf)
                    ),
                ));
            }
            let mut want = Vec::new();
            for iov in &iovs {
                for r in user_range(w, iov.iov_base, iov.iov_len) {
                    push_merged(&mut want, r);
                }
            }
            if got != want {
                return fail!(
                    "wrong-bytes",
                    "slot {slot}: io_vec_fill_bvec({}) touches {} instead of {}",
                    fmt_iovs(&iovs, ubuf),
                    fmt_ranges(&got),
                    fmt_ranges(&want)
                );
            }
        }
    }
    Ok(())
}

fn fmt_iovs(iovs: &[Iovec], ubuf: u64) -> String {
    let v: Vec<String> = iovs
        .iter()
        .map(|i| format!("offset {:#x} len {:#x}", i.iov_base - ubuf, i.iov_len))
        .collect();
    v.join("; ")
}

fn pins(_v: &dyn Variant, w: &mut World, c: &OpContext) -> Result<(), Fail> {
    if let Some(MmViolation::UnpinNotExclusive { pfn, head, caller }) = c
        .mm_violations
        .iter()
        .find(|v| matches!(v, MmViolation::UnpinNotExclusive { .. }))
    {
        return fail!(
            "not-exclusive",
            "{caller} unpinned page {pfn:#x}, which no pin came through: neither it nor its head {head:#x} is PageAnonExclusive (kernel BUG at mm/gup.c, sanity_check_pinned_pages, CONFIG_DEBUG_VM)"
        );
    }
    if let Some(MmViolation::PinUnderflow {
        head,
        pincount,
        refcount,
        ..
    }) = c
        .mm_violations
        .iter()
        .find(|v| matches!(v, MmViolation::PinUnderflow { .. }))
    {
        return fail!("underflow", "folio at pfn {head:#x} unpinned below its start: pincount {pincount}, refcount {refcount}");
    }
    let mut expected: BTreeMap<FolioId, i64> = BTreeMap::new();
    for (slot, imu) in live_buffers(w) {
        for b in w.imu(imu).bvecs() {
            let page = b.map_or(crate::model::world::POISON_PFN, |b| b.bv_page);
            match w.phys.page_folio(page) {
                Some(f) => *expected.entry(f).or_default() += 1,
                None => {
                    return fail!(
                        "not-in-folio",
                        "slot {slot}: bvec page {page:#x} is in no folio"
                    )
                }
            }
        }
    }
    for (i, f) in w.phys.folios().iter().enumerate() {
        let id = FolioId(i as u32);
        let (held, want) = (w.phys.pins(id), expected.get(&id).copied().unwrap_or(0));
        if held != want {
            return fail!("count", 
                "folio {i} (pfn {:#x}, order {}) holds {held} pins but {want} bvec entries will unpin it",
                f.head, f.order
            );
        }
    }
    Ok(())
}

fn accounting(v: &dyn Variant, w: &mut World, _c: &OpContext) -> Result<(), Fail> {
    let sum = v
        .accounted_pages(w)
        .map_err(|d| Fail::new("bookkeeping", d))?;
    if let Some(u) = w.ctx.user {
        if u.locked_vm != sum + w.ctx.region_pages {
            return fail!(
                "locked-vm",
                "locked_vm is {} pages, live buffers account {sum}",
                u.locked_vm as i64
            );
        }
    }
    if w.ctx.pinned_vm != sum {
        return fail!(
            "pinned-vm",
            "pinned_vm is {} pages, live buffers account {sum}",
            w.ctx.pinned_vm as i64
        );
    }
    uncharged_pins(w)
}

/// What the installed buffers' pins need charged, in pages: every compound
/// folio any of them pins, whole and once, and every distinct order-0 page
/// once. Also each such folio with the slots that pin it, for reports.
pub fn pins_need(w: &World) -> (u64, BTreeMap<FolioId, BTreeSet<usize>>) {
    let mut folios: BTreeMap<FolioId, BTreeSet<usize>> = BTreeMap::new();
    let mut small = BTreeSet::new();
    for (slot, imu) in live_buffers(w) {
        for b in w.imu(imu).bvecs().flatten() {
            let Some(f) = w.phys.page_folio(b.bv_page) else {
                continue;
            };
            if w.phys.folio(f).order > 0 {
                folios.entry(f).or_default().insert(slot);
            } else {
                small.insert(b.bv_page);
            }
        }
    }
    let huge: u64 = folios.keys().map(|&f| w.phys.folio_nr_pages(f)).sum();
    (huge + small.len() as u64, folios)
}

/// `accounting/uncharged-pins`: a ring charged to a user holds at least
/// [`pins_need`] in `locked_vm` (beyond its own regions) and in
/// `pinned_vm`. A ring without a user (CAP_IPC_LOCK) owes no charge.
fn uncharged_pins(w: &World) -> Result<(), Fail> {
    let Some(u) = w.ctx.user else { return Ok(()) };
    let locked = u.locked_vm.wrapping_sub(w.ctx.region_pages) as i64;
    let pinned = w.ctx.pinned_vm as i64;
    let (need, folios) = pins_need(w);
    if locked >= need as i64 && pinned >= need as i64 {
        return Ok(());
    }
    let held: Vec<String> = folios
        .iter()
        .take(4)
        .map(|(f, slots)| {
            let fo = w.phys.folio(*f);
            format!(
                "folio {} (pfn {:#x}, {} pages) pinned by slot(s) {slots:?}",
                f.0,
                fo.head,
                1u64 << fo.order
            )
        })
        .collect();
    fail!(
        "uncharged-pins",
        "live buffers pin {need} pages' worth ({}) but locked_vm charges {locked} beyond the ring's own {} \
         and pinned_vm {pinned}: RLIMIT_MEMLOCK no longer limits what this ring pins",
        if held.is_empty() {
            "order-0 pages only".to_string()
        } else {
            held.join("; ")
        },
        w.ctx.region_pages
    )
}

fn error_unwinds(_v: &dyn Variant, w: &mut World, c: &OpContext) -> Result<(), Fail> {
    let Some(op) = c.op else { return Ok(()) };
    let fatal_fault = c.faults_fired.iter().any(|s| !s.failure_is_tolerated());
    if c.ret >= 0 {
        return Ok(());
    }
    if fatal_fault && c.ret != Errno::ENOMEM.neg() as i64 {
        return fail!(
            "errno",
            "an allocation failed but {} returned {} instead of -ENOMEM",
            kind(op),
            c.ret
        );
    }
    let now = Before::of(w);
    if let Some(i) = (0..now.counters.len()).find(|&i| now.counters[i] != c.before.counters[i]) {
        return fail!(
            "pins",
            "{} failed with {} but folio {i} went from (refcount, pincount) {:?} to {:?}",
            kind(op),
            c.ret,
            c.before.counters[i],
            now.counters[i]
        );
    }
    if (now.locked_vm, now.pinned_vm, &now.hpage_refs)
        != (c.before.locked_vm, c.before.pinned_vm, &c.before.hpage_refs)
    {
        return fail!(
            "accounting",
            "{} failed with {} but accounting (locked_vm/pinned_vm, hpage_acct) went from {:?}/{} {:?} to {:?}/{} {:?}",
            kind(op),
            c.ret,
            c.before.locked_vm,
            c.before.pinned_vm,
            c.before.hpage_refs,
            now.locked_vm,
            now.pinned_vm,
            now.hpage_refs
        );
    }
    let added: Vec<_> = now
        .live_uncached
        .difference(&c.before.live_uncached)
        .collect();
    if !added.is_empty() {
        return fail!(
            "leak",
            "{} failed with {} and left {} allocation(s) behind",
            kind(op),
            c.ret,
            added.len()
        );
    }
    Ok(())
}

fn kind(op: &ConcreteOp) -> &'static str {
    crate::run::op_kind(op)
}

fn allocation(_v: &dyn Variant, w: &mut World, c: &OpContext) -> Result<(), Fail> {
    if let Some(v) = c.alloc_violations.first() {
        return fail!("double-free", "{v:?}");
    }
    let mut owned: BTreeMap<AllocId, &'static str> = BTreeMap::new();
    if let Some(a) = w.ctx.buf_table.array {
        owned.insert(a, "buffer table");
    }
    for n in w.ctx.buf_table.nodes.iter().flatten() {
        owned.insert(*n, "node in the table");
        if let Some(imu) = w.nodes.get(n).and_then(|n| n.buf) {
            owned.insert(imu, "imu of an installed node");
        }
    }
    for n in w.ctx.inflight.iter().filter_map(|r| r.req.buf_node) {
        owned.entry(n).or_insert("node held by a request in flight");
        if let Some(imu) = w.nodes.get(&n).and_then(|n| n.buf) {
            owned.entry(imu).or_insert("imu of a node held in flight");
        }
    }
    for id in &w.ctx.node_cache.entries {
        owned.insert(*id, "node cache");
    }
    for id in &w.ctx.imu_cache.entries {
        owned.insert(*id, "imu cache");
    }
    for e in w.ctx.hpage_acct.values() {
        owned.insert(e.slot, "hpage_acct slot");
    }
    for (id, a) in w.alloc.live() {
        if !owned.contains_key(id) {
            return fail!(
                "leak",
                "allocation {} from {} is live but the ring does not own it (leak)",
                id.0,
                a.site
            );
        }
    }
    for (id, what) in &owned {
        if !w.alloc.live().contains_key(id) {
            return fail!(
                "use-after-free",
                "{what} {} is referenced but was freed (use after free)",
                id.0
            );
        }
    }
    Ok(())
}

/// The first event `site_of` picks, as a failure whose aspect is the
/// function the site names (`function: what`).
fn first_site(
    c: &OpContext,
    site_of: fn(&Event) -> Option<&String>,
    what: &str,
) -> Result<(), Fail> {
    match c.events.iter().find_map(site_of) {
        Some(site) => Err(Fail::new(
            site.split(':').next().unwrap_or(site).trim(),
            format!("{what}: {site}"),
        )),
        None => Ok(()),
    }
}

fn no_warning(_v: &dyn Variant, _w: &mut World, c: &OpContext) -> Result<(), Fail> {
    first_site(
        c,
        |e| match e {
            Event::Warn { site } => Some(site),
            _ => None,
        },
        "WARN_ON_ONCE",
    )
}

fn oops(_v: &dyn Variant, _w: &mut World, c: &OpContext) -> Result<(), Fail> {
    first_site(
        c,
        |e| match e {
            Event::Oops { site } => Some(site),
            _ => None,
        },
        "NULL pointer dereference",
    )
}

fn teardown(_v: &dyn Variant, w: &mut World, c: &OpContext) -> Result<(), Fail> {
    if c.op.is_some() {
        return Ok(());
    }
    // Every folio that is off, each said the way it is off: above its
    // start a pin leaked, below it something unpinned more than it pinned.
    let off: Vec<String> = w
        .phys
        .folios()
        .iter()
        .enumerate()
        .filter(|(_, f)| (f.refcount, f.pincount) != (1, 0))
        .map(|(i, f)| {
            let how = if f.refcount < 1 || f.pincount < 0 {
                "over-unpinned: below its start"
            } else {
                "leaked pins"
            };
            format!(
                "folio {i} (pfn {:#x}, order {}) has refcount {} and pincount {} ({how})",
                f.head, f.order, f.refcount, f.pincount
            )
        })
        .collect();
    if !off.is_empty() {
        return fail!("pins", "after ring exit {}", off.join("; "));
    }
    if w.ctx.user.is_some_and(|u| u.locked_vm != 0) || w.ctx.pinned_vm != 0 {
        return fail!(
            "accounting",
            "after ring exit locked_vm is {:?} and pinned_vm {}",
            w.ctx.user.map(|u| u.locked_vm as i64),
            w.ctx.pinned_vm as i64
        );
    }
    if let Some((id, a)) = w.alloc.live().iter().next() {
        return fail!(
            "leak",
            "after ring exit allocation {} from {} is still live",
            id.0,
            a.site
        );
    }
    Ok(())
}
