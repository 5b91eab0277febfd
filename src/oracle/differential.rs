//! The differential oracle (wasmtime's `DiffEqResult` shape): run the same
//! scenario on two variants, report every invariant either side breaks, and
//! every normalised outcome on which they differ.
//!
//! An invariant broken after an operation is one finding, named after the
//! first aspect its check reports there; the other aspects it saw broken
//! ride along in [`Finding::also`]. Signatures, and so the primary one that
//! campaigns and the minimiser keep and the verdicts corpus files record,
//! are made of first aspects only.
//!
//! A broken invariant that the variant lists among its known bugs
//! ([`crate::variants::Variant::known_bugs`]) is set aside as known rather
//! than reported: [`Verdict::known`], shown with `--known`. On the candidate
//! side of a comparison between two versions that both have the bug, it is
//! known only where the base shows it after the same operation (or can no
//! longer witness: the fault plan already failed different calls on the
//! two sides), so that a patch reaching the same broken rule by a new route
//! is still reported.

use super::Violation;
use crate::run::{Run, SlotView, Snapshot};
use crate::variants::KnownBug;
use serde::Serialize;
use std::collections::BTreeSet;

/// What kind of finding.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum FindingKind {
    /// A named invariant broke on one side: its name and the aspect.
    Invariant(&'static str, String),
    /// The sides differ in a compared field.
    Diff(&'static str),
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What broke.
    pub kind: FindingKind,
    /// The variant it broke on (for a difference: the candidate).
    pub variant: &'static str,
    /// Index of the operation after which it was seen; the ring-exit
    /// record is index `ops.len()`.
    pub op: usize,
    /// That operation's kind.
    pub op_kind: &'static str,
    /// What each side said.
    pub detail: String,
    /// How many times the invariant saw this aspect broken after the
    /// operation (1 for a difference); [`Finding::detail`] is the first.
    #[serde(skip_serializing_if = "is_one")]
    pub count: u32,
    /// The invariant's other aspects broken on the same side after the same
    /// operation, in the order it saw them. They ride along with the
    /// finding, not as findings of their own, so that the signatures, the
    /// primary one and a corpus file's verdict stay what the first aspect
    /// makes them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<Violation>,
    /// The known bug this is, when the variant lists it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known: Option<KnownBug>,
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

impl Finding {
    /// Tells distinct findings apart: variant, kind, name.
    pub fn signature(&self) -> String {
        match &self.kind {
            FindingKind::Invariant(n, a) => format!("{}:invariant:{n}/{a}", self.variant),
            FindingKind::Diff(n) => format!("{}:diff:{n}", self.variant),
        }
    }

    /// The signature as corpus files record it: a known bug's carries the
    /// marker ` (known)`.
    pub fn recorded_signature(&self) -> String {
        match self.known {
            Some(_) => format!("{} (known)", self.signature()),
            None => self.signature(),
        }
    }
}

/// The outcome of one differential run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Findings, earliest operation first; one per signature.
    pub findings: Vec<Finding>,
    /// Known bugs of the variants, set aside (earliest first, one per
    /// signature); [`Verdict::with_known`] reports them as findings.
    pub known: Vec<Finding>,
}

impl Verdict {
    /// No finding (known bugs set aside do not count).
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }
    /// The set of signatures, known bugs included with their marker: what
    /// a corpus file records and replays. The same with or without
    /// [`Verdict::with_known`].
    pub fn signatures(&self) -> BTreeSet<String> {
        self.findings
            .iter()
            .chain(&self.known)
            .map(Finding::recorded_signature)
            .collect()
    }
    /// This verdict with its known bugs reported as findings (`--known`),
    /// each still marked as known.
    pub fn with_known(mut self) -> Verdict {
        self.findings.append(&mut self.known);
        self.findings.sort_by_key(|f| (f.op, rank(&f.kind)));
        self
    }
    /// [`Verdict::with_known`] when `show` is set, else the verdict as it is.
    pub fn show_known(self, show: bool) -> Verdict {
        if show {
            self.with_known()
        } else {
            self
        }
    }
    /// The first finding's signature: what tells one finding from another.
    pub fn primary(&self) -> Option<String> {
        self.findings.first().map(Finding::signature)
    }
}

/// Compares `cand` against `base`. When both are the same variant only the
/// invariants are checked.
pub fn compare(base: &Run, cand: &Run) -> Verdict {
    let mut all: Vec<Finding> = Vec::new();
    let sides: &[&Run] = if base.variant == cand.variant {
        &[cand]
    } else {
        &[base, cand]
    };
    for run in sides {
        for (i, rec) in run.ops.iter().enumerate() {
            for v in rec.violations.iter().filter(|v| v.primary) {
                let also = rec
                    .violations
                    .iter()
                    .filter(|x| !x.primary && x.invariant == v.invariant)
                    .cloned()
                    .collect();
                all.push(Finding {
                    kind: FindingKind::Invariant(v.invariant, v.aspect.clone()),
                    variant: run.variant,
                    op: i,
                    op_kind: rec.kind,
                    detail: v.detail.clone(),
                    count: v.count,
                    also,
                    known: None,
                });
            }
        }
    }
    if base.variant != cand.variant {
        for (i, (b, c)) in base.ops.iter().zip(&cand.ops).enumerate() {
            // Once the two sides have lost different allocations (a site one
            // of them never reaches, such as a bigger imu for an uncoalesced
            // buffer, or the same site at a different call of the operation
            // because an earlier operation allocated there on one side
            // only), their outcomes may differ legitimately: the comparison
            // is poisoned from here on, as in wasmtime's DiffEqResult. Each
            // side's invariants still apply in full.
            if b.faults_fired != c.faults_fired || b.fault_calls != c.fault_calls {
                break;
            }
            let mut diff = |name: &'static str, detail: String| {
                all.push(Finding {
                    kind: FindingKind::Diff(name),
                    variant: cand.variant,
                    op: i,
                    op_kind: c.kind,
                    detail,
                    count: 1,
                    also: Vec::new(),
                    known: None,
                });
            };
            if b.ret != c.ret {
                diff(
                    "return",
                    format!(
                        "{}: {} returned {}, {}: {}",
                        base.variant, b.kind, b.ret, cand.variant, c.ret
                    ),
                );
            }
            if b.import != c.import {
                diff(
                    "import",
                    format!(
                        "{}: {:x?}\n{}: {:x?}",
                        base.variant, b.import, cand.variant, c.import
                    ),
                );
            }
            compare_snapshots(
                &b.snapshot,
                &c.snapshot,
                base.variant,
                cand.variant,
                &mut diff,
            );
        }
    }
    // Earliest first; within an operation, invariants in the order of
    // INVARIANTS (the most basic rule first), then the differences they cause.
    all.sort_by_key(|f| (f.op, rank(&f.kind)));
    // Known or not is decided per occurrence, before keeping the earliest
    // of each: a known bug at one operation does not hide the same rule
    // broken by a new route at a later one.
    for f in &mut all {
        f.known = known_bug(f, base, cand);
    }
    let mut seen = BTreeSet::new();
    all.retain(|f| seen.insert(f.recorded_signature()));
    let (mut findings, mut known) = (Vec::new(), Vec::new());
    for f in all {
        if f.known.is_some() {
            known.push(f);
        } else {
            findings.push(f);
        }
    }
    Verdict { findings, known }
}

/// A difference where the base broke one of its known width bugs
/// (`widths/...`) at the same operation or before: the base's truncated
/// bvecs name other bytes, so a candidate that does not truncate (or
/// truncates elsewhere) differs from it; the difference is the base's bug.
fn width_of_base(f: &Finding, base: &Run) -> Option<KnownBug> {
    let listed = crate::variants::by_name(base.variant)?.known_bugs();
    base.ops.iter().take(f.op + 1).find_map(|r| {
        r.violations.iter().find_map(|v| {
            listed
                .iter()
                .find(|k| {
                    k.aspect.starts_with("widths/")
                        && k.aspect.split_once('/') == Some((v.invariant, v.aspect.as_str()))
                })
                .copied()
        })
    })
}

/// The known bug `f` is, if any: an invariant its variant lists among its
/// known bugs; on the candidate side, when the base lists the same bug, only
/// where the base broke the same rule after the same operation (as any of
/// the aspects it reported there: one the base shows behind another is not
/// a new route).
fn known_bug(f: &Finding, base: &Run, cand: &Run) -> Option<KnownBug> {
    let FindingKind::Invariant(name, aspect) = &f.kind else {
        return width_of_base(f, base);
    };
    let key = format!("{name}/{aspect}");
    let listed = |variant: &str| {
        crate::variants::by_name(variant)
            .and_then(|v| v.known_bugs().iter().find(|k| k.aspect == key).copied())
    };
    let bug = listed(f.variant)?;
    // A consequence is known where its cause broke, on either side: a
    // candidate's finding is known only where the base broke the same rule
    // at the same operation (below), and a tree's C, which records no
    // width of its own, shows the consequences of the model's.
    if !bug.after.is_empty() {
        let caused = [base, cand].iter().any(|run| {
            run.ops.iter().take(f.op + 1).any(|r| {
                r.violations.iter().any(|v| {
                    bug.after
                        .iter()
                        .any(|c| c.split_once('/') == Some((v.invariant, v.aspect.as_str())))
                })
            })
        });
        if !caused {
            return None;
        }
    }
    if f.variant == cand.variant && base.variant != cand.variant && listed(base.variant).is_some() {
        let base_too = base.ops.get(f.op).is_some_and(|r| {
            r.violations
                .iter()
                .any(|v| v.invariant == *name && v.aspect == *aspect)
        });
        // Once the fault plan failed different calls on the two sides (the
        // comparison is poisoned), the base is in another state and cannot
        // witness either way: the bug the variant lists stays known.
        let poisoned = base
            .ops
            .iter()
            .zip(&cand.ops)
            .position(|(b, c)| b.faults_fired != c.faults_fired || b.fault_calls != c.fault_calls)
            .is_some_and(|p| p <= f.op);
        if !base_too && !poisoned {
            return None;
        }
    }
    Some(bug)
}

/// The slots of one ring's table, two versions side by side; `ring`
/// follows each slot number (empty for ring 0).
fn compare_slots(
    b: &[Option<SlotView>],
    c: &[Option<SlotView>],
    ring: &str,
    bn: &str,
    cn: &str,
    diff: &mut impl FnMut(&'static str, String),
) {
    for (slot, (x, y)) in b.iter().zip(c).enumerate() {
        match (x, y) {
            (Some(x), Some(y)) => {
                if (x.ubuf, x.len, &x.bytes) != (y.ubuf, y.len, &y.bytes) {
                    diff(
                        "coverage",
                        format!("slot {slot}{ring}: {bn} covers {:x?} ({} bvecs), {cn} covers {:x?} ({} bvecs)", x.bytes, x.nr_bvecs, y.bytes, y.nr_bvecs),
                    );
                }
                if x.kbuf_dir != y.kbuf_dir {
                    diff(
                        "kbuf",
                        format!(
                            "slot {slot}{ring}: {bn} {}, {cn} {}",
                            kbuf_state(x.kbuf_dir),
                            kbuf_state(y.kbuf_dir)
                        ),
                    );
                }
                // Per-buffer accounting is compared only between versions
                // that have it; the totals below are compared always.
                if let (Some(xa), Some(ya)) = (x.acct_pages, y.acct_pages) {
                    if xa != ya {
                        diff(
                            "accounting",
                            format!("slot {slot}{ring}: {bn} accounts {xa} pages, {cn} {ya}"),
                        );
                    }
                }
            }
            (None, None) => {}
            _ => diff(
                "table",
                format!("slot {slot}{ring}: {bn} {}, {cn} {}", state(x), state(y)),
            ),
        }
    }
}

fn compare_snapshots(
    b: &Snapshot,
    c: &Snapshot,
    bn: &str,
    cn: &str,
    diff: &mut impl FnMut(&'static str, String),
) {
    if b.table_nr != c.table_nr {
        diff(
            "table",
            format!("{bn}: {} slots, {cn}: {} slots", b.table_nr, c.table_nr),
        );
    }
    compare_slots(&b.slots, &c.slots, "", bn, cn, diff);
    for (r, (x, y)) in b.other_rings.iter().zip(&c.other_rings).enumerate() {
        let ring = format!(" of ring {}", r + 1);
        if x.len() != y.len() {
            diff(
                "table",
                format!(
                    "ring {}: {bn}: {} slots, {cn}: {} slots",
                    r + 1,
                    x.len(),
                    y.len()
                ),
            );
        }
        compare_slots(x, y, &ring, bn, cn, diff);
    }
    let pinned =
        |s: &Snapshot| -> Vec<usize> { (0..s.pins.len()).filter(|&i| s.pins[i] != 0).collect() };
    if pinned(b) != pinned(c) {
        diff(
            "pinned_folios",
            format!(
                "{bn} pins folios {:?} ({:?}), {cn} pins {:?} ({:?})",
                pinned(b),
                b.pins,
                pinned(c),
                c.pins
            ),
        );
    }
    // When the driver got each request back.
    if b.kbuf_released != c.kbuf_released {
        diff(
            "kbuf_release",
            format!(
                "release callbacks per registered request: {bn} {:?}, {cn} {:?}",
                b.kbuf_released, c.kbuf_released
            ),
        );
    }
    // What RLIMIT_MEMLOCK is checked against (locked_vm) is `accounting`; a
    // difference in mm->pinned_vm alone, such as a version that stops
    // charging rings without a user, is `pinned_vm`.
    if (b.locked_vm, b.pinned_vm) != (c.locked_vm, c.pinned_vm) {
        let locked = b.locked_vm != c.locked_vm;
        diff(
            if locked { "accounting" } else { "pinned_vm" },
            format!(
                "{bn}: locked_vm {:?} pinned_vm {}; {cn}: locked_vm {:?} pinned_vm {}",
                b.locked_vm, b.pinned_vm, c.locked_vm, c.pinned_vm
            ),
        );
    }
}

/// A slot's buffer as the `kbuf` difference names it.
fn kbuf_state(dir: Option<u8>) -> String {
    match dir {
        Some(d) => format!("a kernel buffer (imu->dir {d:#x})"),
        None => "a user buffer".into(),
    }
}

fn state<T>(x: &Option<T>) -> &'static str {
    if x.is_some() {
        "installed"
    } else {
        "empty"
    }
}

fn rank(k: &FindingKind) -> (usize, String) {
    match k {
        FindingKind::Invariant(n, a) => (
            crate::oracle::INVARIANTS
                .iter()
                .position(|i| i.name == *n)
                .unwrap_or(usize::MAX / 2),
            a.clone(),
        ),
        FindingKind::Diff(n) => (usize::MAX, n.to_string()),
    }
}
