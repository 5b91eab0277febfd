//! The bounded space: layouts made of PMD-sized chunks, the buffers and
//! programs run on them, and how one point of it becomes a scenario file
//! (for findings and the minimiser) or, without going through one, a built
//! world with concrete operations (for the run).
//!
//! A chunk is one of a fixed set of shapes, chosen because registration
//! turns on how the pages of one folio are spread over a buffer: a hole; a
//! whole PMD-sized folio at its alignment (hugetlb, PMD-mapped THP) or one
//! shmem page mapped at every page of it; or the chunk cut at one page, at
//! its middle, or one page before its end into two pieces, each a hole, the
//! head or the tail run of a THP (a PTE-mapped THP after a partial mremap:
//! across two chunks, a THP at a shifted alignment; in one, its halves
//! swapped), a whole mTHP (when the piece is its size) or one shmem page
//! mapped at every page of the piece. A folio may appear in any number of
//! chunks (aliases), subject to what user space can build: an anonymous
//! (THP, mTHP) page is mapped at most once.

use crate::mm::{AllocSite, FaultPlan, FaultPoint, Geometry, USER_VA_BASE};
use crate::model::Iovec;
use crate::scenario::{
    build, Built, ConcreteOp, FolioKindSpec, FolioSpec, GeometryName, IovSpec, Op, Pos, Scenario,
    Segment, Size, FORMAT_VERSION,
};
use std::collections::BTreeMap;
use std::fmt::Write;

/// The geometry the space is laid out at.
pub const GEOMETRY: GeometryName = GeometryName::Small;
const GEO: Geometry = Geometry::SMALL;
/// Pages in a chunk: one PMD-sized folio.
pub const CHUNK: u8 = 1 << GEO.pmd_order;
/// Bytes in a page.
pub const PAGE: u64 = 1 << GEO.page_shift;
/// The mTHP order the space uses: the only one below PMD order at this
/// geometry that `build()` accepts.
const MTHP_ORDER: u32 = 2;
const MTHP_PAGES: u8 = 1 << MTHP_ORDER;
/// Where a chunk may be cut by default: one page in, the middle, one page
/// before the end.
pub const CUTS: [u8; 3] = [1, CHUNK / 2, CHUNK - 1];

/// A folio kind the space draws from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// hugetlb page of PMD size: mapped whole at its alignment, any number of times.
    Hugetlb,
    /// Anonymous PMD-sized THP: whole at its alignment, or head and tail runs anywhere.
    Thp,
    /// Anonymous mTHP of order 2, mapped whole.
    Mthp,
    /// A shmem page (order 0), mapped any number of times.
    Small,
}

impl Kind {
    /// Every kind, in the order layouts are enumerated.
    pub const ALL: [Kind; 4] = [Kind::Hugetlb, Kind::Thp, Kind::Mthp, Kind::Small];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Hugetlb => "hugetlb",
            Kind::Thp => "thp",
            Kind::Mthp => "mthp",
            Kind::Small => "small",
        }
    }

    /// The kind called `name`.
    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    fn anonymous(self) -> bool {
        matches!(self, Kind::Thp | Kind::Mthp)
    }

    fn spec(self) -> FolioSpec {
        let (kind, order) = match self {
            Kind::Hugetlb => (FolioKindSpec::HugetlbPmd, None),
            Kind::Thp => (FolioKindSpec::Thp, None),
            Kind::Mthp => (FolioKindSpec::Mthp, Some(MTHP_ORDER)),
            Kind::Small => (FolioKindSpec::Small, None),
        };
        FolioSpec {
            kind,
            order,
            // One free page before every folio but the first: whatever a
            // bvec reaches past the end of a folio is memory the scenario
            // does not own, never the next folio.
            gap: 1,
            // Anonymous folios are taken as shared by a fork() whose child
            // has exited. In the model that state only decides whether
            // DEBUG_VM's sanity_check_pinned_pages() can fire on an unpin
            // through a page no pin came through, so it is the state in
            // which more can go wrong, and one kind covers both.
            forked: self.anonymous(),
            child_maps: false,
            count: 1,
        }
    }
}

/// One piece of a cut chunk; the number is a folio label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Piece {
    /// Unmapped.
    Hole,
    /// The first pages of a THP.
    Head(u8),
    /// The last pages of a THP.
    Tail(u8),
    /// A whole mTHP (the piece is its size).
    Mthp(u8),
    /// One shmem page at every page of the piece.
    Small(u8),
}

/// What one chunk holds; numbers are folio labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chunk {
    /// Unmapped.
    Hole,
    /// A hugetlb page or a THP whole at its alignment, or a shmem page at
    /// every page of the chunk.
    Whole(u8),
    /// Pages `0..at` are `left`, `at..CHUNK` are `right`.
    Cut {
        /// Where the chunk is cut.
        at: u8,
        /// The first piece.
        left: Piece,
        /// The second piece.
        right: Piece,
    },
}

/// What backs one page: a folio label and the page's index in the folio.
pub type Page = Option<(u8, u8)>;

/// A layout: folio kinds by label (labels numbered by first appearance in
/// address order), and the chunks in address order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Kind of each folio label.
    pub kinds: Vec<Kind>,
    /// The chunks.
    pub chunks: Vec<Chunk>,
}

fn piece_pages(p: Piece, len: u8, out: &mut Vec<Page>) {
    match p {
        Piece::Hole => out.extend((0..len).map(|_| None)),
        Piece::Head(l) | Piece::Mthp(l) => out.extend((0..len).map(|i| Some((l, i)))),
        Piece::Tail(l) => out.extend((CHUNK - len..CHUNK).map(|i| Some((l, i)))),
        Piece::Small(l) => out.extend((0..len).map(|_| Some((l, 0)))),
    }
}

impl Chunk {
    /// The backing of each of its pages.
    pub fn pages(&self, kinds: &[Kind], out: &mut Vec<Page>) {
        match *self {
            Chunk::Hole => out.extend((0..CHUNK).map(|_| None)),
            Chunk::Whole(l) if kinds[l as usize] == Kind::Small => {
                out.extend((0..CHUNK).map(|_| Some((l, 0))))
            }
            Chunk::Whole(l) => out.extend((0..CHUNK).map(|i| Some((l, i)))),
            Chunk::Cut { at, left, right } => {
                piece_pages(left, at, out);
                piece_pages(right, CHUNK - at, out);
            }
        }
    }
}

impl Layout {
    /// The backing of every page of the address space.
    pub fn pages(&self) -> Vec<Page> {
        let mut out = Vec::with_capacity(self.chunks.len() * CHUNK as usize);
        for c in &self.chunks {
            c.pages(&self.kinds, &mut out);
        }
        out
    }

    /// The layout in one line: `f0 hugetlb, f1 small: f0 | f1×8 | f0`.
    pub fn describe(&self) -> String {
        let folios: Vec<String> = self
            .kinds
            .iter()
            .enumerate()
            .map(|(i, k)| format!("f{i} {}", k.name()))
            .collect();
        let piece = |p: Piece, len: u8| match p {
            Piece::Hole => format!("hole×{len}"),
            Piece::Head(l) => format!("f{l}[0..{len})"),
            Piece::Tail(l) => format!("f{l}[{}..{CHUNK})", CHUNK - len),
            Piece::Mthp(l) => format!("f{l}"),
            Piece::Small(l) => format!("f{l}×{len}"),
        };
        let chunks: Vec<String> = self
            .chunks
            .iter()
            .map(|c| match *c {
                Chunk::Hole => "hole".to_string(),
                Chunk::Whole(l) if self.kinds[l as usize] == Kind::Small => {
                    format!("f{l}×{CHUNK}")
                }
                Chunk::Whole(l) => format!("f{l}"),
                Chunk::Cut { at, left, right } => {
                    format!("{} {}", piece(left, at), piece(right, CHUNK - at))
                }
            })
            .collect();
        let folios = if folios.is_empty() {
            "no folio".to_string()
        } else {
            folios.join(", ")
        };
        format!("{folios}: {}", chunks.join(" | "))
    }

    /// The layout as a scenario with no operation, the folio of label `l`
    /// at index `naming[l]` of the folio table (unused indices are shmem
    /// pages mapped nowhere).
    pub fn scenario(&self, naming: &[u8]) -> Scenario {
        let table = naming.iter().map(|&n| n as usize + 1).max().unwrap_or(0);
        let mut folios: Vec<FolioSpec> = (0..table).map(|_| Kind::Small.spec()).collect();
        for (l, k) in self.kinds.iter().enumerate() {
            folios[naming[l] as usize] = k.spec();
        }
        if let Some(f) = folios.first_mut() {
            f.gap = 0;
        }
        let mut segments: Vec<Segment> = Vec::new();
        let folio = |l: u8, first: u64, pages: Option<u64>, aligned: bool| Segment {
            folio: Some(naming[l as usize] as u32),
            first,
            pages,
            readonly: false,
            aligned,
            count: 1,
        };
        let hole = |segments: &mut Vec<Segment>, n: u8| match segments.last_mut() {
            Some(Segment {
                folio: None,
                pages: Some(p),
                ..
            }) => *p += n as u64,
            _ => segments.push(Segment {
                folio: None,
                first: 0,
                pages: Some(n as u64),
                readonly: false,
                aligned: false,
                count: 1,
            }),
        };
        let piece = |segments: &mut Vec<Segment>, p: Piece, len: u8| match p {
            Piece::Hole => hole(segments, len),
            Piece::Head(l) => segments.push(folio(l, 0, Some(len as u64), false)),
            Piece::Tail(l) => segments.push(folio(l, (CHUNK - len) as u64, None, false)),
            Piece::Mthp(l) => segments.push(folio(l, 0, None, false)),
            Piece::Small(l) => segments.extend((0..len).map(|_| folio(l, 0, None, false))),
        };
        for c in &self.chunks {
            match *c {
                Chunk::Hole => piece(&mut segments, Piece::Hole, CHUNK),
                Chunk::Whole(l) => match self.kinds[l as usize] {
                    Kind::Small => piece(&mut segments, Piece::Small(l), CHUNK),
                    Kind::Thp => segments.push(folio(l, 0, None, true)),
                    _ => segments.push(folio(l, 0, None, false)),
                },
                Chunk::Cut { at, left, right } => {
                    piece(&mut segments, left, at);
                    piece(&mut segments, right, CHUNK - at);
                }
            }
        }
        Scenario {
            format: FORMAT_VERSION,
            note: None,
            geometry: GEOMETRY,
            memlock: None,
            folios,
            segments,
            ops: vec![],
            faults: FaultPlan::default(),
            expect: Default::default(),
        }
    }

    /// The layout built, with no operation and no fault.
    pub fn built(&self, naming: &[u8]) -> Built {
        build(&self.scenario(naming)).expect("every layout of the space builds")
    }
}

/// What layouts are made of.
#[derive(Clone, Copy, Debug)]
pub struct Shapes<'a> {
    /// Chunks in a layout.
    pub chunks: u8,
    /// Most folios in a layout.
    pub folios: u8,
    /// Folio kinds drawn from.
    pub kinds: &'a [Kind],
    /// Pages at which a chunk may be cut in two.
    pub cuts: &'a [u8],
}

/// Every layout of `s`, labels numbered by first appearance, in a fixed order.
pub fn layouts(s: Shapes) -> Vec<Layout> {
    let mut out = Vec::new();
    let mut cur = Layout {
        kinds: vec![],
        chunks: vec![],
    };
    grow(&mut cur, &mut vec![], s, &mut out);
    out
}

fn grow(cur: &mut Layout, anon: &mut Vec<u8>, s: Shapes, out: &mut Vec<Layout>) {
    if cur.chunks.len() == s.chunks as usize {
        out.push(cur.clone());
        return;
    }
    for (c, new_kinds) in shapes(&cur.kinds, s) {
        let nk = cur.kinds.len();
        cur.kinds.extend(&new_kinds);
        anon.resize(cur.kinds.len(), 0);
        let saved = anon.clone();
        let mut pages = Vec::with_capacity(CHUNK as usize);
        c.pages(&cur.kinds, &mut pages);
        // An anonymous page is mapped at most once in an address space.
        let ok = pages.iter().flatten().all(|&(l, i)| {
            if !cur.kinds[l as usize].anonymous() {
                return true;
            }
            let bit = 1u8 << i;
            let free = anon[l as usize] & bit == 0;
            anon[l as usize] |= bit;
            free
        });
        if ok {
            cur.chunks.push(c);
            grow(cur, anon, s, out);
            cur.chunks.pop();
        }
        *anon = saved;
        cur.kinds.truncate(nk);
        anon.truncate(nk);
    }
}

/// Every shape a chunk can take given the labels so far, each with the
/// kinds of the labels it introduces; shapes with the same pages as an
/// earlier one (a THP's head and tail in order is the whole THP) are left out.
fn shapes(kinds: &[Kind], s: Shapes) -> Vec<(Chunk, Vec<Kind>)> {
    let (folios, allowed) = (s.folios, s.kinds);
    // A label is an existing one or the next new one, with its kind.
    let labels = |known: &[Kind]| -> Vec<(u8, Kind, bool)> {
        let mut v: Vec<(u8, Kind, bool)> = known
            .iter()
            .enumerate()
            .map(|(l, &k)| (l as u8, k, false))
            .collect();
        if known.len() < folios as usize {
            v.extend(allowed.iter().map(|&k| (known.len() as u8, k, true)));
        }
        v
    };
    let pieces = |known: &[Kind], len: u8| -> Vec<(Piece, Option<Kind>)> {
        let mut v = vec![(Piece::Hole, None)];
        for (l, k, new) in labels(known) {
            let new = new.then_some(k);
            match k {
                Kind::Thp => {
                    v.push((Piece::Head(l), new));
                    v.push((Piece::Tail(l), new));
                }
                Kind::Mthp if len == MTHP_PAGES => v.push((Piece::Mthp(l), new)),
                Kind::Small => v.push((Piece::Small(l), new)),
                _ => {}
            }
        }
        v
    };
    let mut out: Vec<(Chunk, Vec<Kind>)> = vec![(Chunk::Hole, vec![])];
    for (l, k, new) in labels(kinds) {
        if matches!(k, Kind::Hugetlb | Kind::Thp | Kind::Small) {
            out.push((Chunk::Whole(l), if new { vec![k] } else { vec![] }));
        }
    }
    for &at in s.cuts {
        for (left, lk) in pieces(kinds, at) {
            let mut after: Vec<Kind> = kinds.to_vec();
            after.extend(lk);
            for (right, rk) in pieces(&after, CHUNK - at) {
                if left == Piece::Hole && right == Piece::Hole {
                    continue;
                }
                let mut new: Vec<Kind> = lk.into_iter().collect();
                new.extend(rk);
                out.push((Chunk::Cut { at, left, right }, new));
            }
        }
    }
    let mut seen: Vec<Vec<(Page, Option<Kind>)>> = Vec::new();
    out.retain(|(c, new)| {
        let all: Vec<Kind> = kinds.iter().chain(new).copied().collect();
        let mut pages = Vec::new();
        c.pages(&all, &mut pages);
        let key: Vec<(Page, Option<Kind>)> = pages
            .iter()
            .map(|p| (*p, p.map(|(l, _)| all[l as usize])))
            .collect();
        if seen.contains(&key) {
            return false;
        }
        seen.push(key);
        true
    });
    out
}

/// Pages `start..end` of the address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    /// First page.
    pub start: u8,
    /// One past the last page.
    pub end: u8,
}

/// Which sub-page offsets buffers start and end at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offsets {
    /// Start 0, 1 or `PAGE - 1` bytes into the first page; use all of the
    /// last page, all but its last byte, or only its first byte.
    Edge,
    /// Page-aligned start and end only.
    Page,
}

impl Offsets {
    /// Bytes into the first page a buffer may start at.
    fn starts(self) -> &'static [u64] {
        match self {
            Offsets::Edge => &[0, 1, PAGE - 1],
            Offsets::Page => &[0],
        }
    }
    /// Bytes of the last page a buffer may use.
    fn ends(self) -> &'static [u64] {
        match self {
            Offsets::Edge => &[PAGE, PAGE - 1, 1],
            Offsets::Page => &[PAGE],
        }
    }
    /// The buffers on `span`, in a fixed order.
    pub fn buffers(self, span: Span) -> impl Iterator<Item = Buffer> {
        let one_page = span.end - span.start == 1;
        self.starts().iter().flat_map(move |&first| {
            self.ends()
                .iter()
                .filter(move |&&last| !one_page || first < last)
                .map(move |&last| Buffer { span, first, last })
        })
    }
    /// How many buffers `span` has.
    pub fn count(self, span: Span) -> u64 {
        self.buffers(span).count() as u64
    }
}

/// A buffer: bytes `first` of page `span.start` to `last` of page `span.end - 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Buffer {
    /// Its pages.
    pub span: Span,
    /// Offset of its first byte in its first page.
    pub first: u64,
    /// Bytes of its last page it covers (1 to `PAGE`).
    pub last: u64,
}

impl Buffer {
    /// A page-aligned buffer over `span`.
    pub fn whole(span: Span) -> Buffer {
        Buffer {
            span,
            first: 0,
            last: PAGE,
        }
    }
    /// First byte, from the start of the address space.
    pub fn start(&self) -> u64 {
        self.span.start as u64 * PAGE + self.first
    }
    /// One past the last byte, from the start of the address space.
    pub fn end(&self) -> u64 {
        (self.span.end as u64 - 1) * PAGE + self.last
    }
    fn iovec(&self) -> Iovec {
        Iovec {
            iov_base: USER_VA_BASE + self.start(),
            iov_len: self.end() - self.start(),
        }
    }
    fn describe(&self) -> String {
        format!("bytes {:#x}..{:#x}", self.start(), self.end())
    }
}

/// What the ring does with the buffers. Imports are not separate
/// operations: after every operation the `import` invariant already imports
/// every registered buffer at every bvec and folio edge (±1 byte, ±1 page),
/// whole and in parts, through `io_import_fixed` and `io_vec_fill_bvec`,
/// and checks each against the address space. Unregistering is ring exit,
/// which calls the same `io_sqe_buffers_unregister`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Program {
    /// `register [A]`.
    Register,
    /// `register [A, B]`: B registered while A is in the table being built.
    RegisterTwo,
    /// `register [A]; update 0 [B]`: B pinned while A is installed, then
    /// replacing it.
    Replace,
    /// `register [A, NULL]; update 1 [B]`: B next to an installed A.
    FillEmpty,
}

impl Program {
    /// Every program of `buffers` buffers or fewer.
    pub fn upto(buffers: u8) -> Vec<Program> {
        let all = [
            Program::Register,
            Program::RegisterTwo,
            Program::Replace,
            Program::FillEmpty,
        ];
        all.into_iter().filter(|p| p.buffers() <= buffers).collect()
    }
    /// How many buffers it uses.
    pub fn buffers(self) -> u8 {
        if self == Program::Register {
            1
        } else {
            2
        }
    }
    /// Its number, for keys.
    pub fn code(self) -> u64 {
        self as u64
    }
    /// The program in words.
    pub fn describe(self, a: &Buffer, b: Option<&Buffer>) -> String {
        let (a, b) = (a.describe(), b.map_or(String::new(), Buffer::describe));
        match self {
            Program::Register => format!("register ({a})"),
            Program::RegisterTwo => format!("register ({a}, {b})"),
            Program::Replace => format!("register ({a}); update 0 ({b})"),
            Program::FillEmpty => format!("register ({a}, NULL); update 1 ({b})"),
        }
    }
    /// The concrete operations.
    pub fn ops(self, a: &Buffer, b: Option<&Buffer>) -> Vec<ConcreteOp> {
        let (a, b) = (a.iovec(), b.map(Buffer::iovec));
        let b = || vec![b.expect("a two-buffer program has a second buffer")];
        let null = Iovec {
            iov_base: 0,
            iov_len: 0,
        };
        match self {
            Program::Register => vec![ConcreteOp::Register { iovecs: vec![a] }],
            Program::RegisterTwo => vec![ConcreteOp::Register {
                iovecs: vec![a, b()[0]],
            }],
            Program::Replace => vec![
                ConcreteOp::Register { iovecs: vec![a] },
                ConcreteOp::Update {
                    offset: 0,
                    iovecs: b(),
                },
            ],
            Program::FillEmpty => vec![
                ConcreteOp::Register {
                    iovecs: vec![a, null],
                },
                ConcreteOp::Update {
                    offset: 1,
                    iovecs: b(),
                },
            ],
        }
    }
    /// The operations as a scenario file writes them, for a layout whose
    /// segments were built as `built`.
    pub fn scenario_ops(self, built: &Built, a: &Buffer, b: Option<&Buffer>) -> Vec<Op> {
        let range = |x: &Buffer| IovSpec::Range {
            start: pos(built, x.start(), true),
            end: pos(built, x.end(), false),
        };
        let b = || vec![range(b.expect("a two-buffer program has a second buffer"))];
        match self {
            Program::Register => vec![Op::Register {
                iovecs: vec![range(a)],
            }],
            Program::RegisterTwo => vec![Op::Register {
                iovecs: vec![range(a), b()[0].clone()],
            }],
            Program::Replace => vec![
                Op::Register {
                    iovecs: vec![range(a)],
                },
                Op::Update {
                    offset: 0,
                    iovecs: b(),
                },
            ],
            Program::FillEmpty => vec![
                Op::Register {
                    iovecs: vec![
                        range(a),
                        IovSpec::Null {
                            len: Size::default(),
                        },
                    ],
                },
                Op::Update {
                    offset: 1,
                    iovecs: b(),
                },
            ],
        }
    }
}

/// The position of byte `at` of the address space: in the segment it
/// starts (`start`) or ends (`!start`) a range in.
fn pos(built: &Built, at: u64, start: bool) -> Pos {
    let va = USER_VA_BASE + at;
    let seg = built
        .segments
        .iter()
        .position(|&(a, n)| {
            if start {
                a <= va && va < a + n
            } else {
                a < va && va <= a + n
            }
        })
        .expect("buffers lie inside the address space");
    Pos {
        seg: seg as u32,
        off: va - built.segments[seg].0,
    }
}

/// The single-fault plans of a scenario: one per allocation call either
/// side made without a fault, named by its site and its index among the
/// calls at that site, so that both sides lose the same allocation where
/// both make it. In the order the calls were made, first side first.
pub fn single_faults(ledgers: [&[AllocSite]; 2]) -> Vec<FaultPlan> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for ledger in ledgers {
        let mut nth: BTreeMap<AllocSite, u32> = BTreeMap::new();
        for &site in ledger {
            let n = nth.entry(site).or_default();
            if seen.insert((site, *n)) {
                out.push(FaultPlan {
                    points: vec![FaultPoint::Site { site, nth: *n }],
                });
            }
            *n += 1;
        }
    }
    out
}

/// The fault plan in words.
pub fn describe_faults(plan: &FaultPlan) -> String {
    let mut s = String::new();
    for p in &plan.points {
        let _ = write!(s, "{p}");
    }
    if s.is_empty() {
        s.push_str("no fault");
    }
    s
}
