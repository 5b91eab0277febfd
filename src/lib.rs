//! regbuf-fuzz: a property-based differential fuzzer for the Linux io_uring
//! fixed-buffer registration path (`IORING_REGISTER_BUFFERS`).
//!
//! The crate is laid out as the architecture:
//! - [`mm`]: simulated memory (folios, pins, the user address space, GUP, allocations);
//! - [`model`]: io_uring/rsrc.c and memmap.c at 7.1-rc1, function for function;
//! - [`variants`]: patches and historical versions, each only the functions it changes;
//! - [`ctree`]: a kernel tree's own C (and patches as posted), compiled against a
//!   shim and run on the same simulated machine, as a variant;
//! - [`scenario`]: the scenario format, and how it becomes a simulated machine;
//! - [`gen`]: one generator for cargo fuzz (`arbitrary`) and proptest;
//! - [`oracle`]: named invariants and the differential comparison;
//! - [`run`]: one scenario on one variant, every invariant after every operation;
//! - [`campaign`], [`minimize`], [`corpus`]: the fuzz campaign, the structural
//!   shrinker and the committed regression corpus;
//! - [`exhaust`]: bounded exhaustive search of a small space of scenarios;
//! - [`targets`]: the bodies of the cargo-fuzz targets;
//! - [`live`]: the same scenarios on the running kernel, against the model;
//! - [`repro`]: a scenario as a self-contained C program for the running kernel;
//! - [`lab`]: the corpus's reproducers on lab kernels (6.12 and its patched
//!   variants) under qemu, against the model;
//! - [`report`], [`cli`]: explanations for reviewers, and the `regbuf-fuzz` command.
#![deny(missing_docs)]
#![allow(non_snake_case)] // kernel names such as __io_account_mem

pub mod campaign;
pub mod cli;
pub mod corpus;
pub mod ctree;
pub mod exhaust;
pub mod gen;
pub mod lab;
pub mod live;
pub mod minimize;
pub mod mm;
pub mod model;
pub mod oracle;
pub mod report;
pub mod repro;
pub mod run;
pub mod scenario;
pub mod targets;
pub mod variants;
