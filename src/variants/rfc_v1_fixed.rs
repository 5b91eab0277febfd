//! `rfc-v1-fixed`: RFC v1 with the smallest change that removes every
//! finding this tool reports for it, keeping its shortcut.
//!
//! RFC v1 takes the shortcut when the first and the last pinned page are in
//! one hugetlb folio, and assumes the pages in between are the rest of that
//! folio, in order. User space decides what lies in between: the same huge
//! page mapped twice (corpus/findings/rfc-v1/*coverage*), or another folio
//! (corpus/findings/rfc-v1/*pins*). The fix adds one comparison. A hugetlb
//! folio is only ever mapped whole at an address aligned to its size, so if
//! the last page is exactly `nr_pages - 1` pages after the first inside the
//! same folio, the whole range lies in one aligned huge-page-sized stretch
//! of the address space, mapped by that folio alone, in order. The cost is
//! one pointer comparison; the common case (a buffer inside one huge page)
//! still skips `io_check_coalesce_buffer()` and `io_coalesce_buffer()`.
//!
//! As a patch on top of RFC v1: [`HUNK`].

use super::rfc_v1;
use super::Variant;
use crate::mm::{AllocId, Pfn};
use crate::model::world::PageArray;
use crate::model::{Errno, Iovec, World};

/// The change on top of RFC v1, as `regbuf-fuzz report` suggests it.
pub const HUNK: &str = "\
--- a/io_uring/memmap.c
+++ b/io_uring/memmap.c
@@ struct page **io_pin_pages_fast_path(unsigned long uaddr, unsigned long len, int *npages)
 		if (nr_pages > 1 && folio_test_hugetlb(folio) &&
-		    page_folio(pages[nr_pages - 1]) == folio) {
+		    page_folio(pages[nr_pages - 1]) == folio &&
+		    pages[nr_pages - 1] == pages[0] + nr_pages - 1) {
 			struct page **huge_pages;
";

/// RFC v1 with the contiguity check.
#[derive(Debug)]
pub struct RfcV1Fixed;

/// Model of `io_pin_pages_fast_path()` — io_uring/memmap.c, RFC v1 with the
/// hunk in the module doc: the shortcut also requires
/// `pages[nr_pages - 1] == pages[0] + nr_pages - 1`.
pub fn io_pin_pages_fast_path(
    v: &dyn Variant,
    w: &mut World,
    uaddr: u64,
    len: u64,
) -> Result<(PageArray, u64), Errno> {
    rfc_v1::fast_path(v, w, uaddr, len, true)
}

impl Variant for RfcV1Fixed {
    fn name(&self) -> &'static str {
        "rfc-v1-fixed"
    }
    fn summary(&self) -> &'static str {
        "RFC v1 plus a contiguity check on the fast path (pages[nr_pages - 1] == pages[0] + nr_pages - 1)"
    }
    fn fix_of(&self) -> Option<super::Fix> {
        Some(super::Fix {
            of: "rfc-v1",
            why: "Keep the shortcut only when the last pinned page is exactly nr_pages - 1 pages after the first. A hugetlb folio is only mapped whole, at an address aligned to its size, so then the whole range lies in one aligned huge-page-sized stretch of the address space, mapped by that folio alone, in order; the aliased and interleaved layouts fall back to io_check_coalesce_buffer().",
            hunk: HUNK,
        })
    }

    /// RFC v1's `io_sqe_buffer_register()`, calling the corrected fast path.
    fn io_sqe_buffer_register(
        &self,
        w: &mut World,
        iov: &Iovec,
        last_hpage: &mut Option<Pfn>,
    ) -> Result<Option<AllocId>, Errno> {
        rfc_v1::io_sqe_buffer_register(self, w, iov, last_hpage, io_pin_pages_fast_path)
    }
}
