//! `regbuf-fuzz lab`: every corpus file's C reproducer on real kernels
//! (Debian's linux-source-6.12 as it is, with the RFC v1 port, with the
//! port and its fix), booted under qemu (TCG), beside what the model
//! predicts for the same variant.
//!
//! Steps: Debian packages (installed when missing), the source unpacked
//! once into the cache, one kernel build per variant (reused while its
//! cache key holds), each reproducer written by `regbuf-fuzz repro` and
//! compiled statically, one initramfs (busybox, the reproducers, a shell
//! init that runs them between markers), one boot per kernel (again from
//! the next reproducer when one takes the kernel down), the serial log
//! read ([`log`]) and the table printed.
//!
//! Exit status: 0 every judged cell agrees with the model, 1 at least one
//! disagreement, 2 trouble (a build that fails, a patch that does not
//! apply, a reproducer that cannot be written or compiled or that ends in
//! trouble, a kernel that does not boot), 77 the lab cannot run here (the
//! reason is printed: packages that cannot be installed, no qemu).

pub mod config;
pub mod initramfs;
pub mod kernel;
pub mod log;

use crate::scenario::Scenario;
use crate::variants;
use log::{Judged, Outcome};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Exit: every judged result agrees with the model.
pub const EXIT_AGREE: i32 = 0;
/// Exit: a kernel result disagrees with the model.
pub const EXIT_DISAGREE: i32 = 1;
/// Exit: trouble.
pub const EXIT_TROUBLE: i32 = 2;
/// Exit: the lab cannot run on this machine.
pub const EXIT_CANNOT_RUN: i32 = 77;

/// Something went wrong that is the lab's (or the machine's) problem, not
/// a result.
#[derive(Clone, Debug)]
pub struct Trouble(pub String);

/// Options of `regbuf-fuzz lab`.
#[derive(Clone, Debug)]
pub struct LabArgs {
    /// Kernel names (`base`, `rfc-v1`, `rfc-v1-fixed`); empty: all.
    pub kernels: Vec<String>,
    /// Corpus files or directories; empty: `corpus/findings/rfc-v1`.
    pub files: Vec<PathBuf>,
    /// Where sources and builds are kept.
    pub cache: PathBuf,
    /// Where logs, reproducers, the initramfs and `lab.json` go.
    pub out: PathBuf,
    /// `gcc` or `clang`.
    pub cc: String,
    /// One JSON document on standard output instead of the table.
    pub json: bool,
    /// Do not apt-get install missing packages (skip instead).
    pub no_install: bool,
    /// make -j.
    pub jobs: usize,
    /// VM memory in MiB.
    pub memory_mb: u32,
    /// Seconds each reproducer may run inside the VM.
    pub per_repro_secs: u32,
    /// Seconds a boot may take before the first reproducer.
    pub boot_secs: u32,
    /// 2 MiB huge pages init reserves.
    pub hugepages: u32,
    /// Build the kernels and the initramfs, boot nothing.
    pub build_only: bool,
}

/// The lab's directory of configuration fragments, patches and the smoke
/// test, found next to the corpus (the project's root).
fn project_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if here.join("lab").is_dir() {
        here
    } else {
        PathBuf::from(".")
    }
}

/// What the model says a reproducer does on one kernel.
#[derive(Clone, Debug, Serialize)]
pub struct Prediction {
    /// The model variant (`upstream` for `base`).
    pub variant: String,
    /// `PASS` (no finding: the kernel behaves as upstream and breaks no
    /// rule) or `FAIL` (a finding), or `ERROR` when the model cannot run it.
    pub expect: String,
    /// The finding signatures.
    pub signatures: Vec<String>,
}

/// The model's prediction for a scenario on a variant: the scenario in its
/// live form (real geometry, no allocation failures: what the reproducer
/// runs) on `variant` against upstream.
pub fn predict(s: &Scenario, model_variant: &str) -> Prediction {
    let live = crate::live::live_scenario(s);
    let up = variants::by_name("upstream").expect("upstream exists");
    let v = variants::by_name(model_variant).expect("a known variant");
    match crate::oracle::check(&live, v, up) {
        Ok((verdict, _, _)) => {
            let sigs: Vec<String> = verdict.signatures().into_iter().collect();
            Prediction {
                variant: model_variant.to_string(),
                expect: if sigs.is_empty() { "PASS" } else { "FAIL" }.to_string(),
                signatures: sigs,
            }
        }
        Err(e) => Prediction {
            variant: model_variant.to_string(),
            expect: "ERROR".to_string(),
            signatures: vec![format!("{e:?}")],
        },
    }
}

/// Whether a kernel outcome agrees with a prediction (`None`: not judged:
/// a skip or trouble).
pub fn agrees(expect: &str, got: Outcome) -> Option<bool> {
    match (expect, got) {
        (_, Outcome::Skip | Outcome::Error) => None,
        ("PASS", o) => Some(o == Outcome::Pass),
        ("FAIL", o) => Some(matches!(o, Outcome::Fail | Outcome::Hang)),
        _ => None,
    }
}

/// One program in the initramfs.
#[derive(Clone, Debug)]
struct Program {
    /// Name inside the VM (the file stem).
    name: String,
    /// The corpus file, or `None` for the lab's smoke test.
    file: Option<PathBuf>,
    /// The scenario.
    scenario: Option<Scenario>,
    /// The static binary, or why there is none.
    binary: Result<PathBuf, String>,
}

/// The name the smoke test runs under.
pub const SMOKE: &str = "lab-smoke-hugetlb";

fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Trouble> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let files = crate::corpus::files(p).map_err(|e| Trouble(e.to_string()))?;
            out.extend(files);
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(Trouble(format!(
                "{}: no such file or directory",
                p.display()
            )));
        }
    }
    Ok(out)
}

/// The `regbuf-fuzz` executable (for `repro`): `$REGBUF_FUZZ_BIN`, else
/// this executable when it is regbuf-fuzz, else the one cargo built next to
/// it.
fn regbuf_fuzz_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("REGBUF_FUZZ_BIN") {
        return PathBuf::from(p);
    }
    let me = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("regbuf-fuzz"));
    if me.file_name().is_some_and(|n| n == "regbuf-fuzz") {
        return me;
    }
    // A test binary lives in target/<profile>/deps/.
    me.parent()
        .and_then(Path::parent)
        .map(|d| d.join("regbuf-fuzz"))
        .unwrap_or_else(|| PathBuf::from("regbuf-fuzz"))
}

/// Compiles a C file statically.
fn compile(c: &Path, bin: &Path) -> Result<(), String> {
    let out = Command::new("gcc")
        .args(["-static", "-O1", "-g0", "-w", "-o"])
        .arg(bin)
        .arg(c)
        .output()
        .map_err(|e| format!("gcc: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().take(12).collect();
        Err(format!(
            "gcc -static {} failed:\n{}",
            c.display(),
            tail.join("\n")
        ))
    }
}

/// Writes and compiles the reproducer of one corpus file.
fn reproducer(file: &Path, dir: &Path, name: &str) -> Result<PathBuf, String> {
    let c = dir.join(format!("{name}.c"));
    let bin = dir.join(name);
    let out = Command::new(regbuf_fuzz_bin())
        .arg("repro")
        .arg(file)
        .arg("-o")
        .arg(&c)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("regbuf-fuzz repro: {e}"))?;
    if !c.exists() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(if err.contains("unrecognized subcommand") {
            "no reproducer: this build of regbuf-fuzz has no `repro` subcommand".to_string()
        } else {
            format!(
                "regbuf-fuzz repro {} wrote no program ({}): {}",
                file.display(),
                out.status,
                err.trim()
            )
        });
    }
    compile(&c, &bin)?;
    Ok(bin)
}

/// The VM's size and the kernel command line it needs for the chosen files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Machine {
    /// Memory in MiB.
    pub memory_mb: u32,
    /// Extra kernel command line (leading space), e.g. 1 GiB huge pages,
    /// which only a boot-time reservation gets reliably (the lab kernel has
    /// no compaction for a run-time one).
    pub cmdline: String,
}

/// The VM for a set of scenarios: `memory_mb` as asked, raised to hold the
/// 1 GiB hugetlb folios one scenario needs (reserved at boot) plus 1 GiB
/// for everything else.
pub fn machine_for(scenarios: &[&Scenario], memory_mb: u32) -> Machine {
    let need_1g = scenarios
        .iter()
        .map(|s| {
            s.folios
                .iter()
                .filter(|f| f.kind == crate::scenario::FolioKindSpec::HugetlbPud)
                .count() as u32
        })
        .max()
        .unwrap_or(0);
    if need_1g == 0 {
        return Machine {
            memory_mb,
            cmdline: String::new(),
        };
    }
    Machine {
        memory_mb: memory_mb.max(1024 * (need_1g + 1) + 512),
        cmdline: format!(" hugepagesz=1G hugepages={need_1g}"),
    }
}

/// One kernel's boots.
#[derive(Clone, Debug, Default, Serialize)]
pub struct BootReport {
    /// Kernel name.
    pub kernel: String,
    /// Serial logs, one per boot.
    pub logs: Vec<PathBuf>,
    /// Host wall-clock seconds of all boots together.
    pub wall_secs: f64,
    /// Guest seconds from power-on to init's first marker (first boot).
    pub boot_secs: Option<f64>,
    /// The `REGBUF-BOOTED` line.
    pub boot_info: String,
    /// Kernel messages outside any reproducer.
    pub outside: Vec<String>,
    /// Boots that ended on qemu's wall-clock limit.
    pub timeouts: usize,
}

/// Boots a kernel until every program has a result (or a boot makes no
/// progress). Returns, per program name, its judged run.
fn boot_kernel(
    a: &LabArgs,
    machine: &Machine,
    built: &kernel::Built,
    initrd: &Path,
    names: &[String],
) -> (BTreeMap<String, Judged>, BootReport) {
    let mut judged = BTreeMap::new();
    let mut rep = BootReport {
        kernel: built.name.clone(),
        ..BootReport::default()
    };
    let mut from = 0usize;
    let mut boot = 0usize;
    while from < names.len() && boot <= names.len() {
        let log_path = a.out.join(if boot == 0 {
            format!("serial-{}.log", built.name)
        } else {
            format!("serial-{}-boot{}.log", built.name, boot + 1)
        });
        let remaining = (names.len() - from) as u32;
        let limit = a.boot_secs + remaining * (a.per_repro_secs + 5) + 30;
        let append = format!(
            "console=ttyS0 panic=-1 oops=panic softlockup_panic=1 kasan_multi_shot \
             printk.devkmsg=on{} regbuf.from={from}",
            machine.cmdline
        );
        eprintln!(
            "lab: booting {} (reproducers {}..{}, limit {} s; log {})",
            built.name,
            from + 1,
            names.len(),
            limit,
            log_path.display()
        );
        let t = Instant::now();
        let status = fs::File::create(&log_path).and_then(|f| {
            Command::new("timeout")
                .arg("--kill-after=10")
                .arg(limit.to_string())
                .arg("qemu-system-x86_64")
                .args(["-accel", "tcg", "-cpu", "max", "-smp", "1"])
                .arg("-m")
                .arg(machine.memory_mb.to_string())
                .args(["-nographic", "-no-reboot"])
                .arg("-kernel")
                .arg(&built.bzimage)
                .arg("-initrd")
                .arg(initrd)
                .arg("-append")
                .arg(&append)
                .stdin(Stdio::null())
                .stdout(f.try_clone()?)
                .stderr(f)
                .status()
        });
        rep.wall_secs += t.elapsed().as_secs_f64();
        rep.logs.push(log_path.clone());
        let timed_out = match &status {
            Ok(s) => matches!(s.code(), Some(124) | Some(137) | None),
            Err(_) => false,
        };
        if let Err(e) = &status {
            rep.outside.push(format!("qemu could not run: {e}"));
            break;
        }
        if timed_out {
            rep.timeouts += 1;
        }
        let text = fs::read(&log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let parsed = log::parse(&text);
        if boot == 0 {
            rep.boot_info = parsed.boot_info.clone();
            rep.boot_secs = parsed
                .boot_info
                .split_whitespace()
                .find_map(|w| w.strip_prefix("up="))
                .and_then(|v| v.parse().ok());
        }
        for (al, l) in &parsed.outside {
            rep.outside.push(format!("[{}] {l}", al.name()));
        }
        if !parsed.booted {
            rep.outside.push(format!(
                "boot {}: init never reported itself set up (see {})",
                boot + 1,
                log_path.display()
            ));
            break;
        }
        let mut last_started = None;
        for r in &parsed.runs {
            let j = log::judge(r, timed_out);
            judged.insert(r.name.clone(), j);
            last_started = names.iter().position(|n| *n == r.name);
        }
        if parsed.done {
            break;
        }
        match last_started {
            Some(i) if i + 1 > from => from = i + 1,
            _ => break,
        }
        boot += 1;
    }
    (judged, rep)
}

/// One cell of the table.
#[derive(Clone, Debug, Serialize)]
pub struct Cell {
    /// Corpus file (or the smoke test's name).
    pub file: String,
    /// Kernel.
    pub kernel: String,
    /// What the kernel did.
    pub outcome: Outcome,
    /// What the model says.
    pub model: Prediction,
    /// Whether they agree (`null`: skipped or trouble, not judged).
    pub agree: Option<bool>,
    /// Quoted lines.
    pub evidence: Vec<String>,
    /// Kinds of kernel message.
    pub alarms: Vec<String>,
    /// Exit status inside the VM.
    pub exit: Option<i32>,
    /// Seconds inside the VM.
    pub seconds: Option<f64>,
}

/// The whole result, as written to `lab.json`.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Kernel source.
    pub source: String,
    /// Kernels built.
    pub kernels: Vec<kernel::Built>,
    /// Their boots.
    pub boots: Vec<BootReport>,
    /// Every file × kernel.
    pub cells: Vec<Cell>,
    /// Cells where kernel and model disagree.
    pub disagreements: usize,
    /// Trouble met (cells in ERROR, boots that failed).
    pub trouble: Vec<String>,
    /// The exit status.
    pub exit: i32,
}

fn say(a: &LabArgs, s: &str) {
    if a.json {
        eprintln!("{s}");
    } else {
        println!("{s}");
    }
}

/// `regbuf-fuzz lab`.
pub fn run_cli(a: &LabArgs) -> i32 {
    match run(a) {
        Ok(code) => code,
        Err(Stop::CannotRun(why)) => {
            say(a, &format!("lab: skipped: {why}"));
            EXIT_CANNOT_RUN
        }
        Err(Stop::Trouble(Trouble(why))) => {
            eprintln!("lab: trouble: {why}");
            EXIT_TROUBLE
        }
    }
}

enum Stop {
    CannotRun(String),
    Trouble(Trouble),
}

impl From<Trouble> for Stop {
    fn from(t: Trouble) -> Stop {
        Stop::Trouble(t)
    }
}

fn run(a: &LabArgs) -> Result<i32, Stop> {
    let root = project_root();
    // Kernels.
    let mut kernels = Vec::new();
    let wanted: Vec<String> = if a.kernels.is_empty() {
        kernel::KERNELS.iter().map(|k| k.name.to_string()).collect()
    } else {
        a.kernels.clone()
    };
    for n in &wanted {
        match kernel::kernel(n) {
            Some(k) => kernels.push(k),
            None => {
                return Err(Trouble(format!(
                    "unknown lab kernel `{n}`; known: {}",
                    kernel::KERNELS
                        .iter()
                        .map(|k| k.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
                .into())
            }
        }
    }
    if a.cc != "gcc" && a.cc != "clang" {
        return Err(Trouble(format!("--cc {}: gcc or clang", a.cc)).into());
    }
    // Corpus files.
    let paths = if a.files.is_empty() {
        let here = std::env::current_dir().ok();
        if here.as_deref() == Some(root.as_path()) {
            vec![PathBuf::from("corpus/findings/rfc-v1")]
        } else {
            vec![root.join("corpus/findings/rfc-v1")]
        }
    } else {
        a.files.clone()
    };
    let files = expand(&paths)?;
    let mut scenarios = Vec::new();
    for f in &files {
        let s = crate::corpus::load(f).map_err(|e| Trouble(e.to_string()))?;
        s.check_runs_here("lab")
            .map_err(|e| Trouble(format!("{}: {e}", f.display())))?;
        scenarios.push((f.clone(), s));
    }
    // The reproducers come from `regbuf-fuzz repro`; without it there is
    // nothing to run.
    if !scenarios.is_empty() {
        let ok = Command::new(regbuf_fuzz_bin())
            .args(["repro", "--help"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            return Err(Stop::CannotRun(format!(
                "{} has no `repro` subcommand to write the reproducers",
                regbuf_fuzz_bin().display()
            )));
        }
    }
    // Packages and tools.
    let mut pkgs: Vec<&str> = kernel::PACKAGES.to_vec();
    if a.cc == "clang" {
        pkgs.push("clang");
    }
    kernel::ensure_packages(&pkgs, !a.no_install).map_err(Stop::CannotRun)?;
    for tool in ["qemu-system-x86_64", "timeout", "gcc", "make", "patch"] {
        let ok = Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {tool}"))
            .stdout(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            return Err(Stop::CannotRun(format!("{tool} not found")));
        }
    }
    let busybox = fs::read("/bin/busybox")
        .map_err(|e| Stop::CannotRun(format!("/bin/busybox (busybox-static): {e}")))?;
    fs::create_dir_all(&a.out).map_err(|e| Trouble(format!("{}: {e}", a.out.display())))?;
    let repro_dir = a.out.join("repro");
    fs::create_dir_all(&repro_dir).map_err(|e| Trouble(format!("{e}")))?;

    // Programs: the smoke test first, then one reproducer per file.
    let mut programs = Vec::new();
    let smoke_c = repro_dir.join(format!("{SMOKE}.c"));
    let smoke_src = fs::read_to_string(root.join("lab/smoke/smoke-hugetlb.c"))
        .map_err(|e| Trouble(format!("lab/smoke/smoke-hugetlb.c: {e}")))?;
    fs::write(&smoke_c, smoke_src).map_err(|e| Trouble(format!("{e}")))?;
    let smoke_bin = repro_dir.join(SMOKE);
    programs.push(Program {
        name: SMOKE.to_string(),
        file: None,
        scenario: None,
        binary: compile(&smoke_c, &smoke_bin).map(|_| smoke_bin.clone()),
    });
    for (f, s) in &scenarios {
        let name = f
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "scenario".into());
        eprintln!("lab: reproducer for {}", f.display());
        let binary = reproducer(f, &repro_dir, &name);
        if let Err(e) = &binary {
            eprintln!("lab: {name}: {e}");
        }
        programs.push(Program {
            name,
            file: Some(f.clone()),
            scenario: Some(s.clone()),
            binary,
        });
    }
    let runnable: Vec<(String, Vec<u8>)> = programs
        .iter()
        .filter_map(|p| {
            let b = p.binary.as_ref().ok()?;
            Some((p.name.clone(), fs::read(b).ok()?))
        })
        .collect();
    let names: Vec<String> = runnable.iter().map(|(n, _)| n.clone()).collect();
    let initrd = a.out.join("initramfs.cpio");
    let settings = initramfs::InitSettings {
        hugepages_2m: a.hugepages,
        per_repro_secs: a.per_repro_secs,
    };
    fs::write(&initrd, initramfs::build(&busybox, &runnable, &settings))
        .map_err(|e| Trouble(format!("{}: {e}", initrd.display())))?;

    // Kernels.
    let fragment = fs::read_dir(root.join("lab/config"))
        .map_err(|e| Trouble(format!("lab/config: {e}")))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "config"))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|p| fs::read_to_string(&p).map_err(|e| Trouble(format!("{}: {e}", p.display()))))
        .collect::<Result<Vec<_>, _>>()?
        .join("\n");
    let mut all_patch_texts = BTreeMap::new();
    for k in kernel::KERNELS {
        for p in k.patches {
            let path = root.join("lab/patches/6.12").join(p);
            let t = fs::read_to_string(&path)
                .map_err(|e| Trouble(format!("{}: {e}", path.display())))?;
            all_patch_texts.insert(p.to_string(), t);
        }
    }
    let mut all_patched: Vec<String> = all_patch_texts
        .values()
        .flat_map(|t| kernel::patched_files(t))
        .collect();
    all_patched.sort();
    all_patched.dedup();
    let cache = kernel::Cache {
        root: a.cache.clone(),
    };
    let lock = cache.lock()?;
    let source = cache.unpack(&all_patched)?;
    let opts = kernel::BuildOpts {
        cc: a.cc.clone(),
        fragment,
        jobs: a.jobs,
    };
    // Base first: the others start from a copy of it.
    let mut order: Vec<&kernel::KernelVariant> = kernels.clone();
    order.sort_by_key(|k| k.name != "base");
    if !order.iter().any(|k| k.name == "base") {
        // The patched kernels start from it: build it too (not booted).
        order.insert(0, kernel::kernel("base").expect("base exists"));
    }
    let base_key = kernel::key(&[], &source, &opts)?;
    let mut builds = BTreeMap::new();
    for k in &order {
        let patches: Vec<(String, String)> = k
            .patches
            .iter()
            .map(|p| (p.to_string(), all_patch_texts[*p].clone()))
            .collect();
        // A patched kernel that needs building starts from the base build
        // when that is current: only what its patches touch is compiled.
        let base_dir = cache.build_dir("base", &a.cc);
        let seed = (k.name != "base" && kernel::is_current(&cache, "base", &a.cc, &base_key))
            .then_some(base_dir.as_path());
        let b = kernel::build(&cache, k, &patches, &all_patched, &source, &opts, seed)?;
        builds.insert(k.name, b);
    }
    drop(lock);
    if a.build_only {
        for k in &kernels {
            say(
                a,
                &format!(
                    "lab: {} ready: {}",
                    k.name,
                    builds[k.name].bzimage.display()
                ),
            );
        }
        say(a, &format!("lab: initramfs: {}", initrd.display()));
        return Ok(EXIT_AGREE);
    }

    // Boots.
    let machine = machine_for(
        &programs
            .iter()
            .filter(|p| p.binary.is_ok())
            .filter_map(|p| p.scenario.as_ref())
            .collect::<Vec<_>>(),
        a.memory_mb,
    );
    let mut cells = Vec::new();
    let mut boots = Vec::new();
    let mut trouble = Vec::new();
    for k in &kernels {
        let b = &builds[k.name];
        let (judged, rep) = if names.is_empty() {
            (BTreeMap::new(), BootReport::default())
        } else {
            boot_kernel(a, &machine, b, &initrd, &names)
        };
        for o in &rep.outside {
            trouble.push(format!("{}: {o}", k.name));
        }
        for p in &programs {
            let model = match &p.scenario {
                Some(s) => predict(s, k.model),
                None => Prediction {
                    variant: k.model.to_string(),
                    expect: "PASS".into(),
                    signatures: vec![],
                },
            };
            let j = match (&p.binary, judged.get(&p.name)) {
                (Err(e), _) => Judged {
                    outcome: Outcome::Error,
                    evidence: vec![e.clone()],
                    alarms: vec![],
                    exit: None,
                    seconds: None,
                },
                (Ok(_), Some(j)) => j.clone(),
                (Ok(_), None) => Judged {
                    outcome: Outcome::Error,
                    evidence: vec!["not run: the kernel did not get to it".into()],
                    alarms: vec![],
                    exit: None,
                    seconds: None,
                },
            };
            if j.outcome == Outcome::Error {
                trouble.push(format!(
                    "{} on {}: {}",
                    p.name,
                    k.name,
                    j.evidence.first().cloned().unwrap_or_default()
                ));
            }
            let agree = agrees(&model.expect, j.outcome);
            cells.push(Cell {
                file: p
                    .file
                    .as_ref()
                    .map(|f| f.display().to_string())
                    .unwrap_or_else(|| format!("{SMOKE} (lab self-check)")),
                kernel: k.name.to_string(),
                outcome: j.outcome,
                model,
                agree,
                evidence: j.evidence.clone(),
                alarms: j.alarms.iter().map(|x| x.name().to_string()).collect(),
                exit: j.exit,
                seconds: j.seconds,
            });
        }
        boots.push(rep);
    }
    let disagreements = cells.iter().filter(|c| c.agree == Some(false)).count();
    let exit = if disagreements > 0 {
        EXIT_DISAGREE
    } else if !trouble.is_empty() {
        EXIT_TROUBLE
    } else {
        EXIT_AGREE
    };
    let report = Report {
        source,
        kernels: kernels.iter().map(|k| builds[k.name].clone()).collect(),
        boots,
        cells,
        disagreements,
        trouble,
        exit,
    };
    let json = serde_json::to_string_pretty(&report).expect("serialisable");
    let _ = fs::write(a.out.join("lab.json"), &json);
    if a.json {
        println!("{json}");
    } else {
        print!(
            "{}",
            render(&report, &kernels.iter().map(|k| k.name).collect::<Vec<_>>())
        );
    }
    Ok(exit)
}

/// The table as text: one row per file, one column per kernel, each cell
/// `kernel/model`, then the evidence of every cell that is not a plain
/// PASS, and every disagreement again, loudly.
pub fn render(r: &Report, kernels: &[&str]) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "kernel lab: {} under qemu (TCG); model: io_uring at 7.1-rc1 and its variants\n",
        r.source.split(" sha256:").next().unwrap_or(&r.source)
    ));
    for b in &r.kernels {
        s.push_str(&format!(
            "  {:<14} {} {}\n",
            b.name,
            if b.reused {
                "build reused".to_string()
            } else {
                format!(
                    "built in {:.0} s{}",
                    b.build_secs,
                    if b.seeded_from_base {
                        " (from base)"
                    } else {
                        ""
                    }
                )
            },
            b.cc
        ));
    }
    for b in &r.boots {
        s.push_str(&format!(
            "  {:<14} boot+run {:.0} s in {} boot(s){}\n",
            b.kernel,
            b.wall_secs,
            b.logs.len(),
            b.boot_secs
                .map(|x| format!(", init up after {x:.1} s"))
                .unwrap_or_default()
        ));
    }
    let files: Vec<&str> = {
        let mut v: Vec<&str> = Vec::new();
        for c in &r.cells {
            if !v.contains(&c.file.as_str()) {
                v.push(&c.file);
            }
        }
        v
    };
    let short = |f: &str| -> String {
        Path::new(f)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| f.to_string())
    };
    let w = files
        .iter()
        .map(|f| short(f).len())
        .max()
        .unwrap_or(4)
        .max(4);
    s.push_str(&format!("\n{:<w$}", "file"));
    for k in kernels {
        s.push_str(&format!("  {:<22}", format!("{k} (kernel/model)")));
    }
    s.push('\n');
    for f in &files {
        s.push_str(&format!("{:<w$}", short(f)));
        for k in kernels {
            let cell = r.cells.iter().find(|c| c.file == *f && c.kernel == *k);
            let txt = match cell {
                Some(c) => format!(
                    "{}/{}{}",
                    c.outcome.name(),
                    c.model.expect,
                    match c.agree {
                        Some(true) => "",
                        Some(false) => " DISAGREE",
                        None => " ?",
                    }
                ),
                None => "-".into(),
            };
            s.push_str(&format!("  {txt:<22}"));
        }
        s.push('\n');
    }
    let mut ev = String::new();
    for c in &r.cells {
        if c.outcome == Outcome::Pass && c.agree != Some(false) {
            continue;
        }
        ev.push_str(&format!(
            "\n{} on {}: {} (exit {}, {}), model {} {}\n",
            short(&c.file),
            c.kernel,
            c.outcome.name(),
            c.exit.map_or("-".into(), |x| x.to_string()),
            c.seconds.map_or("-".into(), |x| format!("{x:.1} s")),
            c.model.variant,
            if c.model.signatures.is_empty() {
                "predicts no finding".to_string()
            } else {
                format!("predicts {}", c.model.signatures.join(", "))
            }
        ));
        for l in c.evidence.iter().take(14) {
            ev.push_str(&format!("    | {l}\n"));
        }
    }
    if !ev.is_empty() {
        s.push_str("\nevidence:");
        s.push_str(&ev);
    }
    for c in r.cells.iter().filter(|c| c.agree == Some(false)) {
        s.push_str(&format!(
            "\nDISAGREEMENT: {} on {}: the kernel says {}, the model ({}) says {}\n",
            short(&c.file),
            c.kernel,
            c.outcome.name(),
            c.model.variant,
            c.model.expect
        ));
    }
    for t in &r.trouble {
        s.push_str(&format!("\ntrouble: {t}\n"));
    }
    s.push_str(&format!(
        "\n{} cells, {} agree, {} disagree, {} not judged\n",
        r.cells.len(),
        r.cells.iter().filter(|c| c.agree == Some(true)).count(),
        r.disagreements,
        r.cells.iter().filter(|c| c.agree.is_none()).count()
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_gib_pages_get_memory_and_a_boot_reservation() {
        let load = |p: &str| crate::corpus::load(&project_root().join(p)).unwrap();
        let small = load("corpus/findings/rfc-v1/rfc-v1--invariant-coverage-length.toml");
        assert_eq!(
            machine_for(&[&small], 1024),
            Machine {
                memory_mb: 1024,
                cmdline: String::new()
            }
        );
        let mut big = small.clone();
        big.folios[0].kind = crate::scenario::FolioKindSpec::HugetlbPud;
        let m = machine_for(&[&small, &big], 1024);
        assert_eq!(m.cmdline, " hugepagesz=1G hugepages=1");
        assert!(m.memory_mb >= 2048 + 512);
    }

    #[test]
    fn agreement_rules() {
        assert_eq!(agrees("PASS", Outcome::Pass), Some(true));
        assert_eq!(agrees("PASS", Outcome::Fail), Some(false));
        assert_eq!(agrees("PASS", Outcome::Hang), Some(false));
        assert_eq!(agrees("FAIL", Outcome::Fail), Some(true));
        assert_eq!(agrees("FAIL", Outcome::Hang), Some(true));
        assert_eq!(agrees("FAIL", Outcome::Pass), Some(false));
        assert_eq!(agrees("FAIL", Outcome::Skip), None);
        assert_eq!(agrees("PASS", Outcome::Error), None);
    }

    #[test]
    fn model_predicts_the_rfc_findings_and_a_clean_base() {
        let dir = project_root().join("corpus/findings/rfc-v1");
        let files = expand(&[dir]).unwrap();
        assert_eq!(files.len(), 4);
        for f in files {
            let s = crate::corpus::load(&f).unwrap();
            assert_eq!(predict(&s, "upstream").expect, "PASS", "{}", f.display());
            assert_eq!(
                predict(&s, "rfc-v1-fixed").expect,
                "PASS",
                "{}",
                f.display()
            );
        }
        let s = crate::corpus::load(
            &project_root().join("corpus/findings/rfc-v1/rfc-v1--invariant-coverage-length.toml"),
        )
        .unwrap();
        let p = predict(&s, "rfc-v1");
        assert_eq!(p.expect, "FAIL");
        assert!(p
            .signatures
            .iter()
            .any(|x| x == "rfc-v1:invariant:coverage/length"));
    }

    #[test]
    fn table_shows_disagreement_loudly() {
        let cell = |k: &str, o: Outcome, e: &str| Cell {
            file: "corpus/findings/rfc-v1/x.toml".into(),
            kernel: k.into(),
            outcome: o,
            model: Prediction {
                variant: k.into(),
                expect: e.into(),
                signatures: vec![],
            },
            agree: agrees(e, o),
            evidence: vec!["BUG: KASAN: slab-out-of-bounds in iov_iter_advance".into()],
            alarms: vec![],
            exit: Some(1),
            seconds: Some(1.0),
        };
        let r = Report {
            source: "linux-source-6.12 6.12.117-1~deb12u1 sha256:ab".into(),
            kernels: vec![],
            boots: vec![],
            cells: vec![
                cell("base", Outcome::Pass, "PASS"),
                cell("rfc-v1", Outcome::Pass, "FAIL"),
            ],
            disagreements: 1,
            trouble: vec![],
            exit: 1,
        };
        let t = render(&r, &["base", "rfc-v1"]);
        assert!(t.contains("x.toml"));
        assert!(t.contains("PASS/PASS"));
        assert!(t.contains("PASS/FAIL DISAGREE"));
        assert!(t.contains(
            "DISAGREEMENT: x.toml on rfc-v1: the kernel says PASS, the model (rfc-v1) says FAIL"
        ));
        assert!(t.contains("2 cells, 1 agree, 1 disagree, 0 not judged"));
    }
}
