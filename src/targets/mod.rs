//! Bodies of the cargo-fuzz targets. Each `fuzz/fuzz_targets/<name>.rs` is
//! three lines that call `run` here, so `cargo test` smoke-runs every target
//! without libFuzzer and a crash artifact replays through the same code.
//!
//! `run` returns `Err(report)` on a finding; the glue panics with it, which
//! is how libFuzzer learns of a crash. The report ends with the command that
//! turns the artifact into a corpus file.

pub mod decode;
pub mod differential;
pub mod fault_injection;

use crate::scenario::Scenario;
use crate::variants::{self, Variant};

/// Environment variable naming the variant under test (default `rfc-v1`
/// for `differential`, `upstream` for `fault_injection`).
pub const VARIANT_ENV: &str = "REGBUF_VARIANT";
/// Environment variable naming the variant compared against (default `upstream`).
pub const AGAINST_ENV: &str = "REGBUF_AGAINST";

/// The variant named by `var`, or `default`. A bad name fails loudly.
pub fn variant_from_env(var: &str, default: &str) -> &'static dyn Variant {
    let name = std::env::var(var).unwrap_or_else(|_| default.to_string());
    variants::by_name(&name).unwrap_or_else(|| {
        panic!(
            "invalid value for `{var}`: `{name}`; known variants: {}",
            variants::names().join(", ")
        )
    })
}

/// The scenario a target draws from `data` when testing `v`, for turning an
/// artifact into a corpus file (`regbuf-fuzz import-artifact`).
pub fn scenario_of(target: &str, data: &[u8], v: &dyn Variant) -> Option<Scenario> {
    match target {
        "differential" => Some(differential::scenario(data)),
        "fault_injection" => Some(fault_injection::scenario(data, v)),
        _ => None,
    }
}

/// The panic message of a finding: what broke, the scenario, and the one
/// command that turns the crash artifact into a minimised corpus file.
pub(crate) fn finding_report(
    target: &str,
    headline: String,
    s: &Scenario,
    v: &dyn Variant,
) -> String {
    format!(
        "{headline}\n\n{}\nTurn the artifact into a minimised corpus file with:\n  regbuf-fuzz import-artifact <artifact> --target {target} --variant {} -o corpus/findings/",
        s.to_toml(),
        v.name()
    )
}

/// Feeds `n` pseudo-random inputs of up to 1 KiB to `f` (smoke tests).
#[cfg(test)]
pub(crate) fn smoke(n: u64, f: impl Fn(&[u8]) -> Result<(), String>) -> Vec<String> {
    use rand::{Rng, RngCore, SeedableRng};
    let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
    let mut errs = vec![];
    for _ in 0..n {
        let mut b = vec![0u8; rng.gen_range(0..1024)];
        rng.fill_bytes(&mut b);
        if let Err(e) = f(&b) {
            errs.push(e);
        }
    }
    errs
}
