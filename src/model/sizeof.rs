//! The sizes the registration path's allocations ask for, computed as the C
//! computes them on a 64-bit kernel (LP64: x86-64, arm64, ppc64), so that
//! an allocation's size, and whether the allocator refuses it, is the
//! kernel's.
//!
//! The struct sizes are their fields laid out by the C rules; a version
//! whose struct differs names its own constant.

/// `sizeof(struct page *)`.
pub const PAGE_PTR: u64 = 8;

/// `sizeof(struct io_rsrc_node *)`: an entry of `data->nodes`.
pub const RSRC_NODE_PTR: u64 = 8;

/// `sizeof(struct bio_vec)`: `struct page *bv_page; unsigned int bv_len;
/// unsigned int bv_offset;`.
pub const BIO_VEC: u64 = 16;

/// `sizeof(struct io_mapped_ubuf)` up to its flexible `bvec[]`, 7.1:
/// `u64 ubuf; unsigned int len, nr_bvecs, folio_shift; refcount_t refs;
/// unsigned long acct_pages; void (*release)(void *); void *priv; u8 flags;
/// u8 dir;` is 50 bytes, padded to the 8-byte alignment of `bvec[]`. 7.2
/// widens `len` to `size_t` (ca76b56a2a2a) and drops `acct_pages`
/// (df0a52537c0f): the padding absorbs both and the size stays 56.
pub const IO_MAPPED_UBUF: u64 = 56;

/// `sizeof(struct io_rsrc_node)`: `unsigned char type; int refs; u64 tag;
/// union { unsigned long file_ptr; struct io_mapped_ubuf *buf; };`.
pub const IO_RSRC_NODE: u64 = 24;

/// `sizeof(struct xa_node)` with `XA_CHUNK_SHIFT` 6: what `xa_reserve()`
/// takes from `radix_tree_node_cachep` when the slot needs a new node.
pub const XA_NODE: u64 = 576;

/// `kvmalloc_array(n, size)` and `kvmalloc_objs(type, n)`: the product, or
/// `None` when `check_mul_overflow()` fails and the call returns NULL
/// without allocating.
pub fn array(n: u64, size: u64) -> Option<u64> {
    n.checked_mul(size)
}

/// `struct_size(p, member, n)` (include/linux/overflow.h): saturates to
/// `SIZE_MAX` on overflow, which every allocator then refuses.
pub fn struct_size(header: u64, elem: u64, n: u64) -> u64 {
    n.checked_mul(elem)
        .and_then(|b| b.checked_add(header))
        .unwrap_or(u64::MAX)
}

/// `struct_size_t(struct io_mapped_ubuf, bvec, n)`: an imu of `n` bvecs.
pub fn imu(n: u64) -> u64 {
    struct_size(IO_MAPPED_UBUF, BIO_VEC, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_the_kernels() {
        // io_alloc_cache_init(&ctx->imu_cache, ..., struct_size(imu, bvec,
        // IO_CACHED_BVECS_SEGS)): 568 bytes.
        assert_eq!(imu(32), 568);
        // A 1 TiB buffer of 4 KiB pages: the page array is 2^31 bytes, one
        // over INT_MAX; its imu uncoalesced is 4 GiB.
        assert_eq!(array(1 << 28, PAGE_PTR), Some(1 << 31));
        assert_eq!(imu(1 << 28), (1 << 32) + 56);
        assert_eq!(array(u64::MAX / 4, PAGE_PTR), None);
        assert_eq!(imu(u64::MAX / 8), u64::MAX);
    }
}
