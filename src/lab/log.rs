//! Reading a lab VM's serial log: the result lines the init prints around
//! each reproducer, and the kernel messages that make a run a failure
//! whatever the reproducer's exit status says.
//!
//! The init prints, for reproducer `NAME`:
//!
//! ```text
//! REGBUF-START NAME
//! ... the reproducer's own output, and any kernel message meanwhile ...
//! REGBUF-RESULT NAME EXIT SECONDS
//! ```
//!
//! then `REGBUF-DONE` when all have run. A kernel message is attributed to
//! the reproducer whose `START` came last before it; one before the first
//! `START` or after a `RESULT` with no `START` since belongs to the boot.

use serde::Serialize;

/// Printed by init before a reproducer.
pub const START: &str = "REGBUF-START";
/// Printed by init after a reproducer: name, exit status, seconds.
pub const RESULT: &str = "REGBUF-RESULT";
/// Printed by init when every reproducer has run, just before power-off.
pub const DONE: &str = "REGBUF-DONE";
/// Printed by init once the machine is set up (kernel release, huge pages).
pub const BOOTED: &str = "REGBUF-BOOTED";
/// Exit status init reports for a reproducer it killed at its time limit
/// (busybox `timeout -s KILL`: 128 + SIGKILL).
pub const KILLED: i32 = 137;

/// Kinds of kernel message that make a run fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Alarm {
    /// `BUG: KASAN: …` (an out-of-bounds or use-after-free access).
    Kasan,
    /// `BUG: Bad page state …` (a page freed with a count or flag left over).
    BadPage,
    /// `kernel BUG at …`, `BUG: …` other than KASAN and bad page state,
    /// `VM_BUG_ON` dumps (`page dumped because: …`).
    Bug,
    /// `WARNING: CPU: …` (a WARN_ON fired).
    Warning,
    /// `refcount_t: …` (saturation, underflow, use-after-free).
    Refcount,
    /// `Oops:`, `general protection fault`, `Kernel panic`.
    Oops,
    /// A soft lockup or hung task report.
    Lockup,
}

impl Alarm {
    /// The kind's name in reports and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Alarm::Kasan => "kasan",
            Alarm::BadPage => "bad-page",
            Alarm::Bug => "bug",
            Alarm::Warning => "warning",
            Alarm::Refcount => "refcount",
            Alarm::Oops => "oops",
            Alarm::Lockup => "lockup",
        }
    }
}

/// The message text of a console line: without the `[    1.234567] `
/// timestamp and the carriage return a serial console adds.
pub fn message(line: &str) -> &str {
    let l = line.trim_end_matches(['\r', '\n']);
    let t = l.trim_start();
    if let Some(rest) = t.strip_prefix('[') {
        if let Some(close) = rest.find(']') {
            let stamp = &rest[..close];
            if !stamp.is_empty() && stamp.trim().chars().all(|c| c.is_ascii_digit() || c == '.') {
                return rest[close + 1..].trim_start();
            }
        }
    }
    t
}

/// Whether a console line is a kernel message that makes a run fail, and
/// of which kind.
pub fn classify(line: &str) -> Option<Alarm> {
    let m = message(line);
    if m.starts_with("BUG: KASAN:") || m.contains("KASAN: ") && m.contains("BUG") {
        return Some(Alarm::Kasan);
    }
    if m.contains("Bad page state") || m.contains("Bad page map") {
        return Some(Alarm::BadPage);
    }
    if m.contains("soft lockup") || m.contains("blocked for more than") || m.contains("hard LOCKUP")
    {
        return Some(Alarm::Lockup);
    }
    if m.starts_with("refcount_t:") {
        return Some(Alarm::Refcount);
    }
    if m.starts_with("kernel BUG at")
        || m.starts_with("BUG: ")
        || m.starts_with("page dumped because:")
        || m.starts_with("VM_BUG_ON")
    {
        return Some(Alarm::Bug);
    }
    if m.starts_with("WARNING: ") || m.starts_with("------------[ cut here ]------------") {
        // "cut here" precedes both BUG and WARNING; the line after it
        // says which. Only the WARNING line itself is an alarm.
        return if m.starts_with("WARNING: ") {
            Some(Alarm::Warning)
        } else {
            None
        };
    }
    if m.starts_with("Oops:")
        || m.starts_with("general protection fault")
        || m.starts_with("Kernel panic")
        || m.starts_with("---[ end Kernel panic")
    {
        return Some(Alarm::Oops);
    }
    None
}

/// One `REGBUF-RESULT` line.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResultLine {
    /// Reproducer name.
    pub name: String,
    /// Its exit status (137: killed at its time limit).
    pub exit: i32,
    /// Wall-clock seconds inside the VM.
    pub seconds: f64,
}

/// Parses a `REGBUF-RESULT NAME EXIT SECONDS` line (timestamp allowed
/// before it). `None` for any other line, or one with a field missing or
/// not a number.
pub fn parse_result(line: &str) -> Option<ResultLine> {
    let m = message(line);
    let rest = m.strip_prefix(RESULT)?.strip_prefix(' ')?;
    let mut f = rest.split_whitespace();
    let name = f.next()?.to_string();
    let exit = f.next()?.parse().ok()?;
    let seconds = f.next()?.parse().ok()?;
    if f.next().is_some() {
        return None;
    }
    Some(ResultLine {
        name,
        exit,
        seconds,
    })
}

/// The name on a `REGBUF-START NAME` line.
pub fn parse_start(line: &str) -> Option<&str> {
    let m = message(line);
    let name = m.strip_prefix(START)?.strip_prefix(' ')?.trim();
    (!name.is_empty() && !name.contains(' ')).then_some(name)
}

/// What happened to one reproducer in one boot.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Run {
    /// Reproducer name.
    pub name: String,
    /// Its result line, if init printed one.
    pub result: Option<ResultLine>,
    /// Kernel messages while it ran, with the kinds they raise.
    pub alarms: Vec<(Alarm, String)>,
    /// Its own output lines (for the SKIPPED reason and FAIL details).
    pub output: Vec<String>,
    /// Its last output line before the first kernel message: what it was
    /// doing when the kernel complained.
    pub doing: Option<String>,
}

/// A serial log read.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Parsed {
    /// Whether init reported itself set up.
    pub booted: bool,
    /// The `REGBUF-BOOTED` line's text after the marker.
    pub boot_info: String,
    /// Whether init got to the end.
    pub done: bool,
    /// Reproducers in the order they started.
    pub runs: Vec<Run>,
    /// Kernel messages outside any reproducer (boot, or between them).
    pub outside: Vec<(Alarm, String)>,
}

/// Lines of evidence kept per alarm kind and reproducer (the first ones
/// say what happened; a KASAN report is 40 lines).
const KEEP_PER_RUN: usize = 12;

/// Reads a serial log.
pub fn parse(log: &str) -> Parsed {
    let mut p = Parsed::default();
    let mut current: Option<usize> = None;
    let mut last_own: Option<String> = None;
    for raw in log.lines() {
        let line = raw.trim_end_matches('\r');
        let m = message(line);
        if let Some(info) = m.strip_prefix(BOOTED) {
            p.booted = true;
            p.boot_info = info.trim().to_string();
            continue;
        }
        if m == DONE {
            p.done = true;
            current = None;
            continue;
        }
        if let Some(name) = parse_start(line) {
            p.runs.push(Run {
                name: name.to_string(),
                ..Run::default()
            });
            current = Some(p.runs.len() - 1);
            last_own = None;
            continue;
        }
        if let Some(r) = parse_result(line) {
            match current {
                Some(i) if p.runs[i].name == r.name => p.runs[i].result = Some(r),
                _ => {
                    // A result with no start: keep it as a run of its own.
                    p.runs.push(Run {
                        name: r.name.clone(),
                        result: Some(r),
                        ..Run::default()
                    });
                }
            }
            current = None;
            continue;
        }
        let alarm = classify(line);
        match (current, alarm) {
            (Some(i), Some(a)) => {
                let run = &mut p.runs[i];
                if run.alarms.is_empty() {
                    run.doing = last_own.clone();
                }
                if run.alarms.len() < KEEP_PER_RUN {
                    run.alarms.push((a, m.to_string()));
                }
            }
            (Some(i), None) => {
                let run = &mut p.runs[i];
                // The reproducer's own lines only: kernel lines carry a
                // timestamp.
                if m.len() != line.trim().len() {
                    continue;
                }
                last_own = Some(m.to_string());
                if run.output.len() < 200 {
                    run.output.push(m.to_string());
                }
            }
            (None, Some(a)) => {
                if p.outside.len() < KEEP_PER_RUN {
                    p.outside.push((a, m.to_string()));
                }
            }
            (None, None) => {}
        }
    }
    p
}

/// A reproducer's verdict on one kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Outcome {
    /// Exit 0 and no kernel message.
    Pass,
    /// Exit 1, or a kernel message that makes it fail, or the kernel died
    /// while it ran.
    Fail,
    /// Killed at its time limit, or the VM hit its wall-clock limit while
    /// it ran.
    Hang,
    /// Exit 77: it could not build its layout here (the reason is in its
    /// output).
    Skip,
    /// Exit 2 or anything else: the reproducer itself was in trouble.
    Error,
}

impl Outcome {
    /// The verdict as printed.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Pass => "PASS",
            Outcome::Fail => "FAIL",
            Outcome::Hang => "HANG",
            Outcome::Skip => "SKIP",
            Outcome::Error => "ERROR",
        }
    }
}

/// A run judged: its verdict and the lines that show it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Judged {
    /// PASS, FAIL, HANG, SKIP or ERROR.
    pub outcome: Outcome,
    /// Quoted log lines (kernel messages first, then the reproducer's).
    pub evidence: Vec<String>,
    /// Kinds of kernel message seen.
    pub alarms: Vec<Alarm>,
    /// Exit status, when init printed one.
    pub exit: Option<i32>,
    /// Seconds inside the VM, when init printed them.
    pub seconds: Option<f64>,
}

/// Judges one reproducer's run. `vm_timed_out` says whether the whole VM
/// hit its wall-clock limit (a run with no result line in a VM that timed
/// out is a HANG; in one that did not, the kernel died under it: FAIL).
pub fn judge(run: &Run, vm_timed_out: bool) -> Judged {
    let mut alarms: Vec<Alarm> = run.alarms.iter().map(|(a, _)| *a).collect();
    alarms.sort();
    alarms.dedup();
    let mut evidence: Vec<String> = run.alarms.iter().map(|(_, l)| l.clone()).collect();
    if let Some(d) = &run.doing {
        evidence.push(format!("after: {d}"));
    }
    let own = |pred: &dyn Fn(&str) -> bool| -> Vec<String> {
        run.output
            .iter()
            .filter(|l| pred(l))
            .take(6)
            .cloned()
            .collect()
    };
    let (outcome, exit, seconds) = match &run.result {
        None => {
            let o = if vm_timed_out && !alarms.contains(&Alarm::Oops) {
                evidence.push("no result line: the VM hit its wall-clock limit".into());
                Outcome::Hang
            } else {
                evidence.push("no result line: the kernel stopped while it ran".into());
                Outcome::Fail
            };
            (o, None, None)
        }
        Some(r) => {
            let o = if r.exit == KILLED {
                evidence.push(format!("killed at its time limit after {} s", r.seconds));
                Outcome::Hang
            } else if !alarms.is_empty() || r.exit == 1 {
                Outcome::Fail
            } else {
                match r.exit {
                    0 => Outcome::Pass,
                    77 => Outcome::Skip,
                    _ => Outcome::Error,
                }
            };
            (o, Some(r.exit), Some(r.seconds))
        }
    };
    match outcome {
        Outcome::Fail | Outcome::Hang | Outcome::Error => evidence.extend(own(&|l: &str| {
            l.contains("FAIL")
                || l.contains("mismatch")
                || l.contains("differ")
                || l.contains("expected")
                || l.contains("TROUBLE")
        })),
        Outcome::Skip => evidence.extend(own(&|l: &str| l.contains("SKIP"))),
        Outcome::Pass => {}
    }
    Judged {
        outcome,
        evidence,
        alarms,
        exit,
        seconds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KASAN_LOG: &str = "\
[    0.000000] Linux version 6.12.117 (root@lab) (gcc (Debian 12.2.0-14) 12.2.0) #1
[    1.912345] Run /init as init process
REGBUF-BOOTED 6.12.117 hugepages=48
REGBUF-START smoke-hugetlb
PASS: registered and read 2 MiB
REGBUF-RESULT smoke-hugetlb 0 0.41
REGBUF-START rfc-v1--invariant-coverage-length
op 0 (scenario op 0) IORING_REGISTER_BUFFERS: 0
op 1 (probe after scenario op 0) READ_FIXED slot 0: the whole buffer
[    4.100001] ==================================================================
[    4.100002] BUG: KASAN: slab-out-of-bounds in iov_iter_advance+0x1c9/0x1f0
[    4.100003] Read of size 4 at addr ffff88800355e1b8 by task rfc-v1--invar/61
[    4.100004] 
[    4.100005] CPU: 0 UID: 0 PID: 61 Comm: rfc-v1--invar Not tainted 6.12.117 #1
[    4.100006] Call Trace:
[    4.100007]  <TASK>
[    4.100008]  kasan_report+0xb0/0xe0
[    4.100010] ==================================================================
FAIL: op 3 (read_fixed): returned 4194304, expected 4194304; 2097152 bytes differ
REGBUF-RESULT rfc-v1--invariant-coverage-length 1 2.50
REGBUF-DONE
";

    #[test]
    fn kasan_report_fails_the_reproducer_that_ran() {
        let p = parse(KASAN_LOG);
        assert!(p.booted && p.done);
        assert_eq!(p.boot_info, "6.12.117 hugepages=48");
        assert_eq!(p.runs.len(), 2);
        let smoke = judge(&p.runs[0], false);
        assert_eq!(smoke.outcome, Outcome::Pass);
        assert!(smoke.evidence.is_empty());
        let j = judge(&p.runs[1], false);
        assert_eq!(j.outcome, Outcome::Fail);
        assert_eq!(j.alarms, vec![Alarm::Kasan]);
        assert_eq!(
            j.evidence[0],
            "BUG: KASAN: slab-out-of-bounds in iov_iter_advance+0x1c9/0x1f0"
        );
        assert!(j.evidence.iter().any(|l| l.starts_with("FAIL: op 3")));
        assert!(j.evidence.contains(
            &"after: op 1 (probe after scenario op 0) READ_FIXED slot 0: the whole buffer"
                .to_string()
        ));
        assert_eq!(j.exit, Some(1));
        assert!(p.outside.is_empty());
    }

    #[test]
    fn kasan_report_fails_even_with_exit_zero() {
        let log = KASAN_LOG.replace(
            "REGBUF-RESULT rfc-v1--invariant-coverage-length 1 2.50",
            "REGBUF-RESULT rfc-v1--invariant-coverage-length 0 2.50",
        );
        let p = parse(&log);
        assert_eq!(judge(&p.runs[1], false).outcome, Outcome::Fail);
    }

    #[test]
    fn warning_and_refcount_and_bad_page_are_alarms() {
        let log = "\
REGBUF-BOOTED 6.12.117
REGBUF-START rfc-v1--invariant-pins-underflow
op 0 (scenario op 0) IORING_REGISTER_BUFFERS: [seg 1 +0x0 .. seg 3 +0x200000): -EFAULT
[    5.000001] ------------[ cut here ]------------
[    5.000002] WARNING: CPU: 0 PID: 70 at mm/gup.c:116 gup_put_folio+0x1b4/0x1d0
[    5.000003] Modules linked in:
[    5.000004] refcount_t: underflow; use-after-free.
[    5.000005] BUG: Bad page state in process rfc-v1--invar  pfn:03200
[    5.000006] page dumped because: nonzero _refcount
REGBUF-RESULT rfc-v1--invariant-pins-underflow 0 1.00
REGBUF-DONE
";
        let p = parse(log);
        let j = judge(&p.runs[0], false);
        assert_eq!(j.outcome, Outcome::Fail);
        assert_eq!(
            j.alarms,
            vec![Alarm::BadPage, Alarm::Bug, Alarm::Warning, Alarm::Refcount]
        );
        assert_eq!(j.evidence.len(), 5, "{:?}", j.evidence);
        assert!(j.evidence[0].starts_with("WARNING: CPU: 0 PID: 70 at mm/gup.c"));
        assert_eq!(
            j.evidence[4],
            "after: op 0 (scenario op 0) IORING_REGISTER_BUFFERS: [seg 1 +0x0 .. seg 3 +0x200000): -EFAULT"
        );
    }

    #[test]
    fn clean_run_passes_and_skip_keeps_its_reason() {
        let log = "\
[    0.000000] Linux version 6.12.117
REGBUF-BOOTED 6.12.117 hugepages=48
REGBUF-START a
all 12 checks passed
REGBUF-RESULT a 0 0.20
REGBUF-START b
SKIPPED: could reserve 0 of the 1 1 GiB huge pages needed
REGBUF-RESULT b 77 0.01
REGBUF-DONE
";
        let p = parse(log);
        assert!(p.done);
        let a = judge(&p.runs[0], false);
        assert_eq!(
            (a.outcome, a.exit, a.seconds),
            (Outcome::Pass, Some(0), Some(0.2))
        );
        let b = judge(&p.runs[1], false);
        assert_eq!(b.outcome, Outcome::Skip);
        assert_eq!(
            b.evidence,
            vec!["SKIPPED: could reserve 0 of the 1 1 GiB huge pages needed"]
        );
    }

    #[test]
    fn truncated_log_is_a_hang_or_a_death() {
        let log = "\
REGBUF-BOOTED 6.12.117
REGBUF-START a
REGBUF-RESULT a 0 0.20
REGBUF-START b
registering 1 buffer
";
        let p = parse(log);
        assert!(!p.done);
        assert_eq!(judge(&p.runs[1], true).outcome, Outcome::Hang);
        let died = judge(&p.runs[1], false);
        assert_eq!(died.outcome, Outcome::Fail);
        assert!(died.evidence[0].contains("kernel stopped"));
        // A panic while it ran is a FAIL even if the VM then timed out.
        let panicked = format!("{log}[    9.1] Kernel panic - not syncing: Fatal exception\n");
        let p = parse(&panicked);
        let j = judge(&p.runs[1], true);
        assert_eq!(j.outcome, Outcome::Fail);
        assert_eq!(j.alarms, vec![Alarm::Oops]);
    }

    #[test]
    fn killed_reproducer_is_a_hang() {
        let p = parse("REGBUF-START a\nREGBUF-RESULT a 137 120.00\nREGBUF-DONE\n");
        assert_eq!(judge(&p.runs[0], false).outcome, Outcome::Hang);
    }

    #[test]
    fn messages_outside_reproducers_belong_to_the_boot() {
        let p = parse(
            "[    0.5] WARNING: CPU: 0 PID: 1 at arch/x86/kernel/foo.c:1 bar\nREGBUF-START a\nREGBUF-RESULT a 0 1\n",
        );
        assert_eq!(p.outside.len(), 1);
        assert_eq!(p.outside[0].0, Alarm::Warning);
        assert!(p.runs[0].alarms.is_empty());
    }

    #[test]
    fn result_line_parser() {
        assert_eq!(
            parse_result("REGBUF-RESULT x.toml 1 3.25"),
            Some(ResultLine {
                name: "x.toml".into(),
                exit: 1,
                seconds: 3.25
            })
        );
        assert_eq!(
            parse_result("[   12.000001] REGBUF-RESULT x 77 0\r").map(|r| r.exit),
            Some(77)
        );
        assert_eq!(parse_result("REGBUF-RESULT x 1"), None);
        assert_eq!(parse_result("REGBUF-RESULT x one 2"), None);
        assert_eq!(parse_result("REGBUF-RESULT x 1 2 extra"), None);
        assert_eq!(parse_result("REGBUF-RESULTS x 1 2"), None);
        assert_eq!(parse_result("echo REGBUF-RESULT x 1 2"), None);
        assert_eq!(parse_start("REGBUF-START a-b.c"), Some("a-b.c"));
        assert_eq!(parse_start("REGBUF-START "), None);
    }

    #[test]
    fn timestamps_are_stripped_but_text_in_brackets_is_not() {
        assert_eq!(message("[    1.234567] BUG: KASAN: x"), "BUG: KASAN: x");
        assert_eq!(message("[ T1] hello"), "[ T1] hello");
        assert_eq!(message("plain\r"), "plain");
        assert_eq!(
            classify("[    1.0] kernel BUG at mm/gup.c:77!"),
            Some(Alarm::Bug)
        );
        assert_eq!(
            classify("[    1.0] watchdog: BUG: soft lockup - CPU#0 stuck for 22s!"),
            Some(Alarm::Lockup)
        );
        assert_eq!(
            classify(
                "[    1.0] Oops: general protection fault, probably for non-canonical address"
            ),
            Some(Alarm::Oops)
        );
        assert_eq!(classify("FAIL: op 2"), None);
        assert_eq!(
            classify("[    1.0] ------------[ cut here ]------------"),
            None
        );
    }
}
