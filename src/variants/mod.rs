//! Variants: versions of the kernel code that run side by side.
//!
//! A variant implements [`Variant`] and overrides only the functions its patch
//! changes; every other method's default is the upstream 7.1-rc1 model. To
//! add a patch: write one file here with the changed functions, each quoting
//! its hunk, and add one line to [`ALL`].

use crate::mm::{AllocId, Pfn};
use crate::model::iov_iter::IovIter;
use crate::model::world::PageArray;
use crate::model::{memmap, rsrc, Errno, IoImuFolioData, Iovec, World};

pub mod history;
pub mod rfc_v1;
pub mod rfc_v1_fixed;
pub mod upstream;

/// The functions a patch to the registration path may change. Every default
/// is the upstream 7.1-rc1 function of the same name.
#[allow(missing_docs)]
pub trait Variant: Sync + Send {
    /// Short name used on the command line and in corpus files.
    fn name(&self) -> &'static str;
    /// One line: which patch or commit this is.
    fn summary(&self) -> &'static str;
    /// For a variant that corrects another one: the correction, which
    /// reports on that variant's findings suggest.
    fn fix_of(&self) -> Option<Fix> {
        None
    }

    fn io_validate_user_buf_range(
        &self,
        w: &mut World,
        uaddr: u64,
        ulen: u64,
    ) -> Result<(), Errno> {
        rsrc::io_validate_user_buf_range(w, uaddr, ulen)
    }
    fn io_pin_pages(&self, w: &mut World, uaddr: u64, len: u64) -> Result<(PageArray, u64), Errno> {
        memmap::io_pin_pages(w, uaddr, len)
    }
    fn io_check_coalesce_buffer(
        &self,
        w: &mut World,
        pages: &[Pfn],
        nr_pages: u64,
        data: &mut IoImuFolioData,
    ) -> bool {
        rsrc::io_check_coalesce_buffer(self, w, pages, nr_pages, data)
    }
    fn io_coalesce_buffer(
        &self,
        w: &mut World,
        pages: &mut PageArray,
        nr_pages: &mut u64,
        data: &IoImuFolioData,
    ) -> bool {
        rsrc::io_coalesce_buffer(self, w, pages, nr_pages, data)
    }
    fn headpage_already_acct(
        &self,
        w: &mut World,
        pages: &[Pfn],
        nr_pages: usize,
        hpage: Pfn,
    ) -> bool {
        rsrc::headpage_already_acct(self, w, pages, nr_pages, hpage)
    }
    fn io_buffer_account_pin(
        &self,
        w: &mut World,
        pages: &[Pfn],
        nr_pages: usize,
        imu: AllocId,
        last_hpage: &mut Option<Pfn>,
    ) -> Result<(), Errno> {
        rsrc::io_buffer_account_pin(self, w, pages, nr_pages, imu, last_hpage)
    }
    fn io_sqe_buffer_register(
        &self,
        w: &mut World,
        iov: &Iovec,
        last_hpage: &mut Option<Pfn>,
    ) -> Result<Option<AllocId>, Errno> {
        rsrc::io_sqe_buffer_register(self, w, iov, last_hpage)
    }
    fn io_release_ubuf(&self, w: &mut World, imu: AllocId) {
        rsrc::io_release_ubuf(self, w, imu)
    }
    fn io_import_fixed(
        &self,
        w: &mut World,
        ddir: u32,
        imu: AllocId,
        buf_addr: u64,
        len: u64,
    ) -> Result<IovIter, Errno> {
        rsrc::io_import_fixed(self, w, ddir, imu, buf_addr, len)
    }
    fn io_vec_fill_bvec(
        &self,
        w: &mut World,
        ddir: u32,
        imu: AllocId,
        iovec: &[Iovec],
        capacity: u64,
    ) -> Result<IovIter, Errno> {
        rsrc::io_vec_fill_bvec(self, w, ddir, imu, iovec, capacity)
    }
}

/// A change on top of another variant that removes its findings.
#[derive(Clone, Copy, Debug)]
pub struct Fix {
    /// The variant it corrects.
    pub of: &'static str,
    /// Why it is right, in a sentence or two.
    pub why: &'static str,
    /// The change on top of that variant, as a diff hunk.
    pub hunk: &'static str,
}

/// Every current variant, by name. One line per patch.
pub static ALL: &[&dyn Variant] = &[
    &upstream::Upstream,
    &rfc_v1::RfcV1,
    &rfc_v1_fixed::RfcV1Fixed,
];

/// Every variant: the current ones, then the historical ones
/// ([`history::HISTORY`]).
pub fn all() -> impl Iterator<Item = &'static dyn Variant> {
    ALL.iter().chain(history::HISTORY).copied()
}

/// The variant called `name`.
pub fn by_name(name: &str) -> Option<&'static dyn Variant> {
    all().find(|v| v.name() == name)
}

/// The names of all variants, for error messages and `--help`.
pub fn names() -> Vec<&'static str> {
    all().map(|v| v.name()).collect()
}

#[cfg(test)]
mod tests;
