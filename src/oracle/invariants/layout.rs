//! `layout`: every bvec but the first starts at offset 0 of a folio of
//! `1 << folio_shift` bytes, and every bvec but the last is full, because
//! `io_import_fixed` and `io_vec_fill_bvec` index bvecs by
//! `offset >> folio_shift`. Not for a kernel buffer, whose bvecs are its
//! request's.

use super::{buffers, bvec_ranges, holds_pins, Fail, Fails, OpContext};
use crate::model::World;
use crate::variants::Variant;

/// In a reviewer's words: `regbuf-fuzz list`, `explain` and the mail quote it.
pub(super) const RULE: &str = "every bvec but the first starts at offset 0 of a folio of 1 << folio_shift bytes, and every bvec but \
               the last is full: io_import_fixed and io_vec_fill_bvec index bvecs by offset >> folio_shift (a user \
               buffer's; a kernel buffer's are its request's)";

// Every bvec, its start and its end alike: stopping at the first one off
// would hide the others.
pub(super) fn check(_v: &dyn Variant, w: &mut World, _c: &OpContext, out: &mut Fails) {
    let shift = w.geo.page_shift;
    for (slot, imu) in buffers(w) {
        // A kernel buffer's bvecs are its request's, of any length:
        // io_import_kbuf() walks them instead of indexing.
        if !holds_pins(w, imu) {
            continue;
        }
        let fs = w.imu(imu).folio_shift;
        let block = 1u64 << fs;
        let r = bvec_ranges(w, imu);
        let n = r.len();
        for (i, &(addr, len)) in r.iter().enumerate() {
            // The block this bvec must sit in: its folio when folio_shift is
            // larger than a page, its page otherwise.
            let block_start = if fs > shift {
                match w.phys.page_folio(addr >> shift) {
                    Some(f) if w.phys.folio_size(&w.geo, f) == block => {
                        w.phys.folio(f).head << shift
                    }
                    _ => {
                        fail!(
                            out,
                            "not-in-folio",
                            "slot {slot}: bvec {i} is not inside a folio of 1 << {fs} bytes"
                        );
                        // Without its block, its offset and fill mean nothing.
                        continue;
                    }
                }
            } else {
                addr & !(block - 1)
            };
            if i > 0 && addr != block_start {
                fail!(
                    out,
                    "offset",
                    "slot {slot}: bvec {i} starts {:#x} bytes into its folio",
                    addr - block_start
                );
            }
            if i + 1 < n && addr + len != block_start + block {
                fail!(
                    out,
                    "not-full",
                    "slot {slot}: bvec {i} of {n} is not full ({len:#x} bytes, folio_shift {fs})"
                );
            }
        }
    }
}
