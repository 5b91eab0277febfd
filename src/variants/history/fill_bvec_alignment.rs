//! `pre-e1d7727b73a1`: 7.1-rc1 without e1d7727b73a1 "io_uring: don't assume
//! uaddr alignment in io_vec_fill_bvec" (6.16-rc4).
//!
//! Vectored fixed I/O found its place in the buffer from the user address
//! rounded down to the folio size, the alignment assumption 3a3c6d61577d
//! removed from registration; with a THP or mTHP mapped at a shifted
//! address it reads and writes the wrong pages.

use super::Variant;
use crate::mm::AllocId;
use crate::model::iov_iter::IovIter;
use crate::model::types::BioVec;
use crate::model::{Errno, Event, Iovec, World};

/// 7.1-rc1 with the folio-address offset in `io_vec_fill_bvec()`.
#[derive(Debug)]
pub struct PreE1d7727b73a1;

impl Variant for PreE1d7727b73a1 {
    fn name(&self) -> &'static str {
        "pre-e1d7727b73a1"
    }
    fn summary(&self) -> &'static str {
        "7.1-rc1 without e1d7727b73a1: io_vec_fill_bvec offsets from ubuf rounded down to the folio size"
    }
    fn io_vec_fill_bvec(
        &self,
        w: &mut World,
        ddir: u32,
        imu: AllocId,
        iovec: &[Iovec],
        capacity: u64,
    ) -> Result<IovIter, Errno> {
        io_vec_fill_bvec(self, w, ddir, imu, iovec, capacity)
    }
}

/// Model of `io_vec_fill_bvec()` — io_uring/rsrc.c, 7.1-rc1, with
/// e1d7727b73a1's hunks reverted.
fn io_vec_fill_bvec(
    v: &dyn Variant,
    w: &mut World,
    ddir: u32,
    imu: AllocId,
    iovec: &[Iovec],
    capacity: u64,
) -> Result<IovIter, Errno> {
    let folio_shift = w.imu(imu).folio_shift;
    let folio_size = crate::model::cint::one_shl(
        w,
        "io_vec_fill_bvec: folio_size = 1 << imu->folio_shift",
        v.c_types().fill_bvec_one,
        folio_shift,
    );
    let folio_mask = folio_size - 1;
    let folio_addr = w.imu(imu).ubuf & !folio_mask;
    let mut res_bvec: Vec<BioVec> = Vec::new();
    let mut total_len = 0u64;

    for iov in iovec {
        let mut iov_len = iov.iov_len;
        let buf_addr = iov.iov_base;

        v.validate_fixed_range(w, buf_addr, iov_len, w.imu(imu))?;

        if iov_len == 0 {
            return Err(Errno::EFAULT);
        }
        total_len = total_len.checked_add(iov_len).ok_or(Errno::EOVERFLOW)?;

        // by using folio address it also accounts for bvec offset
        let mut offset = buf_addr - folio_addr;
        let mut src_bvec = offset >> folio_shift;
        offset &= folio_mask;

        while iov_len != 0 {
            let seg_size = iov_len.min(folio_size - offset);
            let src = w.read_bvec(imu, src_bvec, "io_vec_fill_bvec");
            res_bvec.push(BioVec {
                bv_page: src.bv_page,
                bv_len: seg_size,
                bv_offset: offset,
            });
            iov_len -= seg_size;
            offset = 0;
            src_bvec += 1;
        }
    }
    if res_bvec.len() as u64 > capacity {
        w.events.push(Event::ResBvecOverflow {
            written: res_bvec.len() as u64,
            capacity,
        });
    }
    if total_len > w.geo.max_rw_count() {
        return Err(Errno::EINVAL);
    }
    crate::model::rsrc::res_bvec_fields(w, "io_vec_fill_bvec", &mut res_bvec);

    Ok(IovIter::owned(ddir, res_bvec, total_len))
}
