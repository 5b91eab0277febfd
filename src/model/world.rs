//! One simulated machine: memory, the task's io_uring rings, the objects they
//! own, and the record of everything the oracles need to know about a run
//! (WARN_ON_ONCE sites hit, reads past the end of a bvec array).

use super::types::*;
use crate::mm::{
    AddressSpace, Alloc, AllocFailure, AllocId, AllocSite, Allocator, FaultPlan, Geometry, Gfp,
    Pfn, PhysMem,
};
use std::collections::BTreeMap;

/// A pfn no folio has: what a read of never-written memory returns.
pub const POISON_PFN: Pfn = 0xdead_0000;

/// Something a run did that the kernel would notice only through a warning,
/// a sanitizer or corrupted data.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Event {
    /// A `WARN_ON_ONCE` fired.
    Warn {
        /// `function: condition`.
        site: String,
    },
    /// `bvec[idx]` was read with `idx >= nr_bvecs` (stale or foreign memory).
    BvecOutOfBounds {
        /// Who read it.
        reader: String,
        /// Index read.
        idx: u64,
        /// `imu->nr_bvecs`.
        nr_bvecs: u32,
        /// Slots actually allocated; reads at `idx >= slots` leave the object.
        slots: u64,
    },
    /// A dereference the kernel would oops on (a NULL `node->buf`). The
    /// model records it and goes on as if the access had been skipped.
    Oops {
        /// `function: what was dereferenced`.
        site: String,
    },
    /// A C integer conversion that loses bits, or a shift C leaves
    /// undefined ([`super::cint`]).
    Width {
        /// `function: expression: what happened`.
        site: String,
    },
    /// A write to the import's result bvec array past its estimated size.
    ResBvecOverflow {
        /// Entries written.
        written: u64,
        /// Entries allocated by `io_estimate_bvec_size`.
        capacity: u64,
    },
}

/// A simulated machine: one task, its rings, their memory.
#[derive(Clone, Debug)]
pub struct World {
    /// Page and folio sizes.
    pub geo: Geometry,
    /// Physical memory.
    pub phys: PhysMem,
    /// The ring owner's address space.
    pub aspace: AddressSpace,
    /// Allocation ledger and fault plan.
    pub alloc: Alloc,
    /// The ring an operation runs on: ring 0 between operations.
    pub ctx: IoRingCtx,
    /// The number of the ring in `ctx`.
    pub ring: u32,
    /// The ring the scenario's operations run on (its last `ring`
    /// operation), entered for each of them.
    pub op_ring: u32,
    /// The task's rings by number (`IORING_REGISTER_CLONE_BUFFERS` shares
    /// buffers between two): `None` for the one in `ctx`.
    pub parked: Vec<Option<IoRingCtx>>,
    /// `struct io_rsrc_node` objects, live or cached.
    pub nodes: BTreeMap<AllocId, IoRsrcNode>,
    /// `struct io_mapped_ubuf` objects, live or cached.
    pub imus: BTreeMap<AllocId, IoMappedUbuf>,
    /// The block requests whose pages a driver registered as kernel
    /// buffers (`kbuf_register`), in the order they were, by number.
    pub kbuf_rqs: Vec<super::kbuf::BlkRequest>,
    /// What happened, in order.
    pub events: Vec<Event>,
    /// Loop iterations over page arrays, to compare what variants cost.
    pub work: Work,
    /// The ring of a variant built from kernel C, once it runs here
    /// ([`crate::ctree`]); the machine is its memory.
    pub c_run: Option<crate::ctree::RunHandle>,
    /// The kernel oopsed in a way it cannot go on from (a memory fault of
    /// compiled C while it changed its state): the task is dead, and
    /// nothing more of the scenario runs.
    pub dead: bool,
}

/// Iterations of the loops that walk a page array or the buffer table. Not
/// part of any verdict: it lets a report say what work a patch saves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Work {
    /// `io_check_coalesce_buffer()`: one per page after the first.
    pub check_coalesce: u64,
    /// `io_coalesce_buffer()`: one per folio.
    pub coalesce: u64,
    /// `io_buffer_account_pin()`: one per page-array entry.
    pub account_pin: u64,
    /// `headpage_already_acct()`: one per entry or bvec compared.
    pub headpage_scan: u64,
}

impl World {
    /// An empty machine; `memlock` is the RLIMIT_MEMLOCK in bytes, `None`
    /// for a ring created with CAP_IPC_LOCK (`ctx->user == NULL`).
    pub fn new(geo: Geometry, memlock: Option<u64>, plan: FaultPlan) -> Self {
        let mut w = World {
            geo,
            phys: PhysMem::default(),
            aspace: AddressSpace::default(),
            alloc: Alloc::new(plan),
            ctx: IoRingCtx::setup(memlock.map(|rlimit_memlock| UserStruct {
                locked_vm: 0,
                rlimit_memlock,
            })),
            ring: 0,
            op_ring: 0,
            parked: vec![None],
            nodes: BTreeMap::new(),
            imus: BTreeMap::new(),
            kbuf_rqs: vec![],
            events: vec![],
            work: Work::default(),
            c_run: None,
            dead: false,
        };
        w.charge_regions();
        w
    }

    /// `io_uring_setup()` of one more ring by the same task (same `user`,
    /// same `mm`): its number. It starts parked.
    pub fn add_ring(&mut self) -> u32 {
        let r = self.parked.len() as u32;
        let cur = self.ring;
        self.parked.push(Some(IoRingCtx::setup(self.ctx.user)));
        self.enter_ring(r);
        self.charge_regions();
        self.enter_ring(cur);
        r
    }

    /// `io_create_region()` of the current ring's rings and SQEs, charged
    /// to `locked_vm` when it has a user.
    fn charge_regions(&mut self) {
        if let Some(u) = self.ctx.user.as_mut() {
            u.locked_vm += RING_REGION_PAGES;
            self.ctx.region_pages = RING_REGION_PAGES;
        }
    }

    /// Makes ring `r` the one in `ctx`, where every function of the model
    /// finds it, and parks the one that was there. `user` and `pinned_vm`
    /// are the task's, not a ring's: they go along to the ring entered, and
    /// a parked ring's copy of them is stale.
    pub fn enter_ring(&mut self, r: u32) {
        if r == self.ring {
            return;
        }
        let next = self.parked[r as usize]
            .take()
            .expect("ring numbers come from add_ring");
        let prev = std::mem::replace(&mut self.ctx, next);
        self.ctx.user = prev.user;
        self.ctx.pinned_vm = prev.pinned_vm;
        self.parked[self.ring as usize] = Some(prev);
        self.ring = r;
    }

    /// How many rings the task has.
    pub fn nr_rings(&self) -> u32 {
        self.parked.len() as u32
    }

    /// Every ring, by number: the one in `ctx` and the parked ones.
    pub fn rings(&self) -> Vec<(u32, &IoRingCtx)> {
        (0..self.nr_rings())
            .map(|r| match &self.parked[r as usize] {
                Some(c) => (r, c),
                None => (r, &self.ctx),
            })
            .collect()
    }

    /// Pages every ring charged for its own regions.
    pub fn region_pages(&self) -> u64 {
        self.rings().iter().map(|(_, c)| c.region_pages).sum()
    }

    /// `WARN_ON_ONCE(cond)`: records the site when `cond` holds, returns `cond`.
    pub fn warn_on_once(&mut self, cond: bool, site: &str) -> bool {
        if cond {
            self.events.push(Event::Warn {
                site: site.to_string(),
            });
        }
        cond
    }

    /// One call to `allocator` at `site` for `size` bytes with `GFP_KERNEL`:
    /// the plan may fail it, and a size over the allocator's limit is
    /// refused with the kernel's WARN, recorded as a warning of the caller.
    pub fn alloc_call(
        &mut self,
        allocator: Allocator,
        site: AllocSite,
        size: u64,
    ) -> Option<AllocId> {
        self.alloc_call_gfp(allocator, site, size, false)
    }

    /// [`World::alloc_call`] with `__GFP_NOWARN` as the caller gives it: an
    /// oversized request still fails, silently.
    pub fn alloc_call_gfp(
        &mut self,
        allocator: Allocator,
        site: AllocSite,
        size: u64,
        nowarn: bool,
    ) -> Option<AllocId> {
        let limit = match allocator {
            Allocator::Kvmalloc => self.geo.int_max(),
            Allocator::Kmalloc => self.geo.kmalloc_max_size(),
        };
        match self.alloc.alloc(site, size, Gfp { nowarn }, limit) {
            Ok(id) => Some(id),
            Err(AllocFailure::Injected) => None,
            Err(AllocFailure::TooLarge { size, warned, .. }) => {
                let site = site.to_string();
                let (caller, call) = site.split_once(": ").unwrap_or((&site, "allocation"));
                let (limit, warner) = match allocator {
                    Allocator::Kvmalloc => ("INT_MAX", "__kvmalloc_node_noprof"),
                    Allocator::Kmalloc => ("KMALLOC_MAX_SIZE", "__alloc_pages"),
                };
                self.warn_on_once(
                    warned,
                    &format!("{warner}({caller}): size > {limit}: {call} of {size} bytes"),
                );
                None
            }
        }
    }

    /// `kvmalloc()` (and `kvmalloc_flex`, `kvcalloc`) of `size` bytes.
    pub fn kvmalloc(&mut self, site: AllocSite, size: u64) -> Option<AllocId> {
        self.alloc_call(Allocator::Kvmalloc, site, size)
    }

    /// `kvmalloc_array(n, elem)` / `kvmalloc_objs()`: NULL without a call
    /// when the product overflows.
    pub fn kvmalloc_array(&mut self, site: AllocSite, n: u64, elem: u64) -> Option<AllocId> {
        let size = super::sizeof::array(n, elem)?;
        self.kvmalloc(site, size)
    }

    /// Records a C integer conversion that loses bits or an undefined shift.
    pub fn width(&mut self, site: String) {
        self.events.push(Event::Width { site });
    }

    /// Records a dereference the kernel would oops on.
    pub fn oops(&mut self, site: &str) {
        self.events.push(Event::Oops {
            site: site.to_string(),
        });
    }

    /// The imu behind an id. Ids come from the ledger, so a missing one is a
    /// bug of the harness, not of the modelled kernel.
    pub fn imu(&self, id: AllocId) -> &IoMappedUbuf {
        &self.imus[&id]
    }

    /// Mutable [`World::imu`].
    pub fn imu_mut(&mut self, id: AllocId) -> &mut IoMappedUbuf {
        self.imus.get_mut(&id).expect("imu id from the ledger")
    }

    /// Reads `imu->bvec[idx]` as C would: past `nr_bvecs` it records the
    /// out-of-bounds read and returns what the memory holds (a stale entry of
    /// the cache object, or poison past the allocation).
    pub fn read_bvec(&mut self, imu: AllocId, idx: u64, reader: &str) -> BioVec {
        let m = &self.imus[&imu];
        let (nr_bvecs, slots) = (m.nr_bvecs, m.bvec.slots());
        let slot = m.bvec.get(idx);
        if idx >= nr_bvecs as u64 {
            self.events.push(Event::BvecOutOfBounds {
                reader: reader.into(),
                idx,
                nr_bvecs,
                slots,
            });
        }
        slot.unwrap_or(BioVec {
            bv_page: POISON_PFN,
            bv_len: 0,
            bv_offset: 0,
        })
    }

    /// `io_cache_alloc()` (io_uring/alloc_cache.h): pop a cached object, not
    /// zeroed, or allocate a new one at the cache's site.
    pub fn io_cache_alloc(&mut self, imu_cache: bool) -> Option<AllocId> {
        let cache = if imu_cache {
            &mut self.ctx.imu_cache
        } else {
            &mut self.ctx.node_cache
        };
        if let Some(id) = cache.entries.pop() {
            return Some(id);
        }
        // io_cache_alloc_new(): kmalloc(cache->elem_size).
        let size = if imu_cache {
            super::sizeof::imu(IO_CACHED_BVECS_SEGS as u64)
        } else {
            super::sizeof::IO_RSRC_NODE
        };
        let site = cache.site;
        let id = self.alloc_call(Allocator::Kmalloc, site, size)?;
        if imu_cache {
            self.imus
                .insert(id, IoMappedUbuf::uninit(IO_CACHED_BVECS_SEGS));
        } else {
            self.nodes.insert(
                id,
                IoRsrcNode {
                    refs: 0,
                    tag: 0,
                    buf: None,
                },
            );
        }
        Some(id)
    }

    /// `io_cache_free()`: keep the object for reuse while the cache has room.
    pub fn io_cache_free(&mut self, imu_cache: bool, id: AllocId) {
        let cache = if imu_cache {
            &mut self.ctx.imu_cache
        } else {
            &mut self.ctx.node_cache
        };
        if cache.entries.len() < IO_ALLOC_CACHE_MAX {
            cache.entries.push(id);
            return;
        }
        self.kfree_object(id);
    }

    /// `kvfree()` of an imu or node object.
    pub fn kfree_object(&mut self, id: AllocId) {
        self.imus.remove(&id);
        self.nodes.remove(&id);
        self.alloc.kvfree(id);
    }

    /// `io_free_region()` of the ring's rings and SQEs at ring exit: gives
    /// back what setup charged to `locked_vm`.
    pub fn io_free_ring_regions(&mut self) {
        if let Some(u) = self.ctx.user.as_mut() {
            u.locked_vm = u.locked_vm.wrapping_sub(self.ctx.region_pages);
        }
        self.ctx.region_pages = 0;
    }

    /// `xa_destroy(&ctx->hpage_acct)` in `io_ring_ctx_free()` (7.2): frees
    /// whatever slots are left. Under 7.1 the xarray does not exist and this
    /// does nothing.
    pub fn xa_destroy_hpage_acct(&mut self) {
        for (_, e) in std::mem::take(&mut self.ctx.hpage_acct) {
            self.alloc.kvfree(e.slot);
        }
    }

    /// `io_rsrc_cache_free()` and the table teardown of `io_ring_ctx_free()`:
    /// what ring exit leaves behind is a leak.
    pub fn io_rsrc_cache_free(&mut self) {
        for id in std::mem::take(&mut self.ctx.node_cache.entries) {
            self.kfree_object(id);
        }
        for id in std::mem::take(&mut self.ctx.imu_cache.entries) {
            self.kfree_object(id);
        }
    }
}

/// `struct page **` from `kvmalloc_array`: its ledger id and its entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageArray {
    /// Ledger id, freed by `kvfree`.
    pub id: AllocId,
    /// The entries.
    pub pages: super::runs::Pages,
}
