//! The reproducer's header comment, and what the variant's model does at
//! the program's operations (which the mail report quotes too): both from
//! the two model runs of the program's own operations, so the comment
//! describes exactly what the program runs.

use super::{c::label, guards, is_read, Origin, ProgramForm};
use crate::model::World;
use crate::oracle::{compare, Verdict};
use crate::report::{hsize, ranges, ret_text, wrap};
use crate::run::SlotView;
use crate::variants;
use std::fmt::Write;
use std::path::Path;

/// Most statements about the variant listed in a header.
const MAX_EFFECTS: usize = 10;

/// Distinct signatures of a verdict, first seen first.
pub(crate) fn signatures(v: &Verdict) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for f in &v.findings {
        let s = f.signature();
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// The C comment that opens the program.
pub(super) fn comment(file: &Path, form: &ProgramForm) -> String {
    let v = form.variant;
    let up = variants::by_name("upstream").expect("upstream exists");
    let mut t = String::new();
    let para = |t: &mut String, text: &str| {
        for l in wrap(text, 72) {
            let _ = writeln!(t, "{l}");
        }
        t.push('\n');
    };
    let _ = writeln!(t, "regbuf-fuzz reproducer of {}", file.display());
    let _ = writeln!(
        t,
        "Written by `regbuf-fuzz repro {} --variant {}`.\n\nBuild and run as root:\n    gcc -Wall -O2 -o repro repro.c && sudo ./repro\nExit status: 0 PASS, 1 FAIL (what differed is printed), 77 skipped\n(the reason is printed), 2 trouble. `./repro --flip-one-expected-byte`\nexpects one byte wrong on purpose, to see the checker FAIL.\n",
        file.display(),
        v.name()
    );
    if let Some(n) = &form.original.note {
        para(&mut t, &format!("Scenario: {n}"));
    }
    for l in wrap(&format!("Variant: {}: {}", v.name(), v.summary()), 72) {
        let _ = writeln!(t, "{l}");
    }
    for l in wrap(
        &format!("Against: upstream, {}", crate::model::KERNEL_REF),
        72,
    ) {
        let _ = writeln!(t, "{l}");
    }
    // The file's findings as `regbuf-fuzz explain FILE` shows them.
    let explained = crate::report::sides(&form.original, v, up).ok();
    let file_sigs = explained
        .as_ref()
        .map(|sd| signatures(&sd.verdict))
        .unwrap_or_default();
    let prog_sigs = signatures(&compare(&form.upstream, &form.variant_run));
    let list = |s: &[String]| {
        if s.is_empty() {
            "    (none)\n".to_string()
        } else {
            s.iter().map(|x| format!("    {x}\n")).collect()
        }
    };
    let _ = write!(
        t,
        "The model's signatures for this file ({} against upstream):\n{}",
        v.name(),
        list(&file_sigs)
    );
    if prog_sigs != file_sigs {
        let _ = write!(
            t,
            "and for the operations this program runs (real geometry, no\nallocation failures, probes added):\n{}",
            list(&prog_sigs)
        );
    }
    t.push('\n');
    if let Some(sd) = &explained {
        let mut told = Vec::new();
        for f in &sd.verdict.findings {
            if told.contains(&f.signature()) || told.len() == 3 {
                continue;
            }
            told.push(f.signature());
            let seen = f.detail.lines().collect::<Vec<_>>().join("; ");
            para(
                &mut t,
                &format!(
                    "`regbuf-fuzz explain` on the file, {} after op {} {}: {seen}",
                    f.signature(),
                    f.op,
                    f.op_kind
                ),
            );
        }
    }
    let mut how = Vec::new();
    if form.original.geometry != crate::scenario::GeometryName::Real {
        how.push("The file is written at the small geometry; this program runs it at the real one (4 KiB pages, 2 MiB and 1 GiB folios), positions moved as `regbuf-fuzz live` moves them.".to_string());
    }
    if !form.original.faults.points.is_empty() {
        how.push("The file fails allocations inside the kernel; a stock kernel cannot fail those exact calls, so this program runs the operations without them and checks the model's prediction for that.".to_string());
    }
    for h in how {
        para(&mut t, &h);
    }
    let probes = form
        .origins
        .iter()
        .filter(|o| matches!(o, Origin::Probe { .. }))
        .count();
    para(
        &mut t,
        &format!(
            "What it does: builds the layout below as `regbuf-fuzz live` builds it (hugetlb memfd pages mapped MAP_SHARED|MAP_FIXED, shmem pages, THP and mTHP faulted in under MADV_HUGEPAGE and moved with mremap, holes left PROT_NONE), checks through /proc/self/pagemap and /proc/kpageflags that the kernel backed it so, then runs {} operation(s) on a ring ({} of the scenario, {probes} fixed reads and writes probing each registered buffer). Every mapped byte is filled with a known pattern; after each fixed read from a pattern file it checks every byte of every mapping (only the bytes the model names take the file's bytes, at every alias), after each fixed write the bytes the file received; VmPin after each operation; VmPin and HugePages_Free after teardown. It reserves {} spare 2 MiB hugetlb pages, returns the free pages to the pool in an order that puts the layout's 2 MiB folios next to free ones, and maps those neighbours as guard pages, filled with their own pattern and checked with the rest, so I/O that leaves its folio shows as changed bytes. It reserves the huge pages{} it needs and puts the knobs back on exit.",
            form.built.ops.len(),
            form.built.ops.len() - probes,
            guards(form),
            if form.scenario.folios.iter().any(|f| f.kind == crate::scenario::FolioKindSpec::Mthp) {
                " and sets the 16 KiB mTHP knob to madvise"
            } else {
                ""
            }
        ),
    );
    let _ = writeln!(t, "Layout (offsets from a 1 GiB-aligned base):");
    layout(&mut t, form);
    t.push('\n');
    let upstream_ok = form.upstream.ops.iter().all(|o| o.violations.is_empty());
    para(
        &mut t,
        &if upstream_ok {
            format!("Upstream ({}): the model shows no finding, and every expected value in this program is the upstream model's, so on a kernel without the patch it must PASS.", crate::model::KERNEL_REF)
        } else {
            "Upstream: the model itself breaks a rule on these operations (see `regbuf-fuzz explain`); the expected values are its prediction all the same.".into()
        },
    );
    let effects = variant_effects(form);
    if effects.is_empty() {
        para(
            &mut t,
            &format!(
                "A kernel with {}: the model predicts the same return values, bytes and counters at these operations.",
                v.name()
            ),
        );
    } else {
        let _ = writeln!(
            t,
            "A kernel with {} instead (its model, at the same operations):",
            v.name()
        );
        for e in effects.iter().take(MAX_EFFECTS) {
            for (k, l) in wrap(e, 68).iter().enumerate() {
                let _ = writeln!(t, "{} {l}", if k == 0 { "  -" } else { "   " });
            }
        }
        if effects.len() > MAX_EFFECTS {
            let _ = writeln!(
                t,
                "  - and {} more differences.",
                effects.len() - MAX_EFFECTS
            );
        }
    }
    let mut o = String::from("/*\n");
    for l in t.trim_end().lines() {
        let l = l.replace("*/", "* /");
        if l.is_empty() {
            o.push_str(" *\n");
        } else {
            let _ = writeln!(o, " * {l}");
        }
    }
    o.push_str(" */\n");
    o
}

fn layout(t: &mut String, form: &ProgramForm) {
    let Ok(plan) = &form.plan else {
        let _ = writeln!(t, "  (not built by this program: see `unsupported` below)");
        return;
    };
    for (i, s) in plan.segments.iter().enumerate() {
        let what = match s.folio {
            None => "hole (PROT_NONE)".to_string(),
            Some(f) => {
                let pages = (s.bytes as u64) / 4096;
                let alias = plan.segments[..i]
                    .iter()
                    .position(|p| {
                        p.folio == Some(f)
                            && p.first_page < s.first_page + pages as usize
                            && s.first_page < p.first_page + p.bytes / 4096
                    })
                    .map_or(String::new(), |j| format!(", same pages as seg {j}"));
                format!(
                    "folio {f} ({}) pages {}-{}{}{alias}",
                    crate::report::folio_kind(&form.scenario, f as usize),
                    s.first_page,
                    s.first_page as u64 + pages - 1,
                    if s.readonly { ", read-only" } else { "" }
                )
            }
        };
        let _ = writeln!(
            t,
            "  seg {i:<2} +{:<10} {:>8}  {what}",
            format!("{:#x}", s.offset),
            hsize(s.bytes as u64)
        );
    }
}

/// What the variant's model does differently at the program's operations,
/// one statement per difference, in order.
pub(crate) fn variant_effects(form: &ProgramForm) -> Vec<String> {
    let v = form.variant.name();
    let w = &form.built.world;
    let mut out = Vec::new();
    let mut told: Vec<(Option<String>, bool, bool, bool)> = Vec::new();
    let n = form.built.ops.len();
    for i in 0..=n {
        let (u, c) = (&form.upstream.ops[i], &form.variant_run.ops[i]);
        let at = if i < n {
            format!("op {i} {}", label(form, i))
        } else {
            "at ring exit".to_string()
        };
        if u.ret != c.ret {
            out.push(format!(
                "{at}: returns {} where upstream returns {}.",
                ret_text(c.ret),
                ret_text(u.ret)
            ));
        }
        // A difference is told where it appears or changes, not after every operation.
        let prev_slots = |side: &crate::run::Run| {
            if i > 0 {
                side.ops[i - 1].snapshot.slots.clone()
            } else {
                Vec::new()
            }
        };
        let (us0, cs0) = (prev_slots(&form.upstream), prev_slots(&form.variant_run));
        let slot = |v: &[Option<SlotView>], k: usize| v.get(k).cloned().flatten();
        let slots = u.snapshot.slots.len().max(c.snapshot.slots.len());
        for k in 0..slots {
            let (us, cs) = (slot(&u.snapshot.slots, k), slot(&c.snapshot.slots, k));
            if us != cs && (&us, &cs) != (&slot(&us0, k), &slot(&cs0, k)) {
                out.push(slot_text(w, &at, k, v, us.as_ref(), cs.as_ref()));
            }
        }
        if i < n && u.ret >= 0 && u.import.is_some() {
            let rule = c.violations.iter().find(|x| {
                x.invariant == "import"
                    && ["during the operation", "import of", "readv of"]
                        .iter()
                        .any(|p| x.detail.starts_with(p))
            });
            let read = is_read(&form.built.ops[i]);
            let total = |r: &Option<Vec<crate::model::iov_iter::PhysRange>>| {
                r.as_ref().map_or(0, |r| r.iter().map(|x| x.1).sum::<u64>())
            };
            let (short, nothing) = (total(&c.import) < total(&u.import), total(&c.import) == 0);
            // One statement per kind of wrong I/O: the first probe that shows it.
            let key = (rule.map(|x| x.aspect.clone()), read, short, nothing);
            if (u.import != c.import || rule.is_some()) && !told.contains(&key) {
                told.push(key);
                let moved =
                    |r: &Option<Vec<_>>| r.as_ref().map_or("nothing".into(), |r| ranges(w, r));
                let mut s = format!("{at}: moves {}", moved(&c.import));
                if u.import != c.import {
                    let _ = write!(s, " where upstream moves {}", moved(&u.import));
                }
                if short {
                    let _ = write!(
                        s,
                        "; the buffer's bvecs end before {}: a real kernel goes on to read bvec entries past nr_bvecs, and whatever memory holds them decides where the bytes go (the model stops there)",
                        if nothing { "this offset" } else { "the end of the transfer" }
                    );
                }
                match rule {
                    Some(x) if short && x.aspect == "wrong-bytes" => {
                        let _ = write!(s, " (`{v}:invariant:import/wrong-bytes`)");
                    }
                    Some(x) => {
                        let _ = write!(
                            s,
                            "; {} (`{v}:invariant:import/{}`)",
                            aspect_words(&x.aspect),
                            x.aspect
                        );
                    }
                    None => {}
                }
                s.push_str(if read {
                    "; this program's check of the mappings after it fails."
                } else {
                    "; this program's check of the bytes written fails."
                });
                out.push(s);
            }
        }
        let prev = |side: &crate::run::Run| {
            if i == 0 {
                vec![0; side.ops[0].snapshot.pins.len()]
            } else {
                side.ops[i - 1].snapshot.pins.clone()
            }
        };
        let (up0, cp0) = (prev(&form.upstream), prev(&form.variant_run));
        for (f, (&pu, &pc)) in u.snapshot.pins.iter().zip(&c.snapshot.pins).enumerate() {
            // At ring exit every pin left is told, changed or not.
            if pu == pc || (i < n && (up0[f], cp0[f]) == (pu, pc)) {
                continue;
            }
            out.push(pins_text(form, &at, f, pu, pc, i == n));
        }
    }
    out
}

fn slot_text(
    w: &World,
    at: &str,
    slot: usize,
    v: &str,
    us: Option<&SlotView>,
    cs: Option<&SlotView>,
) -> String {
    let side = |s: Option<&SlotView>| match s {
        None => "leaves it empty".to_string(),
        Some(s) => {
            let sum: u64 = s.bytes.iter().map(|r| r.1).sum();
            let short = if sum == s.len {
                String::new()
            } else {
                format!(" ({sum:#x} bytes for a {:#x}-byte buffer)", s.len)
            };
            format!(
                "gives it {} bvec{}, folio_shift {}, {}, naming {}{short}",
                s.nr_bvecs,
                if s.nr_bvecs == 1 { "" } else { "s" },
                s.folio_shift,
                crate::report::acct_text(s.acct_pages),
                ranges(w, &s.bytes)
            )
        }
    };
    format!(
        "{at}: slot {slot}: {v} {}; upstream {}.",
        side(cs),
        side(us)
    )
}

fn pins_text(form: &ProgramForm, at: &str, f: usize, pu: i64, pc: i64, exit: bool) -> String {
    let v = form.variant.name();
    let kind = crate::report::folio_kind(&form.scenario, f);
    let pins = |n: i64| format!("{n} pin{}", if n == 1 { "" } else { "s" });
    let mut t = format!(
        "{at}: folio {f} ({kind}) holds {} on {v}, {} upstream",
        pins(pc),
        pins(pu)
    );
    if exit && pc > 0 {
        t.push_str(": it is never unpinned, so never freed");
        if kind.starts_with("hugetlb") {
            t.push_str("; HugePages_Free stays short after teardown, which this program checks");
        }
    } else if pc < 0 {
        t.push_str(": it was unpinned more often than pinned, a refcount underflow (mm/gup.c warns; the page can be freed while still mapped)");
    }
    t.push('.');
    t
}

/// A reviewer's words for an `import` aspect.
fn aspect_words(aspect: &str) -> &'static str {
    match aspect {
        "bvec-out-of-bounds" => "the import reads a bvec entry past the end of the buffer's bvec array, so memory that is not this buffer's (a stale entry of a recycled imu, or what follows a kvmalloc'ed one) decides where the I/O goes",
        "res-bvec-overflow" => "io_vec_fill_bvec writes past the bvec array it sized",
        "wrong-bytes" => "the I/O reaches other physical bytes than the user range",
        "nr-segs" => "the iterator's nr_segs does not match the bvecs it uses",
        _ => "the import breaks its rule",
    }
}
