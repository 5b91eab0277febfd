//! `pre-3a3c6d61577d`: 7.1-rc1 without 3a3c6d61577d "io_uring/rsrc: don't
//! rely on user vaddr alignment" (CVE-2025-40216, 6.16-rc4).
//!
//! A coalesced buffer's first bvec offset was the user address modulo the
//! folio size, which is right only when the virtual address is aligned as
//! the physical folio is: always for hugetlb, not for a THP or mTHP mapped
//! at a shifted address (mremap) or a folio mapped twice at different
//! offsets. The I/O then lands on the wrong pages of the folio, or past it.

use super::register::{io_sqe_buffer_register, Reverted};
use super::Variant;
use crate::mm::{AllocId, Pfn};
use crate::model::{Errno, Iovec, World};

/// 7.1-rc1 taking the first offset from the user address.
#[derive(Debug)]
pub struct Pre3a3c6d61577d;

impl Variant for Pre3a3c6d61577d {
    fn name(&self) -> &'static str {
        "pre-3a3c6d61577d"
    }
    fn summary(&self) -> &'static str {
        "7.1-rc1 without 3a3c6d61577d (CVE-2025-40216): first bvec offset = uaddr & (folio_size - 1)"
    }
    fn io_sqe_buffer_register(
        &self,
        w: &mut World,
        iov: &Iovec,
        last_hpage: &mut Option<Pfn>,
    ) -> Result<Option<AllocId>, Errno> {
        io_sqe_buffer_register(self, w, iov, last_hpage, Reverted::VaddrAlignment)
    }
}
