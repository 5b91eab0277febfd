//! `regbuf-fuzz explain`: one scenario drawn for a kernel reviewer.
//!
//! The oracle's snapshots are normalised (bytes, not bvecs) so that two
//! representations of the same memory compare equal; a reviewer needs the
//! representation itself. So this module runs the model again on each side
//! and keeps every installed buffer's `bvec[]`, `nr_bvecs` and `folio_shift`.

use super::{kind_meaning, replay_command};
use crate::mm::{AllocSite, FolioId};
use crate::model::iov_iter::PhysRange;
use crate::model::{BioVec, Errno, World};
use crate::oracle::invariants::installed;
use crate::oracle::truth::{user_range, UNMAPPED};
use crate::oracle::{check, Verdict};
use crate::scenario::{build, Built, ConcreteOp, FolioKindSpec, IovSpec, Op, Pos, Scenario};
use crate::variants::Variant;
use std::fmt::Write;
use std::path::Path;

/// Most bvecs listed per buffer; longer arrays show their first and last ones.
const MAX_BVECS_SHOWN: usize = 8;

/// One installed buffer with its representation.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Buf {
    pub(crate) ubuf: u64,
    pub(crate) len: u64,
    pub(crate) nr_bvecs: u32,
    pub(crate) folio_shift: u32,
    /// `None` in a version without per-buffer accounting (7.2).
    pub(crate) acct_pages: Option<u64>,
    /// `None`: an entry never written (stale memory of a recycled object).
    pub(crate) bvecs: Vec<Option<BioVec>>,
}

impl Buf {
    /// `acct_pages N`, or what stands in its place in a version without it.
    pub(crate) fn acct(&self) -> String {
        acct_text(self.acct_pages)
    }
}

/// `acct_pages N` for `Some(N)`; for a version without the field (7.2),
/// what stands in its place.
pub(crate) fn acct_text(acct_pages: Option<u64>) -> String {
    match acct_pages {
        Some(n) => format!("acct_pages {n}"),
        None => "no acct_pages (accounted per ring)".to_string(),
    }
}

/// The state after one operation on one side.
#[derive(Clone, Debug)]
pub(crate) struct Step {
    pub(crate) ret: i64,
    pub(crate) import: Option<Vec<PhysRange>>,
    pub(crate) table_nr: usize,
    pub(crate) slots: Vec<Option<Buf>>,
    pub(crate) pins: Vec<i64>,
    pub(crate) locked_vm: Option<u64>,
    pub(crate) pinned_vm: u64,
    pub(crate) faults: Vec<AllocSite>,
    /// The task died in this operation (an oops): the oracle judges no
    /// further, so the JSON lines stop here too.
    pub(crate) dead: bool,
}

/// One scenario run on both sides with every buffer's representation kept:
/// what `explain`, the mail report, its SVG and the C reproducer's header
/// all draw from, so they cannot disagree.
#[derive(Clone, Debug)]
pub(crate) struct Sides {
    /// The scenario as built.
    pub(crate) built: Built,
    /// The oracle's verdict for `v` against `against`.
    pub(crate) verdict: Verdict,
    /// `[against, v]`, or `[v]` when they are the same variant.
    pub(crate) names: Vec<&'static str>,
    /// Per side: the state before any operation, after each, after ring exit.
    pub(crate) traces: Vec<Vec<Step>>,
}

/// Builds `s` and traces it on both sides.
pub(crate) fn sides(
    s: &Scenario,
    v: &dyn Variant,
    against: &dyn Variant,
) -> Result<Sides, crate::scenario::ScenarioError> {
    let built = build(s)?;
    let (verdict, _, _) = check(s, v, against)?;
    let sides: Vec<&dyn Variant> = if v.name() == against.name() {
        vec![v]
    } else {
        vec![against, v]
    };
    Ok(Sides {
        traces: sides.iter().map(|x| trace(*x, &built)).collect(),
        names: sides.iter().map(|x| x.name()).collect(),
        built,
        verdict,
    })
}

impl Step {
    fn of(
        v: &dyn Variant,
        w: &World,
        ret: i64,
        import: Option<Vec<PhysRange>>,
        faults: Vec<AllocSite>,
    ) -> Step {
        let mut slots = vec![None; w.ctx.buf_table.nr()];
        for (slot, imu) in installed(w) {
            let m = w.imu(imu);
            slots[slot] = Some(Buf {
                ubuf: m.ubuf,
                len: m.len,
                nr_bvecs: m.nr_bvecs,
                folio_shift: m.folio_shift,
                acct_pages: v.imu_acct_pages(w, imu),
                bvecs: m.bvecs().collect(),
            });
        }
        Step {
            ret,
            import,
            table_nr: w.ctx.buf_table.nr(),
            slots,
            pins: (0..w.phys.folios().len())
                .map(|i| w.phys.pins(FolioId(i as u32)))
                .collect(),
            locked_vm: w.ctx.user.map(|u| u.locked_vm),
            pinned_vm: w.ctx.pinned_vm,
            faults,
            dead: w.dead,
        }
    }
}

/// The same operations as `crate::run::run`, keeping the bvecs. The first
/// step is the state before any operation; the last is ring exit.
fn trace(v: &dyn Variant, b: &Built) -> Vec<Step> {
    let mut w = b.world.clone();
    let mut out = vec![Step::of(v, &w, 0, None, vec![])];
    for op in b.ops.iter().map(Some).chain([None]) {
        let calls = w.alloc.log.len();
        let (ret, import) = match op {
            Some(op) => crate::run::apply(v, &mut w, op),
            None => (crate::run::ring_exit(v, &mut w), None),
        };
        let faults = w.alloc.log[calls..]
            .iter()
            .filter(|(_, f)| *f)
            .map(|(s, _)| *s)
            .collect();
        out.push(Step::of(v, &w, ret, import, faults));
    }
    out
}

/// A reviewer's report on `s` for `v` against `against`, ending with the
/// command that reproduces it (with `<FILE>` for the path).
pub fn explain(s: &Scenario, v: &dyn Variant, against: &dyn Variant) -> String {
    explain_with(s, v, against, None)
}

/// [`explain`] for a scenario read from `path`, which the replay command names.
pub fn explain_with(
    s: &Scenario,
    v: &dyn Variant,
    against: &dyn Variant,
    path: Option<&Path>,
) -> String {
    let mut o = String::new();
    let same = v.name() == against.name();
    let title = if same {
        format!("{} alone (invariants only)", v.name())
    } else {
        format!("{} against {}", v.name(), against.name())
    };
    let _ = writeln!(o, "regbuf-fuzz explain: {title}");
    if let Some(p) = path {
        let _ = writeln!(o, "file: {}", p.display());
    }
    if let Some(n) = &s.note {
        for l in wrap(n, 96) {
            let _ = writeln!(o, "note: {l}");
        }
    }
    let Sides {
        built: b,
        verdict,
        names,
        traces,
    } = match sides(s, v, against) {
        Ok(x) => x,
        Err(e) => {
            let _ = writeln!(o, "\nThe scenario does not build: {e}");
            let _ = writeln!(o, "\n{}", replay_command(path, v.name(), against.name()));
            return o;
        }
    };
    let w = &b.world;
    let geo = w.geo;

    let _ = writeln!(
        o,
        "\ngeometry {}: {}",
        geo.name(),
        crate::report::geometry_sizes(&geo)
    );
    match s.memlock {
        Some(m) => {
            let bytes = m.bytes_at(&geo);
            let _ = writeln!(
                o,
                "RLIMIT_MEMLOCK: {} ({} pages)",
                hsize(bytes),
                bytes >> geo.page_shift
            );
        }
        None => {
            let _ = writeln!(o, "RLIMIT_MEMLOCK: not checked (CAP_IPC_LOCK: ctx->user is NULL; pinned_vm still counts)");
        }
    }
    if !s.faults.points.is_empty() {
        let f: Vec<String> = s.faults.points.iter().map(|p| p.to_string()).collect();
        let _ = writeln!(o, "faults: {}", f.join("; "));
    }

    layout(&mut o, s, &b);

    // Operations.
    let _ = writeln!(
        o,
        "\nOPERATIONS (return value per side; buffers, pins and accounting where they changed)"
    );
    let n_ops = b.ops.len();
    for i in 0..=n_ops {
        let kind = if i < n_ops {
            crate::run::op_kind(&b.ops[i])
        } else {
            "ring_exit"
        };
        let rets: Vec<String> = names
            .iter()
            .zip(&traces)
            .map(|(n, t)| format!("{n} {}", ret_text(t[i + 1].ret)))
            .collect();
        let _ = writeln!(o, "\n  op {i} {kind:<16} {}", rets.join("  |  "));
        if i < n_ops {
            describe_op(&mut o, s, &b, i);
        }
        for (n, t) in names.iter().zip(&traces) {
            if !t[i + 1].faults.is_empty() {
                let f: Vec<String> = t[i + 1].faults.iter().map(|x| x.to_string()).collect();
                let _ = writeln!(o, "    {n}: allocation failed at {}", f.join(", "));
            }
        }
        // Imports: what each side touched, and what the user range holds.
        if let Some(ConcreteOp::Import { buf_addr, len, .. }) = b.ops.get(i) {
            let _ = writeln!(
                o,
                "    the user range is backed by {}",
                ranges(w, &user_range(w, *buf_addr, *len))
            );
        }
        if let Some(ConcreteOp::Readv { iovecs, .. }) = b.ops.get(i) {
            let mut want = Vec::new();
            for iov in iovecs {
                for r in user_range(w, iov.iov_base, iov.iov_len) {
                    crate::model::iov_iter::push_merged(&mut want, r);
                }
            }
            let _ = writeln!(o, "    the user ranges are backed by {}", ranges(w, &want));
        }
        for (n, t) in names.iter().zip(&traces) {
            if let Some(r) = &t[i + 1].import {
                let _ = writeln!(o, "    {n} touches {}", ranges(w, r));
            }
        }
        // Buffers that changed.
        let nslots = traces
            .iter()
            .map(|t| t[i].slots.len().max(t[i + 1].slots.len()))
            .max()
            .unwrap_or(0);
        for slot in 0..nslots {
            let changed = traces
                .iter()
                .any(|t| t[i].slots.get(slot) != t[i + 1].slots.get(slot));
            if !changed {
                continue;
            }
            let now: Vec<Option<&Buf>> = traces
                .iter()
                .map(|t| t[i + 1].slots.get(slot).and_then(|x| x.as_ref()))
                .collect();
            match now.iter().flatten().next() {
                None => {
                    let _ = writeln!(o, "    slot {slot}: empty now (released on every side)");
                    continue;
                }
                Some(first) => {
                    let _ = writeln!(
                        o,
                        "    slot {slot}: ubuf {:#x} len {:#x} ({})",
                        first.ubuf,
                        first.len,
                        hsize(first.len)
                    );
                }
            }
            for (n, buf) in names.iter().zip(&now) {
                match buf {
                    None => {
                        let _ = writeln!(o, "      {n}: empty");
                    }
                    Some(buf) => bufdesc(&mut o, w, n, buf),
                }
            }
        }
        let tables: Vec<usize> = traces.iter().map(|t| t[i + 1].table_nr).collect();
        if traces.iter().any(|t| t[i].table_nr != t[i + 1].table_nr) {
            let t: Vec<String> = names
                .iter()
                .zip(&tables)
                .map(|(n, x)| format!("{n} {x}"))
                .collect();
            let _ = writeln!(o, "    table size: {}", t.join(", "));
        }
        // Pins per folio that changed on either side.
        for f in 0..w.phys.folios().len() {
            if traces.iter().all(|t| t[i].pins[f] == t[i + 1].pins[f]) {
                continue;
            }
            let p: Vec<String> = names
                .iter()
                .zip(&traces)
                .map(|(n, t)| format!("{n} {} -> {}", t[i].pins[f], t[i + 1].pins[f]))
                .collect();
            let _ = writeln!(
                o,
                "    pins on folio {f} ({}): {}",
                folio_kind(s, f),
                p.join(", ")
            );
        }
        if traces
            .iter()
            .any(|t| (t[i].locked_vm, t[i].pinned_vm) != (t[i + 1].locked_vm, t[i + 1].pinned_vm))
        {
            let a: Vec<String> = names
                .iter()
                .zip(&traces)
                .map(|(n, t)| {
                    let s = &t[i + 1];
                    match s.locked_vm {
                        Some(l) => format!(
                            "{n} locked_vm {} pinned_vm {}",
                            l as i64, s.pinned_vm as i64
                        ),
                        None => format!("{n} pinned_vm {}", s.pinned_vm as i64),
                    }
                })
                .collect();
            let _ = writeln!(o, "    accounting (pages): {}", a.join(", "));
        }
    }

    findings(&mut o, &verdict);
    let _ = writeln!(
        o,
        "\nto reproduce:\n{}",
        replay_command(path, v.name(), against.name())
    );
    o
}

/// The folios, then the address space drawn top to bottom.
fn layout(o: &mut String, s: &Scenario, b: &Built) {
    let w = &b.world;
    let geo = w.geo;
    let _ = writeln!(o, "\nFOLIOS (physical memory, in pfn order)");
    let folios = w.phys.folios();
    for (i, f) in folios.iter().enumerate() {
        let n = 1u64 << f.order;
        let users: Vec<usize> = s
            .segments
            .iter()
            .enumerate()
            .filter(|(_, g)| g.folio == Some(i as u32))
            .map(|(k, _)| k)
            .collect();
        let mut notes = Vec::new();
        match users.len() {
            0 => notes.push("not mapped".to_string()),
            _ => notes.push(format!(
                "mapped by {}",
                users
                    .iter()
                    .map(|k| format!("seg {k}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
        if aliased(s, w, i as u32) {
            notes.push("ALIASED: the same pages at more than one address".into());
        }
        if i > 0 {
            let p = &folios[i - 1];
            if p.head + (1 << p.order) == f.head {
                notes.push(format!("physically right after folio {}", i - 1));
            }
        }
        let pfns = if n == 1 {
            format!("{:#x}", f.head)
        } else {
            format!("{:#x}-{:#x}", f.head, f.head + n - 1)
        };
        let _ = writeln!(
            o,
            "  folio {i:<3} {:<12} order {:<2} ({:>7})  pfn {pfns:<17}  {}",
            folio_kind(s, i),
            f.order,
            hsize(geo.folio_bytes(f.order)),
            notes.join("; ")
        );
    }
    let _ = writeln!(
        o,
        "\nADDRESS SPACE (segments in address order; positions below are \"seg N +offset\")"
    );
    let mut prev_end: Option<u64> = None;
    for (k, (seg, &(va, bytes))) in s.segments.iter().zip(&b.segments).enumerate() {
        if let Some(e) = prev_end {
            if va > e {
                let _ = writeln!(
                    o,
                    "  {e:#014x} |   unmapped {} (padding to the next folio's alignment)",
                    hsize(va - e)
                );
            }
        }
        let what = match seg.folio {
            None => format!("hole: {} unmapped", hsize(bytes)),
            Some(fi) => {
                let f = &w.phys.folios()[fi as usize];
                let pages = (bytes >> geo.page_shift) / seg.count;
                let first = seg.first;
                let whole = first == 0 && pages == 1 << f.order;
                let what = if pages == 1 {
                    format!("page {first} = pfn {:#x}", f.head + first)
                } else {
                    format!(
                        "pages {first}-{} = pfn {:#x}-{:#x}",
                        first + pages - 1,
                        f.head + first,
                        f.head + first + pages - 1
                    )
                };
                let mut t = format!(
                    "{:>7}  folio {fi} ({}) {what}{}",
                    hsize(bytes / seg.count),
                    folio_kind(s, fi as usize),
                    if whole { "" } else { " (part of the folio)" }
                );
                t.push_str(if seg.readonly { "  read-only" } else { "  rw" });
                if seg.aligned {
                    t.push_str("  PMD/PUD-mapped");
                }
                if seg.count > 1 {
                    t.push_str(&format!("  x{} copies, {} in all", seg.count, hsize(bytes)));
                }
                if let Some(j) = s.segments[..k]
                    .iter()
                    .position(|g| g.folio == Some(fi) && overlaps(g, seg, 1 << f.order))
                {
                    t.push_str(&format!("  <- same pages as seg {j}"));
                }
                t
            }
        };
        let _ = writeln!(o, "  {va:#014x} +-- seg {k:<3} {what}");
        prev_end = Some(va + bytes);
    }
    if let Some(e) = prev_end {
        let _ = writeln!(o, "  {e:#014x} +-- end");
    }
}

fn overlaps(a: &crate::scenario::Segment, b: &crate::scenario::Segment, n: u64) -> bool {
    let r = |g: &crate::scenario::Segment| (g.first, g.first + g.pages.unwrap_or(n - g.first));
    let (x, y) = (r(a), r(b));
    x.0 < y.1 && y.0 < x.1
}

/// Whether two segments map overlapping pages of folio `fi`.
fn aliased(s: &Scenario, w: &World, fi: u32) -> bool {
    let n = 1u64 << w.phys.folios()[fi as usize].order;
    let segs: Vec<_> = s.segments.iter().filter(|g| g.folio == Some(fi)).collect();
    segs.iter()
        .enumerate()
        .any(|(i, a)| segs[i + 1..].iter().any(|b| overlaps(a, b, n)))
}

/// The operation as written and as resolved.
fn describe_op(o: &mut String, s: &Scenario, b: &Built, i: usize) {
    let pos = |p: &Pos| format!("seg {} +{:#x}", p.seg, p.off);
    let iovs = |spec: &[IovSpec], conc: &[crate::model::Iovec]| -> Vec<String> {
        spec.iter()
            .zip(conc)
            .enumerate()
            .map(|(j, (sp, c))| {
                let written = match sp {
                    IovSpec::Range { start, end } => format!("[{} .. {})", pos(start), pos(end)),
                    IovSpec::Sized { start, len } => {
                        format!("{} with a length of {len:?}", pos(start))
                    }
                    IovSpec::Null { .. } => "NULL".into(),
                    IovSpec::Raw { .. } => "raw".into(),
                };
                format!(
                    "iovec {j}: {written} = iov_base {:#x} iov_len {:#x} ({})",
                    c.iov_base,
                    c.iov_len,
                    hsize(c.iov_len)
                )
            })
            .collect()
    };
    let lines: Vec<String> = match (&s.ops[i], &b.ops[i]) {
        (Op::Register { iovecs }, ConcreteOp::Register { iovecs: c }) => iovs(iovecs, c),
        (Op::Update { iovecs, offset }, ConcreteOp::Update { iovecs: c, .. }) => {
            let mut v = vec![format!("from slot {offset}")];
            v.extend(iovs(iovecs, c));
            v
        }
        (Op::RegisterSparse { nr }, _) => vec![format!("{nr} empty slots")],
        (
            Op::Import {
                slot,
                ddir,
                span,
                hold,
            },
            ConcreteOp::Import { buf_addr, len, .. },
        ) => {
            vec![format!(
                "{ddir:?} slot {slot}: [{} .. {}) = buf_addr {buf_addr:#x} len {len:#x}{}",
                pos(&span.start),
                pos(&span.end),
                held(*hold)
            )]
        }
        (
            Op::Readv {
                slot,
                ddir,
                spans,
                hold,
            },
            ConcreteOp::Readv { iovecs, .. },
        ) => {
            let mut v = vec![format!(
                "{ddir:?} slot {slot}, {} iovecs{}:",
                spans.len(),
                held(*hold)
            )];
            for (sp, c) in spans.iter().zip(iovecs) {
                v.push(format!(
                    "  [{} .. {}) = iov_base {:#x} iov_len {:#x}",
                    pos(&sp.start),
                    pos(&sp.end),
                    c.iov_base,
                    c.iov_len
                ));
            }
            v
        }
        (Op::Complete, _) => vec!["the oldest request in flight gets its data and is freed".into()],
        _ => vec![],
    };
    for l in lines {
        let _ = writeln!(o, "    {l}");
    }
}

/// One side's view of a buffer: header, then its bvecs.
fn bufdesc(o: &mut String, w: &World, side: &str, buf: &Buf) {
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
        let Some(bv) = buf.bvecs[i] else {
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
fn findings(o: &mut String, v: &Verdict) {
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

fn finding(o: &mut String, k: usize, f: &crate::oracle::Finding) {
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
            super::times(a.count),
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

pub(crate) fn folio_kind(s: &Scenario, i: usize) -> String {
    match s.folios.get(i) {
        Some(f) => match f.kind {
            FolioKindSpec::Small => "small".into(),
            FolioKindSpec::Mthp => format!("mthp-{}", f.order.unwrap_or(0)),
            FolioKindSpec::Thp => "thp".into(),
            k => k.as_str().into(),
        },
        None => "?".into(),
    }
}

pub(crate) fn ret_text(r: i64) -> String {
    if r >= 0 {
        return r.to_string();
    }
    match Errno::parse(&(-r).to_string()) {
        Some(e) => format!("{e}"),
        None => r.to_string(),
    }
}

/// Physical ranges as `folio F page P +len`, which a reviewer can match
/// against the layout.
pub(crate) fn ranges(w: &World, r: &[PhysRange]) -> String {
    if r.is_empty() {
        return "nothing".into();
    }
    let shift = w.geo.page_shift;
    let parts: Vec<String> = r
        .iter()
        .take(6)
        .map(|&(a, l)| {
            if a & UNMAPPED != 0 {
                return format!("UNMAPPED {:#x}+{l:#x}", a & !UNMAPPED);
            }
            let pfn = a >> shift;
            match w.phys.page_folio(pfn) {
                Some(f) => format!(
                    "{a:#x}+{l:#x} (folio {} page {}{})",
                    f.0,
                    w.phys.folio_page_idx(f, pfn),
                    if a % (1 << shift) != 0 {
                        format!(" +{:#x}", a % (1 << shift))
                    } else {
                        String::new()
                    }
                ),
                None => format!("{a:#x}+{l:#x} (NO folio)"),
            }
        })
        .collect();
    let more = if r.len() > 6 {
        format!(" and {} more ranges", r.len() - 6)
    } else {
        String::new()
    };
    format!("{}{more}", parts.join(", "))
}

/// `4 KiB`, `2 MiB`, or the byte count in hex.
pub(crate) fn hsize(b: u64) -> String {
    for (unit, name) in [(1u64 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")] {
        if b >= unit && b % unit == 0 {
            return format!("{} {name}", b / unit);
        }
    }
    format!("{b:#x} bytes")
}

pub(crate) fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for word in text.split_whitespace() {
        if !cur.is_empty() && cur.len() + 1 + word.len() > width {
            out.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::variants::{rfc_v1::RfcV1, upstream::Upstream};

    const ALIASED: &str = "format = 1\ngeometry = \"real\"\n[[folio]]\nkind = \"hugetlb-pmd\"\n[[segment]]\nfolio = 0\n[[segment]]\nfolio = 0\n\
        [[op]]\nop = \"register\"\niovecs = [{ kind = \"range\", start = { seg = 0, off = 0 }, end = { seg = 1, off = 2097152 } }]\n";

    #[test]
    fn the_aliased_report_shows_both_bvec_arrays_and_the_rule() {
        let s = Scenario::from_toml(ALIASED).unwrap();
        let r = explain_with(
            &s,
            &RfcV1,
            &Upstream,
            Some(Path::new("corpus/rfc-v1/aliased.toml")),
        );
        assert!(r.contains("ALIASED"), "{r}");
        assert!(r.contains("upstream: nr_bvecs 2, folio_shift 21"), "{r}");
        assert!(r.contains("rfc-v1: nr_bvecs 1, folio_shift 21"), "{r}");
        assert!(r.contains("bv_len sum 0x200000, imu->len 0x400000"), "{r}");
        assert!(
            r.contains("pins on folio 0 (hugetlb-pmd): upstream 0 -> 2, rfc-v1 0 -> 1"),
            "{r}"
        );
        assert!(r.contains("rfc-v1:invariant:coverage"), "{r}");
        assert!(r.contains("io_release_ubuf"), "{r}");
        assert!(
            r.trim_end()
                .ends_with("regbuf-fuzz replay corpus/rfc-v1/aliased.toml --variant rfc-v1"),
            "{r}"
        );
    }

    #[test]
    fn a_scenario_that_does_not_build_is_said_so() {
        let mut s = Scenario::from_toml(ALIASED).unwrap();
        s.segments[1].folio = Some(3);
        let r = explain(&s, &RfcV1, &Upstream);
        assert!(
            r.contains("does not build: field `segment[1].folio`"),
            "{r}"
        );
        assert!(
            r.trim_end()
                .ends_with("regbuf-fuzz replay <FILE> --variant rfc-v1"),
            "{r}"
        );
    }

    #[test]
    fn long_bvec_arrays_are_cut_and_holes_drawn() {
        let s = Scenario::from_toml(
            "format = 1\ngeometry = \"real\"\n[[folio]]\nkind = \"small\"\n[[folio]]\nkind = \"hugetlb-pmd\"\n\
             [[segment]]\npages = 511\n[[segment]]\nfolio = 0\n[[segment]]\nfolio = 1\n\
             [[op]]\nop = \"register\"\niovecs = [{ kind = \"range\", start = { seg = 1, off = 0 }, end = { seg = 2, off = 2097152 } }]\n\
             [[op]]\nop = \"import\"\nslot = 0\nddir = \"write\"\nspan = { start = { seg = 1, off = 4000 }, end = { seg = 2, off = 10 } }\n",
        )
        .unwrap();
        let r = explain(&s, &Upstream, &Upstream);
        assert!(r.contains("hole: 2044 KiB unmapped"), "{r}");
        assert!(r.contains("more bvecs"), "{r}");
        assert!(r.contains("upstream touches"), "{r}");
        assert!(r.contains("FINDINGS: none"), "{r}");
    }
}

/// How a request held in flight is marked in a report.
pub(crate) fn held(hold: bool) -> &'static str {
    if hold {
        ", held in flight"
    } else {
        ""
    }
}
