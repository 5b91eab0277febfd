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

mod boot;
pub mod config;
pub mod initramfs;
pub mod kernel;
pub mod log;
mod predict;
mod programs;
mod table;

use boot::boot_kernel;
pub use boot::{machine_for, BootReport, Machine};
pub use predict::{agrees, predict, Prediction};
pub use programs::SMOKE;
use programs::{compile, expand, regbuf_fuzz_bin, reproducer, Program};
pub use table::{render, Cell, Report};

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
