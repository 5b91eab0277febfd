//! Variants: versions of the kernel code that run side by side.
//!
//! A variant implements [`Variant`] and overrides only the functions its patch
//! changes; every other method's default is the upstream 7.1-rc1 model. To
//! add a patch: write one file here with the changed functions, each quoting
//! its hunk, and add one line to [`ALL`].

use crate::mm::{gup, AllocId, FolioId, Pfn};
use crate::model::clone::{self, IoUringCloneBuffers};
use crate::model::iov_iter::{self, IovIter, PhysRange};
use crate::model::runs::Pages;
use crate::model::world::PageArray;
use crate::model::{
    kbuf, memmap, rsrc, Errno, IoImuFolioData, IoKiocb, IoMappedUbuf, IoRsrcData, Iovec, World,
};

pub mod history;
pub mod rfc_v1;
pub mod rfc_v1_fixed;
pub mod upstream;
pub mod v7_2;

/// A bug a variant is known to have, fixed elsewhere: findings of this
/// signature on that variant are reported as known and kept out of the
/// verdict unless asked for (`--known`), so that fuzzing a patch against
/// the kernel it applies to is not drowned by that kernel's own bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct KnownBug {
    /// The finding it shows as: an invariant and its aspect,
    /// `invariant/aspect` (`accounting/uncharged-pins`).
    pub aspect: &'static str,
    /// The commit that fixes it, and the release it is in.
    pub fixed_by: &'static str,
    /// One line: what goes wrong.
    pub summary: &'static str,
    /// For a consequence of other known bugs: their `invariant/aspect`s. A
    /// finding is then this bug only in a run where the variant broke one
    /// of those too, at the same operation or before.
    pub after: &'static [&'static str],
}

/// Linux 7.1's RLIMIT_MEMLOCK bypass (reference section 2.9): a hugetlb
/// folio is charged to the first buffer that pins it; a second buffer
/// sharing it is charged nothing (`headpage_already_acct()`), and clearing
/// the first uncharges the folio while the second still pins it.
pub const RLIMIT_BYPASS_7_1: KnownBug = KnownBug {
    aspect: "accounting/uncharged-pins",
    fixed_by: "df0a52537c0f (7.2)",
    summary: "RLIMIT_MEMLOCK bypass through headpage_already_acct(): a huge page shared by two buffers is \
              uncharged when the buffer that was charged for it goes",
    after: &[],
};

/// Where this model found the bvec table of a buffer in a 16 GiB folio
/// (ppc64's hash MMU, arm64 with 64 KiB pages) truncated: `bvec_set_page()`
/// takes `unsigned int` length and offset, and `io_sqe_buffer_register()`
/// passes it the offset into the folio (`first_folio_page_idx <<
/// PAGE_SHIFT`), 4 GiB or more for a buffer that starts 4 GiB into it, and,
/// since 7.2's 1 TiB limit, lengths of 16 GiB. The import then reads and
/// writes bytes a multiple of 4 GiB away from the user's. In 7.1-rc1 and in
/// the 7.2 tree alike.
pub const BVEC_FIELDS_OVER_4G: KnownBug = KnownBug {
    aspect: "widths/io_sqe_buffer_register",
    fixed_by: "no commit yet; found by the model: corpus/findings/upstream/bv-offset-over-4g.toml",
    summary: "io_sqe_buffer_register() passes bvec_set_page() an offset (or, in 7.2, a length) of 4 GiB or more \
              into a 16 GiB folio, and the unsigned int keeps its low 32 bits",
    after: &[],
};

/// `io_vec_fill_bvec()` of 7.2 passes `bvec_set_page()` the offset of an
/// iovec in its folio, 4 GiB or more in a 16 GiB folio: a vectored fixed
/// read or write there lands 4 GiB (a multiple of it) before its bytes.
pub const FILL_BVEC_OFFSET_OVER_4G: KnownBug = KnownBug {
    aspect: "widths/io_vec_fill_bvec",
    fixed_by: "no commit yet; found by the model: corpus/findings/upstream/fill-bvec-offset-over-4g.toml",
    summary: "io_vec_fill_bvec() passes bvec_set_page() the offset of an iovec 4 GiB or more into a 16 GiB \
              folio, and the unsigned int keeps its low 32 bits",
    after: &[],
};

/// 7.1-rc1's `io_vec_fill_bvec()` also computes `folio_size = 1 <<
/// imu->folio_shift` with an `int` 1: undefined for a 16 GiB folio
/// (`folio_shift` 34), where x86 and arm64 give 4 and ppc64 0, and a
/// vectored fixed read writes past its bvec array or never ends. The 7.2
/// tree writes `1UL`.
pub const FILL_BVEC_INT_SHIFT: KnownBug = KnownBug {
    aspect: "widths/io_vec_fill_bvec",
    fixed_by: "the 7.2 tree (1UL << imu->folio_shift), for the shift; found by the model: \
               corpus/findings/upstream/fill-bvec-int-shift.toml",
    summary:
        "io_vec_fill_bvec() shifts an int 1 by imu->folio_shift, undefined for a 16 GiB folio, and \
              truncates the offset of an iovec 4 GiB or more into one",
    after: &[],
};

/// The same bugs as the oracle's own imports meet them (it reads every
/// buffer back through `io_vec_fill_bvec()`), and what a truncated bvec
/// does to the bytes, the lengths and the layout of a buffer: findings of
/// these aspects are known only where one of the width bugs above broke at
/// the same operation or before.
const WIDTH_CONSEQUENCES: [KnownBug; 8] = {
    const CAUSES: &[&str] = &[
        BVEC_FIELDS_OVER_4G.aspect,
        FILL_BVEC_INT_SHIFT.aspect,
        "import/width",
    ];
    const fn of(aspect: &'static str, summary: &'static str) -> KnownBug {
        KnownBug {
            aspect,
            fixed_by: "no commit yet; a consequence of this version's width bugs (widths/...)",
            summary,
            after: CAUSES,
        }
    }
    [
        of("import/width", "the oracle's vectored import of a buffer in a 16 GiB folio meets io_vec_fill_bvec()'s width bug"),
        of("import/wrong-bytes", "an import through a truncated bv_offset or bv_len touches other bytes of its folio"),
        of("import/bvec-out-of-bounds", "an import past a bvec whose bv_len was truncated reads past the table"),
        of("coverage/wrong-bytes", "the bvecs of a buffer with a truncated bv_offset or bv_len name other bytes of its folio"),
        of("coverage/length", "the bv_len of a buffer truncated to its low 32 bits do not add up to imu->len"),
        of("layout/not-full", "a bvec whose bv_offset was truncated does not end at its folio's end"),
        of("import/nr-segs", "an import from a buffer whose bv_len were truncated counts its segments from the truncated lengths"),
        of(
            "oops/null-ptr-deref in iterate_bvec",
            "a tree's C walks an import past a bv_len truncated to 0, off the end of the bvec table",
        ),
    ]
};

/// `head`, then the consequences of the width bugs.
pub const fn then_width_consequences<const N: usize>(head: &[KnownBug]) -> [KnownBug; N] {
    assert!(N == head.len() + WIDTH_CONSEQUENCES.len());
    let mut out = [RLIMIT_BYPASS_7_1; N];
    let mut i = 0;
    while i < N {
        out[i] = if i < head.len() {
            head[i]
        } else {
            WIDTH_CONSEQUENCES[i - head.len()]
        };
        i += 1;
    }
    out
}

/// The known bugs of 7.1-rc1, which every variant has but for what it
/// overrides.
pub static KNOWN_7_1: [KnownBug; 11] =
    then_width_consequences(&[RLIMIT_BYPASS_7_1, BVEC_FIELDS_OVER_4G, FILL_BVEC_INT_SHIFT]);

/// The functions a patch to the registration path may change: every
/// function of the modelled path, GUP's included. Every default is the
/// upstream 7.1-rc1 function of the same name, and every call to one, in
/// the model and in the variants, goes through the variant, so an override
/// replaces the function wherever it is called. Some methods are not kernel
/// functions but what the oracles need to know about a version
/// (`known_bugs`, `imu_acct_pages`, `accounted_pages`, `accounting_rule`);
/// their defaults describe 7.1.
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
    /// Bugs this version is known to have (and which commit fixes them).
    /// The default is 7.1-rc1's, [`KNOWN_7_1`], since every variant
    /// is 7.1 plus what it overrides; a variant that fixes it says so.
    fn known_bugs(&self) -> &'static [KnownBug] {
        &KNOWN_7_1
    }
    /// For a variant built from a kernel tree's C: itself, which runs whole
    /// operations through the C instead of the functions below.
    fn kernel_c(&self) -> Option<&crate::ctree::CVariant> {
        None
    }

    // io_uring/rsrc.c, in the order of the file.

    fn __io_account_mem(&self, w: &mut World, nr_pages: u64) -> Result<(), Errno> {
        rsrc::__io_account_mem(w, nr_pages)
    }
    fn io_unaccount_mem(&self, w: &mut World, nr_pages: u64) {
        rsrc::io_unaccount_mem(w, nr_pages)
    }
    fn io_account_mem(&self, w: &mut World, nr_pages: u64) -> Result<(), Errno> {
        rsrc::io_account_mem(self, w, nr_pages)
    }
    fn io_validate_user_buf_range(
        &self,
        w: &mut World,
        uaddr: u64,
        ulen: u64,
    ) -> Result<(), Errno> {
        rsrc::io_validate_user_buf_range(w, uaddr, ulen)
    }
    fn io_release_ubuf(&self, w: &mut World, imu: AllocId) {
        rsrc::io_release_ubuf(self, w, imu)
    }
    fn io_alloc_imu(&self, w: &mut World, nr_bvecs: u64) -> Option<AllocId> {
        rsrc::io_alloc_imu(w, nr_bvecs)
    }
    fn io_free_imu(&self, w: &mut World, imu: AllocId) {
        rsrc::io_free_imu(w, imu)
    }
    fn io_buffer_unmap(&self, w: &mut World, imu: AllocId) {
        rsrc::io_buffer_unmap(self, w, imu)
    }
    fn io_rsrc_node_alloc(&self, w: &mut World) -> Option<AllocId> {
        rsrc::io_rsrc_node_alloc(w)
    }
    fn io_rsrc_data_free(&self, w: &mut World) {
        rsrc::io_rsrc_data_free(self, w)
    }
    fn io_rsrc_data_alloc(&self, w: &mut World, nr: u32) -> Result<IoRsrcData, Errno> {
        rsrc::io_rsrc_data_alloc(w, nr)
    }
    fn io_free_rsrc_node(&self, w: &mut World, node: AllocId) {
        rsrc::io_free_rsrc_node(self, w, node)
    }
    fn __io_sqe_buffers_update(
        &self,
        w: &mut World,
        offset: u32,
        iovecs: &[Iovec],
    ) -> Result<u32, Errno> {
        rsrc::__io_sqe_buffers_update(self, w, offset, iovecs)
    }
    fn io_register_rsrc_update(
        &self,
        w: &mut World,
        offset: u32,
        iovecs: &[Iovec],
    ) -> Result<u32, Errno> {
        rsrc::io_register_rsrc_update(self, w, offset, iovecs)
    }
    fn io_sqe_buffers_unregister(&self, w: &mut World) -> Result<(), Errno> {
        rsrc::io_sqe_buffers_unregister(self, w)
    }
    fn headpage_already_acct(
        &self,
        w: &mut World,
        pages: &Pages,
        nr_pages: usize,
        hpage: Pfn,
    ) -> bool {
        rsrc::headpage_already_acct(self, w, pages, nr_pages, hpage)
    }
    fn io_buffer_account_pin(
        &self,
        w: &mut World,
        pages: &Pages,
        nr_pages: usize,
        imu: AllocId,
        last_hpage: &mut Option<Pfn>,
    ) -> Result<(), Errno> {
        rsrc::io_buffer_account_pin(self, w, pages, nr_pages, imu, last_hpage)
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
    fn io_check_coalesce_buffer(
        &self,
        w: &mut World,
        pages: &Pages,
        nr_pages: u64,
        data: &mut IoImuFolioData,
    ) -> bool {
        rsrc::io_check_coalesce_buffer(self, w, pages, nr_pages, data)
    }
    fn io_sqe_buffer_register(
        &self,
        w: &mut World,
        iov: &Iovec,
        last_hpage: &mut Option<Pfn>,
    ) -> Result<Option<AllocId>, Errno> {
        rsrc::io_sqe_buffer_register(self, w, iov, last_hpage)
    }
    fn io_sqe_buffers_register(
        &self,
        w: &mut World,
        arg: Option<&[Iovec]>,
        nr_args: u32,
    ) -> Result<(), Errno> {
        rsrc::io_sqe_buffers_register(self, w, arg, nr_args)
    }
    /// `rq` is the request's number in [`World::kbuf_rqs`]; the release
    /// callback is the driver's.
    fn io_buffer_register_bvec(&self, w: &mut World, rq: u32, index: u32) -> Result<(), Errno> {
        kbuf::io_buffer_register_bvec(self, w, rq, index)
    }
    fn io_buffer_unregister_bvec(&self, w: &mut World, index: u32) -> Result<(), Errno> {
        kbuf::io_buffer_unregister_bvec(self, w, index)
    }
    fn validate_fixed_range(
        &self,
        w: &World,
        buf_addr: u64,
        len: u64,
        imu: &IoMappedUbuf,
    ) -> Result<(), Errno> {
        rsrc::validate_fixed_range(w, buf_addr, len, imu)
    }
    fn io_import_kbuf(
        &self,
        w: &mut World,
        ddir: u32,
        imu: AllocId,
        len: u64,
        offset: u64,
    ) -> Result<IovIter, Errno> {
        kbuf::io_import_kbuf(self, w, ddir, imu, len, offset)
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
    fn io_find_buf_node(&self, w: &mut World, req: &mut IoKiocb) -> Option<AllocId> {
        rsrc::io_find_buf_node(w, req)
    }
    fn io_import_reg_buf(
        &self,
        w: &mut World,
        req: &mut IoKiocb,
        buf_addr: u64,
        len: u64,
        ddir: u32,
    ) -> Result<IovIter, Errno> {
        rsrc::io_import_reg_buf(self, w, req, buf_addr, len, ddir)
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
    /// Also what the `import` invariant sizes its own vectored probes with,
    /// so a version is judged against the capacity it allocates.
    fn io_estimate_bvec_size(&self, iov: &[Iovec], folio_shift: u32) -> Result<u64, Errno> {
        rsrc::io_estimate_bvec_size(iov, folio_shift)
    }
    fn io_vec_fill_kern_bvec(
        &self,
        w: &mut World,
        ddir: u32,
        imu: AllocId,
        iovec: &[Iovec],
        capacity: u64,
    ) -> Result<IovIter, Errno> {
        kbuf::io_vec_fill_kern_bvec(self, w, ddir, imu, iovec, capacity)
    }
    fn iov_kern_bvec_size(&self, w: &mut World, iov: &Iovec, imu: AllocId) -> Result<u64, Errno> {
        kbuf::iov_kern_bvec_size(self, w, iov, imu)
    }
    /// Also what the `import` invariant sizes its vectored probes of a
    /// kernel buffer with.
    fn io_kern_bvec_size(&self, w: &mut World, iov: &[Iovec], imu: AllocId) -> Result<u64, Errno> {
        kbuf::io_kern_bvec_size(self, w, iov, imu)
    }
    fn io_import_reg_vec(
        &self,
        w: &mut World,
        ddir: u32,
        req: &mut IoKiocb,
        iov: &[Iovec],
    ) -> Result<IovIter, Errno> {
        rsrc::io_import_reg_vec(self, w, ddir, req, iov)
    }
    fn io_clone_buffers(&self, w: &mut World, arg: &IoUringCloneBuffers) -> Result<(), Errno> {
        clone::io_clone_buffers(self, w, arg)
    }
    /// 7.2's (df0a52537c0f): the destination ring's references to the
    /// huge pages of a cloned buffer. 7.1 has no such function: a clone
    /// charges nothing and counts nothing, which the default does.
    fn io_buffer_acct_cloned_hpages(&self, _w: &mut World, _imu: AllocId) -> Result<(), Errno> {
        Ok(())
    }

    // io_uring/rsrc.h and io_uring/io_uring.c.

    fn io_put_rsrc_node(&self, w: &mut World, node: AllocId) {
        rsrc::io_put_rsrc_node(self, w, node)
    }
    fn io_reset_rsrc_node(&self, w: &mut World, index: usize) -> bool {
        rsrc::io_reset_rsrc_node(self, w, index)
    }
    fn io_req_put_rsrc_nodes(&self, w: &mut World, req: &mut IoKiocb) {
        rsrc::io_req_put_rsrc_nodes(self, w, req)
    }

    // io_uring/memmap.c.

    fn io_pin_pages(&self, w: &mut World, uaddr: u64, len: u64) -> Result<(PageArray, u64), Errno> {
        memmap::io_pin_pages(self, w, uaddr, len)
    }

    // lib/iov_iter.c: the iovec copy, and the walk the I/O does over an
    // imported iterator, which is where the import's bytes are read off.

    fn iovec_from_user(&self, w: &mut World, iov: &Iovec) -> Result<Iovec, Errno> {
        iov_iter::iovec_from_user(w, iov)
    }
    fn iov_iter_advance(&self, w: &mut World, iter: &mut IovIter, size: u64) {
        iov_iter::iov_iter_advance(w, iter, size)
    }
    fn iterate_bvec(&self, w: &mut World, iter: &IovIter) -> (Vec<PhysRange>, u64) {
        iter.physical_ranges(w)
    }

    // mm/gup.c (FOLL_PIN).

    /// The fault plan's `gup` point is drawn here, as the call is made.
    fn pin_user_pages_fast(
        &self,
        w: &mut World,
        start: u64,
        nr_pages: u64,
        gup_flags: u32,
        pages: &mut Pages,
    ) -> Result<u64, Errno> {
        let fault = w.alloc.gup_call();
        gup::pin_user_pages_fast(
            &w.geo,
            &mut w.aspace,
            &mut w.phys,
            start,
            nr_pages,
            gup_flags,
            pages,
            fault,
        )
    }
    /// `caller` names the function in a recorded DEBUG_VM violation.
    fn unpin_user_page(&self, w: &mut World, page: Pfn, caller: &str) {
        gup::unpin_user_page(&mut w.phys, page, caller)
    }
    fn unpin_user_pages(&self, w: &mut World, pages: &Pages) {
        gup::unpin_user_pages(&mut w.phys, pages)
    }
    fn unpin_user_folio(&self, w: &mut World, folio: FolioId, npages: u64) {
        gup::unpin_user_folio(&mut w.phys, folio, npages)
    }

    /// Oracle hook, not a kernel function: `imu->acct_pages` of a buffer, or
    /// `None` in a version whose `struct io_mapped_ubuf` has no such field
    /// (7.2 accounts huge pages per ring). Per-buffer figures are compared
    /// between two versions only when both have them.
    fn imu_acct_pages(&self, w: &World, imu: AllocId) -> Option<u64> {
        Some(w.imu(imu).acct_pages)
    }
    /// Oracle hook, not a kernel function: the pages this version's own
    /// bookkeeping says the installed buffers have charged to `locked_vm`
    /// and `pinned_vm` (7.1: the sum of their `acct_pages`), or a
    /// description of how that bookkeeping contradicts the installed buffers.
    fn accounted_pages(&self, w: &World) -> Result<u64, String> {
        Ok(crate::oracle::invariants::live_buffers(w)
            .iter()
            .map(|&(_, imu)| self.imu_acct_pages(w, imu).unwrap_or(0))
            .sum())
    }
    /// Oracle hook, not a kernel function: the rule this version's
    /// accounting follows, which the `accounting` invariant applies to the
    /// pins themselves, without asking the version's bookkeeping.
    fn accounting_rule(&self) -> AccountingRule {
        AccountingRule::PerBuffer
    }
    /// Not a kernel function: the C types of the quantities whose type
    /// changed between versions, as this version declares them.
    fn c_types(&self) -> crate::model::cint::CTypes {
        crate::model::cint::CTypes::V7_1
    }
}

/// What a version charges to `locked_vm` and `pinned_vm` for the pins of
/// its live buffers, as its design states it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountingRule {
    /// 7.1 and before: each buffer charges each compound folio it pins
    /// once, whole, unless `headpage_already_acct()` finds it charged
    /// already (which depends on the order of registrations), and each
    /// order-0 page entry once. So the charge is at most the sum of that
    /// over the buffers; `pinned_vm` is charged even without a user.
    PerBuffer,
    /// 7.2 (df0a52537c0f): each compound folio any live buffer pins is
    /// charged once per ring, whole, and each order-0 page entry once; a
    /// ring without a user is charged nothing.
    PerRing,
}

/// The kernel functions a variant can override: every method of
/// [`Variant`] that models one (the identity and oracle methods are not
/// kernel functions), in the trait's order. `regbuf-fuzz list` prints them;
/// a test keeps the list equal to the trait.
///
/// Not hooks: the allocators and the io_uring object caches (`kvmalloc`,
/// `io_cache_alloc`/`io_cache_free` on [`World`]), which carry the fault
/// plan; `io_vec_realloc`, which the model reduces to a size; and ring
/// teardown outside this path (`io_rsrc_cache_free`, the ring's regions).
pub const HOOKS: &[&str] = &[
    "__io_account_mem",
    "io_unaccount_mem",
    "io_account_mem",
    "io_validate_user_buf_range",
    "io_release_ubuf",
    "io_alloc_imu",
    "io_free_imu",
    "io_buffer_unmap",
    "io_rsrc_node_alloc",
    "io_rsrc_data_free",
    "io_rsrc_data_alloc",
    "io_free_rsrc_node",
    "__io_sqe_buffers_update",
    "io_register_rsrc_update",
    "io_sqe_buffers_unregister",
    "headpage_already_acct",
    "io_buffer_account_pin",
    "io_coalesce_buffer",
    "io_check_coalesce_buffer",
    "io_sqe_buffer_register",
    "io_sqe_buffers_register",
    "io_buffer_register_bvec",
    "io_buffer_unregister_bvec",
    "validate_fixed_range",
    "io_import_kbuf",
    "io_import_fixed",
    "io_find_buf_node",
    "io_import_reg_buf",
    "io_vec_fill_bvec",
    "io_estimate_bvec_size",
    "io_vec_fill_kern_bvec",
    "iov_kern_bvec_size",
    "io_kern_bvec_size",
    "io_import_reg_vec",
    "io_clone_buffers",
    "io_buffer_acct_cloned_hpages",
    "io_put_rsrc_node",
    "io_reset_rsrc_node",
    "io_req_put_rsrc_nodes",
    "io_pin_pages",
    "iovec_from_user",
    "iov_iter_advance",
    "iterate_bvec",
    "pin_user_pages_fast",
    "unpin_user_page",
    "unpin_user_pages",
    "unpin_user_folio",
];

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
    &v7_2::V72,
];

/// Every variant: the current ones, then the historical ones
/// ([`history::HISTORY`]).
pub fn all() -> impl Iterator<Item = &'static dyn Variant> {
    ALL.iter().chain(history::HISTORY).copied()
}

/// Variants made at run time (from kernel trees), by [`register`].
static DYNAMIC: std::sync::RwLock<Vec<&'static dyn Variant>> = std::sync::RwLock::new(Vec::new());

/// Makes `v` known by name to this process (a variant built from a tree).
pub fn register(v: &'static dyn Variant) {
    DYNAMIC.write().unwrap().push(v);
}

/// The variant called `name`.
pub fn by_name(name: &str) -> Option<&'static dyn Variant> {
    all().find(|v| v.name() == name).or_else(|| {
        DYNAMIC
            .read()
            .unwrap()
            .iter()
            .copied()
            .find(|v| v.name() == name)
    })
}

/// The names of all variants, for error messages and `--help`.
pub fn names() -> Vec<&'static str> {
    all().map(|v| v.name()).collect()
}

#[cfg(test)]
mod hook_kbuf_tests;
#[cfg(test)]
mod hook_tests;
#[cfg(test)]
mod tests;
