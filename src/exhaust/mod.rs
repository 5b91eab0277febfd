//! Bounded exhaustive search (`regbuf-fuzz exhaust`): every scenario of a
//! small space at small geometry, run on a variant and on the variant it is
//! compared with, every finding minimised and written as the campaign
//! writes them. Where the campaign samples, this makes a clean result a
//! statement about every scenario within the bound.
//!
//! The space ([`space`]): `--chunks` PMD-sized chunks, each a hole, a whole
//! PMD folio, a shmem page at every page, or cut into two pieces of THP,
//! mTHP, shmem or hole; up to `--folios` folios of `--kinds`; every buffer of
//! up to `--max-len-pages` pages starting and ending at the `--offsets`
//! sub-page offsets; programs of up to `--buffers` buffers (two-buffer
//! programs on `--pair-spans` buffers); and with `--faults single`, every
//! single allocation failure the fault-free run can meet. Symmetry
//! reductions ([`symmetry`]) keep one scenario per equivalence class.
//!
//! Scenarios are enumerated in a fixed order and built straight into the
//! world the model runs (one build per layout, reused for every buffer and
//! fault plan), not through scenario files; a finding is turned into a file
//! once, checked to show the same finding, minimised and written. Each
//! finding keeps its first scenario in enumeration order, and stdout is the
//! same byte for byte whatever `--jobs` is; wall time and rate go to stderr
//! (and wall and CPU time into the `--json` summary, its only fields that
//! change from run to run).

pub mod space;
pub mod symmetry;

use crate::campaign::{file_name, minimise_finding, write_finding};
use crate::mm::{Alloc, FaultPlan};
use crate::oracle::{check, check_built};
use crate::report::{json, replay_command};
use crate::scenario::{Built, Scenario};
use crate::variants::{self, Variant};
use space::{Buffer, Kind, Layout, Offsets, Program, Span, CHUNK};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use symmetry::{namings, namings_count, translated, Windows};

/// Most chunks (keeps a window key within 256 bits).
pub const MAX_CHUNKS: u8 = 4;
/// Most folios (keeps a window key within 256 bits).
pub const MAX_FOLIOS: u8 = 3;

/// Which buffers two-buffer programs use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PairSpans {
    /// Whole chunks, page-aligned.
    Chunk,
    /// Any page-aligned span.
    Page,
}

/// The bound: what is enumerated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bound {
    /// Chunks in the address space.
    pub chunks: u8,
    /// Most distinct folios.
    pub folios: u8,
    /// Folio kinds drawn from, in [`Kind::ALL`] order.
    pub kinds: Vec<Kind>,
    /// Pages at which a chunk may be cut in two, ascending (none: chunks
    /// are holes or whole folios).
    pub cuts: Vec<u8>,
    /// Longest buffer, in pages.
    pub max_len_pages: u8,
    /// Sub-page offsets of one-buffer programs.
    pub offsets: Offsets,
    /// Most buffers in a program (1 or 2).
    pub buffers: u8,
    /// Buffers of two-buffer programs.
    pub pair_spans: PairSpans,
    /// Every single-fault plan as well as the fault-free run.
    pub faults: bool,
    /// Apply the symmetry reductions.
    pub reduce: bool,
}

impl Bound {
    /// The flags that give this bound.
    pub fn flags(&self) -> String {
        let kinds: Vec<&str> = self.kinds.iter().map(|k| k.name()).collect();
        let cuts: Vec<String> = self.cuts.iter().map(u8::to_string).collect();
        let mut s = format!(
            "--chunks {} --folios {} --kinds {} --cuts {} --max-len-pages {} --offsets {} --buffers {} --pair-spans {} --faults {}",
            self.chunks,
            self.folios,
            kinds.join(","),
            if cuts.is_empty() { "none".to_string() } else { cuts.join(",") },
            self.max_len_pages,
            match self.offsets {
                Offsets::Edge => "edge",
                Offsets::Page => "page",
            },
            self.buffers,
            match self.pair_spans {
                PairSpans::Chunk => "chunk",
                PairSpans::Page => "page",
            },
            if self.faults { "single" } else { "none" },
        );
        if !self.reduce {
            s.push_str(" --no-symmetry");
        }
        s
    }

    /// Checks values the argument parser cannot check alone.
    pub fn check(&self) -> Result<(), String> {
        let pages = self.chunks * CHUNK;
        if !(1..=MAX_CHUNKS).contains(&self.chunks) {
            return Err(format!(
                "--chunks {}: between 1 and {MAX_CHUNKS}",
                self.chunks
            ));
        }
        if !(1..=MAX_FOLIOS).contains(&self.folios) {
            return Err(format!(
                "--folios {}: between 1 and {MAX_FOLIOS}",
                self.folios
            ));
        }
        if self.kinds.is_empty() {
            return Err("--kinds: at least one kind".into());
        }
        if let Some(c) = self.cuts.iter().find(|&&c| c == 0 || c >= CHUNK) {
            return Err(format!(
                "--cuts {c}: a chunk of {CHUNK} pages is cut after page 1 to {}",
                CHUNK - 1
            ));
        }
        if self.max_len_pages == 0 || self.max_len_pages > pages {
            return Err(format!(
                "--max-len-pages {}: between 1 and the {pages} pages of the address space (--chunks {} of {CHUNK} pages)",
                self.max_len_pages, self.chunks
            ));
        }
        if !(1..=2).contains(&self.buffers) {
            return Err(format!("--buffers {}: 1 or 2", self.buffers));
        }
        Ok(())
    }

    fn spans(&self, program: Program) -> Vec<(Span, Span)> {
        let n = self.chunks * CHUNK;
        let page_spans = || {
            (0..n).flat_map(move |s| {
                (s + 1..=n.min(s + self.max_len_pages)).map(move |e| Span { start: s, end: e })
            })
        };
        if program.buffers() == 1 {
            return page_spans().map(|s| (s, s)).collect();
        }
        let pair: Vec<Span> = match self.pair_spans {
            PairSpans::Chunk => page_spans()
                .filter(|s| s.start % CHUNK == 0 && s.end % CHUNK == 0)
                .collect(),
            PairSpans::Page => page_spans().collect(),
        };
        pair.iter()
            .flat_map(|&a| pair.iter().map(move |&b| (a, b)))
            .collect()
    }

    /// The buffers of one unit: every offset pair of a one-buffer program,
    /// the page-aligned pair of a two-buffer one.
    fn cases(&self, u: &Unit) -> Vec<(Buffer, Option<Buffer>)> {
        if u.program.buffers() == 1 {
            self.offsets.buffers(u.a).map(|b| (b, None)).collect()
        } else {
            vec![(Buffer::whole(u.a), Some(Buffer::whole(u.b)))]
        }
    }

    fn cases_count(&self, program: Program, a: Span) -> u64 {
        if program.buffers() == 1 {
            self.offsets.count(a)
        } else {
            1
        }
    }
}

/// One unit of work: a layout under a naming, a program and its spans; its
/// scenarios are the buffers on those spans ([`Bound::cases`]) each with
/// and without faults.
#[derive(Clone, Copy, Debug)]
struct Unit {
    layout: u32,
    naming: u16,
    program: Program,
    a: Span,
    b: Span,
}

/// How many fault-free scenarios each step leaves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Layouts enumerated (folios named by first appearance).
    pub layouts: u64,
    /// Scenarios in the bound, every naming of the folios counted.
    pub enumerated: u64,
    /// Removed by relabelling folios.
    pub relabelling: u64,
    /// Removed by translation.
    pub translation: u64,
    /// Removed by the window.
    pub window: u64,
    /// Left to run without a fault.
    pub reduced: u64,
}

/// The space, enumerated and reduced.
struct Plan {
    layouts: Vec<Layout>,
    namings: Vec<Vec<Vec<u8>>>,
    units: Vec<Unit>,
    counts: Counts,
}

fn plan(b: &Bound) -> Plan {
    let layouts = space::layouts(space::Shapes {
        chunks: b.chunks,
        folios: b.folios,
        kinds: &b.kinds,
        cuts: &b.cuts,
    });
    let namings: Vec<Vec<Vec<u8>>> = (0..=b.folios as usize)
        .map(|u| {
            if b.reduce {
                vec![(0..u as u8).collect()]
            } else {
                namings(b.folios, u)
            }
        })
        .collect();
    let programs = Program::upto(b.buffers);
    let spans: Vec<Vec<(Span, Span)>> = programs.iter().map(|&p| b.spans(p)).collect();
    let mut counts = Counts {
        layouts: layouts.len() as u64,
        ..Counts::default()
    };
    let mut windows = Windows::default();
    let mut units = Vec::new();
    // Simplest programs first, so that a finding's first scenario is the
    // simplest program that shows it.
    let pages: Vec<Vec<space::Page>> = layouts.iter().map(Layout::pages).collect();
    for (&program, spans) in programs.iter().zip(&spans) {
        for (li, (layout, pages)) in layouts.iter().zip(&pages).enumerate() {
            let used = layout.kinds.len();
            let names = namings_count(b.folios, used);
            for &(a, s2) in spans {
                let n = b.cases_count(program, a);
                counts.enumerated += n * names;
                if b.reduce {
                    counts.relabelling += n * (names - 1);
                    if translated(layout, a, s2) {
                        counts.translation += n;
                        continue;
                    }
                    if !windows.first(pages, &layout.kinds, program, a, s2) {
                        counts.window += n;
                        continue;
                    }
                }
                for naming in 0..namings[used].len() {
                    counts.reduced += n;
                    units.push(Unit {
                        layout: li as u32,
                        naming: naming as u16,
                        program,
                        a,
                        b: s2,
                    });
                }
            }
        }
    }
    Plan {
        layouts,
        namings,
        units,
        counts,
    }
}

/// Settings of one search.
#[derive(Clone)]
pub struct Config {
    /// Variant under test.
    pub variant: &'static dyn Variant,
    /// Variant it is compared with.
    pub against: &'static dyn Variant,
    /// What is enumerated.
    pub bound: Bound,
    /// Worker threads.
    pub jobs: usize,
    /// Draw a progress bar on stderr.
    pub progress: bool,
    /// Stop at the first finding in enumeration order.
    pub stop_on_first: bool,
}

/// Where a scenario is in enumeration order: unit, case, fault plan (0: none).
type Key = (u64, u32, u32);

/// A finding as the workers see it.
#[derive(Clone, Debug)]
struct Seen {
    count: u64,
    first: Key,
    faults: FaultPlan,
}

/// What one worker did.
#[derive(Default)]
struct Local {
    executed: u64,
    fault_free: u64,
    found: BTreeMap<String, Seen>,
    /// With `--stop-on-first`: `(unit, executed, fault_free)` per unit, so
    /// that units past the first finding can be left out of the counts.
    per_unit: Vec<(u64, u64, u64)>,
}

impl Local {
    fn record(&mut self, sig: String, key: Key, faults: &FaultPlan) {
        let e = self.found.entry(sig).or_insert_with(|| Seen {
            count: 0,
            first: key,
            faults: faults.clone(),
        });
        e.count += 1;
        if key < e.first {
            e.first = key;
            e.faults = faults.clone();
        }
    }
}

/// One distinct finding.
#[derive(Clone, Debug)]
pub struct Found {
    /// Primary signature.
    pub signature: String,
    /// Executed scenarios with it as their primary signature.
    pub count: u64,
    /// The first of them, as a scenario file.
    pub scenario: Scenario,
    /// The first of them in words: layout, program, fault.
    pub description: String,
}

/// What a search did.
#[derive(Clone, Debug)]
pub struct Report {
    /// The space and its reductions.
    pub counts: Counts,
    /// Scenarios run (fault-free and with one fault).
    pub executed: u64,
    /// Of which without a fault.
    pub fault_free: u64,
    /// Distinct findings, first in enumeration order first.
    pub found: Vec<Found>,
    /// Wall time.
    pub elapsed: Duration,
    /// CPU time of the process over the same stretch, all threads.
    pub cpu: Duration,
}

/// CPU time this process has used so far, all threads (user and system).
fn cpu_time() -> Duration {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes one `struct rusage` through the pointer,
    // which points to one, zeroed, owned by this frame.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr()) };
    if rc != 0 {
        return Duration::ZERO;
    }
    // SAFETY: getrusage returned 0, so it filled the struct.
    let ru = unsafe { ru.assume_init() };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Runs every scenario of the bound.
pub fn run(cfg: &Config) -> Report {
    let start = Instant::now();
    let cpu_start = cpu_time();
    let p = plan(&cfg.bound);
    let bar = cfg.progress.then(|| {
        let b = indicatif::ProgressBar::new(p.counts.reduced);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {human_pos}/{human_len} fault-free scenarios, eta {eta} {msg}",
            )
            .expect("template")
            .progress_chars("=> "),
        );
        b
    });
    let next = AtomicU64::new(0);
    let runs = AtomicU64::new(0);
    let stop_at = AtomicU64::new(u64::MAX);
    let total_units = p.units.len() as u64;
    const BATCH: u64 = 8;
    let locals: Vec<Local> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..cfg.jobs.max(1))
            .map(|_| {
                sc.spawn(|| {
                    let mut local = Local::default();
                    let mut cache: Option<((u32, u16), Built)> = None;
                    'work: loop {
                        let first = next.fetch_add(BATCH, Ordering::Relaxed);
                        if first >= total_units {
                            break;
                        }
                        for ui in first..(first + BATCH).min(total_units) {
                            if ui > stop_at.load(Ordering::Relaxed) {
                                break 'work;
                            }
                            let u = &p.units[ui as usize];
                            let id = (u.layout, u.naming);
                            if cache.as_ref().map(|c| c.0) != Some(id) {
                                let layout = &p.layouts[u.layout as usize];
                                let naming = &p.namings[layout.kinds.len()][u.naming as usize];
                                cache = Some((id, layout.built(naming)));
                            }
                            let built = &mut cache.as_mut().expect("filled above").1;
                            let (before_x, before_f) = (local.executed, local.fault_free);
                            let hit = run_unit(cfg, ui, u, built, &mut local);
                            if cfg.stop_on_first {
                                local.per_unit.push((
                                    ui,
                                    local.executed - before_x,
                                    local.fault_free - before_f,
                                ));
                                if hit {
                                    stop_at.fetch_min(ui, Ordering::Relaxed);
                                }
                            }
                            if let Some(b) = &bar {
                                let n =
                                    runs.fetch_add(local.executed - before_x, Ordering::Relaxed);
                                b.inc(cfg.bound.cases_count(u.program, u.a));
                                if ui % 64 == 0 {
                                    b.set_message(format!(
                                        "({} runs with fault plans)",
                                        thousands(n)
                                    ));
                                }
                            }
                        }
                    }
                    local
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let last = stop_at.into_inner();
    let (mut executed, mut fault_free) = (0, 0);
    let mut found: BTreeMap<String, Seen> = BTreeMap::new();
    for l in locals {
        if cfg.stop_on_first {
            for &(_, x, f) in l.per_unit.iter().filter(|e| e.0 <= last) {
                executed += x;
                fault_free += f;
            }
        } else {
            executed += l.executed;
            fault_free += l.fault_free;
        }
        for (sig, s) in l.found {
            if s.first.0 > last {
                continue;
            }
            let e = found.entry(sig).or_insert_with(|| Seen {
                count: 0,
                ..s.clone()
            });
            e.count += s.count;
            if s.first < e.first {
                e.first = s.first;
                e.faults = s.faults.clone();
            }
        }
    }
    let mut found: Vec<(String, Seen)> = found.into_iter().collect();
    found.sort_by_key(|(_, s)| s.first);
    if cfg.stop_on_first {
        found.truncate(1);
    }
    let found = found
        .into_iter()
        .map(|(signature, s)| {
            let (scenario, description) = scenario_of(&cfg.bound, &p, s.first, &s.faults);
            Found {
                signature,
                count: s.count,
                scenario,
                description,
            }
        })
        .collect();
    Report {
        counts: p.counts,
        executed,
        fault_free,
        found,
        elapsed: start.elapsed(),
        cpu: cpu_time().saturating_sub(cpu_start),
    }
}

/// Runs every scenario of unit `ui`; returns whether one showed a finding.
fn run_unit(cfg: &Config, ui: u64, u: &Unit, built: &mut Built, local: &mut Local) -> bool {
    let (v, against) = (cfg.variant, cfg.against);
    let mut hit = false;
    for (ci, (a, b)) in cfg.bound.cases(u).iter().enumerate() {
        built.ops = u.program.ops(a, b.as_ref());
        let none = FaultPlan::default();
        built.world.alloc = Alloc::new(none.clone());
        let (verdict, base, cand) = check_built(built, v, against);
        local.executed += 1;
        local.fault_free += 1;
        if let Some(sig) = verdict.primary() {
            local.record(sig, (ui, ci as u32, 0), &none);
            hit = true;
            if cfg.stop_on_first {
                return true;
            }
        }
        if !cfg.bound.faults {
            continue;
        }
        let plans = space::single_faults([&base.alloc_sites, &cand.alloc_sites]);
        for (fi, plan) in plans.into_iter().enumerate() {
            built.world.alloc = Alloc::new(plan.clone());
            let (verdict, _, _) = check_built(built, v, against);
            local.executed += 1;
            if let Some(sig) = verdict.primary() {
                local.record(sig, (ui, ci as u32, fi as u32 + 1), &plan);
                hit = true;
                if cfg.stop_on_first {
                    return true;
                }
            }
        }
    }
    hit
}

/// The scenario at `key`, as a file and in words.
fn scenario_of(bound: &Bound, p: &Plan, key: Key, faults: &FaultPlan) -> (Scenario, String) {
    let u = &p.units[key.0 as usize];
    let layout = &p.layouts[u.layout as usize];
    let naming = &p.namings[layout.kinds.len()][u.naming as usize];
    let (a, b) = bound.cases(u)[key.1 as usize];
    let built = layout.built(naming);
    let mut s = layout.scenario(naming);
    s.ops = u.program.scenario_ops(&built, &a, b.as_ref());
    s.faults = faults.clone();
    let words = format!(
        "{}; {}; {}",
        layout.describe(),
        u.program.describe(&a, b.as_ref()),
        space::describe_faults(faults)
    );
    (s, words)
}

/// Flags of `regbuf-fuzz exhaust`.
#[derive(Clone, Debug)]
pub struct ExhaustArgs {
    /// Variant under test.
    pub variant: String,
    /// Variant it is compared with.
    pub against: String,
    /// What is enumerated.
    pub bound: Bound,
    /// Worker threads (0: one per core).
    pub jobs: usize,
    /// Where minimised findings are written.
    pub out: PathBuf,
    /// One JSON object per line instead of text.
    pub json: bool,
    /// Stop at the first finding in enumeration order.
    pub stop_on_first: bool,
}

/// `regbuf-fuzz exhaust`: returns the exit code (0 nothing, 1 findings, 2 trouble).
pub fn run_cli(a: &ExhaustArgs) -> i32 {
    let (Some(variant), Some(against)) =
        (variants::by_name(&a.variant), variants::by_name(&a.against))
    else {
        eprintln!(
            "regbuf-fuzz exhaust: unknown variant `{}` or `{}`; known: {}",
            a.variant,
            a.against,
            variants::names().join(", ")
        );
        return 2;
    };
    if let Err(e) = a.bound.check() {
        eprintln!("regbuf-fuzz exhaust: {e}");
        return 2;
    }
    let jobs = if a.jobs == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        a.jobs
    };
    let cfg = Config {
        variant,
        against,
        bound: a.bound.clone(),
        jobs,
        progress: !a.json && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        stop_on_first: a.stop_on_first,
    };
    let report = run(&cfg);
    if !report.found.is_empty() {
        if let Err(e) = std::fs::create_dir_all(&a.out) {
            let msg = format!("cannot create --out directory {}: {e}", a.out.display());
            eprintln!("regbuf-fuzz exhaust: {msg}");
            if a.json {
                json::emit_stdout(&json::ErrorLine::new(
                    "exhaust",
                    Some(a.out.display().to_string()),
                    msg,
                ));
            }
            return 2;
        }
    }
    let command = format!(
        "regbuf-fuzz exhaust --variant {} --against {} {}",
        variant.name(),
        against.name(),
        a.bound.flags()
    );
    for f in &report.found {
        // The file must say what the search saw, or the conversion is wrong.
        let seen = check(&f.scenario, variant, against)
            .ok()
            .and_then(|(v, _, _)| v.primary());
        assert_eq!(
            seen.as_deref(),
            Some(f.signature.as_str()),
            "the scenario file of a finding shows another verdict: {}",
            f.description
        );
        let (min, is_real) = minimise_finding(&f.scenario, variant, against, false);
        let path = a.out.join(file_name(variant.name(), &f.signature));
        let note = format!(
            "{}: found by `{command}` (first of {} scenarios showing it: {}), minimised.",
            f.signature, f.count, f.description
        );
        if let Err(e) = write_finding(&path, &min, note) {
            eprintln!("regbuf-fuzz exhaust: cannot write {}: {e}", path.display());
            if a.json {
                json::emit_stdout(&json::ErrorLine::new(
                    "exhaust",
                    Some(path.display().to_string()),
                    format!("cannot write it: {e}"),
                ));
            }
            return 2;
        }
        let replay = replay_command(Some(&path), variant.name(), against.name());
        let sz = min.size();
        if a.json {
            let (outcome, finding) = match crate::campaign::minimised_outcome(
                &min,
                &f.scenario,
                variant,
                against,
                false,
                &f.signature,
            ) {
                Ok(x) => x,
                Err(e) => {
                    eprintln!("regbuf-fuzz exhaust: {}: {e}", path.display());
                    json::emit_stdout(&json::ErrorLine::new(
                        "exhaust",
                        Some(path.display().to_string()),
                        e.to_string(),
                    ));
                    return 2;
                }
            };
            json::emit_stdout(&json::ExhaustFinding {
                head: json::Head::new("exhaust", "finding"),
                signature: f.signature.clone(),
                variant: variant.name(),
                against: against.name(),
                scenarios: f.count,
                first: f.description.clone(),
                size_minimised: sz.into(),
                real_geometry: is_real,
                file: path.display().to_string(),
                replay,
                finding,
                outcome,
            });
        } else {
            println!("finding: {}", f.signature);
            println!("  scenarios showing it first: {}", thousands(f.count));
            println!("  first: {}", f.description);
            println!(
                "  minimised: {} mappings, {} folios, {} segments, {} ops, {} iovecs, {} faults ({} geometry)",
                sz.mappings,
                sz.folios,
                sz.segments,
                sz.ops,
                sz.iovecs,
                sz.faults,
                if is_real { "real" } else { "small" }
            );
            println!("  written: {}", path.display());
            println!("  replay: {replay}");
        }
    }
    let c = &report.counts;
    let secs = report.elapsed.as_secs_f64().max(1e-9);
    // Per core: per second of CPU the search used, which a loaded machine
    // does not distort the way it distorts wall time.
    let cpu = report.cpu.as_secs_f64().max(1e-9);
    let per_core_minute = report.executed as f64 / cpu * 60.0;
    if a.json {
        json::emit_stdout(&json::ExhaustSummary {
            head: json::Head::new("exhaust", "summary"),
            summary: true,
            variant: variant.name(),
            against: against.name(),
            bound: a.bound.flags(),
            layouts: c.layouts,
            enumerated: c.enumerated,
            reduced_by: json::Reduced {
                relabelling: c.relabelling,
                translation: c.translation,
                window: c.window,
            },
            after_symmetry: c.reduced,
            executed: report.executed,
            fault_free: report.fault_free,
            single_fault: report.executed - report.fault_free,
            distinct_findings: report.found.len(),
            stopped_at_first_finding: a.stop_on_first && !report.found.is_empty(),
            jobs,
            elapsed_s: report.elapsed.as_secs_f64(),
            cpu_s: report.cpu.as_secs_f64(),
        });
    } else {
        println!(
            "exhaust: {} against {}, {}",
            variant.name(),
            against.name(),
            a.bound.flags()
        );
        println!(
            "enumerated: {} scenarios ({} layouts, every program and buffer in the bound)",
            thousands(c.enumerated),
            thousands(c.layouts)
        );
        println!(
            "after symmetry reduction: {} (relabelling -{}, translation -{}, window -{})",
            thousands(c.reduced),
            thousands(c.relabelling),
            thousands(c.translation),
            thousands(c.window)
        );
        println!(
            "executed: {} ({} without a fault, {} with one allocation call failed){}",
            thousands(report.executed),
            thousands(report.fault_free),
            thousands(report.executed - report.fault_free),
            if a.stop_on_first && !report.found.is_empty() {
                ", stopped at the first finding"
            } else {
                ""
            }
        );
        println!("findings: {} distinct", report.found.len());
        eprintln!(
            "wall time {secs:.1} s on {jobs} worker(s), {cpu:.1} s of CPU: {} scenarios/s, {} per core per minute",
            thousands((report.executed as f64 / secs) as u64),
            thousands(per_core_minute as u64)
        );
    }
    i32::from(!report.found.is_empty())
}

#[cfg(test)]
mod tests;

/// `n` with thousands separators.
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}
