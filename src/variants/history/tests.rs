//! Each historical variant on the seed that shows its bug, and the mm state
//! the folio-unpinning bug needs.

use super::HISTORY;
use crate::corpus::load;
use crate::oracle::check;
use crate::scenario::{build, Scenario};
use crate::variants::by_name;
use std::path::Path;

/// (variant, seed under corpus/seeds, a signature its bug must produce).
const CASES: &[(&str, &str, &str)] = &[
    (
        "pre-d2acf789088b",
        "liburing/regbuf-merge-syzkaller.toml",
        "pins/count",
    ),
    (
        "pre-776617db78c6",
        "history/cve-2023-2598-hugetlb-twice.toml",
        "coverage/length",
    ),
    (
        "pre-a23800f08a60",
        "history/cve-2025-40216-thp-shifted.toml",
        "import/nr-segs",
    ),
    (
        "pre-5afb4bf9fc62",
        "history/5afb4bf9fc62-thp-tail-pages.toml",
        "pins/not-exclusive",
    ),
    (
        "pre-3a3c6d61577d",
        "history/cve-2025-40216-thp-shifted.toml",
        "coverage/wrong-bytes",
    ),
    (
        "pre-e1d7727b73a1",
        "history/e1d7727b73a1-readv-unaligned-thp.toml",
        "import/wrong-bytes",
    ),
    (
        "pre-e1c75831f682",
        "history/e1c75831f682-imu-alloc-failure.toml",
        "teardown/pins",
    ),
    (
        "pre-3996771b8f75",
        "history/3996771b8f75-one-tib-page-array.toml",
        "no_warning/__kvmalloc_node_noprof(io_pin_pages)",
    ),
];

#[test]
fn each_historical_variant_shows_its_bug_on_its_seed_and_upstream_does_not() {
    let up = by_name("upstream").unwrap();
    assert_eq!(CASES.len(), HISTORY.len(), "one case per variant");
    for &(name, file, sig) in CASES {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("corpus/seeds")
            .join(file);
        let s = load(&path).unwrap();
        let v = by_name(name).unwrap();
        let (verdict, _, _) = check(&s, v, up).unwrap();
        let want = format!("{name}:invariant:{sig}");
        assert!(
            verdict.signatures().contains(&want),
            "{name} on {file}: want {want}, got {:?}",
            verdict.signatures()
        );
        let (own, _, _) = check(&s, up, up).unwrap();
        assert!(own.is_clean(), "upstream on {file}: {:?}", own.signatures());
    }
}

/// The fix of 776617db78c6 matters only where 7.1 coalesces: the original
/// CVE shape, one small page mapped many times, is never coalesced by 7.1's
/// `io_check_coalesce_buffer()` (`nr_pages_mid == 1`), so the revert leaves
/// it alone; the huge-page form is where it shows.
#[test]
fn the_contiguity_revert_shows_only_where_7_1_coalesces() {
    let up = by_name("upstream").unwrap();
    let v = by_name("pre-776617db78c6").unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus/seeds/history/cve-2023-2598-same-page-many-times.toml");
    let s = load(&path).unwrap();
    assert!(check(&s, v, up).unwrap().0.is_clean());
}

fn thp_scenario(lead_hole: bool) -> Scenario {
    let hole = if lead_hole {
        "[[segment]]\npages = 1\n"
    } else {
        ""
    };
    let seg = if lead_hole { 1 } else { 0 };
    Scenario::from_toml(&format!(
        "format = 1\ngeometry = \"real\"\n[[folio]]\nkind = \"thp\"\nforked = true\n{hole}\
         [[segment]]\nfolio = 0\n[[op]]\nop = \"register\"\n\
         iovecs = [{{ kind = \"range\", start = {{ seg = {seg}, off = 4096 }}, end = {{ seg = {seg}, off = 12288 }} }}]\n\
         [[op]]\nop = \"unregister\"\n"
    ))
    .unwrap()
}

/// A pin unshares what it pins: the whole THP (its head) when it is
/// PMD-mapped, only the pinned pages when it is PTE-mapped. Only then is
/// unpinning the head a DEBUG_VM BUG.
#[test]
fn a_forked_thp_head_stays_shared_only_when_pte_mapped() {
    let v = by_name("pre-5afb4bf9fc62").unwrap();
    let up = by_name("upstream").unwrap();
    for (lead_hole, bug) in [(false, false), (true, true)] {
        let s = thp_scenario(lead_hole);
        let b = build(&s).unwrap();
        let head = b.world.phys.folios()[0].head;
        assert!(
            !b.world.phys.page_anon_exclusive(head + 1),
            "fork shares every page"
        );
        let (verdict, _, _) = check(&s, v, up).unwrap();
        let got = verdict
            .signatures()
            .contains("pre-5afb4bf9fc62:invariant:pins/not-exclusive");
        assert_eq!(
            got,
            bug,
            "lead hole {lead_hole}: {:?}",
            verdict.signatures()
        );
        assert!(check(&s, up, up).unwrap().0.is_clean());
    }
}

#[test]
fn folio_put_refs_drops_references_but_not_pins() {
    let s = thp_scenario(false);
    let mut w = build(&s).unwrap().world;
    let f = crate::mm::FolioId(0);
    w.phys.grab_pin(f, 3);
    w.phys.folio_put_refs(f, 2);
    let folio = w.phys.folio(f);
    assert_eq!((folio.refcount, folio.pincount), (2, 3));
    assert!(w.phys.violations.is_empty());
    w.phys.folio_put_refs(f, 2);
    assert_eq!(w.phys.violations.len(), 1, "below the pre-pin refcount");
}
