/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * regbuf-fuzz glue for trees of 6.12 and before, whose buffer table is
 * ctx->user_bufs (imu pointers, &dummy_ubuf for an empty slot) and whose
 * lifetimes are generations of reference nodes (ctx->rsrc_node, with the
 * removed buffers queued on ctx->rsrc_ref_list until every request of
 * their generation is done). The same entry points as rf_glue.c, so the
 * loader drives either alike; what 6.12 lacks (READV_FIXED) answers as
 * the kernel does to an unknown opcode, -EINVAL.
 *
 * io_rsrc_ref_quiesce() would sleep until the requests in flight are done;
 * nothing can wake a sleep here, so its wait returns as an interrupted one
 * does (io_run_task_work_sig() < 0): unregister then says -EINTR.
 */

int io_run_task_work_sig(struct io_ring_ctx *ctx)
{
	(void)ctx;
	return -EINTR;
}

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
	INIT_LIST_HEAD(&r->ctx.rsrc_ref_list);
	if (io_alloc_cache_init(&r->ctx.rsrc_node_cache, IO_NODE_ALLOC_CACHE_MAX,
				sizeof(struct io_rsrc_node), 0)) {
		free(r);
		return NULL;
	}
	/* io_rsrc_init(), as setup makes it: no scenario's fault plan is armed yet. */
	r->ctx.rsrc_node = rf_alloc(sizeof(struct io_rsrc_node), __GFP_ZERO, "rf_ring_create",
				    RF_KMALLOC);
	if (!r->ctx.rsrc_node) {
		free(r->ctx.rsrc_node_cache.entries);
		free(r);
		return NULL;
	}
	r->ctx.rsrc_node->ctx = &r->ctx;
	r->ctx.rsrc_node->refs = 1;
	return &r->ctx;
}

static void rf_kfree(const void *p)
{
	kfree(p);
}

/* After the requests: the buffers, the current node, the node cache. */
void rf_ring_free(struct io_ring_ctx *ctx, unsigned long region_pages, long *locked_vm,
		  long long *pinned_vm)
{
	if (ctx->buf_data)
		__io_sqe_buffers_unregister(ctx);
	if (ctx->rsrc_node)
		io_rsrc_node_destroy(ctx, ctx->rsrc_node);
	WARN_ON_ONCE(!list_empty(&ctx->rsrc_ref_list));
	io_alloc_cache_free(&ctx->rsrc_node_cache, rf_kfree);
	rf_ring_release(ctx, region_pages, locked_vm, pinned_vm);
}


/* A request, and the buffer it imported (what its generation keeps). */
struct rf_req {
	struct io_kiocb req;
	struct io_mapped_ubuf *imu;
};

struct io_kiocb *rf_req_new(struct io_ring_ctx *ctx, unsigned int slot)
{
	struct rf_req *r = calloc(1, sizeof(*r));

	r->req.ctx = ctx;
	r->req.buf_index = slot;
	return &r->req;
}

/* io_req_put_rsrc_nodes()'s 6.12 form, and the request's free. */
void rf_req_free(struct io_kiocb *req)
{
	if (req->rsrc_node)
		io_put_rsrc_node(req->ctx, req->rsrc_node);
	free(container_of(req, struct rf_req, req));
}

/* The buffer the request imported, while its generation holds it. */
struct io_mapped_ubuf *rf_req_node(struct io_kiocb *req)
{
	return req->rsrc_node ? container_of(req, struct rf_req, req)->imu : NULL;
}

/* io_prep_rw_fixed() of 6.12: the slot, the generation's node, the import. */
int rf_import_reg_buf(struct io_kiocb *req, u64 buf_addr, u64 len, int ddir, struct rf_iter *out)
{
	struct io_ring_ctx *ctx = req->ctx;
	struct iov_iter it = { 0 };
	struct io_mapped_ubuf *imu;
	u16 index;
	int ret;

	if (unlikely(req->buf_index >= ctx->nr_user_bufs))
		return -EFAULT;
	index = array_index_nospec(req->buf_index, ctx->nr_user_bufs);
	imu = ctx->user_bufs[index];
	io_req_set_rsrc_node(req, ctx, 0);
	container_of(req, struct rf_req, req)->imu = imu;
	ret = io_import_fixed(ddir, &it, imu, buf_addr, len);
	rf_iter_out(&it, out);
	return ret;
}

int rf_import_reg_vec(struct io_kiocb *req, int ddir, const struct iovec *iovs, unsigned int nr,
		      struct bio_vec *res, unsigned long res_cap, struct rf_iter *out)
{
	(void)req, (void)ddir, (void)iovs, (void)nr, (void)res, (void)res_cap, (void)out;
	return -EINVAL;
}

int rf_import_fixed(struct io_mapped_ubuf *imu, int ddir, u64 buf_addr, u64 len, struct rf_iter *out)
{
	struct iov_iter it = { 0 };
	int ret = io_import_fixed(ddir, &it, imu, buf_addr, len);

	rf_iter_out(&it, out);
	return ret;
}

int rf_vec_fill_bvec(struct io_mapped_ubuf *imu, int ddir, struct iovec *iovs, unsigned int nr,
		     struct bio_vec *res, struct rf_iter *out)
{
	(void)imu, (void)ddir, (void)iovs, (void)nr, (void)res, (void)out;
	return -EINVAL;
}

/* ---- state, as the loader reads it back ---- */

struct rf_ctx_view_612 {
	unsigned int nr_user_bufs;
	struct io_mapped_ubuf **user_bufs;
	const struct io_mapped_ubuf *dummy;
	long locked_vm;
	int has_user;
	long long pinned_vm;
	struct io_rsrc_node *rsrc_node;
	void **node_cache;
	unsigned int node_cached;
};

void rf_ctx_read_612(struct io_ring_ctx *ctx, struct rf_ctx_view_612 *v)
{
	v->nr_user_bufs = ctx->nr_user_bufs;
	v->user_bufs = ctx->user_bufs;
	v->dummy = &dummy_ubuf;
	v->has_user = ctx->user != NULL;
	v->locked_vm = ctx->user ? atomic_long_read(&ctx->user->locked_vm) : 0;
	v->pinned_vm = atomic64_read(&ctx->mm_account->pinned_vm);
	v->rsrc_node = ctx->rsrc_node;
	v->node_cache = ctx->rsrc_node_cache.entries;
	v->node_cached = ctx->rsrc_node_cache.nr_cached;
}

/*
 * The nodes on rsrc_ref_list, in order, with the buffer each holds for
 * removal (NULL for a quiesce marker): up to `cap` of them; returns how
 * many there are.
 */
unsigned long rf_ref_list_read(struct io_ring_ctx *ctx, struct io_rsrc_node **nodes,
			       struct io_mapped_ubuf **bufs, unsigned long cap)
{
	struct list_head *p;
	unsigned long n = 0;

	for (p = ctx->rsrc_ref_list.next; p != &ctx->rsrc_ref_list; p = p->next, n++) {
		struct io_rsrc_node *node = list_entry(p, struct io_rsrc_node, node);

		if (n < cap) {
			nodes[n] = node;
			bufs[n] = (!node->empty && node->type == IORING_RSRC_BUFFER) ?
					  node->item.buf : NULL;
		}
	}
	return n;
}

/* rf_glue.c's node view, for the table's nodes: 6.12 has none to read. */
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
	v->tag = node->item.tag;
	v->buf = node->item.buf;
}

/* A slot's tag: 6.12 keeps tags apart from the buffers. */
u64 rf_slot_tag(struct io_ring_ctx *ctx, unsigned int i)
{
	return ctx->buf_data ? *io_get_tag_slot(ctx->buf_data, i) : 0;
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
	v->acct_pages = imu->acct_pages;
	v->flags = 0;
	v->dir = 3;
	v->bvec = imu->bvec;
}

/* The loader's entry points for this design, so it reads the state right. */
int rf_user_bufs_design(void)
{
	return 1;
}

/* rf_glue.c's accessor, present so that the loader finds every entry point. */
void rf_ctx_read(struct io_ring_ctx *ctx, void *v)
{
	(void)ctx, (void)v;
}
