//! `pre-e1c75831f682`: 7.1-rc1 without e1c75831f682 "io_uring: fix
//! potential page leak in io_sqe_buffer_register()" (6.16-rc3).
//!
//! Only a failed accounting unpinned the pages; when `io_alloc_imu()`
//! failed, the pins leaked. Only an allocation failure reaches it, so the
//! fuzzer finds it through its fault plans.

use super::register::{io_sqe_buffer_register, Reverted};
use super::Variant;
use crate::mm::{AllocId, Pfn};
use crate::model::{Errno, Iovec, World};

/// 7.1-rc1 leaking the pins when the imu allocation fails.
#[derive(Debug)]
pub struct PreE1c75831f682;

impl Variant for PreE1c75831f682 {
    fn name(&self) -> &'static str {
        "pre-e1c75831f682"
    }
    fn summary(&self) -> &'static str {
        "7.1-rc1 without e1c75831f682: a failed io_alloc_imu() leaks the pinned pages"
    }
    fn io_sqe_buffer_register(
        &self,
        w: &mut World,
        iov: &Iovec,
        last_hpage: &mut Option<Pfn>,
    ) -> Result<Option<AllocId>, Errno> {
        io_sqe_buffer_register(self, w, iov, last_hpage, Reverted::PageLeak)
    }
}
