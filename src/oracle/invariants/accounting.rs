//! `accounting`: `locked_vm` and `pinned_vm` equal what the version's own
//! bookkeeping says the live buffers charged, and a ring charged to a user
//! has charged at least what its buffers' pins need
//! (`uncharged-pins`: 7.1's `headpage_already_acct` bypass of
//! RLIMIT_MEMLOCK); and, without asking the version's bookkeeping, what
//! its rule allows for those pins (`over-charged`, `under-charged`).

use super::spans::bvec_spans;
use super::{holds_pins, live_buffers, ring_buffers, Fail, Fails, OpContext, Slot};
use crate::mm::{FolioId, Pfn};
use crate::model::World;
use crate::variants::{AccountingRule, Variant};
use std::collections::{BTreeMap, BTreeSet};

/// In a reviewer's words: `regbuf-fuzz list`, `explain` and the mail quote it.
pub(super) const RULE: &str = "user->locked_vm equals what the version's bookkeeping says the live buffers (installed, or held by a request in flight) charged (7.1: the \
               sum of their acct_pages; 7.2: the ctx->hpage_acct huge pages and the order-0 entries) plus the \
               ring's own regions (io_create_region), and mm->pinned_vm equals that sum (io_buffer_account_pin \
               charges, io_buffer_unmap uncharges the same amount); and while live buffers pin pages, a ring \
               charged to a user (RLIMIT_MEMLOCK applies) has at least what those pins need charged to locked_vm \
               beyond its own regions and to pinned_vm: every compound folio an installed buffer pins, whole, \
               once, and every distinct order-0 page once (uncharged-pins: 7.1's headpage_already_acct bypass); and, \
               computed from the pins alone, what the version's rule allows: 7.2 exactly every compound folio a \
               live buffer pins once per ring and every order-0 entry, nothing for a ring without a user; 7.1 \
               at most each buffer's compound folios whole and its order-0 entries (over-charged, under-charged)";

// The books first, then uncharged-pins whatever they show: a version whose
// books are off can leave pins uncharged as well.
// While a clone shares a buffer, 7.2's books do not say what the user is
// charged: a clone takes references and charges nothing, and which ring
// uncharges depends on which drops the buffer last. The rule's bounds
// still apply.
pub(super) fn check(v: &dyn Variant, w: &mut World, _c: &OpContext, out: &mut Fails) {
    let shared = live_buffers(w).iter().any(|&(_, imu)| w.imu(imu).refs > 1);
    let books = match v.accounted_pages(w) {
        Ok(_) if shared && v.accounting_rule() == AccountingRule::PerRing => Ok(None),
        r => r.map(Some),
    };
    match books {
        Err(d) => out.push(Fail::new("bookkeeping", d)),
        Ok(None) => {}
        Ok(Some(sum)) => {
            if let Some(u) = w.ctx.user {
                if u.locked_vm != sum + w.region_pages() {
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
    by_rule(v.accounting_rule(), w, out);
}

/// What the version's rule allows the live buffers' pins to be charged:
/// `(least, most)` pages, from the pins alone. With several rings, 7.2
/// charges a folio once for each ring that registered a buffer on it and
/// nothing for a clone, so the charge lies between every folio once and
/// once per ring that holds it.
pub fn rule_bounds(rule: AccountingRule, w: &World) -> (u64, u64) {
    let mut all: BTreeSet<FolioId> = BTreeSet::new();
    let (mut order0, mut per_buffer) = (0u64, 0u64);
    for (_, imu) in live_buffers(w) {
        let mine = compound_folios(w, imu, &mut order0);
        per_buffer += mine.iter().map(|&f| w.phys.folio_nr_pages(f)).sum::<u64>();
        all.extend(mine);
    }
    let pages =
        |set: &BTreeSet<FolioId>| -> u64 { set.iter().map(|&f| w.phys.folio_nr_pages(f)).sum() };
    let per_ring: u64 = (0..w.nr_rings())
        .map(|r| {
            let mut ring = BTreeSet::new();
            for (_, imu) in ring_buffers(w, r) {
                ring.extend(compound_folios(w, imu, &mut 0));
            }
            pages(&ring)
        })
        .sum();
    match rule {
        AccountingRule::PerRing => (order0 + pages(&all), order0 + per_ring),
        // Below every folio once is 7.1's bypass, which uncharged-pins reports.
        AccountingRule::PerBuffer => (0, order0 + per_buffer),
    }
}

/// The compound folios `imu`'s bvecs pin; its order-0 entries are added
/// to `order0`. A kernel buffer pins none.
fn compound_folios(w: &World, imu: crate::mm::AllocId, order0: &mut u64) -> BTreeSet<FolioId> {
    let mut mine = BTreeSet::new();
    if !holds_pins(w, imu) {
        return mine;
    }
    for s in bvec_spans(w, imu).iter().filter(|s| s.written) {
        for (_, k, f) in s.folio_pieces(w) {
            let Some(f) = f else { continue };
            if w.phys.folio(f).order > 0 {
                mine.insert(f);
            } else {
                *order0 += k;
            }
        }
    }
    mine
}

/// `accounting/over-charged` and `under-charged`: `locked_vm` (beyond the
/// ring's regions) and `pinned_vm` against [`rule_bounds`], computed from
/// the pins without the version's bookkeeping, so a change that charges
/// the same wrong amount on every path is still seen.
fn by_rule(rule: AccountingRule, w: &World, out: &mut Fails) {
    let (least, most) = rule_bounds(rule, w);
    let mut counters = vec![("pinned_vm", w.ctx.pinned_vm)];
    match (w.ctx.user, rule) {
        (Some(u), _) => counters.push(("locked_vm", u.locked_vm.wrapping_sub(w.region_pages()))),
        // 7.2 charges a ring without a user nothing at all.
        (None, AccountingRule::PerRing) => {
            if w.ctx.pinned_vm != 0 {
                fail!(
                    out,
                    "over-charged",
                    "pinned_vm is {} pages for a ring without a user, which this version's rule charges nothing",
                    w.ctx.pinned_vm
                );
            }
            return;
        }
        (None, AccountingRule::PerBuffer) => {}
    }
    for (name, got) in counters {
        if got > most {
            fail!(
                out,
                "over-charged",
                "{name} charges {got} pages for the live buffers' pins; this version's rule ({rule:?}) \
                 allows at most {most}"
            );
        } else if got < least {
            fail!(
                out,
                "under-charged",
                "{name} charges {got} pages for the live buffers' pins; this version's rule ({rule:?}) \
                 needs {least}"
            );
        }
    }
}

/// What the installed buffers' pins need charged, in pages: every compound
/// folio any of them pins, whole and once, and every distinct order-0 page
/// once. Also each such folio with the slots that pin it, for reports.
pub fn pins_need(w: &World) -> (u64, BTreeMap<FolioId, BTreeSet<Slot>>) {
    let mut folios: BTreeMap<FolioId, BTreeSet<Slot>> = BTreeMap::new();
    let mut small: Vec<(Pfn, u64)> = Vec::new();
    for (slot, imu) in live_buffers(w)
        .into_iter()
        .filter(|&(_, m)| holds_pins(w, m))
    {
        for s in bvec_spans(w, imu).iter().filter(|s| s.written) {
            for (o, k, f) in s.folio_pieces(w) {
                let Some(f) = f else { continue };
                if w.phys.folio(f).order > 0 {
                    folios.entry(f).or_default().insert(slot);
                } else {
                    small.push((s.page + o, k));
                }
            }
        }
    }
    let huge: u64 = folios.keys().map(|&f| w.phys.folio_nr_pages(f)).sum();
    (huge + distinct_pages(small), folios)
}

/// How many distinct pages the runs `(pfn, n)` cover.
fn distinct_pages(mut runs: Vec<(Pfn, u64)>) -> u64 {
    runs.sort_unstable();
    let (mut total, mut end) = (0u64, 0u64);
    for (p, n) in runs {
        let from = p.max(end);
        if p + n > from {
            total += p + n - from;
        }
        end = end.max(p + n);
    }
    total
}

/// `accounting/uncharged-pins`: a ring charged to a user holds at least
/// [`pins_need`] in `locked_vm` (beyond its own regions) and in
/// `pinned_vm`. A ring without a user (CAP_IPC_LOCK) owes no charge.
fn uncharged_pins(w: &World, out: &mut Fails) {
    let Some(u) = w.ctx.user else { return };
    let locked = u.locked_vm.wrapping_sub(w.region_pages()) as i64;
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
        w.region_pages()
    );
}
