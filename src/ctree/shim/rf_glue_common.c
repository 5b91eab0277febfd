/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * regbuf-fuzz glue both designs share (rf_glue.c for 6.13 and later,
 * rf_glue_612.c for 6.12 and before), put first in the translation unit:
 * the callbacks, GUP and unpinning as the machine serves them, the
 * xarray's and the alloc caches' storage, the iterator as the loader reads
 * it, and what the I/O reads of one.
 */

struct rf_callbacks rf_cb;
struct page *rf_mem_map;
unsigned long rf_pfn_base;

void rf_setup(const struct rf_callbacks *cb, struct page *mem_map, unsigned long pfn_base)
{
	rf_cb = *cb;
	rf_mem_map = mem_map;
	rf_pfn_base = pfn_base;
}

long rf_pin_user_pages_fast(unsigned long start, long nr_pages, unsigned int gup_flags,
			    struct page **pages)
{
	/*
	 * The machine writes pfns into the glue's memory and the C's array is
	 * filled here, by C: an array too short for nr_pages is then a fault
	 * of the C, caught and reported, not one of the loader.
	 */
	unsigned long *pfns = malloc((nr_pages > 0 ? nr_pages : 1) * sizeof(*pfns));
	long ret, i;

	if (!pfns)
		return -ENOMEM;
	ret = rf_cb.pin_pages(start, nr_pages, gup_flags, pfns);
	for (i = 0; i < ret; i++)
		pages[i] = pfn_to_page(pfns[i]);
	free(pfns);
	return ret;
}

void rf_unpin_user_pages(struct page **pages, unsigned long npages, const char *caller)
{
	unsigned long *pfns = malloc(npages ? npages * sizeof(*pfns) : 1);
	unsigned long i;

	for (i = 0; i < npages; i++)
		pfns[i] = page_to_pfn(pages[i]);
	rf_cb.unpin_pfns(pfns, npages, caller);
	free(pfns);
}

int rf_xa_grow(struct xarray *xa)
{
	if (xa->nr == xa->cap) {
		unsigned long cap = xa->cap ? 2 * xa->cap : 8;
		struct rf_xa_entry *e = realloc(xa->ents, cap * sizeof(*e));

		if (!e)
			return -ENOMEM;
		xa->ents = e;
		xa->cap = cap;
	}
	return 0;
}

void rf_xa_destroy(struct xarray *xa)
{
	unsigned long i;

	for (i = 0; i < xa->nr; i++)
		if (xa->ents[i].slot)
			rf_free(xa->ents[i].slot);
	free(xa->ents);
	memset(xa, 0, sizeof(*xa));
}

struct rf_ring {
	struct io_ring_ctx ctx;
	struct user_struct user;
	struct mm_struct mm;
};

/* The end of rf_ring_free(): the ring's own regions, the counters read, the ring freed. */
static void rf_ring_release(struct io_ring_ctx *ctx, unsigned long region_pages, long *locked_vm,
			    long long *pinned_vm)
{
	if (ctx->user)
		atomic_long_sub(region_pages, &ctx->user->locked_vm);
	*locked_vm = ctx->user ? atomic_long_read(&ctx->user->locked_vm) : 0;
	*pinned_vm = atomic64_read(&ctx->mm_account->pinned_vm);
	free(container_of(ctx, struct rf_ring, ctx));
}

/* The register calls, the same in both designs. */
int rf_register(struct io_ring_ctx *ctx, struct iovec *iovs, unsigned int nr)
{
	return io_sqe_buffers_register(ctx, iovs, nr, NULL);
}

/* io_register_rsrc_update() and __io_register_rsrc_update()'s checks, then the buffers' update. */
int rf_update(struct io_ring_ctx *ctx, unsigned int offset, struct iovec *iovs, unsigned int nr)
{
	struct io_uring_rsrc_update2 up = { .offset = offset, .data = (u64)(uintptr_t)iovs, .nr = nr };
	__u32 tmp;

	if (!nr)
		return -EINVAL;
	if (check_add_overflow(up.offset, nr, &tmp))
		return -EOVERFLOW;
	return __io_sqe_buffers_update(ctx, &up, nr);
}

int rf_unregister(struct io_ring_ctx *ctx)
{
	return io_sqe_buffers_unregister(ctx);
}

bool io_alloc_cache_init(struct io_alloc_cache *cache, unsigned max_nr, unsigned int size,
			 unsigned int init_bytes)
{
	cache->entries = calloc(max_nr, sizeof(void *));
	if (!cache->entries)
		return true;
	cache->nr_cached = 0;
	cache->max_cached = max_nr;
	cache->elem_size = size;
	cache->init_clear = init_bytes;
	return false;
}

void io_alloc_cache_free(struct io_alloc_cache *cache, void (*fn)(const void *))
{
	void *entry;

	if (!cache->entries)
		return;
	while ((entry = io_alloc_cache_get(cache)) != NULL)
		fn(entry);
	free(cache->entries);
	cache->entries = NULL;
}

/* An iterator as the loader reads it. */
struct rf_iter {
	const struct bio_vec *bvec;
	unsigned long nr_segs;
	unsigned long count;
	unsigned long iov_offset;
	unsigned int data_source;
};

static void rf_iter_out(const struct iov_iter *it, struct rf_iter *out)
{
	out->bvec = it->bvec;
	out->nr_segs = it->nr_segs;
	out->count = it->count;
	out->iov_offset = it->iov_offset;
	out->data_source = it->data_source;
}

/*
 * What the I/O makes of an imported iterator: iterate_bvec()'s walk as
 * _copy_to_iter() drives it, reading each bvec it steps onto until
 * `count` bytes are moved. The bytes themselves are the model's to judge;
 * this is for what the walk reads, which is where KASAN caught RFC v1's
 * step to bvec[1] of a one-entry table. A page is not split into
 * PAGE_SIZE steps: that reads no other bvec. Returns the bytes walked, or
 * -(i + 1) when bvec[i] has no page (kmap_local_page(NULL)).
 */
long iterate_bvec(const struct rf_iter *it)
{
	const struct bio_vec *p = it->bvec;
	unsigned long len = it->count, skip = it->iov_offset, progress = 0;

	if (!len || !p)
		return 0;
	do {
		unsigned long part;

		if (!p->bv_page)
			return -(long)(p - it->bvec) - 1;
		part = min(len, (unsigned long)(p->bv_len - skip));
		len -= part;
		progress += part;
		skip += part;
		if (skip >= p->bv_len) {
			skip = 0;
			p++;
		}
	} while (len);
	return progress;
}

unsigned long rf_imu_bvec_offset(void)
{
	return offsetof(struct io_mapped_ubuf, bvec);
}
