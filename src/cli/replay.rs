//! `regbuf-fuzz replay`: run scenario files and say what they show.
//!
//! Without `--variant` a file is checked against its own `expect` table
//! (matches / DIFFERS per variant); with it, the named variants run against
//! `--against`. Text or one JSON object per result line.

use super::{ReplayArgs, EXIT_CLEAN, EXIT_FINDING, EXIT_TROUBLE};
use crate::corpus::{self, CorpusError, Replayed};
use crate::oracle::{check, Verdict};
use crate::report::json::{self, ErrorLine, Head, ReplayResult};
use crate::report::{also_summaries, finding_summary, replay_command};
use crate::scenario::Scenario;
use crate::variants;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Runs `replay`; returns the exit code.
pub fn run(a: &ReplayArgs, out: &mut dyn Write) -> i32 {
    let mut trouble = false;
    let mut finding = false;
    let mut files: Vec<PathBuf> = Vec::new();
    for p in &a.paths {
        if p.is_dir() {
            match corpus::files(p) {
                Ok(f) if f.is_empty() => {
                    eprintln!("regbuf-fuzz replay: no *.toml files under {}", p.display())
                }
                Ok(f) => files.extend(f),
                Err(e) => {
                    report_error(a, out, &e);
                    trouble = true;
                }
            }
        } else {
            files.push(p.clone());
        }
    }
    for file in &files {
        let (text, s) = match corpus::load_with_text(file) {
            Ok(x) => x,
            Err(e) => {
                report_error(a, out, &e);
                trouble = true;
                continue;
            }
        };
        if a.bless {
            let mut blessed = s.clone();
            blessed.expect = crate::campaign::expectations(&s);
            if let Err(e) = std::fs::write(file, blessed.to_toml()) {
                eprintln!("regbuf-fuzz replay: cannot write {}: {e}", file.display());
                trouble = true;
                continue;
            }
            let _ = writeln!(out, "{}: expect table written", file.display());
            for (v, sigs) in &blessed.expect {
                finding |= sigs.iter().any(|g| a.known || !g.ends_with(" (known)"));
                let _ = writeln!(
                    out,
                    "  {v:<10} {}",
                    if sigs.is_empty() {
                        "no finding".to_string()
                    } else {
                        sigs.join(", ")
                    }
                );
            }
            continue;
        }
        if a.variants.is_empty() {
            match corpus::replay_scenario(file, &text, &s, &[]) {
                Ok(results) => {
                    if !a.json {
                        let _ = writeln!(out, "{}", file.display());
                    }
                    let mut replays = Vec::new();
                    for r in &results {
                        finding |=
                            !r.verdict.is_clean() || (a.known && !r.verdict.known.is_empty());
                        trouble |= !print_expected(a, out, file, &text, &s, r);
                        if !r.verdict.is_clean() || !r.verdict.known.is_empty() {
                            replays.push(replay_command(Some(file), &r.variant, "upstream"));
                        }
                    }
                    if !a.json {
                        print_replays(out, &replays);
                    }
                }
                Err(e) => {
                    report_error(a, out, &e);
                    trouble = true;
                }
            }
            continue;
        }
        let against = variants::by_name(&a.against).expect("checked by the argument parser");
        let mut replays = Vec::new();
        for name in &a.variants {
            let v = variants::by_name(name).expect("checked by the argument parser");
            let verdict = match check(&s, v, against) {
                Ok((verdict, _, _)) => verdict,
                Err(e) => {
                    report_error(a, out, &corpus::scenario_error(file, &text, &e));
                    trouble = true;
                    continue;
                }
            };
            finding |= !verdict.is_clean() || (a.known && !verdict.known.is_empty());
            let got: Vec<String> = verdict.signatures().into_iter().collect();
            // The file's expectation applies when it was recorded the same way.
            let expected = (a.against == "upstream")
                .then(|| s.expect.get(name))
                .flatten()
                .map(|e| {
                    let mut e = e.clone();
                    e.sort();
                    e.dedup();
                    e
                });
            let replay = replay_command(Some(file), name, &a.against);
            if a.json {
                let line = result_line(file, &text, &s, name, &a.against, expected, got, &verdict);
                match line {
                    Ok(line) => json_line(out, &line),
                    Err(e) => {
                        report_error(a, out, &e);
                        trouble = true;
                    }
                }
                continue;
            }
            let who = if *name == a.against {
                format!("{name} alone (invariants only)")
            } else {
                format!("{name} against {}", a.against)
            };
            let vs = match &expected {
                Some(e) if *e == got => " (matches expected)",
                Some(_) => " (DIFFERS from expected)",
                None => "",
            };
            let _ = writeln!(out, "{}: {who}: {}{vs}", file.display(), count(&verdict));
            if let (Some(e), true) = (&expected, vs.contains("DIFFERS")) {
                print_diff(out, e, &got);
            }
            print_findings(out, &verdict);
            if !verdict.is_clean() || !verdict.known.is_empty() {
                replays.push(replay);
            }
        }
        if !a.json {
            print_replays(out, &replays);
        }
    }
    if trouble {
        EXIT_TROUBLE
    } else if finding {
        EXIT_FINDING
    } else {
        EXIT_CLEAN
    }
}

fn count(v: &Verdict) -> String {
    let n = match v.findings.len() {
        0 => "no finding".into(),
        1 => "1 finding".into(),
        n => format!("{n} findings"),
    };
    match v.known.len() {
        0 => n,
        k => format!(
            "{n}, {k} known bug{} set aside",
            if k == 1 { "" } else { "s" }
        ),
    }
}

/// Prints one expected-table result; false when it cannot be (trouble).
fn print_expected(
    a: &ReplayArgs,
    out: &mut dyn Write,
    file: &Path,
    text: &str,
    s: &Scenario,
    r: &Replayed,
) -> bool {
    if a.json {
        let line = result_line(
            file,
            text,
            s,
            &r.variant,
            "upstream",
            Some(r.expected.clone()),
            r.got.clone(),
            &r.verdict,
        );
        match line {
            Ok(line) => json_line(out, &line),
            Err(e) => {
                report_error(a, out, &e);
                return false;
            }
        }
        return true;
    }
    let state = if r.matches() {
        "matches expected"
    } else {
        "DIFFERS from expected"
    };
    let _ = writeln!(out, "  {:<10} {state}: {}", r.variant, count(&r.verdict));
    if !r.matches() {
        print_diff(out, &r.expected, &r.got);
    }
    print_findings(out, &r.verdict);
    true
}

/// The `--json` line of one file and variant: the verdict given, and each
/// side's run traced again for its buffers' bvecs.
#[allow(clippy::too_many_arguments)]
fn result_line(
    file: &Path,
    text: &str,
    s: &Scenario,
    variant: &str,
    against: &str,
    expected: Option<Vec<String>>,
    got: Vec<String>,
    verdict: &Verdict,
) -> Result<ReplayResult, CorpusError> {
    let v = variants::by_name(variant).expect("a variant the replay ran");
    let up = variants::by_name(against).expect("checked by the argument parser");
    let (outcome, _) =
        json::outcome(s, v, up).map_err(|e| corpus::scenario_error(file, text, &e))?;
    Ok(ReplayResult {
        head: Head::new("replay", "result"),
        file: file.display().to_string(),
        variant: variant.to_string(),
        against: against.to_string(),
        matches: expected.as_ref().map(|e| *e == got),
        expected,
        got,
        findings: json::findings(&verdict.findings),
        known: json::findings(&verdict.known),
        replay: replay_command(Some(file), variant, against),
        outcome,
    })
}

fn print_diff(out: &mut dyn Write, expected: &[String], got: &[String]) {
    let missing: Vec<&String> = expected.iter().filter(|e| !got.contains(e)).collect();
    let new: Vec<&String> = got.iter().filter(|g| !expected.contains(g)).collect();
    let _ = writeln!(out, "    expected: {expected:?}");
    let _ = writeln!(out, "    got:      {got:?}");
    if !missing.is_empty() {
        let _ = writeln!(out, "    no longer seen: {missing:?}");
    }
    if !new.is_empty() {
        let _ = writeln!(out, "    new: {new:?}");
    }
}

/// Every finding, each with its invariant's other broken aspects under it,
/// then every known bug set aside (marked as such).
fn print_findings(out: &mut dyn Write, v: &Verdict) {
    for f in v.findings.iter().chain(&v.known) {
        let _ = writeln!(out, "    {}", finding_summary(f));
        for a in also_summaries(f) {
            let _ = writeln!(out, "      {a}");
        }
    }
}

/// The commands that reproduce a file's findings, last in its block.
fn print_replays(out: &mut dyn Write, replays: &[String]) {
    if replays.is_empty() {
        return;
    }
    let _ = writeln!(out, "  to reproduce:");
    for r in replays {
        let _ = writeln!(out, "    {r}");
    }
}

fn report_error(a: &ReplayArgs, out: &mut dyn Write, e: &CorpusError) {
    eprintln!("regbuf-fuzz replay: {e}");
    if a.json {
        json_line(out, &ErrorLine::corpus("replay", e));
    }
}

fn json_line<T: serde::Serialize>(out: &mut dyn Write, v: &T) {
    if let Err(e) = json::emit(out, v) {
        eprintln!("regbuf-fuzz replay: cannot write JSON: {e}");
    }
}
