//! Lowering raw operations. Positions are drawn edge-first (segment start and
//! end, ±1 byte, the page boundaries next to them) because registration and
//! import arithmetic goes wrong at bvec and folio edges, not in the middle.
//! The lowering follows the table the ring would have (a register, a sparse
//! table and its updates) so imports land mostly inside registered buffers,
//! where the interesting arithmetic happens, and only sometimes outside.

use super::lower::{pick, Layout};
use super::raw::{RawItem, RawOp, RawPos, MAX_ITEMS};
use super::GenConfig;
use crate::mm::USER_VA_BASE;
use crate::scenario::{Ddir, IovSpec, Op, Pos, Size, Span};

#[derive(Clone, Copy)]
enum Kind {
    Register,
    Sparse,
    Update,
    Unregister,
    Import,
    Readv,
}

const FIRST: [(u32, Kind); 4] = [(22, Kind::Register), (8, Kind::Sparse), (1, Kind::Import), (1, Kind::Update)];
const AFTER_SPARSE: [(u32, Kind); 5] =
    [(22, Kind::Update), (4, Kind::Import), (2, Kind::Readv), (2, Kind::Register), (2, Kind::Unregister)];
const LATER: [(u32, Kind); 6] = [
    (10, Kind::Import),
    (7, Kind::Readv),
    (6, Kind::Update),
    (4, Kind::Register),
    (3, Kind::Unregister),
    (2, Kind::Sparse),
];

#[derive(Clone, Copy)]
enum Iov {
    Range,
    Wide,
    Null0,
    NullLen,
    Sized,
    Raw,
}

const REGISTER_IOVS: [(u32, Iov); 6] =
    [(14, Iov::Range), (8, Iov::Wide), (2, Iov::Null0), (2, Iov::NullLen), (3, Iov::Sized), (3, Iov::Raw)];
const UPDATE_IOVS: [(u32, Iov); 6] =
    [(12, Iov::Range), (4, Iov::Wide), (10, Iov::Null0), (2, Iov::NullLen), (2, Iov::Sized), (2, Iov::Raw)];

#[derive(Clone, Copy)]
enum Off {
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
const START: [(u32, Off); 13] = [
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
const END: [(u32, Off); 13] = [
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
fn offset(lo: u64, hi: u64, page: u64, rp: &RawPos, table: &[(u32, Off)]) -> u64 {
    let up = (lo / page + 1) * page;
    let down = if hi % page == 0 { hi.saturating_sub(page) } else { hi - hi % page };
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
    let seg = a.seg + rp.seg as u32 % (b.seg - a.seg + 1);
    let lo = if seg == a.seg { a.off } else { 0 };
    let hi = if seg == b.seg { b.off } else { lay.bytes[seg as usize] };
    Pos { seg, off: offset(lo, hi, lay.page, rp, table) }
}

/// The whole address space, from the start of segment 0 to the end of the last.
fn whole(lay: &Layout) -> (Pos, Pos) {
    let last = lay.bytes.len() - 1;
    (Pos { seg: 0, off: 0 }, Pos { seg: last as u32, off: lay.bytes[last] })
}

/// A range inside `r`, edge-biased at both ends.
fn range_in(lay: &Layout, it: &RawItem, r: (Pos, Pos)) -> (Pos, Pos) {
    let start = pos_in(lay, &it.start, r.0, r.1, &START);
    (start, pos_in(lay, &it.end, start, r.1, &END))
}

/// A range from near the start of the first segment to near the end of the last.
fn wide(lay: &Layout, it: &RawItem) -> (Pos, Pos) {
    let (a, b) = whole(lay);
    let start = pos_in(lay, &it.start, a, Pos { seg: 0, off: lay.bytes[0] }, &START);
    let from = if b.seg == 0 { start } else { Pos { seg: b.seg, off: 0 } };
    (start, pos_in(lay, &it.end, from, b, &END))
}

/// One iovec, with the range it covers when it is a range.
fn iovec(lay: &Layout, it: &RawItem, table: &[(u32, Iov)]) -> (IovSpec, Option<(Pos, Pos)>) {
    let page = lay.page;
    let size = |pud, pmd, pages, bytes| Size { pud, pmd, pages, bytes };
    match pick(it.kind, table) {
        Iov::Range => {
            let (start, end) = range_in(lay, it, whole(lay));
            (IovSpec::Range { start, end }, Some((start, end)))
        }
        Iov::Wide => {
            let (start, end) = wide(lay, it);
            (IovSpec::Range { start, end }, Some((start, end)))
        }
        Iov::Null0 => (IovSpec::Null { len: Size::default() }, None),
        Iov::NullLen => {
            let len = pick(it.end.edge, &[(1, size(0, 0, 1, 0)), (1, size(0, 0, 0, 1)), (1, size(0, 1, 0, 0))]);
            (IovSpec::Null { len }, None)
        }
        Iov::Sized => {
            // Over, at and under the (scaled) 1 GiB limit, and folio-sized.
            let lens = [
                (3, size(1, 0, 0, 1)),
                (2, size(1, 0, 0, 0)),
                (1, size(1, 0, 0, -1)),
                (1, size(0, 1, 0, 0)),
                (1, size(0, 1, 0, 1)),
            ];
            let (a, b) = whole(lay);
            let start = pos_in(lay, &it.start, a, b, &START);
            (IovSpec::Sized { start, len: pick(it.end.edge, &lens) }, None)
        }
        Iov::Raw => {
            // Address arithmetic: end wraps exactly to 0, past it, unmapped.
            let top = u64::MAX - page + 1;
            let raws = [
                (2, (top, page)),
                (1, (top, 2 * page)),
                (1, (u64::MAX, 1)),
                (1, (u64::MAX - 1, u64::MAX)),
                (2, (USER_VA_BASE - page, page)),
                (1, (USER_VA_BASE + 1, u64::MAX - USER_VA_BASE)),
            ];
            let (base, len) = pick(it.end.edge, &raws);
            (IovSpec::Raw { base, len }, None)
        }
    }
}

/// Lowers the operations, tracking the table the ring would have so imports
/// and updates mostly address live slots and registered bytes.
pub(crate) fn lower_ops(raw: &[RawOp], cfg: &GenConfig, lay: &Layout) -> Vec<Op> {
    let (_, _, max_ops) = cfg.limits();
    let pad = [RawItem::default()];
    let mut table: Option<Vec<Option<(Pos, Pos)>>> = None;
    let mut after_sparse = false;
    let mut out = Vec::with_capacity(raw.len().min(max_ops));
    for (i, op) in raw.iter().take(max_ops).enumerate() {
        let items = if op.items.is_empty() { &pad[..] } else { &op.items[..op.items.len().min(MAX_ITEMS)] };
        let kinds: &[(u32, Kind)] = if i == 0 {
            &FIRST
        } else if after_sparse {
            &AFTER_SPARSE
        } else {
            &LATER
        };
        let kind = pick(op.kind, kinds);
        // After a sparse table, updates fill it; the chain ends at random.
        after_sparse = after_sparse && op.a & 0x80 == 0;
        let nr = table.as_ref().map_or(0, |t| t.len() as u32);
        let slot = match nr {
            0 => op.b as u32 % 3,
            _ if op.b >= 232 => nr,
            _ => op.b as u32 % nr,
        };
        let ddir = if op.a & 1 == 0 { Ddir::Read } else { Ddir::Write };
        let span = |it: &RawItem| {
            let r = table.as_ref().and_then(|t| t.get(slot as usize).copied().flatten());
            let (start, end) = match r {
                Some(r) if it.kind < 224 => range_in(lay, it, r),
                _ => range_in(lay, it, whole(lay)),
            };
            Span { start, end }
        };
        out.push(match kind {
            Kind::Register => {
                let (iovecs, ranges): (Vec<_>, Vec<_>) = items.iter().map(|it| iovec(lay, it, &REGISTER_IOVS)).unzip();
                table.get_or_insert(ranges);
                Op::Register { iovecs }
            }
            Kind::Sparse => {
                let nr = 1 + op.a as u32 % 4;
                table.get_or_insert_with(|| vec![None; nr as usize]);
                after_sparse = true;
                Op::RegisterSparse { nr }
            }
            Kind::Update => {
                let (offset, fit) = match nr {
                    0 => (op.a as u32 % 3, items.len()),
                    _ if op.a >= 232 => (nr, items.len()),
                    _ => (op.a as u32 % nr, (nr - op.a as u32 % nr) as usize),
                };
                let (iovecs, ranges): (Vec<_>, Vec<_>) =
                    items[..items.len().min(fit)].iter().map(|it| iovec(lay, it, &UPDATE_IOVS)).unzip();
                if let Some(t) = table.as_mut() {
                    for (j, r) in ranges.into_iter().enumerate() {
                        if let Some(s) = t.get_mut(offset as usize + j) {
                            *s = r;
                        }
                    }
                }
                Op::Update { offset, iovecs }
            }
            Kind::Unregister => {
                table = None;
                Op::Unregister
            }
            Kind::Import => Op::Import { slot, ddir, span: span(&items[0]) },
            Kind::Readv => Op::Readv { slot, ddir, spans: items.iter().map(span).collect() },
        });
    }
    out
}
