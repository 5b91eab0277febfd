//! Lowering raw choices to a scenario that `build()` accepts. Every byte is
//! read through a weighted table, so the bias toward folio edges, aliasing
//! and partial mappings lives here, once, for both byte sources; and every
//! rule `build()` enforces is repaired here (indices taken modulo, hugetlb
//! mapped whole, an anonymous page already mapped replaced by its unmapped
//! remainder, a small page or a hole), so no input is ever rejected.

use super::layout::lower_segments;
use super::ops::lower_ops;
use super::raw::*;
use super::GenConfig;
use crate::mm::{AllocSite, FaultPlan, FaultPoint, Geometry};
use crate::model::Errno;
use crate::scenario::{
    FolioKindSpec, FolioSpec, GeometryName, Scenario, Segment, Size, FORMAT_VERSION,
};

/// The geometry a generated scenario is written for when the config
/// names none.
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

/// An index below `n` (which must be positive) from a choice byte. Small
/// choices map to themselves whatever `n` is, so when a shrinker removes a
/// trailing folio or segment, references to the others do not move.
pub(crate) fn index(c: u8, n: usize) -> usize {
    let v = c as usize % n.max(16);
    if v < n {
        v
    } else {
        v % n
    }
}

/// The segments as lowered, with their sizes in bytes.
pub(crate) struct Layout {
    /// The segments.
    pub segments: Vec<Segment>,
    /// Size in bytes of each segment.
    pub bytes: Vec<u64>,
    /// Page size.
    pub page: u64,
    /// Size in bytes of each folio (what a kernel buffer's bvecs lie in).
    pub folio_bytes: Vec<u64>,
}

/// Lowers `raw` to a scenario at one of the config's geometries
/// ([`GEOMETRY`] if it names none) that `build()` accepts.
pub fn lower(raw: &RawScenario, cfg: &GenConfig) -> Scenario {
    let geometry = if cfg.geometries.is_empty() {
        GEOMETRY
    } else {
        pick(raw.geometry, &cfg.geometries)
    };
    let geo = geometry.geometry();
    let (max_folios, max_segments, _) = cfg.limits();
    let folios = lower_folios(&raw.folios[..raw.folios.len().min(max_folios)], &geo);
    let segs = &raw.segments[..raw.segments.len().min(max_segments)];
    let layout = lower_segments(segs, &folios, &geo, max_segments, cfg.max_mapped);
    let mut memlock = lower_memlock(raw.memlock, &folios, &layout.segments, &geo);
    let pad = [RawOp::default()];
    let ops = lower_ops(
        if raw.ops.is_empty() { &pad } else { &raw.ops },
        cfg,
        &layout,
    );
    // Each further ring's setup charges its own regions too.
    let rings =
        ops.iter()
            .map(|o| match *o {
                crate::scenario::Op::Ring { ring }
                | crate::scenario::Op::Clone { src: ring, .. } => ring + 1,
                _ => 1,
            })
            .max()
            .unwrap_or(1);
    if let Some(m) = memlock.as_mut() {
        m.pages += crate::model::RING_REGION_PAGES * u64::from(rings - 1);
    }
    let faults = if cfg.faults {
        lower_faults(&raw.faults)
    } else {
        FaultPlan::default()
    };
    let segments = layout.segments;
    Scenario {
        format: FORMAT_VERSION,
        note: None,
        geometry,
        memlock,
        folios,
        segments,
        ops,
        faults,
        expect: Default::default(),
    }
}

/// Pages in a folio of this spec.
pub(crate) fn folio_pages(f: &FolioSpec, geo: &Geometry) -> u64 {
    1 << match f.kind.sized() {
        FolioKindSpec::Small => 0,
        FolioKindSpec::Mthp | FolioKindSpec::ShmemMthp => f.order.unwrap_or(2),
        FolioKindSpec::Thp | FolioKindSpec::HugetlbPmd | FolioKindSpec::ShmemThp => geo.pmd_order,
        // Lowering draws these only where the geometry has them.
        FolioKindSpec::HugetlbPud => geo.pud_order.unwrap_or(geo.pmd_order),
        FolioKindSpec::HugetlbContPte => geo.cont_pte_order.unwrap_or(geo.pmd_order),
        FolioKindSpec::HugetlbContPmd => geo.cont_pmd_order.unwrap_or(geo.pmd_order),
        FolioKindSpec::HugetlbPmdPrivate | FolioKindSpec::HugetlbPudPrivate => {
            unreachable!("sized() maps the private kinds to their shared sizes")
        }
    }
}

pub(crate) fn is_hugetlb(k: FolioKindSpec) -> bool {
    k.is_hugetlb()
}

fn lower_folios(raw: &[RawFolio], geo: &Geometry) -> Vec<FolioSpec> {
    use FolioKindSpec::*;
    const KINDS: [(u32, FolioKindSpec); 5] = [
        (10, HugetlbPmd),
        (8, Thp),
        (8, Small),
        (5, Mthp),
        (1, HugetlbPud),
    ];
    const GAPS: [(u32, u32); 3] = [(29, 0), (2, 1), (1, 3)];
    let pad = [RawFolio::default()];
    let raw = if raw.is_empty() { &pad[..] } else { raw };
    let mut out = Vec::with_capacity(raw.len());
    let mut pud = false;
    for rf in raw {
        let mut kind = pick(rf.kind, &KINDS);
        // The arm64 contiguous sizes take the place of the PMD hugetlb page
        // one time in three, the PUD's where there is none; elsewhere
        // there are none and the x86-64 choices stand.
        if kind == HugetlbPmd && rf.gap % 3 == 2 && geo.cont_pte_order.is_some() {
            kind = HugetlbContPte;
        }
        if kind == HugetlbPud
            && geo.cont_pmd_order.is_some()
            && (geo.pud_order.is_none() || rf.order % 2 == 1)
        {
            kind = HugetlbContPmd;
        }
        if kind == HugetlbPud && geo.pud_order.is_none() {
            kind = if geo.cont_pmd_order.is_some() {
                HugetlbContPmd
            } else {
                HugetlbPmd
            };
        }
        if kind == HugetlbPud || kind == HugetlbContPmd {
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
        // One large folio in four is shmem's (a memfd's THP or mTHP), mapped
        // as freely as a small shmem page; the rest are anonymous, one in
        // eight of those forked.
        let mut forked = kind.is_anon() && rf.share % 8 == 0;
        if kind.is_anon() && rf.share % 4 == 2 {
            kind = if kind == Thp { ShmemThp } else { ShmemMthp };
        }
        // One x86-style hugetlb page in four is a MAP_PRIVATE one (anonymous,
        // what liburing's fixed-hugepage.c maps); a quarter of those were
        // shared by a fork(), and most of those have a child that still maps
        // the page, so that the first pin copies it.
        let mut child_maps = false;
        if matches!(kind, HugetlbPmd | HugetlbPud) && rf.share % 4 == 1 {
            kind = if kind == HugetlbPmd {
                HugetlbPmdPrivate
            } else {
                HugetlbPudPrivate
            };
            forked = (rf.share / 4) % 4 == 0;
            child_maps = forked && (rf.share / 16) % 4 != 0;
        }
        out.push(FolioSpec {
            kind,
            order,
            gap: pick(rf.gap, &GAPS),
            forked,
            child_maps,
            count: 1,
        });
    }
    out
}

/// RLIMIT_MEMLOCK: mostly unlimited, else near one PMD folio or near what
/// the mapped folios would account. The estimate is kept in symbolic units
/// (PUD and PMD folios, pages) so that it means the same at every geometry:
/// each distinct compound folio is charged whole, each small-page mapping
/// once (as io_buffer_account_pin does for a buffer covering everything).
fn lower_memlock(c: u8, folios: &[FolioSpec], segs: &[Segment], geo: &Geometry) -> Option<Size> {
    let mut acc = Size::default();
    let mut seen = vec![false; folios.len()];
    for s in segs {
        let Some(f) = s.folio else { continue };
        let spec = &folios[f as usize];
        if spec.kind == FolioKindSpec::Small {
            acc.pages += 1;
            continue;
        }
        if std::mem::replace(&mut seen[f as usize], true) {
            continue;
        }
        match spec.kind.sized() {
            // `pud` counts SZ_1G, the PUD folio on x86-64 only.
            FolioKindSpec::HugetlbPud if geo.is_x86() => acc.pud += 1,
            FolioKindSpec::HugetlbPmd | FolioKindSpec::Thp | FolioKindSpec::ShmemThp => {
                acc.pmd += 1
            }
            _ => acc.pages += folio_pages(spec, geo),
        }
    }
    let page = geo.page_size() as i64;
    // Every limit leaves room for the ring's own regions, which setup charges
    // first: below that, io_uring_setup itself fails.
    let ring = crate::model::RING_REGION_PAGES;
    acc.pages += ring;
    let sz = |pmd, pages: u64, bytes| {
        Some(Size {
            pud: 0,
            pmd,
            pages: pages + ring,
            bytes,
        })
    };
    let with_bytes = |bytes| Some(Size { bytes, ..acc });
    let table = [
        (25, None),
        (1, sz(1, 0, 0)),
        (1, sz(1, 0, -page)),
        (1, sz(0, 3, 0)),
        (2, with_bytes(0)),
        (1, with_bytes(-page)),
        (1, with_bytes(page)),
    ];
    // A limit below the ring's own pages would keep the ring from existing.
    pick(c, &table).filter(|m| m.bytes_at(geo) >> geo.page_shift >= ring)
}

/// Armed fault points, each the 0th to 2nd call at one site, without repeats.
fn lower_faults(raw: &[RawFault]) -> FaultPlan {
    let mut points = Vec::new();
    for rf in raw.iter().take(MAX_FAULTS) {
        if !pick(rf.on, &[(1, true), (3, false)]) {
            continue;
        }
        // The sites 7.1 has take 248 of the 256 choices, as they did before
        // 7.2's xa_reserve was added, which takes the other 8: the draws of
        // every other site stay what they were.
        let site = match rf.site {
            248.. => AllocSite::XaReserve,
            c => AllocSite::ALL[c as usize % (AllocSite::ALL.len() - 1)],
        };
        // The top 32 values of `nth`, which allocation faults used before
        // there were others, fail a GUP walk or an iovec read instead.
        let p = match rf.nth {
            // One GUP fault in eight splits the THPs the walk reaches.
            240.. if rf.site % 8 == 7 => FaultPoint::GupSplit {
                nth: u32::from(rf.site / 64 % 2),
            },
            240.. => FaultPoint::Gup {
                nth: u32::from(rf.site / 64 % 2),
                // Nothing, one page, or part-way (a folio's worth at most).
                pinned: match rf.site % 4 {
                    0 => 0,
                    1 => 1,
                    k => u64::from(rf.nth - 240) * u64::from(k),
                },
                errno: [Errno::ENOMEM, Errno::EBUSY, Errno::EAGAIN][rf.site as usize / 4 % 3],
            },
            224.. => FaultPoint::CopyFromUser {
                nth: u32::from(rf.site % 3),
            },
            n => FaultPoint::Site {
                site,
                nth: n as u32 % 3,
            },
        };
        if !points.contains(&p) {
            points.push(p);
        }
    }
    FaultPlan { points }
}
