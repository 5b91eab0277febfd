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
pub mod seeds;

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

/// The variant under test for `target`: `$REGBUF_VARIANT` when set; else
/// the variant the executable is named after, when it is called
/// `<target>_<variant>` (OSS-Fuzz and ClusterFuzzLite run fuzz targets
/// without environment variables, so `.clusterfuzzlite/build.sh` ships
/// copies such as `differential_upstream`); else `default`. A bad name
/// fails loudly, from the variable or from the executable.
pub fn variant_under_test(target: &str, default: &str) -> &'static dyn Variant {
    if std::env::var_os(VARIANT_ENV).is_some() {
        return variant_from_env(VARIANT_ENV, default);
    }
    match exe_name().and_then(|exe| variant_in_exe_name(target, exe)) {
        Some(name) => variants::by_name(name).unwrap_or_else(|| {
            panic!(
                "executable `{target}_{name}` names the variant `{name}`, which does not exist; known variants: {}",
                variants::names().join(", ")
            )
        }),
        None => variant_from_env(VARIANT_ENV, default),
    }
}

/// `<variant>` of an executable called `<target>_<variant>`.
fn variant_in_exe_name<'a>(target: &str, exe: &'a str) -> Option<&'a str> {
    exe.strip_prefix(target)?.strip_prefix('_')
}

/// The file name of `argv[0]` (not of `/proc/self/exe`, so a copy or a
/// symlink keeps its own name), read once.
fn exe_name() -> Option<&'static str> {
    static NAME: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        let arg0 = std::env::args_os().next()?;
        let file = std::path::Path::new(&arg0).file_name()?;
        Some(file.to_string_lossy().into_owned())
    })
    .as_deref()
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

#[cfg(test)]
mod tests {
    #[test]
    fn an_executable_named_target_underscore_variant_names_the_variant() {
        use super::variant_in_exe_name as v;
        assert_eq!(v("differential", "differential"), None);
        assert_eq!(v("differential", "differential_upstream"), Some("upstream"));
        assert_eq!(
            v("differential", "differential_rfc-v1-fixed"),
            Some("rfc-v1-fixed")
        );
        assert_eq!(v("fault_injection", "fault_injection"), None);
        assert_eq!(
            v("fault_injection", "fault_injection_rfc-v1-fixed"),
            Some("rfc-v1-fixed")
        );
        assert_eq!(v("differential", "regbuf_fuzz-0123abcd"), None);
        assert_eq!(v("differential", "differentialx"), None);
    }
}
