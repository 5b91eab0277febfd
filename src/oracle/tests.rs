//! The differential oracle on known layouts, and every invariant fed a
//! deliberately broken state.

use super::invariants::{by_name, Before, Fail, OpContext};
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
    let v = verdict(&s, &RfcV1);
    let sigs = v.signatures();
    assert!(sigs.contains("rfc-v1:invariant:pins/underflow"), "{sigs:?}");
    // The pin counts it leaves wrong are seen on the same operation.
    let under = v
        .findings
        .iter()
        .find(|f| f.signature() == "rfc-v1:invariant:pins/underflow")
        .unwrap();
    let also: Vec<_> = under.also.iter().map(|a| a.aspect.as_str()).collect();
    assert_eq!(also, ["count"], "{under:#?}");
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
) -> Vec<Fail> {
    check_with(name, w, before, ret, teardown, events, &[], &[])
}

/// [`check`] with the faults and mm violations the operation recorded.
#[allow(clippy::too_many_arguments)]
fn check_with(
    name: &str,
    w: &mut World,
    before: &Before,
    ret: i64,
    teardown: bool,
    events: &[crate::model::Event],
    faults_fired: &[crate::mm::AllocSite],
    mm_violations: &[crate::mm::phys::MmViolation],
) -> Vec<Fail> {
    let op = crate::scenario::ConcreteOp::Unregister;
    let ctx = OpContext {
        op: (!teardown).then_some(&op),
        ret,
        import: None,
        before,
        faults_fired,
        events,
        mm_violations,
        alloc_violations: &[],
    };
    by_name(name).unwrap().run(&Upstream, w, &ctx)
}

/// The first aspect a check reports: the one a finding is made of.
fn primary(fails: Vec<Fail>) -> Fail {
    fails.into_iter().next().expect("the invariant fired")
}

/// The aspects `fails` names, in order.
fn aspects(fails: &[Fail]) -> Vec<&str> {
    fails.iter().map(|f| f.aspect.as_str()).collect()
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
        let f = check(name, &mut w, &after, 0, false, &[]);
        assert!(f.is_empty(), "{name} on a sound state: {f:?}");
    }
    let broken: &[(&str, fn(&mut World))] = &[
        ("coverage", |w| {
            let imu = imu_of(w);
            w.imu_mut(imu).bvec.update(1, |b| b.bv_offset += 4096);
        }),
        ("layout", |w| {
            let imu = imu_of(w);
            w.imu_mut(imu).bvec.update(0, |b| b.bv_len -= 4096);
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
            !check(name, &mut w, &after, 0, false, &[]).is_empty(),
            "{name} did not fire"
        );
    }
    // coverage/outside-pins: the last bvec runs one page past its folio,
    // into memory the buffer holds no pin on (imu->len grows to match, so
    // only the pin rule can tell).
    let mut w = w0.clone();
    let imu = imu_of(&w);
    w.imu_mut(imu).bvec.update(1, |b| b.bv_len += 2 << 20);
    w.imu_mut(imu).len += 2 << 20;
    let e = primary(check("coverage", &mut w, &after, 0, false, &[]));
    assert_eq!(e.aspect, "outside-pins", "{e}");
    // error_unwinds: a failure that left the pins in place.
    let mut w = w0.clone();
    assert!(!check("error_unwinds", &mut w, &before, -12, false, &[]).is_empty());
    assert!(check("error_unwinds", &mut w.clone(), &after, -12, false, &[]).is_empty());
    // no_warning: a recorded WARN_ON_ONCE.
    let warn = [crate::model::Event::Warn {
        site: "io_coalesce_buffer: j != *nr_pages".into(),
    }];
    assert!(!check("no_warning", &mut w.clone(), &after, 0, false, &warn).is_empty());
    assert!(check("no_warning", &mut w.clone(), &after, 0, false, &[]).is_empty());
    // oops: a NULL node->buf read through.
    let oops = [crate::model::Event::Oops {
        site: "io_free_rsrc_node: io_buffer_unmap(ctx, node->buf) with node->buf NULL".into(),
    }];
    let e = primary(check("oops", &mut w.clone(), &after, 0, false, &oops));
    assert_eq!(e.aspect, "io_free_rsrc_node", "{e}");
    assert!(check("oops", &mut w.clone(), &after, 0, false, &[]).is_empty());
    // teardown: ring exit with the buffer still pinned.
    let e = primary(check("teardown", &mut w.clone(), &after, 0, true, &[]));
    assert!(e.detail.contains("(leaked pins)"), "{e}");
    // ... and with a folio unpinned below its start: every folio off is
    // named, each the way it is off.
    let mut under = w.clone();
    under.phys.put_pin(crate::mm::FolioId(0), 1000);
    let e = primary(check("teardown", &mut under, &after, 0, true, &[]));
    assert!(
        e.detail.contains("folio 0") && e.detail.contains("over-unpinned"),
        "{e}"
    );
    assert!(
        e.detail.contains("folio 1") && e.detail.contains("(leaked pins)"),
        "{e}"
    );
    assert!(!check("teardown", &mut w, &after, 0, true, &[]).is_empty());
    let mut w = w0.clone();
    crate::model::rsrc::io_sqe_buffers_unregister(&Upstream, &mut w).unwrap();
    w.io_rsrc_cache_free();
    assert!(check("teardown", &mut w, &after, 0, true, &[]).is_empty());
}

/// The 7.1 RLIMIT_MEMLOCK bypass (corpus/seeds/history/rlimit-bypass-…):
/// slot 0 charges a 2 MiB hugetlb page, slot 1 shares it for nothing,
/// clearing slot 0 uncharges it.
const BYPASS: &str = "memlock = { pmd = 1, pages = 2 }\n[[folio]]\nkind = \"hugetlb-pmd\"\n[[segment]]\nfolio = 0\n\
    [[op]]\nop = \"register_sparse\"\nnr = 2\n\
    [[op]]\nop = \"update\"\noffset = 0\niovecs = [{ kind = \"range\", start = { seg = 0, off = 0 }, end = { seg = 0, off = 4096 } }]\n\
    [[op]]\nop = \"update\"\noffset = 1\niovecs = [{ kind = \"range\", start = { seg = 0, off = 4096 }, end = { seg = 0, off = 8192 } }]\n\
    [[op]]\nop = \"update\"\noffset = 0\niovecs = [{ kind = \"null\", len = {} }]\n";

/// A 2 MiB hugetlb buffer installed on a ring charged to a user, and the
/// state after it.
fn charged_world() -> (World, Before) {
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
    (w, after)
}

// Each case breaks two or more aspects of one invariant at once; the check
// names them all, each once, the one it reported alone before first.

#[test]
fn coverage_reports_a_short_buffer_that_also_escapes_its_pins() {
    let (w0, _) = installed_world();
    let after = Before::of(&w0);
    let mut w = w0.clone();
    // The last bvec runs 2 MiB past its folio while imu->len stays.
    let imu = imu_of(&w);
    w.imu_mut(imu).bvec.update(1, |b| b.bv_len += 2 << 20);
    let f = check("coverage", &mut w, &after, 0, false, &[]);
    assert_eq!(
        aspects(&f),
        ["length", "outside-pins", "wrong-bytes"],
        "{f:?}"
    );
    assert!(f[0].detail.contains("bvec lengths sum to"), "{}", f[0]);
    assert!(f[1].detail.starts_with("slot 0: byte 0x"), "{}", f[1]);
    assert!(f.iter().all(|f| f.count == 1), "{f:?}");
}

#[test]
fn layout_reports_every_bvec_that_is_off() {
    let (w0, _) = installed_world();
    let after = Before::of(&w0);
    let mut w = w0.clone();
    let imu = imu_of(&w);
    // bvec 0 ends a page short; bvec 1 starts a page into its folio.
    w.imu_mut(imu).bvec.update(0, |b| b.bv_len -= 4096);
    w.imu_mut(imu).bvec.update(1, |b| b.bv_offset += 4096);
    let f = check("layout", &mut w, &after, 0, false, &[]);
    assert_eq!(aspects(&f), ["not-full", "offset"], "{f:?}");
    assert!(f[0].detail.starts_with("slot 0: bvec 0 of 2"), "{}", f[0]);
    assert!(
        f[1].detail.starts_with("slot 0: bvec 1 starts 0x1000"),
        "{}",
        f[1]
    );
}

#[test]
fn pins_reports_the_count_behind_an_underflow() {
    let (w0, _) = installed_world();
    let after = Before::of(&w0);
    let mut w = w0.clone();
    // Folio 0 holds one pin; two are taken off it.
    w.phys.put_pin(crate::mm::FolioId(0), 2);
    let mm = w.phys.violations.clone();
    assert_eq!(mm.len(), 1, "{mm:?}");
    let f = check_with("pins", &mut w, &after, 0, false, &[], &[], &mm);
    assert_eq!(aspects(&f), ["underflow", "count"], "{f:?}");
    assert_eq!(
        f[1].detail,
        "folio 0 (pfn 0x100000, order 9) holds -1 pins but 1 bvec entries will unpin it"
    );
    // A second folio off is counted under the same aspect, its first
    // detail kept.
    w.phys.grab_pin(crate::mm::FolioId(1), 1);
    let f = check_with("pins", &mut w, &after, 0, false, &[], &[], &mm);
    assert_eq!(aspects(&f), ["underflow", "count"], "{f:?}");
    assert_eq!((f[1].count, f[1].detail.starts_with("folio 0 ")), (2, true));
}

#[test]
fn accounting_reports_uncharged_pins_behind_wrong_books() {
    let (mut w, after) = charged_world();
    // The charge is gone but acct_pages still says it was made.
    w.ctx.user.as_mut().unwrap().locked_vm -= 512;
    w.ctx.pinned_vm -= 512;
    let f = check("accounting", &mut w, &after, 0, false, &[]);
    assert_eq!(
        aspects(&f),
        ["locked-vm", "pinned-vm", "uncharged-pins"],
        "{f:?}"
    );
}

#[test]
fn import_reports_the_bytes_and_segments_behind_an_out_of_bounds_read() {
    let (w0, _) = installed_world();
    let after = Before::of(&w0);
    let mut w = w0.clone();
    // One bvec kept of two, as RFC v1 keeps one for a folio mapped twice:
    // imports past the first read a bvec[1] that holds nothing.
    let imu = imu_of(&w);
    w.imu_mut(imu).nr_bvecs = 1;
    w.imu_mut(imu).bvec.clear(1);
    let f = check("import", &mut w, &after, 0, false, &[]);
    assert_eq!(
        aspects(&f),
        ["bvec-out-of-bounds", "wrong-bytes", "nr-segs"],
        "{f:?}"
    );
    assert!(
        f[0].detail
            .starts_with("slot 0: io_import_fixed(offset 0x0, len 0x201000): BvecOutOfBounds"),
        "{}",
        f[0]
    );
    assert_eq!(
        f[1].detail,
        "slot 0: io_import_fixed(offset 0x0, len 0x201000) touches [0x100001000+0x1ff000] instead of [0x100001000+0x201000]"
    );
}

#[test]
fn error_unwinds_reports_every_half_done_unwind() {
    let (w0, before) = installed_world();
    let mut w = w0.clone();
    // The register "failed" with -EFAULT after a fatal allocation failure,
    // yet left its pins, charge and allocations behind.
    let f = check_with(
        "error_unwinds",
        &mut w,
        &before,
        -14,
        false,
        &[],
        &[crate::mm::AllocSite::PinPagesArray],
        &[],
    );
    assert_eq!(
        aspects(&f),
        ["errno", "pins", "accounting", "leak"],
        "{f:?}"
    );
    assert_eq!(f[1].count, 2, "both folios went up: {f:?}");
}

#[test]
fn allocation_reports_a_leak_and_a_use_after_free_together() {
    let (w0, _) = installed_world();
    let after = Before::of(&w0);
    let mut w = w0.clone();
    w.kvmalloc(crate::mm::AllocSite::PinPagesArray, 8);
    let imu = imu_of(&w);
    w.alloc.kvfree(imu);
    let f = check("allocation", &mut w, &after, 0, false, &[]);
    assert_eq!(aspects(&f), ["leak", "use-after-free"], "{f:?}");
}

#[test]
fn no_warning_names_each_function_that_warned_once() {
    let (w0, _) = installed_world();
    let after = Before::of(&w0);
    let warn = |site: &str| crate::model::Event::Warn { site: site.into() };
    let events = [
        warn("io_coalesce_buffer: j != *nr_pages"),
        warn("__kvmalloc_node_noprof(io_pin_pages): size > INT_MAX"),
        warn("io_coalesce_buffer: again"),
    ];
    let f = check("no_warning", &mut w0.clone(), &after, 0, false, &events);
    assert_eq!(
        aspects(&f),
        ["io_coalesce_buffer", "__kvmalloc_node_noprof(io_pin_pages)"],
        "{f:?}"
    );
    assert_eq!(f[0].count, 2);
    assert_eq!(
        f[0].detail,
        "WARN_ON_ONCE: io_coalesce_buffer: j != *nr_pages"
    );
}

#[test]
fn teardown_reports_pins_accounting_and_every_live_allocation() {
    let (w0, _) = installed_world();
    let after = Before::of(&w0);
    let mut w = w0.clone();
    w.phys.put_pin(crate::mm::FolioId(0), 1000);
    let f = check("teardown", &mut w, &after, 0, true, &[]);
    assert_eq!(aspects(&f), ["pins", "accounting", "leak"], "{f:?}");
    assert_eq!(
        f[0].detail,
        "after ring exit folio 0 (pfn 0x100000, order 9) has refcount -998 and pincount -999 \
         (over-unpinned: below its start); folio 1 (pfn 0x100200, order 9) has refcount 2 and \
         pincount 1 (leaked pins)"
    );
    assert_eq!(f[0].count, 1, "one detail names every folio");
    assert_eq!(f[2].count as usize, w.alloc.live().len(), "{f:?}");
    assert!(f[2].count > 1, "{f:?}");
}

#[test]
fn a_finding_carries_its_invariants_other_aspects_without_new_signatures() {
    let s = scenario(ALIASED);
    let b = build(&s).unwrap();
    let (base, cand) = (run(&Upstream, &b), run(&RfcV1, &b));
    let coverage: Vec<_> = cand.ops[0]
        .violations
        .iter()
        .filter(|v| v.invariant == "coverage")
        .map(|v| (v.aspect.as_str(), v.primary))
        .collect();
    assert_eq!(coverage, [("length", true), ("wrong-bytes", false)]);
    let v = super::compare(&base, &cand);
    assert_eq!(
        v.primary().as_deref(),
        Some("rfc-v1:invariant:coverage/length")
    );
    let f = &v.findings[0];
    let also: Vec<_> = f
        .also
        .iter()
        .map(|a| (a.invariant, a.aspect.as_str()))
        .collect();
    assert_eq!(also, [("coverage", "wrong-bytes")]);
    assert!(
        !v.signatures()
            .contains("rfc-v1:invariant:coverage/wrong-bytes"),
        "{:?}",
        v.signatures()
    );
    // In JSON, next to the finding's own fields; a count of 1 is left out.
    let j = serde_json::to_value(f).unwrap();
    assert_eq!(j["also"][0]["aspect"], "wrong-bytes");
    assert_eq!(j["also"][0]["invariant"], "coverage");
    assert!(j.get("count").is_none(), "{j}");
    // Only invariants broken as their first aspect are findings.
    let firsts: Vec<String> = cand
        .ops
        .iter()
        .flat_map(|o| &o.violations)
        .filter(|v| v.primary)
        .map(|v| format!("rfc-v1:invariant:{}/{}", v.invariant, v.aspect))
        .collect();
    for f in v
        .findings
        .iter()
        .filter(|f| matches!(f.kind, super::FindingKind::Invariant(..)))
    {
        assert!(firsts.contains(&f.signature()), "{}", f.signature());
    }
}

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
    assert_eq!(
        check("accounting", &mut w.clone(), &after, 0, false, &[]),
        vec![]
    );
    // Broken: the charge is gone but the bookkeeping agrees with it, so
    // only the pins can tell.
    let mut broken = w.clone();
    let imu = imu_of(&broken);
    broken.imu_mut(imu).acct_pages = 0;
    broken.ctx.user.as_mut().unwrap().locked_vm -= 512;
    broken.ctx.pinned_vm -= 512;
    let e = primary(check("accounting", &mut broken, &after, 0, false, &[]));
    assert_eq!(e.aspect, "uncharged-pins", "{e}");
    assert!(e.detail.contains("pin 512 pages"), "{e}");
    // One page short is enough.
    let mut short = w.clone();
    let imu = imu_of(&short);
    short.imu_mut(imu).acct_pages = 511;
    short.ctx.user.as_mut().unwrap().locked_vm -= 1;
    short.ctx.pinned_vm -= 1;
    let e = primary(check("accounting", &mut short, &after, 0, false, &[]));
    assert_eq!(e.aspect, "uncharged-pins", "{e}");
    // A ring without a user (CAP_IPC_LOCK) owes no charge.
    let mut root = broken.clone();
    root.ctx.user = None;
    root.ctx.region_pages = 0;
    assert_eq!(
        check("accounting", &mut root, &after, 0, false, &[]),
        vec![]
    );
    // The bookkeeping aspects still come first.
    let mut w2 = w.clone();
    w2.ctx.pinned_vm += 1;
    let e = primary(check("accounting", &mut w2, &after, 0, false, &[]));
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

/// Hugetlb pages H and G registered as three buffers in one call, H, G, H:
/// 7.1 charges H twice (the call's earlier buffers are not in the table yet,
/// and G came between, so H is not `last_hpage` either).
fn shared_huge_page_world() -> World {
    let s = scenario(
        "memlock = { pmd = 8 }\n[[folio]]\nkind = \"hugetlb-pmd\"\n[[folio]]\nkind = \"hugetlb-pmd\"\n\
         [[segment]]\nfolio = 0\n[[segment]]\nfolio = 1\n\
         [[op]]\nop = \"register\"\niovecs = [{ kind = \"range\", start = { seg = 0, off = 0 }, end = { seg = 0, off = 8192 } }, \
         { kind = \"range\", start = { seg = 1, off = 0 }, end = { seg = 1, off = 8192 } }, \
         { kind = \"range\", start = { seg = 0, off = 8192 }, end = { seg = 0, off = 16384 } }]\n",
    );
    let b = build(&s).unwrap();
    let mut w = b.world.clone();
    let crate::scenario::ConcreteOp::Register { iovecs } = &b.ops[0] else {
        unreachable!()
    };
    crate::model::rsrc::io_sqe_buffers_register(&Upstream, &mut w, Some(iovecs), 3).unwrap();
    w
}

#[test]
fn each_versions_rule_bounds_the_charge_from_the_pins_alone() {
    use crate::oracle::invariants::accounting::rule_bounds;
    use crate::variants::AccountingRule::{PerBuffer, PerRing};
    let w = shared_huge_page_world();
    assert_eq!(w.ctx.pinned_vm, 1536, "7.1 charges H twice");
    assert_eq!(rule_bounds(PerBuffer, &w), (0, 1536));
    assert_eq!(rule_bounds(PerRing, &w), (1024, 1024));
}

/// Books that agree with whatever the ring charged, under 7.2's rule: what
/// a version that charges a shared huge page twice on every path looks
/// like to the bookkeeping checks (nothing), and to the rule (over-charged).
struct AgreeingBooks;

impl Variant for AgreeingBooks {
    fn name(&self) -> &'static str {
        "agreeing-books"
    }
    fn summary(&self) -> &'static str {
        "test: books always agree"
    }
    fn accounted_pages(&self, w: &World) -> Result<u64, String> {
        Ok(w.ctx.pinned_vm)
    }
    fn accounting_rule(&self) -> crate::variants::AccountingRule {
        crate::variants::AccountingRule::PerRing
    }
}

#[test]
fn a_double_charge_the_books_agree_with_is_over_charged_by_the_rule() {
    let mut w = shared_huge_page_world();
    let before = Before::of(&w);
    let op = crate::scenario::ConcreteOp::Unregister;
    let ctx = OpContext {
        op: Some(&op),
        ret: 0,
        import: None,
        before: &before,
        faults_fired: &[],
        events: &[],
        mm_violations: &[],
        alloc_violations: &[],
    };
    let f = by_name("accounting")
        .unwrap()
        .run(&AgreeingBooks, &mut w, &ctx);
    assert_eq!(aspects(&f), ["over-charged"], "{f:?}");
    assert!(
        f[0].detail.starts_with("pinned_vm charges 1536 pages")
            && f[0].detail.contains("at most 1024"),
        "{}",
        f[0].detail
    );
    // Under 7.1's rule the same state is allowed.
    let f = by_name("accounting").unwrap().run(&Upstream, &mut w, &ctx);
    assert!(f.is_empty(), "{f:?}");
}
