//! `minimize`, `explain`, `list` and `fuzz`: the subcommands that work on
//! one file, or on none.
//!
//! Each returns its exit code (0 no finding, 1 finding, 2 trouble) and
//! writes to the `out` it is given, so a closed pipe is not a panic.

use super::{
    ExhaustCmd, ExplainArgs, FuzzCmd, MinimizeArgs, EXIT_CLEAN, EXIT_FINDING, EXIT_TROUBLE,
};
use crate::corpus;
use crate::oracle::{check, INVARIANTS};
use crate::report::json::{self, ErrorLine, ExplainLine, Head};
use crate::report::{explain_with, replay_command};
use crate::scenario::{Scenario, ScenarioSize};
use crate::variants::{self, Variant};
use std::io::Write;

/// The variant a file is about: the one its note starts with (a campaign
/// writes `variant:kind:name: found by …`), else the first with findings in
/// its `expect` table in the order of `variants::all()` (current patches
/// before historical reverts, which share many layouts), else rfc-v1.
fn default_variant(s: &Scenario) -> &'static str {
    let noted = s
        .note
        .as_deref()
        .and_then(|n| n.split(':').next())
        .and_then(variants::by_name);
    noted
        .or_else(|| {
            variants::all().find(|v| {
                s.expect
                    .get(v.name())
                    .is_some_and(|sigs| sigs.iter().any(|g| !g.ends_with(" (known)")))
            })
        })
        .map_or("rfc-v1", |v| v.name())
}

fn variant(name: &str) -> &'static dyn Variant {
    variants::by_name(name).expect("checked by the argument parser")
}

fn primary(s: &Scenario, v: &dyn Variant, against: &dyn Variant, known: bool) -> Option<String> {
    check(s, v, against)
        .ok()
        .and_then(|(verdict, _, _)| verdict.show_known(known).primary())
}

fn size_text(z: &ScenarioSize) -> String {
    format!(
        "{} segments ({} mappings), {} folios, {} ops, {} iovecs, {} fault points",
        z.segments, z.mappings, z.folios, z.ops, z.iovecs, z.faults
    )
}

/// `regbuf-fuzz minimize`.
pub fn minimize(a: &MinimizeArgs, out: &mut dyn Write) -> i32 {
    let s = match corpus::load(&a.file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("regbuf-fuzz minimize: {e}");
            return EXIT_TROUBLE;
        }
    };
    let v = variant(a.variant.as_deref().unwrap_or_else(|| default_variant(&s)));
    let against = variant(&a.against);
    let Some(want) = primary(&s, v, against, a.known) else {
        eprintln!(
            "regbuf-fuzz minimize: {} shows no finding for {} against {}: nothing to keep",
            a.file.display(),
            v.name(),
            against.name()
        );
        return EXIT_CLEAN;
    };
    // The same steps as the campaign's: minimize, real geometry when the
    // finding survives it, `expect` for every variant.
    let (small, is_real) = crate::campaign::minimise_finding(&s, v, against, a.known);
    let geometry_note = if is_real {
        String::new()
    } else {
        " (kept at small geometry: the finding changes at real geometry)".to_string()
    };
    let text = small.to_toml();
    let replay = replay_command(a.out.as_deref(), v.name(), against.name());
    let mut report = format!(
        "keeps {} for {} against {}\nbefore: {}\nafter:  {}{geometry_note}\n",
        want,
        v.name(),
        against.name(),
        size_text(&s.size()),
        size_text(&small.size())
    );
    match &a.out {
        Some(path) => {
            if let Err(e) = std::fs::write(path, &text) {
                eprintln!("regbuf-fuzz minimize: cannot write {}: {e}", path.display());
                return EXIT_TROUBLE;
            }
            report.push_str(&format!("written to {}\n{replay}\n", path.display()));
            let _ = out.write_all(report.as_bytes());
        }
        None => {
            eprint!("{report}");
            let _ = out.write_all(text.as_bytes());
        }
    }
    EXIT_FINDING
}

/// `regbuf-fuzz explain`.
pub fn explain(a: &ExplainArgs, out: &mut dyn Write) -> i32 {
    let (text, s) = match corpus::load_with_text(&a.file) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("regbuf-fuzz explain: {e}");
            if a.json {
                let _ = json::emit(out, &ErrorLine::corpus("explain", &e));
            }
            return EXIT_TROUBLE;
        }
    };
    let v = variant(a.variant.as_deref().unwrap_or_else(|| default_variant(&s)));
    let against = variant(&a.against);
    let verdict = if a.json {
        match json::outcome(&s, v, against) {
            Ok((outcome, verdict)) => {
                let line = ExplainLine {
                    head: Head::new("explain", "result"),
                    file: a.file.display().to_string(),
                    variant: v.name().to_string(),
                    against: against.name().to_string(),
                    note: s.note.clone(),
                    outcome,
                    findings: json::findings(&verdict.findings),
                    known: json::findings(&verdict.known),
                    replay: replay_command(Some(&a.file), v.name(), against.name()),
                };
                let _ = json::emit(out, &line);
                Ok(verdict)
            }
            Err(e) => {
                let e = corpus::scenario_error(&a.file, &text, &e);
                eprintln!("regbuf-fuzz explain: {e}");
                let _ = json::emit(out, &ErrorLine::corpus("explain", &e));
                Err(())
            }
        }
    } else {
        let _ = out.write_all(explain_with(&s, v, against, Some(&a.file)).as_bytes());
        check(&s, v, against)
            .map(|(verdict, _, _)| verdict)
            .map_err(|_| ())
    };
    match verdict {
        Ok(verdict) if a.known && verdict.known.is_empty() && verdict.is_clean() => EXIT_CLEAN,
        Ok(verdict) if !a.known && verdict.is_clean() => EXIT_CLEAN,
        Ok(_) => EXIT_FINDING,
        Err(()) => EXIT_TROUBLE,
    }
}

/// `regbuf-fuzz repro`.
pub fn repro(a: &super::ReproArgs, out: &mut dyn Write) -> i32 {
    let s = match corpus::load(&a.file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("regbuf-fuzz repro: {e}");
            return EXIT_TROUBLE;
        }
    };
    let v = variant(a.variant.as_deref().unwrap_or_else(|| default_variant(&s)));
    let program = match crate::repro::emit(&a.file, &s, v) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("regbuf-fuzz repro: {}: {e}", a.file.display());
            return EXIT_TROUBLE;
        }
    };
    match &a.out {
        Some(path) => {
            if let Err(e) = std::fs::write(path, &program.source) {
                eprintln!("regbuf-fuzz repro: cannot write {}: {e}", path.display());
                return EXIT_TROUBLE;
            }
            let _ = writeln!(
                out,
                "{}: {} operations; build and run as root:\n  gcc -Wall -O2 -o repro {} && sudo ./repro",
                path.display(),
                program.ops,
                crate::report::shell_quote(&path.display().to_string())
            );
        }
        None => {
            let _ = out.write_all(program.source.as_bytes());
        }
    }
    EXIT_CLEAN
}

/// `regbuf-fuzz report`.
pub fn report(a: &super::ReportArgs, out: &mut dyn Write) -> i32 {
    let s = match corpus::load(&a.file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("regbuf-fuzz report: {e}");
            return EXIT_TROUBLE;
        }
    };
    let v = variant(a.variant.as_deref().unwrap_or_else(|| default_variant(&s)));
    let up = variant("upstream");
    let text = match crate::report::mail(&a.file, &s, v) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("regbuf-fuzz report: {}: {e}", a.file.display());
            return EXIT_TROUBLE;
        }
    };
    if let Some(path) = &a.svg {
        let written = crate::report::svg(&s, v).and_then(|svg| {
            std::fs::write(path, svg).map_err(|e| format!("cannot write {}: {e}", path.display()))
        });
        if let Err(e) = written {
            eprintln!("regbuf-fuzz report: {e}");
            return EXIT_TROUBLE;
        }
    }
    let _ = out.write_all(text.as_bytes());
    match check(&s, v, up) {
        Ok((verdict, _, _)) if verdict.is_clean() => EXIT_CLEAN,
        Ok(_) => EXIT_FINDING,
        Err(_) => EXIT_TROUBLE,
    }
}

/// `regbuf-fuzz list`.
pub fn list(out: &mut dyn Write) -> i32 {
    let mut o = String::from("VARIANTS\n");
    let width = variants::names().iter().map(|n| n.len()).max().unwrap_or(0);
    for v in variants::all() {
        o.push_str(&format!("  {:<width$}  {}\n", v.name(), v.summary()));
        for k in v.known_bugs() {
            o.push_str(&format!(
                "  {:<width$}    known bug {}: {} (fixed by {}); set aside unless --known\n",
                "", k.aspect, k.summary, k.fixed_by
            ));
        }
    }
    o.push_str("\nINVARIANTS (checked on each variant after every operation)\n");
    for i in INVARIANTS {
        o.push_str(&format!("  {}\n", i.name));
        let rule: Vec<&str> = i.rule.split_whitespace().collect();
        let mut line = String::new();
        for word in rule {
            if !line.is_empty() && line.len() + 1 + word.len() > 86 {
                o.push_str(&format!("      {line}\n"));
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        if !line.is_empty() {
            o.push_str(&format!("      {line}\n"));
        }
    }
    o.push_str("\nGEOMETRIES (`geometry = ...` in a scenario file)\n");
    for (name, g) in crate::mm::Geometry::NAMED {
        o.push_str(&format!(
            "  {name:<11} {}\n",
            crate::report::geometry_sizes(&g)
        ));
    }
    o.push_str("\nFAULT POINTS (allocation sites: `site = ...` in [faults]; each call asks for its C size)\n");
    let sw = crate::mm::AllocSite::ALL
        .iter()
        .map(|s| s.file_name().len())
        .max()
        .unwrap_or(0);
    for site in crate::mm::AllocSite::ALL {
        let (allocator, size) = site.size_rule();
        let limit = match allocator {
            crate::mm::Allocator::Kvmalloc => "kvmalloc, refused over INT_MAX",
            crate::mm::Allocator::Kmalloc => "kmalloc, refused over KMALLOC_MAX_SIZE",
        };
        o.push_str(&format!(
            "  {:<sw$}  {site}: {size}; {limit}{}\n",
            site.file_name(),
            if site.failure_is_tolerated() {
                "; a failure here is survived"
            } else {
                ""
            }
        ));
    }
    o.push_str(
        "  and, not allocations:\n  \
         gup                 { fail = \"gup\", nth, pinned, errno }: pin_user_pages_fast call nth stops after `pinned` pages with ENOMEM, EBUSY or EAGAIN (FOLL_LONGTERM migration)\n  \
         gup_split           { fail = \"gup_split\", nth }: pin_user_pages_fast call nth splits each unpinned THP and mTHP it reaches and pins order-0 pages (FOLL_LONGTERM migration with no THP free)\n  \
         copy_from_user      { fail = \"copy_from_user\", nth }: iovec read nth of the run faults (-EFAULT); the live check does this for real\n",
    );
    o.push_str("\nOVERRIDABLE FUNCTIONS (a variant replaces any of these at every call site, GUP's included; the rest of the path is 7.1-rc1's)\n");
    for h in variants::HOOKS {
        o.push_str(&format!("  {h}\n"));
    }
    let _ = out.write_all(o.as_bytes());
    EXIT_CLEAN
}

/// `regbuf-fuzz fuzz`: hands the flags to the campaign.
pub fn fuzz(a: &FuzzCmd) -> i32 {
    let seed = a.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    });
    let args = crate::campaign::FuzzArgs {
        variant: a.variant.clone(),
        against: a.against.clone(),
        seed,
        time: a.time,
        runs: a.runs,
        jobs: a.jobs,
        out: a.out.clone(),
        json: a.json,
        faults: !a.no_faults,
        kbufs: !a.no_kbufs,
        stop_on_first: a.stop_on_first,
        known: a.known,
        geometries: a.geometry.clone(),
    };
    crate::campaign::run_cli(&args)
}

/// `regbuf-fuzz exhaust`: hands the flags to the exhaustive search.
pub fn exhaust(a: &ExhaustCmd) -> i32 {
    use crate::exhaust::{space::Offsets, Bound, ExhaustArgs, PairSpans};
    // Kinds in one fixed order, so the same set is the same bound.
    let kinds = crate::exhaust::space::Kind::ALL
        .into_iter()
        .filter(|k| a.kinds.contains(k))
        .collect();
    let bound = Bound {
        chunks: a.chunks,
        folios: a.folios,
        kinds,
        cuts: a.cuts.0.clone(),
        max_len_pages: a
            .max_len_pages
            .unwrap_or(a.chunks * crate::exhaust::space::CHUNK),
        offsets: if a.offsets == "page" {
            Offsets::Page
        } else {
            Offsets::Edge
        },
        buffers: a.buffers,
        pair_spans: if a.pair_spans == "page" {
            PairSpans::Page
        } else {
            PairSpans::Chunk
        },
        faults: a.faults == "single",
        reduce: !a.no_symmetry,
    };
    crate::exhaust::run_cli(&ExhaustArgs {
        variant: a.variant.clone(),
        against: a.against.clone(),
        bound,
        jobs: a.jobs,
        out: a.out.clone(),
        json: a.json,
        stop_on_first: a.stop_on_first,
    })
}

/// `regbuf-fuzz import-artifact`.
pub fn import_artifact(a: &super::ImportArtifactArgs, out: &mut dyn Write) -> i32 {
    let bytes = match std::fs::read(&a.artifact) {
        Ok(b) => b,
        Err(e) => {
            eprintln!(
                "regbuf-fuzz import-artifact: cannot read {}: {e}",
                a.artifact.display()
            );
            return EXIT_TROUBLE;
        }
    };
    let default = if a.target == "differential" {
        "rfc-v1"
    } else {
        "upstream"
    };
    let v = variant(a.variant.as_deref().unwrap_or(default));
    // fault_injection runs one variant against itself.
    let against = if a.target == "differential" {
        variant(&a.against)
    } else {
        v
    };
    let Some(s) = crate::targets::scenario_of(&a.target, &bytes, v) else {
        eprintln!("regbuf-fuzz import-artifact: unknown target `{}`", a.target);
        return EXIT_TROUBLE;
    };
    let Some(sig) = primary(&s, v, against, false) else {
        let _ = writeln!(
            out,
            "{}: no finding for {} against {} (is --variant what the target ran?)",
            a.artifact.display(),
            v.name(),
            against.name()
        );
        return EXIT_CLEAN;
    };
    let (mut min, is_real) = crate::campaign::minimise_finding(&s, v, against, false);
    let name = crate::campaign::file_name(v.name(), &sig);
    let path = if a.out.is_dir() {
        a.out.join(name)
    } else {
        a.out.clone()
    };
    min.note.get_or_insert_with(|| {
        format!(
            "{sig}: from cargo-fuzz target `{}` artifact {}, minimised.",
            a.target,
            a.artifact
                .file_name()
                .map_or_else(String::new, |f| f.to_string_lossy().into_owned())
        )
    });
    if let Err(e) = std::fs::write(&path, min.to_toml()) {
        eprintln!(
            "regbuf-fuzz import-artifact: cannot write {}: {e}",
            path.display()
        );
        return EXIT_TROUBLE;
    }
    let _ = writeln!(out, "finding: {sig}");
    let _ = writeln!(
        out,
        "  minimised: {} ({} geometry)",
        size_text(&min.size()),
        if is_real { "real" } else { "small" }
    );
    let _ = writeln!(out, "  written: {}", path.display());
    let _ = writeln!(
        out,
        "  replay: regbuf-fuzz replay {} --variant {} --against {}",
        path.display(),
        v.name(),
        against.name()
    );
    EXIT_FINDING
}

/// `regbuf-fuzz seed-corpus`.
pub fn seed_corpus(a: &super::SeedCorpusArgs, out: &mut dyn Write) -> i32 {
    if let Err(e) = std::fs::create_dir_all(&a.out) {
        eprintln!(
            "regbuf-fuzz seed-corpus: cannot create {}: {e}",
            a.out.display()
        );
        return EXIT_TROUBLE;
    }
    let seeds = crate::targets::seeds::seed_inputs(a.seed, a.runs);
    for s in &seeds {
        let path = a.out.join(&s.name);
        if let Err(e) = std::fs::write(&path, &s.bytes) {
            eprintln!(
                "regbuf-fuzz seed-corpus: cannot write {}: {e}",
                path.display()
            );
            return EXIT_TROUBLE;
        }
        let _ = writeln!(
            out,
            "{}: iteration {}, {} bytes",
            path.display(),
            s.iteration,
            s.bytes.len()
        );
    }
    let _ = writeln!(
        out,
        "{} seed inputs from the first {} draws of seed {}",
        seeds.len(),
        a.runs,
        a.seed
    );
    EXIT_CLEAN
}
