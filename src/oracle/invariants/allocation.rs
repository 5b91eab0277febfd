//! `allocation`: every live allocation is owned by a ring (its buffer
//! table, a node, an imu, or a cache), every owned object is live, and
//! nothing is freed twice.

use super::{Fail, Fails, OpContext};
use crate::mm::AllocId;
use crate::model::World;
use crate::variants::Variant;
use std::collections::BTreeMap;

/// In a reviewer's words: `regbuf-fuzz list`, `explain` and the mail quote it.
pub(super) const RULE: &str = "every live allocation is owned by one of the task's rings (its buffer table, a node, an imu, or a cache), every \
               owned object is live, and nothing is freed twice";

pub(super) fn check(_v: &dyn Variant, w: &mut World, c: &OpContext, out: &mut Fails) {
    for v in c.alloc_violations {
        fail!(out, "double-free", "{v:?}");
    }
    let mut owned: BTreeMap<AllocId, &'static str> = BTreeMap::new();
    for (_, ctx) in w.rings() {
        if let Some(a) = ctx.buf_table.array {
            owned.insert(a, "buffer table");
        }
        for n in ctx.buf_table.nodes.iter().flatten() {
            owned.insert(*n, "node in the table");
            if let Some(imu) = w.nodes.get(n).and_then(|n| n.buf) {
                owned.insert(imu, "imu of an installed node");
            }
        }
        for n in ctx.inflight.iter().filter_map(|r| r.req.buf_node) {
            owned.entry(n).or_insert("node held by a request in flight");
            if let Some(imu) = w.nodes.get(&n).and_then(|n| n.buf) {
                owned.entry(imu).or_insert("imu of a node held in flight");
            }
        }
        for id in &ctx.node_cache.entries {
            owned.insert(*id, "node cache");
        }
        for id in &ctx.held_nodes {
            owned.insert(*id, "reference node");
        }
        for id in &ctx.held_bufs {
            owned.entry(*id).or_insert("buffer a reference node holds");
        }
        for id in &ctx.imu_cache.entries {
            owned.insert(*id, "imu cache");
        }
        for e in ctx.hpage_acct.values() {
            owned.insert(e.slot, "hpage_acct slot");
        }
    }
    for (id, a) in w.alloc.live() {
        if !owned.contains_key(id) {
            fail!(
                out,
                "leak",
                "allocation {} from {} is live but no ring owns it (leak)",
                id.0,
                a.site
            );
        }
    }
    for (id, what) in &owned {
        if !w.alloc.live().contains_key(id) {
            fail!(
                out,
                "use-after-free",
                "{what} {} is referenced but was freed (use after free)",
                id.0
            );
        }
    }
}
