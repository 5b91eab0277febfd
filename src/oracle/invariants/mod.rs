//! Named invariants, each the kernel rule it protects, checked on one
//! variant after every operation (stateright's `Property::always`, with the
//! rule spelled out for the reviewer who reads the report). One file per
//! invariant, named after it; what they share lives here.

use crate::mm::phys::MmViolation;
use crate::mm::{AllocId, AllocSite};
use crate::model::iov_iter::PhysRange;
use crate::model::world::Event;
use crate::model::{IoRingCtx, World};
use crate::scenario::ConcreteOp;
use crate::variants::Variant;
use std::collections::{BTreeMap, BTreeSet};

/// What the ring looked like before an operation.
#[derive(Clone, Debug)]
pub struct Before {
    /// `(refcount, pincount)` of every folio.
    pub counters: Vec<(i64, i64)>,
    /// `user->locked_vm`.
    pub locked_vm: Option<u64>,
    /// `mm->pinned_vm`.
    pub pinned_vm: u64,
    /// Live allocations not parked in a cache.
    pub live_uncached: BTreeSet<AllocId>,
    /// `ctx->hpage_acct` references by ring and head page (7.2; empty
    /// under 7.1).
    pub hpage_refs: BTreeMap<(u32, crate::mm::Pfn), u64>,
}

impl Before {
    /// Captures `w`.
    pub fn of(w: &World) -> Self {
        Before {
            counters: w.phys.counters(),
            locked_vm: w.ctx.user.map(|u| u.locked_vm),
            pinned_vm: w.ctx.pinned_vm,
            live_uncached: live_uncached(w),
            hpage_refs: w
                .rings()
                .into_iter()
                .flat_map(|(r, c)| c.hpage_acct.iter().map(move |(&h, e)| ((r, h), e.count)))
                .collect(),
        }
    }
}

fn live_uncached(w: &World) -> BTreeSet<AllocId> {
    // 6.12's reference nodes are the ring's generations, which a failed
    // (interrupted) quiesce may swap: bookkeeping, not the operation's.
    let cached: BTreeSet<_> = w
        .rings()
        .into_iter()
        .flat_map(|(_, c)| {
            c.node_cache
                .entries
                .iter()
                .chain(&c.held_nodes)
                .chain(&c.imu_cache.entries)
        })
        .copied()
        .collect();
    w.alloc
        .live()
        .keys()
        .filter(|id| !cached.contains(id))
        .copied()
        .collect()
}

/// One operation's result, as the invariants see it.
#[derive(Debug)]
pub struct OpContext<'a> {
    /// The operation; `None` for ring teardown.
    pub op: Option<&'a ConcreteOp>,
    /// Its return value (`-errno` on failure).
    pub ret: i64,
    /// Physical ranges an explicit import touched.
    pub import: Option<&'a [PhysRange]>,
    /// State before it.
    pub before: &'a Before,
    /// Allocation sites the fault plan failed during it.
    pub faults_fired: &'a [AllocSite],
    /// Events recorded during it.
    pub events: &'a [Event],
    /// mm violations recorded during it.
    pub mm_violations: &'a [MmViolation],
    /// Ledger violations recorded during it.
    pub alloc_violations: &'a [crate::mm::alloc::AllocViolation],
}

/// A named invariant.
pub struct Invariant {
    /// Name used in findings and signatures.
    pub name: &'static str,
    /// The kernel rule it protects, in a reviewer's words.
    pub rule: &'static str,
    /// Adds to the collector every aspect of the rule it sees broken.
    pub check: fn(&dyn Variant, &mut World, &OpContext, &mut Fails),
}

impl Invariant {
    /// Every aspect of the rule broken on `c`'s operation, the primary first;
    /// empty when it holds.
    pub fn run(&self, v: &dyn Variant, w: &mut World, c: &OpContext) -> Vec<Fail> {
        let mut out = Fails::default();
        (self.check)(v, w, c, &mut out);
        out.0
    }
}

impl std::fmt::Debug for Invariant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// An invariant that did not hold.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    /// [`Invariant::name`].
    pub invariant: &'static str,
    /// Which part of the rule broke (`outside-pins`, `nr-segs`, …): part of
    /// the finding's signature, so that distinct bugs stay distinct.
    pub aspect: String,
    /// What was seen (the first time, when [`Violation::count`] is more).
    pub detail: String,
    /// How many times the check saw this aspect broken after the operation
    /// (folios, bvecs, probes, …).
    pub count: u32,
    /// The first aspect its invariant reported after the operation: the one
    /// a finding is made of. The others ride along with it
    /// ([`crate::oracle::Finding::also`]), so a second broken aspect is seen
    /// without changing which finding, and which signature, an operation
    /// gives.
    pub primary: bool,
}

/// How an invariant check fails: the aspect of the rule, and what was seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fail {
    /// See [`Violation::aspect`].
    pub aspect: String,
    /// See [`Violation::detail`].
    pub detail: String,
    /// See [`Violation::count`].
    pub count: u32,
}

impl Fail {
    /// A failure of `aspect`.
    pub fn new(aspect: &str, detail: String) -> Self {
        Fail {
            aspect: aspect.to_string(),
            detail,
            count: 1,
        }
    }

    /// The same failure seen `n` times (entries judged alike).
    pub fn times(mut self, n: u64) -> Self {
        self.count = u32::try_from(n).unwrap_or(u32::MAX);
        self
    }
}

/// What one check saw broken on one operation: one [`Fail`] per aspect, in
/// the order first seen. Each check looks in a fixed order, so the first
/// aspect of a state is always the same one, and the finding and signature
/// made of it are stable however many others come after it.
#[derive(Debug, Default)]
pub struct Fails(Vec<Fail>);

impl Fails {
    /// Records `f`; an aspect already recorded keeps its first detail and
    /// counts one more.
    pub fn push(&mut self, f: Fail) {
        match self.0.iter_mut().find(|x| x.aspect == f.aspect) {
            Some(x) => x.count += f.count,
            None => self.0.push(f),
        }
    }
}

impl std::fmt::Display for Fail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {}", self.aspect, self.detail)
    }
}

/// Records a failure of `$aspect` in `$out` with a formatted detail.
macro_rules! fail {
    ($out:expr, $aspect:expr, $($fmt:tt)*) => {
        $out.push(Fail::new($aspect, format!($($fmt)*)))
    };
}

// Below `fail!`: a macro_rules macro is in scope only after its definition.
pub mod accounting;
mod allocation;
mod coverage;
mod error_unwinds;
mod import;
mod import_kbuf;
mod kbuf;
mod layout;
mod no_warning;
mod oops;
mod pins;
pub mod spans;
mod teardown;
mod widths;

pub use accounting::pins_need;

/// Every invariant, in the order they are checked.
pub static INVARIANTS: &[Invariant] = &[
    Invariant {
        name: "coverage",
        rule: coverage::RULE,
        check: coverage::check,
    },
    Invariant {
        name: "layout",
        rule: layout::RULE,
        check: layout::check,
    },
    Invariant {
        name: "import",
        rule: import::RULE,
        check: import::check,
    },
    Invariant {
        name: "pins",
        rule: pins::RULE,
        check: pins::check,
    },
    Invariant {
        name: "accounting",
        rule: accounting::RULE,
        check: accounting::check,
    },
    Invariant {
        name: "error_unwinds",
        rule: error_unwinds::RULE,
        check: error_unwinds::check,
    },
    Invariant {
        name: "allocation",
        rule: allocation::RULE,
        check: allocation::check,
    },
    Invariant {
        name: "no_warning",
        rule: no_warning::RULE,
        check: no_warning::check,
    },
    Invariant {
        name: "widths",
        rule: widths::RULE,
        check: widths::check,
    },
    Invariant {
        name: "oops",
        rule: oops::RULE,
        check: oops::check,
    },
    Invariant {
        name: "kbuf",
        rule: kbuf::RULE,
        check: kbuf::check,
    },
    Invariant {
        name: "teardown",
        rule: teardown::RULE,
        check: teardown::check,
    },
];

/// The invariant called `name`.
pub fn by_name(name: &str) -> Option<&'static Invariant> {
    INVARIANTS.iter().find(|i| i.name == name)
}

/// A slot of one of the task's rings, as reports name it: `3`, or `3 of
/// ring 1`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Slot {
    /// The ring.
    pub ring: u32,
    /// The slot in its table (past the table: a buffer only a request in
    /// flight holds).
    pub index: usize,
}

impl std::fmt::Display for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.ring {
            0 => write!(f, "{}", self.index),
            r => write!(f, "{} of ring {r}", self.index),
        }
    }
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// Ring 0's installed buffers: `(slot, imu)` for every table slot holding
/// one.
pub fn installed(w: &World) -> Vec<(usize, AllocId)> {
    table_buffers(w, &w.ctx)
}

/// `(slot, imu)` for every slot of `ctx`'s table holding a buffer.
pub fn table_buffers(w: &World, ctx: &IoRingCtx) -> Vec<(usize, AllocId)> {
    ctx.buf_table
        .nodes
        .iter()
        .enumerate()
        .filter_map(|(i, n)| Some((i, w.nodes.get(&(*n)?)?.buf?)))
        .collect()
}

/// Every ring's installed buffers, each `io_mapped_ubuf` once (a clone
/// shares it): what the checks of a buffer's bytes and layout look at.
pub fn buffers(w: &World) -> Vec<(Slot, AllocId)> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (ring, ctx) in w.rings() {
        for (index, imu) in table_buffers(w, ctx) {
            if seen.insert(imu) {
                out.push((Slot { ring, index }, imu));
            }
        }
    }
    out
}

/// Every buffer that holds pins, each once: [`ring_buffers`] of every
/// ring, a buffer that two nodes share (a clone) counted at its first.
/// A buffer's pins, charge and allocations last as long as any node.
pub fn live_buffers(w: &World) -> Vec<(Slot, AllocId)> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (ring, _) in w.rings() {
        for (slot, imu) in ring_buffers(w, ring) {
            if seen.insert(imu) {
                out.push((slot, imu));
            }
        }
    }
    out
}

/// The buffers ring `ring`'s nodes hold, one entry per node: its table's,
/// then `nr + k` for a buffer only the `k`-th request in flight still
/// holds (dropped from the table by an update or unregister).
pub fn ring_buffers(w: &World, ring: u32) -> Vec<(Slot, AllocId)> {
    let ctx = w.rings()[ring as usize].1;
    let slot = |index| Slot { ring, index };
    let mut out: Vec<_> = table_buffers(w, ctx)
        .into_iter()
        .map(|(i, imu)| (slot(i), imu))
        .collect();
    let in_table: BTreeSet<AllocId> = ctx.buf_table.nodes.iter().flatten().copied().collect();
    let mut seen = BTreeSet::new();
    let nr = ctx.buf_table.nr();
    for (k, r) in ctx.inflight.iter().enumerate() {
        let Some(node) = r.req.buf_node else { continue };
        if in_table.contains(&node) || !seen.insert(node) {
            continue;
        }
        if let Some(imu) = w.nodes.get(&node).and_then(|n| n.buf) {
            out.push((slot(nr + k), imu));
        }
    }
    // 6.12's design: a buffer queued for removal is held by its generation.
    let base = nr + ctx.inflight.len();
    for (k, &node) in ctx.held_bufs.iter().enumerate() {
        if in_table.contains(&node) || !seen.insert(node) {
            continue;
        }
        if let Some(imu) = w.nodes.get(&node).and_then(|n| n.buf) {
            out.push((slot(base + k), imu));
        }
    }
    out
}

/// The request of a kernel buffer (its release is the driver's callback,
/// `imu->priv` the request), or `None` for a user buffer.
pub fn kbuf_request(w: &World, imu: AllocId) -> Option<&crate::model::kbuf::BlkRequest> {
    w.kbuf_rqs.get(w.imu(imu).kbuf_rq()? as usize)
}

/// Whether a buffer holds pins: a user buffer's release unpins the folio
/// of every bvec (`io_release_ubuf`); a kernel buffer's gives the request,
/// which holds its pages, back to the driver.
pub fn holds_pins(w: &World, imu: AllocId) -> bool {
    w.imu(imu).kbuf_rq().is_none()
}

/// At most six ranges, then how many there are: a buffer of thousands of
/// small pages still gives a detail one can read.
fn fmt_ranges(r: &[PhysRange]) -> String {
    let parts: Vec<String> = r
        .iter()
        .take(6)
        .map(|(a, l)| format!("{a:#x}+{l:#x}"))
        .collect();
    let more = if r.len() > 6 {
        format!(" … ({} ranges)", r.len())
    } else {
        String::new()
    };
    format!("[{}]{more}", parts.join(", "))
}

/// Every event `site_of` picks, as a failure whose aspect is the function
/// the site names (`function: what`): two functions are two aspects, so
/// two distinct bugs on one operation stay distinct.
fn every_site(c: &OpContext, site_of: fn(&Event) -> Option<&String>, what: &str, out: &mut Fails) {
    for site in c.events.iter().filter_map(site_of) {
        out.push(Fail::new(
            site.split(':').next().unwrap_or(site).trim(),
            format!("{what}: {site}"),
        ));
    }
}
