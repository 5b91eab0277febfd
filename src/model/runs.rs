//! Page arrays and bvec tables stored as runs, so that what a buffer costs
//! grows with the folio boundaries in it, not with its bytes: a `SZ_1T`
//! buffer of PUD pages is 2^28 page pointers in C and a few hundred runs
//! here. Indexing is the C's (`pages[i]`, `imu->bvec[i]`); the loops of the
//! model that would visit every entry step over a run where the C's loop
//! body provably does the same thing for each of its entries.

use crate::mm::{FolioId, Pfn, PhysMem};

/// `struct page *pages[]`: entry `start + k` of a run is `pfn + k`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pages {
    runs: Vec<PageRun>,
    len: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PageRun {
    start: u64,
    pfn: Pfn,
    n: u64,
}

impl Pages {
    /// An empty array.
    pub fn new() -> Self {
        Self::default()
    }

    /// Entries held.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `pfn, pfn + 1, ..., pfn + n - 1`.
    pub fn push_run(&mut self, pfn: Pfn, n: u64) {
        if n == 0 {
            return;
        }
        match self.runs.last_mut() {
            Some(r) if r.pfn.checked_add(r.n) == Some(pfn) => r.n += n,
            _ => self.runs.push(PageRun {
                start: self.len,
                pfn,
                n,
            }),
        }
        self.len += n;
    }

    /// Appends one entry.
    pub fn push(&mut self, pfn: Pfn) {
        self.push_run(pfn, 1);
    }

    /// `pages[i]`, `None` past the end.
    pub fn get(&self, i: u64) -> Option<Pfn> {
        let k = self.runs.partition_point(|r| r.start <= i).checked_sub(1)?;
        let r = self.runs[k];
        (i < r.start + r.n).then(|| r.pfn + (i - r.start))
    }

    /// `pages[i]`. Past the end is a bug of the harness (the C would read
    /// past its array; the callers check that first).
    pub fn at(&self, i: u64) -> Pfn {
        self.get(i)
            .unwrap_or_else(|| panic!("pages[{i}] of an array of {}", self.len))
    }

    /// The first `n` entries.
    pub fn prefix(&self, n: u64) -> Pages {
        let mut out = Pages::new();
        for (_, pfn, k) in self.runs_in(0, n) {
            out.push_run(pfn, k);
        }
        out
    }

    /// Every entry, in order.
    pub fn iter(&self) -> impl Iterator<Item = Pfn> + '_ {
        self.runs.iter().flat_map(|r| r.pfn..r.pfn + r.n)
    }

    /// `(index, pfn, n)` for the runs of entries `[from, to)`, clipped.
    pub fn runs_in(&self, from: u64, to: u64) -> impl Iterator<Item = (u64, Pfn, u64)> + '_ {
        let to = to.min(self.len);
        let first = self
            .runs
            .partition_point(|r| r.start + r.n <= from)
            .min(self.runs.len());
        self.runs[first..]
            .iter()
            .take_while(move |r| r.start < to)
            .map(move |r| {
                let s = r.start.max(from);
                let e = (r.start + r.n).min(to);
                (s, r.pfn + (s - r.start), e - s)
            })
    }

    /// `(index, pfn, n, folio)` for entries `[from, to)`: the runs split
    /// where a folio ends, so each piece is consecutive pages of one folio
    /// (or, outside every folio, one page).
    pub fn folio_pieces<'a>(
        &'a self,
        phys: &'a PhysMem,
        from: u64,
        to: u64,
    ) -> impl Iterator<Item = (u64, Pfn, u64, Option<FolioId>)> + 'a {
        self.runs_in(from, to).flat_map(move |(i, pfn, n)| {
            folio_pieces(phys, pfn, n).map(move |(o, p, k, f)| (i + o, p, k, f))
        })
    }
}

impl FromIterator<Pfn> for Pages {
    fn from_iter<I: IntoIterator<Item = Pfn>>(iter: I) -> Self {
        let mut out = Pages::new();
        for p in iter {
            out.push(p);
        }
        out
    }
}

/// `(offset, pfn, n, folio)` pieces of the consecutive pages
/// `[pfn, pfn + n)`, split at folio ends.
pub fn folio_pieces(
    phys: &PhysMem,
    pfn: Pfn,
    n: u64,
) -> impl Iterator<Item = (u64, Pfn, u64, Option<FolioId>)> + '_ {
    let mut off = 0u64;
    std::iter::from_fn(move || {
        if off >= n {
            return None;
        }
        let p = pfn + off;
        let f = phys.page_folio(p);
        let k = match f {
            Some(f) => {
                let fo = phys.folio(f);
                (fo.head + (1u64 << fo.order) - p).min(n - off)
            }
            None => 1,
        };
        let piece = (off, p, k, f);
        off += k;
        Some(piece)
    })
}

/// `imu->bvec[]`: the allocated slots, each unwritten (`None`) or holding
/// what was last stored there. A run is `n` entries from `start` with the
/// same length and offset whose pages follow each other.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BvecTable {
    slots: u64,
    runs: Vec<BvecRun>,
}

/// `n` written entries from `start`: entry `start + k` is `bv` with
/// `bv_page + k`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BvecRun {
    /// First index.
    pub start: u64,
    /// Entries.
    pub n: u64,
    /// The first entry.
    pub bv: super::BioVec,
}

impl BvecRun {
    /// Entry `start + k`.
    pub fn entry(&self, k: u64) -> super::BioVec {
        super::BioVec {
            bv_page: self.bv.bv_page + k,
            ..self.bv
        }
    }
}

impl BvecTable {
    /// `slots` never written slots.
    pub fn uninit(slots: u64) -> Self {
        BvecTable {
            slots,
            runs: Vec::new(),
        }
    }

    /// Allocated slots.
    pub fn slots(&self) -> u64 {
        self.slots
    }

    /// Slot `i`: `None` when unwritten or past the allocation.
    pub fn get(&self, i: u64) -> Option<super::BioVec> {
        let k = self.runs.partition_point(|r| r.start <= i).checked_sub(1)?;
        let r = self.runs[k];
        (i < r.start + r.n).then(|| r.entry(i - r.start))
    }

    /// Slot `i` and the written slots after it in the same run, as a run
    /// that starts at `i`.
    pub fn run_from(&self, i: u64) -> Option<BvecRun> {
        let k = self.runs.partition_point(|r| r.start <= i).checked_sub(1)?;
        let r = self.runs[k];
        (i < r.start + r.n).then(|| BvecRun {
            start: i,
            n: r.start + r.n - i,
            bv: r.entry(i - r.start),
        })
    }

    /// Stores `bv` into slot `i` (inside the allocation).
    pub fn set(&mut self, i: u64, bv: super::BioVec) {
        self.set_run(i, 1, bv);
    }

    /// Stores `n` entries from slot `i`, the `k`-th being `bv` with
    /// `bv_page + k`.
    pub fn set_run(&mut self, i: u64, n: u64, bv: super::BioVec) {
        if n == 0 {
            return;
        }
        assert!(
            i + n <= self.slots,
            "bvec[{i}..{}] of {} slots",
            i + n,
            self.slots
        );
        let end = i + n;
        // Fast path: appending right after the last run, as registration does.
        if self.runs.last().is_none_or(|r| r.start + r.n <= i) {
            self.push_merged(BvecRun { start: i, n, bv });
            return;
        }
        let mut out: Vec<BvecRun> = Vec::with_capacity(self.runs.len() + 2);
        let mut placed = false;
        for r in std::mem::take(&mut self.runs) {
            let (rs, re) = (r.start, r.start + r.n);
            if re <= i || rs >= end {
                if rs >= end && !placed {
                    out.push(BvecRun { start: i, n, bv });
                    placed = true;
                }
                out.push(r);
                continue;
            }
            if rs < i {
                out.push(BvecRun { n: i - rs, ..r });
            }
            if !placed {
                out.push(BvecRun { start: i, n, bv });
                placed = true;
            }
            if re > end {
                out.push(BvecRun {
                    start: end,
                    n: re - end,
                    bv: r.entry(end - rs),
                });
            }
        }
        if !placed {
            out.push(BvecRun { start: i, n, bv });
        }
        for r in out {
            self.push_merged(r);
        }
    }

    /// Changes the written slot `i` in place (a test's way to corrupt it);
    /// an unwritten slot stays unwritten.
    pub fn update(&mut self, i: u64, f: impl FnOnce(&mut super::BioVec)) {
        if let Some(mut bv) = self.get(i) {
            f(&mut bv);
            self.set(i, bv);
        }
    }

    /// Makes slot `i` unwritten again.
    pub fn clear(&mut self, i: u64) {
        let mut out = Vec::with_capacity(self.runs.len() + 1);
        for r in std::mem::take(&mut self.runs) {
            if i < r.start || i >= r.start + r.n {
                out.push(r);
                continue;
            }
            if i > r.start {
                out.push(BvecRun {
                    n: i - r.start,
                    ..r
                });
            }
            if i + 1 < r.start + r.n {
                out.push(BvecRun {
                    start: i + 1,
                    n: r.start + r.n - i - 1,
                    bv: r.entry(i + 1 - r.start),
                });
            }
        }
        self.runs = out;
    }

    fn push_merged(&mut self, r: BvecRun) {
        if let Some(last) = self.runs.last_mut() {
            if last.start + last.n == r.start && last.entry(last.n) == r.bv {
                last.n += r.n;
                return;
            }
        }
        self.runs.push(r);
    }

    /// The written runs that overlap `[0, upto)`, clipped to it; unwritten
    /// slots in between are not reported (see [`BvecTable::entries`]).
    pub fn runs_upto(&self, upto: u64) -> impl Iterator<Item = BvecRun> + '_ {
        self.runs
            .iter()
            .take_while(move |r| r.start < upto)
            .map(move |r| BvecRun {
                n: r.n.min(upto - r.start),
                ..*r
            })
    }

    /// Slots `[0, upto)` as runs of `Option`: `(start, n, Some(run))` for
    /// written ones, `(start, n, None)` for gaps never written.
    pub fn entries(&self, upto: u64) -> Vec<(u64, u64, Option<BvecRun>)> {
        let upto = upto.min(self.slots);
        let mut out = Vec::new();
        let mut at = 0;
        for r in self.runs_upto(upto) {
            if r.start > at {
                out.push((at, r.start - at, None));
            }
            out.push((r.start, r.n, Some(r)));
            at = r.start + r.n;
        }
        if at < upto {
            out.push((at, upto - at, None));
        }
        out
    }

    /// Every slot of `[0, upto)`, one by one (for small tables and tests).
    pub fn iter_upto(&self, upto: u64) -> impl Iterator<Item = Option<super::BioVec>> + '_ {
        (0..upto.min(self.slots)).map(move |i| self.get(i))
    }
}

/// The first entries of a table, up to `imu->nr_bvecs`, as a report reads
/// them: entry by entry, or by runs for what a large table would cost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BvecView {
    table: BvecTable,
    upto: u64,
}

impl BvecView {
    /// Entries `[0, upto)` of `table` (those that exist).
    pub fn new(table: &BvecTable, upto: u64) -> Self {
        BvecView {
            table: table.clone(),
            upto: upto.min(table.slots),
        }
    }

    /// Entries seen.
    pub fn len(&self) -> usize {
        self.upto as usize
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.upto == 0
    }

    /// Entry `i`: `None` when never written.
    pub fn get(&self, i: usize) -> Option<super::BioVec> {
        self.table.get(i as u64).filter(|_| (i as u64) < self.upto)
    }

    /// Every entry, one by one.
    pub fn iter(&self) -> impl Iterator<Item = Option<super::BioVec>> + '_ {
        self.table.iter_upto(self.upto)
    }

    /// The entries as runs (see [`BvecTable::entries`]).
    pub fn entries(&self) -> Vec<(u64, u64, Option<BvecRun>)> {
        self.table.entries(self.upto)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::BioVec;

    fn bv(p: Pfn, len: u64, off: u64) -> BioVec {
        BioVec {
            bv_page: p,
            bv_len: len,
            bv_offset: off,
        }
    }

    #[test]
    fn pages_merge_consecutive_runs_and_index_like_an_array() {
        let mut p = Pages::new();
        p.push_run(10, 3);
        p.push_run(13, 2);
        p.push_run(100, 1);
        p.push(10);
        let flat: Vec<Pfn> = p.iter().collect();
        assert_eq!(flat, [10, 11, 12, 13, 14, 100, 10]);
        assert_eq!(p.runs.len(), 3);
        for (i, &want) in flat.iter().enumerate() {
            assert_eq!(p.at(i as u64), want);
        }
        assert_eq!(p.get(7), None);
        assert_eq!(p.prefix(4).iter().collect::<Vec<_>>(), [10, 11, 12, 13]);
        assert_eq!(
            p.runs_in(2, 6).collect::<Vec<_>>(),
            [(2, 12, 3), (5, 100, 1)]
        );
    }

    #[test]
    fn bvec_overwrites_split_and_remerge() {
        let mut t = BvecTable::uninit(8);
        t.set_run(0, 6, bv(50, 4096, 0));
        assert_eq!(t.get(5), Some(bv(55, 4096, 0)));
        assert_eq!(t.get(6), None);
        t.set(2, bv(7, 100, 3));
        let got: Vec<_> = t.iter_upto(8).collect();
        let mut want: Vec<Option<BioVec>> = (0..6).map(|k| Some(bv(50 + k, 4096, 0))).collect();
        want[2] = Some(bv(7, 100, 3));
        want.extend([None, None]);
        assert_eq!(got, want);
        // Writing back what was there makes one run again.
        t.set(2, bv(52, 4096, 0));
        assert_eq!(t.runs.len(), 1);
        assert_eq!(
            t.entries(8),
            vec![
                (
                    0,
                    6,
                    Some(BvecRun {
                        start: 0,
                        n: 6,
                        bv: bv(50, 4096, 0)
                    })
                ),
                (6, 2, None)
            ]
        );
    }

    #[test]
    fn bvec_sequential_registration_writes_stay_one_run() {
        let mut t = BvecTable::uninit(1 << 27);
        for k in 0..1000 {
            t.set(k, bv(1000 + k, 4096, 0));
        }
        assert_eq!(t.runs.len(), 1);
        assert_eq!(t.get(999), Some(bv(1999, 4096, 0)));
    }
}
