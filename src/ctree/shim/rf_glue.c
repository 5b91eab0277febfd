/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * regbuf-fuzz glue, appended to the functions taken from the tree: what
 * the rest of the kernel does around them (ring setup and exit, a
 * request's life, io_uring_register()'s argument checks), and accessors
 * through which the loader reads the C's state back into the simulated
 * machine. Being in the same translation unit, it reaches static functions.
 *
 * RF_HAVE_* are set by the loader from what the tree's rsrc.h declares.
 */

/* ---- the ring: io_uring_create() and io_ring_ctx_free(), this path's part ---- */


struct io_ring_ctx *rf_ring_create(int with_user, unsigned long region_pages)
{
	struct rf_ring *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->ctx.mm_account = &r->mm;
	if (with_user) {
		r->ctx.user = &r->user;
		atomic_long_set(&r->user.locked_vm, region_pages);
	}
	xa_init(&r->ctx.hpage_acct);
	if (io_rsrc_cache_init(&r->ctx)) {
		free(r);
		return NULL;
	}
	return &r->ctx;
}

/* After unregister: the caches, the hpage_acct xarray, the ring's regions. */
void rf_ring_free(struct io_ring_ctx *ctx, unsigned long region_pages, long *locked_vm,
		  long long *pinned_vm)
{
	if (ctx->buf_table.nr)
		io_sqe_buffers_unregister(ctx);
	io_rsrc_cache_free(ctx);
	xa_destroy(&ctx->hpage_acct);
	rf_ring_release(ctx, region_pages, locked_vm, pinned_vm);
}


struct io_kiocb *rf_req_new(struct io_ring_ctx *ctx, unsigned int slot)
{
	struct io_kiocb *req = calloc(1, sizeof(*req));

	req->ctx = ctx;
	req->buf_index = slot;
	return req;
}

/* io_req_put_rsrc_nodes() and the request's free. */
void rf_req_free(struct io_kiocb *req)
{
	if (req->flags & REQ_F_BUF_NODE)
		io_put_rsrc_node(req->ctx, req->buf_node);
	free(req);
}

struct io_rsrc_node *rf_req_node(struct io_kiocb *req)
{
	return (req->flags & REQ_F_BUF_NODE) ? req->buf_node : NULL;
}

int rf_import_reg_buf(struct io_kiocb *req, u64 buf_addr, u64 len, int ddir, struct rf_iter *out)
{
	struct iov_iter it = { 0 };
	int ret = io_import_reg_buf(req, &it, buf_addr, len, ddir, 0);

	rf_iter_out(&it, out);
	return ret;
}

/*
 * A vectored fixed read whose iovecs are already in the kernel (the prep
 * step's copy is not part of the scenario). The result bvecs are copied to
 * `res` (room for `res_cap`); their count is the iterator's nr_segs.
 */
int rf_import_reg_vec(struct io_kiocb *req, int ddir, const struct iovec *iovs, unsigned int nr,
		      struct bio_vec *res, unsigned long res_cap, struct rf_iter *out)
{
	struct iou_vec vec = { 0 };
	struct iov_iter it = { 0 };
	int ret;

	/* From the shim's allocator: io_vec_realloc() kfree()s it. */
	vec.iovec = kmalloc_array(nr ? nr : 1, sizeof(struct iovec), GFP_KERNEL);
	memcpy(vec.iovec, iovs, nr * sizeof(struct iovec));
	vec.nr = nr;
	ret = io_import_reg_vec(ddir, &it, req, &vec, nr, 0);
	if (!ret && it.bvec) {
		unsigned long n = min(it.nr_segs, res_cap);

		memcpy(res, it.bvec, n * sizeof(struct bio_vec));
	}
	rf_iter_out(&it, out);
	kfree(vec.iovec);
	return ret;
}

int rf_import_fixed(struct io_mapped_ubuf *imu, int ddir, u64 buf_addr, u64 len, struct rf_iter *out)
{
	struct iov_iter it = { 0 };
	int ret = io_import_fixed(ddir, &it, imu, buf_addr, len);

	rf_iter_out(&it, out);
	return ret;
}

/*
 * io_vec_fill_bvec() into a result array of `cap` entries the caller
 * allocated with room to spare: writes past `cap` are the caller's to see.
 */
int rf_vec_fill_bvec(struct io_mapped_ubuf *imu, int ddir, struct iovec *iovs, unsigned int nr,
		     struct bio_vec *res, struct rf_iter *out)
{
	struct iou_vec vec = { 0 };
	struct iov_iter it = { 0 };
	int ret;

	vec.bvec = res;
	ret = io_vec_fill_bvec(ddir, &it, imu, iovs, nr, &vec);
	rf_iter_out(&it, out);
	return ret;
}

/* ---- state, as the loader reads it back ---- */

struct rf_ctx_view {
	unsigned int table_nr;
	struct io_rsrc_node **nodes;
	long locked_vm;
	int has_user;
	long long pinned_vm;
	void **node_cache;
	unsigned int node_cached;
	void **imu_cache;
	unsigned int imu_cached;
	struct rf_xa_entry *hpage_acct;
	unsigned long hpage_acct_nr;
};

void rf_ctx_read(struct io_ring_ctx *ctx, struct rf_ctx_view *v)
{
	v->table_nr = ctx->buf_table.nr;
	v->nodes = ctx->buf_table.nodes;
	v->has_user = ctx->user != NULL;
	v->locked_vm = ctx->user ? atomic_long_read(&ctx->user->locked_vm) : 0;
	v->pinned_vm = atomic64_read(&ctx->mm_account->pinned_vm);
	v->node_cache = ctx->node_cache.entries;
	v->node_cached = ctx->node_cache.nr_cached;
	v->imu_cache = ctx->imu_cache.entries;
	v->imu_cached = ctx->imu_cache.nr_cached;
	v->hpage_acct = ctx->hpage_acct.ents;
	v->hpage_acct_nr = ctx->hpage_acct.nr;
}

struct rf_node_view {
	unsigned int type;
	int refs;
	u64 tag;
	struct io_mapped_ubuf *buf;
};

void rf_node_read(const struct io_rsrc_node *node, struct rf_node_view *v)
{
	v->type = node->type;
	v->refs = node->refs;
	v->tag = node->tag;
	v->buf = node->buf;
}

struct rf_imu_view {
	u64 ubuf;
	u64 len;
	unsigned int nr_bvecs;
	unsigned int folio_shift;
	int refs;
	unsigned long acct_pages;
	unsigned int flags;
	unsigned int dir;
	const struct bio_vec *bvec;
};

void rf_imu_read(const struct io_mapped_ubuf *imu, struct rf_imu_view *v)
{
	v->ubuf = imu->ubuf;
	v->len = imu->len;
	v->nr_bvecs = imu->nr_bvecs;
	v->folio_shift = imu->folio_shift;
	v->refs = imu->refs.refs;
#ifdef RF_HAVE_ACCT_PAGES
	v->acct_pages = imu->acct_pages;
#else
	v->acct_pages = 0;
#endif
#ifdef RF_HAVE_FLAGS
	v->flags = imu->flags;
#else
	v->flags = 0;
#endif
#ifdef RF_HAVE_DIR
	v->dir = imu->dir;
#else
	v->dir = 3;
#endif
	v->bvec = imu->bvec;
}

