//! `pre-5afb4bf9fc62`: 7.1-rc1 without 5afb4bf9fc62 "io_uring/rsrc: fix
//! folio unpinning" (6.16-rc4; syzbot "kernel BUG in
//! sanity_check_pinned_pages").
//!
//! Coalescing (a8edbb424b13) stores each folio's head page in the bvec,
//! but a buffer may have pinned only tail pages. Release unpinned
//! `bv_page`, the head, which under CONFIG_DEBUG_VM fails
//! `sanity_check_pinned_pages()` when the head is not `PageAnonExclusive`:
//! an anonymous THP whose pages were shared by fork() and of which only the
//! buffer's own pages were unshared again by the pin.

use super::register::{io_sqe_buffer_register, Reverted};
use super::Variant;
use crate::mm::{AllocId, Pfn};
use crate::model::{Errno, Iovec, World};

/// 7.1-rc1 unpinning the stored page rather than its folio.
#[derive(Debug)]
pub struct Pre5afb4bf9fc62;

impl Variant for Pre5afb4bf9fc62 {
    fn name(&self) -> &'static str {
        "pre-5afb4bf9fc62"
    }
    fn summary(&self) -> &'static str {
        "7.1-rc1 without 5afb4bf9fc62: release and the error path unpin the stored head page, not the folio"
    }
    fn io_sqe_buffer_register(
        &self,
        w: &mut World,
        iov: &Iovec,
        last_hpage: &mut Option<Pfn>,
    ) -> Result<Option<AllocId>, Errno> {
        io_sqe_buffer_register(self, w, iov, last_hpage, Reverted::FolioUnpinning)
    }
    fn io_release_ubuf(&self, w: &mut World, imu: AllocId) {
        io_release_ubuf(self, w, imu)
    }
}

/// Model of `io_release_ubuf()` — io_uring/rsrc.c, 7.1-rc1, with
/// 5afb4bf9fc62's hunk reverted.
fn io_release_ubuf(v: &dyn Variant, w: &mut World, imu: AllocId) {
    let nr_bvecs = w.imu(imu).nr_bvecs as u64;
    for i in 0..nr_bvecs {
        let bv = w.read_bvec(imu, i, "io_release_ubuf");
        v.unpin_user_page(w, bv.bv_page, "io_release_ubuf");
    }
}
