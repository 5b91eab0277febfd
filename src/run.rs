//! Runs a scenario on one variant: each operation through the model, every
//! invariant after it, then ring exit and the teardown check. Each variant
//! gets its own copy of the machine.

use crate::mm::AllocSite;
use crate::model::clone::io_register_clone_buffers;
use crate::model::iov_iter::IovIter;
use crate::model::iov_iter::PhysRange;
use crate::model::{Errno, InflightReq, IoKiocb, World};
use crate::oracle::invariants::{
    spans::{bvec_spans, merged_bytes},
    table_buffers, Before, OpContext, Violation, INVARIANTS,
};
use crate::scenario::{Built, ConcreteOp};
use crate::variants::Variant;
use serde::Serialize;

/// One installed buffer, normalised: representation (how many bvecs, which
/// page carries the offset) is gone, the bytes remain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SlotView {
    /// `imu->ubuf`.
    pub ubuf: u64,
    /// `imu->len`.
    pub len: u64,
    /// The physical bytes the bvecs name, merged.
    pub bytes: Vec<PhysRange>,
    /// `imu->acct_pages`; `None` in a version without it (7.2).
    pub acct_pages: Option<u64>,
    /// `imu->nr_bvecs` (representation: reported, not compared).
    pub nr_bvecs: u32,
    /// `imu->folio_shift` (representation: reported, not compared).
    pub folio_shift: u32,
    /// For a kernel buffer (`IO_REGBUF_F_KBUF`): its `imu->dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kbuf_dir: Option<u8>,
}

/// The ring and memory after an operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    /// `buf_table.nr`.
    pub table_nr: usize,
    /// Installed buffers by slot.
    pub slots: Vec<Option<SlotView>>,
    /// The same for ring 1 and after, when the scenario has them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_rings: Vec<Vec<Option<SlotView>>>,
    /// Pins held on each folio (FOLL_PIN count).
    pub pins: Vec<i64>,
    /// `user->locked_vm`.
    pub locked_vm: Option<u64>,
    /// `mm->pinned_vm`.
    pub pinned_vm: u64,
    /// How many times the driver's release callback ran for each request
    /// registered as a kernel buffer so far.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kbuf_released: Vec<u32>,
}

impl Snapshot {
    /// Captures `w` as `v` left it.
    pub fn of(v: &dyn Variant, w: &World) -> Self {
        let view = |imu| {
            let m = w.imu(imu);
            let bytes = merged_bytes(&bvec_spans(w, imu), w.geo.page_size());
            SlotView {
                ubuf: m.ubuf,
                len: m.len,
                bytes,
                acct_pages: v.imu_acct_pages(w, imu),
                nr_bvecs: m.nr_bvecs,
                folio_shift: m.folio_shift,
                kbuf_dir: (m.flags & crate::model::IO_REGBUF_F_KBUF != 0).then_some(m.dir),
            }
        };
        let table = |ctx: &crate::model::IoRingCtx| -> Vec<Option<SlotView>> {
            let mut slots = vec![None; ctx.buf_table.nr()];
            for (slot, imu) in table_buffers(w, ctx) {
                slots[slot] = Some(view(imu));
            }
            slots
        };
        let rings = w.rings();
        let slots = table(&w.ctx);
        let other_rings = rings[1..].iter().map(|(_, c)| table(c)).collect();
        let pins = (0..w.phys.folios().len())
            .map(|i| w.phys.pins(crate::mm::FolioId(i as u32)))
            .collect();
        Snapshot {
            table_nr: w.ctx.buf_table.nr(),
            slots,
            other_rings,
            pins,
            locked_vm: w.ctx.user.map(|u| u.locked_vm),
            pinned_vm: w.ctx.pinned_vm,
            kbuf_released: w.kbuf_rqs.iter().map(|r| r.released).collect(),
        }
    }
}

/// What one operation did.
#[derive(Clone, Debug, Serialize)]
pub struct OpRecord {
    /// Operation kind (`ring_exit` for teardown).
    pub kind: &'static str,
    /// Return value: 0, a count, or `-errno`.
    pub ret: i64,
    /// Physical bytes an import touched.
    pub import: Option<Vec<PhysRange>>,
    /// State after it.
    pub snapshot: Snapshot,
    /// Allocation sites that failed during it.
    pub faults_fired: Vec<AllocSite>,
    /// Each failed allocation as its site and its place among this
    /// operation's calls at that site: which allocation of the operation was
    /// lost, whatever the earlier operations allocated.
    pub fault_calls: Vec<(AllocSite, u32)>,
    /// Iovec reads from user memory made before it, in the run: where a
    /// `copy_from_user` fault point (counted over the run) lands.
    pub iovec_reads_before: u32,
    /// The private hugetlb folios a pin has copied (hugetlb's COW) by the
    /// end of it, as `(original, copy)`: what the live check holds the
    /// kernel's page frames against.
    #[serde(skip)]
    pub cow_copied: Vec<(crate::mm::FolioId, crate::mm::FolioId)>,
    /// Invariants that did not hold after it: every aspect each one saw
    /// broken, its primary first, in the order of `INVARIANTS`.
    pub violations: Vec<Violation>,
}

/// A whole run of one variant.
#[derive(Clone, Debug, Serialize)]
pub struct Run {
    /// Variant name.
    pub variant: &'static str,
    /// One record per operation, then one for ring exit.
    pub ops: Vec<OpRecord>,
    /// Allocation calls made.
    pub alloc_calls: u32,
    /// The site of every allocation call, in order: the single-fault plans
    /// of a scenario are read from this.
    #[serde(skip)]
    pub alloc_sites: Vec<AllocSite>,
}

fn ret_of<T>(r: Result<T, Errno>, ok: impl FnOnce(T) -> i64) -> i64 {
    match r {
        Ok(t) => ok(t),
        Err(e) => e.neg() as i64,
    }
}

/// Applies one operation on the ring the scenario's `ring` operations
/// chose, returning its return value and any import result. Between
/// operations ring 0 is the one in `w.ctx`.
pub fn apply(v: &dyn Variant, w: &mut World, op: &ConcreteOp) -> (i64, Option<Vec<PhysRange>>) {
    if let Some(c) = v.kernel_c() {
        return c.apply(w, op);
    }
    if let ConcreteOp::Ring { ring } = *op {
        w.op_ring = ring;
    }
    w.enter_ring(w.op_ring);
    let r = apply_here(v, w, op);
    w.enter_ring(0);
    r
}

fn apply_here(v: &dyn Variant, w: &mut World, op: &ConcreteOp) -> (i64, Option<Vec<PhysRange>>) {
    match op {
        ConcreteOp::Register { iovecs } => (
            ret_of(
                v.io_sqe_buffers_register(w, Some(iovecs), iovecs.len() as u32),
                |_| 0,
            ),
            None,
        ),
        ConcreteOp::RegisterSparse { nr } => {
            (ret_of(v.io_sqe_buffers_register(w, None, *nr), |_| 0), None)
        }
        ConcreteOp::Update { offset, iovecs } => (
            ret_of(v.io_register_rsrc_update(w, *offset, iovecs), |d| d as i64),
            None,
        ),
        ConcreteOp::Unregister => (ret_of(v.io_sqe_buffers_unregister(w), |_| 0), None),
        // A kernel buffer's import is the same request as a user
        // buffer's: only the addresses differ.
        ConcreteOp::Import {
            slot,
            ddir,
            buf_addr: addr,
            len,
            hold,
        }
        | ConcreteOp::KbufImport {
            slot,
            ddir,
            off: addr,
            len,
            hold,
        } => {
            let mut req = IoKiocb::new(*slot);
            let r = v.io_import_reg_buf(w, &mut req, *addr, *len, *ddir);
            issued(v, w, req, r, *hold)
        }
        ConcreteOp::Readv {
            slot,
            ddir,
            iovecs,
            hold,
        }
        | ConcreteOp::KbufReadv {
            slot,
            ddir,
            iovecs,
            hold,
        } => {
            let mut req = IoKiocb::new(*slot);
            let r = v.io_import_reg_vec(w, *ddir, &mut req, iovecs);
            issued(v, w, req, r, *hold)
        }
        ConcreteOp::Complete => match w.ctx.inflight.pop_front() {
            Some(mut r) => {
                v.io_req_put_rsrc_nodes(w, &mut r.req);
                (0, Some(r.import))
            }
            None => (0, None),
        },
        // The ring the operations after it run on: [`apply`] enters it.
        ConcreteOp::Ring { .. } => (0, None),
        ConcreteOp::Clone(arg) => (ret_of(io_register_clone_buffers(v, w, arg), |_| 0), None),
        // The driver hands its request over; whether it then expects a
        // release is the return value.
        ConcreteOp::KbufRegister { index, rq } => {
            let id = w.kbuf_rqs.len() as u32;
            w.kbuf_rqs.push(rq.clone());
            let r = v.io_buffer_register_bvec(w, id, *index);
            w.kbuf_rqs[id as usize].registered = r.is_ok();
            (ret_of(r, |_| 0), None)
        }
        ConcreteOp::KbufUnregister { index } => {
            (ret_of(v.io_buffer_unregister_bvec(w, *index), |_| 0), None)
        }
    }
}

/// A request after its import: a failed one completes with the error and
/// is freed; a successful one completes and is freed at once, or, held,
/// stays in flight with its node and its bytes until `complete`.
fn issued(
    v: &dyn Variant,
    w: &mut World,
    mut req: IoKiocb,
    r: Result<IovIter, Errno>,
    hold: bool,
) -> (i64, Option<Vec<PhysRange>>) {
    match r {
        Ok(iter) => {
            let import = v.iterate_bvec(w, &iter).0;
            if hold {
                w.ctx.inflight.push_back(InflightReq {
                    req,
                    import: import.clone(),
                });
            } else {
                v.io_req_put_rsrc_nodes(w, &mut req);
            }
            (0, Some(import))
        }
        Err(e) => {
            v.io_req_put_rsrc_nodes(w, &mut req);
            (e.neg() as i64, None)
        }
    }
}

/// Every ring's exit, ring 0 first (the task's files closed in order),
/// then ring 0 in `ctx` again for the teardown check.
pub fn ring_exit(v: &dyn Variant, w: &mut World) -> i64 {
    if let Some(c) = v.kernel_c() {
        return c.ring_exit(w);
    }
    for r in 0..w.nr_rings() {
        w.enter_ring(r);
        io_ring_ctx_free(v, w);
    }
    w.enter_ring(0);
    0
}

/// `io_ring_ctx_free()`'s part in this path for the ring in `ctx`:
/// unregister, free the caches and the `hpage_acct` xarray (7.2), give
/// back the ring's own regions.
fn io_ring_ctx_free(v: &dyn Variant, w: &mut World) {
    // io_ring_exit_work() cancels what is still in flight before the
    // buffers go: each canceled request is freed and drops its node.
    while let Some(mut r) = w.ctx.inflight.pop_front() {
        v.io_req_put_rsrc_nodes(w, &mut r.req);
    }
    if w.ctx.buf_table.nr() != 0 {
        let _ = v.io_sqe_buffers_unregister(w);
    }
    w.io_rsrc_cache_free();
    w.xa_destroy_hpage_acct();
    w.io_free_ring_regions();
}

/// Runs every operation of `built` on `v`, then ring exit.
pub fn run(v: &dyn Variant, built: &Built) -> Run {
    let mut w = built.world.clone();
    let mut ops = Vec::with_capacity(built.ops.len() + 1);
    for op in built.ops.iter().map(Some).chain([None]) {
        let before = Before::of(&w);
        let (ev, mm, al, calls) = (
            w.events.len(),
            w.phys.violations.len(),
            w.alloc.violations.len(),
            w.alloc.log.len(),
        );
        let iovec_reads_before = w.alloc.iovec_reads();
        let (ret, import) = match op {
            Some(op) => apply(v, &mut w, op),
            None => (ring_exit(v, &mut w), None),
        };
        let faults_fired: Vec<AllocSite> = w.alloc.log[calls..]
            .iter()
            .filter(|(_, f)| *f)
            .map(|(s, _)| *s)
            .collect();
        let log = &w.alloc.log[calls..];
        let fault_calls: Vec<(AllocSite, u32)> = log
            .iter()
            .enumerate()
            .filter(|(_, (_, f))| *f)
            .map(|(i, (s, _))| (*s, log[..i].iter().filter(|(t, _)| t == s).count() as u32))
            .collect();
        let events = w.events[ev..].to_vec();
        let mm_violations = w.phys.violations[mm..].to_vec();
        let alloc_violations = w.alloc.violations[al..].to_vec();
        let ctx = OpContext {
            op,
            ret,
            import: import.as_deref(),
            before: &before,
            faults_fired: &faults_fired,
            events: &events,
            mm_violations: &mm_violations,
            alloc_violations: &alloc_violations,
        };
        let mut violations = Vec::new();
        // After a fatal oops the state is past judging: the oops is the
        // finding, and the task's death ends the scenario.
        let dead = w.dead;
        for inv in INVARIANTS.iter().filter(|i| !dead || i.name == "oops") {
            for (k, f) in inv.run(v, &mut w, &ctx).into_iter().enumerate() {
                violations.push(Violation {
                    invariant: inv.name,
                    aspect: f.aspect,
                    detail: f.detail,
                    count: f.count,
                    primary: k == 0,
                });
            }
        }
        ops.push(OpRecord {
            kind: op.map_or("ring_exit", op_kind),
            ret,
            import,
            snapshot: Snapshot::of(v, &w),
            faults_fired,
            fault_calls,
            iovec_reads_before,
            cow_copied: w.phys.copied.clone(),
            violations,
        });
        if dead {
            break;
        }
    }
    Run {
        variant: v.name(),
        ops,
        alloc_calls: w.alloc.calls(),
        alloc_sites: w.alloc.log.iter().map(|&(site, _)| site).collect(),
    }
}

/// Runs every operation and ring exit on `v` with no invariant checked:
/// the cost of the kernel model alone (benchmarks).
pub fn run_plain(v: &dyn Variant, built: &Built) -> World {
    let mut w = built.world.clone();
    for op in &built.ops {
        apply(v, &mut w, op);
    }
    ring_exit(v, &mut w);
    w
}

/// Short name of a concrete operation.
pub fn op_kind(op: &ConcreteOp) -> &'static str {
    match op {
        ConcreteOp::Register { .. } => "register",
        ConcreteOp::RegisterSparse { .. } => "register_sparse",
        ConcreteOp::Update { .. } => "update",
        ConcreteOp::Unregister => "unregister",
        ConcreteOp::Import { .. } => "import",
        ConcreteOp::Readv { .. } => "readv",
        ConcreteOp::Complete => "complete",
        ConcreteOp::Ring { .. } => "ring",
        ConcreteOp::Clone(_) => "clone",
        ConcreteOp::KbufRegister { .. } => "kbuf_register",
        ConcreteOp::KbufUnregister { .. } => "kbuf_unregister",
        ConcreteOp::KbufImport { .. } => "kbuf_import",
        ConcreteOp::KbufReadv { .. } => "kbuf_readv",
    }
}
