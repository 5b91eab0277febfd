//! One boot of a lab kernel under qemu: the machine the chosen files
//! need (memory, boot-time huge pages) and the serial log read back.

#[allow(unused_imports)]
use super::*;

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
                .filter(|f| f.kind.sized() == crate::scenario::FolioKindSpec::HugetlbPud)
                // A page a live child maps takes a second one when copied.
                .map(|f| 1 + u32::from(f.child_maps))
                .sum::<u32>()
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
pub(super) fn boot_kernel(
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
