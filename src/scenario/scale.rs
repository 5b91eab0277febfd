//! Rescaling a scenario between geometries, keeping every position's
//! distance to the nearer edge of its folio or segment.

use super::build::{folio_order, ScenarioError};
use super::format::*;
use crate::mm::geometry::scale_edge;

/// [`scale_edge`] for a byte position when the page size changes too: the
/// distance to the nearer edge is counted in whole pages and a remainder,
/// and the remainder keeps its distance to the nearer page edge, so one
/// page before a folio's end stays one page before it and one byte short of
/// a page stays one byte short of the new page.
fn scale_pos(x: u64, from: u64, to: u64, pf: u64, pt: u64) -> u64 {
    if pf == pt {
        return scale_edge(x, from, to);
    }
    let x = x.min(from);
    let d = |d: u64| (d / pf) * pt + scale_edge(d % pf, pf, pt);
    if x <= from / 2 {
        d(x).min(to)
    } else {
        to.saturating_sub(d(from - x))
    }
}

/// `s` rewritten for geometry `to`, or why its layout does not exist
/// there: a folio kind the target has no size for (`hugetlb-pud` where
/// there is no PUD-level huge page, arm64's contiguous kinds elsewhere),
/// an mTHP order at or above the target's PMD order.
pub fn try_rescale(s: &Scenario, to: GeometryName) -> Result<Scenario, ScenarioError> {
    let gt = to.geometry();
    for (i, f) in s.folios.iter().enumerate() {
        folio_order(&gt, f, i).map_err(|e| ScenarioError {
            field: e.field,
            reason: format!(
                "written at {}, cannot move to {to}: {}",
                s.geometry, e.reason
            ),
        })?;
    }
    Ok(rescale(s, to))
}

/// `s` rewritten for geometry `to`. Small to real is exact for every
/// position within half a folio of an edge; real to small is lossy (a
/// position deep inside a 512-page folio lands on the small folio's middle)
/// and is only used for exploring.
pub fn rescale(s: &Scenario, to: GeometryName) -> Scenario {
    if s.geometry == to {
        return s.clone();
    }
    let (gf, gt) = (s.geometry.geometry(), to.geometry());
    let folio_pages = |g, fi: u32| -> Option<u64> {
        let f = s.folios.get(fi as usize)?;
        folio_order(g, f, fi as usize).ok().map(|(o, _)| 1u64 << o)
    };
    let mut out = s.clone();
    out.geometry = to;
    let mut sizes = Vec::with_capacity(s.segments.len());
    for (seg, new) in s.segments.iter().zip(out.segments.iter_mut()) {
        let Some(fi) = seg.folio else {
            // A hole keeps its page count; its positions keep their distance
            // to its nearer edge, as a folio's do, when the page size changes.
            let n = seg.pages.unwrap_or(0) * seg.count;
            sizes.push((n * gf.page_size(), n * gt.page_size(), 1));
            continue;
        };
        let (Some(nf), Some(nt)) = (folio_pages(&gf, fi), folio_pages(&gt, fi)) else {
            sizes.push((0, 0, 1));
            continue;
        };
        let end = seg.pages.map_or(nf, |p| seg.first + p);
        let first = scale_edge(seg.first, nf, nt).min(nt - 1);
        let end_t = scale_edge(end, nf, nt).clamp(first + 1, nt);
        new.first = first;
        new.pages = seg.pages.map(|_| end_t - first);
        sizes.push((
            (end - seg.first) * gf.page_size(),
            (end_t - first) * gt.page_size(),
            seg.count.max(1),
        ));
    }
    // In a counted segment a position keeps its copy and, inside it, its
    // distance to the copy's nearer edge.
    let pos = |p: &mut Pos| {
        if let Some(&(from, to, count)) = sizes.get(p.seg as usize) {
            let (k, o) = if from == 0 {
                (0, p.off)
            } else {
                (p.off / from, p.off % from)
            };
            p.off = if k >= count {
                count * to + (p.off - count * from)
            } else {
                k * to + scale_pos(o, from, to, gf.page_size(), gt.page_size())
            };
        }
    };
    for op in &mut out.ops {
        match op {
            Op::Register { iovecs } | Op::Update { iovecs, .. } => {
                for iov in iovecs {
                    match iov {
                        IovSpec::Range { start, end } => {
                            pos(start);
                            pos(end);
                        }
                        IovSpec::Sized { start, .. } => pos(start),
                        IovSpec::Null { .. } | IovSpec::Raw { .. } => {}
                    }
                }
            }
            Op::Import { span, .. } => {
                pos(&mut span.start);
                pos(&mut span.end);
            }
            Op::Readv { spans, .. } => {
                for sp in spans {
                    pos(&mut sp.start);
                    pos(&mut sp.end);
                }
            }
            // Kernel buffers move below, after their folios.
            Op::RegisterSparse { .. }
            | Op::Unregister
            | Op::Complete
            | Op::Ring { .. }
            | Op::Clone { .. }
            | Op::KbufRegister { .. }
            | Op::KbufUnregister { .. }
            | Op::KbufImport { .. }
            | Op::KbufReadv { .. } => {}
        }
    }
    let (pf, pt) = (gf.page_size(), gt.page_size());
    let folio_bytes = |fi: u32| Some((folio_pages(&gf, fi)? * pf, folio_pages(&gt, fi)? * pt));
    super::kbuf::rescale(s, &mut out, &folio_bytes, &|x, from, to| {
        scale_pos(x, from, to, pf, pt)
    });
    out
}
