//! The variants on known layouts: RFC v1's shortcut, and where the fixed
//! fast path takes it and where it declines.

use super::{by_name, Variant};
use crate::mm::AllocSite;
use crate::oracle::check;
use crate::scenario::{build, Scenario};

fn scenario(segments: &str, start: (u32, u64), end: (u32, u64)) -> Scenario {
    Scenario::from_toml(&format!(
        "format = 1\ngeometry = \"real\"\n[[folio]]\nkind = \"hugetlb-pmd\"\n[[folio]]\nkind = \"hugetlb-pmd\"\n{segments}\
         [[op]]\nop = \"register\"\niovecs = [{{ kind = \"range\", start = {{ seg = {}, off = {} }}, end = {{ seg = {}, off = {} }} }}]\n",
        start.0, start.1, end.0, end.1
    ))
    .unwrap()
}

/// Allocation sites `v` called while registering `s`.
fn sites(v: &dyn Variant, s: &Scenario) -> Vec<AllocSite> {
    let b = build(s).unwrap();
    let mut w = b.world.clone();
    let crate::scenario::ConcreteOp::Register { iovecs } = &b.ops[0] else {
        unreachable!()
    };
    crate::model::rsrc::io_sqe_buffers_register(v, &mut w, Some(iovecs), 1).unwrap();
    w.alloc.log.iter().map(|(s, _)| *s).collect()
}

#[test]
fn the_fixed_fast_path_keeps_the_shortcut_inside_one_huge_page() {
    let s = scenario("[[segment]]\nfolio = 0\n", (0, 0x1234), (0, 2 << 20));
    for name in ["rfc-v1", "rfc-v1-fixed"] {
        let v = by_name(name).unwrap();
        let got = sites(v, &s);
        assert!(got.contains(&AllocSite::FastPathArray), "{name}: {got:?}");
        assert!(
            !got.contains(&AllocSite::CoalesceNewArray),
            "{name} skips io_coalesce_buffer: {got:?}"
        );
        assert!(
            check(&s, v, by_name("upstream").unwrap())
                .unwrap()
                .0
                .is_clean(),
            "{name}"
        );
    }
    assert!(sites(by_name("upstream").unwrap(), &s).contains(&AllocSite::CoalesceNewArray));
}

#[test]
fn the_fixed_fast_path_declines_aliases_and_sandwiches() {
    let up = by_name("upstream").unwrap();
    let cases = [
        // one huge page mapped twice, a buffer across both mappings
        scenario(
            "[[segment]]\nfolio = 0\n[[segment]]\nfolio = 0\n",
            (0, 0x1fffff),
            (1, 1),
        ),
        scenario(
            "[[segment]]\nfolio = 0\n[[segment]]\nfolio = 0\n",
            (0, 0),
            (1, 2 << 20),
        ),
        // F, G, F
        scenario(
            "[[segment]]\nfolio = 0\n[[segment]]\nfolio = 1\n[[segment]]\nfolio = 0\n",
            (0, 0),
            (2, 4096),
        ),
    ];
    for s in &cases {
        let rfc = check(s, by_name("rfc-v1").unwrap(), up).unwrap().0;
        assert!(!rfc.is_clean(), "RFC v1 goes wrong here:\n{}", s.to_toml());
        let fixed = by_name("rfc-v1-fixed").unwrap();
        assert!(
            !sites(fixed, s).contains(&AllocSite::FastPathArray),
            "no shortcut:\n{}",
            s.to_toml()
        );
        assert!(
            check(s, fixed, up).unwrap().0.is_clean(),
            "{:#?}",
            check(s, fixed, up).unwrap().0.findings
        );
    }
}
