//! Ground truth: the physical bytes behind a user range, straight from the
//! address space, with no kernel code in between.

use crate::model::iov_iter::{push_merged, PhysRange};
use crate::model::World;

/// The tag of an unmapped stretch in a truth list: the high bit, so it can
/// never equal a real physical address.
pub const UNMAPPED: u64 = 1 << 63;

/// The physical ranges behind `[addr, addr + len)`, merged where contiguous.
/// Unmapped stretches appear as `(UNMAPPED | vaddr, len)`.
pub fn user_range(w: &World, addr: u64, len: u64) -> Vec<PhysRange> {
    let mut out = Vec::new();
    if len == 0 {
        return out;
    }
    let shift = w.geo.page_shift;
    let end = addr + len;
    let first_vpn = addr >> shift;
    let last_vpn = (end - 1) >> shift;
    for (vpn, backing, n) in w.aspace.runs(first_vpn, last_vpn - first_vpn + 1) {
        let run_start = (vpn << shift).max(addr);
        let run_end = ((vpn + n) << shift).min(end);
        let bytes = run_end - run_start;
        let phys = match backing {
            Some((pfn, _, _)) => (pfn << shift) + (run_start - (vpn << shift)),
            None => UNMAPPED | run_start,
        };
        push_merged(&mut out, (phys, bytes));
    }
    out
}

/// Offsets (from the buffer start) where the backing memory jumps: every
/// place where the next byte is not physically adjacent to the previous one.
pub fn discontinuities(ranges: &[PhysRange]) -> Vec<u64> {
    let mut at = 0;
    let mut out = Vec::with_capacity(ranges.len());
    for r in ranges {
        at += r.1;
        out.push(at);
    }
    out.pop();
    out
}

/// The physical ranges of bytes `[off, off + len)` of a block request's
/// bvecs, merged where contiguous: what a kernel buffer over the request
/// names there.
pub fn kbuf_range(
    w: &World,
    rq: &crate::model::kbuf::BlkRequest,
    off: u64,
    len: u64,
) -> Vec<PhysRange> {
    let shift = w.geo.page_shift;
    let (end, mut at) = (off.saturating_add(len), 0u64);
    let mut out = Vec::new();
    for b in &rq.bvecs {
        let (s, e) = (at.max(off), (at + b.bv_len).min(end));
        if s < e {
            let phys = (b.bv_page << shift) + b.bv_offset + (s - at);
            push_merged(&mut out, (phys, e - s));
        }
        at += b.bv_len;
    }
    out
}
