//! The `import` invariant on a kernel buffer: `io_import_fixed()` (through
//! `io_import_kbuf()`) and `io_vec_fill_kern_bvec()` give, for any range
//! inside the buffer, exactly its request's bytes there; an import's
//! `nr_segs` covers the bvecs its bytes use (it is what `iov_iter_advance()`
//! leaves of `nr_bvecs`, not an exact count); nothing reads past
//! `nr_bvecs` or writes past what `io_kern_bvec_size()` sized. Probes go
//! in the request's own direction: the other one is `-EFAULT` by design.

use super::import::{event_aspect, fmt_iovs, import_probe, probe_points, probes};
use super::{fmt_ranges, kbuf_request, Fail, Fails, OpContext, Slot};
use crate::mm::AllocId;
use crate::model::iov_iter::push_merged;
use crate::model::kbuf::BlkRequest;
use crate::model::{Iovec, World};
use crate::oracle::truth::kbuf_range;
use crate::scenario::ConcreteOp;
use crate::variants::Variant;

/// The operation's own import from a kernel buffer, against the request
/// of the buffer in its slot (of the ring it ran on).
pub(super) fn own_op(w: &World, c: &OpContext, out: &mut Fails) {
    let (Some(op), Some(got)) = (c.op, c.import) else {
        return;
    };
    let (slot, iovecs) = match op {
        ConcreteOp::KbufImport { slot, off, len, .. } => (
            *slot,
            vec![Iovec {
                iov_base: *off,
                iov_len: *len,
            }],
        ),
        ConcreteOp::KbufReadv { slot, iovecs, .. } => (*slot, iovecs.clone()),
        _ => return,
    };
    let ctx = w.rings()[w.op_ring as usize].1;
    let Some(imu) = ctx
        .buf_table
        .nodes
        .get(slot as usize)
        .copied()
        .flatten()
        .and_then(|n| w.nodes.get(&n)?.buf)
    else {
        return;
    };
    // A user buffer in the slot: an offset is no address of it, and the
    // import has already failed.
    let Some(rq) = kbuf_request(w, imu) else {
        return;
    };
    let mut want = Vec::new();
    for iov in &iovecs {
        for r in kbuf_range(w, rq, iov.iov_base, iov.iov_len) {
            push_merged(&mut want, r);
        }
    }
    if got != want.as_slice() {
        fail!(
            out,
            "wrong-bytes",
            "{} of the kernel buffer in slot {slot} ({}) touched {} instead of its request's {}",
            crate::run::op_kind(op),
            fmt_iovs(&iovecs, 0),
            fmt_ranges(got),
            fmt_ranges(&want)
        );
    }
}

/// Probes of the kernel buffer `imu` in `slot`, over request `rq`: at every
/// bvec boundary of the buffer and of the request, and every physical
/// discontinuity, as a user buffer is probed.
pub(super) fn probe(
    v: &dyn Variant,
    w: &mut World,
    slot: Slot,
    imu: AllocId,
    rq: &BlkRequest,
    out: &mut Fails,
) {
    let len = w.imu(imu).len;
    let truth = kbuf_range(w, rq, 0, rq.bytes());
    let mut edges = Vec::with_capacity(rq.bvecs.len());
    let mut at = 0;
    for b in &rq.bvecs {
        at += b.bv_len;
        edges.push(at);
    }
    let pts = probe_points(w, imu, &truth, &edges);
    let max = w.geo.max_rw_count();
    let probes: Vec<(u64, u64)> = probes(&pts, len, w.geo.page_size())
        .into_iter()
        .map(|(o, l)| (o, l.min(max)))
        .collect();
    // rq_data_dir() is READ (0) or WRITE (1), as ITER_DEST and ITER_SOURCE.
    let ddir = rq.data_dir;
    let ubuf = w.imu(imu).ubuf;
    for &(off, l) in &probes {
        let what = || {
            format!("slot {slot}: io_import_fixed(offset {off:#x}, len {l:#x}) of a kernel buffer")
        };
        let Some((iter, got, used)) = import_probe(v, w, ddir, imu, ubuf + off, l, &what, out)
        else {
            continue;
        };
        let want = kbuf_range(w, rq, off, l);
        if got != want {
            fail!(
                out,
                "wrong-bytes",
                "{} touches {} instead of the request's {}",
                what(),
                fmt_ranges(&got),
                fmt_ranges(&want)
            );
        }
        if l > 0 && iter.nr_segs < used {
            fail!(
                out,
                "nr-segs",
                "{} set nr_segs {} but uses {used} bvecs",
                what(),
                iter.nr_segs
            );
        }
    }
    // Vectored, as for a user buffer: neighbouring probes, two iovecs a call.
    for pair in probes
        .chunks(2)
        .take(12)
        .filter(|p| p.iter().all(|&(_, l)| l > 0) && p.iter().map(|&(_, l)| l).sum::<u64>() <= max)
    {
        let iovs: Vec<Iovec> = pair
            .iter()
            .map(|&(o, l)| Iovec {
                iov_base: ubuf + o,
                iov_len: l,
            })
            .collect();
        let mark = w.events.len();
        // The version's own count: a patch is held to the room it allocates.
        let got = match v.io_kern_bvec_size(w, &iovs, imu) {
            Err(e) => {
                fail!(
                    out,
                    "failed",
                    "slot {slot}: io_kern_bvec_size({}) failed with {e}",
                    fmt_iovs(&iovs, ubuf)
                );
                None
            }
            Ok(cap) => match v.io_vec_fill_kern_bvec(w, ddir, imu, &iovs, cap) {
                Ok(iter) => Some(v.iterate_bvec(w, &iter).0),
                Err(e) => {
                    fail!(
                        out,
                        "failed",
                        "slot {slot}: io_vec_fill_kern_bvec({}) failed with {e}",
                        fmt_iovs(&iovs, ubuf)
                    );
                    None
                }
            },
        };
        for e in w.events.split_off(mark) {
            fail!(
                out,
                event_aspect(&e),
                "slot {slot}: io_vec_fill_kern_bvec({}): {e:?}",
                fmt_iovs(&iovs, ubuf)
            );
        }
        let Some(got) = got else { continue };
        let mut want = Vec::new();
        for iov in &iovs {
            for r in kbuf_range(w, rq, iov.iov_base - ubuf, iov.iov_len) {
                push_merged(&mut want, r);
            }
        }
        if got != want {
            fail!(
                out,
                "wrong-bytes",
                "slot {slot}: io_vec_fill_kern_bvec({}) touches {} instead of the request's {}",
                fmt_iovs(&iovs, ubuf),
                fmt_ranges(&got),
                fmt_ranges(&want)
            );
        }
    }
}
