//! `widths`: every quantity fits the C type its version declares, and no
//! shift is one C leaves undefined ([`crate::model::cint`]).

use super::{every_site, Fails, OpContext};
use crate::model::world::Event;
use crate::model::World;
use crate::variants::Variant;

/// In a reviewer's words: `regbuf-fuzz list`, `explain` and the mail quote it.
pub(super) const RULE: &str = "every quantity fits the C type its version declares (imu->len, bv_len and bv_offset, \
               the page count of io_pin_pages) and no shift is undefined (an int shifted into its sign bit \
               or by its width, as 7.1's 1 << imu->folio_shift in io_vec_fill_bvec is for a 16 GiB folio)";

pub(super) fn check(_v: &dyn Variant, _w: &mut World, c: &OpContext, out: &mut Fails) {
    every_site(
        c,
        |e| match e {
            Event::Width { site } => Some(site),
            _ => None,
        },
        "C integer width",
        out,
    );
}
