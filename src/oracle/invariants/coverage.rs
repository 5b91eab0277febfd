//! `coverage`: the bvecs of a registered buffer name exactly the physical
//! bytes behind `[ubuf, ubuf + len)`, in order; their lengths sum to
//! `imu->len`; every byte lies in a folio the buffer holds a pin on
//! (`io_release_ubuf` unpins `page_folio(bv_page)`). A kernel buffer's
//! bvecs name its request's bytes, which it does not pin.

use super::spans::{bvec_spans, merged_bytes, total};
use super::{buffers, fmt_ranges, kbuf_request, Fail, Fails, OpContext};
use crate::mm::FolioId;
use crate::model::World;
use crate::oracle::truth::{kbuf_range, user_range};
use crate::variants::Variant;
use std::collections::BTreeSet;

/// In a reviewer's words: `regbuf-fuzz list`, `explain` and the mail quote it.
pub(super) const RULE: &str = "the bvecs of a registered buffer name exactly the physical bytes behind [ubuf, ubuf + len), in order; \
               the bvec lengths sum to imu->len; every byte lies in a folio the buffer holds a pin on \
               (io_sqe_buffer_register's bvec loop; io_release_ubuf unpins page_folio(bv_page)); a kernel buffer's \
               bvecs name exactly its request's bytes (io_buffer_register_bvec), which the request holds";

// A slot's length, pins and bytes are each looked at whatever the others
// show: a short buffer can also reach memory it does not pin.
pub(super) fn check(_v: &dyn Variant, w: &mut World, _c: &OpContext, out: &mut Fails) {
    for (slot, imu) in buffers(w) {
        let m = w.imu(imu);
        let (ubuf, len) = (m.ubuf, m.len);
        let spans = bvec_spans(w, imu);
        let (sum, nr) = total(&spans);
        if sum != len {
            fail!(
                out,
                "length",
                "slot {slot}: bvec lengths sum to {sum:#x}, imu->len is {len:#x} ({nr} bvecs)"
            );
        }
        let got = merged_bytes(&spans, w.geo.page_size());
        // A kernel buffer names its request's bytes and pins nothing: the
        // request holds its pages.
        if let Some(rq) = kbuf_request(w, imu) {
            let want = kbuf_range(w, rq, 0, rq.bytes());
            if got != want {
                fail!(
                    out,
                    "wrong-bytes",
                    "slot {slot}: bvecs name {} but the request's bvecs are {}",
                    fmt_ranges(&got),
                    fmt_ranges(&want)
                );
            }
            continue;
        }
        let pinned: BTreeSet<FolioId> = spans
            .iter()
            .filter(|s| s.written)
            .flat_map(|s| s.folio_pieces(w).filter_map(|p| p.2).collect::<Vec<_>>())
            .collect();
        if let Some(bad) = got
            .iter()
            .find_map(|&(addr, l)| outside_folios(w, addr, l, &pinned))
        {
            fail!(
                out,
                "outside-pins",
                "slot {slot}: byte {bad:#x} (bvecs {}) is not in a folio this buffer pins: I/O would reach memory it does not own",
                fmt_ranges(&got)
            );
        }
        let want = user_range(w, ubuf, len);
        if got != want {
            fail!(
                out,
                "wrong-bytes",
                "slot {slot}: bvecs name {} but the user range is backed by {}",
                fmt_ranges(&got),
                fmt_ranges(&want)
            );
        }
    }
}

/// The first byte of `[addr, addr+len)` outside every folio in `pinned`.
fn outside_folios(w: &World, addr: u64, len: u64, pinned: &BTreeSet<FolioId>) -> Option<u64> {
    let shift = w.geo.page_shift;
    let mut at = addr;
    while at < addr + len {
        let Some(f) = w
            .phys
            .page_folio(at >> shift)
            .filter(|f| pinned.contains(f))
        else {
            return Some(at);
        };
        let fo = w.phys.folio(f);
        at = (fo.head + (1 << fo.order)) << shift;
    }
    None
}
