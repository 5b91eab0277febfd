//! `oops`: the kernel dereferences no NULL pointer: `node->buf` is set
//! wherever `io_free_rsrc_node`, `headpage_already_acct` and
//! `io_import_reg_vec` read through it.

use super::{every_site, Fails, OpContext};
use crate::model::world::Event;
use crate::model::World;
use crate::variants::Variant;

/// In a reviewer's words: `regbuf-fuzz list`, `explain` and the mail quote it.
pub(super) const RULE: &str =
    "the kernel dereferences no NULL pointer: node->buf is set wherever io_free_rsrc_node, \
               headpage_already_acct and io_import_reg_vec read through it";

pub(super) fn check(_v: &dyn Variant, _w: &mut World, c: &OpContext, out: &mut Fails) {
    every_site(
        c,
        |e| match e {
            Event::Oops { site } => Some(site),
            _ => None,
        },
        "NULL pointer dereference",
        out,
    );
}
