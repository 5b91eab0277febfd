//! `regbuf-fuzz repro`: a scenario as a self-contained C program that
//! builds the same layout on the running kernel, runs the same operations
//! on a real ring and checks every byte and counter against the model's
//! upstream prediction.
//!
//! The program is what `regbuf-fuzz live` does for one scenario, written
//! down so a kernel developer can run it without this tool: the layout
//! comes from [`crate::live::layout::LayoutPlan`] (the same plan the live
//! check builds), the scenario is put in the live form (real geometry, no
//! allocation failures: a stock kernel cannot inject them), and fixed I/O
//! is added after each registration: the whole buffer read and written (as
//! `live` does), then short reads and writes across every bvec boundary
//! of either side and the first page boundary, where a wrong bvec array
//! shows. Every expected value is the upstream model's; the header says
//! what the variant's model does instead at the same operations.

mod c;
pub(crate) mod header;

use crate::live::layout::{LayoutPlan, Skip};
use crate::model::iov_iter::PhysRange;
use crate::model::ITER_DEST;
use crate::oracle::truth::UNMAPPED;
use crate::report::{sides, Buf};
use crate::run::Run;
use crate::scenario::{
    build, rescale, Built, ConcreteOp, Ddir, GeometryName, Op, Pos, Scenario, Span,
};
use crate::variants::{self, Variant};
use std::path::Path;

/// Base page size of the real geometry the program runs at.
const PAGE: u64 = 4096;
/// Boundary points probed per buffer: the first and the last few.
const MAX_POINTS: usize = 6;
/// Spare 2 MiB hugetlb pages reserved per program with a 2 MiB folio, to
/// find pages physically next to the scenario's among them and keep those
/// as guards: I/O that leaves the folio it pinned shows there.
const SPARE_2M: usize = 16;

/// Why an operation of the program is there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Operation `j` of the scenario file.
    Scenario(usize),
    /// Fixed I/O added after scenario operation `op`, for the reason given.
    Probe {
        /// The registration it follows.
        op: usize,
        /// Why this offset (a bvec boundary, the whole buffer).
        why: String,
    },
}

/// One physical piece of a fixed transfer, in folio coordinates: bytes
/// `[off, off + len)` of `folio` are transfer bytes `[k, k + len)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Piece {
    pub(crate) folio: u32,
    pub(crate) off: u64,
    pub(crate) len: u64,
    pub(crate) k: u64,
}

/// What the upstream model says one operation does on the real kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Expect {
    /// Return value as user space sees it (bytes moved for fixed I/O).
    pub(crate) ret: i64,
    /// `VmPin` above its value after ring setup, in kB.
    pub(crate) pin_kb: u64,
    /// For fixed I/O that succeeds: the bytes it moves, in order.
    pub(crate) pieces: Option<Vec<Piece>>,
    /// Private hugetlb pages a live child maps that pins have copied by
    /// the end of it (the parent's page frame has changed).
    pub(crate) copies: usize,
}

/// A scenario in the form the program runs, with everything the emitter needs.
pub(crate) struct ProgramForm {
    /// The scenario file's own form (its geometry, its faults).
    pub(crate) original: Scenario,
    /// Real geometry, no faults, probes added.
    pub(crate) scenario: Scenario,
    /// `scenario` built.
    pub(crate) built: Built,
    /// Where each operation comes from.
    pub(crate) origins: Vec<Origin>,
    /// The layout, or why this build of the program cannot make it.
    pub(crate) plan: Result<LayoutPlan, String>,
    /// Per operation, the upstream model's prediction.
    pub(crate) expects: Vec<Expect>,
    /// The upstream model's run (its violations say whether the model
    /// itself is consistent here).
    pub(crate) upstream: Run,
    /// The variant's run of the same operations.
    pub(crate) variant_run: Run,
    /// The variant explained.
    pub(crate) variant: &'static dyn Variant,
}

/// Everything `repro` writes: the C source, and the one-line verdicts it
/// was made from.
#[derive(Clone, Debug)]
pub struct Program {
    /// The C program.
    pub source: String,
    /// Operations the program runs (scenario operations and probes).
    pub ops: usize,
}

/// The C reproducer of scenario `s` (read from `file`), explained for `v`.
pub fn emit(file: &Path, s: &Scenario, v: &'static dyn Variant) -> Result<Program, String> {
    s.check_runs_here("repro")?;
    if let Some((i, kind)) = s.first_kbuf_op() {
        return Err(format!(
            "field `op[{i}]`: `{kind}`: a kernel-registered buffer (io_buffer_register_bvec, a driver's \
             such as ublk's zero copy) cannot be registered from user space, so it is not written as C; \
             the Rust model runs it (`regbuf-fuzz replay FILE`, `explain FILE`)"
        ));
    }
    if let Some(i) = s.ops.iter().position(|o| {
        matches!(
            o,
            Op::Complete | Op::Import { hold: true, .. } | Op::Readv { hold: true, .. }
        )
    }) {
        return Err(format!(
            "field `op[{i}]`: a request held in flight (`hold`, `complete`) is not written as C yet; \
             `regbuf-fuzz live FILE` runs it on this kernel"
        ));
    }
    if let Some(i) = s
        .ops
        .iter()
        .position(|o| matches!(o, Op::Ring { .. } | Op::Clone { .. }))
    {
        return Err(format!(
            "field `op[{i}]`: a second ring and clones (`ring`, `clone`) are not written as C yet; \
             `regbuf-fuzz live FILE` runs them on this kernel"
        ));
    }
    let form = program_form(s, v)?;
    let source = c::render(file, &form);
    Ok(Program {
        source,
        ops: form.built.ops.len(),
    })
}

/// The scenario at real geometry without faults: what a stock kernel can run.
fn live_form(s: &Scenario) -> Scenario {
    let mut l = rescale(s, GeometryName::Real);
    l.faults = Default::default();
    l
}

pub(crate) fn program_form(s: &Scenario, v: &'static dyn Variant) -> Result<ProgramForm, String> {
    let up = variants::by_name("upstream").expect("upstream exists");
    let base = live_form(s);
    let sd = sides(&base, v, up).map_err(|e| format!("at real geometry: {e}"))?;
    let segs = &sd.built.segments;
    let mut scenario = base.clone();
    scenario.ops.clear();
    let mut origins = Vec::new();
    // Probes fill what the format allows beyond the file's own operations;
    // a file with very many buffers (1024 iovecs) has its later ones unprobed.
    let mut budget = crate::scenario::MAX_OPS.saturating_sub(base.ops.len());
    for (j, op) in base.ops.iter().enumerate() {
        scenario.ops.push(op.clone());
        origins.push(Origin::Scenario(j));
        if !matches!(op, Op::Register { .. } | Op::Update { .. }) {
            continue;
        }
        // Buffers this operation installed on either side.
        let nslots = sd
            .traces
            .iter()
            .map(|t| t[j + 1].slots.len())
            .max()
            .unwrap_or(0);
        for slot in 0..nslots {
            let now: Vec<Option<&Buf>> = sd
                .traces
                .iter()
                .map(|t| t[j + 1].slots.get(slot).and_then(Option::as_ref))
                .collect();
            let changed = sd
                .traces
                .iter()
                .any(|t| t[j].slots.get(slot) != t[j + 1].slots.get(slot));
            let Some(first) = now.iter().flatten().next() else {
                continue;
            };
            if !changed {
                continue;
            }
            for (p, why) in probes(first, &now, &sd.names) {
                if budget == 0 {
                    break;
                }
                let (start, end) = (first.ubuf + p.0, first.ubuf + p.0 + p.1);
                let (Some(a), Some(b)) = (pos_of(segs, start, false), pos_of(segs, end, true))
                else {
                    continue;
                };
                let span = Span { start: a, end: b };
                scenario.ops.push(match p.2 {
                    Kind::One(ddir) => Op::Import {
                        slot: slot as u32,
                        ddir,
                        span,
                        hold: false,
                    },
                    Kind::Vec(second) => {
                        let (c, d) = (first.ubuf + second.0, first.ubuf + second.0 + second.1);
                        let (Some(c), Some(d)) = (pos_of(segs, c, false), pos_of(segs, d, true))
                        else {
                            continue;
                        };
                        Op::Readv {
                            slot: slot as u32,
                            ddir: Ddir::Read,
                            spans: vec![span, Span { start: c, end: d }],
                            hold: false,
                        }
                    }
                });
                origins.push(Origin::Probe { op: j, why });
                budget -= 1;
            }
        }
    }
    let built = build(&scenario).map_err(|e| format!("with its probes: {e}"))?;
    built
        .fits_c("a repro program")
        .map_err(|e| format!("at real geometry: {e}"))?;
    let upstream = crate::run::run(up, &built);
    let variant_run = crate::run::run(v, &built);
    let plan = LayoutPlan::new(&scenario, &built).map_err(|e| match e {
        Skip::Unsupported(w) | Skip::NotBacked(w) => w,
    });
    let expects = built
        .ops
        .iter()
        .zip(&upstream.ops)
        .map(|(op, rec)| {
            expect(
                &built,
                op,
                rec.ret,
                rec.import.as_deref(),
                rec.snapshot.pinned_vm,
            )
            .map(|e| Expect {
                copies: rec.cow_copied.len(),
                ..e
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(ProgramForm {
        original: s.clone(),
        scenario,
        built,
        origins,
        plan,
        expects,
        upstream,
        variant_run,
        variant: v,
    })
}

/// A fixed transfer of one or two ranges of a buffer.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// `READ_FIXED` or `WRITE_FIXED`.
    One(Ddir),
    /// `READV_FIXED` of this range and a second one `(offset, len)`.
    Vec((u64, u64)),
}

/// Probes of one buffer as `(offset, len, kind)` with the reason: the
/// whole buffer read and written, then at each boundary point `p` of
/// either side's bvecs (and the first page boundary) a 2-byte read and
/// write across `p` and a read of the page from `p`; one `READV_FIXED` of
/// the first page and the first boundary, for `io_vec_fill_bvec`.
fn probes(first: &Buf, now: &[Option<&Buf>], names: &[&str]) -> Vec<((u64, u64, Kind), String)> {
    let len = first.len;
    let mut out = vec![
        (
            (0, len, Kind::One(Ddir::Read)),
            "the whole buffer".to_string(),
        ),
        (
            (0, len, Kind::One(Ddir::Write)),
            "the whole buffer".to_string(),
        ),
    ];
    let mut points: Vec<(u64, String)> = Vec::new();
    for (name, buf) in names.iter().zip(now) {
        let Some(buf) = buf else { continue };
        let mut at = 0;
        for (i, bv) in buf.bvecs.iter().enumerate() {
            at += bv.map_or(0, |b| b.bv_len);
            points.push((at, format!("end of {name}'s bvec[{i}]")));
        }
    }
    points.push((PAGE - first.ubuf % PAGE, "the first page boundary".into()));
    points.retain(|&(p, _)| p > 0 && p < len);
    points.sort_by_key(|&(p, _)| p);
    let mut merged: Vec<(u64, String)> = Vec::new();
    for (p, why) in points {
        match merged.last_mut() {
            Some((q, w)) if *q == p => {
                if !w.contains(&why) {
                    w.push_str(", ");
                    w.push_str(&why);
                }
            }
            _ => merged.push((p, why)),
        }
    }
    if merged.len() > MAX_POINTS {
        let tail = merged.split_off(merged.len() - MAX_POINTS / 2);
        merged.truncate(MAX_POINTS / 2);
        merged.extend(tail);
    }
    for (p, why) in &merged {
        // p < len, so the two bytes p - 1 and p are inside the buffer.
        out.push((
            (p - 1, 2, Kind::One(Ddir::Read)),
            format!("across {why} at +{p:#x}"),
        ));
        out.push((
            (p - 1, 2, Kind::One(Ddir::Write)),
            format!("across {why} at +{p:#x}"),
        ));
        out.push((
            (*p, PAGE.min(len - p), Kind::One(Ddir::Read)),
            format!("from {why} at +{p:#x}"),
        ));
    }
    if let Some((p, why)) = merged.first() {
        out.push((
            (0, PAGE.min(len), Kind::Vec((p - 1, 2))),
            format!("the first page and across {why} at +{p:#x}, as two iovecs"),
        ));
    }
    out
}

/// The position of model address `a` in `segs`: inside a segment, or its
/// end when `end` (a span's end may be a segment's last byte + 1).
fn pos_of(segs: &[(u64, u64)], a: u64, end: bool) -> Option<Pos> {
    segs.iter().enumerate().find_map(|(k, &(s, l))| {
        let inside = if end {
            a > s && a <= s + l
        } else {
            a >= s && a < s + l
        };
        inside.then_some(Pos {
            seg: k as u32,
            off: a - s,
        })
    })
}

/// The upstream prediction for one operation, as the real kernel reports it.
fn expect(
    b: &Built,
    op: &ConcreteOp,
    ret: i64,
    import: Option<&[PhysRange]>,
    pinned_vm: u64,
) -> Result<Expect, String> {
    // The model returns 0 for a successful import; the kernel returns the bytes moved.
    let ret = match op {
        ConcreteOp::Import { len, .. } if ret == 0 => *len as i64,
        ConcreteOp::Readv { iovecs, .. } if ret == 0 => {
            iovecs.iter().map(|v| v.iov_len as i64).sum()
        }
        _ => ret,
    };
    let pieces = match (op, import) {
        (ConcreteOp::Import { .. } | ConcreteOp::Readv { .. }, Some(r)) if ret >= 0 => {
            Some(pieces(b, r)?)
        }
        _ => None,
    };
    Ok(Expect {
        ret,
        pin_kb: pinned_vm * (PAGE / 1024),
        pieces,
        copies: 0,
    })
}

/// Physical ranges from the model as folio pieces; a merged range may span
/// physically adjacent folios, so it is cut at folio ends.
fn pieces(b: &Built, ranges: &[PhysRange]) -> Result<Vec<Piece>, String> {
    let phys = &b.world.phys;
    let mut out = Vec::new();
    let mut k = 0;
    for &(start, len) in ranges {
        let mut a = start;
        while a < start + len {
            let f = phys
                .page_folio(a / PAGE)
                .filter(|_| a & UNMAPPED == 0)
                .ok_or_else(|| {
                    format!("the upstream model moves a byte no folio holds ({a:#x}): not a layout this program can check")
                })?;
            let head = phys.folio(f).head * PAGE;
            let n = (head + phys.folio_nr_pages(f) * PAGE - a).min(start + len - a);
            // A COW copy shows at its original's addresses, with the
            // original's bytes: the program knows it by the original.
            let shown = (0..b.world.phys.folios().len() as u32)
                .map(crate::mm::FolioId)
                .find(|&o| phys.cow_target(o) == Some(f))
                .unwrap_or(f);
            out.push(Piece {
                folio: shown.0,
                off: a - head,
                len: n,
                k,
            });
            a += n;
            k += n;
        }
    }
    Ok(out)
}

/// How many spare 2 MiB pages the program reserves to find guard pages
/// among (none without a 2 MiB hugetlb folio to guard).
pub(crate) fn guards(form: &ProgramForm) -> usize {
    if form
        .scenario
        .folios
        .iter()
        .any(|f| f.kind.sized() == crate::scenario::FolioKindSpec::HugetlbPmd)
    {
        SPARE_2M
    } else {
        0
    }
}

/// Whether a fixed transfer reads into memory (`READ_FIXED`).
pub(crate) fn is_read(op: &ConcreteOp) -> bool {
    matches!(op, ConcreteOp::Import { ddir, .. } | ConcreteOp::Readv { ddir, .. } if *ddir == ITER_DEST)
}

#[cfg(test)]
mod tests;
