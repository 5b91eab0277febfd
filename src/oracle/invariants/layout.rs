//! `layout`: every bvec but the first starts at offset 0 of a folio of
//! `1 << folio_shift` bytes, and every bvec but the last is full, because
//! `io_import_fixed` and `io_vec_fill_bvec` index bvecs by
//! `offset >> folio_shift`. Not for a kernel buffer, whose bvecs are its
//! request's.

use super::spans::{bvec_spans, stretches};
use super::{buffers, holds_pins, Fail, Fails, OpContext, Slot};
use crate::model::World;
use crate::variants::Variant;

/// In a reviewer's words: `regbuf-fuzz list`, `explain` and the mail quote it.
pub(super) const RULE: &str = "every bvec but the first starts at offset 0 of a folio of 1 << folio_shift bytes, and every bvec but \
               the last is full: io_import_fixed and io_vec_fill_bvec index bvecs by offset >> folio_shift (a user \
               buffer's; a kernel buffer's are its request's)";

// Every bvec, its start and its end alike: stopping at the first one off
// would hide the others. A span is judged a stretch at a time: between the
// entries where the answer can change (the first and last bvec, a folio
// edge, the one entry that starts or ends on its block's edge), every entry
// is judged as the first of its stretch is.
pub(super) fn check(_v: &dyn Variant, w: &mut World, _c: &OpContext, out: &mut Fails) {
    let (shift, ps) = (w.geo.page_shift, w.geo.page_size());
    for (slot, imu) in buffers(w) {
        // A kernel buffer's bvecs are its request's, of any length:
        // io_import_kbuf() walks them instead of indexing.
        if !holds_pins(w, imu) {
            continue;
        }
        let fs = w.imu(imu).folio_shift;
        let block = 1u64 << fs;
        let spans = bvec_spans(w, imu);
        let n: u64 = spans.iter().map(|s| s.n).sum();
        for s in &spans {
            let step = s.page_step * ps;
            let pieces: Vec<(u64, u64)> = if fs > shift && s.page_step > 0 {
                crate::model::runs::folio_pieces(&w.phys, s.addr >> shift, s.n)
                    .map(|(o, _, k, _)| (o, o + k))
                    .collect()
            } else {
                vec![(0, s.n)]
            };
            for (from, to) in pieces {
                let mut cuts = vec![0u64.wrapping_sub(s.first), n.wrapping_sub(1 + s.first)];
                if step > 0 {
                    let start = block_start(w, fs, s.addr + from * step);
                    for edge in start
                        .into_iter()
                        .flat_map(|b| [b, (b + block).wrapping_sub(s.len)])
                    {
                        if let Some(d) = edge.checked_sub(s.addr).filter(|d| d % step == 0) {
                            cuts.push(d / step);
                        }
                    }
                }
                for (a, b) in stretches(from, to, &cuts) {
                    let (addr, len) = s.range(a, ps);
                    judge(w, slot, fs, s.first + a, n, addr, len, b - a, out);
                }
            }
        }
    }
}

/// Where the block of a bvec at `addr` starts: its folio when
/// `folio_shift` is larger than a page (`None` if that folio is not of
/// `1 << folio_shift` bytes), its page otherwise.
fn block_start(w: &World, fs: u32, addr: u64) -> Option<u64> {
    let (shift, block) = (w.geo.page_shift, 1u64 << fs);
    if fs <= shift {
        return Some(addr & !(block - 1));
    }
    match w.phys.page_folio(addr >> shift) {
        Some(f) if w.phys.folio_size(&w.geo, f) == block => Some(w.phys.folio(f).head << shift),
        _ => None,
    }
}

/// Bvec `i` of `n`, and `times - 1` after it that are judged alike.
#[allow(clippy::too_many_arguments)]
fn judge(
    w: &World,
    slot: Slot,
    fs: u32,
    i: u64,
    n: u64,
    addr: u64,
    len: u64,
    times: u64,
    out: &mut Fails,
) {
    let block = 1u64 << fs;
    let Some(block_start) = block_start(w, fs, addr) else {
        out.push(
            Fail::new(
                "not-in-folio",
                format!("slot {slot}: bvec {i} is not inside a folio of 1 << {fs} bytes"),
            )
            .times(times),
        );
        // Without its block, its offset and fill mean nothing.
        return;
    };
    if i > 0 && addr != block_start {
        out.push(
            Fail::new(
                "offset",
                format!(
                    "slot {slot}: bvec {i} starts {:#x} bytes into its folio",
                    addr - block_start
                ),
            )
            .times(times),
        );
    }
    if i + 1 < n && addr + len != block_start + block {
        out.push(
            Fail::new(
                "not-full",
                format!(
                    "slot {slot}: bvec {i} of {n} is not full ({len:#x} bytes, folio_shift {fs})"
                ),
            )
            .times(times),
        );
    }
}
