//! Seed inputs for the byte-driven cargo-fuzz targets.
//!
//! `differential` and `fault_injection` read raw choice bytes through
//! `arbitrary::Unstructured`, not TOML: a corpus file cannot be fed to them,
//! and no byte string is invalid. What a seed can still give libFuzzer is a
//! start next to the layouts that matter. [`seed_inputs`] keeps, for every
//! variant but upstream, the first draw of a campaign seed whose primary
//! finding against upstream is one not seen before: one input per distinct
//! signature, whose bytes build the layout that bug needs (a hugetlb page
//! mapped twice, hugetlb pages F, G, F, a forked THP, an mTHP mapped from
//! its third page, a failed allocation). Run against upstream or a fixed
//! variant they show nothing; run against the variant in their name they
//! crash at once.
//!
//! The same bytes drive `fault_injection`: it draws the same layout and
//! operations without fault points, and the bytes left over choose the
//! allocation call that fails. `decode` reads them through the generator too.
//!
//! `fuzz/seeds/differential/` holds them, as written by
//! `regbuf-fuzz seed-corpus`; a test checks that each file still shows the
//! signature its name gives, so a change to the generator that moves them
//! fails loudly instead of leaving seeds that no longer mean anything.

use crate::campaign::{draw_bytes, file_name};
use crate::oracle::check;
use crate::variants::{self, Variant};
use std::collections::BTreeSet;

/// The campaign seed `regbuf-fuzz seed-corpus` draws from by default.
pub const DEFAULT_SEED: u64 = 2;
/// How many draws it looks at by default: enough for seed 2 to reach all
/// four of RFC v1's signatures (the last, `pins/count`, at iteration
/// 120,141).
pub const DEFAULT_RUNS: u64 = 125_000;

/// The most input bytes `differential` and `fault_injection` read (the
/// generator at its default limits, then a fault call index); the
/// `max_len` of their libFuzzer options in `.clusterfuzzlite/build.sh`.
pub const MAX_INPUT_LEN: usize = 512;

/// One seed input.
#[derive(Clone, Debug)]
pub struct SeedInput {
    /// File name: `<variant>--<finding>`, as the corpus file of that finding
    /// would be named, without `.toml`.
    pub name: String,
    /// Variant whose finding these bytes show.
    pub variant: &'static str,
    /// The finding's signature.
    pub signature: String,
    /// Campaign iteration they were drawn at.
    pub iteration: u64,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// The file name of a seed input showing `signature` on `variant`.
pub fn seed_name(variant: &str, signature: &str) -> String {
    file_name(variant, signature)
        .trim_end_matches(".toml")
        .to_string()
}

/// The primary signature of `bytes` as the `differential` target draws them,
/// for `v` against upstream.
pub fn primary_signature(bytes: &[u8], v: &dyn Variant) -> Option<String> {
    let up = variants::by_name("upstream").expect("upstream exists");
    let s = super::differential::scenario(bytes);
    check(&s, v, up)
        .ok()
        .and_then(|(verdict, _, _)| verdict.primary())
}

/// One input per (variant, primary signature) among the first `runs` draws
/// of campaign seed `seed`, lowest iteration first.
pub fn seed_inputs(seed: u64, runs: u64) -> Vec<SeedInput> {
    let others: Vec<&'static dyn Variant> =
        variants::all().filter(|v| v.name() != "upstream").collect();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for i in 0..runs {
        let bytes = draw_bytes(seed, i);
        for &v in &others {
            let Some(sig) = primary_signature(&bytes, v) else {
                continue;
            };
            if seen.insert((v.name(), sig.clone())) {
                out.push(SeedInput {
                    name: seed_name(v.name(), &sig),
                    variant: v.name(),
                    signature: sig,
                    iteration: i,
                    bytes: bytes.clone(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every committed seed input still shows the finding its name gives.
    /// When the generator changes what bytes mean, regenerate them:
    /// `rm -r fuzz/seeds/differential && regbuf-fuzz seed-corpus --out fuzz/seeds/differential`.
    #[test]
    fn committed_seed_inputs_still_show_their_findings() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/differential");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).expect("fuzz/seeds/differential exists") {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let variant = name.split("--").next().unwrap();
            let v = variants::by_name(variant)
                .unwrap_or_else(|| panic!("{name}: no variant `{variant}`"));
            let bytes = std::fs::read(&path).unwrap();
            let sig = primary_signature(&bytes, v);
            assert_eq!(
                sig.as_deref().map(|s| seed_name(variant, s)),
                Some(name.clone()),
                "{name} now shows {sig:?}; regenerate: rm -r fuzz/seeds/differential && \
                 regbuf-fuzz seed-corpus --out fuzz/seeds/differential"
            );
            n += 1;
        }
        assert!(n > 0, "no seed inputs in {}", dir.display());
    }

    /// Bytes past [`MAX_INPUT_LEN`] are never read, so the libFuzzer
    /// `max_len` loses nothing.
    #[test]
    fn the_byte_driven_targets_read_at_most_max_input_len_bytes() {
        use crate::gen::{scenario_from_unstructured, GenConfig};
        use rand::{RngCore, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(3);
        let mut most = 0;
        for fill in [0x00u8, 0xff] {
            let bytes = vec![fill; 4096];
            for cfg in [
                GenConfig::campaign(),
                GenConfig {
                    faults: false,
                    ..GenConfig::campaign()
                },
            ] {
                let mut u = arbitrary::Unstructured::new(&bytes);
                scenario_from_unstructured(&mut u, &cfg).unwrap();
                let _ = u.int_in_range(0..=u32::MAX);
                most = most.max(bytes.len() - u.len());
            }
        }
        for _ in 0..2000 {
            let mut bytes = vec![0u8; 4096];
            rng.fill_bytes(&mut bytes);
            for cfg in [
                GenConfig::campaign(),
                GenConfig {
                    faults: false,
                    ..GenConfig::campaign()
                },
            ] {
                let mut u = arbitrary::Unstructured::new(&bytes);
                scenario_from_unstructured(&mut u, &cfg).unwrap();
                let _ = u.int_in_range(0..=u32::MAX);
                most = most.max(bytes.len() - u.len());
            }
        }
        assert!(most <= MAX_INPUT_LEN, "read {most} bytes");
        eprintln!("the generator read at most {most} bytes");
    }

    #[test]
    fn seed_inputs_are_one_per_variant_and_signature_and_replay() {
        let got = seed_inputs(1, 300);
        assert!(got.iter().any(|s| s.variant == "rfc-v1"), "{got:?}");
        let names: BTreeSet<_> = got.iter().map(|s| s.name.clone()).collect();
        assert_eq!(names.len(), got.len());
        for s in &got {
            let v = variants::by_name(s.variant).unwrap();
            assert_eq!(
                primary_signature(&s.bytes, v).as_deref(),
                Some(s.signature.as_str())
            );
            assert!(primary_signature(&s.bytes, variants::by_name("upstream").unwrap()).is_none());
        }
    }
}
