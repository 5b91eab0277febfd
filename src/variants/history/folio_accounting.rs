//! `pre-d2acf789088b`: 7.1-rc1 without d2acf789088b "io_uring/rsrc: fix
//! folio accounting" (v6.3-rc3; reported by syzkaller as "BUG: Bad page
//! state … nonzero pincount").
//!
//! Coalescing keeps one pin per folio and drops the rest. 57bebf807e2a
//! dropped them with `folio_put_refs()`, which lowers the refcount but not
//! `_pincount`, so the folio is freed with pins still counted. The fix
//! became `unpin_user_pages(&pages[1], …)`, then (2025 clean-up)
//! `unpin_user_folio(folio, nr - 1)` in `io_coalesce_buffer()`, which is
//! where it is reverted here.

use super::Variant;
use crate::mm::AllocSite;
use crate::model::runs::Pages;
use crate::model::world::PageArray;
use crate::model::{IoImuFolioData, World};

/// 7.1-rc1 with coalescing's surplus pins dropped by `folio_put_refs()`.
#[derive(Debug)]
pub struct PreD2acf789088b;

impl Variant for PreD2acf789088b {
    fn name(&self) -> &'static str {
        "pre-d2acf789088b"
    }
    fn summary(&self) -> &'static str {
        "7.1-rc1 without d2acf789088b: coalescing drops surplus pins with folio_put_refs(), leaving _pincount"
    }
    fn io_coalesce_buffer(
        &self,
        w: &mut World,
        pages: &mut PageArray,
        nr_pages: &mut u64,
        data: &IoImuFolioData,
    ) -> bool {
        io_coalesce_buffer(w, pages, nr_pages, data)
    }
}

/// Model of `io_coalesce_buffer()` — io_uring/rsrc.c, 7.1-rc1, with
/// d2acf789088b's hunk reverted (in 7.1's form).
fn io_coalesce_buffer(
    w: &mut World,
    pages: &mut PageArray,
    nr_pages: &mut u64,
    data: &IoImuFolioData,
) -> bool {
    let page_array = &pages.pages;
    let mut nr_pages_left = *nr_pages;
    let nr_folios = data.nr_folios;

    let Some(new_id) = w.kvmalloc_array(
        AllocSite::CoalesceNewArray,
        nr_folios,
        crate::model::sizeof::PAGE_PTR,
    ) else {
        return false;
    };
    let mut new_array = Pages::new();

    let mut j = 0u64;
    for i in 0..nr_folios {
        w.work.coalesce += 1;
        let p = w.phys.compound_head(page_array.at(j));
        let folio = w.phys.page_folio(p);

        w.warn_on_once(
            i > 0 && p != page_array.at(j),
            "io_coalesce_buffer: i > 0 && p != page_array.at(j as u64)",
        );

        let nr = if i > 0 {
            data.nr_pages_mid
        } else {
            data.nr_pages_head
        };
        let nr = nr.min(nr_pages_left);
        if nr > 1 {
            if let Some(folio) = folio {
                w.phys.folio_put_refs(folio, nr as i64 - 1);
            }
        }
        j += nr;
        nr_pages_left -= nr;
        new_array.push(p);
    }

    w.warn_on_once(j != *nr_pages, "io_coalesce_buffer: j != *nr_pages");

    w.alloc.kvfree(pages.id);
    *pages = PageArray {
        id: new_id,
        pages: new_array,
    };
    *nr_pages = nr_folios;
    true
}
