//! The callbacks the compiled kernel C calls for everything outside its
//! two files: allocation, GUP and unpinning, folio facts, WARN, user copies.
//! Each is served by the simulated machine of the run in progress, so the C
//! meets the same memory, the same fault plan and the same ledger as the
//! Rust model.
//!
//! A call into the C is made through [`enter`], which publishes the machine
//! and the run's pointer maps to these callbacks for the call's duration on
//! this thread. Campaign workers each run their own scenarios, so nothing
//! here is shared between threads.

use super::guard::Heap;
use crate::mm::alloc::AllocViolation;
use crate::mm::gup;
use crate::mm::phys::MmViolation;
use crate::mm::{AllocId, AllocSite, Allocator, FolioId, Pfn};
use crate::model::World;
use std::cell::Cell;
use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_long, c_uint, c_ulong, c_void, CStr};

/// The C side's `struct rf_callbacks`, field for field.
#[repr(C)]
pub struct RfCallbacks {
    alloc: extern "C" fn(usize, c_uint, *const c_char, c_int) -> *mut c_void,
    free: extern "C" fn(*const c_void),
    warn: extern "C" fn(*const c_char, *const c_char),
    pin_pages: extern "C" fn(c_ulong, c_long, c_uint, *mut c_ulong) -> c_long,
    unpin_pfns: extern "C" fn(*const c_ulong, c_ulong, *const c_char),
    unpin_folio: extern "C" fn(c_ulong, c_ulong),
    compound_head: extern "C" fn(c_ulong) -> c_ulong,
    folio_order: extern "C" fn(c_ulong) -> c_uint,
    folio_hugetlb: extern "C" fn(c_ulong) -> c_int,
    copy_from_user_faults: extern "C" fn() -> c_int,
    rlimit_memlock: extern "C" fn() -> c_ulong,
}

/// The table handed to every loaded object.
pub static CALLBACKS: RfCallbacks = RfCallbacks {
    alloc: cb_alloc,
    free: cb_free,
    warn: cb_warn,
    pin_pages: cb_pin_user_pages_fast,
    unpin_pfns: cb_unpin_pfns,
    unpin_folio: cb_unpin_folio,
    compound_head: cb_compound_head,
    folio_order: cb_folio_order,
    folio_hugetlb: cb_folio_hugetlb,
    copy_from_user_faults: cb_copy_from_user_faults,
    rlimit_memlock: cb_rlimit_memlock,
};

/// `allocator` as the shim passes it (`enum rf_allocator`).
const RF_KVMALLOC: c_int = 0;
const RF_CACHE: c_int = 2;
const RF_XA: c_int = 3;
const GFP_NOWARN: c_uint = 0x200;

/// The ledger site of an allocation made by `caller`: the same sites the
/// Rust model has, so fault plans mean the same call in both. Allocations
/// the model does not ledger (an import's iovec array) have none.
pub fn site_of(caller: &str, allocator: c_int, user_bufs: bool) -> Option<AllocSite> {
    if user_bufs {
        // 6.12: the table is user_bufs; io_rsrc_data_alloc's struct and
        // tag pages have no counterpart in the model's design.
        match caller {
            "io_buffers_map_alloc" => return Some(AllocSite::RsrcDataAlloc),
            "io_rsrc_data_alloc" | "io_alloc_page_table" => return None,
            "io_do_coalesce_buffer" => return Some(AllocSite::CoalesceNewArray),
            _ => {}
        }
    }
    Some(match (caller, allocator) {
        ("io_rsrc_data_alloc", _) => AllocSite::RsrcDataAlloc,
        ("io_rsrc_node_alloc", _) => AllocSite::RsrcNodeAlloc,
        ("io_pin_pages" | "io_pin_pages_alloc", _) => AllocSite::PinPagesArray,
        ("io_pin_pages_fast_path", _) => AllocSite::FastPathArray,
        ("io_coalesce_buffer", _) => AllocSite::CoalesceNewArray,
        ("io_alloc_imu", RF_CACHE) => AllocSite::ImuCache,
        ("io_alloc_imu" | "io_sqe_buffer_register", _) => AllocSite::ImuKvmalloc,
        (_, RF_XA) => AllocSite::XaReserve,
        _ => return None,
    })
}

/// What a run of compiled C owns besides the machine: the objects it
/// allocated, by address and by ledger id.
#[derive(Debug, Default)]
pub struct Objects {
    /// Ledgered objects: address to id.
    pub ids: HashMap<usize, AllocId>,
    /// Ledgered objects: id to address.
    pub ptrs: HashMap<AllocId, usize>,
    /// Objects the model does not ledger, with their size and caller.
    pub unledgered: HashMap<usize, (usize, String)>,
    /// Addresses freed, with the id they had: a second free is a double free.
    pub freed: HashMap<usize, AllocId>,
    /// Where all of them live.
    pub heap: Heap,
    /// The tree is of 6.12's design ([`site_of`]).
    pub user_bufs: bool,
}

impl Objects {
    /// Frees every object still held (the run is over; leaks were judged).
    pub fn release_all(&mut self) {
        self.heap.release_all();
        *self = Objects {
            user_bufs: self.user_bufs,
            ..Objects::default()
        };
    }
}

struct Current {
    w: *mut World,
    objects: *mut Objects,
}

thread_local! {
    static CURRENT: Cell<Option<Current>> = const { Cell::new(None) };
}

/// Runs `f` (a call into the C) with `w` and `objects` serving its callbacks.
pub fn enter<R>(w: &mut World, objects: &mut Objects, f: impl FnOnce() -> R) -> R {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            CURRENT.with(|c| c.set(None));
        }
    }
    CURRENT.with(|c| {
        c.set(Some(Current {
            w: w as *mut World,
            objects: objects as *mut Objects,
        }))
    });
    let _reset = Reset;
    f()
}

fn with<R>(f: impl FnOnce(&mut World, &mut Objects) -> R) -> R {
    CURRENT.with(|c| {
        let cur = c.take().expect("kernel C called back outside a run");
        // SAFETY: `enter` holds both exclusively for the duration of the C
        // call, and the C is single-threaded; the references end here.
        let r = unsafe { f(&mut *cur.w, &mut *cur.objects) };
        c.set(Some(cur));
        r
    })
}

fn text(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

extern "C" fn cb_alloc(
    size: usize,
    gfp: c_uint,
    caller: *const c_char,
    allocator: c_int,
) -> *mut c_void {
    let caller = text(caller);
    with(|w, o| {
        let Some(site) = site_of(&caller, allocator, o.user_bufs) else {
            let p = o.heap.alloc(size, &caller);
            o.unledgered.insert(p as usize, (size, caller.clone()));
            o.freed.remove(&(p as usize));
            return p;
        };
        let kind = if allocator == RF_KVMALLOC {
            Allocator::Kvmalloc
        } else {
            Allocator::Kmalloc
        };
        let Some(id) = w.alloc_call_gfp(kind, site, size as u64, gfp & GFP_NOWARN != 0) else {
            return std::ptr::null_mut();
        };
        // Always zeroed (so __GFP_ZERO holds too): a never-written bvec
        // slot then reads as one, bv_page NULL, to the mirror.
        let p = o.heap.alloc(size, &caller);
        o.ids.insert(p as usize, id);
        o.ptrs.insert(id, p as usize);
        o.freed.remove(&(p as usize));
        p
    })
}

extern "C" fn cb_free(p: *const c_void) {
    if p.is_null() {
        return;
    }
    let a = p as usize;
    with(|w, o| {
        if let Some(id) = o.ids.remove(&a) {
            o.ptrs.remove(&id);
            w.alloc.kvfree(id);
            o.freed.insert(a, id);
            o.heap.free(a);
        } else if o.unledgered.remove(&a).is_some() {
            o.heap.free(a);
        } else {
            let id = o.freed.get(&a).map_or(a as u64, |i| i.0);
            w.alloc.violations.push(AllocViolation::DoubleFree { id });
        }
    })
}

extern "C" fn cb_warn(func: *const c_char, cond: *const c_char) {
    let site = format!("{}: {}", text(func), text(cond));
    with(|w, _| {
        w.warn_on_once(true, &site);
    })
}

extern "C" fn cb_pin_user_pages_fast(
    start: c_ulong,
    nr: c_long,
    flags: c_uint,
    out: *mut c_ulong,
) -> c_long {
    with(|w, _| {
        let fault = w.alloc.gup_call();
        let mut pages = crate::model::runs::Pages::new();
        let nr = nr.max(0) as u64;
        match gup::pin_user_pages_fast(
            &w.geo,
            &mut w.aspace,
            &mut w.phys,
            start,
            nr,
            flags,
            &mut pages,
            fault,
        ) {
            Ok(n) => {
                let dst = unsafe { std::slice::from_raw_parts_mut(out, n as usize) };
                for (d, p) in dst.iter_mut().zip(pages.iter()) {
                    *d = p as c_ulong;
                }
                n as c_long
            }
            Err(e) => e.neg() as c_long,
        }
    })
}

extern "C" fn cb_unpin_pfns(pfns: *const c_ulong, n: c_ulong, caller: *const c_char) {
    let caller = text(caller);
    let pfns: Vec<Pfn> = unsafe { std::slice::from_raw_parts(pfns, n as usize) }
        .iter()
        .map(|&p| p as Pfn)
        .collect();
    with(|w, _| {
        if caller == "unpin_user_page" {
            for &p in &pfns {
                gup::unpin_user_page(&mut w.phys, p, &caller);
            }
        } else {
            gup::unpin_user_pages(&mut w.phys, &pfns.iter().copied().collect());
        }
    })
}

fn folio_of(w: &World, pfn: Pfn) -> Option<FolioId> {
    w.phys.page_folio(pfn)
}

extern "C" fn cb_unpin_folio(head: c_ulong, npages: c_ulong) {
    with(|w, _| match folio_of(w, head as Pfn) {
        Some(f) => gup::unpin_user_folio(&mut w.phys, f, npages as u64),
        None => w.phys.violations.push(MmViolation::NotAFolioPage {
            pfn: head as Pfn,
            caller: "unpin_user_folio".into(),
        }),
    })
}

extern "C" fn cb_compound_head(pfn: c_ulong) -> c_ulong {
    with(|w, _| w.phys.compound_head(pfn as Pfn) as c_ulong)
}

extern "C" fn cb_folio_order(head: c_ulong) -> c_uint {
    with(|w, _| folio_of(w, head as Pfn).map_or(0, |f| w.phys.folio(f).order))
}

extern "C" fn cb_folio_hugetlb(head: c_ulong) -> c_int {
    with(|w, _| folio_of(w, head as Pfn).is_some_and(|f| w.phys.folio_test_hugetlb(f)) as c_int)
}

extern "C" fn cb_copy_from_user_faults() -> c_int {
    with(|w, _| w.alloc.copy_from_user_call() as c_int)
}

extern "C" fn cb_rlimit_memlock() -> c_ulong {
    with(|w, _| w.ctx.user.map_or(u64::MAX, |u| u.rlimit_memlock) as c_ulong)
}
