//! One scenario generator for both cargo fuzz (`arbitrary`) and proptest.
//!
//! Both byte sources only produce raw choice bytes ([`raw::RawScenario`]);
//! one lowering ([`lower::lower`]) turns them into a scenario. So the bias
//! toward folio edges, aliasing and partial mappings is the same under either
//! source, a fuzzer crash and a proptest failure mean the same layout, and
//! proptest shrinks structure (segments, ops, iovecs) rather than bytes of
//! an already-valid scenario, which could only shrink into invalid ones.

mod kbuf;
#[cfg(test)]
mod kbuf_tests;
mod layout;
pub mod lower;
mod ops;
mod pos;
pub mod raw;
pub mod strategies;
#[cfg(test)]
mod tests;

use crate::scenario::{GeometryName, Scenario};
use arbitrary::Unstructured;
use proptest::strategy::Strategy;

pub use lower::lower;
pub use raw::RawScenario;

/// Limits and switches of the generator.
#[derive(Clone, Debug)]
pub struct GenConfig {
    /// Generate allocation fault points.
    pub faults: bool,
    /// Draw a second ring and clones between the rings (`ring`, `clone`):
    /// off for a tree's C, which runs on one ring. Off, the draws are
    /// those of a generator without them, byte for byte.
    pub rings: bool,
    /// Draw kernel-buffer operations (`kbuf_register`, `kbuf_unregister`,
    /// `kbuf_import`, `kbuf_readv`): campaigns without a tree do. Off by
    /// default, and off the draws are those of a generator without them,
    /// byte for byte; on, a draw none of whose operations became one is
    /// still the same scenario.
    pub kbufs: bool,
    /// Most operations in a scenario.
    pub max_ops: usize,
    /// Most segments in the address space.
    pub max_segments: usize,
    /// Most folios.
    pub max_folios: usize,
    /// The geometries drawn, by weight; the first is what a drained input
    /// gets. One entry draws no byte for it.
    pub geometries: Vec<(u32, GeometryName)>,
    /// Most pages mapped in all, copies counted: what the build takes
    /// ([`crate::scenario::MAX_MAPPED_PAGES`]), or less where real C runs
    /// the draw ([`crate::scenario::MAX_C_MAPPED_PAGES`]).
    pub max_mapped: u64,
}

/// What a campaign draws by default: every geometry, x86-64 most often,
/// and x86-64 mostly at the small scale (fast; findings are stored at the
/// real one when their verdict holds there), then each other architecture
/// at its own real sizes.
pub const ALL_GEOMETRIES: &[(u32, GeometryName)] = &[
    (8, GeometryName::Small),
    (2, GeometryName::Real),
    (2, GeometryName::Arm64_4k),
    (1, GeometryName::Arm64_16k),
    (1, GeometryName::Arm64_64k),
    (1, GeometryName::Ppc64Radix),
    (1, GeometryName::Ppc64Hash),
];

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            faults: true,
            rings: true,
            kbufs: false,
            max_ops: 6,
            max_segments: 8,
            max_folios: 6,
            geometries: vec![(1, GeometryName::Small)],
            max_mapped: crate::scenario::MAX_MAPPED_PAGES,
        }
    }
}

impl GenConfig {
    /// The default limits within what real C takes (a tree's C, the live
    /// check): its page arrays are real memory.
    pub fn real_c() -> Self {
        GenConfig {
            max_mapped: crate::scenario::MAX_C_MAPPED_PAGES,
            ..GenConfig::default()
        }
    }

    /// What a campaign without a tree draws, and so what the byte-driven
    /// cargo-fuzz targets draw: every geometry by [`ALL_GEOMETRIES`]'
    /// weights, and kernel buffers.
    pub fn campaign() -> Self {
        GenConfig {
            geometries: ALL_GEOMETRIES.to_vec(),
            kbufs: true,
            ..GenConfig::default()
        }
    }

    /// The default limits, without fault points.
    pub fn no_faults() -> Self {
        GenConfig {
            faults: false,
            ..GenConfig::default()
        }
    }

    /// (folios, segments, ops) limits, each in 1..=256.
    pub(crate) fn limits(&self) -> (usize, usize, usize) {
        let c = |n: usize| n.clamp(1, 256);
        (c(self.max_folios), c(self.max_segments), c(self.max_ops))
    }
}

/// A scenario from fuzzer bytes. Every byte string gives a scenario that
/// `build()` accepts; a drained `u` gives the default choices. Never fails.
pub fn scenario_from_unstructured(
    u: &mut Unstructured,
    cfg: &GenConfig,
) -> arbitrary::Result<Scenario> {
    Ok(lower(&RawScenario::draw(u, cfg), cfg))
}

/// A proptest strategy for scenarios that `build()` accepts, shrinking
/// toward fewer segments, folios, operations, iovecs and faults.
pub fn scenario_strategy(cfg: GenConfig) -> impl Strategy<Value = Scenario> {
    strategies::raw_scenario(&cfg).prop_map(move |raw| lower(&raw, &cfg))
}
