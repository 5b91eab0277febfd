//! Oracles: what must hold after every operation (named invariants, checked
//! on each variant on its own), and what two variants must agree on (the
//! differential comparison of normalised outcomes).
//!
//! Representation is normalised before comparing: a bvec is reduced to the
//! physical bytes it names, so a head page with a large `bv_offset` and a
//! tail page with a small one are the same thing; how many pins a buffer
//! holds on a folio is one per bvec entry on each side and is checked
//! against that side's own bvecs, while the sides are compared on which
//! folios stay pinned.

pub mod differential;
pub mod invariants;
pub mod truth;

pub use differential::{compare, Finding, FindingKind, Verdict};
pub use invariants::{Invariant, Violation, INVARIANTS};

use crate::run::{run, Run};
use crate::scenario::{build, Built, Scenario, ScenarioError};
use crate::variants::Variant;

/// Builds `s`, runs it on `against` and on `v`, and compares them. With
/// `v == against` only the invariants are checked.
pub fn check(
    s: &Scenario,
    v: &dyn Variant,
    against: &dyn Variant,
) -> Result<(Verdict, Run, Run), ScenarioError> {
    let b = build(s)?;
    if v.kernel_c().is_some() || against.kernel_c().is_some() {
        one_ring(s)?;
        b.fits_c("the kernel C of a tree (--tree)")?;
    }
    Ok(check_built(&b, v, against))
}

/// A tree's C runs on one ring and registers user buffers only: a
/// scenario with `ring` or `clone` operations, or one with a kernel
/// buffer (`kbuf_*`), is refused by name, not run in part.
fn one_ring(s: &Scenario) -> Result<(), ScenarioError> {
    use crate::scenario::Op;
    if let Some((i, kind)) = s.first_kbuf_op() {
        return Err(ScenarioError {
            field: format!("op[{i}]"),
            reason: format!(
                "`{kind}`: the kernel C of a tree (--tree) registers user buffers only; kernel buffers \
                 (io_buffer_register_bvec, ublk's zero copy) run on the Rust model only"
            ),
        });
    }
    match s
        .ops
        .iter()
        .position(|op| matches!(op, Op::Ring { .. } | Op::Clone { .. }))
    {
        Some(i) => Err(ScenarioError {
            field: format!("op[{i}]"),
            reason: format!(
                "`{}`: the kernel C of a tree (--tree) runs on one ring here; operations on a second ring and clones run on the Rust model only",
                s.ops[i].kind()
            ),
        }),
        None => Ok(()),
    }
}

/// [`check`] on a scenario already built: what callers that make many
/// scenarios from one world (exhaustive search) use, so the verdict is the
/// same as for the scenario file.
pub fn check_built(b: &Built, v: &dyn Variant, against: &dyn Variant) -> (Verdict, Run, Run) {
    let base = run(against, b);
    let cand = if v.name() == against.name() {
        base.clone()
    } else {
        run(v, b)
    };
    (compare(&base, &cand), base, cand)
}

#[cfg(test)]
mod tests;
