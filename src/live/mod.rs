//! `regbuf-fuzz live`: holds the upstream model against the running kernel.
//!
//! Scenarios come from the fuzzer's own generator, moved to real geometry
//! and restricted to what this process can build (no mTHP, no allocation
//! failures: the kernel has no fault injection here). Each is built for real
//! (`layout`), checked to be backed as intended, run on a real ring
//! (`exec`), and compared with the model's upstream prediction. A scenario
//! the kernel did not back as asked is skipped and counted, not judged.

pub mod bench;
pub mod exec;
pub mod fork;
pub mod layout;
pub mod sys;
pub mod wait;

use crate::campaign::draw;
use crate::gen::GenConfig;
use crate::report::json::{
    self, ErrorLine, Head, LiveScenario, LiveSkip, LiveSummary, LiveTally, LiveVerdict,
};
use crate::scenario::{build, rescale, FolioKindSpec, GeometryName, IovSpec, Op, Scenario, Span};
use crate::variants;
use layout::{LiveLayout, Skip};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

/// Exit status when the check cannot run here (automake's SKIP).
pub const EXIT_SKIPPED: i32 = 77;

/// Flags of `regbuf-fuzz live`.
#[derive(Clone, Debug)]
pub struct LiveArgs {
    /// Scenarios to draw.
    pub count: u64,
    /// Seed of the draws.
    pub seed: u64,
    /// One JSON object per line.
    pub json: bool,
    /// Where disagreeing scenarios are written.
    pub out: std::path::PathBuf,
    /// Scenario files to run as they are; empty: draw `count` from `seed`.
    pub files: Vec<std::path::PathBuf>,
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Huge pages reserved for the run; the old pool sizes come back on drop.
/// It holds the machine's live-check lock for as long: two checks at once
/// would each see the other's pool (and knobs) change under them.
struct Reservation {
    old: Vec<(&'static str, u64)>,
    _lock: std::fs::File,
}

/// The machine-wide lock of the live check, taken before anything shared
/// (the huge page pools, the mTHP knob, fs.pipe-max-size) is changed;
/// another run holding it is waited for.
fn machine_lock() -> Result<std::fs::File, String> {
    use std::os::unix::io::AsRawFd;
    let dir = if std::path::Path::new("/run/lock").is_dir() {
        std::path::PathBuf::from("/run/lock")
    } else {
        std::env::temp_dir()
    };
    let path = dir.join("regbuf-fuzz-live.lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    // SAFETY: flock on a descriptor this function owns.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        eprintln!(
            "regbuf-fuzz live: another live check runs on this machine; waiting for it ({})",
            path.display()
        );
        // SAFETY: as above.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(format!(
                "{}: {}",
                path.display(),
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(f)
}

/// The 16 KiB mTHP knob, set to `madvise` for the run and restored.
const MTHP_16K: &str = "/sys/kernel/mm/transparent_hugepage/hugepages-16kB/enabled";

/// shmem's huge page knobs (PMD size, and 16 KiB, the one mTHP size the run
/// enables), set to `within_size` for the run: a memfd allocated whole
/// (`fallocate`) is then one large folio, and a one-page memfd stays small.
const SHMEM_PMD: &str = "/sys/kernel/mm/transparent_hugepage/shmem_enabled";
const SHMEM_16K: &str = "/sys/kernel/mm/transparent_hugepage/hugepages-16kB/shmem_enabled";

/// Sets a sysfs knob for the run; the old value comes back on drop.
struct Knob {
    path: &'static str,
    old: Option<String>,
}

impl Knob {
    fn set(path: &'static str, value: &str) -> Knob {
        // The file lists every choice with the current one in brackets.
        let old = std::fs::read_to_string(path).ok().and_then(|t| {
            let a = t.find('[')?;
            let b = t[a..].find(']')?;
            Some(t[a + 1..a + b].to_string())
        });
        if old.is_some() {
            let _ = std::fs::write(path, value);
        }
        Knob { path, old }
    }
}

impl Drop for Knob {
    fn drop(&mut self) {
        if let Some(v) = &self.old {
            let _ = std::fs::write(self.path, v);
        }
    }
}

const NR_2M: &str = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
const NR_1G: &str = "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages";

impl Reservation {
    fn new(want_2m: u64, want_1g: u64) -> Result<(Reservation, u64, u64), String> {
        let read = |p: &str| -> Result<u64, String> {
            std::fs::read_to_string(p)
                .map_err(|e| format!("{p}: {e}"))?
                .trim()
                .parse()
                .map_err(|e| format!("{p}: {e}"))
        };
        let mut r = Reservation {
            old: vec![],
            _lock: machine_lock()?,
        };
        let mut got = [0u64; 2];
        for (k, (path, want)) in [(NR_2M, want_2m), (NR_1G, want_1g)].into_iter().enumerate() {
            let Ok(old) = read(path) else { continue };
            r.old.push((path, old));
            let _ = std::fs::write(path, (old + want).to_string());
            got[k] = read(path)?.saturating_sub(old);
            if got[k] < want {
                // Fragmentation: compact once and ask again, so that what a
                // run judges depends on the machine, not on its last minute.
                let _ = std::fs::write("/proc/sys/vm/compact_memory", "1");
                let _ = std::fs::write(path, (old + want).to_string());
                got[k] = read(path)?.saturating_sub(old);
            }
        }
        Ok((r, got[0], got[1]))
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        for (p, v) in &self.old {
            let _ = std::fs::write(p, v.to_string());
        }
    }
}

/// A fault user space can cause for real: an iovec array that runs into an
/// unmapped page. Allocation and GUP failures the running kernel does not
/// inject on request.
fn live_fault(p: &crate::mm::FaultPoint) -> bool {
    matches!(p, crate::mm::FaultPoint::CopyFromUser { .. })
}

/// The live form of a drawn scenario: real geometry, only the faults user
/// space can cause (`copy_from_user` of an iovec), and after
/// every register or update a fixed read and a fixed write over each range
/// it registered (the model predicts their bytes; most scenarios have no
/// import of their own).
pub fn live_scenario(s: &Scenario) -> Scenario {
    let mut s = rescale(s, GeometryName::Real);
    s.faults.points.retain(live_fault);
    let mut ops = Vec::new();
    for op in &s.ops {
        ops.push(op.clone());
        let (first, iovecs) = match op {
            Op::Register { iovecs } => (0, iovecs),
            Op::Update { offset, iovecs } => (*offset, iovecs),
            _ => continue,
        };
        for (j, iov) in iovecs.iter().enumerate() {
            if let IovSpec::Range { start, end } = iov {
                for ddir in [crate::scenario::Ddir::Read, crate::scenario::Ddir::Write] {
                    ops.push(Op::Import {
                        slot: first + j as u32,
                        ddir,
                        span: Span {
                            start: *start,
                            end: *end,
                        },
                        hold: false,
                    });
                }
            }
        }
    }
    s.ops = ops;
    s
}

/// `regbuf-fuzz live`: 0 all agree, 1 a disagreement, 2 trouble, 77 skipped.
pub fn run_cli(a: &LiveArgs) -> i32 {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    // A file this machine cannot run (another architecture's, a fault
    // plan) is refused before anything is set up, root or not.
    if let Err((file, e)) = load_files(&a.files) {
        return trouble(a, file, e);
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return skipped(
            a,
            &release,
            "not root: huge pages cannot be reserved and /proc/kpageflags cannot be read".into(),
        );
    }
    if let Err(e) = io_uring::IoUring::new(2) {
        return skipped(
            a,
            &release,
            format!("io_uring_setup fails on {release}: {e}"),
        );
    }
    // SAFETY: installing a handler that only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    let (reservation, got_2m, got_1g) = match Reservation::new(16, 1) {
        Ok(r) => r,
        Err(e) => {
            return skipped(a, &release, format!("cannot reserve huge pages: {e}"));
        }
    };
    if got_2m == 0 {
        drop(reservation);
        return skipped(
            a,
            &release,
            "no 2 MiB huge page could be reserved (memory too fragmented even after compaction)"
                .into(),
        );
    }
    let mthp = Knob::set(MTHP_16K, "madvise");
    let files = match exec::Files::new() {
        Ok(f) => f,
        Err(e) => {
            return trouble(a, None, format!("cannot create the pattern files: {e}"));
        }
    };
    let shmem = (
        Knob::set(SHMEM_PMD, "within_size"),
        Knob::set(SHMEM_16K, "within_size"),
    );
    let inputs = match load_files(&a.files) {
        Ok(v) => v,
        Err((file, e)) => return trouble(a, file, e),
    };
    let pipe_max = PipeMax::raise(exec::PATTERN_BYTES as u64);
    let up = variants::by_name("upstream").expect("upstream exists");
    let mut tally = LiveTally::default();
    let mut disagreeing = 0;
    let mut interrupted = false;
    let hp0 = sys::meminfo("HugePages_Free").unwrap_or(0);
    let memlock_max = hard_memlock();
    let total = if a.files.is_empty() {
        a.count
    } else {
        inputs.len() as u64
    };
    for i in 0..total {
        if INTERRUPTED.load(Ordering::SeqCst) {
            interrupted = true;
            let msg = format!("live: interrupted after {i} scenarios; huge pages given back");
            if a.json {
                eprintln!("{msg}");
            } else {
                println!("{msg}");
            }
            break;
        }
        tally.drawn += 1;
        let s = match inputs.get(i as usize) {
            Some((_, s)) => s.clone(),
            None => live_scenario(&draw(a.seed, i, &GenConfig::real_c())),
        };
        // A page a live child maps takes a second pool page when a pin
        // copies it.
        let pool = |k: FolioKindSpec| {
            s.folios
                .iter()
                .filter(|f| f.kind.sized() == k)
                .map(|f| 1 + u64::from(f.child_maps))
                .sum::<u64>()
        };
        let (pmds, puds) = (
            pool(FolioKindSpec::HugetlbPmd),
            pool(FolioKindSpec::HugetlbPud),
        );
        let skip = |tally: &mut LiveTally, why: &str| {
            *tally.skipped.entry(why.to_string()).or_default() += 1;
            if a.json {
                json::emit_stdout(&scenario_line(
                    a,
                    &release,
                    i,
                    input_name(&inputs, i),
                    LiveVerdict::Skipped,
                    Some(why.to_string()),
                ));
            }
        };
        // Only a driver registers a kernel buffer (ublk's zero copy needs a
        // ublk server and device): the file is skipped by the operation's
        // name, and counted.
        if let Some((_, kind)) = s.first_kbuf_op() {
            skip(
                &mut tally,
                &format!("a kernel buffer (`{kind}`): registered by a driver, not from user space"),
            );
            continue;
        }
        if pmds > got_2m || puds > got_1g {
            skip(&mut tally, "needs more huge pages than reserved");
            continue;
        }
        if s.memlock
            .is_some_and(|m| m.bytes_at(&crate::mm::Geometry::REAL) > memlock_max)
        {
            skip(&mut tally, "RLIMIT_MEMLOCK above this process's hard limit (raising it needs CAP_SYS_RESOURCE)");
            continue;
        }
        let b = match build(&s) {
            Ok(b) => b,
            Err(e) => {
                return trouble(
                    a,
                    input_name(&inputs, i),
                    format!(
                        "scenario {i} of seed {} does not build at real geometry: {e}",
                        a.seed
                    ),
                );
            }
        };
        if b.fits_c("the live check").is_err() {
            skip(
                &mut tally,
                "more pages mapped than the running kernel's page arrays are given here",
            );
            continue;
        }
        if b.ops.iter().any(too_long) {
            skip(&mut tally, "an import longer than the pattern file");
            continue;
        }
        if b.ops.iter().any(|o| held_bytes(o) > pipe_max.bytes) {
            skip(
                &mut tally,
                "a held read longer than a pipe can hold (fs.pipe-max-size)",
            );
            continue;
        }
        // Upstream against itself: one run, every invariant checked.
        let model = crate::run::run(up, &b);
        let lay = match LiveLayout::build(&s, &b) {
            Ok(l) => l,
            Err(Skip::Unsupported(w)) => {
                skip(
                    &mut tally,
                    &format!("unsupported: {}", w.split(':').next().unwrap_or(&w)),
                );
                continue;
            }
            Err(Skip::NotBacked(w)) => {
                skip(
                    &mut tally,
                    &format!("not backed as asked: {}", w.split(':').next().unwrap_or(&w)),
                );
                continue;
            }
        };
        let memlock = s.memlock.map(|m| m.bytes_at(&b.world.geo));
        let result = exec::run(&b, &model, &lay, &files, memlock);
        if let Some(old) = exec::MEMLOCK_TO_RESTORE.with(|c| c.take()) {
            sys::restore_memlock(old);
        }
        drop(lay);
        let mut diffs = match result {
            Ok(d) => d,
            Err(e) => {
                return trouble(
                    a,
                    input_name(&inputs, i),
                    format!("trouble in scenario {i} of seed {}: {e}", a.seed),
                );
            }
        };
        let hp = sys::meminfo("HugePages_Free").unwrap_or(0);
        if hp != hp0 {
            diffs.push(exec::Disagreement {
                op: b.ops.len(),
                what: "HugePages_Free after teardown".into(),
                model: hp0.to_string(),
                kernel: hp.to_string(),
            });
        }
        tally.judged += 1;
        let aliasing = s.segments.iter().filter(|g| g.folio.is_some()).fold(
            BTreeMap::<u32, u64>::new(),
            |mut m, g| {
                *m.entry(g.folio.unwrap_or_default()).or_default() += g.count;
                m
            },
        );
        tally.aliasing += u64::from(aliasing.values().any(|&n| n > 1));
        tally.counted += u64::from(s.segments.iter().any(|g| g.count > 1));
        tally.copy_faults += u64::from(!s.faults.points.is_empty());
        tally.erroring += u64::from(model.ops.iter().any(|o| o.ret < 0));
        let (held, dropped) = in_flight_orders(&b.ops, &model);
        tally.held += u64::from(held);
        tally.dropped_while_held += u64::from(dropped);
        tally.shmem_large += u64::from(s.folios.iter().any(|f| f.kind.is_shmem_large()));
        tally.rings += u64::from(b.world.nr_rings() > 1);
        tally.clones += u64::from(
            b.ops
                .iter()
                .zip(&model.ops)
                .any(|(o, r)| matches!(o, crate::scenario::ConcreteOp::Clone(_)) && r.ret == 0),
        );
        tally.private_hugetlb += u64::from(s.folios.iter().any(|f| f.kind.is_private_hugetlb()));
        tally.child_maps += u64::from(s.folios.iter().any(|f| f.child_maps));
        if diffs.is_empty() {
            tally.agreed += 1;
            if a.json {
                json::emit_stdout(&scenario_line(
                    a,
                    &release,
                    i,
                    input_name(&inputs, i),
                    LiveVerdict::Agrees,
                    None,
                ));
            }
            continue;
        }
        disagreeing += 1;
        report(
            a,
            i,
            &s,
            &release,
            &diffs,
            inputs.get(i as usize).map(|f| &f.0),
        );
    }
    drop(reservation);
    drop(mthp);
    drop(shmem);
    drop(pipe_max);
    let pct = |n: u64| {
        if tally.judged == 0 {
            0.0
        } else {
            100.0 * n as f64 / tally.judged as f64
        }
    };
    if a.json {
        json::emit_stdout(&LiveSummary {
            head: Head::new("live", "summary"),
            summary: true,
            kernel: release,
            seed: a.seed,
            interrupted,
            tally,
        });
    } else {
        println!(
            "live on {release}: {} drawn, {} judged, {} agree ({:.1}%), {:.1}% with a page mapped at more than one address ({} with a counted segment), {} with an iovec array running into an unmapped page, {:.1}% with an error the model predicts, {} with a read held in flight ({} with its buffer updated or unregistered meanwhile), {} with a large shmem folio, {} with a MAP_PRIVATE hugetlb page ({} with a fork()ed child still mapping it), {} with a second ring ({} with a clone that succeeded); skipped: {:?}",
            tally.drawn,
            tally.judged,
            tally.agreed,
            pct(tally.agreed),
            pct(tally.aliasing),
            tally.counted,
            tally.copy_faults,
            pct(tally.erroring),
            tally.held,
            tally.dropped_while_held,
            tally.shmem_large,
            tally.private_hugetlb,
            tally.child_maps,
            tally.rings,
            tally.clones,
            tally.skipped
        );
    }
    i32::from(disagreeing > 0)
}

/// The check cannot run here: said in words, or as a `skip` line.
fn skipped(a: &LiveArgs, release: &str, reason: String) -> i32 {
    if a.json {
        json::emit_stdout(&LiveSkip {
            head: Head::new("live", "skip"),
            kernel: release.to_string(),
            reason,
        });
    } else {
        println!("live: SKIPPED: {reason}");
    }
    EXIT_SKIPPED
}

/// The run cannot go on: said in words, or as an `error` line with the
/// words on standard error.
fn trouble(a: &LiveArgs, file: Option<String>, error: String) -> i32 {
    if a.json {
        eprintln!("live: trouble: {error}");
        json::emit_stdout(&ErrorLine::new("live", file, error));
    } else {
        println!("live: trouble: {error}");
    }
    2
}

/// The file scenario `i` was read from, if it was read.
fn input_name(inputs: &[(std::path::PathBuf, Scenario)], i: u64) -> Option<String> {
    inputs.get(i as usize).map(|(f, _)| f.display().to_string())
}

/// The `scenario` line of scenario `i`, without disagreements.
fn scenario_line(
    a: &LiveArgs,
    release: &str,
    i: u64,
    input: Option<String>,
    verdict: LiveVerdict,
    reason: Option<String>,
) -> LiveScenario {
    LiveScenario {
        head: Head::new("live", "scenario"),
        kernel: release.to_string(),
        seed: a.seed,
        scenario: i,
        input,
        verdict,
        reason,
        file: None,
        disagreements: vec![],
    }
}

/// The hard RLIMIT_MEMLOCK, or no bound with CAP_SYS_RESOURCE (bit 24 of CapEff).
fn hard_memlock() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let cap_eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    if cap_eff & (1 << 24) != 0 {
        return u64::MAX;
    }
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit.
    unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut r) };
    r.rlim_max
}

/// A file that cannot be run live: its name (when it is one), and why.
type LoadError = (Option<String>, String);

/// The scenario files to run, each at real geometry; a file with a fault
/// plan is refused (the kernel has no fault injection here).
fn load_files(
    paths: &[std::path::PathBuf],
) -> Result<Vec<(std::path::PathBuf, Scenario)>, LoadError> {
    let mut out = Vec::new();
    for p in paths {
        let files = if p.is_dir() {
            crate::corpus::files(p).map_err(|e| (Some(p.display().to_string()), e.to_string()))?
        } else {
            vec![p.clone()]
        };
        for f in files {
            let s = crate::corpus::load(&f)
                .map_err(|e| (Some(f.display().to_string()), e.to_string()))?;
            s.check_runs_here("live").map_err(|e| {
                (
                    Some(f.display().to_string()),
                    format!("{}: {e}", f.display()),
                )
            })?;
            if let Some(p) = s.faults.points.iter().find(|p| !live_fault(p)) {
                return Err((Some(f.display().to_string()), format!(
                    "{}: field `faults`: the live check runs only copy_from_user faults (an iovec array against an unmapped page); the running kernel cannot be made to fail this: {p}",
                    f.display()
                )));
            }
            let real = rescale(&s, GeometryName::Real);
            if let Err(e) = build(&real).and_then(|b| b.fits_c("the live check")) {
                return Err((
                    Some(f.display().to_string()),
                    format!("{}: at real geometry: {e}", f.display()),
                ));
            }
            out.push((f, real));
        }
    }
    Ok(out)
}

/// `fs.pipe-max-size`, raised for the run so that held reads of any
/// import's length fit one pipe, and put back on drop.
struct PipeMax {
    bytes: u64,
    old: Option<String>,
}

const PIPE_MAX: &str = "/proc/sys/fs/pipe-max-size";

impl PipeMax {
    fn raise(want: u64) -> PipeMax {
        let old = std::fs::read_to_string(PIPE_MAX).ok();
        let cur = old
            .as_deref()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(65536u64);
        if cur < want {
            let _ = std::fs::write(PIPE_MAX, want.to_string());
        }
        let bytes = std::fs::read_to_string(PIPE_MAX)
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(cur);
        PipeMax {
            bytes,
            old: old.filter(|_| cur < want),
        }
    }
}

impl Drop for PipeMax {
    fn drop(&mut self) {
        if let Some(v) = &self.old {
            let _ = std::fs::write(PIPE_MAX, v.trim());
        }
    }
}

/// Whether a read was held in flight, and whether an update or unregister
/// came while one was.
fn in_flight_orders(ops: &[crate::scenario::ConcreteOp], model: &crate::run::Run) -> (bool, bool) {
    use crate::scenario::ConcreteOp as C;
    let (mut n, mut any, mut dropped) = (0usize, false, false);
    for (op, rec) in ops.iter().zip(&model.ops) {
        match op {
            C::Import { hold: true, .. } | C::Readv { hold: true, .. } if rec.ret == 0 => {
                n += 1;
                any = true;
            }
            C::Complete => n = n.saturating_sub(1),
            C::Update { .. } | C::Unregister if n > 0 => dropped = true,
            _ => {}
        }
    }
    (any, dropped)
}

/// Bytes a held read waits for (0 for anything else).
fn held_bytes(op: &crate::scenario::ConcreteOp) -> u64 {
    match op {
        crate::scenario::ConcreteOp::Import {
            len, hold: true, ..
        } => *len,
        crate::scenario::ConcreteOp::Readv {
            iovecs, hold: true, ..
        } => iovecs.iter().map(|v| v.iov_len).sum(),
        _ => 0,
    }
}

fn too_long(op: &crate::scenario::ConcreteOp) -> bool {
    match op {
        crate::scenario::ConcreteOp::Import { len, .. } => *len as usize > exec::PATTERN_BYTES,
        crate::scenario::ConcreteOp::Readv { iovecs, .. } => {
            iovecs.iter().map(|v| v.iov_len as usize).sum::<usize>() > exec::PATTERN_BYTES
        }
        _ => false,
    }
}

fn report(
    a: &LiveArgs,
    i: u64,
    s: &Scenario,
    release: &str,
    diffs: &[exec::Disagreement],
    file: Option<&std::path::PathBuf>,
) {
    let _ = std::fs::create_dir_all(&a.out);
    let path = a.out.join(format!("live-seed{}-{i}.toml", a.seed));
    let mut s = s.clone();
    s.note = Some(format!(
        "model-fidelity finding on Linux {release}: scenario {i} of `regbuf-fuzz live --seed {}`",
        a.seed
    ));
    let written = std::fs::write(&path, s.to_toml()).is_ok();
    if a.json {
        let mut line = scenario_line(
            a,
            release,
            i,
            file.map(|f| f.display().to_string()),
            LiveVerdict::Disagrees,
            None,
        );
        line.file = written.then(|| path.display().to_string());
        line.disagreements = diffs.iter().map(Into::into).collect();
        json::emit_stdout(&line);
        return;
    }
    println!(
        "MODEL-FIDELITY FINDING on Linux {release}, scenario {i} of seed {}:",
        a.seed
    );
    for d in diffs.iter().take(5) {
        println!(
            "  after op {}: {}: model {}, kernel {}",
            d.op, d.what, d.model, d.kernel
        );
    }
    if written {
        println!("  scenario: {}", path.display());
        println!(
            "  explain: regbuf-fuzz explain {} --variant upstream",
            path.display()
        );
    }
    match file {
        Some(f) => println!("  reproduce: regbuf-fuzz live {}", f.display()),
        None => println!(
            "  reproduce: regbuf-fuzz live --seed {} --count {}",
            a.seed,
            i + 1
        ),
    }
}
