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

mod v7_2 {
    use super::super::{by_name, Variant};
    use crate::mm::{AllocSite, FaultPlan, FaultPoint};
    use crate::oracle::check;
    use crate::run::{run, Run};
    use crate::scenario::{build, Scenario};

    fn s(body: &str) -> Scenario {
        Scenario::from_toml(&format!("format = 1\ngeometry = \"real\"\n{body}")).unwrap()
    }
    fn up() -> &'static dyn Variant {
        by_name("upstream").unwrap()
    }
    fn v72() -> &'static dyn Variant {
        by_name("v7.2").unwrap()
    }
    fn go(v: &dyn Variant, sc: &Scenario) -> Run {
        run(v, &build(sc).unwrap())
    }
    /// `(ret, locked_vm, pinned_vm)` after each operation.
    fn acct(r: &Run) -> Vec<(i64, Option<u64>, u64)> {
        r.ops
            .iter()
            .map(|o| (o.ret, o.snapshot.locked_vm, o.snapshot.pinned_vm))
            .collect()
    }
    fn clean(r: &Run) {
        for (i, o) in r.ops.iter().enumerate() {
            assert!(
                o.violations.is_empty(),
                "{} op {i}: {:?}",
                r.variant,
                o.violations
            );
        }
    }
    const RANGE: &str =
        "{ kind = \"range\", start = { seg = SEG, off = A }, end = { seg = SEG, off = B } }";
    fn range(seg: u32, a: u64, b: u64) -> String {
        RANGE
            .replace("SEG", &seg.to_string())
            .replace(" A ", &format!(" {a} "))
            .replace(" B ", &format!(" {b} "))
    }
    fn update(offset: u32, iov: &str) -> String {
        format!("[[op]]\nop = \"update\"\noffset = {offset}\niovecs = [{iov}]\n")
    }
    const NULL: &str = "{ kind = \"null\", len = {} }";

    /// The bypass of reference section 2.9: slot 0 charges F, slot 1 shares
    /// it, slot 0 is cleared, then slot 0 takes a second huge page G under a
    /// limit of one huge page plus the ring's 2 pages.
    fn bypass() -> Scenario {
        s(&format!(
            "memlock = {{ pmd = 1, pages = 2 }}\n[[folio]]\nkind = \"hugetlb-pmd\"\n[[folio]]\nkind = \"hugetlb-pmd\"\n\
             [[segment]]\nfolio = 0\n[[segment]]\nfolio = 1\n[[op]]\nop = \"register_sparse\"\nnr = 2\n{}{}{}{}[[op]]\nop = \"unregister\"\n",
            update(0, &range(0, 0, 4096)),
            update(1, &range(0, 4096, 8192)),
            update(0, NULL),
            update(0, &range(1, 0, 4096)),
        ))
    }

    #[test]
    fn the_bypass_leaves_7_1_at_the_ring_pages_and_7_2_charged_until_the_last_reference() {
        let sc = bypass();
        let old = go(up(), &sc);
        let new = go(v72(), &sc);
        // 7.1: the page is uncharged when slot 0 goes (locked_vm back at the
        // ring's own 2 pages while slot 1 pins 512), so a second huge page
        // fits under a one-huge-page limit: 1024 pages pinned, 514 charged.
        assert_eq!(
            acct(&old),
            vec![
                (0, Some(2), 0),
                (1, Some(514), 512),
                (1, Some(514), 512),
                (1, Some(2), 0),
                (1, Some(514), 512),
                (0, Some(2), 0),
                (0, Some(0), 0),
            ]
        );
        assert_eq!(old.ops[4].snapshot.pins, vec![1, 1]);
        // 7.2: 512 stay charged while slot 1 holds the page; G is refused.
        assert_eq!(
            acct(&new),
            vec![
                (0, Some(2), 0),
                (1, Some(514), 512),
                (1, Some(514), 512),
                (1, Some(514), 512),
                (-12, Some(514), 512),
                (0, Some(2), 0),
                (0, Some(0), 0),
            ]
        );
        assert_eq!(new.ops[4].snapshot.pins, vec![1, 0]);
        clean(&new);
        let v = check(&sc, v72(), up()).unwrap().0;
        let sigs = v.signatures();
        assert!(
            !sigs.iter().any(|g| g.starts_with("v7.2:invariant")),
            "{sigs:?}"
        );
        assert!(sigs.contains("v7.2:diff:accounting"), "{sigs:?}");
        assert!(sigs.contains("v7.2:diff:return"), "{sigs:?}");
        assert!(
            sigs.contains("upstream:invariant:accounting/uncharged-pins (known)"),
            "{sigs:?}"
        );
    }

    #[test]
    fn the_reference_counts_follow_the_buffers() {
        let sc = bypass();
        let b = build(&sc).unwrap();
        let mut w = b.world.clone();
        let v = v72();
        let head = w.phys.folios()[0].head;
        let mut counts = vec![];
        for op in &b.ops[..4] {
            let crate::scenario::ConcreteOp::Update { offset, iovecs } = op else {
                crate::model::rsrc::io_sqe_buffers_register(v, &mut w, None, 2).unwrap();
                continue;
            };
            let _ = v.io_register_rsrc_update(&mut w, *offset, iovecs);
            counts.push(w.ctx.hpage_acct.get(&head).map(|e| e.count));
        }
        assert_eq!(counts, vec![Some(1), Some(2), Some(1)]);
        crate::model::rsrc::io_sqe_buffers_unregister(v, &mut w).unwrap();
        assert!(w.ctx.hpage_acct.is_empty());
        assert_eq!(
            w.alloc
                .log
                .iter()
                .filter(|(s, _)| *s == AllocSite::XaReserve)
                .count(),
            1
        );
    }

    #[test]
    fn a_huge_page_shared_in_one_register_call_is_charged_once() {
        // F, G, F in three buffers of one IORING_REGISTER_BUFFERS: 7.1 looks
        // for F in ctx->buf_table, which is still empty during the call, so
        // it charges F twice; 7.2 once.
        let sc = s(&format!(
            "memlock = {{ pmd = 8 }}\n[[folio]]\nkind = \"hugetlb-pmd\"\n[[folio]]\nkind = \"hugetlb-pmd\"\n\
             [[segment]]\nfolio = 0\n[[segment]]\nfolio = 1\n[[op]]\nop = \"register\"\niovecs = [{}, {}, {}]\n",
            range(0, 0, 4096),
            range(1, 0, 4096),
            range(0, 4096, 8192)
        ));
        assert_eq!(acct(&go(up(), &sc))[0], (0, Some(2 + 1536), 1536));
        let new = go(v72(), &sc);
        assert_eq!(acct(&new)[0], (0, Some(2 + 1024), 1024));
        clean(&new);
    }

    #[test]
    fn a_ring_without_a_user_is_charged_nothing_pinned_vm_included() {
        let sc = s(&format!(
            "[[folio]]\nkind = \"hugetlb-pmd\"\n[[folio]]\nkind = \"small\"\n[[segment]]\nfolio = 0\n[[segment]]\nfolio = 1\n\
             [[op]]\nop = \"register\"\niovecs = [{}, {}]\n",
            range(0, 0, 4096),
            range(1, 0, 4096)
        ));
        assert_eq!(acct(&go(up(), &sc))[0], (0, None, 513));
        let new = go(v72(), &sc);
        assert_eq!(acct(&new)[0], (0, None, 0));
        clean(&new);
    }

    #[test]
    fn an_xa_reserve_failure_unwinds_every_reference_and_leaks_nothing() {
        // One buffer over F and G (coalesced to two head pages): G's
        // xa_reserve fails after F's reference was taken.
        let mut sc = s(
            "memlock = { pmd = 8 }\n[[folio]]\nkind = \"hugetlb-pmd\"\n[[folio]]\nkind = \"hugetlb-pmd\"\n\
             [[segment]]\nfolio = 0\n[[segment]]\nfolio = 1\n[[op]]\nop = \"register\"\niovecs = [{ kind = \"range\", start = { seg = 0, off = 0 }, end = { seg = 1, off = 4096 } }]\n",
        );
        sc.faults = FaultPlan {
            points: vec![FaultPoint::Site {
                site: AllocSite::XaReserve,
                nth: 1,
            }],
        };
        let b = build(&sc).unwrap();
        let mut w = b.world.clone();
        let crate::scenario::ConcreteOp::Register { iovecs } = &b.ops[0] else {
            unreachable!()
        };
        let ret = crate::model::rsrc::io_sqe_buffers_register(v72(), &mut w, Some(iovecs), 1);
        assert_eq!(ret, Err(crate::model::Errno::ENOMEM));
        assert!(w.ctx.hpage_acct.is_empty(), "{:?}", w.ctx.hpage_acct);
        assert_eq!(w.ctx.user.unwrap().locked_vm, 2);
        assert_eq!(w.ctx.pinned_vm, 0);
        assert!(w
            .phys
            .folios()
            .iter()
            .all(|f| (f.refcount, f.pincount) == (1, 0)));
        let reserves: Vec<bool> = w
            .alloc
            .log
            .iter()
            .filter(|(s, _)| *s == AllocSite::XaReserve)
            .map(|(_, failed)| *failed)
            .collect();
        assert_eq!(reserves, vec![false, true]);
        w.io_rsrc_cache_free();
        assert!(w.alloc.live().is_empty(), "{:?}", w.alloc.live());
        // And through the runner, every invariant holds after the failure.
        let r = go(v72(), &sc);
        assert_eq!(r.ops[0].ret, -12);
        assert_eq!(r.ops[0].faults_fired, vec![AllocSite::XaReserve]);
        clean(&r);
    }

    #[test]
    fn an_rlimit_failure_gives_back_the_new_references() {
        let sc = s(&format!(
            "memlock = {{ pmd = 1, pages = 2 }}\n[[folio]]\nkind = \"hugetlb-pmd\"\n[[folio]]\nkind = \"hugetlb-pmd\"\n\
             [[segment]]\nfolio = 0\n[[segment]]\nfolio = 1\n[[op]]\nop = \"register_sparse\"\nnr = 2\n{}{}",
            update(0, &range(0, 0, 4096)),
            update(1, "{ kind = \"range\", start = { seg = 0, off = 0 }, end = { seg = 1, off = 4096 } }")
        ));
        let r = go(v72(), &sc);
        assert_eq!(acct(&r)[2], (-12, Some(514), 512));
        clean(&r);
        let b = build(&sc).unwrap();
        let mut w = b.world.clone();
        let v = v72();
        crate::model::rsrc::io_sqe_buffers_register(v, &mut w, None, 2).unwrap();
        for op in &b.ops[1..] {
            let crate::scenario::ConcreteOp::Update { offset, iovecs } = op else {
                unreachable!()
            };
            let _ = v.io_register_rsrc_update(&mut w, *offset, iovecs);
        }
        let refs: Vec<u64> = w.ctx.hpage_acct.values().map(|e| e.count).collect();
        assert_eq!(refs, vec![1], "F back to slot 0's one reference, G gone");
    }

    #[test]
    fn buffers_between_1g_and_1t_are_accepted_and_longer_ones_are_einval() {
        // A 1 GiB hugetlb page and a small page after it: 1 GiB + 4 KiB.
        let over_1g = s(
            "[[folio]]\nkind = \"hugetlb-pud\"\n[[folio]]\nkind = \"small\"\n[[segment]]\nfolio = 0\n[[segment]]\nfolio = 1\n\
             [[op]]\nop = \"register\"\niovecs = [{ kind = \"sized\", start = { seg = 0, off = 0 }, len = { pud = 1, pages = 1 } }]\n",
        );
        assert_eq!(go(up(), &over_1g).ops[0].ret, -14);
        let new = go(v72(), &over_1g);
        assert_eq!(new.ops[0].ret, 0);
        let slot = new.ops[0].snapshot.slots[0].as_ref().unwrap();
        assert_eq!(
            (slot.len, slot.nr_bvecs, slot.acct_pages),
            ((1 << 30) + 4096, 262_145, None)
        );
        clean(&new);
        // A 1 GiB hugetlb page mapped twice, registered as one 2 GiB buffer:
        // two bvecs, and imports of it capped at MAX_RW_COUNT.
        let two_gib = s(
            "[[folio]]\nkind = \"hugetlb-pud\"\n[[segment]]\nfolio = 0\n[[segment]]\nfolio = 0\n\
             [[op]]\nop = \"register\"\niovecs = [{ kind = \"range\", start = { seg = 0, off = 0 }, end = { seg = 1, off = 1073741824 } }]\n",
        );
        assert_eq!(go(up(), &two_gib).ops[0].ret, -14);
        let new = go(v72(), &two_gib);
        let slot = new.ops[0].snapshot.slots[0].as_ref().unwrap();
        assert_eq!(
            (slot.len, slot.nr_bvecs, slot.folio_shift),
            (2 << 30, 2, 30)
        );
        assert_eq!(new.ops[0].snapshot.pins, vec![2]);
        clean(&new);
        // 2^28 pages is one page array byte over INT_MAX: -EOVERFLOW with
        // 3996771b8f75, -ENOMEM and the allocator's WARN without it. One
        // page less is an allocation kvmalloc takes; GUP then meets the
        // hole after the first page.
        let pre = crate::variants::by_name("pre-3996771b8f75").unwrap();
        for (len, old, new, before) in [
            ("{ pud = 1024 }", -14, -75, -12),
            ("{ pud = 1024, bytes = -4096 }", -14, -14, -14),
            ("{ pud = 1024, bytes = 1 }", -14, -22, -22),
        ] {
            let sc = s(&format!(
                "[[folio]]\nkind = \"small\"\n[[segment]]\nfolio = 0\n[[op]]\nop = \"register\"\n\
                 iovecs = [{{ kind = \"sized\", start = {{ seg = 0, off = 0 }}, len = {len} }}]\n"
            ));
            assert_eq!(go(up(), &sc).ops[0].ret, old, "{len}");
            let new_run = go(v72(), &sc);
            assert_eq!(new_run.ops[0].ret, new, "{len}");
            clean(&new_run);
            let pre_run = go(pre, &sc);
            assert_eq!(pre_run.ops[0].ret, before, "{len}");
            let warned: Vec<_> = pre_run.ops[0]
                .violations
                .iter()
                .map(|v| v.aspect.as_str())
                .collect();
            let want: &[&str] = if before == -12 {
                &["__kvmalloc_node_noprof(io_pin_pages)"]
            } else {
                &[]
            };
            assert_eq!(warned, want, "{len}");
        }
    }

    /// Wherever upstream breaks `accounting/uncharged-pins` among the first
    /// draws of a seed, 7.2 does not, and 7.2 breaks no invariant at all,
    /// on one ring: with clones it does
    /// (`corpus/findings/v7.2/clone-*.toml`).
    #[test]
    fn v7_2_never_leaves_pins_uncharged_where_7_1_does() {
        let gen = crate::gen::GenConfig {
            rings: false,
            ..Default::default()
        };
        let mut bypasses = 0;
        for i in 0..4000 {
            let sc = crate::campaign::draw(3, i, &gen);
            let (verdict, base, cand) = check(&sc, v72(), up()).unwrap();
            for o in &cand.ops {
                assert!(
                    o.violations.is_empty(),
                    "iteration {i}: {:?}\n{}",
                    o.violations,
                    sc.to_toml()
                );
            }
            assert!(
                verdict.findings.iter().all(|f| f.variant == "v7.2"),
                "{verdict:#?}"
            );
            bypasses += usize::from(base.ops.iter().any(|o| {
                o.violations
                    .iter()
                    .any(|v| v.invariant == "accounting" && v.aspect == "uncharged-pins")
            }));
        }
        assert!(bypasses > 5, "{bypasses}");
    }
}

/// 7.2 takes a buffer over 1 GiB as far as pinning (one more page-array
/// allocation than 7.1, which refuses it first); a fault at the second
/// page-array allocation then hits a different iovec of a later update on
/// each side. The sides lost different allocations, so the comparison stops
/// there instead of reporting the different return values.
#[test]
fn a_fault_that_hits_a_different_call_of_the_same_site_poisons_the_comparison() {
    let mut sc = Scenario::from_toml(
        "format = 1\ngeometry = \"real\"\n[[folio]]\nkind = \"small\"\n[[folio]]\nkind = \"small\"\n\
         [[segment]]\nfolio = 0\n[[segment]]\nfolio = 1\n\
         [[op]]\nop = \"register\"\niovecs = [{ kind = \"sized\", start = { seg = 0, off = 0 }, len = { pud = 1, pages = 1 } }]\n\
         [[op]]\nop = \"register_sparse\"\nnr = 2\n\
         [[op]]\nop = \"update\"\noffset = 0\niovecs = [{ kind = \"range\", start = { seg = 0, off = 0 }, end = { seg = 0, off = 4096 } }, \
         { kind = \"range\", start = { seg = 1, off = 0 }, end = { seg = 1, off = 4096 } }]\n",
    )
    .unwrap();
    sc.faults = crate::mm::FaultPlan {
        points: vec![crate::mm::FaultPoint::Site {
            site: AllocSite::PinPagesArray,
            nth: 1,
        }],
    };
    let (verdict, base, cand) =
        check(&sc, by_name("v7.2").unwrap(), by_name("upstream").unwrap()).unwrap();
    assert_eq!((base.ops[0].ret, cand.ops[0].ret), (-14, -14));
    assert_eq!((base.ops[2].ret, cand.ops[2].ret), (1, -12));
    assert_eq!(base.ops[2].fault_calls, vec![(AllocSite::PinPagesArray, 1)]);
    assert_eq!(cand.ops[2].fault_calls, vec![(AllocSite::PinPagesArray, 0)]);
    assert!(verdict.is_clean(), "{:#?}", verdict.findings);
}
