//! `import`: `io_import_fixed` and `io_vec_fill_bvec` give, for any range
//! inside the buffer, exactly the physical bytes of that user range, with
//! `nr_segs` equal to the bvecs used, without reading `bvec[i >= nr_bvecs]`
//! or writing past `io_estimate_bvec_size`. A kernel buffer's imports are
//! held to its request's bytes ([`super::import_kbuf`]).

use super::{buffers, fmt_ranges, kbuf_request, Fail, Fails, OpContext};
use crate::mm::AllocId;
use crate::model::iov_iter::{push_merged, PhysRange};
use crate::model::world::Event;
use crate::model::{Iovec, World, ITER_DEST, ITER_SOURCE};
use crate::oracle::truth::{discontinuities, user_range};
use crate::scenario::ConcreteOp;
use crate::variants::Variant;
use std::collections::BTreeSet;

/// In a reviewer's words: `regbuf-fuzz list`, `explain` and the mail quote it.
pub(super) const RULE: &str = "io_import_fixed and io_vec_fill_bvec give, for any range inside the buffer, exactly the physical \
               bytes of that user range, with nr_segs equal to the bvecs used, without reading bvec[i >= nr_bvecs] \
               or writing past io_estimate_bvec_size; for a kernel buffer io_import_kbuf and io_vec_fill_kern_bvec \
               give its request's bytes at those offsets, with nr_segs covering the bvecs used, within \
               io_kern_bvec_size";

/// The aspect of an out-of-bounds event.
pub(super) fn event_aspect(e: &Event) -> &'static str {
    match e {
        Event::BvecOutOfBounds { .. } => "bvec-out-of-bounds",
        Event::ResBvecOverflow { .. } => "res-bvec-overflow",
        Event::Warn { .. } => "warning",
        Event::Oops { .. } => "oops",
    }
}

/// Probe offsets in `[0, len]`: the ends, and every bvec boundary and
/// physical discontinuity with ±1 byte and ±1 page around it, capped so a
/// buffer of many small pages costs a bounded number of probes.
/// `extra` are more edges to probe around (a kernel buffer's request's
/// bvec boundaries).
pub(super) fn probe_points(
    w: &World,
    imu: AllocId,
    truth: &[PhysRange],
    extra: &[u64],
) -> Vec<u64> {
    const CAP: usize = 24;
    let len = w.imu(imu).len;
    let ps = w.geo.page_size();
    let mut edges = extra.to_vec();
    let mut at = 0;
    for b in w.imu(imu).bvecs().flatten() {
        at += b.bv_len;
        edges.push(at);
    }
    edges.extend(discontinuities(truth));
    edges.push(ps - w.imu(imu).ubuf % ps);
    edges.sort_unstable();
    edges.dedup();
    if edges.len() > CAP {
        let step = edges.len().div_ceil(CAP);
        let (head, tail) = (edges[..4].to_vec(), edges[edges.len() - 4..].to_vec());
        edges = head
            .into_iter()
            .chain(edges.iter().step_by(step).copied())
            .chain(tail)
            .collect();
    }
    let mut pts = BTreeSet::from([0, len]);
    for e in edges {
        for p in [e.wrapping_sub(ps), e.wrapping_sub(1), e, e + 1, e + ps] {
            if p <= len {
                pts.insert(p);
            }
        }
    }
    pts.into_iter().collect()
}

/// Import probes from probe points: a short probe starting at every point
/// (one page, and one that runs across the next point), which exercises
/// every start position the arithmetic distinguishes; and a few long ones
/// (the whole buffer, from the first points to the end, from the start to
/// the last points) for the end arithmetic across many bvecs.
pub(super) fn probes(pts: &[u64], len: u64, ps: u64) -> Vec<(u64, u64)> {
    let mut out = vec![(0, len)];
    for (i, &p) in pts.iter().enumerate() {
        if p >= len {
            continue;
        }
        out.push((p, (len - p).min(ps)));
        if let Some(&q) = pts.get(i + 2) {
            out.push((p, q.min(len) - p));
        }
    }
    for &p in pts.iter().take(3).filter(|&&p| p < len) {
        out.push((p, len - p));
    }
    for &p in pts.iter().rev().take(3).filter(|&&p| p > 0) {
        out.push((0, p));
    }
    out
}

pub(super) fn check(v: &dyn Variant, w: &mut World, c: &OpContext, out: &mut Fails) {
    // The operation's own import, if any, against the truth.
    if let (Some(ConcreteOp::Import { buf_addr, len, .. }), Some(got)) = (c.op, c.import) {
        let want = user_range(w, *buf_addr, *len);
        if got != want.as_slice() {
            fail!(
                out,
                "wrong-bytes",
                "import of {len:#x} bytes at {buf_addr:#x} touched {} instead of {}",
                fmt_ranges(got),
                fmt_ranges(&want)
            );
        }
    }
    if let (Some(ConcreteOp::Readv { iovecs, .. }), Some(got)) = (c.op, c.import) {
        let mut want = Vec::new();
        for iov in iovecs {
            for r in user_range(w, iov.iov_base, iov.iov_len) {
                push_merged(&mut want, r);
            }
        }
        if got != want.as_slice() {
            fail!(
                out,
                "wrong-bytes",
                "readv of {} iovecs touched {} instead of {}",
                iovecs.len(),
                fmt_ranges(got),
                fmt_ranges(&want)
            );
        }
    }
    super::import_kbuf::own_op(w, c, out);
    for e in c
        .events
        .iter()
        .filter(|e| !matches!(e, Event::Warn { .. } | Event::Oops { .. }))
    {
        out.push(Fail::new(
            event_aspect(e),
            format!("during the operation: {e:?}"),
        ));
    }
    for (slot, imu) in buffers(w) {
        if let Some(rq) = kbuf_request(w, imu) {
            let rq = rq.clone();
            super::import_kbuf::probe(v, w, slot, imu, &rq, out);
            continue;
        }
        let (ubuf, len) = (w.imu(imu).ubuf, w.imu(imu).len);
        let truth = user_range(w, ubuf, len);
        let pts = probe_points(w, imu, &truth, &[]);
        // One import moves at most MAX_RW_COUNT bytes (validate_fixed_range
        // refuses more, and io_vec_fill_bvec a longer total): a buffer over
        // 2 GiB, which 7.2 allows, is probed in pieces no longer than that.
        let max = w.geo.max_rw_count();
        let probes: Vec<(u64, u64)> = probes(&pts, len, w.geo.page_size())
            .into_iter()
            .map(|(o, l)| (o, l.min(max)))
            .collect();
        // Every probe runs, and each is judged on every count, whatever an
        // earlier one showed: an out-of-bounds read and a wrong nr_segs are
        // two bugs, and one probe can show both.
        for (k, &(off, l)) in probes.iter().enumerate() {
            let ddir = if k % 2 == 0 { ITER_DEST } else { ITER_SOURCE };
            let mark = w.events.len();
            let iter = v.io_import_fixed(w, ddir, imu, ubuf + off, l);
            let what = || format!("slot {slot}: io_import_fixed(offset {off:#x}, len {l:#x})");
            let (iter, got, used) = match iter {
                Ok(iter) => {
                    let (got, used) = v.iterate_bvec(w, &iter);
                    (Some(iter), got, used)
                }
                Err(e) => {
                    fail!(out, "failed", "{} failed with {e}", what());
                    (None, Vec::new(), 0)
                }
            };
            for e in w.events.split_off(mark) {
                fail!(out, event_aspect(&e), "{}: {e:?}", what());
            }
            let Some(iter) = iter else { continue };
            let want = user_range(w, ubuf + off, l);
            if got != want {
                fail!(
                    out,
                    "wrong-bytes",
                    "{} touches {} instead of {}",
                    what(),
                    fmt_ranges(&got),
                    fmt_ranges(&want)
                );
            }
            if l > 0 && iter.nr_segs != used {
                fail!(
                    out,
                    "nr-segs",
                    "{} set nr_segs {} but uses {used} bvecs",
                    what(),
                    iter.nr_segs
                );
            }
        }
        // Vectored: neighbouring probes together, two iovecs per call; not
        // for a tree older than READV_FIXED (6.15), which has no such path.
        let vectored = v.kernel_c().is_none_or(|c| c.has_vectored_import());
        for pair in probes.chunks(2).take(12).filter(|p| {
            vectored
                && p.iter().all(|&(_, l)| l > 0)
                && p.iter().map(|&(_, l)| l).sum::<u64>() <= max
        }) {
            let iovs: Vec<Iovec> = pair
                .iter()
                .map(|&(o, l)| Iovec {
                    iov_base: ubuf + o,
                    iov_len: l,
                })
                .collect();
            // The version's own estimate: a patch that changes it is held
            // to the room it allocates, not to upstream's.
            let shift = w.imu(imu).folio_shift;
            let cap = match v.io_estimate_bvec_size(&iovs, shift) {
                Ok(cap) => cap,
                Err(e) => {
                    fail!(out, "failed", "io_estimate_bvec_size: {e}");
                    continue;
                }
            };
            let mark = w.events.len();
            let iter = v.io_vec_fill_bvec(w, ITER_DEST, imu, &iovs, cap);
            let got = match iter {
                Ok(iter) => Some(v.iterate_bvec(w, &iter).0),
                Err(e) => {
                    fail!(
                        out,
                        "failed",
                        "slot {slot}: io_vec_fill_bvec({iovs:?}) failed with {e}"
                    );
                    None
                }
            };
            for e in w.events.split_off(mark) {
                fail!(
                    out,
                    event_aspect(&e),
                    "slot {slot}: io_vec_fill_bvec({}): {e:?}",
                    fmt_iovs(&iovs, ubuf)
                );
            }
            let Some(got) = got else { continue };
            let mut want = Vec::new();
            for iov in &iovs {
                for r in user_range(w, iov.iov_base, iov.iov_len) {
                    push_merged(&mut want, r);
                }
            }
            if got != want {
                fail!(
                    out,
                    "wrong-bytes",
                    "slot {slot}: io_vec_fill_bvec({}) touches {} instead of {}",
                    fmt_iovs(&iovs, ubuf),
                    fmt_ranges(&got),
                    fmt_ranges(&want)
                );
            }
        }
    }
}

pub(super) fn fmt_iovs(iovs: &[Iovec], ubuf: u64) -> String {
    let v: Vec<String> = iovs
        .iter()
        .map(|i| format!("offset {:#x} len {:#x}", i.iov_base - ubuf, i.iov_len))
        .collect();
    v.join("; ")
}
