//! `oops`: the kernel dereferences no NULL pointer (`node->buf` is set
//! wherever `io_free_rsrc_node`, `headpage_already_acct` and
//! `io_import_reg_vec` read through it), and a tree's compiled C makes no
//! access KASAN reports and takes no fault.

use super::{Fail, Fails, OpContext};
use crate::model::world::Event;
use crate::model::World;
use crate::variants::Variant;

/// In a reviewer's words: `regbuf-fuzz list`, `explain` and the mail quote it.
pub(super) const RULE: &str =
    "the kernel dereferences no NULL pointer: node->buf is set wherever io_free_rsrc_node, \
     headpage_already_acct and io_import_reg_vec read through it; and a tree's compiled C makes \
     no access KASAN reports (out of bounds, after free) and takes no fault";

/// The words the kernel would print first for a site.
fn headline(site: &str) -> &'static str {
    match site.split(' ').next().unwrap_or("") {
        "slab-out-of-bounds" | "use-after-free" => "BUG: KASAN",
        "null-ptr-deref" => "BUG: kernel NULL pointer dereference",
        "wild-memory-access" | "struct-page-access" => "Oops",
        _ => "NULL pointer dereference",
    }
}

pub(super) fn check(_v: &dyn Variant, _w: &mut World, c: &OpContext, out: &mut Fails) {
    for e in c.events {
        if let Event::Oops { site } = e {
            out.push(Fail::new(
                site.split(':').next().unwrap_or(site).trim(),
                format!("{}: {site}", headline(site)),
            ));
        }
    }
}
