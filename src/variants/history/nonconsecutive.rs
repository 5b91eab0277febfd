//! `pre-776617db78c6`: 7.1-rc1 without 776617db78c6 "io_uring/rsrc: check
//! for nonconsecutive pages" (CVE-2023-2598, v6.4-rc1).
//!
//! The fix made coalescing require consecutive pages, not only pages of
//! one folio: the same page or folio mapped at several adjacent addresses
//! gives a page array of one folio whose bvec then runs past it into
//! foreign memory. The check survives in 7.1 inside
//! `io_check_coalesce_buffer()` (a8edbb424b13 kept it), which is where it
//! is reverted here.

use super::Variant;
use crate::model::runs::Pages;
use crate::model::{IoImuFolioData, World};

/// 7.1-rc1 without the contiguity check of 776617db78c6.
#[derive(Debug)]
pub struct Pre776617db78c6;

impl Variant for Pre776617db78c6 {
    fn name(&self) -> &'static str {
        "pre-776617db78c6"
    }
    fn summary(&self) -> &'static str {
        "7.1-rc1 without 776617db78c6 (CVE-2023-2598): coalescing does not require consecutive pages"
    }
    fn io_check_coalesce_buffer(
        &self,
        w: &mut World,
        page_array: &Pages,
        nr_pages: u64,
        data: &mut IoImuFolioData,
    ) -> bool {
        io_check_coalesce_buffer(w, page_array, nr_pages, data)
    }
}

/// Model of `io_check_coalesce_buffer()` — io_uring/rsrc.c, 7.1-rc1, with
/// 776617db78c6's condition reverted.
/// (in 7.1's form: `page_folio(page_array.at(i as u64)) == folio &&
/// page_array.at(i as u64) == page_array[i-1] + 1` loses its second term).
fn io_check_coalesce_buffer(
    w: &mut World,
    page_array: &Pages,
    nr_pages: u64,
    data: &mut IoImuFolioData,
) -> bool {
    let phys = &w.phys;
    let work = &mut w.work;
    let Some(mut folio) = phys.page_folio(page_array.at(0 as u64)) else {
        return false;
    };
    let (mut count, mut nr_folios) = (1u64, 1u64);

    data.nr_pages_mid = phys.folio_nr_pages(folio);
    data.folio_shift = phys.folio_shift(&w.geo, folio);
    data.first_folio_page_idx = phys.folio_page_idx(folio, page_array.at(0 as u64));

    for i in 1..nr_pages as usize {
        work.check_coalesce += 1;
        if phys.page_folio(page_array.at(i as u64)) == Some(folio) {
            count += 1;
            continue;
        }

        if nr_folios == 1 {
            if phys.folio_page_idx(folio, page_array.at((i - 1) as u64)) != data.nr_pages_mid - 1 {
                return false;
            }
            data.nr_pages_head = count;
        } else if count != data.nr_pages_mid {
            return false;
        }

        let Some(next) = phys.page_folio(page_array.at(i as u64)) else {
            return false;
        };
        folio = next;
        if phys.folio_size(&w.geo, folio) != (1u64 << data.folio_shift)
            || phys.folio_page_idx(folio, page_array.at(i as u64)) != 0
        {
            return false;
        }

        count = 1;
        nr_folios += 1;
    }
    if nr_folios == 1 {
        data.nr_pages_head = count;
    }

    data.nr_folios = nr_folios;
    true
}
