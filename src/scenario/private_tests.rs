//! MAP_PRIVATE hugetlb pages end to end: what a file may ask of them (mapped
//! once, whole; fork states), what the model makes of them (anonymous and
//! hugetlb at once), and hugetlb's COW when a fork()ed child still maps one.

use super::*;
use crate::mm::FolioId;
use crate::variants;

fn scenario(body: &str) -> Scenario {
    Scenario::from_toml(&format!("format = 1\ngeometry = \"real\"\n{body}"))
        .unwrap_or_else(|e| panic!("{e:?}"))
}

fn reject(geometry: &str, body: &str) -> ScenarioError {
    let s = Scenario::from_toml(&format!("format = 1\ngeometry = \"{geometry}\"\n{body}"))
        .unwrap_or_else(|e| panic!("{e:?}"));
    match build(&s) {
        Ok(_) => panic!("built: {body}"),
        Err(e) => e,
    }
}

const PRIVATE: &str = "[[folio]]\nkind = \"hugetlb-pmd-private\"\n";

#[test]
fn a_private_hugetlb_page_is_mapped_once_whole_and_forked_as_asked() {
    let cases = [
        (
            format!("{PRIVATE}[[segment]]\nfolio = 0\n[[segment]]\nfolio = 0\n"),
            "segment[1].folio",
            "already mapped",
        ),
        (
            format!("{PRIVATE}[[segment]]\nfolio = 0\ncount = 2\n"),
            "segment[0].count",
            "mapped at most once",
        ),
        (
            format!("{PRIVATE}[[segment]]\nfolio = 0\npages = 3\n"),
            "segment[0].pages",
            "mapped whole",
        ),
        (
            format!("{PRIVATE}child_maps = true\n"),
            "folio[0].child_maps",
            "needs `forked = true`",
        ),
        (
            "[[folio]]\nkind = \"thp\"\nforked = true\nchild_maps = true\n".into(),
            "folio[0].child_maps",
            "only a private hugetlb page",
        ),
        (
            "[[folio]]\nkind = \"hugetlb-pmd\"\nforked = true\n".into(),
            "folio[0].forked",
            "hugetlb-pmd-private",
        ),
    ];
    for (body, field, words) in cases {
        let e = reject("real", &body);
        assert_eq!(e.field, field, "{body}: {e}");
        assert!(e.reason.contains(words), "{body}: {e}");
    }
    let e = reject("arm64-64k", "[[folio]]\nkind = \"hugetlb-pud-private\"\n");
    assert_eq!(
        (
            e.field.as_str(),
            e.reason.contains("no PUD-level huge page")
        ),
        ("folio[0].kind", true),
        "{e}"
    );
}

#[test]
fn a_private_hugetlb_page_is_anonymous_and_hugetlb_a_memfd_one_only_hugetlb() {
    let b = build(&scenario(
        "[[folio]]\nkind = \"hugetlb-pmd-private\"\n[[folio]]\nkind = \"hugetlb-pmd\"\n[[segment]]\nfolio = 0\n[[segment]]\nfolio = 1\n",
    ))
    .expect("builds");
    let p = &b.world.phys;
    assert!(p.folio_test_hugetlb(FolioId(0)) && p.folio_test_anon(FolioId(0)));
    assert!(p.folio_test_hugetlb(FolioId(1)) && !p.folio_test_anon(FolioId(1)));
    assert_eq!(p.folios().len(), 2, "no pool page without a live child");
}

/// The byte ranges slot 0 covers after operation `op`, as folio indices.
fn slot_folios(b: &Built, r: &crate::run::Run, op: usize) -> Vec<FolioId> {
    let slot = r.ops[op].snapshot.slots[0].as_ref().expect("slot 0 set");
    slot.bytes
        .iter()
        .map(|&(at, _)| b.world.phys.page_folio(at >> 12).expect("in a folio"))
        .collect()
}

const COW: &str = "[[folio]]\nkind = \"hugetlb-pmd-private\"\nforked = true\nchild_maps = true\n[[segment]]\nfolio = 0\n";
const WHOLE: &str = "[[op]]\nop = \"register\"\niovecs = [{ kind = \"range\", start = { seg = 0, off = 0 }, end = { seg = 0, off = 2097152 } }]\n";

#[test]
fn a_pin_copies_a_page_a_live_child_maps_once_and_holds_the_copy() {
    let s = scenario(&format!("{COW}{WHOLE}[[op]]\nop = \"unregister\"\n{WHOLE}"));
    let b = build(&s).expect("builds");
    let copy = b.world.phys.cow_target(FolioId(0)).expect("a pool page");
    assert_eq!(
        copy,
        FolioId(1),
        "the pool page comes after the scenario's folios"
    );
    let up = variants::by_name("upstream").expect("upstream");
    let r = crate::run::run(up, &b);
    assert_eq!(r.ops[0].ret, 0);
    assert_eq!(slot_folios(&b, &r, 0), vec![copy]);
    assert_eq!(
        r.ops[0].snapshot.pins,
        vec![0, 1],
        "the copy is pinned, the child's page is not"
    );
    assert_eq!(r.ops[0].cow_copied, vec![(FolioId(0), copy)]);
    // Registered again: the parent maps the copy alone now, so it is reused.
    assert_eq!(slot_folios(&b, &r, 2), vec![copy]);
    assert_eq!(r.ops[2].cow_copied.len(), 1);
    assert!(
        r.ops.iter().all(|o| o.violations.is_empty()),
        "{:?}",
        r.ops.iter().map(|o| &o.violations).collect::<Vec<_>>()
    );
}

#[test]
fn a_page_shared_with_a_child_that_exited_is_reused_not_copied() {
    let s = scenario(&format!(
        "[[folio]]\nkind = \"hugetlb-pmd-private\"\nforked = true\n[[segment]]\nfolio = 0\n{WHOLE}[[op]]\nop = \"unregister\"\n"
    ));
    let b = build(&s).expect("builds");
    assert!(!b
        .world
        .phys
        .page_anon_exclusive(b.world.phys.folio(FolioId(0)).head));
    let r = crate::run::run(variants::by_name("upstream").expect("upstream"), &b);
    assert_eq!(slot_folios(&b, &r, 0), vec![FolioId(0)]);
    assert!(r.ops[0].cow_copied.is_empty());
    assert!(r.ops.iter().all(|o| o.violations.is_empty()));
}

#[test]
fn a_pin_that_fails_after_the_copy_leaves_the_copy_and_one_that_cannot_write_makes_none() {
    // The walk copies the page, then meets the hole: -EFAULT, pins given
    // back, but the parent keeps the copy (the kernel does not undo a COW).
    let s = scenario(&format!(
        "{COW}[[segment]]\npages = 1\n[[op]]\nop = \"register\"\niovecs = [{{ kind = \"range\", start = {{ seg = 0, off = 0 }}, end = {{ seg = 1, off = 4096 }} }}]\n"
    ));
    let b = build(&s).expect("builds");
    let r = crate::run::run(variants::by_name("upstream").expect("upstream"), &b);
    assert_eq!(r.ops[0].ret, -14);
    assert_eq!(r.ops[0].cow_copied.len(), 1);
    assert_eq!(r.ops[0].snapshot.pins, vec![0, 0]);
    // PROT_READ: FOLL_WRITE fails before any fault, so nothing is copied.
    let s = scenario(&format!("{}readonly = true\n{WHOLE}", COW));
    let b = build(&s).expect("builds");
    let r = crate::run::run(variants::by_name("upstream").expect("upstream"), &b);
    assert_eq!(r.ops[0].ret, -14);
    assert!(r.ops[0].cow_copied.is_empty());
}
