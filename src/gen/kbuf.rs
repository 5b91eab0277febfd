//! Lowering kernel-buffer operations, which campaigns draw
//! ([`super::GenConfig::kbufs`]): one operation in eight after the first
//! becomes one, chosen from its own bytes, and three in four once a kernel
//! buffer is in the table. A request goes mostly into an
//! empty slot of the table the ring would have, its bvecs inside the
//! scenario's folios (often the ones user buffers map, where 7.1's
//! accounting looks at them), sometimes with more segments than bvecs so
//! that the imu comes from `kvmalloc_flex`; then imports and vectored
//! imports mostly in the request's direction and at its bvec boundaries,
//! and unregisters, sometimes of a slot holding a user buffer or none.

use super::lower::{index, pick, Layout};
use super::ops::{GenSlot, GenTable};
use super::pos::{offset, END, START};
use super::raw::{RawItem, RawOp, RawPos};
use crate::scenario::{Ddir, KbufBvec, KbufSpan, Op};

/// Whether raw operation `op` (not a scenario's first) is lowered to a
/// kernel-buffer operation: one in eight, and once the table holds a
/// kernel buffer (the draw has one already, so it is not a draw of the
/// generator without them) three in four.
pub(super) fn drawn(op: &RawOp, table: &GenTable) -> bool {
    let kbuf = table
        .iter()
        .flatten()
        .any(|s| matches!(s, Some(GenSlot::Kbuf(..))));
    if kbuf {
        op.kind & 3 != 0
    } else {
        op.kind & 7 == 7
    }
}

#[derive(Clone, Copy)]
enum What {
    Register,
    Unregister,
    Import,
    Readv,
}

/// Once a kernel buffer is in the table: mostly I/O on it.
const LATER: [(u32, What); 4] = [
    (3, What::Register),
    (4, What::Unregister),
    (8, What::Import),
    (5, What::Readv),
];

/// Lowers `op` (its iovecs or spans `items`) to a kernel-buffer operation,
/// following the table and the requests left in flight. A registration
/// that would find no empty slot mostly makes one first: a sparse table
/// where there is none, an update that empties a slot of a full one.
pub(super) fn lower(
    op: &RawOp,
    items: &[RawItem],
    table: &mut GenTable,
    lay: &Layout,
    held: &mut usize,
) -> Vec<Op> {
    let mut out = Vec::with_capacity(2);
    let room = table.iter().flatten().any(Option::is_none);
    let kbuf = table
        .iter()
        .flatten()
        .any(|s| matches!(s, Some(GenSlot::Kbuf(..))));
    if !kbuf && !room && op.b & 0x30 != 0x30 {
        match table {
            None => {
                let nr = 1 + op.a as u32 % 4;
                *table = Some(vec![None; nr as usize]);
                out.push(Op::RegisterSparse { nr });
            }
            Some(t) => {
                let offset = op.a as u32 % t.len() as u32;
                t[offset as usize] = None;
                out.push(Op::Update {
                    offset,
                    iovecs: vec![crate::scenario::IovSpec::Null {
                        len: Default::default(),
                    }],
                });
            }
        }
    }
    out.push(kbuf_op(op, items, table, lay, held));
    out
}

fn kbuf_op(
    op: &RawOp,
    items: &[RawItem],
    table: &mut GenTable,
    lay: &Layout,
    held: &mut usize,
) -> Op {
    let t = table.as_deref().unwrap_or(&[]);
    let nr = t.len() as u32;
    let slots = |want: fn(&Option<GenSlot>) -> bool| -> Vec<u32> {
        (0..nr).filter(|&i| want(&t[i as usize])).collect()
    };
    let kbufs = slots(|s| matches!(s, Some(GenSlot::Kbuf(..))));
    let empty = slots(Option::is_none);
    // Mostly a slot of `pref`, sometimes any, rarely one past the table.
    let choose = |pref: &[u32]| -> u32 {
        match nr {
            0 => op.b as u32 % 3,
            _ if op.b >= 240 => nr,
            _ if op.b < 208 && !pref.is_empty() => pref[index(op.b, pref.len())],
            _ => op.b as u32 % nr,
        }
    };
    let what = if kbufs.is_empty() {
        What::Register
    } else {
        pick(op.kind, &LATER)
    };
    match what {
        What::Register => {
            let index = choose(&empty);
            let dir = if op.a & 1 == 0 {
                Ddir::Read
            } else {
                Ddir::Write
            };
            let bvecs: Vec<KbufBvec> = items.iter().map(|it| bvec(lay, it)).collect();
            let n = bvecs.len() as u32;
            let segments = match op.a & 0x30 {
                // Past what the imu cache holds, for a request of a few
                // bvecs: the imu comes from kvmalloc_flex.
                0x30 => Some(n + 32 + op.b as u32 % 8),
                0x20 => Some(n + 1 + op.b as u32 % 3),
                _ => None,
            };
            if let Some(s) = table.as_mut().and_then(|t| t.get_mut(index as usize)) {
                if s.is_none() {
                    *s = Some(GenSlot::Kbuf(bvecs.iter().map(|b| b.len).collect(), dir));
                }
            }
            Op::KbufRegister {
                index,
                dir,
                bvecs,
                segments,
            }
        }
        What::Unregister => {
            let index = choose(&kbufs);
            if let Some(s) = table.as_mut().and_then(|t| t.get_mut(index as usize)) {
                if matches!(s, Some(GenSlot::Kbuf(..))) {
                    *s = None;
                }
            }
            Op::KbufUnregister { index }
        }
        What::Import | What::Readv => {
            let slot = choose(&kbufs);
            let (lens, dir) = match t.get(slot as usize) {
                Some(Some(GenSlot::Kbuf(l, d))) => (l.clone(), *d),
                _ => (vec![lay.page], Ddir::Read),
            };
            // Mostly the request's own direction; the other is -EFAULT.
            let flip = op.a & 0x0c == 0x0c;
            let ddir = match (dir, flip) {
                (Ddir::Read, false) | (Ddir::Write, true) => Ddir::Read,
                _ => Ddir::Write,
            };
            // One read in two waits in flight for its data.
            let hold = ddir == Ddir::Read && op.a & 0x02 == 0;
            *held += usize::from(hold);
            let span = |it: &RawItem| {
                let total: u64 = lens.iter().sum();
                let off = point(&lens, total, lay.page, &it.start, &START).min(total - 1);
                let end = point(&lens, total, lay.page, &it.end, &END).max(off + 1);
                // Rarely one byte past the buffer: -EFAULT.
                let end = if it.end.rnd == u16::MAX {
                    total + 1
                } else {
                    end
                };
                KbufSpan {
                    off,
                    len: end - off,
                }
            };
            if let What::Import = what {
                let s = span(&items[0]);
                Op::KbufImport {
                    slot,
                    ddir,
                    off: s.off,
                    len: s.len,
                    hold,
                }
            } else {
                Op::KbufReadv {
                    slot,
                    ddir,
                    iovecs: items.iter().map(span).collect(),
                    hold,
                }
            }
        }
    }
}

/// Most bytes of one generated bvec: three stay within `blk_rq_bytes()`,
/// an `unsigned int`, in the 16 GiB folios of arm64 and ppc64.
const MAX_BVEC: u64 = 1 << 30;

/// A bvec inside one folio: its offset and end edge-biased as a segment's
/// positions are.
fn bvec(lay: &Layout, it: &RawItem) -> KbufBvec {
    let folio = index(it.start.seg, lay.folio_bytes.len()) as u32;
    let fb = lay.folio_bytes[folio as usize];
    let off = offset(0, fb - 1, lay.page, &it.start, &START);
    let end = offset(off + 1, fb.min(off + MAX_BVEC), lay.page, &it.end, &END);
    KbufBvec {
        folio,
        off,
        len: end - off,
    }
}

/// A byte offset into a kernel buffer of bvecs `lens`: one time in four at
/// a bvec boundary or a byte from one, otherwise edge-biased in the whole.
fn point(
    lens: &[u64],
    total: u64,
    page: u64,
    rp: &RawPos,
    table: &[(u32, super::pos::Off)],
) -> u64 {
    if rp.seg & 3 == 1 {
        let k = index(rp.seg >> 2, lens.len());
        let b: u64 = lens[..=k].iter().sum();
        return match rp.rnd & 3 {
            1 => b + 1,
            2 => b.saturating_sub(1),
            _ => b,
        }
        .min(total);
    }
    offset(0, total, page, rp, table)
}
