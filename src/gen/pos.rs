//! Positions and ranges, drawn edge-first: a segment's start and end, one
//! byte and one page from them, the page boundaries next to them, rarely the
//! middle or a random byte. Registration and import arithmetic goes wrong at
//! bvec and folio edges and at unaligned starts and ends, not in the middle.

use super::lower::{index, pick, Layout};
use super::raw::{RawItem, RawPos};
use crate::scenario::Pos;

#[derive(Clone, Copy)]
pub(crate) enum Off {
    Lo,
    LoPlus1,
    Hi,
    HiMinus1,
    Up,
    UpPlus1,
    UpMinus1,
    Down,
    DownPlus1,
    DownMinus1,
    Mid,
    Rand,
    RandPage,
}

use Off::*;
pub(crate) const START: [(u32, Off); 13] = [
    (6, Lo),
    (2, LoPlus1),
    (3, Up),
    (2, UpPlus1),
    (2, UpMinus1),
    (3, Down),
    (1, DownPlus1),
    (1, DownMinus1),
    (2, HiMinus1),
    (1, Hi),
    (2, Mid),
    (5, Rand),
    (2, RandPage),
];
pub(crate) const END: [(u32, Off); 13] = [
    (6, Hi),
    (2, HiMinus1),
    (3, Down),
    (2, DownMinus1),
    (2, DownPlus1),
    (3, Up),
    (1, UpMinus1),
    (1, UpPlus1),
    (2, LoPlus1),
    (1, Lo),
    (2, Mid),
    (5, Rand),
    (2, RandPage),
];

/// A byte offset in `lo..=hi` of a segment: an edge, a byte or a page next
/// to one, the middle, or random.
pub(crate) fn offset(lo: u64, hi: u64, page: u64, rp: &RawPos, table: &[(u32, Off)]) -> u64 {
    let up = (lo / page + 1) * page;
    let down = if hi % page == 0 {
        hi.saturating_sub(page)
    } else {
        hi - hi % page
    };
    let span = hi - lo;
    let v = match pick(rp.edge, table) {
        Lo => lo,
        LoPlus1 => lo + 1,
        Hi => hi,
        HiMinus1 => hi.saturating_sub(1),
        Up => up,
        UpPlus1 => up + 1,
        UpMinus1 => up - 1,
        Down => down,
        DownPlus1 => down + 1,
        DownMinus1 => down.saturating_sub(1),
        Mid => lo + span / 2,
        Rand => lo + ((rp.rnd as u64 * (span + 1)) >> 16),
        RandPage => lo.div_ceil(page) * page + (rp.rnd as u64 % (span / page + 1)) * page,
    };
    v.clamp(lo, hi)
}

/// A position between `a` and `b` (`a <= b`, both valid): a segment of the
/// range, then an offset in the part of it the range covers.
fn pos_in(lay: &Layout, rp: &RawPos, a: Pos, b: Pos, table: &[(u32, Off)]) -> Pos {
    let seg = a.seg + index(rp.seg, (b.seg - a.seg + 1) as usize) as u32;
    let lo = if seg == a.seg { a.off } else { 0 };
    let hi = if seg == b.seg {
        b.off
    } else {
        lay.bytes[seg as usize]
    };
    Pos {
        seg,
        off: offset(lo, hi, lay.page, rp, table),
    }
}

/// The whole address space, from the start of segment 0 to the end of the last.
pub(crate) fn whole(lay: &Layout) -> (Pos, Pos) {
    let last = lay.bytes.len() - 1;
    (
        Pos { seg: 0, off: 0 },
        Pos {
            seg: last as u32,
            off: lay.bytes[last],
        },
    )
}

/// A range inside `r`, edge-biased at both ends; empty only when `r` is
/// or rarely (an empty buffer is -EFAULT, not worth many runs).
pub(crate) fn range_in(lay: &Layout, it: &RawItem, r: (Pos, Pos)) -> (Pos, Pos) {
    let start = pos_in(lay, &it.start, r.0, r.1, &START);
    let end = pos_in(lay, &it.end, start, r.1, &END);
    nonempty((start, end), r, it)
}

/// `(a, b)` widened to an edge of `r` when it is empty, unless `r` is.
fn nonempty((a, b): (Pos, Pos), r: (Pos, Pos), it: &RawItem) -> (Pos, Pos) {
    match () {
        _ if a != b || it.end.rnd == u16::MAX => (a, b),
        _ if b != r.1 => (a, r.1),
        _ => (r.0, b),
    }
}

/// A range from near the start of the first segment to near the end of the last.
pub(crate) fn wide(lay: &Layout, it: &RawItem) -> (Pos, Pos) {
    let (a, b) = whole(lay);
    let start = pos_in(
        lay,
        &it.start,
        a,
        Pos {
            seg: 0,
            off: lay.bytes[0],
        },
        &START,
    );
    let from = if b.seg == 0 {
        start
    } else {
        Pos { seg: b.seg, off: 0 }
    };
    nonempty((start, pos_in(lay, &it.end, from, b, &END)), (a, b), it)
}

/// A start position inside `r`.
pub(crate) fn start_in(lay: &Layout, rp: &RawPos, r: (Pos, Pos)) -> Pos {
    pos_in(lay, rp, r.0, r.1, &START)
}
