//! The enumerator against the rest of the tool: the world it builds
//! directly is the one its scenario files build, and every scenario a
//! symmetry reduction leaves out has exactly the verdicts of the one kept.

use super::space::{self, Buffer, Kind, Offsets, Program, Shapes, CUTS};
use super::symmetry::window_key;
use super::*;
use crate::mm::{AllocSite, FaultPoint};
use crate::scenario::build;
use std::collections::{BTreeSet, HashMap};

fn bound(chunks: u8, folios: u8, cuts: &[u8]) -> Bound {
    Bound {
        chunks,
        folios,
        kinds: Kind::ALL.to_vec(),
        cuts: cuts.to_vec(),
        max_len_pages: chunks * CHUNK,
        offsets: Offsets::Page,
        buffers: 2,
        pair_spans: PairSpans::Chunk,
        faults: true,
        reduce: false,
    }
}

#[test]
fn the_world_built_directly_is_the_one_its_scenario_file_builds() {
    let (rfc, up) = (
        variants::by_name("rfc-v1").unwrap(),
        variants::by_name("upstream").unwrap(),
    );
    let layouts = space::layouts(Shapes {
        chunks: 2,
        folios: 2,
        kinds: &Kind::ALL,
        cuts: &CUTS,
    });
    assert!(layouts.len() > 1000, "{}", layouts.len());
    for (i, layout) in layouts.iter().enumerate() {
        for naming in symmetry::namings(2, layout.kinds.len()) {
            let direct = layout.built(&naming);
            let s = layout.scenario(&naming);
            let via_file = build(&Scenario::from_toml(&s.to_toml()).unwrap()).unwrap();
            assert_eq!(direct.segments, via_file.segments, "{}", layout.describe());
            assert_eq!(
                direct.world.aspace.mappings(),
                via_file.world.aspace.mappings()
            );
            assert_eq!(direct.world.phys.folios(), via_file.world.phys.folios());
            // Every page is where the layout says, backed as it says.
            for (p, page) in layout.pages().iter().enumerate() {
                let vpn = (crate::mm::USER_VA_BASE >> 12) + p as u64;
                let got = direct.world.aspace.translate(vpn).map(|(pfn, _)| {
                    let f = direct.world.phys.page_folio(pfn).unwrap();
                    (f.0, direct.world.phys.folio_page_idx(f, pfn))
                });
                let want = page.map(|(l, idx)| (naming[l as usize] as u32, idx as u64));
                assert_eq!(got, want, "page {p} of {}", layout.describe());
            }
            // Operations: the same concrete ones, and the same verdicts.
            if i % 97 != 0 {
                continue;
            }
            let (a, b) = (
                Buffer {
                    span: Span { start: 3, end: 12 },
                    first: 1,
                    last: space::PAGE - 1,
                },
                Buffer::whole(Span { start: 0, end: 8 }),
            );
            for program in Program::upto(2) {
                let mut s = s.clone();
                s.ops = program.scenario_ops(&direct, &a, Some(&b));
                let mut direct = direct.clone();
                direct.ops = program.ops(&a, Some(&b));
                assert_eq!(build(&s).unwrap().ops, direct.ops);
                let sigs = |v: &Verdict| v.signatures();
                assert_eq!(
                    sigs(&check(&s, rfc, up).unwrap().0),
                    sigs(&check_built(&direct, rfc, up).0)
                );
            }
        }
    }
}

use crate::oracle::Verdict;

/// The strongest form of the claim in `symmetry`: run the whole space
/// without reduction, group scenarios by the class the reductions put them
/// in (the window key, which covers relabelling and translation too), and
/// require every member of a class to give the same verdict signatures as
/// its first member, fault plan by fault plan.
#[test]
fn every_scenario_a_reduction_leaves_out_has_the_verdicts_of_the_one_kept() {
    let (rfc, up) = (
        variants::by_name("rfc-v1").unwrap(),
        variants::by_name("upstream").unwrap(),
    );
    let b = bound(2, 2, &[CHUNK / 2]);
    let p = plan(&b);
    assert_eq!(p.counts.reduced, p.counts.enumerated, "nothing reduced");
    type Outcome = Vec<(Option<FaultPlan>, BTreeSet<String>)>;
    let mut classes: HashMap<([u64; 4], usize), (usize, Outcome)> = HashMap::new();
    let (mut members, mut checked) = (0, 0);
    for (ui, u) in p.units.iter().enumerate() {
        let layout = &p.layouts[u.layout as usize];
        let naming = &p.namings[layout.kinds.len()][u.naming as usize];
        let key = window_key(&layout.pages(), &layout.kinds, u.program, u.a, u.b);
        let mut built = layout.built(naming);
        for (ci, (a, bb)) in b.cases(u).iter().enumerate() {
            built.ops = u.program.ops(a, bb.as_ref());
            built.world.alloc = Alloc::new(FaultPlan::default());
            let (v, base, cand) = check_built(&built, rfc, up);
            let mut outcome: Outcome = vec![(None, v.signatures())];
            for plan in space::single_faults([&base.alloc_sites, &cand.alloc_sites]) {
                built.world.alloc = Alloc::new(plan.clone());
                outcome.push((Some(plan), check_built(&built, rfc, up).0.signatures()));
            }
            match classes.get(&(key, ci)) {
                None => {
                    classes.insert((key, ci), (ui, outcome));
                }
                Some((first, want)) => {
                    members += 1;
                    checked += outcome.len();
                    assert_eq!(
                        &outcome,
                        want,
                        "unit {ui} ({} {:?} {:?} {:?}) differs from unit {first} of its class",
                        layout.describe(),
                        u.program,
                        u.a,
                        u.b
                    );
                }
            }
        }
    }
    assert!(members > 10_000 && checked > 40_000, "{members} {checked}");
}

#[test]
fn single_fault_plans_name_every_call_of_either_side_once() {
    use AllocSite::*;
    let plans = space::single_faults([
        &[
            RsrcDataAlloc,
            RsrcNodeAlloc,
            PinPagesArray,
            ImuCache,
            RsrcNodeAlloc,
        ],
        &[
            RsrcDataAlloc,
            RsrcNodeAlloc,
            PinPagesArray,
            FastPathArray,
            ImuCache,
        ],
    ]);
    let named: Vec<(AllocSite, u32)> = plans
        .iter()
        .map(|p| match p.points[..] {
            [FaultPoint::Site { site, nth }] => (site, nth),
            _ => panic!("one site fault per plan"),
        })
        .collect();
    assert_eq!(
        named,
        vec![
            (RsrcDataAlloc, 0),
            (RsrcNodeAlloc, 0),
            (PinPagesArray, 0),
            (ImuCache, 0),
            (RsrcNodeAlloc, 1),
            (FastPathArray, 0),
        ]
    );
}

#[test]
fn anonymous_pages_are_mapped_once_and_no_two_shapes_are_the_same() {
    let layouts = space::layouts(Shapes {
        chunks: 2,
        folios: 2,
        kinds: &Kind::ALL,
        cuts: &CUTS,
    });
    let mut seen = BTreeSet::new();
    for l in &layouts {
        let pages = l.pages();
        assert!(
            seen.insert(format!("{:?} {:?}", l.kinds, pages)),
            "{}",
            l.describe()
        );
        for (label, kind) in l.kinds.iter().enumerate() {
            let mapped: Vec<u8> = pages
                .iter()
                .flatten()
                .filter(|p| p.0 == label as u8)
                .map(|p| p.1)
                .collect();
            assert!(!mapped.is_empty(), "label {label} unused: {}", l.describe());
            if matches!(kind, Kind::Thp | Kind::Mthp) {
                let distinct: BTreeSet<u8> = mapped.iter().copied().collect();
                assert_eq!(distinct.len(), mapped.len(), "{}", l.describe());
            }
        }
        // Labels by first appearance.
        let mut order = vec![];
        for p in pages.iter().flatten() {
            if !order.contains(&p.0) {
                order.push(p.0);
            }
        }
        assert_eq!(order, (0..l.kinds.len() as u8).collect::<Vec<_>>());
    }
}
