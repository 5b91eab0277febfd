//! Simulated memory: the substrate the kernel model calls into, in the way
//! loom's `rt/` holds the state behind its `sync/` mirror.
//!
//! `struct page *` is a page frame number ([`Pfn`]), so `page + 1` is `pfn + 1`
//! and physically adjacent folios are adjacent numbers. Folios are naturally
//! aligned in PFN space and carry the two counters mm/gup.c maintains for a
//! FOLL_PIN user. The user address space maps virtual pages onto folio pages
//! in the shapes user space can really build; `pin_user_pages_fast` walks it.
//! Every allocation the kernel code makes goes through [`alloc::Alloc`], which
//! both keeps a ledger of live objects and applies the fault plan.

pub mod alloc;
pub mod aspace;
pub mod geometry;
pub mod gup;
pub mod phys;

pub use alloc::{Alloc, AllocFailure, AllocId, AllocSite, Allocator, FaultPlan, FaultPoint, Gfp};
pub use aspace::{AddressSpace, Mapping};
pub use geometry::Geometry;
pub use phys::{Folio, FolioId, FolioKind, Pfn, PhysMem};

/// The first page frame number handed out. Distinct from every user address
/// and index so a swapped argument is visible in a dump (loom starts its ids
/// at 46_413_762 for the same reason). Aligned to the largest folio order.
pub const PFN_BASE: Pfn = 0x10_0000;

/// The first user virtual address of a scenario's address space (aligned to
/// 1 GiB so that every hugetlb size can be mapped at its natural alignment).
pub const USER_VA_BASE: u64 = 0x7f00_0000_0000;

/// `GUP_PIN_COUNTING_BIAS` from include/linux/mm.h: an order-0 page records a
/// FOLL_PIN pin as this many references, since it has no `_pincount`.
pub const GUP_PIN_COUNTING_BIAS: i64 = 1024;
