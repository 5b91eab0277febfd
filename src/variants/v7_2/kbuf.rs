//! 7.2's `io_buffer_register_bvec()` (io_uring/rsrc.c in the 7.2 tree): as
//! 7.1-rc1's but for the two places df0a52537c0f and the node-cache
//! cleanups touched. There is no `imu->acct_pages` to clear, and a node
//! whose imu cannot be allocated goes back to the node cache
//! (`io_cache_free()`) where 7.1 `kfree()`s it.

use crate::model::kbuf::{kbuf_alloc, kbuf_install};
use crate::model::{Errno, World};
use crate::variants::Variant;

/// Model of `io_buffer_register_bvec()` — io_uring/rsrc.c, 7.2.
pub fn io_buffer_register_bvec<V: Variant + ?Sized>(
    v: &V,
    w: &mut World,
    rq: u32,
    index: u32,
) -> Result<(), Errno> {
    let (node, imu) = kbuf_alloc(v, w, rq, index, |w, node| w.io_cache_free(false, node))?;
    kbuf_install(w, node, imu, rq, index);
    Ok(())
}
