//! Kernel-buffer operations in a scenario (`kbuf_register`,
//! `kbuf_unregister`, `kbuf_import`, `kbuf_readv`): the request a
//! registration describes, checked against what the block layer can hand a
//! driver, and how its bytes move when a file changes geometry.
//!
//! A request's bvecs name scenario folios directly (a block request's pages
//! need not be mapped in the task), each a byte range inside one folio. An
//! import's offsets count from the buffer's start, so they move with the
//! bvec they fall in: the slot's buffer is followed through the operations
//! for that.

use super::build::{err, ScenarioError};
use super::format::{Ddir, Op, Scenario};
use crate::mm::Pfn;
use crate::model::kbuf::{BlkRequest, READ, WRITE};
use crate::model::BioVec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One bvec of a request: `len` bytes of scenario folio `folio` from its
/// byte `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KbufBvec {
    /// Folio index.
    pub folio: u32,
    /// First byte inside the folio.
    pub off: u64,
    /// Bytes.
    pub len: u64,
}

/// One iovec of a vectored import from a kernel buffer: `len` bytes from
/// the buffer's byte `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KbufSpan {
    /// First byte, from the buffer's start.
    pub off: u64,
    /// Bytes.
    pub len: u64,
}

/// Most bvecs in one request a file may give.
pub const MAX_KBUF_BVECS: usize = 1024;

/// The request a `kbuf_register` describes. `folios` is each scenario
/// folio's head pfn and size in bytes. A bvec lies inside one folio and is
/// not empty (a bio holds no empty bvec); `bv_len` and `blk_rq_bytes()`
/// are `unsigned int`s; `blk_rq_nr_phys_segments()` counts at least one
/// segment per bvec and fits the request's `unsigned short`.
pub(super) fn request(
    bvecs: &[KbufBvec],
    segments: Option<u32>,
    dir: Ddir,
    folios: &[(Pfn, u64)],
    page_shift: u32,
    field: &str,
) -> Result<BlkRequest, ScenarioError> {
    if bvecs.is_empty() {
        return err(
            format!("{field}.bvecs"),
            "no bvecs: a request with data has at least one",
        );
    }
    if bvecs.len() > MAX_KBUF_BVECS {
        return err(
            format!("{field}.bvecs"),
            format!("{} bvecs; at most {MAX_KBUF_BVECS}", bvecs.len()),
        );
    }
    let mut out = Vec::with_capacity(bvecs.len());
    let mut total = 0u64;
    for (j, b) in bvecs.iter().enumerate() {
        let f = format!("{field}.bvecs[{j}]");
        let Some(&(head, bytes)) = folios.get(b.folio as usize) else {
            return err(
                format!("{f}.folio"),
                format!("folio {} does not exist ({} folios)", b.folio, folios.len()),
            );
        };
        if b.len == 0 {
            return err(format!("{f}.len"), "an empty bvec: a bio holds none");
        }
        if b.len > u32::MAX as u64 {
            return err(
                format!("{f}.len"),
                format!("{} bytes; bv_len is an unsigned int", b.len),
            );
        }
        if b.off.checked_add(b.len).is_none_or(|end| end > bytes) {
            return err(
                format!("{f}.off"),
                format!(
                    "bytes {:#x}+{:#x} are not inside folio {}, {bytes:#x} bytes: a bvec lies in one folio",
                    b.off, b.len, b.folio
                ),
            );
        }
        total += b.len;
        out.push(BioVec {
            bv_page: head + (b.off >> page_shift),
            bv_len: b.len,
            bv_offset: b.off & ((1 << page_shift) - 1),
        });
    }
    if total > u32::MAX as u64 {
        return err(
            format!("{field}.bvecs"),
            format!("{total} bytes in all; blk_rq_bytes() is an unsigned int"),
        );
    }
    let n = bvecs.len() as u32;
    let segs = segments.unwrap_or(n);
    if segs < n || segs > u16::MAX as u32 {
        return err(
            format!("{field}.segments"),
            format!(
                "{segs} segments for {n} bvecs: blk_rq_nr_phys_segments() counts at least one per bvec \
                 (it may count more, never fewer) and is an unsigned short"
            ),
        );
    }
    Ok(BlkRequest {
        bvecs: out,
        nr_phys_segments: segs,
        data_dir: if dir == Ddir::Read { READ } else { WRITE },
        released: 0,
        registered: false,
    })
}

/// The byte lengths of the buffer a slot holds, before and after a
/// rescale, as the operations so far leave each ring's table.
type Lens = (Vec<u64>, Vec<u64>);

/// Moves every `kbuf_*` operation of `out` (a copy of `s` being rescaled)
/// to the new geometry: a bvec's ends keep their distance to the nearer
/// edge of its folio (`pos`, with the folio's sizes before and after), an
/// import's ends their distance to the nearer edge of the bvec they fall
/// in, of the buffer the slot holds at that point.
pub(super) fn rescale(
    s: &Scenario,
    out: &mut Scenario,
    folio_bytes: &dyn Fn(u32) -> Option<(u64, u64)>,
    pos: &dyn Fn(u64, u64, u64) -> u64,
) {
    for op in &mut out.ops {
        let Op::KbufRegister { bvecs, .. } = op else {
            continue;
        };
        for b in bvecs {
            let Some((from, to)) = folio_bytes(b.folio) else {
                continue;
            };
            let start = pos(b.off, from, to).min(to.saturating_sub(1));
            let end = pos(b.off + b.len, from, to).clamp(start + 1, to.max(start + 1));
            b.off = start;
            b.len = end - start;
        }
    }
    let mut tables: BTreeMap<u32, BTreeMap<u32, Lens>> = BTreeMap::new();
    let mut ring = 0u32;
    for (old, new) in s.ops.iter().zip(out.ops.iter_mut()) {
        match old {
            Op::Ring { ring: r } => {
                ring = *r;
                continue;
            }
            Op::Clone { src, .. } => {
                // The source's buffers, where the clone puts them: near
                // enough for moving offsets, which is all this is for.
                let copy = tables.get(src).cloned().unwrap_or_default();
                tables.insert(ring, copy);
                continue;
            }
            _ => {}
        }
        let t = tables.entry(ring).or_default();
        match (old, new) {
            (Op::KbufRegister { index, bvecs, .. }, Op::KbufRegister { bvecs: nb, .. }) => {
                let lens = |v: &[KbufBvec]| v.iter().map(|b| b.len).collect();
                t.insert(*index, (lens(bvecs), lens(nb)));
            }
            (Op::KbufUnregister { index }, _) => {
                t.remove(index);
            }
            (Op::Register { .. } | Op::RegisterSparse { .. } | Op::Unregister, _) => t.clear(),
            (Op::Update { offset, iovecs }, _) => {
                for k in 0..iovecs.len() as u32 {
                    t.remove(&(offset + k));
                }
            }
            (Op::KbufImport { slot, .. }, Op::KbufImport { off, len, .. }) => {
                if let Some(l) = t.get(slot) {
                    (*off, *len) = move_range(*off, *len, l, pos);
                }
            }
            (Op::KbufReadv { slot, .. }, Op::KbufReadv { iovecs, .. }) => {
                if let Some(l) = t.get(slot) {
                    for sp in iovecs {
                        (sp.off, sp.len) = move_range(sp.off, sp.len, l, pos);
                    }
                }
            }
            _ => {}
        }
    }
}

/// `[off, off + len)` of a buffer of bvecs `lens.0` moved to one of bvecs
/// `lens.1`.
fn move_range(off: u64, len: u64, lens: &Lens, pos: &dyn Fn(u64, u64, u64) -> u64) -> (u64, u64) {
    let start = move_point(off, true, lens, pos);
    let end = move_point(off + len, false, lens, pos);
    (start, end.saturating_sub(start))
}

/// A byte offset into the buffer moved with its bvec: a start at a bvec
/// boundary belongs to the bvec after it, an end to the one before.
fn move_point(
    x: u64,
    is_start: bool,
    (from, to): &Lens,
    pos: &dyn Fn(u64, u64, u64) -> u64,
) -> u64 {
    let (mut a, mut b) = (0u64, 0u64);
    for (k, (&lf, &lt)) in from.iter().zip(to).enumerate() {
        let last = k + 1 == from.len();
        let inside = if is_start { x < a + lf } else { x <= a + lf };
        if inside || (last && x <= a + lf) {
            return b + pos(x - a, lf, lt);
        }
        a += lf;
        b += lt;
    }
    // Past the buffer: the same distance past its new end.
    b + (x - a)
}

/// Every bvec of the scenario's `kbuf_register` operations.
pub(super) fn bvecs_mut(s: &mut Scenario) -> impl Iterator<Item = &mut KbufBvec> {
    s.ops.iter_mut().flat_map(|op| match op {
        Op::KbufRegister { bvecs, .. } => bvecs.iter_mut(),
        _ => [].iter_mut(),
    })
}
