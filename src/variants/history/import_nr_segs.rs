//! `pre-a23800f08a60`: 7.1-rc1 with the bug a23800f08a60 "io_uring/rsrc:
//! fix incorrect assignment of iter->nr_segs in io_import_fixed" (v6.10-rc5)
//! removed.
//!
//! When the offset fell inside the first bvec, `iter->nr_segs` was set to
//! `bvec->bv_len`, a byte count. 7.1 computes `nr_segs` exactly in one place
//! for both branches (80c7378f94cf), so the reverted line is put back as
//! the assignment for that branch.

use super::Variant;
use crate::mm::AllocId;
use crate::model::iov_iter::IovIter;
use crate::model::{Errno, World};

/// 7.1-rc1 with `nr_segs = bvec->bv_len` for an offset in the first bvec.
#[derive(Debug)]
pub struct PreA23800f08a60;

impl Variant for PreA23800f08a60 {
    fn name(&self) -> &'static str {
        "pre-a23800f08a60"
    }
    fn summary(&self) -> &'static str {
        "7.1-rc1 without a23800f08a60: io_import_fixed sets nr_segs to the first bvec's byte length"
    }
    fn io_import_fixed(
        &self,
        w: &mut World,
        ddir: u32,
        imu: AllocId,
        buf_addr: u64,
        len: u64,
    ) -> Result<IovIter, Errno> {
        io_import_fixed(self, w, ddir, imu, buf_addr, len)
    }
}

/// Model of `io_import_fixed()` — io_uring/rsrc.c, 7.1-rc1, with
/// a23800f08a60's hunk reverted into the branch that keeps the first bvec.
fn io_import_fixed(
    v: &dyn Variant,
    w: &mut World,
    ddir: u32,
    imu: AllocId,
    buf_addr: u64,
    len: u64,
) -> Result<IovIter, Errno> {
    let m = w.imu(imu);
    v.validate_fixed_range(w, buf_addr, len, m)?;
    if m.dir & (1 << ddir) == 0 {
        return Err(Errno::EFAULT);
    }
    if len == 0 {
        return Ok(IovIter::bvec(ddir, imu, 0, 0, 0));
    }

    let mut offset = buf_addr - m.ubuf;
    let folio_shift = m.folio_shift;
    // 7.1-rc1's kernel buffer branch, which the revert leaves as it is.
    if m.flags & crate::model::IO_REGBUF_F_KBUF != 0 {
        return v.io_import_kbuf(w, ddir, imu, len, offset);
    }
    let folio_mask = (1u64 << folio_shift) - 1;
    let mut bvec = 0u64;
    let first = w.read_bvec(imu, 0, "io_import_fixed");
    let nr_segs = if offset >= first.bv_len {
        offset -= first.bv_len;
        let seg_skip = 1 + (offset >> folio_shift);
        bvec += seg_skip;
        offset &= folio_mask;
        let bv = w.read_bvec(imu, bvec, "io_import_fixed");
        (offset + len + bv.bv_offset + folio_mask) >> folio_shift
    } else {
        first.bv_len
    };
    let mut iter = IovIter::bvec(ddir, imu, bvec, nr_segs, len);
    iter.iov_offset = offset;
    Ok(iter)
}
