//! Model of the bvec flavour of `struct iov_iter` (lib/iov_iter.c): what an
//! import hands to the I/O path, and the walk that I/O does over it.
//!
//! The walk turns an iterator into the physical byte ranges a read or write
//! would touch. That is where a wrong `folio_shift`, a short bvec or a head
//! page with the wrong offset becomes wrong bytes.

use super::types::BioVec;
use super::World;
use crate::mm::AllocId;

/// Where an iterator's bvecs live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BvecSource {
    /// Inside a registered buffer's `imu->bvec`, from index `start`
    /// (`io_import_fixed`).
    Imu {
        /// The imu.
        imu: AllocId,
        /// Index of `iter->bvec` in `imu->bvec`.
        start: u64,
    },
    /// A private array (`io_vec_fill_bvec`'s result).
    Owned(Vec<BioVec>),
}

/// `struct iov_iter` of type ITER_BVEC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IovIter {
    /// `data_source`.
    pub ddir: u32,
    /// `bvec`.
    pub bvec: BvecSource,
    /// `nr_segs`.
    pub nr_segs: u64,
    /// `count`.
    pub count: u64,
    /// `iov_offset`.
    pub iov_offset: u64,
}

/// A physical byte range: `(address, length)` with address `pfn << PAGE_SHIFT | offset`.
pub type PhysRange = (u64, u64);

impl IovIter {
    /// `iov_iter_bvec(iter, ddir, imu->bvec + start, nr_segs, count)`.
    pub fn bvec(ddir: u32, imu: AllocId, start: u64, nr_segs: u64, count: u64) -> Self {
        IovIter {
            ddir,
            bvec: BvecSource::Imu { imu, start },
            nr_segs,
            count,
            iov_offset: 0,
        }
    }

    /// `iov_iter_bvec(iter, ddir, res_bvec, nr, count)` over a private array.
    pub fn owned(ddir: u32, bvecs: Vec<BioVec>, count: u64) -> Self {
        let nr_segs = bvecs.len() as u64;
        IovIter {
            ddir,
            bvec: BvecSource::Owned(bvecs),
            nr_segs,
            count,
            iov_offset: 0,
        }
    }

    /// Model of `iterate_bvec()` — lib/iov_iter.c, 7.1-rc1: the physical
    /// ranges a copy of `count` bytes touches, and how many bvecs it used.
    ///
    /// Divergence: C steps one page at a time (`kmap_local_page`); page
    /// pointer arithmetic makes those steps contiguous, so one step per bvec
    /// gives the same bytes. The per-page step is kept where it matters: when
    /// `iov_offset` is beyond `bv_len` (a broken layout), C's `bv_len - skip`
    /// wraps and it moves on after the rest of one page, and so does this.
    pub fn physical_ranges(&self, w: &mut World) -> (Vec<PhysRange>, u64) {
        let ps = w.geo.page_size();
        let mut out: Vec<PhysRange> = Vec::new();
        let mut len = self.count;
        let mut skip = self.iov_offset;
        let mut idx = 0u64;
        while len > 0 {
            // Whole page-sized entries of one run, inside nr_bvecs, are
            // one range: the loop below would merge them one by one.
            if let (BvecSource::Imu { imu, start }, 0) = (&self.bvec, skip) {
                let m = &w.imus[imu];
                let inside = (m.nr_bvecs as u64).saturating_sub(start + idx);
                if let Some(r) = m.bvec.run_from(start + idx).filter(|r| r.bv.bv_len == ps) {
                    let whole = r.n.min(inside).min(len / ps);
                    if whole > 1 {
                        let addr = (r.bv.bv_page << w.geo.page_shift).wrapping_add(r.bv.bv_offset);
                        push_merged(&mut out, (addr, whole * ps));
                        len -= whole * ps;
                        idx += whole;
                        continue;
                    }
                }
            }
            let p = match &self.bvec {
                BvecSource::Imu { imu, start } => w.read_bvec(*imu, start + idx, "iterate_bvec"),
                BvecSource::Owned(v) => match v.get(idx as usize) {
                    Some(b) => *b,
                    None => break, // C would read past the array; the overflow is already recorded
                },
            };
            if p.bv_page == super::world::POISON_PFN {
                // Past the allocation: C would walk foreign memory. The read
                // is already recorded; there is nothing faithful to follow.
                break;
            }
            let offset = p.bv_offset + skip;
            let part = if skip <= p.bv_len {
                len.min(p.bv_len - skip)
            } else {
                len.min(ps - offset % ps)
            };
            let addr = (p.bv_page << w.geo.page_shift).wrapping_add(offset);
            if part > 0 {
                push_merged(&mut out, (addr, part));
            }
            len -= part;
            skip += part;
            if skip >= p.bv_len {
                skip = 0;
                idx += 1;
            }
            if part == 0 && skip != 0 {
                break;
            }
        }
        let used = idx + u64::from(skip > 0);
        (out, used)
    }
}

/// Model of `iov_iter_advance()` with `iov_iter_bvec_advance()` —
/// lib/iov_iter.c, 7.1-rc1, for a bvec iterator: skips `size` bytes (at
/// most `count`), stepping `bvec` past every entry they use up; the rest
/// of the one they end in is `iov_offset`. Reads `bv_len` of up to
/// `nr_segs` entries from where the iterator starts.
pub fn iov_iter_advance(w: &mut World, i: &mut IovIter, size: u64) {
    let size = size.min(i.count);
    // iov_iter_bvec_advance()
    if i.count == 0 {
        return;
    }
    i.count -= size;
    let mut size = size + i.iov_offset;
    let mut k = 0u64;
    while k < i.nr_segs {
        let bv_len = match &i.bvec {
            BvecSource::Imu { imu, start } => {
                w.read_bvec(*imu, start + k, "iov_iter_advance").bv_len
            }
            BvecSource::Owned(v) => v.get(k as usize).map_or(0, |b| b.bv_len),
        };
        if size < bv_len {
            break;
        }
        size -= bv_len;
        k += 1;
    }
    i.iov_offset = size;
    i.nr_segs -= k;
    match &mut i.bvec {
        BvecSource::Imu { start, .. } => *start += k,
        BvecSource::Owned(v) => {
            v.drain(..(k as usize).min(v.len()));
        }
    }
}

/// Model of `iovec_from_user()` for one iovec (`copy_iovec_from_user()`,
/// lib/iov_iter.c, 7.1-rc1): the copy faults (`-EFAULT`) where the fault
/// plan says the array runs into unmapped memory
/// ([`crate::mm::FaultPoint::CopyFromUser`]); an `iov_len` that does not
/// fit in `ssize_t` is `-EINVAL`.
pub fn iovec_from_user(w: &mut World, iov: &super::Iovec) -> Result<super::Iovec, super::Errno> {
    if w.alloc.copy_from_user_call() {
        return Err(super::Errno::EFAULT);
    }
    // check for size_t not fitting in ssize_t ..
    if (iov.iov_len as i64) < 0 {
        return Err(super::Errno::EINVAL);
    }
    Ok(*iov)
}

/// Appends a range, merging it with the previous one when they touch: the
/// normal form in which two representations of the same bytes compare equal.
pub fn push_merged(out: &mut Vec<PhysRange>, r: PhysRange) {
    if let Some(last) = out.last_mut() {
        if last.0 + last.1 == r.0 {
            last.1 += r.1;
            return;
        }
    }
    out.push(r);
}
