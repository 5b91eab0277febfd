//! `pins`: each folio holds exactly as many FOLL_PIN pins as there are bvec
//! entries that will unpin it (one per entry, `io_release_ubuf`); no pin
//! count goes below where it started; a page handed to
//! `unpin_user_page(s)` is one a pin came through
//! (`sanity_check_pinned_pages`, CONFIG_DEBUG_VM). A kernel buffer takes
//! no pin.

use super::spans::bvec_spans;
use super::{holds_pins, live_buffers, Fail, Fails, OpContext};
use crate::mm::phys::MmViolation;
use crate::mm::FolioId;
use crate::model::World;
use crate::variants::Variant;
use std::collections::BTreeMap;

/// In a reviewer's words: `regbuf-fuzz list`, `explain` and the mail quote it.
pub(super) const RULE: &str = "each folio holds exactly as many FOLL_PIN pins as there are bvec entries that will unpin it \
               (one per entry of a user buffer, io_release_ubuf; a kernel buffer takes none); no pin count goes below where it started; a page handed to \
               unpin_user_page(s) is one a pin came through (sanity_check_pinned_pages, CONFIG_DEBUG_VM)";

// The mm's own complaints first, then the counts whatever they showed: an
// unpin below the start leaves a count wrong too, on the same folio or on
// the one the pin belonged to.
pub(super) fn check(_v: &dyn Variant, w: &mut World, c: &OpContext, out: &mut Fails) {
    for v in c.mm_violations {
        if let MmViolation::UnpinNotExclusive { pfn, head, caller } = v {
            fail!(
                out,
                "not-exclusive",
                "{caller} unpinned page {pfn:#x}, which no pin came through: neither it nor its head {head:#x} is PageAnonExclusive (kernel BUG at mm/gup.c, sanity_check_pinned_pages, CONFIG_DEBUG_VM)"
            );
        }
    }
    for v in c.mm_violations {
        if let MmViolation::PinUnderflow {
            head,
            pincount,
            refcount,
            ..
        } = v
        {
            fail!(
                out,
                "underflow",
                "folio at pfn {head:#x} unpinned below its start: pincount {pincount}, refcount {refcount}"
            );
        }
    }
    let mut expected: BTreeMap<FolioId, i64> = BTreeMap::new();
    // A kernel buffer's release unpins nothing: its pages are its request's.
    for (slot, imu) in live_buffers(w)
        .into_iter()
        .filter(|&(_, m)| holds_pins(w, m))
    {
        for s in bvec_spans(w, imu) {
            for (o, k, f) in s.folio_pieces(w) {
                match f {
                    Some(f) => *expected.entry(f).or_default() += k as i64,
                    None => out.push(
                        Fail::new(
                            "not-in-folio",
                            format!(
                                "slot {slot}: bvec page {:#x} is in no folio",
                                s.page + o * s.page_step
                            ),
                        )
                        .times(k),
                    ),
                }
            }
        }
    }
    for (i, f) in w.phys.folios().iter().enumerate() {
        let id = FolioId(i as u32);
        let (held, want) = (w.phys.pins(id), expected.get(&id).copied().unwrap_or(0));
        if held != want {
            fail!(
                out,
                "count",
                "folio {i} (pfn {:#x}, order {}) holds {held} pins but {want} bvec entries will unpin it",
                f.head,
                f.order
            );
        }
    }
}
