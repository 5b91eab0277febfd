//! Historical variants: the 7.1-rc1 model (the 7.2 one for a 7.2 fix) with
//! one upstream fix taken out again, so the fuzzer can be asked to find each bug real people fixed in
//! this path (reference §2 has the commits and diffs).
//!
//! Each file reverts one fix and overrides only the functions that fix
//! touched, quoting the hunk it reverts. The code around the hunk stays 7.1:
//! these are "7.1-rc1 without fix X", not reconstructions of the older
//! trees, so a finding on one of them is the bug that fix removed and
//! nothing else. Where a fix changed code that 7.1 has since moved, the
//! revert is applied to the place the line lives in 7.1, and the file says so.

use super::Variant;

pub mod fill_bvec_alignment;
pub mod folio_accounting;
pub mod folio_unpinning;
pub mod import_nr_segs;
pub mod nonconsecutive;
pub mod page_leak;
pub mod pin_pages_bound;
mod register;
pub mod vaddr_alignment;

/// The historical variants, oldest fix first.
pub static HISTORY: &[&dyn Variant] = &[
    &folio_accounting::PreD2acf789088b,
    &nonconsecutive::Pre776617db78c6,
    &import_nr_segs::PreA23800f08a60,
    &folio_unpinning::Pre5afb4bf9fc62,
    &vaddr_alignment::Pre3a3c6d61577d,
    &fill_bvec_alignment::PreE1d7727b73a1,
    &page_leak::PreE1c75831f682,
    &pin_pages_bound::Pre3996771b8f75,
];

#[cfg(test)]
mod tests;
