//! Proptest properties over the one generator, with the case counts CI
//! uses. Shrinking works on the scenario's structure (fewer segments,
//! folios, operations), so a failure prints a small readable scenario.

use proptest::prelude::*;
use proptest::test_runner::{
    Config, FileFailurePersistence, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner,
};
use regbuf_fuzz::gen::{scenario_strategy, GenConfig};
use regbuf_fuzz::oracle::check;
use regbuf_fuzz::variants::by_name;

/// Cases per property in CI.
const CASES: u32 = 512;

fn config() -> Config {
    Config {
        cases: CASES,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "corpus/proptest/properties.txt",
        ))),
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Upstream 7.1-rc1 holds every invariant on generated layouts and
    /// operation sequences, with allocation failures injected.
    #[test]
    fn upstream_holds_every_invariant(s in scenario_strategy(GenConfig::default())) {
        let up = by_name("upstream").unwrap();
        let (verdict, _, _) = check(&s, up, up).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(verdict.is_clean(), "{:#?}\n{}", verdict.findings, s.to_toml());
    }

    /// The same with kernel buffers drawn, as campaigns draw them: their
    /// registrations, imports and releases hold every invariant too.
    #[test]
    fn upstream_holds_every_invariant_with_kernel_buffers(
        s in scenario_strategy(GenConfig { kbufs: true, ..GenConfig::default() })
    ) {
        let up = by_name("upstream").unwrap();
        let (verdict, _, _) = check(&s, up, up).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(verdict.is_clean(), "{:#?}\n{}", verdict.findings, s.to_toml());
    }
}

/// Proptest, from a fixed seed and within CI's case count, finds that RFC v1
/// differs from upstream, and shrinks the counterexample to a handful of
/// segments and at most three operations.
#[test]
fn proptest_finds_rfc_v1_within_the_ci_case_count() {
    let cfg = Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(cfg, TestRng::from_seed(RngAlgorithm::ChaCha, &[1; 32]));
    let (up, rfc) = (by_name("upstream").unwrap(), by_name("rfc-v1").unwrap());
    let result = runner.run(&scenario_strategy(GenConfig::default()), |s| {
        let (verdict, _, _) = check(&s, rfc, up).map_err(|e| TestCaseError::fail(e.to_string()))?;
        match verdict.primary() {
            None => Ok(()),
            Some(sig) => Err(TestCaseError::fail(sig)),
        }
    });
    match result {
        Err(TestError::Fail(why, minimal)) => {
            assert!(why.message().starts_with("rfc-v1:"), "{why}");
            let size = minimal.size();
            assert!(
                size.ops <= 3 && size.segments <= 4 && size.folios <= 3,
                "not shrunk: {size:?}\n{}",
                minimal.to_toml()
            );
        }
        other => panic!("no finding in {CASES} cases: {other:?}"),
    }
}
