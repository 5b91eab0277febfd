//! Sorts every difference between a 6.12 tree's compiled C and the Rust
//! model of 7.1-rc1 (`upstream`) by its cause, and counts them: the model
//! as a second reading of an older kernel, where every difference must be
//! a version difference named here or a bug of the model.
//!
//! The draws are sorted by what happened at the first operation where the
//! two part (as `v72_classes` does for 7.2):
//!
//! - `no-readv-fixed`: a vectored fixed read, which 6.12 does not have
//!   (READV_FIXED came in 6.15): -EINVAL, as for an unknown opcode;
//! - `nr-segs-untrimmed`: 6.12's `io_import_fixed()` leaves `nr_segs` at
//!   `imu->nr_bvecs` for an import from the buffer's start; 7.1 sets it to
//!   the bvecs the range uses (the model's rule, `import/nr-segs`);
//! - `generation-holds-removed`: 6.12 keeps a buffer an update or
//!   unregister dropped until every request of its generation is done (a
//!   reference node per generation); 7.1 only until the requests that hold
//!   that buffer's own node are (`pinned_vm`, pinned folios);
//! - `quiesce-waits`: 6.12's unregister waits for the requests in flight;
//!   nothing completes them while it waits here, so the wait is
//!   interrupted: -EINTR, where 7.1 unregisters at once;
//! - `charge-once-per-register`: 6.12 grows `nr_user_bufs` as it registers,
//!   so `headpage_already_acct()` sees the call's earlier buffers and
//!   charges a huge page they share once; 7.1 installs the table at the end
//!   and charges it again (what 7.2's df0a52537c0f then made the rule);
//! - `fault-plan-sites`: a fault plan fails a call at a site both versions
//!   have, but 6.12 makes its calls in another order and number (a
//!   reference node per update, the tag tables, no node per buffer), so
//!   the same plan fails another call;
//! - `known-rlimit-bypass`: 6.12 has 7.1's RLIMIT_MEMLOCK bypass
//!   (`accounting/uncharged-pins`, fixed by df0a52537c0f in 7.2), reached
//!   where 7.1 does not reach it;
//! - `other`: anything else, printed in full to be looked at (`--show`
//!   prints the first of every class).
//!
//! ```sh
//! cargo run --release --example c612_classes -- --tree DIR [--seeds 1] [--runs 100000] [--show]
//! ```

use regbuf_fuzz::campaign::draw;
use regbuf_fuzz::ctree::CVariant;
use regbuf_fuzz::gen::GenConfig;
use regbuf_fuzz::model::Errno;
use regbuf_fuzz::oracle::{check, FindingKind, Verdict};
use regbuf_fuzz::run::Run;
use regbuf_fuzz::scenario::{build, Built, ConcreteOp};
use regbuf_fuzz::variants::by_name;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn cause(b: &Built, verdict: &Verdict, base: &Run, cand: &Run, i: usize) -> String {
    let breaks = |sig: &str| {
        verdict.findings.iter().any(|f| {
            f.op == i
                && f.variant == "tree"
                && matches!(&f.kind, FindingKind::Invariant(..))
                && f.signature().ends_with(sig)
        })
    };
    let op = b.ops.get(i);
    let (x, y) = (&base.ops[i], &cand.ops.get(i).unwrap_or(&base.ops[i]));
    if matches!(op, Some(ConcreteOp::Readv { .. })) && y.ret == Errno::EINVAL.neg() as i64 {
        return "no-readv-fixed".into();
    }
    if breaks("import/nr-segs") {
        return "nr-segs-untrimmed".into();
    }
    if breaks("accounting/uncharged-pins") {
        return "known-rlimit-bypass".into();
    }
    if !x.faults_fired.is_empty() || !y.faults_fired.is_empty() || x.fault_calls != y.fault_calls {
        return "fault-plan-sites".into();
    }
    if matches!(op, Some(ConcreteOp::Unregister)) && y.ret == -(libc::EINTR as i64) {
        return "quiesce-waits".into();
    }
    let (xs, ys) = (&x.snapshot, &y.snapshot);
    let held = !b.world.ctx.inflight.is_empty()
        || b.ops[..i]
            .iter()
            .any(|o| matches!(o, ConcreteOp::Import { hold: true, .. }));
    if held
        && matches!(
            op,
            Some(ConcreteOp::Update { .. }) | Some(ConcreteOp::Unregister) | None
        )
        && ys.pinned_vm >= xs.pinned_vm
    {
        return "generation-holds-removed".into();
    }
    let charges_less = ys.pinned_vm < xs.pinned_vm || ys.locked_vm < xs.locked_vm;
    let refused_more = x.ret == Errno::ENOMEM.neg() as i64 && y.ret != x.ret;
    if matches!(
        op,
        Some(ConcreteOp::Register { .. }) | Some(ConcreteOp::Update { .. })
    ) && (charges_less || refused_more)
    {
        return "charge-once-per-register".into();
    }
    format!(
        "other: op {i} ({}): upstream ret {} locked {:?} pinned {} pins {:?}; tree ret {} locked {:?} pinned {} pins {:?}",
        x.kind, x.ret, xs.locked_vm, xs.pinned_vm, xs.pins, y.ret, ys.locked_vm, ys.pinned_vm, ys.pins
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(tree) = flag(&args, "--tree").map(PathBuf::from) else {
        eprintln!("usage: c612_classes --tree DIR [--seeds N-M] [--runs N]");
        std::process::exit(2);
    };
    let seeds = flag(&args, "--seeds").unwrap_or_else(|| "1".into());
    let (lo, hi): (u64, u64) = match seeds.split_once('-') {
        Some((a, b)) => (a.parse().unwrap(), b.parse().unwrap()),
        None => (seeds.parse().unwrap(), seeds.parse().unwrap()),
    };
    let runs: u64 = flag(&args, "--runs").map_or(100_000, |r| r.parse().unwrap());
    let up = by_name("upstream").unwrap();
    let c: &'static CVariant = match CVariant::new("tree", &tree, &[], up) {
        Ok(c) => Box::leak(Box::new(c)),
        Err(e) => {
            eprintln!("c612_classes: {e}");
            std::process::exit(2);
        }
    };
    // A tree's C runs one ring, as in a campaign with --tree.
    let gen = GenConfig {
        rings: false,
        ..GenConfig::default()
    };
    let mut classes: BTreeMap<String, (u64, (u64, u64))> = BTreeMap::new();
    let (mut total, mut differing) = (0u64, 0u64);
    for seed in lo..=hi {
        for i in 0..runs {
            let s = draw(seed, i, &gen);
            total += 1;
            let Ok((verdict, base, cand)) = check(&s, c, up) else {
                continue;
            };
            let Some(first) = verdict.findings.iter().map(|f| f.op).min() else {
                continue;
            };
            differing += 1;
            let class = cause(&build(&s).unwrap(), &verdict, &base, &cand, first);
            let show = class.starts_with("other") || args.iter().any(|a| a == "--show");
            if show && !classes.contains_key(&class) {
                println!("{class}\n{}", s.to_toml());
            }
            let e = classes.entry(class).or_insert((0, (seed, i)));
            e.0 += 1;
        }
    }
    println!(
        "{total} scenarios (seeds {lo}-{hi}, {runs} each, faults on), {differing} where the tree's C and upstream differ:"
    );
    for (name, (n, (seed, i))) in &classes {
        println!("  {name:<26} {n:>7} runs, first at seed {seed} iteration {i}");
    }
}
