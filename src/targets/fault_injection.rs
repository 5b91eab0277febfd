//! `fault_injection`: one variant alone (default upstream) under a single
//! allocation failure chosen by the input: run once to count the calls,
//! then fail call i (wasmtime's OomTest). Every invariant must hold.

use crate::gen::{scenario_from_unstructured, GenConfig};
use crate::mm::{FaultPlan, FaultPoint};
use crate::oracle::check;
use crate::scenario::Scenario;

/// The scenario drawn from `data` for variant `v`, with its fault point
/// (an index into `v`'s own allocation calls).
pub fn scenario(data: &[u8], v: &dyn crate::variants::Variant) -> Scenario {
    let mut u = arbitrary::Unstructured::new(data);
    let cfg = GenConfig {
        faults: false,
        ..GenConfig::campaign()
    };
    let mut s = scenario_from_unstructured(&mut u, &cfg).expect("the generator never fails");
    let calls = check(&s, v, v).map(|(_, r, _)| r.alloc_calls).unwrap_or(0);
    if calls > 0 {
        let call = u.int_in_range(0..=calls - 1).unwrap_or(0);
        s.faults = FaultPlan {
            points: vec![FaultPoint::Call { call }],
        };
    }
    s
}

/// Runs one input; `Err` carries the report of a finding.
pub fn run(data: &[u8]) -> Result<(), String> {
    let v = super::variant_under_test("fault_injection", "upstream");
    let s = scenario(data, v);
    let (verdict, _, _) =
        check(&s, v, v).map_err(|e| format!("generator produced an unbuildable scenario: {e}"))?;
    match verdict.findings.first() {
        None => Ok(()),
        Some(f) => Err(super::finding_report(
            "fault_injection",
            format!(
                "finding {} under {:?}: {}",
                f.signature(),
                s.faults.points,
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
    fn smoke_upstream_survives_every_drawn_fault() {
        let errs = super::super::smoke(300, super::run);
        assert!(errs.is_empty(), "{}", errs[0]);
    }
}
