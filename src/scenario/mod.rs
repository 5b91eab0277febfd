//! The scenario: everything one run needs, as values a kernel developer can
//! read and write by hand (TOML), versioned, and independent of geometry.
//!
//! A scenario names folios by kind (small page, mTHP, THP, 2 MiB or 1 GiB
//! hugetlb), lays out the address space as segments in address order, and
//! says which buffers to register, update, import and unregister. Sizes are
//! symbolic (so many PUD and PMD folios, pages, bytes) and positions are byte
//! offsets inside a segment, rescaled keeping their distance to the nearer
//! edge. So the same file means the same layout at the small exploration
//! geometry and at the real one.
//!
//! [`build`] turns a scenario into a [`crate::model::World`] and the concrete
//! operations to run, or rejects it with the field and the reason.

#[cfg(test)]
mod arch_tests;
mod build;
mod format;
mod kbuf;
#[cfg(test)]
mod kbuf_tests;
#[cfg(test)]
mod private_tests;
mod resolve;
mod runs;
mod scale;

pub use build::{
    build, Built, ConcreteOp, ScenarioError, MAX_C_MAPPED_PAGES, MAX_MAPPED_PAGES, MAX_OPS,
};
pub use format::*;
pub use kbuf::MAX_KBUF_BVECS;
pub use scale::{rescale, try_rescale};
