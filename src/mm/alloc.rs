//! Kernel allocations: a ledger of every live object and who owns it, and the
//! fault plan that decides which allocation calls fail.
//!
//! The plan follows wasmtime's `OomTest`: run once to count the calls, then
//! fail call i for every i. For differential runs, where two variants make
//! different numbers of calls, a fault can instead name a site and the n-th
//! call at that site, so both sides lose the same allocation.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A kernel allocation site on the registration path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AllocSite {
    /// `io_rsrc_data_alloc()`: the buffer table's node array.
    RsrcDataAlloc,
    /// `io_rsrc_node_alloc()` when the node cache is empty.
    RsrcNodeAlloc,
    /// `io_pin_pages()` (7.1) / `io_pin_pages_alloc()` (RFC): the page array.
    PinPagesArray,
    /// RFC v1 `io_pin_pages_fast_path()`: the one-entry array.
    FastPathArray,
    /// `io_coalesce_buffer()`: the head-page array.
    CoalesceNewArray,
    /// `io_alloc_imu()` for at most 32 bvecs, when the imu cache is empty.
    ImuCache,
    /// `io_alloc_imu()` for more than 32 bvecs (`kvmalloc_flex`).
    ImuKvmalloc,
    /// 7.2 `hpage_acct_ref()`: `xa_reserve()` of a huge page's slot in
    /// `ctx->hpage_acct`, on its first reference.
    XaReserve,
}

impl AllocSite {
    /// Every site, in the order the registration path reaches them.
    pub const ALL: [AllocSite; 8] = [
        AllocSite::RsrcDataAlloc,
        AllocSite::RsrcNodeAlloc,
        AllocSite::PinPagesArray,
        AllocSite::FastPathArray,
        AllocSite::CoalesceNewArray,
        AllocSite::ImuCache,
        AllocSite::ImuKvmalloc,
        AllocSite::XaReserve,
    ];

    /// Whether the kernel survives a failure here without returning an error
    /// (it continues uncoalesced, or without the fast path).
    pub fn failure_is_tolerated(self) -> bool {
        matches!(self, AllocSite::CoalesceNewArray | AllocSite::FastPathArray)
    }
}

impl fmt::Display for AllocSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AllocSite::RsrcDataAlloc => "io_rsrc_data_alloc",
            AllocSite::RsrcNodeAlloc => "io_rsrc_node_alloc",
            AllocSite::PinPagesArray => "io_pin_pages: kvmalloc_array",
            AllocSite::FastPathArray => "io_pin_pages_fast_path: kvmalloc_objs",
            AllocSite::CoalesceNewArray => "io_coalesce_buffer: kvmalloc_objs",
            AllocSite::ImuCache => "io_alloc_imu: io_cache_alloc",
            AllocSite::ImuKvmalloc => "io_alloc_imu: kvmalloc_flex",
            AllocSite::XaReserve => "hpage_acct_ref: xa_reserve",
        })
    }
}

/// One allocation call to fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "fail", rename_all = "snake_case")]
pub enum FaultPoint {
    /// The `call`-th allocation of the run, counting from 0.
    Call {
        /// Index among all allocation calls of the run.
        call: u32,
    },
    /// The `nth` call (from 0) at one site.
    Site {
        /// The site.
        site: AllocSite,
        /// Index among the calls at that site.
        nth: u32,
    },
}

/// Which allocation calls fail.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultPlan {
    /// Calls that fail; every other call succeeds.
    pub points: Vec<FaultPoint>,
}

/// Ledger id of an allocation; also the identity of the object it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AllocId(pub u64);

/// The first ledger id: far from pfns and addresses (see [`crate::mm::PFN_BASE`]).
const ALLOC_ID_BASE: u64 = 46_413_762;

/// A live allocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allocation {
    /// Where it was made.
    pub site: AllocSite,
}

/// A call the ledger could not make sense of.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum AllocViolation {
    /// `kvfree`/`kfree` of an object that is not live.
    DoubleFree { id: u64 },
}

/// The ledger and the fault plan.
#[derive(Clone, Debug, Default)]
pub struct Alloc {
    plan: FaultPlan,
    next: u64,
    calls: u32,
    site_calls: BTreeMap<AllocSite, u32>,
    live: BTreeMap<AllocId, Allocation>,
    /// Every call made, with whether it failed, in order.
    pub log: Vec<(AllocSite, bool)>,
    /// Frees of objects that were not live.
    pub violations: Vec<AllocViolation>,
}

impl Alloc {
    /// A ledger that fails the calls `plan` names.
    pub fn new(plan: FaultPlan) -> Self {
        Alloc {
            plan,
            ..Default::default()
        }
    }

    /// One allocation call at `site` (`kvmalloc`, `kmalloc`): a new object,
    /// or `None` if the plan fails this call.
    pub fn kvmalloc(&mut self, site: AllocSite) -> Option<AllocId> {
        let call = self.calls;
        self.calls += 1;
        let nth = self.site_calls.entry(site).or_default();
        let this = *nth;
        *nth += 1;
        let fail = self.plan.points.iter().any(|p| match *p {
            FaultPoint::Call { call: c } => c == call,
            FaultPoint::Site { site: s, nth: n } => s == site && n == this,
        });
        self.log.push((site, fail));
        if fail {
            return None;
        }
        let id = AllocId(ALLOC_ID_BASE + self.next);
        self.next += 1;
        self.live.insert(id, Allocation { site });
        Some(id)
    }

    /// `kvfree()`/`kfree()`.
    pub fn kvfree(&mut self, id: AllocId) {
        if self.live.remove(&id).is_none() {
            self.violations
                .push(AllocViolation::DoubleFree { id: id.0 });
        }
    }

    /// Live allocations.
    pub fn live(&self) -> &BTreeMap<AllocId, Allocation> {
        &self.live
    }

    /// Number of allocation calls made so far.
    pub fn calls(&self) -> u32 {
        self.calls
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_and_site_faults_fail_exactly_the_named_call() {
        let mut a = Alloc::new(FaultPlan {
            points: vec![
                FaultPoint::Call { call: 1 },
                FaultPoint::Site {
                    site: AllocSite::ImuCache,
                    nth: 1,
                },
            ],
        });
        assert!(a.kvmalloc(AllocSite::ImuCache).is_some());
        assert!(a.kvmalloc(AllocSite::PinPagesArray).is_none());
        assert!(a.kvmalloc(AllocSite::ImuCache).is_none());
        let id = a.kvmalloc(AllocSite::ImuCache).unwrap();
        assert_eq!(a.live().len(), 2);
        a.kvfree(id);
        a.kvfree(id);
        assert_eq!(a.violations, vec![AllocViolation::DoubleFree { id: id.0 }]);
    }
}
