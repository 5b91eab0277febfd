//! The raw choices a scenario is lowered from: small structs of bytes with no
//! validity constraints at all, so any byte source can produce them and any
//! shrinker can cut them down. What a byte means is decided in
//! [`super::lower`]; the value 0 always means the simplest choice (map a folio
//! whole, offset at the edge, register, no fault), so drained input and
//! shrinking both head toward plain scenarios.

use super::GenConfig;
use arbitrary::{Arbitrary, Unstructured};

/// Most iovecs (or spans) in one operation.
pub const MAX_ITEMS: usize = 3;
/// Most fault points in one scenario.
pub const MAX_FAULTS: usize = 3;

/// One folio: its kind, mTHP order and physical gap, each a choice byte.
#[derive(Arbitrary, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawFolio {
    /// Kind (weighted toward hugetlb-pmd and THP).
    pub kind: u8,
    /// mTHP order, modulo the orders the geometry allows.
    pub order: u8,
    /// Free pages before the folio (mostly none).
    pub gap: u8,
    /// For THP and mTHP: shared by a fork() whose child has exited (rarely).
    pub share: u8,
}

/// One segment of the address space.
#[derive(Arbitrary, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawSegment {
    /// New folio, the folio of one or two segments back, a small page, or a hole.
    pub form: u8,
    /// Folio index (modulo the folio count).
    pub folio: u8,
    /// For THP and mTHP: whole, head, tail or middle pages.
    pub part: u8,
    /// Page count or first page of a partial mapping; length of a hole.
    pub len: u8,
    /// Readonly (more likely at the first and last segment).
    pub prot: u8,
    /// Whether an alignment gap before a PMD- or PUD-mapped segment is
    /// filled with anonymous pages (mostly) or left unmapped.
    pub fill: u8,
}

/// A position: a segment and an offset inside it, biased toward edges.
#[derive(Arbitrary, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawPos {
    /// Segment choice (modulo, or relative to a range).
    pub seg: u8,
    /// Which edge: start, end, ±1 byte, ±1 page, middle, random.
    pub edge: u8,
    /// Randomness for the random offsets.
    pub rnd: u16,
}

/// One iovec of a register or update, or one span of an import.
#[derive(Arbitrary, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawItem {
    /// Range, wide range, NULL, sized, raw; for spans, inside or anywhere.
    pub kind: u8,
    /// First byte.
    pub start: RawPos,
    /// One past the last byte.
    pub end: RawPos,
}

/// One operation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawOp {
    /// Which operation (depends on what came before).
    pub kind: u8,
    /// Table size, update offset, direction.
    pub a: u8,
    /// Slot.
    pub b: u8,
    /// Iovecs or spans (1 to [`MAX_ITEMS`]).
    pub items: Vec<RawItem>,
}

/// One fault point.
#[derive(Arbitrary, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawFault {
    /// Whether it is armed (0 is armed; most values are not).
    pub on: u8,
    /// Allocation site (modulo the sites).
    pub site: u8,
    /// Which call at that site (modulo 3).
    pub nth: u8,
}

/// Every choice of one scenario.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawScenario {
    /// RLIMIT_MEMLOCK choice (mostly none).
    pub memlock: u8,
    /// Folios.
    pub folios: Vec<RawFolio>,
    /// Segments.
    pub segments: Vec<RawSegment>,
    /// Operations.
    pub ops: Vec<RawOp>,
    /// Fault points.
    pub faults: Vec<RawFault>,
    /// Geometry choice (weighted by the config's table; drawn last, so
    /// the other choices of a byte string do not depend on the table).
    pub geometry: u8,
}

/// A length in `min..=max` from one byte; `min` once the input is drained.
fn draw_len(u: &mut Unstructured<'_>, min: usize, max: usize) -> usize {
    let b = u8::arbitrary(u).unwrap_or(0) as usize;
    if max <= min {
        min
    } else {
        min + b % (max - min + 1)
    }
}

/// `min..=max` elements, each defaulted once the input is drained.
fn draw_vec<'a, T: Arbitrary<'a> + Default>(
    u: &mut Unstructured<'a>,
    min: usize,
    max: usize,
) -> Vec<T> {
    let n = draw_len(u, min, max);
    (0..n)
        .map(|_| T::arbitrary(u).unwrap_or_default())
        .collect()
}

impl RawOp {
    /// Draws an operation; never fails.
    pub fn draw(u: &mut Unstructured<'_>) -> RawOp {
        RawOp {
            kind: u8::arbitrary(u).unwrap_or(0),
            a: u8::arbitrary(u).unwrap_or(0),
            b: u8::arbitrary(u).unwrap_or(0),
            items: draw_vec(u, 1, MAX_ITEMS),
        }
    }
}

impl RawScenario {
    /// Draws the choices of one scenario within `cfg`'s limits. Never fails:
    /// once `u` is drained every remaining choice is its default.
    pub fn draw(u: &mut Unstructured<'_>, cfg: &GenConfig) -> RawScenario {
        let (max_folios, max_segments, max_ops) = cfg.limits();
        let memlock = u8::arbitrary(u).unwrap_or(0);
        let folios = draw_vec(u, 1, max_folios);
        let segments = draw_vec(u, 1, max_segments);
        let nops = draw_len(u, 1, max_ops);
        let ops = (0..nops).map(|_| RawOp::draw(u)).collect();
        let faults = if cfg.faults {
            draw_vec(u, 0, MAX_FAULTS)
        } else {
            vec![]
        };
        let geometry = if cfg.geometries.len() > 1 {
            u8::arbitrary(u).unwrap_or(0)
        } else {
            0
        };
        RawScenario {
            memlock,
            folios,
            segments,
            ops,
            faults,
            geometry,
        }
    }
}

impl<'a> Arbitrary<'a> for RawOp {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(RawOp::draw(u))
    }
}

impl<'a> Arbitrary<'a> for RawScenario {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(RawScenario::draw(u, &GenConfig::default()))
    }
}
