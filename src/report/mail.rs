//! `regbuf-fuzz report`: one finding as a plain-text mail to the io_uring
//! list, prose wrapped at 72 columns (code and diffs kept as they are).
//!
//! Every number comes from [`super::sides`], the same two-sided trace
//! `explain` draws, and from the C reproducer's model runs; nothing is
//! recomputed another way.

use super::{
    folio_kind, hsize, kind_meaning, ranges, replay_command, ret_text, sides, times, wrap,
};
use super::{Buf, Sides};
use crate::oracle::{Finding, FindingKind};
use crate::scenario::{ConcreteOp, IovSpec, Op, Pos, Scenario};
use crate::variants::{self, Variant};
use std::fmt::Write;
use std::path::Path;

/// Prose width.
const WIDTH: usize = 72;
/// Bvecs listed per buffer before the list is cut.
const MAX_BVECS: usize = 5;

/// The mail for scenario `s` (read from `path`) and variant `v` against
/// upstream; `Err` when the scenario does not build.
pub fn mail(path: &Path, s: &Scenario, v: &'static dyn Variant) -> Result<String, String> {
    let up = variants::by_name("upstream").expect("upstream exists");
    let sd = sides(s, v, up).map_err(|e| e.to_string())?;
    let program = crate::repro::emit(path, s, v)?;
    let form = crate::repro::program_form(s, v)?;
    let mut o = String::new();
    let primary = sd.verdict.findings.first();
    let _ = writeln!(o, "To: io-uring@vger.kernel.org");
    let _ = writeln!(
        o,
        "Subject: [BUG] io_uring/rsrc: {}: {}\n",
        v.name(),
        primary.map_or("no finding on this layout".into(), headline)
    );
    field(&mut o, "Patch:", &format!("{} ({})", v.summary(), v.name()));
    field(&mut o, "Base:", crate::model::KERNEL_REF);
    field(
        &mut o,
        "Finding:",
        &primary.map_or("none".into(), |f| f.signature()),
    );
    field(&mut o, "File:", &path.display().to_string());
    o.push('\n');
    intro(&mut o, s, &sd, v, primary);
    section(&mut o, "Layout");
    layout(&mut o, s, &sd);
    section(
        &mut o,
        &format!("What {} does, and what {} does", sd.names[0], v.name()),
    );
    operations(&mut o, s, &sd);
    let effects = crate::repro::header::variant_effects(&form);
    if !effects.is_empty() {
        para(
            &mut o,
            &format!("At the fixed I/O the reproducer below adds after each registration (the whole buffer, and across every bvec boundary), the model of {} does this instead of what 7.1-rc1 does (operations numbered as the reproducer prints them):", v.name()),
        );
        for e in effects.iter().take(6) {
            bullet(&mut o, e);
        }
        if effects.len() > 6 {
            bullet(
                &mut o,
                &format!(
                    "and {} more differences (see the reproducer's header).",
                    effects.len() - 6
                ),
            );
        }
        o.push('\n');
    }
    section(&mut o, "The rule that broke");
    rules(&mut o, &sd);
    fix(&mut o, s, v);
    section(&mut o, "Reproducer");
    para(
        &mut o,
        "The program below builds the same layout on a running kernel (hugetlbfs memfd pages mapped with MAP_FIXED, THP moved with mremap, holes left PROT_NONE), checks through pagemap and kpageflags that the kernel backed it so, runs the operations on a ring with raw io_uring system calls, and checks every byte of every mapping after each fixed read, the bytes of each fixed write, VmPin after each operation, and VmPin and HugePages_Free after teardown, against 7.1-rc1's behaviour. It needs root and gcc alone, exits 0 on PASS, 1 on FAIL and 77 when the machine cannot build the layout. On a kernel without the patch it must pass; on a kernel with it, the model predicts the failures listed in its header.",
    );
    let _ = writeln!(
        o,
        "    regbuf-fuzz repro {} -o repro.c\n    gcc -Wall -O2 -o repro repro.c && sudo ./repro\n",
        super::shell_quote(&path.display().to_string())
    );
    let _ = writeln!(o, "---8<--- repro.c ---8<---");
    o.push_str(&program.source);
    let _ = writeln!(o, "---8<--- end of repro.c ---8<---\n");
    let _ = writeln!(o, "Reproduce in the model:");
    let _ = writeln!(o, "{}", replay_command(Some(path), v.name(), "upstream"));
    Ok(o)
}

/// The subject's words for a finding.
fn headline(f: &Finding) -> String {
    match &f.kind {
        FindingKind::Invariant(n, a) => match (*n, a.as_str()) {
            ("coverage", "length") => "bvec lengths do not add up to the buffer length".into(),
            ("coverage", "outside-pins") => "a bvec reaches memory the buffer does not pin".into(),
            ("pins", "underflow") => "a folio is unpinned more often than it was pinned".into(),
            ("pins", "count") => "a folio's pin count does not match its bvecs".into(),
            _ => format!("the {n} rule breaks ({a})"),
        },
        FindingKind::Diff(n) => format!("{n} differs from 7.1-rc1"),
    }
}

fn field(o: &mut String, name: &str, text: &str) {
    for (k, l) in wrap(text, WIDTH - 9).iter().enumerate() {
        let _ = writeln!(o, "{:<9}{l}", if k == 0 { name } else { "" });
    }
}

fn para(o: &mut String, text: &str) {
    for l in wrap(text, WIDTH) {
        let _ = writeln!(o, "{l}");
    }
    o.push('\n');
}

fn bullet(o: &mut String, text: &str) {
    for (k, l) in wrap(text, WIDTH - 4).iter().enumerate() {
        let _ = writeln!(o, "{} {l}", if k == 0 { "  -" } else { "   " });
    }
}

fn section(o: &mut String, title: &str) {
    let _ = writeln!(o, "{title}\n{}\n", "-".repeat(title.len()));
}

fn intro(o: &mut String, s: &Scenario, sd: &Sides, v: &dyn Variant, primary: Option<&Finding>) {
    let geo = sd.built.world.geo;
    let mut t = format!(
        "regbuf-fuzz runs a model of io_uring/rsrc.c and io_uring/memmap.c at 7.1-rc1 and the same model with {} side by side on user address spaces, and checks named rules after every operation.",
        v.name()
    );
    match primary {
        Some(f) => {
            let _ = write!(
                t,
                " On the layout below the patched code breaks one: {} ({}, after op {} {}). The model saw: {}",
                headline(f),
                f.signature(),
                f.op,
                f.op_kind,
                f.detail.lines().next().unwrap_or("")
            );
        }
        None => t.push_str(" On the layout below it finds nothing."),
    }
    para(o, &t);
    if geo.name() != "real" {
        para(
            o,
            &format!("The model found this at its small geometry ({}), where the search is fast; the numbers below are at that geometry. The reproducer runs the layout at the real one.", crate::report::geometry_sizes(&geo)),
        );
    }
    if !s.faults.points.is_empty() {
        para(o, "The scenario also fails allocations inside the kernel (listed under each operation); the reproducer cannot, and runs the operations without them.");
    }
}

/// The iovecs of the scenario that name addresses in the layout, lettered.
fn lettered(s: &Scenario, sd: &Sides) -> Vec<(char, usize, u64, u64)> {
    let mut out = Vec::new();
    for (i, (op, c)) in s.ops.iter().zip(&sd.built.ops).enumerate() {
        let (
            Op::Register { iovecs } | Op::Update { iovecs, .. },
            ConcreteOp::Register { iovecs: cv } | ConcreteOp::Update { iovecs: cv, .. },
        ) = (op, c)
        else {
            continue;
        };
        for (spec, iov) in iovecs.iter().zip(cv) {
            if matches!(spec, IovSpec::Range { .. } | IovSpec::Sized { .. }) && out.len() < 8 {
                let letter = (b'A' + out.len() as u8) as char;
                out.push((letter, i, iov.iov_base, iov.iov_len));
            }
        }
    }
    out
}

fn layout(o: &mut String, s: &Scenario, sd: &Sides) {
    let w = &sd.built.world;
    let geo = w.geo;
    let _ = writeln!(o, "Physical folios (pfns as the model numbers them):\n");
    for (i, f) in w.phys.folios().iter().enumerate() {
        let n = 1u64 << f.order;
        let users: Vec<String> = s
            .segments
            .iter()
            .enumerate()
            .filter(|(_, g)| g.folio == Some(i as u32))
            .map(|(k, _)| k.to_string())
            .collect();
        let _ = writeln!(
            o,
            "  folio {i}  {:<11} {:>7}  pfn {:#x}-{:#x}  {}",
            folio_kind(s, i),
            hsize(geo.folio_bytes(f.order)),
            f.head,
            f.head + n - 1,
            if users.is_empty() {
                "unmapped".into()
            } else {
                users.join(", ")
            }
        );
    }
    let iovs = lettered(s, sd);
    let _ = writeln!(
        o,
        "\nVirtual layout; the column after the address shows which iovecs\ncover the bytes from that address to the next row:\n"
    );
    let mut rows: Vec<(u64, u8, String)> = Vec::new();
    for (k, (g, &(va, bytes))) in s.segments.iter().zip(&sd.built.segments).enumerate() {
        let what = match g.folio {
            None => format!("seg {k}: hole, {} unmapped", hsize(bytes)),
            Some(f) => {
                let pages = bytes >> geo.page_shift;
                let alias = s.segments[..k]
                    .iter()
                    .position(|p| p.folio == Some(f))
                    .map_or(String::new(), |j| format!(", again (as seg {j})"));
                format!(
                    "seg {k}: folio {f} pages {}-{}{alias}{}",
                    g.first,
                    g.first + pages - 1,
                    if g.readonly { ", read-only" } else { "" }
                )
            }
        };
        rows.push((va, 1, what));
        let next = sd.built.segments.get(k + 1).map(|x| x.0);
        if next.is_some_and(|n| n > va + bytes) {
            rows.push((va + bytes, 0, "(unmapped: alignment padding)".into()));
        }
    }
    if let Some(&(va, bytes)) = sd.built.segments.last() {
        rows.push((va + bytes, 0, "end of the layout".into()));
    }
    for &(l, op, a, len) in &iovs {
        rows.push((a, 2, format!("iovec {l} (op {op}) starts")));
        rows.push((a + len, 3, format!("iovec {l} (op {op}) ends")));
    }
    rows.sort_by_key(|r| (r.0, r.1));
    for (addr, _, what) in &rows {
        let cover: String = iovs
            .iter()
            .map(|&(l, _, a, len)| {
                if *addr >= a && *addr < a + len {
                    l
                } else {
                    '.'
                }
            })
            .collect();
        let _ = writeln!(o, "  {addr:#014x}  {cover:<8}  {what}");
    }
    if !iovs.is_empty() {
        let _ = writeln!(o, "\nRegistered iovecs:\n");
        for &(l, op, a, len) in &iovs {
            let _ = writeln!(
                o,
                "  {l}  op {op}  iov_base {a:#x}  iov_len {len:#x} ({})",
                hsize(len)
            );
        }
    }
    o.push('\n');
}

fn pos(p: &Pos) -> String {
    format!("seg {} +{:#x}", p.seg, p.off)
}

/// `IORING_REGISTER_CLONE_BUFFERS` in words, for mail and explain.
pub fn clone_title(src: u32, src_off: u32, dst_off: u32, nr: u32, replace: bool) -> String {
    let what = if nr == 0 {
        "every slot".to_string()
    } else {
        format!("{nr} slot(s) from {src_off} to {dst_off}")
    };
    format!(
        "IORING_REGISTER_CLONE_BUFFERS from ring {src}, {what}{}",
        if replace { ", DST_REPLACE" } else { "" }
    )
}

fn op_title(s: &Scenario, i: usize) -> String {
    match &s.ops[i] {
        Op::Register { iovecs } => format!("IORING_REGISTER_BUFFERS, {} iovec(s)", iovecs.len()),
        Op::RegisterSparse { nr } => format!("IORING_REGISTER_BUFFERS2, {nr} empty slots"),
        Op::Update { offset, iovecs } => format!(
            "IORING_REGISTER_BUFFERS_UPDATE from slot {offset}, {} iovec(s)",
            iovecs.len()
        ),
        Op::Unregister => "IORING_UNREGISTER_BUFFERS".into(),
        Op::Ring { ring } => format!("the operations below on ring {ring}"),
        Op::Clone {
            src,
            src_off,
            dst_off,
            nr,
            replace,
        } => clone_title(*src, *src_off, *dst_off, *nr, *replace),
        Op::Import {
            slot,
            ddir,
            span,
            hold,
        } => format!(
            "{} slot {slot} [{} .. {}){}",
            if *ddir == crate::scenario::Ddir::Read {
                "READ_FIXED"
            } else {
                "WRITE_FIXED"
            },
            pos(&span.start),
            pos(&span.end),
            super::explain::held(*hold)
        ),
        Op::Readv {
            slot,
            ddir,
            spans,
            hold,
        } => format!(
            "{} slot {slot}, {} iovecs{}",
            if *ddir == crate::scenario::Ddir::Read {
                "READV_FIXED"
            } else {
                "WRITEV_FIXED"
            },
            spans.len(),
            super::explain::held(*hold)
        ),
        Op::Complete => "the oldest request in flight completes".into(),
        Op::KbufRegister {
            index,
            dir,
            bvecs,
            segments,
        } => format!(
            "io_buffer_register_bvec: a {} request of {} bvec(s){} as the kernel buffer in slot {index}",
            if *dir == crate::scenario::Ddir::Read {
                "READ"
            } else {
                "WRITE"
            },
            bvecs.len(),
            segments.map_or(String::new(), |n| format!(" in {n} segments"))
        ),
        Op::KbufUnregister { index } => format!("io_buffer_unregister_bvec of slot {index}"),
        Op::KbufImport {
            slot,
            ddir,
            off,
            len,
            hold,
        } => format!(
            "{} slot {slot} (a kernel buffer) bytes [{off:#x} .. {:#x}){}",
            if *ddir == crate::scenario::Ddir::Read {
                "READ_FIXED"
            } else {
                "WRITE_FIXED"
            },
            off + len,
            super::explain::held(*hold)
        ),
        Op::KbufReadv {
            slot,
            ddir,
            iovecs,
            hold,
        } => format!(
            "{} slot {slot} (a kernel buffer), {} iovecs{}",
            if *ddir == crate::scenario::Ddir::Read {
                "READV_FIXED"
            } else {
                "WRITEV_FIXED"
            },
            iovecs.len(),
            super::explain::held(*hold)
        ),
    }
}

fn operations(o: &mut String, s: &Scenario, sd: &Sides) {
    let w = &sd.built.world;
    let n = sd.built.ops.len();
    for i in 0..=n {
        let title = if i < n {
            op_title(s, i)
        } else {
            "ring exit".into()
        };
        let _ = writeln!(o, "op {i}: {title}");
        let rets: Vec<String> = sd
            .names
            .iter()
            .zip(&sd.traces)
            .map(|(name, t)| format!("{name} {}", ret_text(t[i + 1].ret)))
            .collect();
        let _ = writeln!(o, "  returns: {}", rets.join(", "));
        for (name, t) in sd.names.iter().zip(&sd.traces) {
            if !t[i + 1].faults.is_empty() {
                let f: Vec<String> = t[i + 1].faults.iter().map(|x| x.to_string()).collect();
                let _ = writeln!(o, "  {name}: allocation failed at {}", f.join(", "));
            }
            if let Some(r) = &t[i + 1].import {
                for (k, l) in wrap(&format!("{name} moves {}", ranges(w, r)), WIDTH - 4)
                    .iter()
                    .enumerate()
                {
                    let _ = writeln!(o, "  {}{l}", if k == 0 { "" } else { "  " });
                }
            }
        }
        let nslots = sd
            .traces
            .iter()
            .map(|t| t[i + 1].slots.len())
            .max()
            .unwrap_or(0);
        for slot in 0..nslots {
            let now = |t: &Vec<super::Step>| t[i + 1].slots.get(slot).cloned().flatten();
            if sd
                .traces
                .iter()
                .all(|t| t[i].slots.get(slot).cloned().flatten() == now(t))
            {
                continue;
            }
            for (name, t) in sd.names.iter().zip(&sd.traces) {
                match t[i + 1].slots.get(slot).and_then(Option::as_ref) {
                    None => {
                        let _ = writeln!(o, "  slot {slot}, {name}: empty");
                    }
                    Some(b) => buf(o, w, slot, name, b),
                }
            }
        }
        for f in 0..w.phys.folios().len() {
            if sd.traces.iter().all(|t| t[i].pins[f] == t[i + 1].pins[f]) {
                continue;
            }
            let p: Vec<String> = sd
                .names
                .iter()
                .zip(&sd.traces)
                .map(|(name, t)| format!("{name} {} -> {}", t[i].pins[f], t[i + 1].pins[f]))
                .collect();
            let _ = writeln!(o, "  pins on folio {f}: {}", p.join(", "));
        }
        if sd
            .traces
            .iter()
            .any(|t| t[i].pinned_vm != t[i + 1].pinned_vm)
        {
            let p: Vec<String> = sd
                .names
                .iter()
                .zip(&sd.traces)
                .map(|(name, t)| format!("{name} {}", t[i + 1].pinned_vm as i64))
                .collect();
            let _ = writeln!(o, "  pinned_vm (pages): {}", p.join(", "));
        }
        o.push('\n');
    }
}

fn buf(o: &mut String, w: &crate::model::World, slot: usize, name: &str, b: &Buf) {
    let _ = writeln!(
        o,
        "  slot {slot}, {name}: nr_bvecs {}, folio_shift {}, {}",
        b.nr_bvecs,
        b.folio_shift,
        b.acct()
    );
    let n = b.bvecs.len();
    for (i, bv) in b.bvecs.iter().enumerate() {
        if n > MAX_BVECS && i == MAX_BVECS - 2 {
            let _ = writeln!(o, "    ... {} more ...", n - MAX_BVECS);
        }
        if n > MAX_BVECS && i >= MAX_BVECS - 2 && i < n - 2 {
            continue;
        }
        match bv {
            None => {
                let _ = writeln!(o, "    bvec[{i}] never written (stale memory)");
            }
            Some(bv) => {
                let page = match w.phys.page_folio(bv.bv_page) {
                    Some(f) => format!(
                        "folio {} page {}",
                        f.0,
                        w.phys.folio_page_idx(f, bv.bv_page)
                    ),
                    None => "no folio".into(),
                };
                let _ = writeln!(
                    o,
                    "    bvec[{i}] {page:<17} bv_offset {:<8} bv_len {:#x}",
                    format!("{:#x}", bv.bv_offset),
                    bv.bv_len
                );
            }
        }
    }
    let sum: u64 = b.bvecs.iter().flatten().map(|x| x.bv_len).sum();
    if sum != b.len {
        let _ = writeln!(
            o,
            "    bv_len adds up to {sum:#x}; imu->len is {:#x}",
            b.len
        );
    }
}

fn rules(o: &mut String, sd: &Sides) {
    let mut seen = Vec::new();
    for f in &sd.verdict.findings {
        let sig = f.signature();
        if seen.contains(&sig) {
            continue;
        }
        seen.push(sig.clone());
        let _ = writeln!(o, "{sig} (after op {} {}):", f.op, f.op_kind);
        let what = match f.kind {
            FindingKind::Invariant(..) => "rule",
            FindingKind::Diff(_) => "what differs",
        };
        bullet(o, &format!("{what}: {}", kind_meaning(&f.kind)));
        bullet(
            o,
            &format!(
                "seen: {}{}",
                f.detail.lines().collect::<Vec<_>>().join("; "),
                times(f.count)
            ),
        );
        for a in &f.also {
            bullet(
                o,
                &format!(
                    "also broken: {}/{}: {}{}",
                    a.invariant,
                    a.aspect,
                    a.detail.lines().collect::<Vec<_>>().join("; "),
                    times(a.count)
                ),
            );
        }
        o.push('\n');
    }
    if seen.is_empty() {
        para(
            o,
            "None: the two versions agree and every rule holds on this layout.",
        );
    }
}

fn fix(o: &mut String, s: &Scenario, v: &dyn Variant) {
    let up = variants::by_name("upstream").expect("upstream exists");
    let Some((fixed, fx)) = variants::ALL
        .iter()
        .find_map(|x| x.fix_of().filter(|f| f.of == v.name()).map(|f| (*x, f)))
    else {
        return;
    };
    section(o, "Suggested fix");
    let clean = crate::oracle::check(s, fixed, up).is_ok_and(|(verdict, _, _)| verdict.is_clean());
    para(
        o,
        &format!(
            "{}. {} In the model this is the variant `{}`; {}",
            fixed.summary(),
            fx.why,
            fixed.name(),
            if clean {
                "it shows no finding on this layout."
            } else {
                "it still shows a finding on this layout."
            }
        ),
    );
    o.push_str(fx.hunk);
    o.push('\n');
}
