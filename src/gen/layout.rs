//! The address space: segments laid out in order, tracking what `build()`
//! checks (anonymous pages mapped once, hugetlb and PMD-mapped THP at their
//! alignment). Aliasing (the folio of one or two segments back), partial and
//! tail-only THP mappings, and fillers that keep a buffer mapped across an
//! alignment gap are chosen here, because the registration bugs live in how
//! pages of one folio are spread over a buffer.

use super::lower::{folio_pages, index, is_hugetlb, pick, Layout};
use super::raw::RawSegment;
use crate::mm::Geometry;
use crate::scenario::{FolioKindSpec, FolioSpec, Segment};

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

/// Segments as they are laid out, with what `build()` checks tracked.
struct Segs<'a> {
    folios: &'a [FolioSpec],
    geo: &'a Geometry,
    /// Small (shmem) folios, which may be mapped any number of times.
    small: Vec<u32>,
    /// Pages of each anonymous folio already mapped.
    anon: Vec<Vec<(u64, u64)>>,
    segments: Vec<Segment>,
    /// Next free virtual page, from the base address.
    va: u64,
    /// Pages mapped so far, copies counted.
    mapped: u64,
    /// At most this many ([`super::GenConfig::max_mapped`]).
    max_mapped: u64,
}

impl Segs<'_> {
    fn pages(&self, f: u32) -> u64 {
        folio_pages(&self.folios[f as usize], self.geo)
    }

    fn push(&mut self, s: Segment) {
        let np = s.folio.map_or(0, |f| self.pages(f));
        if s.aligned
            || s.folio
                .is_some_and(|f| is_hugetlb(self.folios[f as usize].kind))
        {
            self.va = self.va.next_multiple_of(np);
        }
        let pages = s.pages.unwrap_or(np.saturating_sub(s.first)) * s.count;
        self.va += pages;
        if s.folio.is_some() {
            self.mapped += pages;
        }
        self.segments.push(s);
    }

    /// How many times in a row a hugetlb or shmem mapping of `np` pages is
    /// repeated: once mostly; rarely a few times, or enough copies to take
    /// a buffer to `SZ_1G`, half `SZ_1T` and `SZ_1T` (where page arrays and
    /// bvec tables pass the allocators' `INT_MAX`), within what the build
    /// takes. `part` and `len` choose it: a whole mapping does not use them.
    fn copies(&self, rs: &RawSegment, np: u64) -> u64 {
        if rs.part % 32 != 31 {
            return 1;
        }
        // Large counts are one in two of these: page arrays and bvec tables
        // are runs, so a buffer of 2^28 pages costs what its folio
        // boundaries cost (bench/large-buffers.md).
        if rs.len % 2 == 0 {
            return 2 + u64::from(rs.len / 2 % 2);
        }
        // In units of SZ_1G (the PUD folio on x86-64), the limits crossed.
        let pud = self.geo.sz_1g() >> self.geo.page_shift;
        const TO_PUDS: [(u32, u64); 6] =
            [(2, 1), (1, 511), (2, 512), (1, 513), (1, 1023), (2, 1024)];
        let puds = pick(rs.len / 2, &TO_PUDS);
        let count = (puds * pud).div_ceil(np);
        let room = self.max_mapped.saturating_sub(self.mapped) / np.max(1);
        count.min(room).min(4096).max(1)
    }

    /// Maps pages `first..first+pages` of anonymous folio `f` if none is mapped yet.
    fn claim(&mut self, f: u32, first: u64, pages: u64) -> bool {
        let taken = &mut self.anon[f as usize];
        if taken.iter().any(|&(a, b)| a < first + pages && first < b) {
            return false;
        }
        taken.push((first, first + pages));
        true
    }

    /// A segment mapping folio `f`: hugetlb and small shmem pages whole; a
    /// large shmem folio whole or in part, as often as drawn; an anonymous
    /// THP or mTHP whole or in part, or, if those pages are already mapped,
    /// an unmapped run of it (what a partial mremap leaves); `None` if every
    /// page of it is mapped already.
    fn map_folio(&mut self, f: u32, rs: &RawSegment, readonly: bool) -> Option<Segment> {
        const PARTS: [(u32, Part); 5] = [
            (5, Part::WholeAligned),
            (3, Part::Whole),
            (3, Part::Head),
            (3, Part::Tail),
            (2, Part::Middle),
        ];
        let kind = self.folios[f as usize].kind;
        let np = self.pages(f);
        let map = |first: u64, pages: u64, aligned: bool| Segment {
            folio: Some(f),
            first,
            pages: (first + pages != np).then_some(pages),
            readonly,
            aligned,
            count: 1,
        };
        // A private hugetlb page is anonymous: mapped once, whole.
        if kind.is_private_hugetlb() {
            return self.claim(f, 0, np).then(|| map(0, np, true));
        }
        if is_hugetlb(kind) || kind == FolioKindSpec::Small {
            let mut seg = map(0, np, is_hugetlb(kind));
            seg.count = self.copies(rs, np);
            return Some(seg);
        }
        let l = rs.len as u64;
        let (first, pages, aligned) = match pick(rs.part, &PARTS) {
            Part::WholeAligned => (
                0,
                np,
                matches!(kind, FolioKindSpec::Thp | FolioKindSpec::ShmemThp),
            ),
            Part::Whole => (0, np, false),
            Part::Head => (0, 1 + l % (np - 1), false),
            Part::Tail => (1 + l % (np - 1), np - 1 - l % (np - 1), false),
            Part::Middle => {
                let first = 1 + l % (np - 1);
                (first, 1 + (l / 8) % (np - first), false)
            }
        };
        if kind.is_shmem_large() {
            let mut seg = map(first, pages, aligned);
            seg.count = self.copies(rs, pages);
            return Some(seg);
        }
        let runs = free_runs(&self.anon[f as usize], np);
        if self.claim(f, first, pages) {
            return Some(map(first, pages, aligned));
        }
        let &(a, b) = runs.get(l as usize % runs.len().max(1))?;
        self.claim(f, a, b - a);
        Some(map(a, b - a, false))
    }

    /// A mapping of exactly `gap` unmapped anonymous pages, the tail of a
    /// free run (so often a THP's tail pages only), searching from folio `from`.
    fn filler(&mut self, gap: u64, from: u32) -> Option<Segment> {
        let nf = self.folios.len() as u32;
        for f in (0..nf).map(|k| (from + k) % nf) {
            // Only a THP's or mTHP's pages map in part; a hugetlb page is whole.
            if !self.folios[f as usize].kind.is_anon_thp() {
                continue;
            }
            let np = self.pages(f);
            let runs = free_runs(&self.anon[f as usize], np);
            if let Some(&(_, b)) = runs.iter().rev().find(|&&(a, b)| b - a >= gap) {
                self.claim(f, b - gap, gap);
                let pages = (b != np).then_some(gap);
                return Some(Segment {
                    folio: Some(f),
                    first: b - gap,
                    pages,
                    readonly: false,
                    aligned: false,
                    count: 1,
                });
            }
        }
        None
    }
}

pub(crate) fn lower_segments(
    raw: &[RawSegment],
    folios: &[FolioSpec],
    geo: &Geometry,
    max: usize,
    max_mapped: u64,
) -> Layout {
    const INNER: [(u32, Form); 5] = [
        (15, Form::New),
        (6, Form::Back(1)),
        (6, Form::Back(2)),
        (4, Form::SmallPage),
        (1, Form::Hole),
    ];
    const EDGE: [(u32, Form); 5] = [
        (14, Form::New),
        (6, Form::Back(1)),
        (6, Form::Back(2)),
        (4, Form::SmallPage),
        (2, Form::Hole),
    ];
    let nf = folios.len() as u32;
    let small = (0..nf)
        .filter(|&i| folios[i as usize].kind == FolioKindSpec::Small)
        .collect();
    let mut st = Segs {
        folios,
        geo,
        small,
        anon: vec![vec![]; folios.len()],
        segments: vec![],
        va: 0,
        mapped: 0,
        max_mapped,
    };
    let pad = [RawSegment::default()];
    let raw = if raw.is_empty() { &pad[..] } else { raw };
    let n = raw.len();
    for (i, rs) in raw.iter().enumerate() {
        if st.segments.len() >= max {
            break;
        }
        let edge = i == 0 || i + 1 == n;
        let readonly = pick(
            rs.prot,
            if edge {
                &[(23, false), (1, true)]
            } else {
                &[(63, false), (1, true)]
            },
        );
        let fresh = (nf > 0).then(|| index(rs.folio, nf as usize) as u32);
        let small_page = st
            .small
            .get(index(rs.folio, st.small.len().max(1)))
            .copied();
        let hole = |pages: u64| Segment {
            folio: None,
            first: 0,
            pages: Some(pages.max(1)),
            readonly: false,
            aligned: false,
            count: 1,
        };
        let fi = match pick(rs.form, if edge { &EDGE } else { &INNER }) {
            Form::New => fresh,
            Form::Back(k) => st
                .segments
                .len()
                .checked_sub(k)
                .and_then(|j| st.segments.get(j))
                .and_then(|s| s.folio)
                .or(fresh),
            Form::SmallPage => small_page.or(fresh),
            Form::Hole => None,
        };
        let seg = match fi {
            None => hole(1 + rs.len as u64 % 4),
            // An anonymous folio already mapped whole: a shmem page, else the
            // next folio that can still be mapped, else no segment at all.
            Some(f) => {
                let from = fresh.unwrap_or(0);
                let next = st
                    .map_folio(f, rs, readonly)
                    .or_else(|| small_page.and_then(|s| st.map_folio(s, rs, readonly)));
                let next = next
                    .or_else(|| (0..nf).find_map(|k| st.map_folio((from + k) % nf, rs, readonly)));
                let Some(seg) = next else { continue };
                seg
            }
        };
        // A PMD- or PUD-mapped segment starts at its alignment; mostly fill
        // the gap before it with anonymous pages so the buffer stays mapped.
        let align = seg
            .folio
            .filter(|&f| seg.aligned || is_hugetlb(folios[f as usize].kind))
            .map(|f| st.pages(f));
        let gap = align.map_or(0, |a| st.va.next_multiple_of(a) - st.va);
        if gap > 0 && st.segments.len() + 2 <= max && pick(rs.fill, &[(7, true), (1, false)]) {
            if let Some(filler) = st.filler(gap, fresh.unwrap_or(0)) {
                st.push(filler);
            }
        }
        st.push(seg);
    }
    if st.segments.is_empty() {
        st.push(Segment {
            folio: None,
            first: 0,
            pages: Some(1),
            readonly: false,
            aligned: false,
            count: 1,
        });
    }
    // Segments after a counted one may take the total past what the build
    // takes: give the largest count back what they took.
    let excess = st.mapped.saturating_sub(st.max_mapped);
    if excess > 0 {
        let np = |g: &Segment| {
            let n = g.folio.map_or(0, |f| folio_pages(&folios[f as usize], geo));
            g.pages.unwrap_or(n.saturating_sub(g.first))
        };
        let mapped = st.segments.iter_mut().filter(|g| g.folio.is_some());
        if let Some(g) = mapped.max_by_key(|g| g.count * np(g)) {
            let per = np(g).max(1);
            g.count = g.count.saturating_sub(excess.div_ceil(per)).max(1);
        }
    }
    let page = geo.page_size();
    let bytes = st
        .segments
        .iter()
        .map(|s| {
            let np = s.folio.map_or(0, |f| folio_pages(&folios[f as usize], geo));
            s.pages.unwrap_or(np.saturating_sub(s.first)) * s.count * page
        })
        .collect();
    Layout {
        segments: st.segments,
        bytes,
        page,
        folio_bytes: folios.iter().map(|f| folio_pages(f, geo) * page).collect(),
    }
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
