//! Every generated scenario must build, and the biasing must actually reach
//! the shapes the fuzzer exists for; both are checked under both byte sources.

use super::*;
use crate::scenario::{build, FolioKindSpec, IovSpec, Op};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

fn bytes(seed: u64) -> Vec<u8> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let n = rng.gen_range(0..512);
    (0..n).map(|_| rng.gen()).collect()
}

fn from_bytes(data: &[u8], cfg: &GenConfig) -> Scenario {
    scenario_from_unstructured(&mut Unstructured::new(data), cfg).expect("never fails")
}

fn check(s: &Scenario) {
    if let Err(e) = build(s) {
        panic!("{e}\n{}", s.to_toml());
    }
}

#[test]
fn random_bytes_always_build() {
    for seed in 0..2000 {
        check(&from_bytes(&bytes(seed), &GenConfig::default()));
        check(&from_bytes(&bytes(seed), &GenConfig::no_faults()));
    }
}

#[test]
fn empty_bytes_give_a_valid_scenario() {
    let s = from_bytes(&[], &GenConfig::default());
    check(&s);
    assert!(!s.segments.is_empty() && !s.ops.is_empty());
    assert_eq!(s, lower(&RawScenario::default(), &GenConfig::default()));
}

#[test]
fn odd_configs_and_empty_raw_build() {
    let cfg = GenConfig {
        faults: true,
        rings: true,
        kbufs: true,
        max_ops: 0,
        max_segments: 0,
        max_folios: 0,
        geometries: vec![],
        max_mapped: 0,
    };
    check(&lower(&RawScenario::default(), &cfg));
    for seed in 0..200 {
        check(&from_bytes(&bytes(seed), &cfg));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]
    #[test]
    fn strategy_scenarios_build(s in scenario_strategy(GenConfig::default())) {
        prop_assert!(build(&s).is_ok(), "{:?}\n{}", build(&s).err(), s.to_toml());
    }
}

/// How many scenarios show each shape the biasing is for.
#[derive(Debug, Default)]
struct Counts {
    hugetlb_alias: usize,
    hole: usize,
    readonly: usize,
    fault: usize,
    update: usize,
    import: usize,
    readv: usize,
    thp_split: usize,
    mixed_sizes: usize,
    raw_or_sized: usize,
    private_hugetlb: usize,
    private_forked: usize,
    child_maps: usize,
}

impl Counts {
    fn add(&mut self, s: &Scenario) {
        let at = |f: u32| s.segments.iter().filter(|g| g.folio == Some(f)).count();
        let kind = |f: u32| s.folios[f as usize].kind;
        let hugetlb = |f: u32| {
            matches!(
                kind(f),
                FolioKindSpec::HugetlbPmd | FolioKindSpec::HugetlbPud
            )
        };
        let n = s.folios.len() as u32;
        self.hugetlb_alias += (0..n).any(|f| hugetlb(f) && at(f) >= 2) as usize;
        self.thp_split += (0..n).any(|f| kind(f) == FolioKindSpec::Thp && at(f) >= 2) as usize;
        self.hole += s.segments.iter().any(|g| g.folio.is_none()) as usize;
        self.readonly += s.segments.iter().any(|g| g.readonly) as usize;
        let private = |f: u32| kind(f).is_private_hugetlb() && at(f) == 1;
        let spec = |f: u32| &s.folios[f as usize];
        self.private_hugetlb += (0..n).any(private) as usize;
        self.private_forked +=
            (0..n).any(|f| private(f) && spec(f).forked && !spec(f).child_maps) as usize;
        self.child_maps += (0..n).any(|f| private(f) && spec(f).child_maps) as usize;
        self.fault += !s.faults.points.is_empty() as usize;
        let mut kinds: Vec<_> = s
            .segments
            .iter()
            .filter_map(|g| g.folio)
            .map(kind)
            .collect();
        kinds.dedup();
        self.mixed_sizes += (kinds.len() >= 2) as usize;
        let has = |k: &str| s.ops.iter().any(|o| o.kind() == k) as usize;
        self.update += has("update");
        self.import += has("import");
        self.readv += has("readv");
        self.raw_or_sized += s.ops.iter().any(|o| match o {
            Op::Register { iovecs } => iovecs
                .iter()
                .any(|i| matches!(i, IovSpec::Raw { .. } | IovSpec::Sized { .. })),
            _ => false,
        }) as usize;
    }

    fn assert_all(&self) {
        let c = self;
        for (name, n) in [
            ("hugetlb alias", c.hugetlb_alias),
            ("hole", c.hole),
            ("readonly", c.readonly),
            ("fault", c.fault),
            ("update", c.update),
            ("import", c.import),
            ("readv", c.readv),
            ("thp split", c.thp_split),
            ("mixed sizes", c.mixed_sizes),
            ("raw or sized", c.raw_or_sized),
            ("a MAP_PRIVATE hugetlb page", c.private_hugetlb),
            ("one forked, the child exited", c.private_forked),
            ("one a live child maps", c.child_maps),
        ] {
            assert!(n > 0, "no scenario with {name}: {c:?}");
        }
    }
}

#[test]
fn biasing_reaches_every_shape() {
    let mut c = Counts::default();
    for seed in 0..2000 {
        c.add(&from_bytes(&bytes(seed), &GenConfig::default()));
    }
    println!("arbitrary: {c:?}");
    c.assert_all();

    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    );
    let strategy = scenario_strategy(GenConfig::default());
    let mut c = Counts::default();
    for _ in 0..2000 {
        c.add(
            &strategy
                .new_tree(&mut runner)
                .expect("no rejections")
                .current(),
        );
    }
    println!("proptest: {c:?}");
    c.assert_all();
}

#[test]
fn generation_is_deterministic() {
    for seed in 0..50 {
        let b = bytes(seed);
        assert_eq!(
            from_bytes(&b, &GenConfig::default()),
            from_bytes(&b, &GenConfig::default())
        );
    }
}

#[test]
fn every_allocation_site_is_drawn_as_a_fault_point() {
    let cfg = GenConfig::default();
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..3000 {
        for p in crate::campaign::draw(1, i, &cfg).faults.points {
            if let crate::mm::FaultPoint::Site { site, .. } = p {
                seen.insert(site);
            }
        }
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        crate::mm::AllocSite::ALL.to_vec()
    );
}

// At the real geometry the generator maps more than real C is given (the
// page arrays of the model are runs), and each draw builds; where real C
// runs the draws, none maps more than it is given.
#[test]
fn real_geometry_draws_pass_what_real_c_takes_and_real_c_draws_stay_within_it() {
    let real = GenConfig {
        geometries: vec![(1, crate::scenario::GeometryName::Real)],
        ..GenConfig::default()
    };
    let c = GenConfig {
        max_mapped: crate::scenario::MAX_C_MAPPED_PAGES,
        ..real.clone()
    };
    let (mut over, mut most, mut most_c) = (0, 0, 0);
    for i in 0..40_000 {
        let b = build(&crate::campaign::draw(3, i, &real)).expect("builds");
        over += u32::from(b.mapped_pages > crate::scenario::MAX_C_MAPPED_PAGES);
        most = most.max(b.mapped_pages);
        let b = build(&crate::campaign::draw(3, i, &c)).expect("builds");
        most_c = most_c.max(b.mapped_pages);
    }
    assert!(
        over > 0,
        "no draw of 40,000 maps more than real C takes (at most {most})"
    );
    assert!(most_c <= crate::scenario::MAX_C_MAPPED_PAGES, "{most_c}");
}
