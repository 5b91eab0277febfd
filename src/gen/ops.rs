//! Lowering raw operations. It follows the table the ring would have (a
//! register, or a sparse table and its updates) so that imports land mostly
//! in slots holding a buffer and inside its bytes, where the bvec arithmetic
//! is, and only sometimes outside; and it keeps failing iovecs (NULL with a
//! length, over the limit, wrapping addresses) rare enough that most
//! registrations succeed and leave something to import from.

use super::lower::{pick, Layout};
use super::pos::{range_in, start_in, whole, wide};
use super::raw::{RawItem, RawOp, MAX_ITEMS};
use super::GenConfig;
use crate::mm::USER_VA_BASE;
use crate::scenario::{Ddir, IovSpec, Op, Pos, Size, Span};

/// A slot of the table as the generator follows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum GenSlot {
    /// A user buffer over the range.
    User(Pos, Pos),
    /// A kernel buffer of bvecs of these lengths, of a request in this
    /// direction.
    Kbuf(Vec<u64>, Ddir),
}

/// The table a ring would have: `None` before one is registered.
pub(super) type GenTable = Option<Vec<Option<GenSlot>>>;

#[derive(Clone, Copy)]
enum Kind {
    Register,
    Sparse,
    Update,
    Unregister,
    Import,
    Readv,
    Complete,
    Ring,
    Clone,
}

const FIRST: [(u32, Kind); 4] = [
    (22, Kind::Register),
    (8, Kind::Sparse),
    (1, Kind::Import),
    (1, Kind::Update),
];
const AFTER_SPARSE: [(u32, Kind); 5] = [
    (22, Kind::Update),
    (4, Kind::Import),
    (2, Kind::Readv),
    (2, Kind::Register),
    (2, Kind::Unregister),
];
const LATER: [(u32, Kind); 6] = [
    (10, Kind::Import),
    (7, Kind::Readv),
    (6, Kind::Update),
    (4, Kind::Register),
    (3, Kind::Unregister),
    (2, Kind::Sparse),
];
/// [`LATER`] with the other ring and clones, when the generator draws them.
const LATER_RINGS: [(u32, Kind); 8] = [
    (10, Kind::Import),
    (7, Kind::Readv),
    (6, Kind::Update),
    (4, Kind::Register),
    (3, Kind::Unregister),
    (2, Kind::Sparse),
    (3, Kind::Ring),
    (3, Kind::Clone),
];
/// [`LATER_HELD`] with the other ring and clones.
const LATER_HELD_RINGS: [(u32, Kind); 9] = [
    (8, Kind::Import),
    (5, Kind::Readv),
    (10, Kind::Update),
    (3, Kind::Register),
    (6, Kind::Unregister),
    (2, Kind::Sparse),
    (6, Kind::Complete),
    (3, Kind::Ring),
    (3, Kind::Clone),
];
/// While a request is in flight: the same, and its completion, drawn so
/// that an update or unregister comes before it about as often as after.
const LATER_HELD: [(u32, Kind); 7] = [
    (8, Kind::Import),
    (5, Kind::Readv),
    (10, Kind::Update),
    (3, Kind::Register),
    (6, Kind::Unregister),
    (2, Kind::Sparse),
    (6, Kind::Complete),
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

const REGISTER_IOVS: [(u32, Iov); 6] = [
    (18, Iov::Range),
    (8, Iov::Wide),
    (2, Iov::Null0),
    (1, Iov::NullLen),
    (2, Iov::Sized),
    (1, Iov::Raw),
];
const UPDATE_IOVS: [(u32, Iov); 6] = [
    (12, Iov::Range),
    (4, Iov::Wide),
    (10, Iov::Null0),
    (2, Iov::NullLen),
    (2, Iov::Sized),
    (2, Iov::Raw),
];

/// One iovec, with the range it covers when it is a range.
fn iovec(lay: &Layout, it: &RawItem, table: &[(u32, Iov)]) -> (IovSpec, Option<(Pos, Pos)>) {
    let page = lay.page;
    let size = |pud, pmd, pages, bytes| Size {
        pud,
        pmd,
        pages,
        bytes,
    };
    match pick(it.kind, table) {
        Iov::Range => {
            let (start, end) = range_in(lay, it, whole(lay));
            (IovSpec::Range { start, end }, Some((start, end)))
        }
        Iov::Wide => {
            let (start, end) = wide(lay, it);
            (IovSpec::Range { start, end }, Some((start, end)))
        }
        Iov::Null0 => (
            IovSpec::Null {
                len: Size::default(),
            },
            None,
        ),
        Iov::NullLen => {
            let len = pick(
                it.end.edge,
                &[
                    (1, size(0, 0, 1, 0)),
                    (1, size(0, 0, 0, 1)),
                    (1, size(0, 1, 0, 0)),
                ],
            );
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
            // One time in 16 (a byte the other lengths leave unused, away
            // from the 0 shrinking heads for), over or at 7.2's 1 TiB limit
            // (1024 PUD folios).
            let len = if it.end.rnd % 16 == 15 {
                size(1024, 0, 0, i64::from(it.end.edge & 1))
            } else {
                pick(it.end.edge, &lens)
            };
            let start = start_in(lay, &it.start, whole(lay));
            (IovSpec::Sized { start, len }, None)
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
    let mut table: GenTable = None;
    let mut after_sparse = false;
    let mut held = 0usize;
    // The other ring's table and requests in flight, swapped in by `ring`.
    let mut other: GenTable = None;
    let mut other_held = 0usize;
    let mut ring = 0u32;
    let mut out = Vec::with_capacity(raw.len().min(max_ops));
    for (i, op) in raw.iter().take(max_ops).enumerate() {
        let items = if op.items.is_empty() {
            &pad[..]
        } else {
            &op.items[..op.items.len().min(MAX_ITEMS)]
        };
        // Campaigns make some operations kernel-buffer ones, from the
        // operation's own bytes: a draw none of whose operations is one is
        // the draw of a generator without them.
        if cfg.kbufs && i > 0 && super::kbuf::drawn(op, &table) {
            out.extend(super::kbuf::lower(op, items, &mut table, lay, &mut held));
            continue;
        }
        let kinds: &[(u32, Kind)] = if i == 0 {
            &FIRST
        } else if after_sparse {
            &AFTER_SPARSE
        } else if held > 0 {
            if cfg.rings {
                &LATER_HELD_RINGS
            } else {
                &LATER_HELD
            }
        } else if cfg.rings {
            &LATER_RINGS
        } else {
            &LATER
        };
        let kind = pick(op.kind, kinds);
        // After a sparse table, updates fill it; the chain ends at random.
        after_sparse = after_sparse && op.a & 0x80 == 0;
        let nr = table.as_ref().map_or(0, |t| t.len() as u32);
        // Mostly a slot holding a buffer, sometimes any, rarely one past the end.
        let full: Vec<u32> = table
            .iter()
            .flatten()
            .enumerate()
            .filter(|s| matches!(s.1, Some(GenSlot::User(..))))
            .map(|s| s.0 as u32)
            .collect();
        let slot = match nr {
            0 => op.b as u32 % 3,
            _ if op.b >= 240 => nr,
            _ if op.b < 192 && !full.is_empty() => full[op.b as usize % full.len()],
            _ => op.b as u32 % nr,
        };
        let ddir = if op.a & 1 == 0 {
            Ddir::Read
        } else {
            Ddir::Write
        };
        // One read in two waits in flight for its data.
        let hold = ddir == Ddir::Read && op.a & 0x02 == 0;
        let span = |it: &RawItem| {
            let r = table
                .as_ref()
                .and_then(|t| t.get(slot as usize).cloned().flatten());
            let (start, end) = match r {
                Some(GenSlot::User(a, b)) if it.kind < 224 => range_in(lay, it, (a, b)),
                _ => range_in(lay, it, whole(lay)),
            };
            Span { start, end }
        };
        let mut pre = None;
        let next = match kind {
            Kind::Register => {
                let n = pick(op.a, &[(3, 1), (3, 2), (2, 3)]);
                let (iovecs, ranges): (Vec<_>, Vec<_>) = items
                    .iter()
                    .take(n)
                    .map(|it| iovec(lay, it, &REGISTER_IOVS))
                    .unzip();
                table.get_or_insert(user_slots(ranges));
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
                let (iovecs, ranges): (Vec<_>, Vec<_>) = items[..items.len().min(fit)]
                    .iter()
                    .map(|it| iovec(lay, it, &UPDATE_IOVS))
                    .unzip();
                if let Some(t) = table.as_mut() {
                    for (j, r) in ranges.into_iter().enumerate() {
                        if let Some(s) = t.get_mut(offset as usize + j) {
                            *s = r.map(|(a, b)| GenSlot::User(a, b));
                        }
                    }
                }
                Op::Update { offset, iovecs }
            }
            Kind::Unregister => {
                table = None;
                Op::Unregister
            }
            Kind::Import => {
                held += usize::from(hold);
                Op::Import {
                    slot,
                    ddir,
                    span: span(&items[0]),
                    hold,
                }
            }
            Kind::Readv => {
                held += usize::from(hold);
                Op::Readv {
                    slot,
                    ddir,
                    spans: items.iter().map(span).collect(),
                    hold,
                }
            }
            Kind::Complete => {
                held -= 1;
                Op::Complete
            }
            Kind::Ring => {
                std::mem::swap(&mut table, &mut other);
                std::mem::swap(&mut held, &mut other_held);
                ring ^= 1;
                Op::Ring { ring }
            }
            Kind::Clone => {
                // Mostly from the other ring, whole; sometimes a ring onto
                // itself, or a few slots at offsets.
                let same = op.a & 3 == 0;
                // A clone from a ring without a table only says -ENXIO:
                // mostly, go to the other ring first and clone this one.
                if !same && other.is_none() && table.is_some() && op.b & 0x40 == 0 {
                    std::mem::swap(&mut table, &mut other);
                    std::mem::swap(&mut held, &mut other_held);
                    ring ^= 1;
                    pre = Some(Op::Ring { ring });
                }
                let src_table = if same { table.clone() } else { other.clone() };
                let snr = src_table.as_ref().map_or(0, |t| t.len() as u32);
                let (nr, src_off, dst_off) = if op.b < 160 || snr == 0 {
                    (0, 0, 0)
                } else {
                    let n = 1 + op.b as u32 % snr.min(2);
                    (
                        n,
                        (op.a as u32 >> 2) % (snr - n + 1),
                        (op.a as u32 >> 4) % 3,
                    )
                };
                let replace = match table {
                    Some(_) => op.a & 0xc0 != 0xc0,
                    None => op.a & 0x40 != 0,
                };
                if let Some(st) = src_table.filter(|_| replace || table.is_none()) {
                    table = Some(cloned(table.as_deref(), &st, nr, src_off, dst_off));
                }
                Op::Clone {
                    src: if same { ring } else { ring ^ 1 },
                    src_off,
                    dst_off,
                    nr,
                    replace,
                }
            }
        };
        out.extend(pre);
        out.push(next);
    }
    out
}

/// A register's table: a user buffer over each range.
fn user_slots(ranges: Vec<Option<(Pos, Pos)>>) -> Vec<Option<GenSlot>> {
    ranges
        .into_iter()
        .map(|r| r.map(|(a, b)| GenSlot::User(a, b)))
        .collect()
}

/// The table a clone leaves, as the generator follows it: the current
/// table's slots around the cloned range, the source's in it.
fn cloned<T: Clone>(
    dst: Option<&[Option<T>]>,
    src: &[Option<T>],
    nr: u32,
    src_off: u32,
    dst_off: u32,
) -> Vec<Option<T>> {
    let dst = dst.unwrap_or(&[]);
    let n = if nr == 0 { src.len() } else { nr as usize };
    let end = n + dst_off as usize;
    let mut t = vec![None; end.max(dst.len())];
    for (i, s) in dst.iter().enumerate() {
        if i < dst_off as usize || i >= end {
            t[i] = s.clone();
        }
    }
    for k in 0..n {
        t[dst_off as usize + k] = src.get(src_off as usize + k).cloned().flatten();
    }
    t
}
