//! What the model predicts a reproducer does on a lab kernel, and
//! whether the kernel's outcome agrees with it.

#[allow(unused_imports)]
use super::*;

/// What the model says a reproducer does on one kernel.
#[derive(Clone, Debug, Serialize)]
pub struct Prediction {
    /// The model variant (`upstream` for `base`).
    pub variant: String,
    /// `PASS` (no finding: the kernel behaves as upstream and breaks no
    /// rule) or `FAIL` (a finding), or `ERROR` when the model cannot run it.
    pub expect: String,
    /// The finding signatures.
    pub signatures: Vec<String>,
}

/// The model's prediction for a scenario on a variant: the scenario in its
/// live form (real geometry, no allocation failures: what the reproducer
/// runs) on `variant` against upstream.
pub fn predict(s: &Scenario, model_variant: &str) -> Prediction {
    let live = crate::live::live_scenario(s);
    let up = variants::by_name("upstream").expect("upstream exists");
    let v = variants::by_name(model_variant).expect("a known variant");
    match crate::oracle::check(&live, v, up) {
        Ok((verdict, _, _)) => {
            let sigs: Vec<String> = verdict.signatures().into_iter().collect();
            Prediction {
                variant: model_variant.to_string(),
                expect: if sigs.is_empty() { "PASS" } else { "FAIL" }.to_string(),
                signatures: sigs,
            }
        }
        Err(e) => Prediction {
            variant: model_variant.to_string(),
            expect: "ERROR".to_string(),
            signatures: vec![format!("{e:?}")],
        },
    }
}

/// Whether a kernel outcome agrees with a prediction (`None`: not judged:
/// a skip or trouble).
pub fn agrees(expect: &str, got: Outcome) -> Option<bool> {
    match (expect, got) {
        (_, Outcome::Skip | Outcome::Error) => None,
        ("PASS", o) => Some(o == Outcome::Pass),
        ("FAIL", o) => Some(matches!(o, Outcome::Fail | Outcome::Hang)),
        _ => None,
    }
}
