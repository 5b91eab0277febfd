//! A buffer's representation and the findings, each with its rule, in the
//! report's words.

#[allow(unused_imports)]
use super::*;

/// One side's view of a buffer: header, then its bvecs.
pub(super) fn bufdesc(o: &mut String, w: &World, side: &str, buf: &Buf) {
    let sum: u64 = buf.bvecs.iter().flatten().map(|b| b.bv_len).sum();
    let check = if sum == buf.len {
        String::new()
    } else {
        format!("  <- bv_len sum {sum:#x}, imu->len {:#x}", buf.len)
    };
    let acct = buf.acct();
    let _ = writeln!(
        o,
        "      {side}: nr_bvecs {}, folio_shift {}, {acct}{check}",
        buf.nr_bvecs, buf.folio_shift
    );
    let n = buf.bvecs.len();
    let shown: Vec<usize> = if n <= MAX_BVECS_SHOWN {
        (0..n).collect()
    } else {
        (0..5).chain(n - 2..n).collect()
    };
    let shift = w.geo.page_shift;
    let mut last = None;
    for i in shown {
        if last.is_some_and(|l: usize| i > l + 1) {
            let _ = writeln!(
                o,
                "        ... {} more bvecs ...",
                i - last.unwrap_or(0) - 1
            );
        }
        last = Some(i);
        let Some(bv) = buf.bvecs.get(i) else {
            let _ = writeln!(o, "        bvec[{i}] never written (stale memory)");
            continue;
        };
        let page = match w.phys.page_folio(bv.bv_page) {
            Some(f) => format!(
                "folio {} page {}",
                f.0,
                w.phys.folio_page_idx(f, bv.bv_page)
            ),
            None => "in NO folio (foreign memory)".into(),
        };
        let start = (bv.bv_page << shift).wrapping_add(bv.bv_offset);
        let _ = writeln!(
            o,
            "        bvec[{i}] bv_page pfn {:#x} ({page})  bv_offset {:#x}  bv_len {:#x}  -> phys {:#x}-{:#x}",
            bv.bv_page,
            bv.bv_offset,
            bv.bv_len,
            start,
            start.wrapping_add(bv.bv_len)
        );
    }
}

/// Each finding with the rule it breaks, then the known bugs set aside.
pub(super) fn findings(o: &mut String, v: &Verdict) {
    if v.is_clean() {
        let _ = writeln!(o, "\nFINDINGS: none");
    } else {
        let _ = writeln!(
            o,
            "\nFINDINGS ({}; the first is the primary one)",
            v.findings.len()
        );
    }
    for (k, f) in v.findings.iter().enumerate() {
        finding(o, k, f);
    }
    if !v.known.is_empty() {
        let _ = writeln!(
            o,
            "\nKNOWN BUGS ({}; set aside, not counted as findings unless --known)",
            v.known.len()
        );
        for (k, f) in v.known.iter().enumerate() {
            finding(o, k, f);
        }
    }
}

pub(super) fn finding(o: &mut String, k: usize, f: &crate::oracle::Finding) {
    let what = match f.kind {
        crate::oracle::FindingKind::Invariant(..) => format!("broken on {}", f.variant),
        crate::oracle::FindingKind::Diff(_) => format!("{} differs", f.variant),
    };
    let _ = writeln!(
        o,
        "\n  {}. {}  ({what}, after op {} {})",
        k + 1,
        f.signature(),
        f.op,
        f.op_kind
    );
    let label = match f.kind {
        crate::oracle::FindingKind::Invariant(..) => "rule:",
        crate::oracle::FindingKind::Diff(_) => "what:",
    };
    for (j, l) in wrap(&kind_meaning(&f.kind), 92).iter().enumerate() {
        let _ = writeln!(o, "     {} {l}", if j == 0 { label } else { "     " });
    }
    for (j, l) in f.detail.lines().enumerate() {
        let _ = writeln!(o, "     {} {l}", if j == 0 { "seen:" } else { "     " });
    }
    if f.count > 1 {
        let _ = writeln!(o, "           (the first of {} like it)", f.count);
    }
    for (j, a) in f.also.iter().enumerate() {
        let text = format!(
            "{}/{}{}: {}",
            a.invariant,
            a.aspect,
            crate::report::times(a.count),
            a.detail.lines().collect::<Vec<_>>().join("; ")
        );
        for (k, l) in wrap(&text, 92).iter().enumerate() {
            let (label, indent) = match (j, k) {
                (0, 0) => ("also:", ""),
                (_, 0) => ("     ", ""),
                _ => ("     ", "  "),
            };
            let _ = writeln!(o, "     {label} {indent}{l}");
        }
    }
    if let Some(b) = f.known {
        let text = format!("{} (fixed by {})", b.summary, b.fixed_by);
        for (j, l) in wrap(&text, 92).iter().enumerate() {
            let _ = writeln!(o, "     {} {l}", if j == 0 { "known:" } else { "      " });
        }
    }
}
