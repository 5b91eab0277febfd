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

    /// The name scenario files give it (`site = "..."` in a fault point).
    pub fn file_name(self) -> &'static str {
        match self {
            AllocSite::RsrcDataAlloc => "rsrc_data_alloc",
            AllocSite::RsrcNodeAlloc => "rsrc_node_alloc",
            AllocSite::PinPagesArray => "pin_pages_array",
            AllocSite::FastPathArray => "fast_path_array",
            AllocSite::CoalesceNewArray => "coalesce_new_array",
            AllocSite::ImuCache => "imu_cache",
            AllocSite::ImuKvmalloc => "imu_kvmalloc",
            AllocSite::XaReserve => "xa_reserve",
        }
    }

    /// The allocator the call reaches and the size it asks for, as the C
    /// computes it ([`crate::model::sizeof`], the numbers the calls use).
    pub fn size_rule(self) -> (Allocator, String) {
        use crate::model::sizeof::*;
        let (kv, k) = (Allocator::Kvmalloc, Allocator::Kmalloc);
        match self {
            AllocSite::RsrcDataAlloc => (
                kv,
                format!("{RSRC_NODE_PTR} bytes per table slot (struct io_rsrc_node *)"),
            ),
            AllocSite::RsrcNodeAlloc => (k, format!("{IO_RSRC_NODE} bytes (struct io_rsrc_node)")),
            AllocSite::PinPagesArray => (
                kv,
                format!("{PAGE_PTR} bytes per page of the buffer (struct page *)"),
            ),
            AllocSite::FastPathArray => (kv, format!("{PAGE_PTR} bytes (one struct page *)")),
            AllocSite::CoalesceNewArray => {
                (kv, format!("{PAGE_PTR} bytes per folio (struct page *)"))
            }
            AllocSite::ImuCache => (
                k,
                format!(
                    "{} bytes (struct_size(imu, bvec, {}))",
                    imu(crate::model::IO_CACHED_BVECS_SEGS as u64),
                    crate::model::IO_CACHED_BVECS_SEGS
                ),
            ),
            AllocSite::ImuKvmalloc => (
                kv,
                format!("{IO_MAPPED_UBUF} + {BIO_VEC} bytes per bvec (struct_size(imu, bvec, n))"),
            ),
            AllocSite::XaReserve => (k, format!("{XA_NODE} bytes (struct xa_node)")),
        }
    }

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
    /// The `nth` call (from 0) of `pin_user_pages_fast()` pins at most
    /// `pinned` pages and then fails with `errno`, as FOLL_LONGTERM does
    /// when it cannot migrate a page out of ZONE_MOVABLE or CMA (-ENOMEM,
    /// -EBUSY, -EAGAIN). With pages pinned the caller gets their count,
    /// with none the error (mm/gup.c's convention).
    Gup {
        /// Index among the run's GUP calls.
        nth: u32,
        /// Pages pinned before the failure.
        pinned: u64,
        /// What the failure returns.
        errno: crate::model::Errno,
    },
    /// The `nth` call (from 0) of `pin_user_pages_fast()` splits each
    /// unpinned anonymous THP or mTHP it reaches and pins its pages as
    /// order-0 folios: FOLL_LONGTERM migrating a THP out of ZONE_MOVABLE or
    /// CMA with no THP free to move it into ([`super::gup`]).
    GupSplit {
        /// Index among the run's GUP calls.
        nth: u32,
    },
    /// The `nth` iovec read from user memory (from 0; `copy_from_user()`
    /// in `iovec_from_user()`) faults: -EFAULT, as an iovec array that runs
    /// into an unmapped page does.
    CopyFromUser {
        /// Index among the run's iovec reads.
        nth: u32,
    },
}

impl fmt::Display for FaultPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FaultPoint::Call { call } => write!(f, "allocation call {call} of the run fails"),
            FaultPoint::Site { site, nth } => write!(f, "call {nth} at {site} fails"),
            FaultPoint::Gup { nth, pinned, errno } => write!(
                f,
                "pin_user_pages_fast call {nth} stops after {pinned} pages with {errno}"
            ),
            FaultPoint::GupSplit { nth } => write!(
                f,
                "pin_user_pages_fast call {nth} splits the unpinned THPs and mTHPs it reaches"
            ),
            FaultPoint::CopyFromUser { nth } => {
                write!(f, "iovec read {nth} from user memory faults (-EFAULT)")
            }
        }
    }
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
    /// Its size in bytes, as the C computes it ([`crate::model::sizeof`]).
    pub size: u64,
}

/// The GFP modifier the size limits look at: `__GFP_NOWARN` silences the
/// WARN of an oversized request (the request still fails).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gfp {
    /// `__GFP_NOWARN`.
    pub nowarn: bool,
}

impl Gfp {
    /// `GFP_KERNEL`, `GFP_KERNEL_ACCOUNT`: no `__GFP_NOWARN`. Every
    /// allocation of the registration path is made with one of them.
    pub const KERNEL: Gfp = Gfp { nowarn: false };
}

/// Which allocator a call reaches; their size limits differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allocator {
    /// `kvmalloc()` and its wrappers: above `INT_MAX` bytes
    /// `__kvmalloc_node_noprof()` returns NULL, with `WARN_ON_ONCE` unless
    /// `__GFP_NOWARN` (mm/util.c).
    Kvmalloc,
    /// `kmalloc()`, `kmem_cache_alloc()`: above `KMALLOC_MAX_SIZE` the page
    /// allocator refuses the order, with `WARN_ON_ONCE_GFP` unless
    /// `__GFP_NOWARN` (mm/page_alloc.c).
    Kmalloc,
}

/// Why an allocation call returned NULL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocFailure {
    /// The fault plan failed this call.
    Injected,
    /// The size is over the allocator's limit: the kernel refuses it
    /// whatever the plan says, and warns unless `__GFP_NOWARN`.
    TooLarge {
        /// Bytes asked for.
        size: u64,
        /// The allocator's limit at this geometry.
        limit: u64,
        /// Whether the kernel WARNs.
        warned: bool,
    },
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
    gup_calls: u32,
    iovec_reads: u32,
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

    /// One allocation call at `site` of `size` bytes, refused above `limit`
    /// (the allocator's limit at this geometry): a new object, or why it
    /// is NULL. A refused call is still a call: it counts for the plan's
    /// call indices, as the kernel's fault injection would see it.
    pub fn alloc(
        &mut self,
        site: AllocSite,
        size: u64,
        gfp: Gfp,
        limit: u64,
    ) -> Result<AllocId, AllocFailure> {
        if size > limit {
            self.calls += 1;
            *self.site_calls.entry(site).or_default() += 1;
            self.log.push((site, false));
            return Err(AllocFailure::TooLarge {
                size,
                limit,
                warned: !gfp.nowarn,
            });
        }
        self.planned(site, size).ok_or(AllocFailure::Injected)
    }

    /// A call within the size limits: the plan decides.
    fn planned(&mut self, site: AllocSite, size: u64) -> Option<AllocId> {
        let call = self.calls;
        self.calls += 1;
        let nth = self.site_calls.entry(site).or_default();
        let this = *nth;
        *nth += 1;
        let fail = self.plan.points.iter().any(|p| match *p {
            FaultPoint::Call { call: c } => c == call,
            FaultPoint::Site { site: s, nth: n } => s == site && n == this,
            FaultPoint::Gup { .. }
            | FaultPoint::GupSplit { .. }
            | FaultPoint::CopyFromUser { .. } => false,
        });
        self.log.push((site, fail));
        if fail {
            return None;
        }
        let id = AllocId(ALLOC_ID_BASE + self.next);
        self.next += 1;
        self.live.insert(id, Allocation { site, size });
        Some(id)
    }

    /// `kvfree()`/`kfree()`.
    pub fn kvfree(&mut self, id: AllocId) {
        if self.live.remove(&id).is_none() {
            self.violations
                .push(AllocViolation::DoubleFree { id: id.0 });
        }
    }

    /// One `pin_user_pages_fast()` call: the pages it may pin before it
    /// fails and the error, if the plan fails it, and whether it splits
    /// the THPs it reaches.
    pub fn gup_call(&mut self) -> super::gup::GupFault {
        let n = self.gup_calls;
        self.gup_calls += 1;
        super::gup::GupFault {
            fail: self.plan.points.iter().find_map(|p| match *p {
                FaultPoint::Gup { nth, pinned, errno } if nth == n => Some((pinned, errno)),
                _ => None,
            }),
            split: self.plan.points.contains(&FaultPoint::GupSplit { nth: n }),
        }
    }

    /// One iovec read from user memory: whether the plan faults it.
    pub fn copy_from_user_call(&mut self) -> bool {
        let n = self.iovec_reads;
        self.iovec_reads += 1;
        self.plan
            .points
            .iter()
            .any(|p| matches!(*p, FaultPoint::CopyFromUser { nth } if nth == n))
    }

    /// The plan.
    pub fn plan(&self) -> &FaultPlan {
        &self.plan
    }

    /// Iovec reads from user memory made so far.
    pub fn iovec_reads(&self) -> u32 {
        self.iovec_reads
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
        let mut call = |site| a.alloc(site, 568, Gfp::KERNEL, u64::MAX);
        assert!(call(AllocSite::ImuCache).is_ok());
        assert_eq!(call(AllocSite::PinPagesArray), Err(AllocFailure::Injected));
        assert_eq!(call(AllocSite::ImuCache), Err(AllocFailure::Injected));
        let id = call(AllocSite::ImuCache).unwrap();
        assert_eq!(a.live().len(), 2);
        a.kvfree(id);
        a.kvfree(id);
        assert_eq!(a.violations, vec![AllocViolation::DoubleFree { id: id.0 }]);
    }

    #[test]
    fn file_names_are_the_serde_names() {
        for site in AllocSite::ALL {
            let json = serde_json::to_string(&site).unwrap();
            assert_eq!(json, format!("\"{}\"", site.file_name()));
        }
    }

    #[test]
    fn an_oversized_call_is_refused_whatever_the_plan_and_still_counts() {
        let mut a = Alloc::new(FaultPlan {
            points: vec![FaultPoint::Call { call: 1 }],
        });
        let limit = i32::MAX as u64;
        assert_eq!(
            a.alloc(AllocSite::PinPagesArray, 1 << 31, Gfp::KERNEL, limit),
            Err(AllocFailure::TooLarge {
                size: 1 << 31,
                limit,
                warned: true
            })
        );
        let nowarn = Gfp { nowarn: true };
        assert!(matches!(
            a.alloc(AllocSite::PinPagesArray, u64::MAX, nowarn, limit),
            Err(AllocFailure::TooLarge { warned: false, .. })
        ));
        // Call 1 was the refused one, so the plan's fault never fires.
        let id = a.alloc(AllocSite::PinPagesArray, limit, Gfp::KERNEL, limit);
        assert_eq!(a.live()[&id.unwrap()].size, limit);
        assert_eq!(a.calls(), 3);
        assert_eq!(a.log, vec![(AllocSite::PinPagesArray, false); 3]);
    }
}
