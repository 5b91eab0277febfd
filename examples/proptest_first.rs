//! Proptest as a rediscovery engine: from a seed, how many generated cases
//! until `VARIANT` shows a finding against upstream (or `--against V`), and
//! the signature of the shrunk counterexample. One JSON line; used by
//! bench/rediscovery.sh.
//!
//! Usage: cargo run --release --example proptest_first -- VARIANT SEED [MAX_CASES] [--known] [--against V]
//! (`--known`: the variant's known bugs count as findings, as with `fuzz --known`).

use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use regbuf_fuzz::gen::{scenario_strategy, GenConfig};
use regbuf_fuzz::oracle::check;
use regbuf_fuzz::variants::by_name;
use std::cell::Cell;
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let known = args.iter().any(|a| a == "--known");
    args.retain(|a| a != "--known");
    let against = match args.iter().position(|a| a == "--against") {
        Some(i) if i + 1 < args.len() => {
            let name = args.remove(i + 1);
            args.remove(i);
            name
        }
        Some(_) => {
            eprintln!("proptest_first: --against needs a variant name");
            return ExitCode::from(2);
        }
        None => "upstream".to_string(),
    };
    let (Some(name), Some(seed)) = (args.first(), args.get(1).and_then(|s| s.parse::<u8>().ok()))
    else {
        eprintln!("usage: proptest_first VARIANT SEED(0-255) [MAX_CASES] [--known] [--against V]");
        return ExitCode::from(2);
    };
    let max: u32 = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let Some(v) = by_name(name) else {
        eprintln!("proptest_first: unknown variant `{name}`");
        return ExitCode::from(2);
    };
    let Some(up) = by_name(&against) else {
        eprintln!("proptest_first: unknown variant `{against}` for --against");
        return ExitCode::from(2);
    };
    let cfg = Config {
        cases: max,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(cfg, TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32]));
    // Cases run before the first failure; shrinking runs more, not counted.
    let (cases, first) = (Cell::new(0u64), Cell::new(None::<(u64, f64)>));
    let t0 = Instant::now();
    let result = runner.run(&scenario_strategy(GenConfig::default()), |s| {
        cases.set(cases.get() + 1);
        let (verdict, _, _) = check(&s, v, up).map_err(|e| TestCaseError::fail(e.to_string()))?;
        match verdict.show_known(known).primary() {
            None => Ok(()),
            Some(sig) => {
                first.set(
                    first
                        .get()
                        .or(Some((cases.get(), t0.elapsed().as_secs_f64()))),
                );
                Err(TestCaseError::fail(sig))
            }
        }
    });
    let secs = t0.elapsed().as_secs_f64();
    match result {
        Err(TestError::Fail(why, minimal)) => {
            let size = minimal.size();
            let (n, at) = first.get().unwrap_or_default();
            println!(
                "{{\"variant\":\"{name}\",\"seed\":{seed},\"cases\":{n},\"seconds\":{at:.6},\"seconds_with_shrinking\":{secs:.6},\"signature\":\"{}\",\"shrunk\":{{\"segments\":{},\"folios\":{},\"ops\":{}}}}}",
                why.message(),
                size.segments,
                size.folios,
                size.ops
            );
            ExitCode::from(1)
        }
        _ => {
            println!(
                "{{\"variant\":\"{name}\",\"seed\":{seed},\"cases\":{max},\"signature\":null}}"
            );
            ExitCode::SUCCESS
        }
    }
}
