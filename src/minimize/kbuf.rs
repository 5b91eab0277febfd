//! The shrinking steps of kernel-buffer operations: fewer bvecs in a
//! request and fewer iovecs in a vectored import, the segment count left to
//! its default, a held request made an ordinary one; and what dropping a
//! folio does to the requests that name it.

use crate::scenario::{Op, Scenario};

/// Every one-step simplification of `s`'s `kbuf_*` operations.
pub(super) fn candidates(s: &Scenario) -> Vec<Scenario> {
    let mut out = Vec::new();
    for i in (0..s.ops.len()).rev() {
        let n = match &s.ops[i] {
            Op::KbufRegister { bvecs, .. } => bvecs.len(),
            Op::KbufReadv { iovecs, .. } => iovecs.len(),
            _ => 0,
        };
        // One item fewer, never none: a request or a readv without any is
        // refused by the build.
        for j in (0..n).rev().filter(|_| n > 1) {
            let mut c = s.clone();
            match &mut c.ops[i] {
                Op::KbufRegister { bvecs, .. } => {
                    bvecs.remove(j);
                }
                Op::KbufReadv { iovecs, .. } => {
                    iovecs.remove(j);
                }
                _ => {}
            }
            out.push(c);
        }
        let mut c = s.clone();
        match &mut c.ops[i] {
            Op::KbufRegister { segments, .. } if segments.is_some() => *segments = None,
            Op::KbufImport { hold, .. } | Op::KbufReadv { hold, .. } if *hold => *hold = false,
            _ => continue,
        }
        out.push(c);
    }
    out
}

/// The `kbuf_register` operations of `c` once folio `f` is gone: bvecs in
/// it are dropped, a request left without any is dropped whole, and the
/// folios after it are renumbered.
pub(super) fn drop_folio(c: &mut Scenario, f: u32) {
    c.ops.retain_mut(|op| {
        let Op::KbufRegister { bvecs, .. } = op else {
            return true;
        };
        bvecs.retain(|b| b.folio != f);
        for b in bvecs.iter_mut() {
            if b.folio > f {
                b.folio -= 1;
            }
        }
        !bvecs.is_empty()
    });
}
