//! `error_unwinds`: an operation that fails leaves pins, refcounts,
//! accounting and allocations as they were, and a failed allocation
//! surfaces as `-ENOMEM` (the `done:` path of `io_sqe_buffer_register`).

use super::{Before, Fail, Fails, OpContext};
use crate::model::{Errno, World};
use crate::scenario::ConcreteOp;
use crate::variants::Variant;

/// In a reviewer's words: `regbuf-fuzz list`, `explain` and the mail quote it.
pub(super) const RULE: &str = "an operation that fails leaves pins, refcounts, accounting and allocations as they were, and a \
               failed allocation surfaces as -ENOMEM (the done: path of io_sqe_buffer_register)";

// A wrong errno, a pin, a charge and an allocation left behind are each
// their own half-done unwind: all are looked at.
pub(super) fn check(_v: &dyn Variant, w: &mut World, c: &OpContext, out: &mut Fails) {
    let Some(op) = c.op else { return };
    let fatal_fault = c.faults_fired.iter().any(|s| !s.failure_is_tolerated());
    if c.ret >= 0 {
        return;
    }
    if fatal_fault && c.ret != Errno::ENOMEM.neg() as i64 {
        fail!(
            out,
            "errno",
            "an allocation failed but {} returned {} instead of -ENOMEM",
            kind(op),
            c.ret
        );
    }
    let now = Before::of(w);
    // A folio the operation made (a THP its pin split) was a page of an
    // unpinned one before: at the counters of a fresh page, (1, 0).
    let before = |i: usize| c.before.counters.get(i).copied().unwrap_or((1, 0));
    for i in (0..now.counters.len()).filter(|&i| now.counters[i] != before(i)) {
        fail!(
            out,
            "pins",
            "{} failed with {} but folio {i} went from (refcount, pincount) {:?} to {:?}",
            kind(op),
            c.ret,
            before(i),
            now.counters[i]
        );
    }
    if (now.locked_vm, now.pinned_vm, &now.hpage_refs)
        != (c.before.locked_vm, c.before.pinned_vm, &c.before.hpage_refs)
    {
        fail!(
            out,
            "accounting",
            "{} failed with {} but accounting (locked_vm/pinned_vm, hpage_acct) went from {:?}/{} {:?} to {:?}/{} {:?}",
            kind(op),
            c.ret,
            c.before.locked_vm,
            c.before.pinned_vm,
            c.before.hpage_refs,
            now.locked_vm,
            now.pinned_vm,
            now.hpage_refs
        );
    }
    let added: Vec<_> = now
        .live_uncached
        .difference(&c.before.live_uncached)
        .collect();
    if !added.is_empty() {
        fail!(
            out,
            "leak",
            "{} failed with {} and left {} allocation(s) behind",
            kind(op),
            c.ret,
            added.len()
        );
    }
}

fn kind(op: &ConcreteOp) -> &'static str {
    crate::run::op_kind(op)
}
