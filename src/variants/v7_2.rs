//! `v7.2`: the registration path of Linux 7.2, which is 7.1-rc1 with three
//! commits of Jens Axboe's from the `for-7.2/io_uring` branch:
//!
//! - df0a52537c0f "io_uring/rsrc: add huge page accounting for registered
//!   buffers": 7.1 charged a huge page to the first buffer that pinned it
//!   and looked for it in the other buffers (`headpage_already_acct()`), so
//!   clearing that buffer uncharged a page others still pinned (the
//!   RLIMIT_MEMLOCK bypass, reference section 2.9). 7.2 removes
//!   `headpage_already_acct()`, `last_hpage` and `imu->acct_pages`, and
//!   keeps a per-ring xarray `ctx->hpage_acct` from head page to the number
//!   of buffer references to it: a huge page is charged on its first
//!   reference (`hpage_acct_ref()`) and uncharged on its last
//!   (`hpage_acct_unref()`). Modelled from "[PATCH v4] io_uring/rsrc: add
//!   huge page accounting for registered buffers" (2026-05-05,
//!   Message-Id <9c0097c2-d1de-493a-b193-7afc2200b5a6@kernel.dk>), the last
//!   version posted. The 7.2 `rsrc.c` itself is not in the stored index
//!   (its `torvalds/linux` copy is 7.1), so which version landed cannot be
//!   checked byte for byte; v3 (2026-05-01,
//!   <d377141e-064e-48a2-9a76-8477a90e8655@kernel.dk>) differs only in how
//!   `hpage_acct_ref()`/`hpage_acct_unref()` are written, not in what they
//!   do, and v1 (2026-01-24, a test patch in the thread of Yuhao Jiang's
//!   fix) had no error path for `xa_reserve()`; the model is v3 and v4
//!   alike.
//! - ca76b56a2a2a "io_uring/rsrc: bump struct io_mapped_ubuf length field
//!   to size_t": with 7.1's 1 GiB limit `imu->len` never exceeded
//!   `unsigned int`, with 7.2's it would have ([`V72::c_types`]).
//!   The 7.2 tree also writes `1UL << imu->folio_shift` in
//!   `io_vec_fill_bvec()`, where 7.1-rc1 shifted an `int`.
//! - b4e41050b212 "io_uring/rsrc: raise registered buffer 1GB limit": a
//!   buffer may be up to `SZ_1T`, and a longer one is `-EINVAL` (it was
//!   `-EFAULT`). Text from the same commit on the for-next branch,
//!   90f22c16e717, whose `io_validate_user_buf_range()` is quoted below.
//! - 3996771b8f75 "io_uring/memmap: bound io_pin_pages() by page array
//!   byte size" (2026-06-22, Fixes: b4e41050b212, syzbot f99b00a963915b6b52c6):
//!   with 1 TiB buffers the page array of `io_pin_pages()` reached 2^31
//!   bytes, over `kvmalloc()`'s `INT_MAX`, and hit its WARN; the page count
//!   is now bounded by `INT_MAX / sizeof(struct page *)`, `-EOVERFLOW`
//!   without a warning. `pre-3996771b8f75` (variants/history) is this
//!   variant without it.
//!
//! The functions are those of the patches, with their C names and control
//! flow. `io_sqe_buffer_register()` loses its `last_hpage` argument in 7.2;
//! the model keeps threading it through the shared 7.1 callers, and
//! [`V72::io_buffer_account_pin`] ignores it, which is what removing it
//! does. What 7.2 does not account: a ring whose creator has CAP_IPC_LOCK
//! (`ctx->user == NULL`) is charged nothing, `pinned_vm` included, where 7.1
//! charged `pinned_vm` for every ring.

use super::Variant;
use crate::mm::gup::{FOLL_LONGTERM, FOLL_WRITE};
use crate::mm::{AllocId, AllocSite, Pfn};
use crate::model::runs::{folio_pieces, Pages};
use crate::model::world::{PageArray, POISON_PFN};
use crate::model::{sizeof, Errno, HpageAcct, World, IO_REGBUF_F_KBUF};

pub mod kbuf;

/// Linux 7.2.
#[derive(Debug)]
pub struct V72;

/// Model of `hpage_acct_ref()` — io_uring/rsrc.c, 7.2 (df0a52537c0f).
/// Returns `acct_new`: whether this is the page's first reference, the one
/// that charges it. `xa_reserve()` allocates and may fail
/// ([`AllocSite::XaReserve`]); `xa_store()` into a reserved or present slot
/// does not allocate.
pub fn hpage_acct_ref(w: &mut World, hpage: Pfn) -> Result<bool, Errno> {
    let key = hpage;
    let (acct_new, slot, count) = match w.ctx.hpage_acct.get(&key) {
        Some(entry) => (false, entry.slot, entry.count + 1),
        None => {
            let Some(slot) = w.alloc_call(
                crate::mm::Allocator::Kmalloc,
                AllocSite::XaReserve,
                crate::model::sizeof::XA_NODE,
            ) else {
                return Err(Errno::ENOMEM);
            };
            (true, slot, 1)
        }
    };
    w.ctx.hpage_acct.insert(key, HpageAcct { count, slot });
    Ok(acct_new)
}

/// Model of `hpage_acct_unref()` — io_uring/rsrc.c, 7.2 (df0a52537c0f).
/// Returns whether this was the last reference, the one that uncharges.
pub fn hpage_acct_unref(w: &mut World, hpage: Pfn) -> bool {
    let key = hpage;
    let entry = w.ctx.hpage_acct.get(&key).copied();
    let Some(entry) = entry else {
        w.warn_on_once(true, "hpage_acct_unref: !entry");
        return false;
    };
    if entry.count == 1 {
        w.ctx.hpage_acct.remove(&key);
        w.alloc.kvfree(entry.slot);
        return true;
    }
    w.ctx.hpage_acct.insert(
        key,
        HpageAcct {
            count: entry.count - 1,
            ..entry
        },
    );
    false
}

/// Model of `io_buffer_unaccount_pages()` — io_uring/rsrc.c, 7.2
/// (df0a52537c0f): drops the buffer's huge page references and returns the
/// pages to uncharge (its order-0 entries, and each huge page whose last
/// reference it held). A kernel buffer (`IO_REGBUF_F_KBUF`) took none.
pub fn io_buffer_unaccount_pages(w: &mut World, imu: AllocId) -> u64 {
    let mut seen: Option<Pfn> = None;
    let mut acct = 0u64;

    if w.imu(imu).flags & IO_REGBUF_F_KBUF != 0 || w.ctx.user.is_none() {
        return 0;
    }
    // Piece by piece: the pages of a piece share one head, so after its
    // first each is `hpage == seen`. A never written entry reads as
    // poison, which is not compound.
    let mut pieces = Vec::new();
    for (_, n, run) in w.imu(imu).bvec_runs() {
        match run {
            Some(r) => {
                pieces.extend(folio_pieces(&w.phys, r.bv.bv_page, r.n).map(|(_, p, k, _)| (p, k)))
            }
            None => pieces.push((POISON_PFN, n)),
        }
    }
    for (page, n) in pieces {
        if !w.phys.page_compound(page) {
            acct += n;
            continue;
        }
        let hpage = w.phys.compound_head(page);
        if Some(hpage) == seen {
            continue;
        }
        seen = Some(hpage);
        // Unaccount on last reference
        if hpage_acct_unref(w, hpage) {
            acct += w.phys.page_size(&w.geo, hpage) >> w.geo.page_shift;
        }
    }
    acct
}

/// Model of `io_buffer_unaccount_hpages()` — io_uring/rsrc.c, 7.2
/// (df0a52537c0f): undoes the `hpage_acct_ref()` calls
/// `io_buffer_account_pin()` made for `pages[0..nr_pages)` when it fails.
pub fn io_buffer_unaccount_hpages(w: &mut World, pages: &Pages, nr_pages: usize) {
    let mut seen: Option<Pfn> = None;
    if w.ctx.user.is_none() {
        return;
    }
    let pieces: Vec<_> = pages.folio_pieces(&w.phys, 0, nr_pages as u64).collect();
    for (_, page, _, _) in pieces {
        if !w.phys.page_compound(page) {
            continue;
        }
        let hpage = w.phys.compound_head(page);
        if Some(hpage) == seen {
            continue;
        }
        seen = Some(hpage);
        hpage_acct_unref(w, hpage);
    }
}

/// Model of `io_buffer_account_pin()` — io_uring/rsrc.c, 7.2
/// (df0a52537c0f): one charge per order-0 entry, one per huge page whose
/// first reference this buffer takes; nothing at all for a ring without a
/// user.
pub fn io_buffer_account_pin<V: Variant + ?Sized>(
    v: &V,
    w: &mut World,
    pages: &Pages,
    nr_pages: usize,
) -> Result<(), Errno> {
    let mut acct_pages = 0u64;
    let mut seen: Option<Pfn> = None;

    if w.ctx.user.is_none() {
        return Ok(());
    }
    let pieces: Vec<_> = pages.folio_pieces(&w.phys, 0, nr_pages as u64).collect();
    for (i, page, n, _) in pieces {
        let i = i as usize;
        if !w.phys.page_compound(page) {
            acct_pages += n;
            continue;
        }
        let hpage = w.phys.compound_head(page);
        if Some(hpage) == seen {
            continue;
        }
        seen = Some(hpage);

        let acct_new = match hpage_acct_ref(w, hpage) {
            Ok(n) => n,
            Err(e) => {
                io_buffer_unaccount_hpages(w, pages, i);
                return Err(e);
            }
        };
        if acct_new {
            acct_pages += w.phys.page_size(&w.geo, hpage) >> w.geo.page_shift;
        }
    }

    // Try to account the memory
    if acct_pages != 0 {
        if let Err(e) = v.io_account_mem(w, acct_pages) {
            // Undo the refs we just added
            io_buffer_unaccount_hpages(w, pages, nr_pages);
            return Err(e);
        }
    }
    Ok(())
}

/// Model of `io_buffer_unmap()` — io_uring/rsrc.c, 7.2 (df0a52537c0f).
/// Buffers are never cloned in the model (`refs` is 1), so dropping the
/// huge page references before the `refs` check, which 7.2 does so that a
/// clone gives back its own references, changes nothing here.
pub fn io_buffer_unmap<V: Variant + ?Sized>(v: &V, w: &mut World, imu: AllocId) {
    // Always decrement, so it works for cloned buffers too
    let acct_pages = io_buffer_unaccount_pages(w, imu);

    let refs = w.imu(imu).refs;
    if refs > 1 {
        w.imu_mut(imu).refs -= 1;
        if refs - 1 != 0 {
            return;
        }
    }
    if acct_pages != 0 {
        v.io_unaccount_mem(w, acct_pages);
    }
    crate::model::kbuf::imu_release(v, w, imu);
    v.io_free_imu(w, imu);
}

/// Model of `io_validate_user_buf_range()` — io_uring/rsrc.c, 7.2
/// (b4e41050b212). `SZ_1T` is [`crate::mm::Geometry::sz_1t`]: 1024 times
/// the scaled `SZ_1G`, so 1024 PUD folios at every geometry. The 32-bit
/// check never fires on the 64-bit kernel the model is.
pub fn io_validate_user_buf_range(w: &World, uaddr: u64, ulen: u64) -> Result<(), Errno> {
    let base = uaddr;
    let ps = w.geo.page_size();
    // PAGE_ALIGN(ulen) in unsigned long arithmetic.
    let acct_len = ulen.wrapping_add(ps - 1) & w.geo.page_mask();

    if ulen == 0 {
        return Err(Errno::EFAULT);
    }
    // 32-bit sanity checking: u64 and unsigned long are the same width here.
    // cap to 1TB for 64-bit
    if ulen > w.geo.sz_1t() {
        return Err(Errno::EINVAL);
    }
    if base.checked_add(acct_len).is_none() {
        return Err(Errno::EOVERFLOW);
    }
    Ok(())
}

/// Model of `io_pin_pages()` — io_uring/memmap.c, 7.2 (3996771b8f75):
/// 7.1-rc1's with the page count bounded by the array's byte size.
/// `INT_MAX` is [`crate::mm::Geometry::int_max`].
pub fn io_pin_pages<V: Variant + ?Sized>(
    v: &V,
    w: &mut World,
    uaddr: u64,
    len: u64,
) -> Result<(PageArray, u64), Errno> {
    let ps = w.geo.page_size();
    let Some(end) = uaddr.checked_add(len) else {
        return Err(Errno::EOVERFLOW);
    };
    let Some(end) = end.checked_add(ps - 1) else {
        return Err(Errno::EOVERFLOW);
    };

    let end = end >> w.geo.page_shift;
    let start = uaddr >> w.geo.page_shift;
    let nr_pages = end - start;
    if w.warn_on_once(nr_pages == 0, "io_pin_pages: !nr_pages") {
        return Err(Errno::EINVAL);
    }
    if nr_pages > w.geo.int_max() / sizeof::PAGE_PTR {
        return Err(Errno::EOVERFLOW);
    }

    let Some(id) = w.kvmalloc_array(AllocSite::PinPagesArray, nr_pages, sizeof::PAGE_PTR) else {
        return Err(Errno::ENOMEM);
    };
    let mut pages = PageArray {
        id,
        pages: Pages::new(),
    };

    let ret = v.pin_user_pages_fast(
        w,
        uaddr,
        nr_pages,
        FOLL_WRITE | FOLL_LONGTERM,
        &mut pages.pages,
    );
    // success, mapped all pages
    if ret == Ok(nr_pages) {
        return Ok((pages, nr_pages));
    }

    // partial map, or didn't map anything
    let ret = match ret {
        Ok(n) => {
            // if we did partial map, release any pages we did get
            if n > 0 {
                v.unpin_user_pages(w, &pages.pages.prefix(n));
            }
            Errno::EFAULT
        }
        Err(e) => e,
    };
    w.alloc.kvfree(pages.id);
    Err(ret)
}

/// Model of `io_buffer_acct_cloned_hpages()` — io_uring/rsrc.c, 7.2
/// (df0a52537c0f): the destination ring takes a reference on each huge
/// page of a cloned buffer, charging nothing (`acct_new` is not looked
/// at); on a failed reference it gives back those it took.
/// A kernel buffer (`IO_REGBUF_F_KBUF`) is cloned without references.
pub fn io_buffer_acct_cloned_hpages(w: &mut World, imu: AllocId) -> Result<(), Errno> {
    if w.imu(imu).flags & IO_REGBUF_F_KBUF != 0 || w.ctx.user.is_none() {
        return Ok(());
    }
    // Each entry at which a new huge page starts, as C's loop sees them.
    let starts = head_changes(w, imu);
    let mut ret = Ok(());
    let mut i = w.imu(imu).nr_bvecs as u64;
    for &(at, hpage) in &starts {
        // Atomically add reference for cloned buffer
        if let Err(e) = hpage_acct_ref(w, hpage) {
            ret = Err(e);
            i = at;
            break;
        }
    }
    if ret.is_ok() {
        return Ok(());
    }
    // Undo refs we added for bvecs [0..i)
    for &(_, hp) in starts.iter().take_while(|s| s.0 < i) {
        hpage_acct_unref(w, hp);
    }
    ret
}

/// `(i, head)` for each of the first `nr_bvecs` entries whose page is
/// compound with a head other than the last compound one's: where
/// `io_buffer_acct_cloned_hpages()`'s `seen` changes. By runs, split at
/// folio ends.
fn head_changes(w: &World, imu: AllocId) -> Vec<(u64, Pfn)> {
    let m = w.imu(imu);
    let (nr_bvecs, slots) = (m.nr_bvecs as u64, m.bvec.slots());
    let mut entries = m.bvec_runs();
    if nr_bvecs > slots {
        entries.push((slots, nr_bvecs - slots, None));
    }
    let (mut seen, mut out) = (None, vec![]);
    for (start, n, run) in entries {
        let (page, n) = run.map_or((POISON_PFN, 1), |r| (r.bv.bv_page, n));
        let pieces: Vec<_> = if run.is_some() {
            folio_pieces(&w.phys, page, n).collect()
        } else {
            // Every unwritten entry reads as the same page.
            vec![(0, page, 1, w.phys.page_folio(page))]
        };
        for (o, p, _, _) in pieces {
            if !w.phys.page_compound(p) {
                continue;
            }
            let hpage = w.phys.compound_head(p);
            if Some(hpage) != seen {
                seen = Some(hpage);
                out.push((start + o, hpage));
            }
        }
    }
    out
}

/// 3996771b8f75 bounds the page array (8 bytes a page) by `INT_MAX`, not
/// the bvec table (16 bytes a page): a buffer over 512 GiB that does not
/// coalesce makes `io_alloc_imu()` ask `kvmalloc` for more than `INT_MAX`,
/// and it WARNs. Found by this model; the C of Debian's 7.2 asks for the
/// same size (docs/src/v7_2.md). Set aside in campaigns once found, so that
/// a campaign of 7.2 shows what is new.
pub const IMU_OVER_INT_MAX: super::KnownBug = super::KnownBug {
    aspect: "no_warning/__kvmalloc_node_noprof(io_alloc_imu)",
    fixed_by: "no commit yet; found by the model: corpus/findings/v7.2/imu-over-int-max.toml",
    summary: "io_alloc_imu() asks kvmalloc for an imu over INT_MAX (a buffer over 512 GiB that does not coalesce), \
              which WARNs",
    after: &[],
};

/// The known bugs of 7.2.
static KNOWN_7_2: [super::KnownBug; 11] = super::then_width_consequences(&[
    IMU_OVER_INT_MAX,
    super::BVEC_FIELDS_OVER_4G,
    super::FILL_BVEC_OFFSET_OVER_4G,
]);

impl Variant for V72 {
    fn name(&self) -> &'static str {
        "v7.2"
    }
    fn summary(&self) -> &'static str {
        "Linux 7.2: per-ring huge page accounting (df0a52537c0f), size_t imu->len (ca76b56a2a2a), 1 TiB limit (b4e41050b212), io_pin_pages() bounded by the array's bytes (3996771b8f75)"
    }

    fn io_pin_pages(&self, w: &mut World, uaddr: u64, len: u64) -> Result<(PageArray, u64), Errno> {
        io_pin_pages(self, w, uaddr, len)
    }
    fn io_buffer_acct_cloned_hpages(&self, w: &mut World, imu: AllocId) -> Result<(), Errno> {
        io_buffer_acct_cloned_hpages(w, imu)
    }
    /// df0a52537c0f fixes 7.1's RLIMIT_MEMLOCK bypass; what stands is the
    /// bvec table's size, which 3996771b8f75 left unbounded.
    fn known_bugs(&self) -> &'static [super::KnownBug] {
        &KNOWN_7_2
    }

    fn io_validate_user_buf_range(
        &self,
        w: &mut World,
        uaddr: u64,
        ulen: u64,
    ) -> Result<(), Errno> {
        io_validate_user_buf_range(w, uaddr, ulen)
    }

    /// 7.2's `io_buffer_account_pin(ctx, pages, nr_pages)`: there is no
    /// `imu->acct_pages` to set and no `last_hpage`, so both are ignored.
    fn io_buffer_account_pin(
        &self,
        w: &mut World,
        pages: &Pages,
        nr_pages: usize,
        _imu: AllocId,
        _last_hpage: &mut Option<Pfn>,
    ) -> Result<(), Errno> {
        io_buffer_account_pin(self, w, pages, nr_pages)
    }

    fn io_buffer_unmap(&self, w: &mut World, imu: AllocId) {
        io_buffer_unmap(self, w, imu)
    }
    fn io_buffer_register_bvec(&self, w: &mut World, rq: u32, index: u32) -> Result<(), Errno> {
        kbuf::io_buffer_register_bvec(self, w, rq, index)
    }

    fn c_types(&self) -> crate::model::cint::CTypes {
        crate::model::cint::CTypes::V7_2
    }
    fn accounting_rule(&self) -> crate::variants::AccountingRule {
        crate::variants::AccountingRule::PerRing
    }

    /// `struct io_mapped_ubuf` has no `acct_pages` in 7.2.
    fn imu_acct_pages(&self, _w: &World, _imu: AllocId) -> Option<u64> {
        None
    }

    /// 7.2's bookkeeping: each installed buffer's order-0 entries, plus every
    /// huge page in `ctx->hpage_acct`, whose reference count must be the
    /// number of references the installed buffers hold on it (one per run
    /// of its pages in a buffer's bvecs, as `io_buffer_account_pin()` takes
    /// them). A ring without a user is charged nothing and has no entries.
    /// Each ring's `hpage_acct` against the references its nodes hold (a
    /// node per reference, a clone's too). The sum is what one ring's books
    /// say is charged; with several rings the books do not add up to the
    /// charge (a clone charges nothing), and `accounting` does not ask.
    fn accounted_pages(&self, w: &World) -> Result<u64, String> {
        let mut total = 0;
        for (r, ctx) in w.rings() {
            let name = if r == 0 {
                String::new()
            } else {
                format!("ring {r}: ")
            };
            if ctx.user.is_none() && w.ctx.user.is_none() {
                if let Some((h, e)) = ctx.hpage_acct.iter().next() {
                    return Err(format!(
                        "{name}ring without a user (nothing is accounted) but hpage_acct holds pfn {h:#x} with {} references",
                        e.count
                    ));
                }
                continue;
            }
            let mut small = 0u64;
            let mut refs: std::collections::BTreeMap<Pfn, u64> = Default::default();
            // A kernel buffer is neither charged nor counted.
            for (_, imu) in crate::oracle::invariants::ring_buffers(w, r) {
                if w.imu(imu).flags & IO_REGBUF_F_KBUF != 0 {
                    continue;
                }
                let mut seen = None;
                let runs = w.imu(imu).bvec_runs();
                for r in runs.iter().filter_map(|e| e.2) {
                    for (_, p, k, f) in folio_pieces(&w.phys, r.bv.bv_page, r.n) {
                        if !f.is_some_and(|f| w.phys.folio(f).order > 0) {
                            small += k;
                            continue;
                        }
                        let h = w.phys.compound_head(p);
                        if Some(h) != seen {
                            seen = Some(h);
                            *refs.entry(h).or_default() += 1;
                        }
                    }
                }
            }
            let held: std::collections::BTreeMap<Pfn, u64> =
                ctx.hpage_acct.iter().map(|(&h, e)| (h, e.count)).collect();
            if held != refs {
                return Err(format!(
                    "{name}hpage_acct holds {held:x?} (head pfn: references) but the installed buffers hold {refs:x?}"
                ));
            }
            let huge: u64 = held
                .keys()
                .map(|&h| w.phys.page_size(&w.geo, h) >> w.geo.page_shift)
                .sum();
            total += small + huge;
        }
        Ok(total)
    }
}
