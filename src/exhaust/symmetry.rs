//! Symmetry reductions: equivalences of scenarios under which every
//! verdict signature is the same, so one representative per class is run.
//! `--no-symmetry` runs every member instead (what the tests compare with).
//!
//! What the reductions rest on, and why it holds for every variant, not
//! only for correct code: a variant is kernel code reaching memory through
//! the simulated machine. It sees folios through `page_folio()` and the
//! other page helpers (kind, order, head, index in the folio), user memory
//! through GUP of the ranges it asks for, and addresses as numbers it does
//! arithmetic on. Signatures carry no address, pfn or folio number.
//!
//! Not applied, because they are not sound:
//! - mirror images: registration walks pages from the first, and its rules
//!   are not symmetric (the first folio may start mid-folio, the last may
//!   end early, the fast path looks at the first page's folio), so a
//!   mirrored layout is a different case;
//! - equivalent sub-page offsets: the offsets enter `bv_offset`, `bv_len`
//!   and every import's arithmetic directly; no two give the same bvecs.

use super::space::{Kind, Layout, Page, Program, Span, CHUNK};
use std::collections::HashSet;

/// Relabelling folios. A layout names its folios by first appearance in
/// address order; the same layout with the folios named otherwise (any
/// injective choice of names among `--folios`) is the same address space
/// and the same physical folios. Names decide only the order of the folio
/// table, hence of physical placement, and every folio is preceded by a
/// free page (see `Kind::spec`): no folio is physically adjacent to
/// another, so no pfn arithmetic past a folio's end can reach a different
/// folio in one order and not in the other. How many namings a layout of
/// `used` folios stands for: `folios! / (folios - used)!`.
pub fn namings_count(folios: u8, used: usize) -> u64 {
    (0..used as u64).map(|i| folios as u64 - i).product()
}

/// Every naming of `used` folios with names below `folios`, the identity
/// (the canonical one) first: what `--no-symmetry` runs.
pub fn namings(folios: u8, used: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut cur = Vec::with_capacity(used);
    fn rec(folios: u8, used: usize, cur: &mut Vec<u8>, out: &mut Vec<Vec<u8>>) {
        if cur.len() == used {
            out.push(cur.clone());
            return;
        }
        for n in 0..folios {
            if !cur.contains(&n) {
                cur.push(n);
                rec(folios, used, cur, out);
                cur.pop();
            }
        }
    }
    rec(folios, used, &mut cur, &mut out);
    out
}

/// Translation. Moving a layout and its buffers by whole chunks (one PMD,
/// the largest folio in the space) keeps every folio's alignment and every
/// address modulo every folio size; the kernel code uses addresses only
/// through such remainders and differences, and the base address is 1 GiB
/// aligned. Outside the address space nothing is mapped, as in a hole
/// chunk. So a scenario whose first chunk is a hole and whose buffers all
/// start at or after chunk 1 is its copy one chunk to the left (a hole
/// chunk appended), which is also enumerated: only scenarios whose first
/// chunk is not a hole, or that start a buffer in it, are run.
pub fn translated(layout: &Layout, a: Span, b: Span) -> bool {
    layout.chunks.first() == Some(&super::space::Chunk::Hole) && a.start.min(b.start) >= CHUNK
}

/// Pages on each side of the buffers that a window keeps.
pub const WINDOW_MARGIN: u8 = 1;

/// The window. A scenario's run depends only on the pages its buffers
/// cover, one page beyond them on each side, and which folios back those
/// pages: GUP walks only the range a variant asks for (the buffer, or a
/// page more or less for an off-by-one), the oracle's ground truth and
/// every import probe stay inside the buffers, and a folio mapped elsewhere
/// too, or mapped nowhere under the buffers, changes no counter the run
/// looks at (pins and references are per folio, not per mapping). So two
/// scenarios with the same program, the same buffers relative to the
/// window, the same address modulo the chunk size, and the same window
/// (pages backed by the same folio kinds and page indices, with folios
/// relabelled by first appearance in the window, unmapped pages and pages
/// outside the address space alike) have the same verdicts; the first in
/// enumeration order is run. This subsumes translation; translated
/// scenarios are counted apart.
#[derive(Default)]
pub struct Windows {
    seen: HashSet<[u64; 4]>,
}

impl Windows {
    /// Whether the window of `program` on `a` and `b` (`b == a` for one
    /// buffer) over `pages` has not been seen before; records it.
    pub fn first(
        &mut self,
        pages: &[Page],
        kinds: &[Kind],
        program: Program,
        a: Span,
        b: Span,
    ) -> bool {
        self.seen.insert(window_key(pages, kinds, program, a, b))
    }
}

/// The window packed into 256 bits: an exact key, not a hash, so no two
/// windows collide.
pub(super) fn window_key(
    pages: &[Page],
    kinds: &[Kind],
    program: Program,
    a: Span,
    b: Span,
) -> [u64; 4] {
    let lo = a.start.min(b.start);
    let hi = a.end.max(b.end);
    let mut k = Bits::default();
    k.push(program.code(), 2);
    k.push((lo % CHUNK) as u64, 3);
    for x in [a.start, a.end, b.start, b.end] {
        k.push((x - lo) as u64, 6);
    }
    let mut names: Vec<u8> = Vec::with_capacity(3);
    let from = lo as i16 - WINDOW_MARGIN as i16;
    let to = hi as i16 + WINDOW_MARGIN as i16;
    for i in from..to {
        let page = usize::try_from(i)
            .ok()
            .and_then(|i| pages.get(i).copied().flatten());
        let code = match page {
            None => 0,
            Some((l, idx)) => {
                let n = names.iter().position(|&x| x == l).unwrap_or_else(|| {
                    names.push(l);
                    names.len() - 1
                });
                1 + n as u64 * CHUNK as u64 + idx as u64
            }
        };
        k.push(code, 5);
    }
    for l in names {
        k.push(kinds[l as usize] as u64, 2);
    }
    k.words
}

/// A bit writer into four words.
#[derive(Default)]
struct Bits {
    words: [u64; 4],
    at: u32,
}

impl Bits {
    fn push(&mut self, v: u64, bits: u32) {
        debug_assert!(v < 1 << bits, "{v} does not fit in {bits} bits");
        assert!(
            self.at + bits <= 256,
            "a window key needs more than 256 bits"
        );
        let (w, o) = ((self.at / 64) as usize, self.at % 64);
        self.words[w] |= v << o;
        if o + bits > 64 {
            self.words[w + 1] |= v >> (64 - o);
        }
        self.at += bits;
    }
}
