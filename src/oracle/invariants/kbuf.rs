//! `kbuf`: a kernel-registered buffer is its request's (`IO_REGBUF_F_KBUF`,
//! `imu->dir = 1 << rq_data_dir()`), a user buffer is not flagged as one;
//! and the driver's release callback runs exactly once for every
//! registration that succeeded, when the buffer's last reference goes (the
//! table's, a clone's in another ring, a request's in flight), and never
//! for one that failed. A release while a reference is left hands the
//! request back to the driver while I/O can still reach its pages; none at
//! all leaves the block request waiting for ever.

use super::{live_buffers, Fail, Fails, OpContext, Slot};
use crate::model::{World, IO_REGBUF_F_KBUF};
use crate::variants::Variant;
use std::collections::BTreeMap;

/// In a reviewer's words: `regbuf-fuzz list`, `explain` and the mail quote it.
pub(super) const RULE: &str = "a kernel buffer (io_buffer_register_bvec) is its request's: IO_REGBUF_F_KBUF set and imu->dir = \
               1 << rq_data_dir(rq), and a user buffer has no IO_REGBUF_F_KBUF; the driver's release callback runs \
               exactly once for every registration that returned 0, when the buffer's last reference (the table's, a \
               clone's, a request's in flight) goes, and never for one that failed";

// Every buffer and every request is looked at: a wrong flag and a release
// at the wrong time are two bugs.
pub(super) fn check(_v: &dyn Variant, w: &mut World, _c: &OpContext, out: &mut Fails) {
    // The live buffers over each request, by the slot that holds them.
    let mut held: BTreeMap<u32, Slot> = BTreeMap::new();
    for (slot, imu) in live_buffers(w) {
        let m = w.imu(imu);
        let flagged = m.flags & IO_REGBUF_F_KBUF != 0;
        let Some(rq) = m.kbuf_rq() else {
            if flagged {
                fail!(
                    out,
                    "flags",
                    "slot {slot}: a user buffer has IO_REGBUF_F_KBUF set: its imports skip the bvec arithmetic a user buffer needs"
                );
            }
            continue;
        };
        held.entry(rq).or_insert(slot);
        if !flagged {
            fail!(
                out,
                "flags",
                "slot {slot}: the kernel buffer of request {rq} has no IO_REGBUF_F_KBUF: it is imported as a user buffer"
            );
        }
        let Some(r) = w.kbuf_rqs.get(rq as usize) else {
            fail!(
                out,
                "release",
                "slot {slot}: the buffer's release names request {rq}, which the driver never registered"
            );
            continue;
        };
        let want = 1u8 << r.data_dir;
        if m.dir != want {
            fail!(
                out,
                "dir",
                "slot {slot}: imu->dir is {:#x} for a {} request; 1 << rq_data_dir(rq) is {want:#x}",
                m.dir,
                if r.data_dir == 0 { "READ" } else { "WRITE" }
            );
        }
    }
    for (rq, r) in w.kbuf_rqs.iter().enumerate() {
        let rq = rq as u32;
        let slot = held.get(&rq);
        match (r.registered, r.released, slot) {
            (false, 0, None) | (true, 0, Some(_)) | (true, 1, None) => {}
            (false, 0, Some(slot)) => fail!(
                out,
                "failed-but-installed",
                "request {rq}'s registration failed, yet slot {slot} holds a buffer over it"
            ),
            (false, n, _) => fail!(
                out,
                "release-unregistered",
                "request {rq}'s registration failed, yet its release callback ran {n} time(s)"
            ),
            (true, 0, None) => fail!(
                out,
                "not-released",
                "request {rq} is registered and no buffer holds it any more, but its release callback never ran: the block request never completes"
            ),
            (true, n, Some(slot)) => fail!(
                out,
                "early-release",
                "request {rq}'s release callback ran {n} time(s) while slot {slot} still holds its buffer: the driver completes the request while I/O can reach its pages"
            ),
            (true, n, None) => fail!(
                out,
                "double-release",
                "request {rq}'s release callback ran {n} times"
            ),
        }
    }
}
