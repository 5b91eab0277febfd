//! `pre-3996771b8f75`: Linux 7.2 without 3996771b8f75 "io_uring/memmap:
//! bound io_pin_pages() by page array byte size" (7.2, syzbot
//! f99b00a963915b6b52c6).
//!
//! b4e41050b212 raised the buffer limit to 1 TiB, but `io_pin_pages()`
//! still bounded only the page count, by `INT_MAX`: a buffer of 2^28 pages
//! asks `kvmalloc()` for a 2^31-byte array, one byte over its `INT_MAX`,
//! and the allocator WARNs before returning NULL. The fix is in 7.2's
//! `io_pin_pages()`; without it 7.2 runs 7.1-rc1's, which is this one (the
//! fix's diff is against the same blob, 4f9b439319c4). The only history
//! variant on 7.2 rather than 7.1: every other function is `v7.2`'s.

use super::Variant;
use crate::mm::{AllocId, Pfn};
use crate::model::runs::Pages;
use crate::model::{Errno, World};
use crate::variants::v7_2::V72;

/// Linux 7.2 before 3996771b8f75.
#[derive(Debug)]
pub struct Pre3996771b8f75;

impl Variant for Pre3996771b8f75 {
    fn name(&self) -> &'static str {
        "pre-3996771b8f75"
    }
    fn summary(&self) -> &'static str {
        "7.2 without 3996771b8f75: a buffer of 2^28 pages (1 TiB) makes io_pin_pages() kvmalloc a page array over INT_MAX bytes, and the allocator WARNs"
    }
    fn known_bugs(&self) -> &'static [super::super::KnownBug] {
        V72.known_bugs()
    }
    // `io_pin_pages` is the default, 7.1-rc1's. The rest is v7.2's.
    fn io_validate_user_buf_range(
        &self,
        w: &mut World,
        uaddr: u64,
        ulen: u64,
    ) -> Result<(), Errno> {
        V72.io_validate_user_buf_range(w, uaddr, ulen)
    }
    fn io_buffer_account_pin(
        &self,
        w: &mut World,
        pages: &Pages,
        nr_pages: usize,
        _imu: AllocId,
        _last_hpage: &mut Option<Pfn>,
    ) -> Result<(), Errno> {
        crate::variants::v7_2::io_buffer_account_pin(self, w, pages, nr_pages)
    }
    fn io_buffer_unmap(&self, w: &mut World, imu: AllocId) {
        crate::variants::v7_2::io_buffer_unmap(self, w, imu)
    }
    fn io_buffer_acct_cloned_hpages(&self, w: &mut World, imu: AllocId) -> Result<(), Errno> {
        V72.io_buffer_acct_cloned_hpages(w, imu)
    }
    fn io_buffer_register_bvec(&self, w: &mut World, rq: u32, index: u32) -> Result<(), Errno> {
        V72.io_buffer_register_bvec(w, rq, index)
    }
    fn imu_acct_pages(&self, w: &World, imu: AllocId) -> Option<u64> {
        V72.imu_acct_pages(w, imu)
    }
    fn accounted_pages(&self, w: &World) -> Result<u64, String> {
        V72.accounted_pages(w)
    }
    fn accounting_rule(&self) -> crate::variants::AccountingRule {
        V72.accounting_rule()
    }
    fn c_types(&self) -> crate::model::cint::CTypes {
        V72.c_types()
    }
}
