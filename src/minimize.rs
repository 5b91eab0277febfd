//! Structural shrinking of a scenario that shows a finding.
//!
//! A fuzzer's scenario carries folios, segments and operations that have
//! nothing to do with the finding; a reviewer wants the two mappings and the
//! one register call that matter. [`minimize`] works on the scenario's
//! structure (as proptest's `simplify` does on a value tree), so every step
//! stays a scenario `build()` accepts, and it is deterministic and bounded.

use crate::scenario::{build, IovSpec, Op, Pos, Scenario, Span};
use std::collections::HashSet;

mod kbuf;

/// Most calls of the `keep` predicate one [`minimize`] makes.
pub const MAX_KEEP_CALLS: usize = 2000;

/// Shrinks `s` while `keep` holds: drops operations (the last first),
/// folds an update into the register that made its table, drops iovecs,
/// spans and a kernel buffer's bvecs inside operations, fault points, folios, segments and runs of
/// segments (renumbering what refers to them), clears `memlock`,
/// `readonly`, `aligned`, `gap`, partial mappings, shrinks holes and sparse
/// tables, turns a symbolic length into a range, and moves positions to
/// segment edges and page boundaries, until no such step keeps the finding.
///
/// Every candidate must pass [`build`] before `keep` sees it. Deterministic;
/// `keep` is called at most [`MAX_KEEP_CALLS`] times (each distinct
/// candidate once). `keep` is assumed to hold for `s` itself.
pub fn minimize(s: &Scenario, keep: &mut dyn FnMut(&Scenario) -> bool) -> Scenario {
    let mut cur = s.clone();
    // Every scenario seen, kept or not: none is tried twice, so two
    // steps that undo each other cannot loop.
    let mut tried: HashSet<String> = HashSet::from([format!("{s:?}")]);
    let mut calls = 0usize;
    'outer: loop {
        for cand in candidates(&cur) {
            if calls >= MAX_KEEP_CALLS {
                break 'outer;
            }
            if cand == cur || !tried.insert(format!("{cand:?}")) || build(&cand).is_err() {
                continue;
            }
            calls += 1;
            if keep(&cand) {
                cur = cand;
                continue 'outer;
            }
        }
        break;
    }
    cur
}

/// Every one-step simplification of `s`, most aggressive first: fewer
/// things, fewer flags, smaller holes, positions nearer an edge. (Renaming
/// a position at a segment boundary is the only step that is not smaller;
/// [`minimize`] never revisits a scenario, so it cannot loop.)
fn candidates(s: &Scenario) -> Vec<Scenario> {
    let mut out = Vec::new();
    // Operations, from the end.
    for i in (0..s.ops.len()).rev() {
        let mut c = s.clone();
        c.ops.remove(i);
        out.push(c);
    }
    // An update folded into the register (or sparse register) that made
    // its table: one operation fewer, the same buffers.
    for j in (0..s.ops.len()).rev() {
        if let Some(c) = fold_update(s, j) {
            out.push(c);
        }
    }
    // A request held in flight made an ordinary one (its `complete`, if
    // any, then does nothing and goes by the step above).
    for i in (0..s.ops.len()).rev() {
        let mut c = s.clone();
        if let Op::Import { hold, .. } | Op::Readv { hold, .. } = &mut c.ops[i] {
            if *hold {
                *hold = false;
                out.push(c);
            }
        }
    }
    // Iovecs and spans inside operations.
    for i in (0..s.ops.len()).rev() {
        let n = match &s.ops[i] {
            Op::Register { iovecs } | Op::Update { iovecs, .. } => iovecs.len(),
            Op::Readv { spans, .. } => spans.len(),
            _ => 0,
        };
        for j in (0..n).rev() {
            let mut c = s.clone();
            match &mut c.ops[i] {
                Op::Register { iovecs } | Op::Update { iovecs, .. } => {
                    iovecs.remove(j);
                }
                Op::Readv { spans, .. } => {
                    spans.remove(j);
                }
                _ => {}
            }
            out.push(c);
        }
    }
    out.extend(kbuf::candidates(s));
    // Fault points.
    for k in (0..s.faults.points.len()).rev() {
        let mut c = s.clone();
        c.faults.points.remove(k);
        out.push(c);
    }
    // Folios, then segments.
    for f in (0..s.folios.len()).rev() {
        out.push(drop_folio(s, f as u32));
    }
    for k in (0..s.segments.len()).rev() {
        out.push(drop_segment(s, k as u32));
    }
    // Runs of segments: dropping one mapping of a run may open a gap (the
    // next huge folio keeps its alignment), dropping the run may not.
    let n = s.segments.len().min(64);
    for len in 2..n {
        for a in (0..=n - len).rev() {
            let mut c = s.clone();
            for k in (a..a + len).rev() {
                c = drop_segment(&c, k as u32);
            }
            out.push(c);
        }
    }
    // Flags and limits.
    if s.memlock.is_some() {
        let mut c = s.clone();
        c.memlock = None;
        out.push(c);
    }
    for (k, seg) in s.segments.iter().enumerate() {
        if seg.readonly {
            let mut c = s.clone();
            c.segments[k].readonly = false;
            out.push(c);
        }
        if seg.aligned {
            let mut c = s.clone();
            c.segments[k].aligned = false;
            out.push(c);
        }
        if seg.folio.is_some() && (seg.first != 0 || seg.pages.is_some()) {
            // The whole folio: same start address, so positions keep meaning.
            let mut c = s.clone();
            c.segments[k].first = 0;
            c.segments[k].pages = None;
            out.push(c);
        }
        if seg.count > 1 {
            for q in [1, seg.count / 2, seg.count - 1] {
                if q >= 1 && q < seg.count {
                    out.extend(fewer_copies(s, k, q));
                }
            }
        }
        if seg.folio.is_none() {
            if let Some(p) = seg.pages {
                for q in [1, p / 2, p.saturating_sub(1)] {
                    if q >= 1 && q < p {
                        let mut c = s.clone();
                        c.segments[k].pages = Some(q);
                        out.push(c);
                    }
                }
            }
        }
    }
    for (f, folio) in s.folios.iter().enumerate() {
        if folio.gap != 0 {
            let mut c = s.clone();
            c.folios[f].gap = 0;
            out.push(c);
        }
        // A live child first goes, then the fork itself (which a live
        // child needs, so both go together).
        if folio.child_maps {
            let mut c = s.clone();
            c.folios[f].child_maps = false;
            out.push(c);
        }
        if folio.forked {
            let mut c = s.clone();
            c.folios[f].forked = false;
            c.folios[f].child_maps = false;
            out.push(c);
        }
    }
    // Table sizes and offsets of ops.
    for (i, op) in s.ops.iter().enumerate() {
        match *op {
            Op::RegisterSparse { nr } if nr > 1 => {
                for n in [1, nr / 2] {
                    let mut c = s.clone();
                    c.ops[i] = Op::RegisterSparse { nr: n.max(1) };
                    out.push(c);
                }
            }
            Op::Update { offset, .. } if offset > 0 => {
                let mut c = s.clone();
                if let Op::Update { offset, .. } = &mut c.ops[i] {
                    *offset = 0;
                }
                out.push(c);
            }
            _ => {}
        }
    }
    // Positions: to an edge of their segment, or to a page boundary.
    if let Ok(b) = build(s) {
        let seg_bytes: Vec<u64> = b.segments.iter().map(|&(_, n)| n).collect();
        // A symbolic length that ends inside a segment, as a range: the same
        // iovec, whose end can then move like any position.
        let geo = s.geometry.geometry();
        for (i, op) in s.ops.iter().enumerate() {
            let (Op::Register { iovecs } | Op::Update { iovecs, .. }) = op else {
                continue;
            };
            for (j, iov) in iovecs.iter().enumerate() {
                let IovSpec::Sized { start, len } = iov else {
                    continue;
                };
                let Some(&(va, _)) = b.segments.get(start.seg as usize) else {
                    continue;
                };
                let Some(end) = (va + start.off).checked_add(len.bytes_at(&geo)) else {
                    continue;
                };
                let Some(k) = b
                    .segments
                    .iter()
                    .position(|&(a, n)| a <= end && end <= a + n)
                else {
                    continue;
                };
                let mut c = s.clone();
                if let Op::Register { iovecs } | Op::Update { iovecs, .. } = &mut c.ops[i] {
                    iovecs[j] = IovSpec::Range {
                        start: *start,
                        end: Pos {
                            seg: k as u32,
                            off: end - b.segments[k].0,
                        },
                    };
                }
                out.push(c);
            }
        }
        // Where two segments touch, the end of one is the start of the
        // next: a range's start is named in the segment it begins in, its
        // end in the segment it ends in, so the other segment can go.
        let npos = positions(&mut s.clone()).len();
        for p in 0..npos {
            let mut c = s.clone();
            let (pos, is_start) = positions(&mut c).swap_remove(p);
            let k = pos.seg as usize;
            let Some(&(va, bytes)) = b.segments.get(k) else {
                continue;
            };
            let moved = if is_start {
                match b.segments.get(k + 1) {
                    Some(&(next_va, _)) if pos.off == bytes && va + bytes == next_va => Some(Pos {
                        seg: k as u32 + 1,
                        off: 0,
                    }),
                    _ => None,
                }
            } else if pos.off == 0 && k > 0 {
                let (prev_va, prev_bytes) = b.segments[k - 1];
                (prev_va + prev_bytes == va).then(|| Pos {
                    seg: k as u32 - 1,
                    off: prev_bytes,
                })
            } else {
                None
            };
            if let Some(m) = moved {
                *pos = m;
                out.push(c);
            }
        }
        let page = s.geometry.geometry().page_size();
        let npos = positions(&mut s.clone()).len();
        for p in 0..npos {
            let mut probe = s.clone();
            let cur = *positions(&mut probe)[p].0;
            let Some(&bytes) = seg_bytes.get(cur.seg as usize) else {
                continue;
            };
            let off = cur.off.min(bytes);
            let dist = |o: u64| o.min(bytes - o);
            let d = dist(off);
            let down = off - off % page;
            let up = off.next_multiple_of(page).min(bytes);
            let mut targets = vec![0, bytes, down, up, off / 2, bytes - (bytes - off) / 2];
            targets.dedup();
            for t in targets {
                // Strictly nearer an edge, or onto a page boundary no further away.
                let better = dist(t) < d || (off % page != 0 && t % page == 0 && dist(t) <= d);
                if t != off && t <= bytes && better {
                    let mut c = s.clone();
                    positions(&mut c)[p].0.off = t;
                    out.push(c);
                }
            }
        }
    }
    out
}

/// `s` with the update at `j` folded into the register or sparse register
/// that made its table (the nearest one before it, with no unregister in
/// between): that op becomes a register of the table as the update leaves
/// it (`null` iovecs for empty slots), and the update is dropped.
fn fold_update(s: &Scenario, j: usize) -> Option<Scenario> {
    let Op::Update {
        offset,
        iovecs: upd,
    } = &s.ops[j]
    else {
        return None;
    };
    let i = (0..j).rev().find(|&i| {
        matches!(
            s.ops[i],
            Op::Register { .. } | Op::RegisterSparse { .. } | Op::Unregister
        )
    })?;
    let mut table: Vec<IovSpec> = match &s.ops[i] {
        Op::Register { iovecs } => iovecs.clone(),
        Op::RegisterSparse { nr } if *nr <= 1024 => vec![
            IovSpec::Null {
                len: Default::default()
            };
            *nr as usize
        ],
        _ => return None,
    };
    let end = *offset as usize + upd.len();
    if upd.is_empty() || end > table.len() {
        return None; // the update fails (-EINVAL): nothing to fold
    }
    table[*offset as usize..end].clone_from_slice(upd);
    let mut c = s.clone();
    c.ops[i] = Op::Register { iovecs: table };
    c.ops.remove(j);
    Some(c)
}

fn positions(s: &mut Scenario) -> Vec<(&mut Pos, bool)> {
    s.positions_mut()
}

/// `s` without folio `f`: segments mapping it are dropped (as
/// [`drop_segment`] does), later folio indices shift down by one.
fn drop_folio(s: &Scenario, f: u32) -> Scenario {
    let mut c = s.clone();
    for k in (0..c.segments.len()).rev() {
        if c.segments[k].folio == Some(f) {
            c = drop_segment(&c, k as u32);
        }
    }
    c.folios.remove(f as usize);
    kbuf::drop_folio(&mut c, f);
    for seg in &mut c.segments {
        if let Some(x) = seg.folio.as_mut() {
            if *x > f {
                *x -= 1;
            }
        }
    }
    c
}

/// `s` without segment `k`: iovecs and spans that name it are dropped (an
/// import on it, or a readv left without spans, is dropped whole), and
/// later segment indices shift down by one.
fn drop_segment(s: &Scenario, k: u32) -> Scenario {
    let mut c = s.clone();
    c.segments.remove(k as usize);
    let names = |p: &Pos| p.seg == k;
    let span_names = |sp: &Span| names(&sp.start) || names(&sp.end);
    c.ops.retain_mut(|op| match op {
        Op::Register { iovecs } | Op::Update { iovecs, .. } => {
            iovecs.retain(|iov| match iov {
                IovSpec::Range { start, end } => !names(start) && !names(end),
                IovSpec::Sized { start, .. } => !names(start),
                IovSpec::Null { .. } | IovSpec::Raw { .. } => true,
            });
            true
        }
        Op::Import { span, .. } => !span_names(span),
        Op::Readv { spans, .. } => {
            spans.retain(|sp| !span_names(sp));
            !spans.is_empty()
        }
        // Kernel buffers name folios, not segments.
        Op::RegisterSparse { .. }
        | Op::Unregister
        | Op::Complete
        | Op::Ring { .. }
        | Op::Clone { .. }
        | Op::KbufRegister { .. }
        | Op::KbufUnregister { .. }
        | Op::KbufImport { .. }
        | Op::KbufReadv { .. } => true,
    });
    for (p, _) in positions(&mut c) {
        if p.seg > k {
            p.seg -= 1;
        }
    }
    c
}

/// Segment `k` with `q` copies instead of `count`: once with positions as
/// they are, once with those in the dropped copies' reach moved down by
/// them, so that a position near the segment's end keeps its distance to
/// it. Positions past the new end make a candidate the build rejects.
fn fewer_copies(s: &Scenario, k: usize, q: u64) -> [Scenario; 2] {
    let mut keep = s.clone();
    keep.segments[k].count = q;
    let mut shift = keep.clone();
    // The copies' size is the segment's size over its count; the build
    // knows it, the scenario does not, so take it from a build.
    if let Ok(b) = crate::scenario::build(s) {
        let copy = b.segments[k].1 / s.segments[k].count;
        let gone = (s.segments[k].count - q) * copy;
        for (p, _) in positions(&mut shift) {
            if p.seg as usize == k && p.off >= gone {
                p.off -= gone;
            }
        }
    }
    [keep, shift]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::check;
    use crate::variants::{rfc_v1::RfcV1, upstream::Upstream};

    /// ALIASED (src/oracle/tests.rs) buried in junk: a small page, a hole,
    /// a partial THP mapping, a read-only alias, a memlock limit, a fault
    /// point that never fires, and operations after the register.
    const JUNK: &str = r#"
format = 1
geometry = "real"
memlock = { pmd = 8 }

[[folio]]
kind = "small"
[[folio]]
kind = "hugetlb-pmd"
gap = 3
[[folio]]
kind = "thp"

[[segment]]
folio = 0
[[segment]]
pages = 3
[[segment]]
folio = 1
[[segment]]
folio = 1
[[segment]]
folio = 2
first = 4
pages = 5
readonly = true

[[op]]
op = "register"
iovecs = [
  { kind = "range", start = { seg = 0, off = 0 }, end = { seg = 0, off = 4096 } },
  { kind = "range", start = { seg = 2, off = 0 }, end = { seg = 3, off = 2097152 } },
  { kind = "null" },
]
[[op]]
op = "import"
slot = 1
ddir = "read"
span = { start = { seg = 2, off = 4096 }, end = { seg = 3, off = 8192 } }
[[op]]
op = "update"
offset = 2
iovecs = [{ kind = "range", start = { seg = 0, off = 100 }, end = { seg = 0, off = 200 } }]
[[op]]
op = "unregister"

[faults]
points = [{ fail = "site", site = "imu_kvmalloc", nth = 7 }]
"#;

    fn primary(s: &Scenario) -> Option<String> {
        check(s, &RfcV1, &Upstream)
            .ok()
            .and_then(|(v, _, _)| v.primary())
    }

    #[test]
    fn junk_around_the_aliased_hugetlb_page_shrinks_away() {
        let s = Scenario::from_toml(JUNK).expect("parses");
        let want = Some("rfc-v1:invariant:coverage/length".to_string());
        assert_eq!(primary(&s), want, "the junk scenario shows the finding");
        let mut calls = 0;
        let m = minimize(&s, &mut |c| {
            calls += 1;
            primary(c) == want
        });
        assert!(calls <= MAX_KEEP_CALLS);
        assert_eq!(primary(&m), want);
        let size = m.size();
        assert!(size.segments <= 2, "{}", m.to_toml());
        assert_eq!(
            (size.folios, size.ops, size.iovecs, size.faults),
            (1, 1, 1, 0),
            "{}",
            m.to_toml()
        );
        assert_eq!(m.memlock, None);
        assert!(
            m.segments.iter().all(|g| g.folio == Some(0) && !g.readonly),
            "{}",
            m.to_toml()
        );
        // Deterministic.
        let again = minimize(&s, &mut |c| primary(c) == want);
        assert_eq!(again, m);
    }

    /// The aliased hugetlb page as one counted segment of five copies, the
    /// buffer ending at its end: two copies are what the finding needs, and
    /// the buffer's end follows the segment's.
    #[test]
    fn a_count_shrinks_to_the_copies_the_finding_needs() {
        let s = Scenario::from_toml(
            "format = 1\ngeometry = \"real\"\n[[folio]]\nkind = \"hugetlb-pmd\"\n\
             [[segment]]\nfolio = 0\ncount = 5\n[[op]]\nop = \"register\"\n\
             iovecs = [{ kind = \"range\", start = { seg = 0, off = 0 }, end = { seg = 0, off = 10485760 } }]\n",
        )
        .unwrap();
        let want = Some("rfc-v1:invariant:coverage/length".to_string());
        assert_eq!(primary(&s), want);
        let m = minimize(&s, &mut |c| primary(c) == want);
        assert_eq!(m.segments.len(), 1, "{}", m.to_toml());
        assert_eq!(m.segments[0].count, 2, "{}", m.to_toml());
        let Op::Register { iovecs } = &m.ops[0] else {
            panic!("{}", m.to_toml())
        };
        let IovSpec::Range { end, .. } = iovecs[0] else {
            panic!("{}", m.to_toml())
        };
        assert_eq!(end.off, 2 * 2097152, "{}", m.to_toml());
    }

    #[test]
    fn renumbering_keeps_references_valid() {
        let s = Scenario::from_toml(JUNK).unwrap();
        let c = drop_folio(&s, 0);
        assert_eq!(c.folios.len(), 2);
        assert_eq!(c.segments.len(), 4);
        assert_eq!(c.segments[1].folio, Some(0));
        build(&c).expect("still builds");
        // The hole is gone too: the aliased range now names segments 0 and 1.
        let c = drop_segment(&c, 0);
        let Op::Register { iovecs } = &c.ops[0] else {
            panic!()
        };
        assert_eq!(
            iovecs[0],
            IovSpec::Range {
                start: Pos { seg: 0, off: 0 },
                end: Pos {
                    seg: 1,
                    off: 2097152
                }
            }
        );
        build(&c).expect("still builds");
    }

    #[test]
    fn a_predicate_that_never_holds_leaves_the_scenario_alone() {
        let s = Scenario::from_toml(JUNK).unwrap();
        let mut calls = 0;
        assert_eq!(
            minimize(&s, &mut |_| {
                calls += 1;
                false
            }),
            s
        );
        assert!(calls > 0 && calls <= MAX_KEEP_CALLS);
    }
}
