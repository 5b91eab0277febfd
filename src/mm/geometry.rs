//! Geometry: base page size and the orders of the huge folio sizes.
//!
//! The fuzzer explores layouts at a small geometry (8-page "PMD" folios) where
//! page arrays are short and executions cheap, and replays them at the real
//! one (4 KiB pages, 2 MiB and 1 GiB folios). Scenarios name sizes
//! symbolically (PMD, PUD, mTHP order) and positions relative to the nearest
//! edge of what contains them, so a scenario means the same thing at both.

use serde::{Deserialize, Serialize};

/// Page and folio sizes of one simulated machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Geometry {
    /// `PAGE_SHIFT`.
    pub page_shift: u32,
    /// Order of a PMD-sized folio (THP, 2 MiB hugetlb): `HPAGE_PMD_ORDER`.
    pub pmd_order: u32,
    /// Order of a PUD-sized folio (1 GiB hugetlb).
    pub pud_order: u32,
}

impl Geometry {
    /// x86-64: 4 KiB pages, 2 MiB PMD folios, 1 GiB PUD folios.
    pub const REAL: Geometry = Geometry {
        page_shift: 12,
        pmd_order: 9,
        pud_order: 18,
    };
    /// The exploration scale: 4 KiB pages, 32 KiB "PMD" and 16 MiB "PUD"
    /// folios. mTHP order 2 still fits below PMD order, and a PUD holds 512
    /// PMD folios as on x86-64, so the registration limit (`SZ_1G`, scaled
    /// to one PUD folio) is the same number of PMD folios at both scales and
    /// a buffer over it at one is over it at the other.
    pub const SMALL: Geometry = Geometry {
        page_shift: 12,
        pmd_order: 3,
        pud_order: 12,
    };

    /// `PAGE_SIZE`.
    pub fn page_size(&self) -> u64 {
        1 << self.page_shift
    }
    /// `PAGE_MASK`.
    pub fn page_mask(&self) -> u64 {
        !(self.page_size() - 1)
    }
    /// `SZ_1G`, the registration length limit of 7.1, scaled with the geometry:
    /// it is the PUD folio size, as it is on x86-64.
    pub fn sz_1g(&self) -> u64 {
        1 << (self.page_shift + self.pud_order)
    }
    /// `SZ_1T`, the registration length limit of 7.2 (b4e41050b212), scaled
    /// as [`Geometry::sz_1g`] is: 1024 PUD folios, 1 TiB at the real
    /// geometry and 16 GiB at the small one, so a length is over both
    /// limits, between them, or under both at either geometry.
    pub fn sz_1t(&self) -> u64 {
        self.sz_1g() << 10
    }
    /// `INT_MAX` where it bounds a byte count or a page count:
    /// `kvmalloc()`'s size limit, `io_pin_pages()`'s page limit,
    /// `MAX_RW_COUNT`. Scaled as [`Geometry::sz_1g`] is, by the ratio of
    /// this geometry's `SZ_1G` to 1 GiB, so that an array with an entry per
    /// page of a buffer that is `k` times `SZ_1G` crosses it at the same
    /// `k` at every geometry: exactly `INT_MAX` at the real one,
    /// `2^25 - 1` at the small one (a 1 TiB buffer's page array is 2^31
    /// bytes at the real geometry, and its scaled image's is 2^25). Sizes
    /// that do not grow with the buffer (a struct, a cache object) are far
    /// below either.
    pub fn int_max(&self) -> u64 {
        let shift = self.page_shift + self.pud_order;
        if shift >= 30 {
            i32::MAX as u64
        } else {
            ((1u64 << 31) >> (30 - shift)) - 1
        }
    }
    /// `KMALLOC_MAX_SIZE`, `1 << (PAGE_SHIFT + MAX_PAGE_ORDER)` with
    /// `MAX_PAGE_ORDER` 10: the largest `kmalloc()`. Not scaled: only
    /// fixed-size objects are kmalloc'ed on this path.
    pub fn kmalloc_max_size(&self) -> u64 {
        1 << (self.page_shift + 10)
    }
    /// `MAX_RW_COUNT` (`INT_MAX & PAGE_MASK`), with [`Geometry::int_max`]
    /// scaled: an import of `k` times `SZ_1G` bytes is over it at the same
    /// `k` at every geometry.
    pub fn max_rw_count(&self) -> u64 {
        self.int_max() & self.page_mask()
    }
    /// Bytes in a folio of `order`.
    pub fn folio_bytes(&self, order: u32) -> u64 {
        1 << (self.page_shift + order)
    }
    /// A short name for reports: `real`, `small` or the three numbers.
    pub fn name(&self) -> String {
        match *self {
            Geometry::REAL => "real".into(),
            Geometry::SMALL => "small".into(),
            g => format!(
                "page_shift={} pmd_order={} pud_order={}",
                g.page_shift, g.pmd_order, g.pud_order
            ),
        }
    }
}

/// Maps a position `x` in `0..=from` onto `0..=to` keeping its distance to the
/// nearer edge: positions in the first half keep their distance from 0, the
/// others their distance from the end. Folio edges, ±1 page and ±1 byte from
/// them are what registration cares about, and those survive rescaling.
pub fn scale_edge(x: u64, from: u64, to: u64) -> u64 {
    if from == to {
        return x;
    }
    let x = x.min(from);
    if x <= from / 2 {
        x.min(to)
    } else {
        to.saturating_sub(from - x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_edge_keeps_distance_to_the_nearer_edge() {
        assert_eq!(scale_edge(0, 8, 512), 0);
        assert_eq!(scale_edge(1, 8, 512), 1);
        assert_eq!(scale_edge(7, 8, 512), 511);
        assert_eq!(scale_edge(8, 8, 512), 512);
        assert_eq!(scale_edge(4, 8, 512), 4);
        assert_eq!(scale_edge(5, 8, 512), 509);
        assert_eq!(scale_edge(5, 8, 8), 5);
    }

    #[test]
    fn real_geometry_has_the_x86_sizes() {
        let g = Geometry::REAL;
        assert_eq!(g.folio_bytes(g.pmd_order), 2 << 20);
        assert_eq!(g.folio_bytes(g.pud_order), 1 << 30);
        assert_eq!(g.sz_1g(), 1 << 30);
        assert_eq!(g.sz_1t(), 1 << 40);
        assert_eq!(Geometry::SMALL.sz_1t(), 1024 * Geometry::SMALL.sz_1g());
        assert_eq!(g.int_max(), i32::MAX as u64);
        assert_eq!(g.max_rw_count(), 0x7fff_f000);
        assert_eq!(g.kmalloc_max_size(), 4 << 20);
    }

    #[test]
    fn int_max_scales_with_sz_1g() {
        // The page array of a SZ_1T buffer is one byte over the limit at
        // both geometries, and one page shorter is under it at both.
        for g in [Geometry::REAL, Geometry::SMALL] {
            let pages = g.sz_1t() >> g.page_shift;
            assert_eq!(pages * 8, g.int_max() + 1, "{}", g.name());
            assert!((pages - 1) * 8 <= g.int_max());
        }
        assert_eq!(Geometry::SMALL.int_max(), (1 << 25) - 1);
    }
}
