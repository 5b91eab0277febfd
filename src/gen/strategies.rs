//! Proptest strategies for the raw choices. Collections are
//! `prop::collection::vec` and leaves are plain bytes, so proptest shrinks a
//! failing case structurally (drop segments, folios, operations, iovecs,
//! faults) and then bytes toward 0, which [`super::lower`] reads as the
//! simplest choice; the lowering repairs whatever the shrink breaks.

use super::raw::*;
use super::GenConfig;
use proptest::collection::vec;
use proptest::prelude::*;

/// A folio's choices.
pub fn raw_folio() -> impl Strategy<Value = RawFolio> {
    any::<[u8; 4]>().prop_map(|[kind, order, gap, share]| RawFolio {
        kind,
        order,
        gap,
        share,
    })
}

/// A segment's choices.
pub fn raw_segment() -> impl Strategy<Value = RawSegment> {
    any::<[u8; 6]>().prop_map(|[form, folio, part, len, prot, fill]| RawSegment {
        form,
        folio,
        part,
        len,
        prot,
        fill,
    })
}

/// A position's choices.
pub fn raw_pos() -> impl Strategy<Value = RawPos> {
    (any::<u8>(), any::<u8>(), any::<u16>()).prop_map(|(seg, edge, rnd)| RawPos { seg, edge, rnd })
}

/// An iovec's or span's choices.
pub fn raw_item() -> impl Strategy<Value = RawItem> {
    (any::<u8>(), raw_pos(), raw_pos()).prop_map(|(kind, start, end)| RawItem { kind, start, end })
}

/// An operation's choices, with 1 to [`MAX_ITEMS`] iovecs or spans.
pub fn raw_op() -> impl Strategy<Value = RawOp> {
    (any::<[u8; 3]>(), vec(raw_item(), 1..=MAX_ITEMS)).prop_map(|([kind, a, b], items)| RawOp {
        kind,
        a,
        b,
        items,
    })
}

/// A fault point's choices.
pub fn raw_fault() -> impl Strategy<Value = RawFault> {
    any::<[u8; 3]>().prop_map(|[on, site, nth]| RawFault { on, site, nth })
}

/// Every choice of one scenario, within `cfg`'s limits.
pub fn raw_scenario(cfg: &GenConfig) -> impl Strategy<Value = RawScenario> {
    let (max_folios, max_segments, max_ops) = cfg.limits();
    let max_faults = if cfg.faults { MAX_FAULTS } else { 0 };
    // Proptest shrinks a tuple's members in order: operations first (their
    // positions shrink to small segment choices), then the segments they
    // refer to, then the folios those refer to.
    (
        vec(raw_op(), 1..=max_ops),
        vec(raw_segment(), 1..=max_segments),
        vec(raw_folio(), 1..=max_folios),
        vec(raw_fault(), 0..=max_faults),
        any::<u8>(),
        // As in `RawScenario::draw`: one geometry draws nothing, so a
        // seed's cases are what they were before geometries were drawn.
        if cfg.geometries.len() > 1 {
            any::<u8>().boxed()
        } else {
            Just(0u8).boxed()
        },
    )
        .prop_map(
            |(ops, segments, folios, faults, memlock, geometry)| RawScenario {
                memlock,
                folios,
                segments,
                ops,
                faults,
                geometry,
            },
        )
}
