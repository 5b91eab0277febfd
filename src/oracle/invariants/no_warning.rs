//! `no_warning`: no `WARN_ON_ONCE` fires: the path's own (`io_pin_pages`,
//! `io_coalesce_buffer`) and the allocators' on a request over their limit
//! (`kvmalloc` over `INT_MAX`, `kmalloc` over `KMALLOC_MAX_SIZE`).

use super::{every_site, Fails, OpContext};
use crate::model::world::Event;
use crate::model::World;
use crate::variants::Variant;

/// In a reviewer's words: `regbuf-fuzz list`, `explain` and the mail quote it.
pub(super) const RULE: &str = "no WARN_ON_ONCE fires: the path's own (io_pin_pages, io_coalesce_buffer) and the allocators' on a \
               request over their limit (kvmalloc over INT_MAX, kmalloc over KMALLOC_MAX_SIZE)";

pub(super) fn check(_v: &dyn Variant, _w: &mut World, c: &OpContext, out: &mut Fails) {
    every_site(
        c,
        |e| match e {
            Event::Warn { site } => Some(site),
            _ => None,
        },
        "WARN_ON_ONCE",
        out,
    );
}
