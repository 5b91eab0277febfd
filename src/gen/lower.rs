//! Lowering raw choices to a scenario that `build()` accepts. Every byte is
//! read through a weighted table, so the bias toward folio edges, aliasing
//! and partial mappings lives here, once, for both byte sources; and every
//! rule `build()` enforces is repaired here (indices taken modulo, hugetlb
//! mapped whole, an anonymous page already mapped replaced by its unmapped
//! remainder, a small page or a hole), so no input is ever rejected.

use super::ops::lower_ops;
use super::raw::*;
use super::GenConfig;
use crate::mm::{AllocSite, FaultPlan, FaultPoint, Geometry};
use crate::scenario::{FolioKindSpec, FolioSpec, GeometryName, Scenario, Segment, Size, FORMAT_VERSION};

/// The geometry every generated scenario is written for.
pub const GEOMETRY: GeometryName = GeometryName::Small;

/// Picks from `table` by weight; `c == 0` always picks the first entry.
pub(crate) fn pick<T: Copy>(c: u8, table: &[(u32, T)]) -> T {
    let total: u32 = table.iter().map(|e| e.0).sum();
    let mut x = (c as u32 * total) >> 8;
    for &(w, v) in table {
        if x < w {
            return v;
        }
        x -= w;
    }
    table[table.len() - 1].1
}

/// The segments as lowered, with their sizes in bytes.
pub(crate) struct Layout {
    /// The segments.
    pub segments: Vec<Segment>,
    /// Size in bytes of each segment.
    pub bytes: Vec<u64>,
    /// Page size.
    pub page: u64,
}

/// Lowers `raw` to a scenario at [`GEOMETRY`] that `build()` accepts.
pub fn lower(raw: &RawScenario, cfg: &GenConfig) -> Scenario {
    let geo = GEOMETRY.geometry();
    let (max_folios, max_segments, _) = cfg.limits();
    let folios = lower_folios(&raw.folios[..raw.folios.len().min(max_folios)], &geo);
    let segs = &raw.segments[..raw.segments.len().min(max_segments)];
    let layout = lower_segments(segs, &folios, &geo);
    let memlock = lower_memlock(raw.memlock, &folios, &layout.segments, &geo);
    let ops = lower_ops(&raw.ops, cfg, &layout);
    let faults = if cfg.faults { lower_faults(&raw.faults) } else { FaultPlan::default() };
    Scenario { format: FORMAT_VERSION, geometry: GEOMETRY, memlock, folios, segments: layout.segments, ops, faults }
}

/// Pages in a folio of this spec.
fn folio_pages(f: &FolioSpec, geo: &Geometry) -> u64 {
    1 << match f.kind {
        FolioKindSpec::Small => 0,
        FolioKindSpec::Mthp => f.order.unwrap_or(2),
        FolioKindSpec::Thp | FolioKindSpec::HugetlbPmd => geo.pmd_order,
        FolioKindSpec::HugetlbPud => geo.pud_order,
    }
}

fn is_hugetlb(k: FolioKindSpec) -> bool {
    matches!(k, FolioKindSpec::HugetlbPmd | FolioKindSpec::HugetlbPud)
}

fn lower_folios(raw: &[RawFolio], geo: &Geometry) -> Vec<FolioSpec> {
    use FolioKindSpec::*;
    const KINDS: [(u32, FolioKindSpec); 5] = [(10, HugetlbPmd), (8, Thp), (8, Small), (5, Mthp), (1, HugetlbPud)];
    const GAPS: [(u32, u32); 4] = [(28, 0), (2, 1), (1, 2), (1, 3)];
    let pad = [RawFolio::default()];
    let raw = if raw.is_empty() { &pad[..] } else { raw };
    let mut out = Vec::with_capacity(raw.len());
    let mut pud = false;
    for rf in raw {
        let mut kind = pick(rf.kind, &KINDS);
        if kind == HugetlbPud {
            if pud {
                kind = HugetlbPmd;
            }
            pud = true;
        }
        // mTHP orders 2..pmd_order-1; none at a geometry too small for them.
        let orders = geo.pmd_order.saturating_sub(2);
        if kind == Mthp && orders == 0 {
            kind = Small;
        }
        let order = (kind == Mthp).then(|| 2 + rf.order as u32 % orders.max(1));
        out.push(FolioSpec { kind, order, gap: pick(rf.gap, &GAPS) });
    }
    out
}

#[derive(Clone, Copy)]
enum Form {
    New,
    Back(usize),
    SmallPage,
    Hole,
}

#[derive(Clone, Copy)]
enum Part {
    WholeAligned,
    Whole,
    Head,
    Tail,
    Middle,
}

fn lower_segments(raw: &[RawSegment], folios: &[FolioSpec], geo: &Geometry) -> Layout {
    const INNER: [(u32, Form); 5] = [(13, Form::New), (6, Form::Back(1)), (6, Form::Back(2)), (4, Form::SmallPage), (3, Form::Hole)];
    const EDGE: [(u32, Form); 5] = [(12, Form::New), (6, Form::Back(1)), (5, Form::Back(2)), (4, Form::SmallPage), (5, Form::Hole)];
    const PARTS: [(u32, Part); 5] =
        [(5, Part::WholeAligned), (3, Part::Whole), (3, Part::Head), (3, Part::Tail), (2, Part::Middle)];
    let page = geo.page_size();
    let nf = folios.len() as u32;
    let small: Vec<u32> = (0..nf).filter(|&i| folios[i as usize].kind == FolioKindSpec::Small).collect();
    let mut anon: Vec<Vec<(u64, u64)>> = vec![vec![]; folios.len()];
    let pad = [RawSegment::default()];
    let raw = if raw.is_empty() { &pad[..] } else { raw };
    let mut segments: Vec<Segment> = Vec::with_capacity(raw.len());
    let n = raw.len();
    for (i, rs) in raw.iter().enumerate() {
        let edge = i == 0 || i + 1 == n;
        let readonly = pick(rs.prot, if edge { &[(5, false), (3, true)] } else { &[(7, false), (1, true)] });
        let fresh = (nf > 0).then(|| rs.folio as u32 % nf);
        let small_page = || small.get(rs.folio as usize % small.len().max(1)).copied();
        let hole = |pages: u64| Segment { folio: None, first: 0, pages: Some(pages.max(1)), readonly: false, aligned: false };
        let fi = match pick(rs.form, if edge { &EDGE } else { &INNER }) {
            Form::New => fresh,
            Form::Back(k) => i.checked_sub(k).and_then(|j| segments[j].folio).or(fresh),
            Form::SmallPage => small_page().or(fresh),
            Form::Hole => None,
        };
        let Some(f) = fi else {
            segments.push(hole(1 + rs.len as u64 % 4));
            continue;
        };
        let spec = &folios[f as usize];
        let np = folio_pages(spec, geo);
        let map = |first: u64, pages: u64, aligned: bool| Segment {
            folio: Some(f),
            first,
            pages: (first + pages != np).then_some(pages),
            readonly,
            aligned,
        };
        if is_hugetlb(spec.kind) || spec.kind == FolioKindSpec::Small {
            segments.push(map(0, np, is_hugetlb(spec.kind)));
            continue;
        }
        // Anonymous THP or mTHP: whole, or a part, each page at most once.
        let l = rs.len as u64;
        let (first, pages, aligned) = match pick(rs.part, &PARTS) {
            Part::WholeAligned => (0, np, spec.kind == FolioKindSpec::Thp),
            Part::Whole => (0, np, false),
            Part::Head => (0, 1 + l % (np - 1), false),
            Part::Tail => (1 + l % (np - 1), np - 1 - l % (np - 1), false),
            Part::Middle => {
                let first = 1 + l % (np - 1);
                (first, 1 + (l / 8) % (np - first), false)
            }
        };
        let taken = &mut anon[f as usize];
        let overlaps = |a: u64, b: u64| taken.iter().any(|&(x, y)| x < b && a < y);
        if !overlaps(first, first + pages) {
            taken.push((first, first + pages));
            segments.push(map(first, pages, aligned));
            continue;
        }
        // Already mapped: take an unmapped run instead (the rest of a THP
        // split by a partial mremap), else a shmem page, else a hole.
        let runs = free_runs(taken, np);
        if let Some(&(a, b)) = runs.get(l as usize % runs.len().max(1)) {
            taken.push((a, b));
            segments.push(map(a, b - a, false));
        } else if let Some(s) = small_page() {
            segments.push(Segment { folio: Some(s), first: 0, pages: None, readonly, aligned: false });
        } else {
            segments.push(hole(pages));
        }
    }
    let bytes = segments
        .iter()
        .map(|s| {
            let np = s.folio.map_or(0, |f| folio_pages(&folios[f as usize], geo));
            s.pages.unwrap_or(np.saturating_sub(s.first)) * page
        })
        .collect();
    Layout { segments, bytes, page }
}

/// Maximal runs of `0..n` not covered by `taken`, in order.
fn free_runs(taken: &[(u64, u64)], n: u64) -> Vec<(u64, u64)> {
    let mut runs = vec![];
    let mut start = None;
    for p in 0..n {
        let used = taken.iter().any(|&(a, b)| a <= p && p < b);
        match (used, start) {
            (false, None) => start = Some(p),
            (true, Some(s)) => {
                runs.push((s, p));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        runs.push((s, n));
    }
    runs
}

/// RLIMIT_MEMLOCK: mostly unlimited, else near one PMD folio or near what
/// the mapped folios would account.
fn lower_memlock(c: u8, folios: &[FolioSpec], segs: &[Segment], geo: &Geometry) -> Option<Size> {
    let mut acc = 0;
    let mut seen = vec![false; folios.len()];
    for s in segs {
        let Some(f) = s.folio else { continue };
        let spec = &folios[f as usize];
        let np = folio_pages(spec, geo);
        if is_hugetlb(spec.kind) || spec.kind == FolioKindSpec::Small {
            if !std::mem::replace(&mut seen[f as usize], true) {
                acc += np;
            }
        } else {
            acc += s.pages.unwrap_or(np - s.first);
        }
    }
    let page = geo.page_size() as i64;
    let sz = |pmd, pages, bytes| Some(Size { pud: 0, pmd, pages, bytes });
    let table = [
        (22, None),
        (2, sz(1, 0, 0)),
        (2, sz(1, 0, -page)),
        (2, sz(0, 3, 0)),
        (2, sz(0, acc, 0)),
        (1, sz(0, acc.saturating_sub(1), 0)),
        (1, sz(0, acc + 1, 0)),
    ];
    pick(c, &table)
}

/// Armed fault points, each the 0th to 2nd call at one site, without repeats.
fn lower_faults(raw: &[RawFault]) -> FaultPlan {
    let mut points = Vec::new();
    for rf in raw.iter().take(MAX_FAULTS) {
        if !pick(rf.on, &[(1, true), (3, false)]) {
            continue;
        }
        let site = AllocSite::ALL[rf.site as usize % AllocSite::ALL.len()];
        let p = FaultPoint::Site { site, nth: rf.nth as u32 % 3 };
        if !points.contains(&p) {
            points.push(p);
        }
    }
    FaultPlan { points }
}
