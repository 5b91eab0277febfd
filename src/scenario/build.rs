//! From a scenario to a simulated machine and concrete operations.
//!
//! Layout rules, which are the rules user space lives by: folios are placed
//! in physical order at their natural alignment; a hugetlb folio can only be
//! mapped whole at an address aligned to its size, and so can a PMD-mapped
//! THP (`aligned = true`); an anonymous THP or mTHP page is mapped at most
//! once in one address space (partial mappings of one THP at different
//! addresses are fine: that is what a partial mremap leaves), while shmem
//! small pages and hugetlb file pages may be mapped at any number of
//! addresses. Anything else is rejected with the field and the reason.

use super::format::*;
use crate::mm::{FolioKind, Geometry, Mapping, PFN_BASE, USER_VA_BASE};
use crate::model::{Iovec, World};
use std::fmt;

/// Limits that keep a hand-written file from asking for more than a run
/// should take (a few GiB of simulated page arrays).
const MAX_FOLIOS: usize = 4096;
const MAX_SEGMENTS: usize = 4096;
/// Most operations in one scenario.
pub const MAX_OPS: usize = 4096;
const MAX_PUD_FOLIOS: usize = 4;
/// Most copies in one counted segment.
const MAX_COUNT: u64 = 4096;
/// Most pages mapped in all, copies counted: four `SZ_1T` buffers at the
/// real geometry. Page arrays and bvec tables are runs
/// ([`crate::model::runs`]), so what a run costs grows with its folio
/// boundaries, not its pages; this bounds the pfn arithmetic only.
pub const MAX_MAPPED_PAGES: u64 = 1 << 30;

/// Most pages mapped in all where real C runs the scenario (a tree's C
/// through the shim, a `repro` program, the live check): there page
/// arrays and bvec tables are real memory, 8 and 16 bytes an entry. A
/// `SZ_1T` buffer at the small geometry, 2^22 pages, fits.
pub const MAX_C_MAPPED_PAGES: u64 = (1 << 22) + (1 << 16);

/// Why a scenario cannot be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// The field, as a path: `segment[2].pages`.
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

/// The words of the error a scenario gets when it maps more than
/// [`MAX_MAPPED_PAGES`]: a valid scenario this model cannot run at that
/// geometry, as opposed to a malformed one.
const OVER_CAPACITY: &str = "more than is run";

impl ScenarioError {
    /// Whether the scenario is well formed but maps more pages than the
    /// model runs (a large count rescaled to the real geometry).
    pub fn over_capacity(&self) -> bool {
        self.reason.contains(OVER_CAPACITY)
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "field `{}`: {}", self.field, self.reason)
    }
}

/// Only a read can wait in flight for its data (an empty pipe or socket);
/// a write completes as soon as it is issued.
pub(super) fn held_read(d: Ddir, hold: bool, field: &str) -> Result<(), ScenarioError> {
    if hold && d != Ddir::Read {
        return err(
            format!("{field}.hold"),
            "only a read can be held in flight (it waits for data); a write completes at once",
        );
    }
    Ok(())
}

pub(super) fn err<T>(
    field: impl Into<String>,
    reason: impl Into<String>,
) -> Result<T, ScenarioError> {
    Err(ScenarioError {
        field: field.into(),
        reason: reason.into(),
    })
}

/// An operation with every address resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum ConcreteOp {
    Register {
        iovecs: Vec<Iovec>,
    },
    RegisterSparse {
        nr: u32,
    },
    Update {
        offset: u32,
        iovecs: Vec<Iovec>,
    },
    Unregister,
    Import {
        slot: u32,
        ddir: u32,
        buf_addr: u64,
        len: u64,
        hold: bool,
    },
    Readv {
        slot: u32,
        ddir: u32,
        iovecs: Vec<Iovec>,
        hold: bool,
    },
    Complete,
    Ring {
        ring: u32,
    },
    Clone(crate::model::clone::IoUringCloneBuffers),
    KbufRegister {
        index: u32,
        rq: crate::model::kbuf::BlkRequest,
    },
    KbufUnregister {
        index: u32,
    },
    KbufImport {
        slot: u32,
        ddir: u32,
        off: u64,
        len: u64,
        hold: bool,
    },
    KbufReadv {
        slot: u32,
        ddir: u32,
        iovecs: Vec<Iovec>,
        hold: bool,
    },
}

/// A built scenario.
#[derive(Clone, Debug)]
pub struct Built {
    /// The machine before the first operation.
    pub world: World,
    /// The operations, resolved.
    pub ops: Vec<ConcreteOp>,
    /// Start address and size in bytes of each segment.
    pub segments: Vec<(u64, u64)>,
    /// Pages mapped in all, copies counted.
    pub mapped_pages: u64,
}

impl Built {
    /// Whether real C (`who`) can run this scenario: at most
    /// [`MAX_C_MAPPED_PAGES`] mapped, else an error that names the limit
    /// and says the model runs it.
    pub fn fits_c(&self, who: &str) -> Result<(), ScenarioError> {
        if self.mapped_pages <= MAX_C_MAPPED_PAGES {
            return Ok(());
        }
        err(
            "segment",
            format!(
                "{} pages mapped in all, {OVER_CAPACITY} by {who}: its page arrays and bvec tables are real memory \
                 (8 and 16 bytes an entry), so it takes at most {MAX_C_MAPPED_PAGES} pages (a SZ_1T buffer at the small geometry); \
                 the Rust model runs it (`regbuf-fuzz replay FILE`)",
                self.mapped_pages
            ),
        )
    }
}

/// Builds `s` at its own geometry.
pub fn build(s: &Scenario) -> Result<Built, ScenarioError> {
    let geo = s.geometry.geometry();
    if s.folios.len() > MAX_FOLIOS {
        return err(
            "folio",
            format!("{} folios; at most {MAX_FOLIOS}", s.folios.len()),
        );
    }
    if s.segments.len() > MAX_SEGMENTS {
        return err(
            "segment",
            format!("{} segments; at most {MAX_SEGMENTS}", s.segments.len()),
        );
    }
    if s.ops.len() > MAX_OPS {
        return err(
            "op",
            format!("{} operations; at most {MAX_OPS}", s.ops.len()),
        );
    }
    let rings = rings_named(s)?;
    let memlock = s.memlock.map(|m| m.bytes_at(&geo));
    let setup = crate::model::RING_REGION_PAGES * rings as u64;
    if memlock.is_some_and(|m| m >> geo.page_shift < setup) {
        return err(
            "memlock",
            format!("below the {setup} pages io_uring_setup charges for the scenario's {rings} ring(s): a ring could not be created"),
        );
    }
    let mut world = World::new(geo, memlock, s.faults.clone());
    while world.nr_rings() < rings {
        world.add_ring();
    }
    let orders = place_folios(s, &mut world)?;
    let (segments, mapped_pages) = map_segments(s, &orders, &mut world)?;
    let folios: Vec<(crate::mm::Pfn, u64)> = world.phys.folios()[..s.folios.len()]
        .iter()
        .map(|f| (f.head, geo.folio_bytes(f.order)))
        .collect();
    let ops = super::resolve::ops(s, &segments, &folios, &geo)?;
    Ok(Built {
        world,
        ops,
        segments,
        mapped_pages,
    })
}

/// How many rings `s` needs: one past the highest it names.
pub fn rings_named(s: &Scenario) -> Result<u32, ScenarioError> {
    let mut rings = 1;
    for (i, op) in s.ops.iter().enumerate() {
        let (field, r) = match *op {
            Op::Ring { ring } => ("ring", ring),
            Op::Clone { src, .. } => ("src", src),
            _ => continue,
        };
        if r >= MAX_RINGS {
            return err(
                format!("op[{i}].{field}"),
                format!("ring {r}; a scenario has rings 0 to {}", MAX_RINGS - 1),
            );
        }
        rings = rings.max(r + 1);
    }
    Ok(rings)
}

/// Puts the folios in physical memory, in order, each at its natural
/// alignment after its `gap`; returns each folio's order.
fn place_folios(s: &Scenario, world: &mut World) -> Result<Vec<u32>, ScenarioError> {
    let geo = world.geo;
    let mut pfn = PFN_BASE;
    let mut orders = Vec::with_capacity(s.folios.len());
    let mut puds = 0;
    for (i, f) in s.folios.iter().enumerate() {
        let (order, kind) = folio_order(&geo, f, i)?;
        // A PUD folio, or one as large (arm64's 1 and 16 GiB contiguous-PMD
        // pages, ppc64's 16 GiB): each costs a quarter million page structs.
        if f.kind.sized() == FolioKindSpec::HugetlbPud || order >= 14 {
            puds += 1;
            if puds > MAX_PUD_FOLIOS {
                return err(
                    format!("folio[{i}].kind"),
                    format!("more than {MAX_PUD_FOLIOS} folios of PUD size or 2^14 pages and more"),
                );
            }
        }
        pfn += f.gap as u64;
        pfn = pfn.next_multiple_of(1 << order);
        let id = world.phys.add_folio(pfn, order, kind);
        if f.forked {
            if !world.phys.folio_test_anon(id) {
                return err(
                    format!("folio[{i}].forked"),
                    "only anonymous folios (thp, mthp, hugetlb-pmd-private, hugetlb-pud-private) are shared by fork()",
                );
            }
            if !f.child_maps {
                world.phys.share_after_fork(id);
            }
        }
        if f.child_maps {
            if !f.kind.is_private_hugetlb() {
                return err(
                    format!("folio[{i}].child_maps"),
                    "only a private hugetlb page (hugetlb-pmd-private, hugetlb-pud-private) is modelled mapped by a live child: a THP's COW would split it",
                );
            }
            if !f.forked {
                return err(
                    format!("folio[{i}].child_maps"),
                    "needs `forked = true`: only a fork()ed child maps the page too",
                );
            }
        }
        pfn += 1 << order;
        orders.push(order);
    }
    // The pool pages hugetlb's COW copies into, one per page a live child
    // maps, after every scenario folio and one folio apart from anything,
    // so that no copy is physically adjacent to another folio.
    for (i, f) in s.folios.iter().enumerate() {
        if !f.child_maps {
            continue;
        }
        let order = orders[i];
        if order >= 14 {
            puds += 1;
            if puds > MAX_PUD_FOLIOS {
                return err(
                    format!("folio[{i}].child_maps"),
                    format!("its copy makes more than {MAX_PUD_FOLIOS} folios of PUD size or 2^14 pages and more"),
                );
            }
        }
        pfn = pfn.next_multiple_of(1 << order) + (1 << order);
        let copy = world.phys.add_folio(pfn, order, FolioKind::HugetlbAnon);
        world
            .phys
            .share_with_child(crate::mm::FolioId(i as u32), copy);
        pfn += 1 << order;
    }

    Ok(orders)
}

/// Maps the segments in address order, each after the last; returns each
/// segment's start address and size in bytes, and the pages mapped in all.
fn map_segments(
    s: &Scenario,
    orders: &[u32],
    world: &mut World,
) -> Result<(Vec<(u64, u64)>, u64), ScenarioError> {
    let geo = world.geo;
    let ps = geo.page_size();
    let mut va = USER_VA_BASE;
    let mut segments = Vec::with_capacity(s.segments.len());
    let mut anon_mapped: Vec<Vec<(u64, u64)>> = vec![vec![]; s.folios.len()];
    let mut mapped = 0u64;
    for (i, seg) in s.segments.iter().enumerate() {
        let field = |name: &str| format!("segment[{i}].{name}");
        let count = seg.count;
        if !(1..=MAX_COUNT).contains(&count) {
            return err(
                field("count"),
                format!("{count} copies; between 1 and {MAX_COUNT}"),
            );
        }
        let Some(fi) = seg.folio else {
            let pages = hole_pages(seg, &field)?;
            segments.push((va, pages * ps));
            va += pages * ps;
            continue;
        };
        let (spec, pages) = folio_segment_pages(s, seg, fi, orders, &field)?;
        let hugetlb = spec.kind.is_hugetlb();
        let order = orders[fi as usize];
        mapped += pages * count;
        if mapped > MAX_MAPPED_PAGES {
            return err(
                field("count"),
                format!(
                    "{mapped} pages mapped in all by here, {OVER_CAPACITY}: the model takes at most {MAX_MAPPED_PAGES} (four SZ_1T buffers at the real geometry)"
                ),
            );
        }
        if spec.kind.is_anon() {
            let r = (seg.first, seg.first + pages);
            if anon_mapped[fi as usize]
                .iter()
                .any(|&(a, b)| a < r.1 && r.0 < b)
            {
                return err(
                    field("folio"),
                    format!("pages {}..{} of anonymous folio {fi} are already mapped; only shmem and shared (memfd) hugetlb pages can be mapped twice", r.0, r.1),
                );
            }
            anon_mapped[fi as usize].push(r);
        }
        if hugetlb || seg.aligned {
            va = va.next_multiple_of(geo.folio_bytes(order));
        }
        let folio = crate::mm::FolioId(fi);
        let head = world.phys.folio(folio).head;
        // Copies follow each other; a hugetlb or aligned copy is a whole
        // folio, so the next one starts aligned too.
        let start = va;
        for _ in 0..count {
            world.aspace.map(Mapping {
                vpn: va >> geo.page_shift,
                npages: pages,
                pfn: head + seg.first,
                folio,
                writable: !seg.readonly,
            });
            va += pages * ps;
        }
        segments.push((start, va - start));
    }

    Ok((segments, mapped))
}

/// The pages of a hole segment, its copies counted.
fn hole_pages(seg: &Segment, field: &dyn Fn(&str) -> String) -> Result<u64, ScenarioError> {
    let count = seg.count;
    let pages = match seg.pages {
        Some(p) if p >= 1 && p <= 1 << 20 => p,
        Some(p) => {
            return err(
                field("pages"),
                format!("a hole of {p} pages; between 1 and 2^20"),
            )
        }
        None => return err(field("pages"), "a hole needs `pages`"),
    };
    if seg.readonly || seg.aligned || seg.first != 0 {
        return err(
            field("folio"),
            "`readonly`, `aligned` and `first` need a folio",
        );
    }
    let pages = pages * count;
    if pages > 1 << 20 {
        return err(
            field("count"),
            format!("a hole of {pages} pages in all; at most 2^20"),
        );
    }
    Ok(pages)
}

/// The folio a segment maps and how many of its pages, checked against
/// what user space can map: a hugetlb folio whole, a PMD or PUD mapping at
/// its alignment, an anonymous folio's pages once.
fn folio_segment_pages<'s>(
    s: &'s Scenario,
    seg: &Segment,
    fi: u32,
    orders: &[u32],
    field: &dyn Fn(&str) -> String,
) -> Result<(&'s FolioSpec, u64), ScenarioError> {
    let count = seg.count;
    let Some(spec) = s.folios.get(fi as usize) else {
        return err(
            field("folio"),
            format!("folio {fi} does not exist ({} folios)", s.folios.len()),
        );
    };
    let order = orders[fi as usize];
    let n = 1u64 << order;
    if seg.first >= n {
        return err(
            field("first"),
            format!("page {} of a {n}-page folio", seg.first),
        );
    }
    let pages = seg.pages.unwrap_or(n - seg.first);
    if pages == 0 || seg.first + pages > n {
        return err(
            field("pages"),
            format!(
                "pages {}..{} of a {n}-page folio",
                seg.first,
                seg.first + pages
            ),
        );
    }
    let whole = seg.first == 0 && pages == n;
    let hugetlb = spec.kind.is_hugetlb();
    if hugetlb && !whole {
        return err(field("pages"), "a hugetlb folio can only be mapped whole");
    }
    if seg.aligned && !whole {
        return err(
            field("aligned"),
            "only a whole folio can be mapped at its alignment",
        );
    }
    if seg.aligned && !matches!(spec.kind, FolioKindSpec::Thp | FolioKindSpec::ShmemThp) && !hugetlb
    {
        return err(
            field("aligned"),
            "only THP (anonymous or shmem) and hugetlb folios are mapped by a PMD or PUD",
        );
    }
    if count > 1 && spec.kind.is_anon() {
        return err(
            field("count"),
            "an anonymous folio's pages (thp, mthp, a private hugetlb page) are mapped at most once; only shmem and shared (memfd) hugetlb pages can be mapped at several addresses",
        );
    }
    Ok((spec, pages))
}

/// Order and kind of folio `i`, checked against the geometry.
pub(crate) fn folio_order(
    geo: &Geometry,
    f: &FolioSpec,
    i: usize,
) -> Result<(u32, FolioKind), ScenarioError> {
    if f.order.is_some() && !f.kind.takes_order() {
        return err(
            format!("folio[{i}].order"),
            "only mthp and shmem-mthp folios take an order",
        );
    }
    if f.gap > 1 << 20 {
        return err(format!("folio[{i}].gap"), "a gap of more than 2^20 pages");
    }
    Ok(match f.kind {
        FolioKindSpec::Small => (0, FolioKind::Small),
        k @ (FolioKindSpec::Mthp | FolioKindSpec::ShmemMthp) => match f.order {
            Some(o) if o >= 2 && o < geo.pmd_order => (
                o,
                if k == FolioKindSpec::Mthp {
                    FolioKind::Mthp
                } else {
                    FolioKind::Shmem
                },
            ),
            Some(o) => {
                return err(
                    format!("folio[{i}].order"),
                    format!(
                        "mTHP order {o}; this geometry allows 2 to {}",
                        geo.pmd_order - 1
                    ),
                )
            }
            None => {
                return err(
                    format!("folio[{i}].order"),
                    format!("a {} folio needs an order", k.as_str()),
                )
            }
        },
        FolioKindSpec::ShmemThp => (geo.pmd_order, FolioKind::Shmem),
        FolioKindSpec::Thp => (geo.pmd_order, FolioKind::Thp),
        FolioKindSpec::HugetlbPmd => (geo.pmd_order, FolioKind::Hugetlb),
        FolioKindSpec::HugetlbPmdPrivate => (geo.pmd_order, FolioKind::HugetlbAnon),
        FolioKindSpec::HugetlbPudPrivate => match geo.pud_order {
            Some(o) => (o, FolioKind::HugetlbAnon),
            None => {
                return err(
                    format!("folio[{i}].kind"),
                    format!(
                        "`hugetlb-pud-private`: geometry {} has no PUD-level huge page",
                        geo.name()
                    ),
                )
            }
        },
        k @ (FolioKindSpec::HugetlbPud
        | FolioKindSpec::HugetlbContPte
        | FolioKindSpec::HugetlbContPmd) => {
            let (order, what) = match k {
                FolioKindSpec::HugetlbPud => (geo.pud_order, "PUD-level huge page"),
                FolioKindSpec::HugetlbContPte => (geo.cont_pte_order, "contiguous-PTE huge page"),
                _ => (geo.cont_pmd_order, "contiguous-PMD huge page"),
            };
            match order {
                Some(o) => (o, FolioKind::Hugetlb),
                None => {
                    return err(
                        format!("folio[{i}].kind"),
                        format!("`{}`: geometry {} has no {what}", k.as_str(), geo.name()),
                    )
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reject(body: &str) -> ScenarioError {
        let s = Scenario::from_toml(&format!("format = 1\ngeometry = \"real\"\n{body}"))
            .expect("parses");
        build(&s).expect_err("user space cannot build this")
    }

    #[test]
    fn a_counted_segment_maps_its_copies_in_a_row() {
        let s = Scenario::from_toml(
            "format = 1\ngeometry = \"real\"\n[[folio]]\nkind = \"small\"\n[[folio]]\nkind = \"hugetlb-pmd\"\n\
             [[segment]]\nfolio = 0\ncount = 3\n[[segment]]\nfolio = 1\ncount = 2\n[[segment]]\npages = 2\ncount = 2\n",
        )
        .unwrap();
        let b = build(&s).unwrap();
        let at: Vec<(u64, u64)> = b
            .segments
            .iter()
            .map(|&(a, l)| (a - USER_VA_BASE, l))
            .collect();
        // Three 4 KiB copies, then two 2 MiB copies from the next 2 MiB
        // boundary, then a 4-page hole.
        assert_eq!(at, [(0, 3 << 12), (2 << 20, 4 << 20), (6 << 20, 4 << 12)]);
        let maps: Vec<(u64, u64)> = b
            .world
            .aspace
            .mappings()
            .iter()
            .map(|m| ((m.vpn << 12) - USER_VA_BASE, m.pfn))
            .collect();
        let (small, huge) = (b.world.phys.folios()[0].head, b.world.phys.folios()[1].head);
        assert_eq!(
            maps,
            [
                (0, small),
                (1 << 12, small),
                (2 << 12, small),
                (2 << 20, huge),
                (4 << 20, huge)
            ]
        );
        let e = reject("[[folio]]\nkind = \"thp\"\n[[segment]]\nfolio = 0\ncount = 2\n");
        assert_eq!(e.field, "segment[0].count");
        assert!(!e.over_capacity());
        let e = reject("[[folio]]\nkind = \"small\"\n[[segment]]\nfolio = 0\ncount = 0\n");
        assert_eq!(e.field, "segment[0].count");
        // 4096 copies of a 1 GiB page are 2^30 pages, and one more is
        // valid but more than the model runs.
        let e = reject("[[folio]]\nkind = \"hugetlb-pud\"\n[[segment]]\nfolio = 0\ncount = 4096\n[[segment]]\nfolio = 0\n");
        assert_eq!(e.field, "segment[1].count");
        assert!(e.over_capacity(), "{e}");
    }

    #[test]
    fn a_tib_at_real_geometry_builds_but_real_c_is_not_given_it() {
        let pud = |count: u32| {
            let s = Scenario::from_toml(&format!(
                "format = 1\ngeometry = \"real\"\n[[folio]]\nkind = \"hugetlb-pud\"\n[[segment]]\nfolio = 0\ncount = {count}\n"
            ))
            .unwrap();
            build(&s).unwrap()
        };
        let tib = pud(1024);
        assert_eq!(tib.mapped_pages, 1 << 28);
        let e = tib.fits_c("a repro program").unwrap_err();
        assert_eq!(e.field, "segment");
        assert!(
            e.over_capacity() && e.reason.contains("a repro program"),
            "{e}"
        );
        assert!(pud(16).fits_c("a repro program").is_ok());
    }

    #[test]
    fn layouts_user_space_cannot_build_are_rejected_with_the_field() {
        let e = reject("[[folio]]\nkind = \"hugetlb-pmd\"\n[[segment]]\nfolio = 0\npages = 3\n");
        assert_eq!(
            (e.field.as_str(), e.reason.as_str()),
            (
                "segment[0].pages",
                "a hugetlb folio can only be mapped whole"
            )
        );
        let e = reject("[[folio]]\nkind = \"thp\"\n[[segment]]\nfolio = 0\n[[segment]]\nfolio = 0\nfirst = 4\npages = 1\n");
        assert_eq!(e.field, "segment[1].folio");
        assert!(
            e.reason
                .contains("only shmem and shared (memfd) hugetlb pages can be mapped twice"),
            "{e}"
        );
        let e = reject("[[folio]]\nkind = \"small\"\n[[segment]]\nfolio = 0\naligned = true\n");
        assert_eq!(e.field, "segment[0].aligned");
        let e = reject("[[folio]]\nkind = \"mthp\"\norder = 9\n");
        assert_eq!(e.field, "folio[0].order");
        let e = reject("[[segment]]\nfolio = 2\n");
        assert_eq!(e.field, "segment[0].folio");
        let e = reject("[[folio]]\nkind = \"small\"\n[[segment]]\nfolio = 0\n[[op]]\nop = \"register\"\niovecs = [{ kind = \"range\", start = { seg = 0, off = 8192 }, end = { seg = 0, off = 0 } }]\n");
        assert_eq!(e.field, "op[0].iovecs[0].start.off");
    }

    #[test]
    fn hugetlb_and_pmd_mapped_thp_are_placed_at_their_alignment() {
        let s = Scenario::from_toml(
            "format = 1\ngeometry = \"real\"\n[[folio]]\nkind = \"small\"\n[[folio]]\nkind = \"hugetlb-pmd\"\n[[folio]]\nkind = \"thp\"\n\
             [[segment]]\nfolio = 0\n[[segment]]\nfolio = 1\n[[segment]]\nfolio = 2\nfirst = 1\n[[segment]]\nfolio = 2\npages = 1\n",
        )
        .unwrap();
        let b = build(&s).unwrap();
        let starts: Vec<u64> = b.segments.iter().map(|&(a, _)| a - USER_VA_BASE).collect();
        assert_eq!(
            starts,
            vec![0, 2 << 20, 4 << 20, (4 << 20) + 511 * 4096],
            "a split THP lands where it is put"
        );
        // Physically: the small page, then the huge folios at their alignment.
        let heads: Vec<u64> = b
            .world
            .phys
            .folios()
            .iter()
            .map(|f| f.head - PFN_BASE)
            .collect();
        assert_eq!(heads, vec![0, 512, 1024]);
    }
}
