//! Runs a scenario's operations on a real io_uring instance and compares
//! every observable with the model's upstream prediction: return values,
//! `VmPin` after each operation, and for each fixed read or write exactly
//! which bytes of the mappings change (aliases included), or which bytes
//! reach the file.

use super::layout::LiveLayout;
use super::sys;
use super::wait::wait_some;
use crate::mm::FolioId;
use crate::model::iov_iter::PhysRange;
use crate::model::ITER_DEST;
use crate::run::Run;
use crate::scenario::{Built, ConcreteOp};
use io_uring::{opcode, types, IoUring};
use std::os::fd::AsRawFd;

/// Size of the pattern file fixed reads come from; longer imports are not run.
pub const PATTERN_BYTES: usize = 64 << 20;

/// The value of byte `k` of the pattern file.
pub fn pattern(k: usize) -> u8 {
    ((k as u64).wrapping_mul(2_654_435_761) >> 7) as u8 ^ (k >> 12) as u8
}

/// Files the fixed I/O reads from and writes to.
#[derive(Debug)]
pub struct Files {
    /// The pattern, `PATTERN_BYTES` long.
    pub pattern: std::fs::File,
    /// Where fixed writes go.
    pub sink: std::fs::File,
}

impl Files {
    /// Creates both on tmpfs.
    pub fn new() -> std::io::Result<Files> {
        use std::io::Write;
        let fd = sys::memfd("regbuf-pattern", 0, 0)?;
        // SAFETY: a fresh fd this function owns.
        let mut pattern = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        let bytes: Vec<u8> = (0..PATTERN_BYTES).map(self::pattern).collect();
        pattern.write_all(&bytes)?;
        let fd = sys::memfd("regbuf-sink", 0, 0)?;
        // SAFETY: as above.
        let sink = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        Ok(Files { pattern, sink })
    }
}

/// One disagreement between the model and the kernel.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Disagreement {
    /// Operation index (the ring-exit record is `ops.len()`).
    pub op: usize,
    /// What was compared.
    pub what: String,
    /// What the model predicted.
    pub model: String,
    /// What the kernel did.
    pub kernel: String,
}

/// Where each folio's pages appear: `(segment, folio, first page, pages)`.
fn placements(b: &Built) -> Vec<(usize, FolioId, u64, u64)> {
    let mut out = Vec::new();
    // The layout maps each copy of a counted segment on its own, so its
    // segments are the scenario's with every copy counted.
    let mut live = 0;
    for &(va, bytes) in &b.segments {
        let mut at = va;
        while let Some(m) = b.world.aspace.find(at >> 12).filter(|m| m.vpn << 12 == at) {
            if at >= va + bytes {
                break;
            }
            let first = m.pfn - b.world.phys.folio(m.folio).head;
            out.push((live, m.folio, first, m.npages));
            // Once a pin has copied a page a child still maps, the same
            // addresses show the copy.
            if let Some(copy) = b.world.phys.cow_target(m.folio) {
                out.push((live, copy, first, m.npages));
            }
            live += 1;
            at += m.npages << 12;
        }
        if at == va {
            live += 1;
        }
    }
    out
}

/// For a physical range from the model, the `(segment, offset, len, k)`
/// pieces of every mapping that shows it, `k` being the range's byte index.
fn views(
    b: &Built,
    places: &[(usize, FolioId, u64, u64)],
    r: PhysRange,
) -> Vec<(usize, usize, usize, usize)> {
    let mut out = Vec::new();
    for &(seg, folio, first, n) in places {
        let lo = (b.world.phys.folio(folio).head + first) << 12;
        let hi = lo + (n << 12);
        let (a, e) = (r.0.max(lo), (r.0 + r.1).min(hi));
        if a < e {
            out.push((seg, (a - lo) as usize, (e - a) as usize, (a - r.0) as usize));
        }
    }
    out
}

/// An iovec array laid out so that entry `k` is the first on a `PROT_NONE`
/// page: the kernel's `copy_from_user()` of it faults, as a
/// `copy_from_user` fault point has it. Unmapped when dropped.
struct GuardedIovecs {
    base: usize,
    ptr: *const libc::iovec,
}

impl GuardedIovecs {
    const PAGE: usize = 4096;

    fn new(v: &[libc::iovec], k: usize) -> Result<Self, String> {
        let size = std::mem::size_of::<libc::iovec>();
        if k * size > Self::PAGE {
            return Err(format!(
                "a faulting iovec array of {k} readable entries does not fit a page"
            ));
        }
        let base = sys::mmap(
            0,
            2 * Self::PAGE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
        .map_err(|e| format!("mmap for a faulting iovec array: {e}"))?;
        sys::mprotect(base + Self::PAGE, Self::PAGE, libc::PROT_NONE)
            .map_err(|e| format!("mprotect for a faulting iovec array: {e}"))?;
        let ptr = (base + Self::PAGE - k * size) as *mut libc::iovec;
        // SAFETY: the first page is ours and read-write, and the k entries
        // end exactly at its end.
        unsafe { std::ptr::copy_nonoverlapping(v.as_ptr(), ptr, k) };
        Ok(GuardedIovecs { base, ptr })
    }
}

impl Drop for GuardedIovecs {
    fn drop(&mut self) {
        sys::munmap(self.base, 2 * Self::PAGE);
    }
}

/// Runs `b`'s operations for real and returns every disagreement with `model`.
pub fn run(
    b: &Built,
    model: &Run,
    lay: &LiveLayout,
    files: &Files,
    memlock: Option<u64>,
) -> Result<Vec<Disagreement>, String> {
    // Every ring the scenario names, set up before the first operation as
    // the model sets them up; `ring` operations choose the one used.
    let mut rings = (0..b.world.nr_rings())
        .map(|k| make_ring(memlock, k))
        .collect::<Result<Vec<_>, _>>()?;
    let fds: Vec<i32> = rings.iter().map(|r| r.as_raw_fd()).collect();
    let mut helds: Vec<std::collections::VecDeque<Held>> =
        rings.iter().map(|_| Default::default()).collect();
    let mut cur = 0usize;
    let mut out = Vec::new();
    let places = placements(b);
    let pin0 = sys::status_kb("VmPin").map_err(|e| e.to_string())?;
    let tr = |a: u64| lay.translate(a);
    let iovs = |v: &[crate::model::Iovec]| -> Vec<libc::iovec> {
        v.iter()
            .map(|i| libc::iovec {
                iov_base: tr(i.iov_base) as *mut _,
                iov_len: i.iov_len as usize,
            })
            .collect()
    };
    // Which entry of operation i's iovec array the fault plan faults: the
    // model counts iovec reads over the run.
    let copy_fault = |i: usize| -> Option<usize> {
        let before = model.ops[i].iovec_reads_before;
        let after = model
            .ops
            .get(i + 1)
            .map_or(u32::MAX, |o| o.iovec_reads_before);
        b.world.alloc.plan().points.iter().find_map(|p| match *p {
            crate::mm::FaultPoint::CopyFromUser { nth } if (before..after).contains(&nth) => {
                Some((nth - before) as usize)
            }
            _ => None,
        })
    };
    for (i, op) in b.ops.iter().enumerate() {
        let want = &model.ops[i];
        let before = matches!(
            op,
            ConcreteOp::Import { hold: false, .. }
                | ConcreteOp::Readv { hold: false, .. }
                | ConcreteOp::Complete
        )
        .then(|| lay.snapshot());
        if let ConcreteOp::Ring { ring } = *op {
            cur = ring as usize;
        }
        let (ring, fd, held) = (&mut rings[cur], fds[cur], &mut helds[cur]);
        let got = match op {
            ConcreteOp::Ring { .. } => 0,
            ConcreteOp::KbufRegister { .. }
            | ConcreteOp::KbufUnregister { .. }
            | ConcreteOp::KbufImport { .. }
            | ConcreteOp::KbufReadv { .. } => {
                unreachable!("the live check skips files with kernel buffers before running them")
            }
            ConcreteOp::Clone(c) => {
                let arg = sys::CloneBuffers {
                    src_fd: fds[c.src as usize] as u32,
                    flags: if c.replace {
                        sys::IORING_REGISTER_DST_REPLACE
                    } else {
                        0
                    },
                    src_off: c.src_off,
                    dst_off: c.dst_off,
                    nr: c.nr,
                    pad: [0; 3],
                };
                // SAFETY: the argument is a live local of the size the
                // kernel reads, and nr_args is 1 as it requires.
                unsafe {
                    sys::io_uring_register(
                        fd,
                        sys::IORING_REGISTER_CLONE_BUFFERS,
                        (&arg as *const sys::CloneBuffers).cast(),
                        1,
                    )
                }
            }
            ConcreteOp::Register { iovecs } => {
                let v = iovs(iovecs);
                let guard = copy_fault(i)
                    .map(|k| GuardedIovecs::new(&v, k))
                    .transpose()?;
                let arr = guard.as_ref().map_or(v.as_ptr(), |g| g.ptr);
                // SAFETY: the argument is a live local (or a guarded copy whose
                // entries past the fault are unreadable) of the size passed, and
                // the mappings outlive the ring (the layout is dropped after `run`).
                unsafe {
                    sys::io_uring_register(
                        fd,
                        sys::IORING_REGISTER_BUFFERS,
                        arr.cast(),
                        v.len() as u32,
                    )
                }
            }
            ConcreteOp::RegisterSparse { nr } => {
                let rr = sys::RsrcRegister {
                    nr: *nr,
                    flags: sys::IORING_RSRC_REGISTER_SPARSE,
                    ..Default::default()
                };
                // SAFETY: the argument is a live local of the size passed, and the
                // mappings outlive the ring (the layout is dropped after `run`).
                unsafe {
                    sys::io_uring_register(
                        fd,
                        sys::IORING_REGISTER_BUFFERS2,
                        (&rr as *const sys::RsrcRegister).cast(),
                        std::mem::size_of_val(&rr) as u32,
                    )
                }
            }
            ConcreteOp::Update { offset, iovecs } => {
                let v = iovs(iovecs);
                let guard = copy_fault(i)
                    .map(|k| GuardedIovecs::new(&v, k))
                    .transpose()?;
                let arr = guard.as_ref().map_or(v.as_ptr(), |g| g.ptr);
                let up = sys::RsrcUpdate2 {
                    offset: *offset,
                    data: arr as u64,
                    nr: v.len() as u32,
                    ..Default::default()
                };
                // SAFETY: the argument is a live local of the size passed, and the
                // mappings outlive the ring (the layout is dropped after `run`).
                unsafe {
                    sys::io_uring_register(
                        fd,
                        sys::IORING_REGISTER_BUFFERS_UPDATE,
                        (&up as *const sys::RsrcUpdate2).cast(),
                        std::mem::size_of_val(&up) as u32,
                    )
                }
            }
            ConcreteOp::Unregister => {
                // SAFETY: UNREGISTER takes no argument.
                unsafe {
                    sys::io_uring_register(fd, sys::IORING_UNREGISTER_BUFFERS, std::ptr::null(), 0)
                }
            }
            ConcreteOp::Import {
                slot,
                ddir,
                buf_addr,
                len,
                hold,
            } => {
                let addr = tr(*buf_addr) as *mut u8;
                if *hold {
                    let p = Pipe::new(*len as usize)?;
                    let e = opcode::ReadFixed::new(types::Fd(p.r), addr, *len as u32, *slot as u16)
                        .build();
                    issue_held(ring, e, i, p, *len as usize, vec![], held)?
                } else {
                    let e = if *ddir == ITER_DEST {
                        opcode::ReadFixed::new(
                            types::Fd(files.pattern.as_raw_fd()),
                            addr,
                            *len as u32,
                            *slot as u16,
                        )
                        .offset(0)
                        .build()
                    } else {
                        opcode::WriteFixed::new(
                            types::Fd(files.sink.as_raw_fd()),
                            addr,
                            *len as u32,
                            *slot as u16,
                        )
                        .offset(0)
                        .build()
                    };
                    submit(ring, e)?
                }
            }
            ConcreteOp::Readv {
                slot,
                ddir,
                iovecs,
                hold,
            } => {
                let v = iovs(iovecs);
                if *hold {
                    let len = iovecs.iter().map(|v| v.iov_len as usize).sum();
                    let p = Pipe::new(len)?;
                    let e = opcode::ReadvFixed::new(
                        types::Fd(p.r),
                        v.as_ptr(),
                        v.len() as u32,
                        *slot as u16,
                    )
                    .build();
                    issue_held(ring, e, i, p, len, v, held)?
                } else {
                    let e = if *ddir == ITER_DEST {
                        opcode::ReadvFixed::new(
                            types::Fd(files.pattern.as_raw_fd()),
                            v.as_ptr(),
                            v.len() as u32,
                            *slot as u16,
                        )
                        .offset(0)
                        .build()
                    } else {
                        opcode::WritevFixed::new(
                            types::Fd(files.sink.as_raw_fd()),
                            v.as_ptr(),
                            v.len() as u32,
                            *slot as u16,
                        )
                        .offset(0)
                        .build()
                    };
                    submit(ring, e)?
                }
            }
            ConcreteOp::Complete => match held.pop_front() {
                Some(h) => complete_held(ring, h)?,
                None => 0,
            },
        };
        // The model returns 0 for a successful import; the kernel returns the bytes moved.
        let want_ret = match op {
            ConcreteOp::Import {
                len, hold: false, ..
            } if want.ret == 0 => *len as i64,
            ConcreteOp::Readv {
                iovecs,
                hold: false,
                ..
            } if want.ret == 0 => iovecs.iter().map(|v| v.iov_len as i64).sum(),
            // A held request that imported is in flight: no completion yet.
            ConcreteOp::Complete => want
                .import
                .as_ref()
                .map_or(0, |r| r.iter().map(|p| p.1 as i64).sum()),
            _ => want.ret,
        };
        if got != want_ret {
            out.push(Disagreement {
                op: i,
                what: format!("{} return value", crate::run::op_kind(op)),
                model: want_ret.to_string(),
                kernel: got.to_string(),
            });
        }
        if let (Some(before), Some(ranges)) = (before, &want.import) {
            let ddir = match op {
                ConcreteOp::Import { ddir, .. } | ConcreteOp::Readv { ddir, .. } => *ddir,
                ConcreteOp::Complete => ITER_DEST,
                _ => unreachable!("only imports snapshot"),
            };
            if got == want_ret {
                check_data(i, b, &places, lay, files, ddir, ranges, &before, &mut out)?;
            }
        }
        super::fork::check_copies(i, lay, &want.cow_copied, &mut out)?;
        let pin = sys::status_kb("VmPin").map_err(|e| e.to_string())?;
        let want_pin = want.snapshot.pinned_vm * 4;
        if pin.wrapping_sub(pin0) != want_pin {
            out.push(Disagreement {
                op: i,
                what: "VmPin (kB)".into(),
                model: want_pin.to_string(),
                kernel: (pin - pin0).to_string(),
            });
        }
    }
    // Ring exit, ring 0 first as the model has it: what is still in flight
    // is canceled, as io_ring_exit_work() would, then the buffers are
    // unregistered synchronously and the ring closed.
    for ((mut ring, mut held), fd) in rings.into_iter().zip(helds).zip(fds) {
        while let Some(h) = held.pop_front() {
            cancel_held(&mut ring, h)?;
        }
        // SAFETY: UNREGISTER takes no argument.
        unsafe { sys::io_uring_register(fd, sys::IORING_UNREGISTER_BUFFERS, std::ptr::null(), 0) };
        drop(ring);
    }
    let pin = sys::status_kb("VmPin").map_err(|e| e.to_string())?;
    if pin != pin0 {
        out.push(Disagreement {
            op: b.ops.len(),
            what: "VmPin after ring exit (kB)".into(),
            model: pin0.to_string(),
            kernel: pin.to_string(),
        });
    }
    Ok(out)
}

/// A ring of the kernel's default kind, its io-wq held to one worker of
/// each kind so that [`settle`] has a defined point to wait for.
/// `k` rings are set up already.
fn make_ring(memlock: Option<u64>, k: u32) -> Result<IoUring, String> {
    let ring = setup_ring(memlock, k)?;
    let mut max = [1u32, 1u32];
    ring.submitter()
        .register_iowq_max_workers(&mut max)
        .map_err(|e| format!("IORING_REGISTER_IOWQ_MAX_WORKERS: {e}"))?;
    Ok(ring)
}

fn setup_ring(memlock: Option<u64>, k: u32) -> Result<IoUring, String> {
    let Some(bytes) = memlock else {
        return IoUring::new(8).map_err(|e| format!("io_uring_setup: {e}"));
    };
    // ctx->user is set when the creator lacks CAP_IPC_LOCK: drop it for the
    // setup. Rings close asynchronously (io_ring_exit_work), so an earlier
    // ring's regions may still be charged to this user's locked_vm. Setup
    // under a limit of exactly the ring's own pages succeeds only once that
    // charge is gone; then the scenario's limit applies (registration reads
    // RLIMIT_MEMLOCK when it charges).
    sys::set_cap_ipc_lock(false).map_err(|e| format!("dropping CAP_IPC_LOCK: {e}"))?;
    let ring_only = crate::model::RING_REGION_PAGES * 4096 * (k as u64 + 1);
    let old = sys::set_memlock(ring_only).map_err(|e| format!("setrlimit(RLIMIT_MEMLOCK): {e}"));
    let start = std::time::Instant::now();
    let ring = loop {
        match IoUring::new(8) {
            Ok(r) => break Ok(r),
            Err(e) if e.raw_os_error() == Some(libc::ENOMEM) && start.elapsed() < std::time::Duration::from_secs(5) => {
                std::thread::sleep(std::time::Duration::from_millis(1))
            }
            Err(e) => break Err(format!("io_uring_setup under a {ring_only}-byte RLIMIT_MEMLOCK (earlier rings still charged?): {e}")),
        }
    };
    let raised = sys::set_memlock(bytes).map_err(|e| format!("setrlimit(RLIMIT_MEMLOCK): {e}"));
    let _ = sys::set_cap_ipc_lock(true);
    let old = old?;
    // Put back by the caller (`MEMLOCK_TO_RESTORE`) after the scenario.
    // The first ring's setup found the limit the process had.
    MEMLOCK_TO_RESTORE.with(|c| {
        if c.get().is_none() {
            c.set(Some(old))
        }
    });
    raised?;
    ring
}

thread_local! {
    /// The RLIMIT_MEMLOCK to put back after a scenario that set one.
    pub static MEMLOCK_TO_RESTORE: std::cell::Cell<Option<libc::rlimit>> = const { std::cell::Cell::new(None) };
}

/// `user_data` of the barrier request.
const BARRIER: u64 = u64::MAX;

/// Submits `e` and returns its result, once the kernel has dropped every
/// reference the request held (see [`settle`]).
fn submit(ring: &mut IoUring, e: io_uring::squeue::Entry) -> Result<i64, String> {
    // SAFETY: every pointer in `e` (buffers, iovecs) outlives the wait below.
    unsafe {
        ring.submission()
            .push(&e.user_data(1))
            .map_err(|_| "submission queue full".to_string())?
    };
    wait_for(ring, 1)
}

/// Drives the kernel to the point where every request completed so far has
/// also been freed, so `VmPin` says what the buffer table alone holds.
///
/// A request that used a fixed buffer holds a reference on its buffer's
/// `io_rsrc_node` (`io_find_buf_node()`) until it is freed. A fixed read or
/// write of a memfd goes to io-wq (no `FMODE_NOWAIT`); the worker posts the
/// CQE (`io_req_complete_post()`), then drops its own request reference in
/// `io_wq_free_work()`, and that last put queues the free as task work
/// (`io_free_req()`), which the submitter runs on its next entry to the
/// kernel. Between the CQE and the worker's put, an unregister leaves the
/// node, and the pinned and charged buffer, to the request. With io-wq held
/// to one worker (`IORING_REGISTER_IOWQ_MAX_WORKERS`, set in [`make_ring`]),
/// a forced-async NOP runs only after that worker has finished the previous
/// request, `io_wq_free_work()` included; its CQE is posted after the free
/// was queued, and the return to user space from the wait for it runs the
/// queued free. No timing is involved.
fn settle(ring: &mut IoUring) -> Result<Vec<(u64, i64)>, String> {
    let nop = opcode::Nop::new()
        .build()
        .flags(io_uring::squeue::Flags::ASYNC)
        .user_data(BARRIER);
    // SAFETY: a NOP carries no pointer.
    unsafe {
        ring.submission()
            .push(&nop)
            .map_err(|_| "submission queue full".to_string())?
    };
    // Completions that came before the barrier's are returned, and any
    // already posted after it.
    let mut others = Vec::new();
    let mut done = false;
    while !done {
        wait_some(ring, "the barrier NOP")?;
        for c in ring.completion() {
            if c.user_data() != BARRIER {
                others.push((c.user_data(), c.result() as i64));
            } else if c.result() != 0 {
                return Err(format!("barrier NOP completed with {}", c.result()));
            } else {
                done = true;
            }
        }
    }
    Ok(others)
}

/// A pipe a held read waits on, big enough for all its bytes at once.
struct Pipe {
    r: i32,
    w: i32,
}

impl Pipe {
    fn new(bytes: usize) -> Result<Pipe, String> {
        let mut fds = [0i32; 2];
        // SAFETY: fds has room for the two descriptors.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(format!("pipe2: {}", std::io::Error::last_os_error()));
        }
        let p = Pipe {
            r: fds[0],
            w: fds[1],
        };
        let size = bytes.next_multiple_of(4096).max(4096) as libc::c_int;
        // SAFETY: plain fcntl on a descriptor this function owns.
        if unsafe { libc::fcntl(p.w, libc::F_SETPIPE_SZ, size) } < size {
            return Err(format!(
                "F_SETPIPE_SZ {size}: {} (a held read longer than the pipe limit should have been skipped)",
                std::io::Error::last_os_error()
            ));
        }
        Ok(p)
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        sys::close(self.r);
        sys::close(self.w);
    }
}

/// A read left in flight on an empty pipe: poll-armed, its buffer imported
/// and its node referenced until it completes.
struct Held {
    pipe: Pipe,
    user_data: u64,
    len: usize,
    _iovecs: Vec<libc::iovec>,
}

/// Submits a read on an empty pipe and settles. With nothing to read it
/// stays in flight (0); a failed import completes at once with its error.
fn issue_held(
    ring: &mut IoUring,
    e: io_uring::squeue::Entry,
    op: usize,
    pipe: Pipe,
    len: usize,
    iovecs: Vec<libc::iovec>,
    held: &mut std::collections::VecDeque<Held>,
) -> Result<i64, String> {
    let user_data = 2 + op as u64;
    // SAFETY: the buffer is registered memory and the iovecs live in `Held`.
    unsafe {
        ring.submission()
            .push(&e.user_data(user_data))
            .map_err(|_| "submission queue full".to_string())?
    };
    // Alone, so that a failed import's completion, deferred to the end of
    // the submission batch, is posted before the barrier is submitted.
    ring.submit().map_err(|e| format!("io_uring_enter: {e}"))?;
    let early = settle(ring)?;
    match early.as_slice() {
        [] => {
            held.push_back(Held {
                pipe,
                user_data,
                len,
                _iovecs: iovecs,
            });
            Ok(0)
        }
        [(u, res)] if *u == user_data => Ok(*res),
        other => Err(format!(
            "held read of op {op}: unexpected completions {other:?}"
        )),
    }
}

/// Gives the oldest held read its bytes (the pattern's first `len`), waits
/// for its completion and settles; returns its result.
fn complete_held(ring: &mut IoUring, h: Held) -> Result<i64, String> {
    let bytes: Vec<u8> = (0..h.len).map(pattern).collect();
    // SAFETY: writing a live local buffer to a pipe this harness owns; the
    // pipe holds all of it, so the write does not block.
    let n = unsafe { libc::write(h.pipe.w, bytes.as_ptr().cast(), bytes.len()) };
    if n != bytes.len() as isize {
        return Err(format!(
            "writing {} bytes to a held read's pipe: {n}",
            h.len
        ));
    }
    wait_for(ring, h.user_data)
}

/// Cancels a held read (ring exit) and waits until it is freed.
fn cancel_held(ring: &mut IoUring, h: Held) -> Result<(), String> {
    let e = opcode::AsyncCancel::new(h.user_data).build().user_data(0);
    // SAFETY: a cancel carries no pointer.
    unsafe {
        ring.submission()
            .push(&e)
            .map_err(|_| "submission queue full".to_string())?
    };
    let mut seen = false;
    while !seen {
        wait_some(ring, "a canceled read")?;
        while let Some(c) = ring.completion().next() {
            seen |= c.user_data() == h.user_data;
        }
    }
    settle(ring).map(|_| ())
}

/// Waits for the completion of `user_data`, settles, returns its result.
fn wait_for(ring: &mut IoUring, user_data: u64) -> Result<i64, String> {
    wait_some(ring, &format!("request {user_data:#x}"))?;
    let cqe = ring
        .completion()
        .next()
        .ok_or("a completion seen by wait_some is gone")?;
    if cqe.user_data() != user_data {
        return Err(format!(
            "completion of request {:#x} while waiting for {user_data:#x}",
            cqe.user_data()
        ));
    }
    let extra = settle(ring)?;
    if !extra.is_empty() {
        return Err(format!("unexpected completions {extra:?}"));
    }
    Ok(cqe.result() as i64)
}

/// Checks the bytes a fixed read or write moved against the model's
/// physical ranges for it.
#[allow(clippy::too_many_arguments)]
fn check_data(
    op: usize,
    b: &Built,
    places: &[(usize, FolioId, u64, u64)],
    lay: &LiveLayout,
    files: &Files,
    ddir: u32,
    ranges: &[PhysRange],
    before: &[Vec<u8>],
    out: &mut Vec<Disagreement>,
) -> Result<(), String> {
    let after = lay.snapshot();
    let mut expect = before.to_vec();
    let mut k = 0usize;
    let mut sent: Vec<u8> = Vec::new();
    for &r in ranges {
        let v = views(b, places, r);
        if ddir == ITER_DEST {
            for &(seg, off, len, at) in &v {
                for j in 0..len {
                    expect[seg][off + j] = pattern(k + at + j);
                }
            }
        } else {
            // A merged range may span physically adjacent folios: take its
            // bytes piece by piece, from any mapping that shows each piece.
            let mut at = 0usize;
            while at < r.1 as usize {
                let Some(&(seg, off, len, start)) = v
                    .iter()
                    .find(|&&(_, _, len, start)| start <= at && at < start + len)
                else {
                    return Err(format!(
                        "op {op}: the model moves bytes no mapping shows: {r:x?} at +{at:#x}"
                    ));
                };
                let skip = at - start;
                sent.extend_from_slice(&before[seg][off + skip..off + len]);
                at = start + len;
            }
        }
        k += r.1 as usize;
    }
    for (seg, (e, a)) in expect.iter().zip(&after).enumerate() {
        if let Some(j) = (0..e.len()).find(|&j| e[j] != a[j]) {
            out.push(Disagreement {
                op,
                what: format!(
                    "byte {j:#x} of segment {seg} after a fixed {}",
                    if ddir == ITER_DEST { "read" } else { "write" }
                ),
                model: format!("{:#04x}", e[j]),
                kernel: format!("{:#04x}", a[j]),
            });
            return Ok(());
        }
    }
    if ddir != ITER_DEST {
        use std::os::unix::fs::FileExt;
        let mut got = vec![0u8; sent.len()];
        files
            .sink
            .read_exact_at(&mut got, 0)
            .map_err(|e| format!("reading back the fixed write: {e}"))?;
        if let Some(j) = (0..got.len()).find(|&j| got[j] != sent[j]) {
            out.push(Disagreement {
                op,
                what: format!("byte {j:#x} written by a fixed write"),
                model: format!("{:#04x}", sent[j]),
                kernel: format!("{:#04x}", got[j]),
            });
        }
    }
    Ok(())
}
