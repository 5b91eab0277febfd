//! Sorts every difference between `v7.2` and upstream 7.1 among a
//! campaign's draws by its cause, counts them, and writes a minimised
//! example of each cause.
//!
//! A campaign keeps one scenario per primary signature, and one cause shows
//! under several signatures (a buffer 7.2 accepts and 7.1 refuses differs
//! in the return value, the table, the pinned folios and the accounting,
//! and whichever sorts first is the primary one), while one signature
//! (`diff:accounting`) has more than one cause. So the draws are sorted by
//! what happened at the first operation where the two versions part:
//!
//! - `size-limit-raised`: an iovec longer than SZ_1G and at most SZ_1T
//!   (scaled), refused by 7.1 with -EFAULT, taken further by 7.2
//!   (b4e41050b212);
//! - `size-limit-einval`: an iovec longer than SZ_1T: -EFAULT on 7.1,
//!   -EINVAL on 7.2 (b4e41050b212);
//! - `rlimit-bypass-closed`: 7.1 charges less than 7.2 (or 7.2 refuses with
//!   -ENOMEM what 7.1 took): a huge page uncharged while still pinned
//!   (df0a52537c0f);
//! - `double-charge-removed`: 7.1 charges more than 7.2 (or refuses with
//!   -ENOMEM what 7.2 takes): a huge page charged once per buffer that
//!   7.1's `headpage_already_acct()` does not see, such as two buffers of
//!   one IORING_REGISTER_BUFFERS call (df0a52537c0f);
//! - `no-user-pinned-vm`: a ring whose creator has CAP_IPC_LOCK: 7.1
//!   charges mm->pinned_vm, 7.2 charges nothing (df0a52537c0f);
//! - `other`: anything else (printed in full, to be looked at).
//!
//! ```sh
//! cargo run --release --example v72_classes -- [--seeds 1-3] [--runs 200000] [--write corpus/findings/v7.2]
//! ```

use regbuf_fuzz::campaign::{draw, expectations};
use regbuf_fuzz::gen::GenConfig;
use regbuf_fuzz::minimize::minimize;
use regbuf_fuzz::model::Errno;
use regbuf_fuzz::oracle::check;
use regbuf_fuzz::run::Run;
use regbuf_fuzz::scenario::{build, rescale, ConcreteOp, GeometryName, Scenario};
use regbuf_fuzz::variants::{by_name, Variant};
use std::collections::{BTreeMap, BTreeSet};

/// The causes, with whether each is the intended change and why.
const CLASSES: &[(&str, &str)] = &[
    (
        "size-limit-raised",
        "intended: b4e41050b212 raises the per-buffer limit from 1 GiB to 1 TiB, so 7.1 refuses with -EFAULT \
         a buffer 7.2 pins and registers (or fails later on, at a hole, or at RLIMIT_MEMLOCK)",
    ),
    (
        "size-limit-einval",
        "intended by the code of b4e41050b212 (`if (ulen > SZ_1T) return -EINVAL;`), but a user-visible errno \
         change the commit's title does not announce: a buffer over the limit was -EFAULT in 7.1 and is -EINVAL \
         in 7.2, for lengths over 1 TiB",
    ),
    (
        "rlimit-bypass-closed",
        "intended: df0a52537c0f fixes 7.1's RLIMIT_MEMLOCK bypass. 7.1 charges a huge page to one buffer and \
         uncharges it when that buffer goes while another still pins it (upstream breaks \
         accounting/uncharged-pins, a known bug); 7.2 keeps it charged until its last reference, so it charges \
         more, and refuses with -ENOMEM what 7.1 lets through",
    ),
    (
        "double-charge-removed",
        "intended: df0a52537c0f charges a huge page once per ring. 7.1 charges it again for a buffer whose \
         page headpage_already_acct() misses (the other buffers of the same IORING_REGISTER_BUFFERS call are not \
         in ctx->buf_table yet), so it charges more, and refuses with -ENOMEM what 7.2 takes",
    ),
    (
        "no-user-pinned-vm",
        "unintended: df0a52537c0f returns early from the accounting when ctx->user is NULL (a creator with \
         CAP_IPC_LOCK), which skips mm->pinned_vm as well. 7.1 charged pinned_vm for every ring (only locked_vm \
         needs a user), so VmPin in /proc/PID/status no longer counts such a ring's registered buffers. The \
         commit message says \"As before, if root is running the operation, no accounting is done\": true of \
         locked_vm, not of pinned_vm. RLIMIT_MEMLOCK is not involved (such a ring is exempt from it either way)",
    ),
];

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// The cause of the first difference between the runs of `s`, or `None`
/// when they agree (known bugs of upstream set aside).
fn classify(s: &Scenario, v: &dyn Variant, up: &dyn Variant) -> Option<String> {
    let (verdict, base, cand) = check(s, v, up).ok()?;
    let first = verdict.findings.iter().map(|f| f.op).min()?;
    if let Some(f) = verdict.findings.iter().find(|f| {
        f.variant == v.name() && matches!(f.kind, regbuf_fuzz::oracle::FindingKind::Invariant(..))
    }) {
        return Some(format!("other: {} breaks {}", v.name(), f.signature()));
    }
    let b = build(s).ok()?;
    Some(cause(&b, &base, &cand, first))
}

fn cause(b: &regbuf_fuzz::scenario::Built, base: &Run, cand: &Run, i: usize) -> String {
    let geo = b.world.geo;
    let b_op = b.ops.get(i);
    let lens: Vec<u64> = match b_op {
        Some(ConcreteOp::Register { iovecs }) | Some(ConcreteOp::Update { iovecs, .. }) => {
            iovecs.iter().map(|v| v.iov_len).collect()
        }
        _ => vec![],
    };
    let (x, y) = (&base.ops[i], &cand.ops[i]);
    let efault = Errno::EFAULT.neg() as i64;
    let enomem = Errno::ENOMEM.neg() as i64;
    // A register stops at its first failing iovec and an update returns how
    // many it installed, so an iovec over SZ_1G shows as a different return.
    if x.ret != y.ret && lens.iter().any(|&l| l > geo.sz_1g()) {
        if x.ret == efault && y.ret == Errno::EINVAL.neg() as i64 {
            return "size-limit-einval".into();
        }
        if lens.iter().any(|&l| l > geo.sz_1g() && l <= geo.sz_1t()) {
            return "size-limit-raised".into();
        }
    }
    let (xs, ys) = (&x.snapshot, &y.snapshot);
    if xs.locked_vm.is_none() && ys.locked_vm.is_none() {
        if ys.pinned_vm == 0 && xs.pinned_vm > 0 && x.ret == y.ret && xs.pins == ys.pins {
            return "no-user-pinned-vm".into();
        }
    } else {
        // The version that refused (part of) the operation at RLIMIT_MEMLOCK
        // wanted to charge more: -ENOMEM, or an update that stopped early.
        let refused = |a: &regbuf_fuzz::run::OpRecord, b: &regbuf_fuzz::run::OpRecord| {
            (a.ret == enomem && b.ret != enomem)
                || (matches!(b_op, Some(ConcreteOp::Update { .. })) && a.ret >= 0 && a.ret < b.ret)
        };
        if refused(x, y) {
            return "double-charge-removed".into();
        }
        if refused(y, x) {
            return "rlimit-bypass-closed".into();
        }
        // Otherwise the one that charged more for what the operation left.
        match xs.locked_vm.cmp(&ys.locked_vm) {
            std::cmp::Ordering::Less => return "rlimit-bypass-closed".into(),
            std::cmp::Ordering::Greater => return "double-charge-removed".into(),
            std::cmp::Ordering::Equal => {}
        }
    }
    format!(
        "other: op {i} ({}): 7.1 ret {} locked {:?} pinned {} pins {:?}; 7.2 ret {} locked {:?} pinned {} pins {:?}",
        x.kind, x.ret, xs.locked_vm, xs.pinned_vm, xs.pins, y.ret, ys.locked_vm, ys.pinned_vm, ys.pins
    )
}

struct Class {
    runs: u64,
    first: (u64, u64),
    primaries: BTreeMap<String, u64>,
    scenario: Scenario,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seeds = flag(&args, "--seeds").unwrap_or_else(|| "1-3".into());
    let (lo, hi) = match seeds.split_once('-') {
        Some((a, b)) => (a.parse().unwrap(), b.parse().unwrap()),
        None => {
            let s: u64 = seeds.parse().unwrap();
            (s, s)
        }
    };
    let runs: u64 = flag(&args, "--runs").map_or(200_000, |r| r.parse().unwrap());
    let write = flag(&args, "--write");
    let (v, up) = (by_name("v7.2").unwrap(), by_name("upstream").unwrap());
    let gen = GenConfig::default();
    let mut classes: BTreeMap<String, Class> = BTreeMap::new();
    let mut total = 0u64;
    let mut differing = 0u64;
    for seed in lo..=hi {
        for i in 0..runs {
            let s = draw(seed, i, &gen);
            total += 1;
            let Ok((verdict, base, cand)) = check(&s, v, up) else {
                continue;
            };
            let Some(first) = verdict.findings.iter().map(|f| f.op).min() else {
                continue;
            };
            differing += 1;
            let class = match verdict.findings.iter().find(|f| {
                f.variant == "v7.2"
                    && matches!(f.kind, regbuf_fuzz::oracle::FindingKind::Invariant(..))
            }) {
                Some(f) => format!("other: v7.2 breaks {}", f.signature()),
                None => cause(&build(&s).unwrap(), &base, &cand, first),
            };
            if class.starts_with("other") && !classes.contains_key(&class) {
                println!("{class}\n{}", s.to_toml());
            }
            let c = classes.entry(class).or_insert_with(|| Class {
                runs: 0,
                first: (seed, i),
                primaries: BTreeMap::new(),
                scenario: s.clone(),
            });
            c.runs += 1;
            *c.primaries.entry(verdict.primary().unwrap()).or_default() += 1;
        }
    }
    println!(
        "{total} scenarios (seeds {lo}-{hi}, {runs} each, faults on), {differing} where v7.2 and upstream differ:"
    );
    for (name, c) in &classes {
        let p: Vec<String> = c
            .primaries
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect();
        println!(
            "  {name:<24} {:>7} runs, first at seed {} iteration {}; primary signatures: {}",
            c.runs,
            c.first.0,
            c.first.1,
            p.join(", ")
        );
    }
    let Some(dir) = write else { return };
    std::fs::create_dir_all(&dir).unwrap();
    for (name, why) in CLASSES {
        let Some(c) = classes.get(*name) else {
            println!("no {name} seen");
            continue;
        };
        let mut keep = |s: &Scenario| classify(s, v, up).as_deref() == Some(*name);
        let small = minimize(&c.scenario, &mut keep);
        let real = rescale(&small, GeometryName::Real);
        let mut out = if keep(&real) { real } else { small };
        let sigs: BTreeSet<String> = check(&out, v, up).unwrap().0.signatures();
        out.note = Some(format!(
            "v7.2 against upstream 7.1, cause `{name}` (seed {} iteration {}, minimised by `cargo run --release --example v72_classes -- --write`): {why}. Signatures: {}.",
            c.first.0,
            c.first.1,
            sigs.into_iter().collect::<Vec<_>>().join(", ")
        ));
        out.expect = expectations(&out);
        let path = format!("{dir}/{name}.toml");
        std::fs::write(&path, out.to_toml()).unwrap();
        println!("wrote {path} ({} geometry)", out.geometry.geometry().name());
    }
}
