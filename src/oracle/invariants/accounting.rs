//! `accounting`: `locked_vm` and `pinned_vm` equal what the version's own
//! bookkeeping says the live buffers charged, and a ring charged to a user
//! has charged at least what its buffers' pins need
//! (`uncharged-pins`: 7.1's `headpage_already_acct` bypass of
//! RLIMIT_MEMLOCK).

use super::{live_buffers, Fail, Fails, OpContext};
use crate::mm::FolioId;
use crate::model::World;
use crate::variants::Variant;
use std::collections::{BTreeMap, BTreeSet};

/// In a reviewer's words: `regbuf-fuzz list`, `explain` and the mail quote it.
pub(super) const RULE: &str = "user->locked_vm equals what the version's bookkeeping says the live buffers (installed, or held by a request in flight) charged (7.1: the \
               sum of their acct_pages; 7.2: the ctx->hpage_acct huge pages and the order-0 entries) plus the \
               ring's own regions (io_create_region), and mm->pinned_vm equals that sum (io_buffer_account_pin \
               charges, io_buffer_unmap uncharges the same amount); and while live buffers pin pages, a ring \
               charged to a user (RLIMIT_MEMLOCK applies) has at least what those pins need charged to locked_vm \
               beyond its own regions and to pinned_vm: every compound folio an installed buffer pins, whole, \
               once, and every distinct order-0 page once (uncharged-pins: 7.1's headpage_already_acct bypass)";

// The books first, then uncharged-pins whatever they show: a version whose
// books are off can leave pins uncharged as well.
pub(super) fn check(v: &dyn Variant, w: &mut World, _c: &OpContext, out: &mut Fails) {
    match v.accounted_pages(w) {
        Err(d) => out.push(Fail::new("bookkeeping", d)),
        Ok(sum) => {
            if let Some(u) = w.ctx.user {
                if u.locked_vm != sum + w.ctx.region_pages {
                    fail!(
                        out,
                        "locked-vm",
                        "locked_vm is {} pages, live buffers account {sum}",
                        u.locked_vm as i64
                    );
                }
            }
            if w.ctx.pinned_vm != sum {
                fail!(
                    out,
                    "pinned-vm",
                    "pinned_vm is {} pages, live buffers account {sum}",
                    w.ctx.pinned_vm as i64
                );
            }
        }
    }
    uncharged_pins(w, out);
}

/// What the installed buffers' pins need charged, in pages: every compound
/// folio any of them pins, whole and once, and every distinct order-0 page
/// once. Also each such folio with the slots that pin it, for reports.
pub fn pins_need(w: &World) -> (u64, BTreeMap<FolioId, BTreeSet<usize>>) {
    let mut folios: BTreeMap<FolioId, BTreeSet<usize>> = BTreeMap::new();
    let mut small = BTreeSet::new();
    for (slot, imu) in live_buffers(w) {
        for b in w.imu(imu).bvecs().flatten() {
            let Some(f) = w.phys.page_folio(b.bv_page) else {
                continue;
            };
            if w.phys.folio(f).order > 0 {
                folios.entry(f).or_default().insert(slot);
            } else {
                small.insert(b.bv_page);
            }
        }
    }
    let huge: u64 = folios.keys().map(|&f| w.phys.folio_nr_pages(f)).sum();
    (huge + small.len() as u64, folios)
}

/// `accounting/uncharged-pins`: a ring charged to a user holds at least
/// [`pins_need`] in `locked_vm` (beyond its own regions) and in
/// `pinned_vm`. A ring without a user (CAP_IPC_LOCK) owes no charge.
fn uncharged_pins(w: &World, out: &mut Fails) {
    let Some(u) = w.ctx.user else { return };
    let locked = u.locked_vm.wrapping_sub(w.ctx.region_pages) as i64;
    let pinned = w.ctx.pinned_vm as i64;
    let (need, folios) = pins_need(w);
    if locked >= need as i64 && pinned >= need as i64 {
        return;
    }
    let held: Vec<String> = folios
        .iter()
        .take(4)
        .map(|(f, slots)| {
            let fo = w.phys.folio(*f);
            format!(
                "folio {} (pfn {:#x}, {} pages) pinned by slot(s) {slots:?}",
                f.0,
                fo.head,
                1u64 << fo.order
            )
        })
        .collect();
    fail!(
        out,
        "uncharged-pins",
        "live buffers pin {need} pages' worth ({}) but locked_vm charges {locked} beyond the ring's own {} \
         and pinned_vm {pinned}: RLIMIT_MEMLOCK no longer limits what this ring pins",
        if held.is_empty() {
            "order-0 pages only".to_string()
        } else {
            held.join("; ")
        },
        w.ctx.region_pages
    );
}
