//! The scenario run again on each side, keeping what the oracle's
//! snapshots normalise away: every installed buffer's bvecs, `nr_bvecs` and
//! `folio_shift`, step by step.

#[allow(unused_imports)]
use super::*;

/// One installed buffer with its representation.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Buf {
    pub(crate) ubuf: u64,
    pub(crate) len: u64,
    pub(crate) nr_bvecs: u32,
    pub(crate) folio_shift: u32,
    /// `None` in a version without per-buffer accounting (7.2).
    pub(crate) acct_pages: Option<u64>,
    /// `None`: an entry never written (stale memory of a recycled object).
    pub(crate) bvecs: crate::model::runs::BvecView,
}

impl Buf {
    /// `acct_pages N`, or what stands in its place in a version without it.
    pub(crate) fn acct(&self) -> String {
        acct_text(self.acct_pages)
    }
}

/// `acct_pages N` for `Some(N)`; for a version without the field (7.2),
/// what stands in its place.
pub(crate) fn acct_text(acct_pages: Option<u64>) -> String {
    match acct_pages {
        Some(n) => format!("acct_pages {n}"),
        None => "no acct_pages (accounted per ring)".to_string(),
    }
}

/// The state after one operation on one side.
#[derive(Clone, Debug)]
pub(crate) struct Step {
    pub(crate) ret: i64,
    pub(crate) import: Option<Vec<PhysRange>>,
    pub(crate) table_nr: usize,
    pub(crate) slots: Vec<Option<Buf>>,
    pub(crate) pins: Vec<i64>,
    pub(crate) locked_vm: Option<u64>,
    pub(crate) pinned_vm: u64,
    pub(crate) faults: Vec<AllocSite>,
    /// The task died in this operation (an oops): the oracle judges no
    /// further, so the JSON lines stop here too.
    pub(crate) dead: bool,
}

/// One scenario run on both sides with every buffer's representation kept:
/// what `explain`, the mail report, its SVG and the C reproducer's header
/// all draw from, so they cannot disagree.
#[derive(Clone, Debug)]
pub(crate) struct Sides {
    /// The scenario as built.
    pub(crate) built: Built,
    /// The oracle's verdict for `v` against `against`.
    pub(crate) verdict: Verdict,
    /// `[against, v]`, or `[v]` when they are the same variant.
    pub(crate) names: Vec<&'static str>,
    /// Per side: the state before any operation, after each, after ring exit.
    pub(crate) traces: Vec<Vec<Step>>,
}

/// Builds `s` and traces it on both sides.
pub(crate) fn sides(
    s: &Scenario,
    v: &dyn Variant,
    against: &dyn Variant,
) -> Result<Sides, crate::scenario::ScenarioError> {
    let built = build(s)?;
    let (verdict, _, _) = check(s, v, against)?;
    let sides: Vec<&dyn Variant> = if v.name() == against.name() {
        vec![v]
    } else {
        vec![against, v]
    };
    Ok(Sides {
        traces: sides.iter().map(|x| trace(*x, &built)).collect(),
        names: sides.iter().map(|x| x.name()).collect(),
        built,
        verdict,
    })
}

impl Step {
    fn of(
        v: &dyn Variant,
        w: &World,
        ret: i64,
        import: Option<Vec<PhysRange>>,
        faults: Vec<AllocSite>,
    ) -> Step {
        let mut slots = vec![None; w.ctx.buf_table.nr()];
        for (slot, imu) in installed(w) {
            let m = w.imu(imu);
            slots[slot] = Some(Buf {
                ubuf: m.ubuf,
                len: m.len,
                nr_bvecs: m.nr_bvecs,
                folio_shift: m.folio_shift,
                acct_pages: v.imu_acct_pages(w, imu),
                bvecs: crate::model::runs::BvecView::new(&m.bvec, m.nr_bvecs as u64),
            });
        }
        Step {
            ret,
            import,
            table_nr: w.ctx.buf_table.nr(),
            slots,
            pins: (0..w.phys.folios().len())
                .map(|i| w.phys.pins(FolioId(i as u32)))
                .collect(),
            locked_vm: w.ctx.user.map(|u| u.locked_vm),
            pinned_vm: w.ctx.pinned_vm,
            faults,
            dead: w.dead,
        }
    }
}

/// The same operations as `crate::run::run`, keeping the bvecs. The first
/// step is the state before any operation; the last is ring exit.
pub(super) fn trace(v: &dyn Variant, b: &Built) -> Vec<Step> {
    let mut w = b.world.clone();
    let mut out = vec![Step::of(v, &w, 0, None, vec![])];
    for op in b.ops.iter().map(Some).chain([None]) {
        let calls = w.alloc.log.len();
        let (ret, import) = match op {
            Some(op) => crate::run::apply(v, &mut w, op),
            None => (crate::run::ring_exit(v, &mut w), None),
        };
        let faults = w.alloc.log[calls..]
            .iter()
            .filter(|(_, f)| *f)
            .map(|(s, _)| *s)
            .collect();
        out.push(Step::of(v, &w, ret, import, faults));
    }
    out
}
