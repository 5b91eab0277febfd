//! Geometry: base page size and the orders of the huge folio sizes.
//!
//! The fuzzer explores layouts at a small geometry (8-page "PMD" folios) where
//! page arrays are short and executions cheap, and replays them at the real
//! one (4 KiB pages, 2 MiB and 1 GiB folios). Scenarios name sizes
//! symbolically (PMD, PUD, mTHP order) and positions relative to the nearest
//! edge of what contains them, so a scenario means the same thing at both.
//!
//! The other architectures the path runs on have geometries of their own
//! (arm64 with 4, 16 and 64 KiB pages and its contiguous hugetlb sizes,
//! ppc64 with the radix and the hash MMU), at their real sizes: the same
//! symbolic file means the arch's PMD folio there, or is refused where the
//! arch has no such size.

use serde::{Deserialize, Serialize};

/// Page and folio sizes of one simulated machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Geometry {
    /// `PAGE_SHIFT`.
    pub page_shift: u32,
    /// Order of a PMD-sized folio (THP, PMD hugetlb): `HPAGE_PMD_ORDER`.
    pub pmd_order: u32,
    /// Order of a PUD-sized hugetlb folio; `None` where the architecture
    /// has no huge page at that level (arm64 with 16 or 64 KiB pages).
    pub pud_order: Option<u32>,
    /// Order of a contiguous-PTE hugetlb folio (arm64's `CONT_PTE_SIZE`).
    pub cont_pte_order: Option<u32>,
    /// Order of a contiguous-PMD hugetlb folio (arm64's `CONT_PMD_SIZE`).
    pub cont_pmd_order: Option<u32>,
    /// log2 of `SZ_1G` as this geometry sees it: 30 on every real machine,
    /// less at the exploration scale, where the registration limit is scaled
    /// with the folios (see [`Geometry::sz_1g`]).
    pub sz_1g_shift: u32,
    /// `MAX_PAGE_ORDER` (`ARCH_FORCE_MAX_ORDER`'s default on the arch).
    pub max_page_order: u32,
}

/// The x86-64 family: the real machine and its scaled image.
const fn x86(pmd_order: u32, pud_order: u32) -> Geometry {
    Geometry {
        page_shift: 12,
        pmd_order,
        pud_order: Some(pud_order),
        cont_pte_order: None,
        cont_pmd_order: None,
        sz_1g_shift: 12 + pud_order,
        max_page_order: 10,
    }
}

impl Geometry {
    /// x86-64: 4 KiB pages, 2 MiB PMD folios, 1 GiB PUD folios.
    pub const REAL: Geometry = x86(9, 18);
    /// The exploration scale: 4 KiB pages, 32 KiB "PMD" and 16 MiB "PUD"
    /// folios. mTHP order 2 still fits below PMD order, and a PUD holds 512
    /// PMD folios as on x86-64, so the registration limit (`SZ_1G`, scaled
    /// to one PUD folio) is the same number of PMD folios at both scales and
    /// a buffer over it at one is over it at the other.
    pub const SMALL: Geometry = x86(3, 12);
    /// arm64, 4 KiB pages: 2 MiB PMD, 1 GiB PUD, 64 KiB contiguous-PTE
    /// (16 pages) and 32 MiB contiguous-PMD (16 PMDs) hugetlb.
    pub const ARM64_4K: Geometry = Geometry {
        page_shift: 12,
        pmd_order: 9,
        pud_order: Some(18),
        cont_pte_order: Some(4),
        cont_pmd_order: Some(13),
        sz_1g_shift: 30,
        max_page_order: 10,
    };
    /// arm64, 16 KiB pages: 32 MiB PMD, 2 MiB contiguous-PTE (128 pages),
    /// 1 GiB contiguous-PMD (32 PMDs); no PUD-level huge page.
    pub const ARM64_16K: Geometry = Geometry {
        page_shift: 14,
        pmd_order: 11,
        pud_order: None,
        cont_pte_order: Some(7),
        cont_pmd_order: Some(16),
        sz_1g_shift: 30,
        max_page_order: 11,
    };
    /// arm64, 64 KiB pages: 512 MiB PMD, 2 MiB contiguous-PTE (32 pages),
    /// 16 GiB contiguous-PMD (32 PMDs); no PUD-level huge page.
    pub const ARM64_64K: Geometry = Geometry {
        page_shift: 16,
        pmd_order: 13,
        pud_order: None,
        cont_pte_order: Some(5),
        cont_pmd_order: Some(18),
        sz_1g_shift: 30,
        max_page_order: 13,
    };
    /// ppc64 with the radix MMU, 64 KiB pages: 2 MiB PMD, 1 GiB PUD.
    pub const PPC64_RADIX: Geometry = Geometry {
        page_shift: 16,
        pmd_order: 5,
        pud_order: Some(14),
        cont_pte_order: None,
        cont_pmd_order: None,
        sz_1g_shift: 30,
        max_page_order: 8,
    };
    /// ppc64 with the hash MMU, 64 KiB pages: 16 MiB at the PMD level and
    /// 16 GiB at the PUD level (`folio_shift` 34).
    pub const PPC64_HASH: Geometry = Geometry {
        page_shift: 16,
        pmd_order: 8,
        pud_order: Some(18),
        cont_pte_order: None,
        cont_pmd_order: None,
        sz_1g_shift: 30,
        max_page_order: 8,
    };

    /// Every named geometry, as scenario files and `list` name them.
    pub const NAMED: [(&str, Geometry); 7] = [
        ("real", Geometry::REAL),
        ("small", Geometry::SMALL),
        ("arm64-4k", Geometry::ARM64_4K),
        ("arm64-16k", Geometry::ARM64_16K),
        ("arm64-64k", Geometry::ARM64_64K),
        ("ppc64-radix", Geometry::PPC64_RADIX),
        ("ppc64-hash", Geometry::PPC64_HASH),
    ];

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
        1 << self.sz_1g_shift
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
        let shift = self.sz_1g_shift;
        if shift >= 30 {
            i32::MAX as u64
        } else {
            ((1u64 << 31) >> (30 - shift)) - 1
        }
    }
    /// `KMALLOC_MAX_SIZE`, `1 << (PAGE_SHIFT + MAX_PAGE_ORDER)`: the
    /// largest `kmalloc()`. Not scaled: only fixed-size objects are
    /// kmalloc'ed on this path.
    pub fn kmalloc_max_size(&self) -> u64 {
        1 << (self.page_shift + self.max_page_order)
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
    /// A short name for reports: the name a scenario file gives it, or the
    /// numbers.
    pub fn name(&self) -> String {
        match Geometry::NAMED.iter().find(|(_, g)| g == self) {
            Some((n, _)) => (*n).into(),
            None => format!(
                "page_shift={} pmd_order={} pud_order={:?}",
                self.page_shift, self.pmd_order, self.pud_order
            ),
        }
    }
    /// Whether this is x86-64 (the real machine or its scaled image): what
    /// this machine's own kernel runs, so what `live`, `repro` and `lab`
    /// can take.
    pub fn is_x86(&self) -> bool {
        *self == Geometry::REAL || *self == Geometry::SMALL
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
        assert_eq!(g.folio_bytes(g.pud_order.unwrap()), 1 << 30);
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

    #[test]
    fn arch_geometries_have_the_kernel_sizes() {
        const K: u64 = 1 << 10;
        const M: u64 = 1 << 20;
        const G: u64 = 1 << 30;
        let b = |g: &Geometry, o: Option<u32>| o.map(|o| g.folio_bytes(o));
        // (geometry, page, PMD, PUD, cont-PTE, cont-PMD, KMALLOC_MAX_SIZE)
        let table = [
            (
                Geometry::ARM64_4K,
                4 * K,
                2 * M,
                Some(G),
                Some(64 * K),
                Some(32 * M),
                4 * M,
            ),
            (
                Geometry::ARM64_16K,
                16 * K,
                32 * M,
                None,
                Some(2 * M),
                Some(G),
                32 * M,
            ),
            (
                Geometry::ARM64_64K,
                64 * K,
                512 * M,
                None,
                Some(2 * M),
                Some(16 * G),
                512 * M,
            ),
            (
                Geometry::PPC64_RADIX,
                64 * K,
                2 * M,
                Some(G),
                None,
                None,
                16 * M,
            ),
            (
                Geometry::PPC64_HASH,
                64 * K,
                16 * M,
                Some(16 * G),
                None,
                None,
                16 * M,
            ),
        ];
        for (g, page, pmd, pud, cpte, cpmd, kmax) in table {
            let n = g.name();
            assert_eq!(g.page_size(), page, "{n}");
            assert_eq!(g.folio_bytes(g.pmd_order), pmd, "{n}");
            assert_eq!(b(&g, g.pud_order), pud, "{n}");
            assert_eq!(b(&g, g.cont_pte_order), cpte, "{n}");
            assert_eq!(b(&g, g.cont_pmd_order), cpmd, "{n}");
            assert_eq!(g.kmalloc_max_size(), kmax, "{n}");
            // The limits are the real ones on every real machine.
            assert_eq!(g.sz_1g(), G, "{n}");
            assert_eq!(g.sz_1t(), 1 << 40, "{n}");
            assert_eq!(g.int_max(), i32::MAX as u64, "{n}");
            assert_eq!(g.max_rw_count(), i32::MAX as u64 & !(page - 1), "{n}");
            assert!(!g.is_x86(), "{n}");
        }
        assert_eq!(
            Geometry::PPC64_HASH.page_shift + Geometry::PPC64_HASH.pud_order.unwrap(),
            34
        );
        let names: Vec<_> = Geometry::NAMED
            .iter()
            .map(|(n, g)| (g.name(), *n))
            .collect();
        assert!(names.iter().all(|(a, b)| a == b), "{names:?}");
    }
}
