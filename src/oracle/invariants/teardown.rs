//! `teardown`: after ring exit every folio's refcount and pincount are
//! back at their start, `locked_vm` and `pinned_vm` are 0, and no
//! allocation is live.

use super::{Fail, Fails, OpContext};
use crate::model::World;
use crate::variants::Variant;

/// In a reviewer's words: `regbuf-fuzz list`, `explain` and the mail quote it.
pub(super) const RULE: &str =
    "after ring exit every folio's refcount and pincount are back at their start, locked_vm and \
               pinned_vm are 0, and no allocation is live";

pub(super) fn check(_v: &dyn Variant, w: &mut World, c: &OpContext, out: &mut Fails) {
    if c.op.is_some() {
        return;
    }
    // Every folio that is off, each said the way it is off: above its
    // start a pin leaked, below it something unpinned more than it pinned.
    let off: Vec<String> = w
        .phys
        .folios()
        .iter()
        .enumerate()
        .filter(|(_, f)| (f.refcount, f.pincount) != (1, 0))
        .map(|(i, f)| {
            let how = if f.refcount < 1 || f.pincount < 0 {
                "over-unpinned: below its start"
            } else {
                "leaked pins"
            };
            format!(
                "folio {i} (pfn {:#x}, order {}) has refcount {} and pincount {} ({how})",
                f.head, f.order, f.refcount, f.pincount
            )
        })
        .collect();
    if !off.is_empty() {
        fail!(out, "pins", "after ring exit {}", off.join("; "));
    }
    if w.ctx.user.is_some_and(|u| u.locked_vm != 0) || w.ctx.pinned_vm != 0 {
        fail!(
            out,
            "accounting",
            "after ring exit locked_vm is {:?} and pinned_vm {}",
            w.ctx.user.map(|u| u.locked_vm as i64),
            w.ctx.pinned_vm as i64
        );
    }
    for (id, a) in w.alloc.live() {
        fail!(
            out,
            "leak",
            "after ring exit allocation {} from {} is still live",
            id.0,
            a.site
        );
    }
}
