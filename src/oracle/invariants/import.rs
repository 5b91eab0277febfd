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
        Event::Width { .. } => "width",
    }
}

/// One probe: `io_import_fixed()` of `len` bytes at `addr`, then the walk
/// of what it gives; a failure and every out-of-bounds event on the way are
/// failures named by `what`. `None` when the import failed.
#[allow(clippy::too_many_arguments)]
pub(super) fn import_probe(
    v: &dyn Variant,
    w: &mut World,
    ddir: u32,
    imu: AllocId,
    addr: u64,
    len: u64,
    what: &dyn Fn() -> String,
    out: &mut Fails,
) -> Option<(crate::model::iov_iter::IovIter, Vec<PhysRange>, u64)> {
    let mark = w.events.len();
    let res = match v.io_import_fixed(w, ddir, imu, addr, len) {
        Ok(iter) => {
            let (got, used) = v.iterate_bvec(w, &iter);
            Some((iter, got, used))
        }
        Err(e) => {
            fail!(out, "failed", "{} failed with {e}", what());
            None
        }
    };
    for e in w.events.split_off(mark) {
        fail!(out, event_aspect(&e), "{}: {e:?}", what());
    }
    res
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
    let mut extra = extra.to_vec();
    extra.extend(discontinuities(truth));
    extra.push(ps - w.imu(imu).ubuf % ps);
    let edges = match Edges::of(w, imu) {
        Some(bvec_ends) => bvec_ends.sample(extra, CAP),
        None => {
            let mut edges = Vec::new();
            let mut at = 0u64;
            for b in w.imu(imu).bvecs().flatten() {
                at = at.wrapping_add(b.bv_len);
                edges.push(at);
            }
            edges.extend(extra);
            edges.sort_unstable();
            edges.dedup();
            sample(&edges, CAP)
        }
    };
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

/// `edges` if they are at most `cap`, else its first and last four and
/// every `len / cap`-th.
fn sample(edges: &[u64], cap: usize) -> Vec<u64> {
    if edges.len() <= cap {
        return edges.to_vec();
    }
    let step = edges.len().div_ceil(cap);
    let n = edges.len();
    edges[..4]
        .iter()
        .chain(edges.iter().step_by(step))
        .chain(&edges[n - 4..])
        .copied()
        .collect()
}

/// Where each bvec ends, from the buffer start, as progressions
/// `(first, step, n)` over the table's runs: strictly increasing, so the
/// sorted, deduplicated edge list can be sampled by rank without being
/// built. `None` when the ends are few (the list is built) or wrap.
struct Edges {
    progs: Vec<(u64, u64, u64)>,
    /// Entries before each progression.
    before: Vec<u64>,
}

impl Edges {
    fn of(w: &World, imu: AllocId) -> Option<Edges> {
        let runs = w.imu(imu).bvec_runs();
        if runs
            .iter()
            .filter(|r| r.2.is_some())
            .map(|r| r.1)
            .sum::<u64>()
            <= 1 << 16
        {
            return None;
        }
        Edges::from_runs(runs.iter().filter_map(|r| r.2).map(|r| (r.bv.bv_len, r.n)))
    }

    /// From `(bv_len, n)` of each run of written entries, in order.
    fn from_runs(runs: impl Iterator<Item = (u64, u64)>) -> Option<Edges> {
        let (mut progs, mut before, mut at, mut count) = (Vec::new(), Vec::new(), 0u64, 0u64);
        for (l, n) in runs {
            // An empty entry ends where the last one did: one new edge at
            // most, and none after the first.
            let (first, step, n) = if l == 0 {
                (at, 1, 1)
            } else {
                (at.checked_add(l)?, l, n)
            };
            if l == 0
                && progs
                    .last()
                    .is_some_and(|&(a, d, k): &(u64, u64, u64)| a + d * (k - 1) == at)
            {
                continue;
            }
            at = first.checked_add(l.checked_mul(n - 1)?)?;
            before.push(count);
            progs.push((first, step, n));
            count += n;
        }
        Some(Edges { progs, before })
    }

    fn len(&self) -> u64 {
        self.progs
            .last()
            .map_or(0, |&(_, _, n)| self.before[self.before.len() - 1] + n)
    }

    /// How many ends are below `x`.
    fn below(&self, x: u64) -> u64 {
        let i = self.progs.partition_point(|&(a, _, _)| a < x);
        let Some(i) = i.checked_sub(1) else { return 0 };
        let (a, d, n) = self.progs[i];
        self.before[i] + ((x - a).div_ceil(d)).min(n)
    }

    fn contains(&self, x: u64) -> bool {
        let i = self.progs.partition_point(|&(a, _, _)| a <= x);
        i.checked_sub(1).is_some_and(|i| {
            let (a, d, n) = self.progs[i];
            (x - a) % d == 0 && (x - a) / d < n
        })
    }

    /// The `r`-th end.
    fn select(&self, r: u64) -> u64 {
        let i = self.before.partition_point(|&b| b <= r) - 1;
        let (a, d, _) = self.progs[i];
        a + d * (r - self.before[i])
    }

    /// [`sample`] of the sorted union of these ends and `extra`.
    fn sample(&self, mut extra: Vec<u64>, cap: usize) -> Vec<u64> {
        extra.sort_unstable();
        extra.dedup();
        extra.retain(|&x| !self.contains(x));
        let n = self.len() + extra.len() as u64;
        // The `r`-th of the union: an extra point if as many ends and
        // extras lie below it, else an end.
        let at = |r: u64| -> u64 {
            let rank = |j: usize| j as u64 + self.below(extra[j]);
            let (mut j, mut hi) = (0, extra.len());
            while j < hi {
                let mid = (j + hi) / 2;
                if rank(mid) < r {
                    j = mid + 1;
                } else {
                    hi = mid;
                }
            }
            if j < extra.len() && rank(j) == r {
                extra[j]
            } else {
                self.select(r - j as u64)
            }
        };
        if n <= cap as u64 {
            return (0..n).map(at).collect();
        }
        let step = n.div_ceil(cap as u64);
        (0..4)
            .chain((0..n).step_by(step as usize))
            .chain(n - 4..n)
            .map(at)
            .collect()
    }
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
    for e in c.events.iter().filter(|e| {
        !matches!(
            e,
            Event::Warn { .. } | Event::Oops { .. } | Event::Width { .. }
        )
    }) {
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
            let what = || format!("slot {slot}: io_import_fixed(offset {off:#x}, len {l:#x})");
            let Some((iter, got, used)) = import_probe(v, w, ddir, imu, ubuf + off, l, &what, out)
            else {
                continue;
            };
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

#[cfg(test)]
mod tests {
    use super::{sample, Edges};
    use rand::{Rng, SeedableRng};

    // The sampled union by rank is the sampled sorted list, built.
    #[test]
    fn edges_sampled_by_rank_are_the_built_list_sampled() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(12);
        for _ in 0..2000 {
            let runs: Vec<(u64, u64)> = (0..rng.gen_range(1..8))
                .map(|_| {
                    (
                        rng.gen_range(0..3u64) * 4096 * rng.gen_range(0..2u64),
                        rng.gen_range(1..40),
                    )
                })
                .collect();
            let extra: Vec<u64> = (0..rng.gen_range(0..12))
                .map(|_| rng.gen_range(0..200_000))
                .collect();
            let mut built = Vec::new();
            let mut at = 0u64;
            for &(l, n) in &runs {
                for _ in 0..n {
                    at += l;
                    built.push(at);
                }
            }
            built.extend(&extra);
            built.sort_unstable();
            built.dedup();
            let e = Edges::from_runs(runs.iter().copied()).unwrap();
            for cap in [4, 8, 24] {
                assert_eq!(
                    e.sample(extra.clone(), cap),
                    sample(&built, cap),
                    "{runs:?} {extra:?} cap {cap}"
                );
            }
        }
    }
}
