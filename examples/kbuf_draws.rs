//! What a campaign's kernel-buffer operations reach: over the first RUNS
//! draws of SEED, drawn as `regbuf-fuzz fuzz` draws them (every geometry,
//! fault points, kernel buffers), how many draws have a `kbuf_*`
//! operation, and, run on upstream, how many register a kernel buffer
//! (`kbuf_register` returns 0), import from one, get a release, and show
//! 7.1's RLIMIT_MEMLOCK bypass (the known `accounting/uncharged-pins`)
//! where a draw without kernel buffers would not.
//!
//! Usage: cargo run --release --example kbuf_draws -- [SEED] [RUNS]

use regbuf_fuzz::campaign::{draw, gen_config, Config, Limit};
use regbuf_fuzz::gen::ALL_GEOMETRIES;
use regbuf_fuzz::oracle::check;
use regbuf_fuzz::variants::by_name;

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<u64>().expect("a number"));
    let seed = args.next().unwrap_or(1);
    let runs = args.next().unwrap_or(100_000);
    let up = by_name("upstream").expect("upstream exists");
    let cfg = Config {
        variant: up,
        against: up,
        seed,
        limit: Limit::Runs(runs),
        jobs: 1,
        faults: true,
        kbufs: true,
        progress: false,
        known: true,
        geometries: ALL_GEOMETRIES,
    };
    let (on, off) = (
        gen_config(&cfg),
        gen_config(&Config {
            kbufs: false,
            ..cfg
        }),
    );
    let (mut with, mut registered, mut imported, mut released, mut bypass) = (0, 0, 0, 0, 0);
    for i in 0..runs {
        let s = draw(seed, i, &on);
        if s.first_kbuf_op().is_none() {
            continue;
        }
        with += 1;
        let (verdict, run, _) = check(&s, up, up).expect("a campaign's draws build");
        let ok = |kind: &str| {
            s.ops
                .iter()
                .zip(&run.ops)
                .any(|(o, r)| o.kind() == kind && r.ret >= 0)
        };
        registered += usize::from(ok("kbuf_register"));
        imported += usize::from(ok("kbuf_import") || ok("kbuf_readv"));
        let last = run.ops.last().expect("ring exit");
        released += usize::from(last.snapshot.kbuf_released.iter().any(|&n| n > 0));
        let known = |v: &regbuf_fuzz::oracle::Verdict| {
            v.known
                .iter()
                .chain(&v.findings)
                .any(|f| f.signature().ends_with("accounting/uncharged-pins"))
        };
        if known(&verdict) && !known(&check(&draw(seed, i, &off), up, up).unwrap().0) {
            bypass += 1;
        }
    }
    println!(
        "seed {seed}, {runs} draws: {with} with a kernel-buffer operation, {registered} registering one, \
         {imported} importing from one, {released} with a release, {bypass} with 7.1's bypass the draw \
         without kernel buffers does not show"
    );
}
