//! The differential oracle on known layouts, and every invariant fed a
//! deliberately broken state.

use super::invariants::{by_name, Before, OpContext};
use crate::model::World;
use crate::run::run;
use crate::scenario::{build, Scenario};
use crate::variants::{rfc_v1::RfcV1, upstream::Upstream, Variant};

fn scenario(body: &str) -> Scenario {
    Scenario::from_toml(&format!("format = 1\ngeometry = \"real\"\n{body}"))
        .expect("test scenario parses")
}

fn verdict(s: &Scenario, v: &dyn Variant) -> super::Verdict {
    let b = build(s).expect("builds");
    super::compare(&run(&Upstream, &b), &run(v, &b))
}

/// One hugetlb page mapped at two adjacent addresses, registered as one buffer.
const ALIASED: &str = "[[folio]]\nkind = \"hugetlb-pmd\"\n[[segment]]\nfolio = 0\n[[segment]]\nfolio = 0\n\
    [[op]]\nop = \"register\"\niovecs = [{ kind = \"range\", start = { seg = 0, off = 0 }, end = { seg = 1, off = 2097152 } }]\n";

#[test]
fn upstream_is_clean_on_an_aliased_hugetlb_page() {
    assert!(verdict(&scenario(ALIASED), &Upstream).is_clean());
}

#[test]
fn rfc_v1_loses_the_second_alias_of_a_hugetlb_page() {
    let v = verdict(&scenario(ALIASED), &RfcV1);
    let sigs = v.signatures();
    assert_eq!(
        v.primary().as_deref(),
        Some("rfc-v1:invariant:coverage/length"),
        "{sigs:?}"
    );
    assert!(
        sigs.contains("rfc-v1:invariant:import/bvec-out-of-bounds"),
        "{sigs:?}"
    );
    assert!(sigs.contains("rfc-v1:diff:coverage"), "{sigs:?}");
}

#[test]
fn rfc_v1_unpins_the_wrong_folio_when_another_lies_between() {
    let s = scenario(
        "[[folio]]\nkind = \"hugetlb-pmd\"\n[[folio]]\nkind = \"hugetlb-pmd\"\n\
         [[segment]]\nfolio = 0\n[[segment]]\nfolio = 1\n[[segment]]\nfolio = 0\n\
         [[op]]\nop = \"register\"\niovecs = [{ kind = \"range\", start = { seg = 0, off = 0 }, end = { seg = 2, off = 4096 } }]\n",
    );
    let sigs = verdict(&s, &RfcV1).signatures();
    assert!(sigs.contains("rfc-v1:invariant:pins/underflow"), "{sigs:?}");
    assert!(
        sigs.contains("rfc-v1:invariant:teardown/pins"),
        "the folio in between stays pinned: {sigs:?}"
    );
    assert!(sigs.contains("rfc-v1:diff:accounting"), "{sigs:?}");
}

#[test]
fn rfc_v1_agrees_with_upstream_on_a_plain_hugetlb_buffer() {
    let s = scenario(
        "[[folio]]\nkind = \"hugetlb-pmd\"\n[[segment]]\nfolio = 0\n\
         [[op]]\nop = \"register\"\niovecs = [{ kind = \"range\", start = { seg = 0, off = 4660 }, end = { seg = 0, off = 1048576 } }]\n",
    );
    assert!(verdict(&s, &RfcV1).is_clean());
}

/// A world with one coalesced 2 MiB hugetlb buffer installed, and the
/// context of the operation that installed it.
fn installed_world() -> (World, Before) {
    let s = scenario(
        "[[folio]]\nkind = \"hugetlb-pmd\"\n[[folio]]\nkind = \"hugetlb-pmd\"\n[[segment]]\nfolio = 0\n[[segment]]\nfolio = 1\n\
         [[op]]\nop = \"register\"\niovecs = [{ kind = \"range\", start = { seg = 0, off = 4096 }, end = { seg = 1, off = 8192 } }]\n",
    );
    let b = build(&s).unwrap();
    let mut w = b.world.clone();
    let before = Before::of(&w);
    let crate::scenario::ConcreteOp::Register { iovecs } = &b.ops[0] else {
        unreachable!()
    };
    crate::model::rsrc::io_sqe_buffers_register(&Upstream, &mut w, Some(iovecs), 1).unwrap();
    (w, before)
}

fn check(
    name: &str,
    w: &mut World,
    before: &Before,
    ret: i64,
    teardown: bool,
    events: &[crate::model::Event],
) -> Result<(), super::invariants::Fail> {
    let op = crate::scenario::ConcreteOp::Unregister;
    let ctx = OpContext {
        op: (!teardown).then_some(&op),
        ret,
        import: None,
        before,
        faults_fired: &[],
        events,
        mm_violations: &[],
        alloc_violations: &[],
    };
    (by_name(name).unwrap().check)(&Upstream, w, &ctx)
}

fn imu_of(w: &World) -> crate::mm::AllocId {
    w.nodes[&w.ctx.buf_table.nodes[0].unwrap()].buf.unwrap()
}

#[test]
fn each_invariant_fires_on_a_broken_state() {
    let (w0, before) = installed_world();
    let after = Before::of(&w0);
    for name in [
        "coverage",
        "layout",
        "import",
        "pins",
        "accounting",
        "allocation",
    ] {
        let mut w = w0.clone();
        check(name, &mut w, &after, 0, false, &[])
            .unwrap_or_else(|e| panic!("{name} on a sound state: {e}"));
    }
    let broken: &[(&str, fn(&mut World))] = &[
        ("coverage", |w| {
            let imu = imu_of(w);
            w.imu_mut(imu).bvec[1].as_mut().unwrap().bv_offset += 4096;
        }),
        ("layout", |w| {
            let imu = imu_of(w);
            let b = w.imu_mut(imu).bvec[0].as_mut().unwrap();
            b.bv_len -= 4096;
        }),
        ("import", |w| {
            let imu = imu_of(w);
            w.imu_mut(imu).folio_shift = 12;
        }),
        ("pins", |w| w.phys.grab_pin(crate::mm::FolioId(1), 1)),
        ("accounting", |w| w.ctx.pinned_vm += 1),
        ("allocation", |w| {
            w.kvmalloc(crate::mm::AllocSite::PinPagesArray, 8);
        }),
    ];
    for (name, breakit) in broken {
        let mut w = w0.clone();
        breakit(&mut w);
        assert!(
            check(name, &mut w, &after, 0, false, &[]).is_err(),
            "{name} did not fire"
        );
    }
    // coverage/outside-pins: the last bvec runs one page past its folio,
    // into memory the buffer holds no pin on (imu->len grows to match, so
    // only the pin rule can tell).
    let mut w = w0.clone();
    let imu = imu_of(&w);
    w.imu_mut(imu).bvec[1].as_mut().unwrap().bv_len += 2 << 20;
    w.imu_mut(imu).len += 2 << 20;
    let e = check("coverage", &mut w, &after, 0, false, &[]).unwrap_err();
    assert_eq!(e.aspect, "outside-pins", "{e}");
    // error_unwinds: a failure that left the pins in place.
    let mut w = w0.clone();
    assert!(check("error_unwinds", &mut w, &before, -12, false, &[]).is_err());
    assert!(check("error_unwinds", &mut w.clone(), &after, -12, false, &[]).is_ok());
    // no_warning: a recorded WARN_ON_ONCE.
    let warn = [crate::model::Event::Warn {
        site: "io_coalesce_buffer: j != *nr_pages".into(),
    }];
    assert!(check("no_warning", &mut w.clone(), &after, 0, false, &warn).is_err());
    assert!(check("no_warning", &mut w.clone(), &after, 0, false, &[]).is_ok());
    // oops: a NULL node->buf read through.
    let oops = [crate::model::Event::Oops {
        site: "io_free_rsrc_node: io_buffer_unmap(ctx, node->buf) with node->buf NULL".into(),
    }];
    let e = check("oops", &mut w.clone(), &after, 0, false, &oops).unwrap_err();
    assert_eq!(e.aspect, "io_free_rsrc_node", "{e}");
    assert!(check("oops", &mut w.clone(), &after, 0, false, &[]).is_ok());
    // teardown: ring exit with the buffer still pinned.
    let e = check("teardown", &mut w.clone(), &after, 0, true, &[]).unwrap_err();
    assert!(e.detail.contains("(leaked pins)"), "{e}");
    // ... and with a folio unpinned below its start: every folio off is
    // named, each the way it is off.
    let mut under = w.clone();
    under.phys.put_pin(crate::mm::FolioId(0), 1000);
    let e = check("teardown", &mut under, &after, 0, true, &[]).unwrap_err();
    assert!(
        e.detail.contains("folio 0") && e.detail.contains("over-unpinned"),
        "{e}"
    );
    assert!(
        e.detail.contains("folio 1") && e.detail.contains("(leaked pins)"),
        "{e}"
    );
    assert!(check("teardown", &mut w, &after, 0, true, &[]).is_err());
    let mut w = w0.clone();
    crate::model::rsrc::io_sqe_buffers_unregister(&Upstream, &mut w).unwrap();
    w.io_rsrc_cache_free();
    assert!(check("teardown", &mut w, &after, 0, true, &[]).is_ok());
}

/// The 7.1 RLIMIT_MEMLOCK bypass (corpus/seeds/history/rlimit-bypass-…):
/// slot 0 charges a 2 MiB hugetlb page, slot 1 shares it for nothing,
/// clearing slot 0 uncharges it.
const BYPASS: &str = "memlock = { pmd = 1, pages = 2 }\n[[folio]]\nkind = \"hugetlb-pmd\"\n[[segment]]\nfolio = 0\n\
    [[op]]\nop = \"register_sparse\"\nnr = 2\n\
    [[op]]\nop = \"update\"\noffset = 0\niovecs = [{ kind = \"range\", start = { seg = 0, off = 0 }, end = { seg = 0, off = 4096 } }]\n\
    [[op]]\nop = \"update\"\noffset = 1\niovecs = [{ kind = \"range\", start = { seg = 0, off = 4096 }, end = { seg = 0, off = 8192 } }]\n\
    [[op]]\nop = \"update\"\noffset = 0\niovecs = [{ kind = \"null\", len = {} }]\n";

#[test]
fn uncharged_pins_fires_on_a_state_that_pins_more_than_it_charges() {
    // One 2 MiB hugetlb buffer installed on a ring with a user.
    let s = scenario(
        "memlock = { pmd = 4 }\n[[folio]]\nkind = \"hugetlb-pmd\"\n[[segment]]\nfolio = 0\n\
         [[op]]\nop = \"register\"\niovecs = [{ kind = \"range\", start = { seg = 0, off = 0 }, end = { seg = 0, off = 8192 } }]\n",
    );
    let b = build(&s).unwrap();
    let mut w = b.world.clone();
    let crate::scenario::ConcreteOp::Register { iovecs } = &b.ops[0] else {
        unreachable!()
    };
    crate::model::rsrc::io_sqe_buffers_register(&Upstream, &mut w, Some(iovecs), 1).unwrap();
    let after = Before::of(&w);
    assert_eq!(w.ctx.user.unwrap().locked_vm, 2 + 512);
    check("accounting", &mut w.clone(), &after, 0, false, &[]).unwrap();
    // Broken: the charge is gone but the bookkeeping agrees with it, so
    // only the pins can tell.
    let mut broken = w.clone();
    let imu = imu_of(&broken);
    broken.imu_mut(imu).acct_pages = 0;
    broken.ctx.user.as_mut().unwrap().locked_vm -= 512;
    broken.ctx.pinned_vm -= 512;
    let e = check("accounting", &mut broken, &after, 0, false, &[]).unwrap_err();
    assert_eq!(e.aspect, "uncharged-pins", "{e}");
    assert!(e.detail.contains("pin 512 pages"), "{e}");
    // One page short is enough.
    let mut short = w.clone();
    let imu = imu_of(&short);
    short.imu_mut(imu).acct_pages = 511;
    short.ctx.user.as_mut().unwrap().locked_vm -= 1;
    short.ctx.pinned_vm -= 1;
    let e = check("accounting", &mut short, &after, 0, false, &[]).unwrap_err();
    assert_eq!(e.aspect, "uncharged-pins", "{e}");
    // A ring without a user (CAP_IPC_LOCK) owes no charge.
    let mut root = broken.clone();
    root.ctx.user = None;
    root.ctx.region_pages = 0;
    check("accounting", &mut root, &after, 0, false, &[]).unwrap();
    // The bookkeeping aspects still come first.
    let mut w2 = w.clone();
    w2.ctx.pinned_vm += 1;
    let e = check("accounting", &mut w2, &after, 0, false, &[]).unwrap_err();
    assert_eq!(e.aspect, "pinned-vm", "{e}");
}

#[test]
fn upstream_leaves_a_pinned_huge_page_uncharged_after_the_bypass() {
    let s = scenario(BYPASS);
    let b = build(&s).unwrap();
    let r = run(&Upstream, &b);
    let snap = |i: usize| (r.ops[i].snapshot.locked_vm, r.ops[i].snapshot.pinned_vm);
    assert_eq!(snap(1), (Some(2 + 512), 512), "slot 0 charges the page");
    assert_eq!(
        snap(2),
        (Some(2 + 512), 512),
        "slot 1 shares it for nothing"
    );
    assert_eq!(snap(3), (Some(2), 0), "clearing slot 0 uncharges it");
    assert_eq!(
        r.ops[3].snapshot.pins,
        vec![1],
        "while slot 1 still pins it"
    );
    let v: Vec<_> = r.ops[3]
        .violations
        .iter()
        .map(|v| (v.invariant, v.aspect.as_str()))
        .collect();
    assert_eq!(v, vec![("accounting", "uncharged-pins")]);
    assert!(r.ops[..3].iter().all(|o| o.violations.is_empty()));
}

#[test]
fn known_bugs_are_set_aside_and_reported_on_request() {
    let s = scenario(BYPASS);
    let v = verdict(&s, &Upstream);
    assert!(v.is_clean(), "{:#?}", v.findings);
    assert_eq!(v.known.len(), 1);
    let k = &v.known[0];
    assert_eq!(
        k.signature(),
        "upstream:invariant:accounting/uncharged-pins"
    );
    assert_eq!(k.known.unwrap().fixed_by, "df0a52537c0f (7.2)");
    let sigs: Vec<_> = v.signatures().into_iter().collect();
    assert_eq!(
        sigs,
        vec!["upstream:invariant:accounting/uncharged-pins (known)"]
    );
    let shown = v.clone().with_known();
    assert_eq!(
        shown.primary().as_deref(),
        Some("upstream:invariant:accounting/uncharged-pins")
    );
    assert_eq!(
        shown.signatures(),
        v.signatures(),
        "recorded the same either way"
    );
    // RFC v1 is 7.1 plus a patch: both sides show the bug after the same
    // operation, so both are known.
    let r = verdict(&s, &RfcV1);
    assert!(r.is_clean(), "{:#?}", r.findings);
    assert_eq!(r.known.len(), 2);
}

#[test]
fn a_known_bug_reached_by_a_new_route_on_the_candidate_is_reported() {
    // Upstream alone: the base shows the bug after op 3.
    let s = scenario(BYPASS);
    let b = build(&s).unwrap();
    let base = run(&Upstream, &b);
    let mut cand = run(&RfcV1, &b);
    // Pretend the candidate broke the rule one operation early, where the
    // base did not: that is not the known bug but a new way to it.
    let v = cand.ops[3].violations[0].clone();
    cand.ops[2].violations.push(v);
    let verdict = super::compare(&base, &cand);
    assert_eq!(
        verdict.primary().as_deref(),
        Some("rfc-v1:invariant:accounting/uncharged-pins"),
        "{verdict:#?}"
    );
    assert_eq!(verdict.findings[0].op, 2);
    // Its occurrence after op 3, where the base broke the rule too, is
    // still the known bug: the file records both.
    let known: Vec<_> = verdict.known.iter().map(|k| (k.variant, k.op)).collect();
    assert_eq!(known, vec![("upstream", 3), ("rfc-v1", 3)]);
    assert!(verdict.signatures().is_superset(
        &[
            "rfc-v1:invariant:accounting/uncharged-pins".to_string(),
            "rfc-v1:invariant:accounting/uncharged-pins (known)".to_string()
        ]
        .into()
    ));
}
