//! The architectures' geometries end to end: files written for them build
//! with the kernel's folio sizes, a kind an architecture lacks is refused by
//! name, files move between geometries keeping their meaning, and the
//! generator's scenarios at every geometry find what they find at x86-64.

use super::*;
use crate::campaign::{self, Config, Limit};
use crate::gen::{GenConfig, ALL_GEOMETRIES};
use crate::mm::FolioId;
use crate::oracle::check;
use crate::variants;
use std::collections::BTreeSet;

fn at(geometry: &str, body: &str) -> Scenario {
    Scenario::from_toml(&format!("format = 1\ngeometry = \"{geometry}\"\n{body}"))
        .unwrap_or_else(|e| panic!("{geometry}: {e:?}"))
}

fn corpus_file(name: &str) -> Scenario {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus/seeds/arch")
        .join(format!("{name}.toml"));
    crate::corpus::load(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Bytes of each folio of a built scenario.
fn folio_bytes(s: &Scenario) -> Vec<u64> {
    let b = build(s).unwrap_or_else(|e| panic!("{}: {e}", s.geometry));
    let geo = b.world.geo;
    (0..s.folios.len())
        .map(|i| b.world.phys.folio_nr_pages(FolioId(i as u32)) * geo.page_size())
        .collect()
}

const K: u64 = 1 << 10;
const M: u64 = 1 << 20;
const G: u64 = 1 << 30;

#[test]
fn each_architectures_file_builds_with_the_kernels_folio_sizes() {
    for (name, size) in [
        ("arm64-4k", 64 * K),
        ("arm64-16k", 2 * M),
        ("arm64-64k", 2 * M),
        ("ppc64-radix", 2 * M),
        ("ppc64-hash", 16 * M),
    ] {
        let s = corpus_file(name);
        assert_eq!(s.geometry.as_str(), name);
        assert_eq!(folio_bytes(&s), vec![size], "{name}");
        let b = build(&s).unwrap();
        // The two mappings of the one folio, each at its alignment.
        assert_eq!(b.segments[0].1, size, "{name}");
        assert_eq!(b.segments[1].0 % size, 0, "{name}");
    }
    let kinds = "[[folio]]\nkind = \"small\"\n[[folio]]\nkind = \"thp\"\n[[folio]]\nkind = \"hugetlb-pmd\"\n\
                 [[folio]]\nkind = \"hugetlb-cont-pte\"\n[[folio]]\nkind = \"hugetlb-cont-pmd\"\n";
    assert_eq!(
        folio_bytes(&at("arm64-4k", kinds)),
        [4 * K, 2 * M, 2 * M, 64 * K, 32 * M]
    );
    assert_eq!(
        folio_bytes(&at("arm64-16k", kinds)),
        [16 * K, 32 * M, 32 * M, 2 * M, G]
    );
    assert_eq!(
        folio_bytes(&at("arm64-64k", kinds)),
        [64 * K, 512 * M, 512 * M, 2 * M, 16 * G]
    );
    let pud = "[[folio]]\nkind = \"hugetlb-pud\"\n";
    assert_eq!(folio_bytes(&at("arm64-4k", pud)), [G]);
    assert_eq!(folio_bytes(&at("ppc64-radix", pud)), [G]);
    assert_eq!(folio_bytes(&at("ppc64-hash", pud)), [16 * G]);
    assert_eq!(
        folio_bytes(&at("ppc64-hash", "[[folio]]\nkind = \"hugetlb-pmd\"\n")),
        [16 * M]
    );
}

#[test]
fn a_kind_the_architecture_lacks_is_refused_by_name() {
    let pud = "[[folio]]\nkind = \"small\"\n[[folio]]\nkind = \"hugetlb-pud\"\n";
    for g in ["arm64-16k", "arm64-64k"] {
        let e = build(&at(g, pud)).expect_err("no PUD-level huge page");
        assert_eq!(e.field, "folio[1].kind", "{g}: {e}");
        assert!(
            e.reason.contains("hugetlb-pud") && e.reason.contains(g),
            "{g}: {e}"
        );
    }
    for g in ["real", "small", "ppc64-radix", "ppc64-hash"] {
        let e = build(&at(g, "[[folio]]\nkind = \"hugetlb-cont-pte\"\n")).expect_err("arm64 only");
        assert_eq!(e.field, "folio[0].kind", "{g}: {e}");
        assert!(e.reason.contains("contiguous-PTE"), "{g}: {e}");
    }
    // An mTHP order at or over the PMD order of the target.
    let e = build(&at(
        "ppc64-radix",
        "[[folio]]\nkind = \"mthp\"\norder = 6\n",
    ))
    .unwrap_err();
    assert_eq!(e.field, "folio[0].order", "{e}");
    let e = try_rescale(&at("real", pud), GeometryName::Arm64_64k).unwrap_err();
    assert_eq!(e.field, "folio[1].kind", "{e}");
    assert!(
        e.reason
            .contains("written at real, cannot move to arm64-64k"),
        "{e}"
    );
}

/// The segment sizes of a scenario upstream runs cleanly.
fn segment_bytes(s: &Scenario) -> Vec<u64> {
    let (v, _, _) = check(
        s,
        variants::by_name("upstream").unwrap(),
        variants::by_name("upstream").unwrap(),
    )
    .unwrap();
    assert!(v.primary().is_none(), "{:?}", v.primary());
    build(s).unwrap().segments.iter().map(|&(_, l)| l).collect()
}

#[test]
fn a_simple_file_rescaled_from_real_to_arm64_64k_keeps_its_meaning() {
    // A PMD hugetlb page mapped twice with a small page and a hole between:
    // a buffer from one byte into the first mapping to one page before the
    // end of the second, then an import of its first half.
    let real = at(
        "real",
        "[[folio]]\nkind = \"hugetlb-pmd\"\n[[folio]]\nkind = \"small\"\n\
         [[segment]]\nfolio = 0\n[[segment]]\nfolio = 1\n[[segment]]\npages = 3\n[[segment]]\nfolio = 0\n\
         [[op]]\nop = \"register\"\niovecs = [{ kind = \"range\", start = { seg = 0, off = 1 }, end = { seg = 3, off = 2093056 } }]\n\
         [[op]]\nop = \"import\"\nslot = 0\nddir = \"read\"\nspan = { start = { seg = 0, off = 1 }, end = { seg = 1, off = 4096 } }\n",
    );
    let arm = try_rescale(&real, GeometryName::Arm64_64k).expect("every kind exists there");
    assert_eq!(arm.geometry, GeometryName::Arm64_64k);
    assert_eq!(folio_bytes(&arm), [512 * M, 64 * K]);
    let Op::Register { iovecs } = &arm.ops[0] else {
        panic!("{:?}", arm.ops[0])
    };
    // One byte in, one page (64 KiB now) before the end.
    assert_eq!(
        iovecs[0],
        IovSpec::Range {
            start: Pos { seg: 0, off: 1 },
            end: Pos {
                seg: 3,
                off: 512 * M - 64 * K
            }
        }
    );
    let Op::Import { span, .. } = &arm.ops[1] else {
        panic!("{:?}", arm.ops[1])
    };
    assert_eq!(
        span.end,
        Pos {
            seg: 1,
            off: 64 * K
        }
    );
    // The same verdicts at both, and the hole is still three pages.
    assert_eq!(segment_bytes(&real), [2 * M, 4 * K, 12 * K, 2 * M]);
    assert_eq!(segment_bytes(&arm), [512 * M, 64 * K, 192 * K, 512 * M]);
    // And back: the file written for x86-64 is what comes home.
    assert_eq!(rescale(&arm, GeometryName::Real), real);
    for name in ["rfc-v1", "pre-776617db78c6", "v7.2"] {
        let v = variants::by_name(name).unwrap();
        let up = variants::by_name("upstream").unwrap();
        let sig = |s: &Scenario| {
            check(s, v, up)
                .unwrap()
                .0
                .primary()
                .map(|p| p.split(':').skip(1).collect::<Vec<_>>().join(":"))
        };
        assert_eq!(sig(&real), sig(&arm), "{name}");
    }
}

#[test]
fn the_generator_draws_every_geometry_and_each_scenario_builds() {
    let gen = GenConfig {
        geometries: ALL_GEOMETRIES.to_vec(),
        ..GenConfig::default()
    };
    let mut seen = BTreeSet::new();
    for i in 0..600 {
        let s = campaign::draw(5, i, &gen);
        if let Err(e) = build(&s) {
            assert!(e.over_capacity(), "{} iteration {i}: {e}", s.geometry);
        }
        if !s.geometry.geometry().is_x86() {
            // Only what the architecture has.
            for f in &s.folios {
                assert!(
                    s.geometry.geometry().pud_order.is_some()
                        || f.kind != FolioKindSpec::HugetlbPud,
                    "{} iteration {i}",
                    s.geometry
                );
            }
        }
        seen.insert(s.geometry);
    }
    assert_eq!(seen.len(), GeometryName::ALL.len(), "{seen:?}");
}

#[test]
fn a_campaign_over_every_geometry_finds_rfc_v1_on_several_and_nothing_against_itself() {
    let gen = GenConfig {
        geometries: ALL_GEOMETRIES.to_vec(),
        ..GenConfig::default()
    };
    let (v, up) = (
        variants::by_name("rfc-v1").unwrap(),
        variants::by_name("upstream").unwrap(),
    );
    let mut found = BTreeSet::new();
    for i in 0..3000 {
        let s = campaign::draw(1, i, &gen);
        if let Ok((verdict, _, _)) = check(&s, v, up) {
            if let Some(p) = verdict.primary() {
                if p.starts_with("rfc-v1:invariant:coverage/") {
                    found.insert(s.geometry);
                }
            }
        }
    }
    let arch: Vec<_> = found.iter().filter(|g| !g.is_x86()).collect();
    assert!(
        found.len() >= 2 && !arch.is_empty(),
        "coverage found at {found:?}"
    );
    let cfg = |variant, seed| Config {
        variant,
        against: up,
        seed,
        limit: Limit::Runs(2000),
        jobs: 2,
        faults: true,
        kbufs: true,
        progress: false,
        known: false,
        geometries: ALL_GEOMETRIES,
    };
    let r = campaign::run(&cfg(up, 7));
    assert_eq!(r.execs, 2000);
    assert!(
        r.found.is_empty(),
        "{:?}",
        r.found.iter().map(|f| &f.signature).collect::<Vec<_>>()
    );
    let r = campaign::run(&cfg(v, 7));
    assert!(r
        .found
        .iter()
        .any(|f| f.signature.starts_with("rfc-v1:invariant:coverage/")));
}
