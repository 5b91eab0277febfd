//! `differential`: a scenario from the input bytes, the variant under test
//! against upstream, every invariant on both and the normalised comparison.

use super::{variant_from_env, AGAINST_ENV};
use crate::gen::{scenario_from_unstructured, GenConfig};
use crate::oracle::check;
use crate::scenario::Scenario;

/// The scenario drawn from `data`.
pub fn scenario(data: &[u8]) -> Scenario {
    scenario_from_unstructured(
        &mut arbitrary::Unstructured::new(data),
        &GenConfig::campaign(),
    )
    .expect("the generator never fails")
}

/// Runs one input; `Err` carries the report of a finding.
pub fn run(data: &[u8]) -> Result<(), String> {
    let v = super::variant_under_test("differential", "rfc-v1");
    let against = variant_from_env(AGAINST_ENV, "upstream");
    let s = scenario(data);
    let (verdict, _, _) = check(&s, v, against)
        .map_err(|e| format!("generator produced an unbuildable scenario: {e}"))?;
    match verdict.findings.first() {
        None => Ok(()),
        Some(f) => Err(super::finding_report(
            "differential",
            format!(
                "finding {} after op {} ({}): {}",
                f.signature(),
                f.op,
                f.op_kind,
                f.detail
            ),
            &s,
            v,
        )),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn smoke_finds_rfc_v1_and_never_panics() {
        let errs = super::super::smoke(300, super::run);
        assert!(
            errs.iter().all(|e| e.starts_with("finding rfc-v1:")),
            "{:?}",
            errs.first()
        );
    }
}
