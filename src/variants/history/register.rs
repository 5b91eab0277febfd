//! `io_sqe_buffer_register()` as in 7.1-rc1, with the hunk of one of the
//! three fixes that touched it reverted. Kept in one place so the three
//! variants differ from upstream, and from each other, only at their hunk.

use crate::mm::AllocId;
use crate::mm::Pfn;
use crate::model::rsrc::unpin_folio_of_each;
use crate::model::types::{BioVec, IO_IMU_DEST, IO_IMU_SOURCE};
use crate::model::world::PageArray;
use crate::model::{Errno, IoImuFolioData, Iovec, World};
use crate::variants::Variant;

/// Which fix's hunk is reverted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reverted {
    /// 5afb4bf9fc62: the error path unpins with `unpin_user_pages(pages,
    /// nr_pages)`, which runs the DEBUG_VM sanity check on the head pages
    /// coalescing stored.
    FolioUnpinning,
    /// 3a3c6d61577d: the first bvec's offset is the user address modulo
    /// the folio size.
    VaddrAlignment,
    /// e1c75831f682: only an accounting failure unpins; a failed
    /// `io_alloc_imu()` leaks the pins.
    PageLeak,
}

/// Model of `io_sqe_buffer_register()` — io_uring/rsrc.c, 7.1-rc1, with the
/// hunk of `reverted` reverted (each hunk is quoted where it applies).
pub fn io_sqe_buffer_register<V: Variant + ?Sized>(
    v: &V,
    w: &mut World,
    iov: &Iovec,
    last_hpage: &mut Option<Pfn>,
    reverted: Reverted,
) -> Result<Option<AllocId>, Errno> {
    let mut imu: Option<AllocId> = None;
    let mut pages: Option<PageArray> = None;
    let mut nr_pages = 0u64;
    let mut data = IoImuFolioData::default();
    let mut coalesced = false;

    if iov.iov_base == 0 {
        if iov.iov_len != 0 {
            return Err(Errno::EFAULT);
        }
        return Ok(None);
    }

    v.io_validate_user_buf_range(w, iov.iov_base, iov.iov_len)?;

    let Some(node) = v.io_rsrc_node_alloc(w) else {
        return Err(Errno::ENOMEM);
    };

    let mut ret: Result<(), Errno> = Err(Errno::ENOMEM);
    'done: {
        match v.io_pin_pages(w, iov.iov_base, iov.iov_len) {
            Ok((p, n)) => {
                pages = Some(p);
                nr_pages = n;
            }
            Err(e) => {
                ret = Err(e);
                break 'done;
            }
        }
        let p = pages.as_mut().expect("set above");

        if nr_pages > 1 && v.io_check_coalesce_buffer(w, &p.pages.clone(), nr_pages, &mut data) {
            if data.nr_pages_mid != 1 {
                coalesced = v.io_coalesce_buffer(w, p, &mut nr_pages, &data);
            }
        }

        imu = v.io_alloc_imu(w, nr_pages);
        let Some(m) = imu else { break 'done };

        w.imu_mut(m).nr_bvecs = nr_pages as u32;
        ret = v.io_buffer_account_pin(w, &p.pages.clone(), nr_pages as usize, m, last_hpage);
        if ret.is_err() {
            // e1c75831f682:
            // -	if (ret) {
            // -		unpin_user_pages(pages, nr_pages);
            // +	if (ret)
            //  		goto done;
            // -	}
            if reverted == Reverted::PageLeak {
                unpin_folio_of_each(v, w, &p.pages.prefix(nr_pages));
            }
            break 'done;
        }

        let mut size = iov.iov_len;
        let page_shift = w.geo.page_shift;
        let page_mask = w.geo.page_mask();
        let u = w.imu_mut(m);
        u.ubuf = iov.iov_base;
        u.len = iov.iov_len;
        u.folio_shift = page_shift;
        u.release = crate::model::ImuRelease::Ubuf;
        u.flags = 0;
        u.dir = IO_IMU_DEST | IO_IMU_SOURCE;
        if coalesced {
            u.folio_shift = data.folio_shift;
        }
        u.refs = 1;

        let mut off = if reverted == Reverted::VaddrAlignment {
            // 3a3c6d61577d:
            // -	off = (unsigned long) iov->iov_base & ((1UL << imu->folio_shift) - 1);
            // +	off = (unsigned long)iov->iov_base & ~PAGE_MASK;
            // +	if (coalesced)
            // +		off += data.first_folio_page_idx << PAGE_SHIFT;
            iov.iov_base & ((1u64 << u.folio_shift) - 1)
        } else {
            let mut off = iov.iov_base & !page_mask;
            if coalesced {
                off += data.first_folio_page_idx << page_shift;
            }
            off
        };

        w.nodes.get_mut(&node).expect("node allocated above").buf = Some(m);
        ret = Ok(());

        let u = w.imu_mut(m);
        for i in 0..nr_pages as usize {
            let vec_len = size.min((1u64 << u.folio_shift) - off);
            u.bvec.set(
                i as u64,
                BioVec {
                    bv_page: p.pages.at(i as u64),
                    bv_len: vec_len,
                    bv_offset: off,
                },
            );
            off = 0;
            size -= vec_len;
        }
    }
    // done:
    let node = match ret {
        Ok(()) => Ok(Some(node)),
        Err(e) => {
            if let Some(m) = imu {
                v.io_free_imu(w, m);
            }
            if let Some(p) = &pages {
                let pinned = &p.pages.prefix(nr_pages);
                match reverted {
                    // e1c75831f682:
                    // +		if (pages)
                    // +			unpin_user_pages(pages, nr_pages);
                    Reverted::PageLeak => {}
                    // 5afb4bf9fc62:
                    // -		if (pages)
                    // -			unpin_user_pages(pages, nr_pages);
                    // +		if (pages) {
                    // +			for (i = 0; i < nr_pages; i++)
                    // +				unpin_user_folio(page_folio(pages[i]), 1);
                    // +		}
                    Reverted::FolioUnpinning => v.unpin_user_pages(w, pinned),
                    Reverted::VaddrAlignment => unpin_folio_of_each(v, w, pinned),
                }
            }
            w.io_cache_free(false, node);
            Err(e)
        }
    };
    if let Some(p) = pages {
        w.alloc.kvfree(p.id);
    }
    node
}
