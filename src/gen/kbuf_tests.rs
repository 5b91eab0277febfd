//! Campaigns' kernel-buffer operations: every draw builds, under either
//! byte source; a draw none of whose operations became one is the draw of
//! the generator without them; and they reach what they are for.

use super::*;
use crate::scenario::{build, Op};
use crate::variants::upstream::Upstream;

fn kbufs() -> GenConfig {
    GenConfig {
        kbufs: true,
        ..GenConfig::default()
    }
}

/// What a campaign draws: every geometry.
fn campaign() -> GenConfig {
    GenConfig {
        geometries: ALL_GEOMETRIES.to_vec(),
        ..kbufs()
    }
}

/// Over the first 3,000 draws of seed 1 with kernel buffers, at every
/// geometry as a campaign draws them: how many have
/// one, and how many of those register one (return 0), import from one
/// (return 0), hit a user buffer's slot (`-EBUSY`), use a request of more
/// segments than the imu cache holds, and name a folio a segment maps.
#[test]
fn kbuf_draws_build_reach_their_shapes_and_leave_the_other_draws_alone() {
    let (on, off) = (
        campaign(),
        GenConfig {
            geometries: ALL_GEOMETRIES.to_vec(),
            ..GenConfig::default()
        },
    );
    let mut n = [0usize; 6];
    for i in 0..3000 {
        let s = crate::campaign::draw(1, i, &on);
        let b = build(&s).unwrap_or_else(|e| panic!("iteration {i}: {e}\n{}", s.to_toml()));
        if s.first_kbuf_op().is_none() {
            assert_eq!(s, crate::campaign::draw(1, i, &off), "iteration {i}");
            continue;
        }
        n[0] += 1;
        let r = crate::run::run(&Upstream, &b);
        let ret = |k: &str, want: i64| {
            s.ops
                .iter()
                .zip(&r.ops)
                .any(|(o, rec)| o.kind() == k && rec.ret == want)
        };
        n[1] += ret("kbuf_register", 0) as usize;
        n[2] += (ret("kbuf_import", 0) || ret("kbuf_readv", 0)) as usize;
        n[3] += ret("kbuf_unregister", -16) as usize;
        n[4] += s.ops.iter().any(|o| {
            matches!(o, Op::KbufRegister { segments: Some(k), bvecs, .. } if *k as usize > bvecs.len() + 31)
        }) as usize;
        let mapped = |f: u32| s.segments.iter().any(|g| g.folio == Some(f));
        n[5] += s.ops.iter().any(|o| {
            matches!(o, Op::KbufRegister { bvecs, .. } if bvecs.iter().any(|b| mapped(b.folio)))
        }) as usize;
    }
    eprintln!(
        "kbuf draws of 3000: [with, registered, imported, EBUSY, kvmalloc, mapped folio] = {n:?}"
    );
    assert!((300..1500).contains(&n[0]), "{n:?}");
    assert!(
        n[1] * 3 > n[0],
        "most draws with a kbuf op register one: {n:?}"
    );
    assert!(n[2..].iter().all(|&k| k > 0), "{n:?}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]
    #[test]
    fn strategy_kbuf_scenarios_build(s in scenario_strategy(campaign())) {
        proptest::prop_assert!(build(&s).is_ok(), "{:?}\n{}", build(&s).err(), s.to_toml());
    }
}

/// The draws with a kernel buffer and a finding of v7.2 against upstream,
/// small geometry only: most keep their primary signature at the real one,
/// where campaigns store them (a bvec and an import keep their distances to
/// the nearer folio and bvec edge). Measured on seed 2's first 6,000
/// draws: 512 of 529.
#[test]
fn kbuf_findings_at_small_geometry_keep_their_verdict_at_real_geometry() {
    let (v, up) = (
        crate::variants::by_name("v7.2").unwrap(),
        crate::variants::by_name("upstream").unwrap(),
    );
    let primary = |s: &Scenario| crate::oracle::check(s, v, up).unwrap().0.primary();
    let (mut with, mut same) = (0, 0);
    for i in 0..6000 {
        let s = crate::campaign::draw(2, i, &kbufs());
        if s.first_kbuf_op().is_none() {
            continue;
        }
        let Some(p) = primary(&s) else { continue };
        let real = crate::scenario::rescale(&s, crate::scenario::GeometryName::Real);
        if build(&real).is_err() {
            continue;
        }
        with += 1;
        same += usize::from(primary(&real).as_deref() == Some(p.as_str()));
    }
    eprintln!("{same} of {with} kbuf draws with a finding keep it at real geometry");
    assert!(with > 50, "{with}");
    assert!(same * 100 >= with * 90, "{same} of {with}");
}
