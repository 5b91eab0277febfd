/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * regbuf-fuzz shim: the kernel environment io_uring/rsrc.c and
 * io_uring/memmap.c are compiled against in user space.
 *
 * Every <linux/...> header and every io_uring-local header other than the
 * tree's own rsrc.h and memmap.h resolves to this one file. It declares
 * only what the registration, update, unregister and import paths use,
 * written for this project: struct pages are addresses in a reserved,
 * never-mapped range (page arithmetic holds, a dereference faults), and
 * every mm, allocator, accounting and user-copy call is served by the
 * simulated machine through the rf_* callbacks (src/ctree/ffi.rs).
 */
#ifndef RF_KERNEL_H
#define RF_KERNEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>
#include <limits.h>
#include <stdlib.h>

/*
 * The C's own copies, not the C library's: a fault inside them lies in the
 * loaded object's code, where it is caught and reported as the kernel's.
 */
static inline void *rf_memcpy(void *d, const void *s, size_t n)
{
	unsigned char *a = d;
	const unsigned char *b = s;

	while (n--)
		*a++ = *b++;
	return d;
}

static inline void *rf_memset(void *d, int c, size_t n)
{
	unsigned char *a = d;

	while (n--)
		*a++ = (unsigned char)c;
	return d;
}

static inline void *rf_memmove(void *d, const void *s, size_t n)
{
	unsigned char *a = d;
	const unsigned char *b = s;

	if (a < b)
		return rf_memcpy(d, s, n);
	while (n--)
		a[n] = b[n];
	return d;
}
#define memcpy rf_memcpy
#define memset rf_memset
#define memmove rf_memmove

/* ---- types ---- */
typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int8_t s8;
typedef int16_t s16;
typedef int32_t s32;
typedef int64_t s64;
typedef u8 __u8;
typedef u16 __u16;
typedef u32 __u32;
typedef u64 __u64;
typedef s32 __s32;
typedef s64 __s64;
typedef long ssize_t;
typedef unsigned int gfp_t;
typedef u32 compat_uptr_t;
typedef s32 compat_ssize_t;
typedef struct { long counter; } atomic_long_t;
typedef struct { long long counter; } atomic64_t;
typedef struct { int counter; } atomic_t;
typedef struct { int refs; } refcount_t;

#define __user
#define __kernel
#define __cold
#define __must_hold(x)
#define __must_check
#define __always_inline inline
#define __maybe_unused __attribute__((unused))
#define __counted_by(x)
#define __randomize_layout
#define ____cacheline_aligned_in_smp
#define __read_mostly
#define noinline __attribute__((noinline))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define EXPORT_SYMBOL_GPL(x)
#define EXPORT_SYMBOL(x)
#define BUILD_BUG_ON(cond) _Static_assert(!(cond), #cond)
/* A 64-bit MMU kernel; every other option is off (IS_ENABLED is 0). */
#define CONFIG_MMU 1
#define CONFIG_64BIT 1
#define IS_ENABLED(x) 0
#define READ_ONCE(x) (x)
#define WRITE_ONCE(x, v) ((x) = (v))
#define fallthrough __attribute__((__fallthrough__))

/* ---- geometry: the simulated machine's, set by the build ---- */
#ifndef RF_PAGE_SHIFT
#error "RF_PAGE_SHIFT must be defined by the build"
#endif
#define PAGE_SHIFT RF_PAGE_SHIFT
#define PAGE_SIZE (1UL << PAGE_SHIFT)
#define PAGE_MASK (~(PAGE_SIZE - 1))
#define PAGE_ALIGN(x) (((x) + PAGE_SIZE - 1) & PAGE_MASK)
#define SZ_1G RF_SZ_1G
#define SZ_1T (SZ_1G << 10)
/* INT_MAX scales with SZ_1G, as in the Rust model (src/mm/geometry.rs). */
#undef INT_MAX
#define INT_MAX RF_INT_MAX
#define MAX_RW_COUNT (INT_MAX & PAGE_MASK)
#define UIO_FASTIOV 8
#define UIO_MAXIOV 1024

/* ---- errno, ERR_PTR ---- */
#define EPERM 1
#define ENOENT 2
#define EINTR 4
#define EIO 5
#define ENXIO 6
#define E2BIG 7
#define EBADF 9
#define EAGAIN 11
#define ENOMEM 12
#define EFAULT 14
#define EBUSY 16
#define EEXIST 17
#define ENODEV 19
#define EINVAL 22
#define EMFILE 24
#define ENOSPC 28
#define ERANGE 34
#define EOPNOTSUPP 95
#define EOVERFLOW 75
#define MAX_ERRNO 4095
#define IS_ERR_VALUE(x) ((unsigned long)(void *)(x) >= (unsigned long)-MAX_ERRNO)
static inline void *ERR_PTR(long error) { return (void *)error; }
static inline long PTR_ERR(const void *ptr) { return (long)ptr; }
static inline bool IS_ERR(const void *ptr) { return IS_ERR_VALUE((unsigned long)ptr); }
static inline bool IS_ERR_OR_NULL(const void *ptr) { return !ptr || IS_ERR(ptr); }
#define ERR_CAST(p) ((void *)(p))

/* ---- arithmetic ---- */
#define min(a, b) ((a) < (b) ? (a) : (b))
#define max(a, b) ((a) > (b) ? (a) : (b))
#define min_t(t, a, b) ((t)(a) < (t)(b) ? (t)(a) : (t)(b))
#define max_t(t, a, b) ((t)(a) > (t)(b) ? (t)(a) : (t)(b))
#define check_add_overflow(a, b, d) __builtin_add_overflow(a, b, d)
#define check_sub_overflow(a, b, d) __builtin_sub_overflow(a, b, d)
#define check_mul_overflow(a, b, d) __builtin_mul_overflow(a, b, d)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define DIV_ROUND_UP(n, d) (((n) + (d) - 1) / (d))
#define ALIGN(x, a) (((x) + (a) - 1) & ~((typeof(x))(a) - 1))
#define BIT(n) (1UL << (n))
#define u64_to_user_ptr(x) ((void __user *)(uintptr_t)(x))
#define array_index_nospec(index, size) (index)
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
static inline size_t rf_size_mul(size_t a, size_t b)
{
	size_t r;
	return __builtin_mul_overflow(a, b, &r) ? SIZE_MAX : r;
}
static inline size_t rf_size_add(size_t a, size_t b)
{
	size_t r;
	return __builtin_add_overflow(a, b, &r) ? SIZE_MAX : r;
}
#define size_mul(a, b) rf_size_mul(a, b)
#define size_add(a, b) rf_size_add(a, b)
#define array_size(a, b) rf_size_mul(a, b)
#define struct_size(p, member, n) \
	rf_size_add(sizeof(*(p)), rf_size_mul(sizeof((p)->member[0]), (n)))
#define struct_size_t(type, member, n) struct_size((type *)NULL, member, n)
#define flex_array_size(p, member, n) rf_size_mul(sizeof((p)->member[0]), (n))

/* ---- locking and scheduling: one thread, nothing to wait for ---- */
struct mutex { int rf_unused; };
struct list_head { struct list_head *next, *prev; };
#define INIT_LIST_HEAD(l) ((l)->next = (l)->prev = (l))
static inline bool list_empty(const struct list_head *l) { return l->next == l; }
static inline void list_add_tail(struct list_head *n, struct list_head *h)
{
	n->prev = h->prev;
	n->next = h;
	h->prev->next = n;
	h->prev = n;
}
static inline void list_del(struct list_head *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->next = n->prev = NULL;
}
#define list_entry(p, type, member) container_of(p, type, member)
#define list_first_entry(h, type, member) list_entry((h)->next, type, member)
/* Waits (the quiesce of 6.12's unregister) cannot block here: see the glue. */
struct wait_queue_head { int rf_unused; };
typedef struct wait_queue_head wait_queue_head_t;
struct wait_queue_entry { int rf_unused; };
#define DEFINE_WAIT(name) struct wait_queue_entry name = { 0 }
#define TASK_INTERRUPTIBLE 1
#define prepare_to_wait(wq, we, state) ((void)(wq), (void)(we), (void)(state))
#define finish_wait(wq, we) ((void)(wq), (void)(we))
#define wake_up_all(wq) ((void)(wq))
#define schedule() ((void)0)
#define smp_mb() ((void)0)
#define lockdep_assert_held(l) ((void)(l))
#define mutex_lock(l) ((void)(l))
#define mutex_unlock(l) ((void)(l))
#define guard(kind) (void)
#define cond_resched() ((void)0)
#define might_sleep() ((void)0)
#define rcu_read_lock() ((void)0)
#define rcu_read_unlock() ((void)0)

/* ---- atomics and refcounts ---- */
#define atomic_long_read(v) ((v)->counter)
#define atomic_long_set(v, i) ((v)->counter = (i))
#define atomic_long_add(i, v) ((v)->counter += (i))
#define atomic_long_sub(i, v) ((v)->counter -= (i))
static inline bool atomic_long_try_cmpxchg(atomic_long_t *v, long *old, long new_)
{
	if (v->counter == *old) {
		v->counter = new_;
		return true;
	}
	*old = v->counter;
	return false;
}
#define atomic64_read(v) ((v)->counter)
#define atomic64_add(i, v) ((v)->counter += (i))
#define atomic64_sub(i, v) ((v)->counter -= (i))
#define atomic_read(v) ((v)->counter)
#define atomic_set(v, i) ((v)->counter = (i))
#define refcount_set(r, n) ((r)->refs = (n))
#define refcount_read(r) ((unsigned int)(r)->refs)
#define refcount_inc(r) ((void)(r)->refs++)
static inline bool refcount_dec_and_test(refcount_t *r) { return --r->refs == 0; }

/* ---- the callbacks into the simulated machine ---- */
struct page;
struct folio;
enum rf_allocator { RF_KVMALLOC = 0, RF_KMALLOC = 1, RF_CACHE = 2, RF_XA = 3 };
/*
 * Filled in by the loader (src/ctree/ffi.rs) before any call: the shared
 * object needs nothing exported by the program that loads it.
 */
struct rf_callbacks {
	void *(*alloc)(size_t size, unsigned int gfp, const char *caller, int allocator);
	void (*free)(const void *p);
	void (*warn)(const char *func, const char *cond);
	long (*pin_pages)(unsigned long start, long nr_pages, unsigned int gup_flags,
				    unsigned long *pfns);
	void (*unpin_pfns)(const unsigned long *pfns, unsigned long n, const char *caller);
	void (*unpin_folio)(unsigned long head_pfn, unsigned long npages);
	unsigned long (*compound_head)(unsigned long pfn);
	unsigned int (*folio_order)(unsigned long head_pfn);
	int (*folio_hugetlb)(unsigned long head_pfn);
	int (*copy_from_user_faults)(void);
	unsigned long (*rlimit_memlock)(void);
};
extern struct rf_callbacks rf_cb;
#define rf_alloc(size, gfp, caller, allocator) rf_cb.alloc((size), (gfp), (caller), (allocator))
#define rf_free(p) rf_cb.free(p)
#define rf_warn(func, cond) rf_cb.warn((func), (cond))
#define rf_compound_head(pfn) rf_cb.compound_head(pfn)
#define rf_folio_order(pfn) rf_cb.folio_order(pfn)
#define rf_folio_hugetlb(pfn) (rf_cb.folio_hugetlb(pfn) != 0)
#define rf_copy_from_user_faults() rf_cb.copy_from_user_faults()
#define rf_rlimit_memlock() rf_cb.rlimit_memlock()

/* ---- WARN ---- */
#define WARN_ON_ONCE(cond) ({ bool __c = !!(cond); if (__c) rf_warn(__func__, #cond); __c; })
#define WARN_ON(cond) WARN_ON_ONCE(cond)
#define WARN_ONCE(cond, ...) WARN_ON_ONCE(cond)
#define BUG_ON(cond) WARN_ON_ONCE(cond)

/* ---- allocators: every call reaches the simulated ledger ---- */
#define GFP_KERNEL 0x1u
#define GFP_KERNEL_ACCOUNT 0x3u
#define GFP_NOWAIT 0x4u
#define __GFP_ZERO 0x100u
#define __GFP_NOWARN 0x200u
#define __GFP_ACCOUNT 0x2u
#define RF_GFP(...) (GFP_KERNEL __VA_OPT__(| (__VA_ARGS__)))
#define kvmalloc(size, gfp) rf_alloc((size), (gfp), __func__, RF_KVMALLOC)
#define kvzalloc(size, gfp) rf_alloc((size), (gfp) | __GFP_ZERO, __func__, RF_KVMALLOC)
#define kvmalloc_array(n, size, gfp) rf_alloc(rf_size_mul(n, size), (gfp), __func__, RF_KVMALLOC)
#define kvcalloc(n, size, gfp) \
	rf_alloc(rf_size_mul(n, size), (gfp) | __GFP_ZERO, __func__, RF_KVMALLOC)
#define kmalloc(size, gfp) rf_alloc((size), (gfp), __func__, RF_KMALLOC)
#define kzalloc(size, gfp) rf_alloc((size), (gfp) | __GFP_ZERO, __func__, RF_KMALLOC)
#define kmalloc_array(n, size, gfp) rf_alloc(rf_size_mul(n, size), (gfp), __func__, RF_KMALLOC)
#define kcalloc(n, size, gfp) \
	rf_alloc(rf_size_mul(n, size), (gfp) | __GFP_ZERO, __func__, RF_KMALLOC)
#define kvmalloc_objs(T, n, ...) \
	((typeof(T) *)rf_alloc(rf_size_mul(sizeof(T), n), RF_GFP(__VA_ARGS__), __func__, RF_KVMALLOC))
#define kmalloc_objs(T, n, ...) \
	((typeof(T) *)rf_alloc(rf_size_mul(sizeof(T), n), RF_GFP(__VA_ARGS__), __func__, RF_KMALLOC))
#define kvmalloc_flex(T, member, n, ...) \
	((T *)rf_alloc(struct_size_t(T, member, n), RF_GFP(__VA_ARGS__), __func__, RF_KVMALLOC))
#define kmalloc_flex(T, member, n, ...) \
	((T *)rf_alloc(struct_size_t(T, member, n), RF_GFP(__VA_ARGS__), __func__, RF_KMALLOC))
/* Functions, not macros: the kernel passes kfree and kvfree as pointers. */
static inline void kvfree(const void *p) { rf_free(p); }
static inline void kfree(const void *p) { rf_free(p); }

/* ---- struct page and struct folio ---- */
/*
 * A struct page is 64 bytes in a reserved range that is never mapped: its
 * address is its identity and page + 1 is the next pfn. Every fact about
 * it is asked of the simulated machine.
 */
struct page { unsigned long rf_opaque[8]; };
struct folio { struct page page; };
extern struct page *rf_mem_map;
extern unsigned long rf_pfn_base;
static inline unsigned long page_to_pfn(const struct page *page)
{
	return (unsigned long)(page - rf_mem_map) + rf_pfn_base;
}
static inline struct page *pfn_to_page(unsigned long pfn) { return rf_mem_map + (pfn - rf_pfn_base); }
static inline struct page *compound_head(const struct page *page)
{
	return pfn_to_page(rf_compound_head(page_to_pfn(page)));
}
#define page_folio(p) ((struct folio *)compound_head(p))
#define folio_page(f, n) (&(f)->page + (n))
static inline unsigned int folio_order(const struct folio *folio)
{
	return rf_folio_order(page_to_pfn(&folio->page));
}
static inline unsigned long folio_nr_pages(const struct folio *folio) { return 1UL << folio_order(folio); }
static inline unsigned int folio_shift(const struct folio *folio) { return PAGE_SHIFT + folio_order(folio); }
static inline size_t folio_size(const struct folio *folio) { return PAGE_SIZE << folio_order(folio); }
static inline unsigned long folio_page_idx(const struct folio *folio, const struct page *page)
{
	return page - &folio->page;
}
static inline bool folio_test_large(const struct folio *folio) { return folio_order(folio) > 0; }
static inline bool folio_test_hugetlb(const struct folio *folio)
{
	return rf_folio_hugetlb(page_to_pfn(&folio->page));
}
static inline bool PageHead(const struct page *page)
{
	return compound_head(page) == page && folio_order((const struct folio *)page) > 0;
}
static inline bool PageTail(const struct page *page) { return compound_head(page) != page; }
static inline bool PageCompound(const struct page *page)
{
	return folio_order(page_folio(page)) > 0;
}
static inline bool PageHuge(const struct page *page) { return folio_test_hugetlb(page_folio(page)); }
/* The kernel's: the folio's order for a head page, 0 for a tail page. */
static inline unsigned int compound_order(const struct page *page)
{
	return PageTail(page) ? 0 : folio_order((const struct folio *)page);
}
static inline size_t page_size(const struct page *page) { return PAGE_SIZE << compound_order(page); }
static inline unsigned int page_shift(const struct page *page) { return PAGE_SHIFT + compound_order(page); }

/* ---- GUP ---- */
#define FOLL_WRITE 0x01u
#define FOLL_LONGTERM 0x100u
long rf_pin_user_pages_fast(unsigned long start, long nr_pages, unsigned int gup_flags,
			    struct page **pages);
void rf_unpin_user_pages(struct page **pages, unsigned long npages, const char *caller);
#define pin_user_pages_fast(start, nr, flags, pages) \
	((int)rf_pin_user_pages_fast((unsigned long)(start), (nr), (flags), (pages)))
#define unpin_user_pages(pages, n) rf_unpin_user_pages((pages), (n), "unpin_user_pages")
#define unpin_user_page(page) rf_unpin_user_page(page)
static inline void rf_unpin_user_page(struct page *page)
{
	unsigned long pfn = page_to_pfn(page);

	rf_cb.unpin_pfns(&pfn, 1, "unpin_user_page");
}
#define unpin_user_folio(folio, n) rf_cb.unpin_folio(page_to_pfn(&(folio)->page), (n))

/* ---- bio_vec and iov_iter (ITER_BVEC only) ---- */
struct bio_vec {
	struct page *bv_page;
	unsigned int bv_len;
	unsigned int bv_offset;
};
struct bvec_iter {
	unsigned long bi_sector;
	unsigned int bi_size;
	unsigned int bi_idx;
	unsigned int bi_bvec_done;
};
static inline void bvec_set_page(struct bio_vec *bv, struct page *page, unsigned int len,
				 unsigned int offset)
{
	bv->bv_page = page;
	bv->bv_len = len;
	bv->bv_offset = offset;
}
#define bvec_folio(bv) page_folio((bv)->bv_page)
/* Multi-page bvec walk; reached only by kernel (KBUF) buffers. */
static inline struct bio_vec rf_mp_bvec(const struct bio_vec *bv, struct bvec_iter it)
{
	const struct bio_vec *cur = &bv[it.bi_idx];
	struct bio_vec r = { cur->bv_page, min(it.bi_size, cur->bv_len - it.bi_bvec_done),
			     cur->bv_offset + it.bi_bvec_done };
	return r;
}
static inline void bvec_iter_advance_single(const struct bio_vec *bv, struct bvec_iter *it,
					    unsigned int bytes)
{
	unsigned int done = it->bi_bvec_done + bytes;

	if (done == bv[it->bi_idx].bv_len) {
		done = 0;
		it->bi_idx++;
	}
	it->bi_bvec_done = done;
	it->bi_size -= bytes;
}
static inline bool bvec_iter_advance(const struct bio_vec *bv, struct bvec_iter *it,
				     unsigned int bytes)
{
	if (WARN_ON_ONCE(bytes > it->bi_size)) {
		it->bi_size = 0;
		return false;
	}
	while (bytes) {
		unsigned int left = bv[it->bi_idx].bv_len - it->bi_bvec_done;
		unsigned int step = min(left, bytes);

		bvec_iter_advance_single(bv, it, step);
		bytes -= step;
	}
	return true;
}
#define for_each_mp_bvec(bvl, bio_vec, iter, start) \
	for (iter = (start); (iter).bi_size && ((bvl = rf_mp_bvec((bio_vec), (iter))), 1); \
	     bvec_iter_advance_single((bio_vec), &(iter), (bvl).bv_len))

struct iovec {
	void __user *iov_base;
	size_t iov_len;
};
struct compat_iovec {
	compat_uptr_t iov_base;
	compat_ssize_t iov_len;
};
#define ITER_SOURCE 1
#define ITER_DEST 0
enum iter_type { ITER_UBUF, ITER_IOVEC, ITER_BVEC, ITER_KVEC };
struct iov_iter {
	u8 iter_type;
	bool data_source;
	size_t iov_offset;
	const struct bio_vec *bvec;
	unsigned long nr_segs;
	size_t count;
};
static inline void iov_iter_bvec(struct iov_iter *i, unsigned int direction,
				 const struct bio_vec *bvec, unsigned long nr_segs, size_t count)
{
	i->iter_type = ITER_BVEC;
	i->data_source = direction;
	i->bvec = bvec;
	i->nr_segs = nr_segs;
	i->iov_offset = 0;
	i->count = count;
}
/* lib/iov_iter.c's bvec advance: skip whole segments, keep the rest. */
static inline void iov_iter_advance(struct iov_iter *i, size_t size)
{
	const struct bio_vec *bvec, *end;

	if (size > i->count)
		size = i->count;
	if (!size)
		return;
	i->count -= size;
	size += i->iov_offset;
	for (bvec = i->bvec, end = bvec + i->nr_segs; bvec < end; bvec++) {
		if (size < bvec->bv_len)
			break;
		size -= bvec->bv_len;
	}
	i->iov_offset = size;
	i->nr_segs -= bvec - i->bvec;
	i->bvec = bvec;
}

/* ---- user copies ---- */
static inline unsigned long copy_from_user(void *to, const void __user *from, unsigned long n)
{
	if (rf_copy_from_user_faults())
		return n;
	memcpy(to, from, n);
	return 0;
}
/* lib/iov_iter.c's iovec_from_user, native layout: one user copy for the array. */
static inline struct iovec *iovec_from_user(const struct iovec __user *uvec, unsigned long nr_segs,
					    unsigned long fast_segs, struct iovec *fast_iov,
					    bool compat)
{
	struct iovec *iov = fast_iov;
	unsigned long i;

	(void)compat;
	if (nr_segs == 0)
		return iov;
	if (nr_segs > UIO_MAXIOV)
		return ERR_PTR(-EINVAL);
	if (nr_segs > fast_segs) {
		iov = kmalloc_array(nr_segs, sizeof(struct iovec), GFP_KERNEL);
		if (!iov)
			return ERR_PTR(-ENOMEM);
	}
	if (rf_copy_from_user_faults()) {
		if (iov != fast_iov)
			kfree(iov);
		return ERR_PTR(-EFAULT);
	}
	for (i = 0; i < nr_segs; i++) {
		iov[i] = uvec[i];
		if ((ssize_t)iov[i].iov_len < 0) {
			if (iov != fast_iov)
				kfree(iov);
			return ERR_PTR(-EINVAL);
		}
	}
	return iov;
}

/* ---- accounting ---- */
#define RLIMIT_MEMLOCK 8
#define rlimit(r) rf_rlimit_memlock()
#define CAP_IPC_LOCK 14
struct user_struct { atomic_long_t locked_vm; };
struct mm_struct { atomic64_t pinned_vm; };

/* ---- xarray: ctx->hpage_acct ---- */
/*
 * Indexed by a head page's address. xa_reserve() allocates the slot the
 * kernel's xa_node would hold (XA_NODE bytes, the model's size), xa_erase()
 * and xa_destroy() free it.
 */
struct rf_xa_entry {
	unsigned long index;
	void *value;
	void *slot;
};
struct xarray {
	struct rf_xa_entry *ents;
	unsigned long nr, cap;
};
#define RF_XA_NODE_SIZE 576
static inline void *xa_mk_value(unsigned long v) { return (void *)((v << 1) | 1); }
static inline unsigned long xa_to_value(const void *entry) { return (unsigned long)entry >> 1; }
static inline struct rf_xa_entry *rf_xa_find(struct xarray *xa, unsigned long index)
{
	unsigned long i;

	for (i = 0; i < xa->nr; i++)
		if (xa->ents[i].index == index)
			return &xa->ents[i];
	return NULL;
}
static inline void *xa_load(struct xarray *xa, unsigned long index)
{
	struct rf_xa_entry *e = rf_xa_find(xa, index);

	return e ? e->value : NULL;
}
int rf_xa_grow(struct xarray *xa);
#define xa_reserve(xa, index, gfp) rf_xa_reserve((xa), (index), (gfp), __func__)
static inline int rf_xa_reserve(struct xarray *xa, unsigned long index, gfp_t gfp, const char *caller)
{
	struct rf_xa_entry *e = rf_xa_find(xa, index);
	void *slot;

	if (e)
		return 0;
	slot = rf_alloc(RF_XA_NODE_SIZE, gfp, caller, RF_XA);
	if (!slot)
		return -ENOMEM;
	if (rf_xa_grow(xa)) {
		rf_free(slot);
		return -ENOMEM;
	}
	xa->ents[xa->nr].index = index;
	xa->ents[xa->nr].value = NULL;
	xa->ents[xa->nr].slot = slot;
	xa->nr++;
	return 0;
}
static inline void *xa_store(struct xarray *xa, unsigned long index, void *entry, gfp_t gfp)
{
	struct rf_xa_entry *e = rf_xa_find(xa, index);
	void *old;

	(void)gfp;
	if (!e) {
		if (rf_xa_grow(xa))
			return ERR_PTR(-ENOMEM);
		e = &xa->ents[xa->nr++];
		e->index = index;
		e->value = NULL;
		e->slot = NULL;
	}
	old = e->value;
	e->value = entry;
	return old;
}
static inline void *xa_erase(struct xarray *xa, unsigned long index)
{
	struct rf_xa_entry *e = rf_xa_find(xa, index);
	void *old;

	if (!e)
		return NULL;
	old = e->value;
	if (e->slot)
		rf_free(e->slot);
	*e = xa->ents[--xa->nr];
	return old;
}
void rf_xa_destroy(struct xarray *xa);
#define xa_destroy(xa) rf_xa_destroy(xa)
#define xa_init(xa) memset((xa), 0, sizeof(*(xa)))

/* ---- the ring ---- */
struct file;
struct request;
struct io_uring_cmd;
struct io_uring_sqe;
struct io_uring_region_desc;
struct vm_area_struct;
struct io_rsrc_node;
struct io_mapped_ubuf;

struct io_alloc_cache {
	void **entries;
	unsigned int nr_cached;
	unsigned int max_cached;
	unsigned int elem_size;
	unsigned int init_clear;
};
#define IO_ALLOC_CACHE_MAX 128
bool io_alloc_cache_init(struct io_alloc_cache *cache, unsigned max_nr, unsigned int size,
			 unsigned int init_bytes);
void io_alloc_cache_free(struct io_alloc_cache *cache, void (*free)(const void *));
static inline bool io_alloc_cache_put(struct io_alloc_cache *cache, void *entry)
{
	if (cache->nr_cached < cache->max_cached) {
		cache->entries[cache->nr_cached++] = entry;
		return true;
	}
	return false;
}
static inline void *io_alloc_cache_get(struct io_alloc_cache *cache)
{
	if (cache->nr_cached)
		return cache->entries[--cache->nr_cached];
	return NULL;
}
#define io_cache_alloc(cache, gfp) rf_io_cache_alloc((cache), (gfp), __func__)
static inline void *rf_io_cache_alloc(struct io_alloc_cache *cache, gfp_t gfp, const char *caller)
{
	void *obj = io_alloc_cache_get(cache);

	if (obj)
		return obj;
	return rf_alloc(cache->elem_size, gfp, caller, RF_CACHE);
}
static inline void io_cache_free(struct io_alloc_cache *cache, void *obj)
{
	if (!io_alloc_cache_put(cache, obj))
		kfree(obj);
}

#ifndef RF_USER_BUFS
struct io_rsrc_data {
	unsigned int nr;
	struct io_rsrc_node **nodes;
};
struct io_file_table {
	struct io_rsrc_data data;
	unsigned long *bitmap;
	unsigned int alloc_hint;
};
#else
/* 6.12 and before: the tree's rsrc.h defines struct io_rsrc_data. */
struct io_rsrc_data;
struct io_rsrc_node;
struct io_fixed_file { unsigned long file_ptr; };
struct io_file_table {
	struct io_fixed_file *files;
	unsigned long *bitmap;
	unsigned int alloc_hint;
};
#endif
struct iou_vec {
	union {
		struct iovec *iovec;
		struct bio_vec *bvec;
	};
	unsigned nr;
};
struct io_mapped_region {
	struct page **pages;
	void *ptr;
	unsigned nr_pages;
	unsigned flags;
};

#ifndef RF_USER_BUFS
struct io_ring_ctx {
	unsigned int flags;
	bool compat;
	struct mutex uring_lock;
	struct mutex mmap_lock;
	struct io_rsrc_data buf_table;
	struct io_file_table file_table;
	struct io_alloc_cache node_cache;
	struct io_alloc_cache imu_cache;
	struct user_struct *user;
	struct mm_struct *mm_account;
	struct xarray hpage_acct;
};
#else
/* 6.12's: a table of imu pointers, and reference nodes per generation. */
struct io_ring_ctx {
	unsigned int flags;
	bool compat;
	struct mutex uring_lock;
	struct mutex mmap_lock;
	struct io_rsrc_data *buf_data;
	struct io_mapped_ubuf **user_bufs;
	unsigned int nr_user_bufs;
	struct io_rsrc_data *file_data;
	struct io_file_table file_table;
	unsigned int nr_user_files;
	struct io_rsrc_node *rsrc_node;
	struct list_head rsrc_ref_list;
	struct io_alloc_cache rsrc_node_cache;
	unsigned int rsrc_quiesce;
	wait_queue_head_t rsrc_quiesce_wq;
	atomic_t cq_wait_nr;
	struct user_struct *user;
	struct mm_struct *mm_account;
	struct xarray hpage_acct;
};
#endif

#define REQ_F_FIXED_FILE (1ULL << 0)
#define REQ_F_NEED_CLEANUP (1ULL << 1)
#define REQ_F_BUF_NODE (1ULL << 2)
#define REQ_F_IMPORT_BUFFER (1ULL << 3)
#define REQ_F_FAIL (1ULL << 4)
struct io_kiocb {
	struct io_ring_ctx *ctx;
	unsigned long long flags;
	u16 buf_index;
	struct io_rsrc_node *buf_node;
	struct io_rsrc_node *file_node;
	struct io_rsrc_node *rsrc_node;
	struct file *file;
};

static inline bool io_is_compat(struct io_ring_ctx *ctx) { return ctx->compat; }
#define io_ring_submit_lock(ctx, flags) ((void)(ctx), (void)(flags))
#define io_ring_submit_unlock(ctx, flags) ((void)(ctx), (void)(flags))
static inline bool io_post_aux_cqe(struct io_ring_ctx *ctx, u64 user_data, s32 res, u32 cflags)
{
	(void)ctx, (void)user_data, (void)res, (void)cflags;
	return true;
}
/* Files are never registered here: the file paths only have to compile. */
static inline struct file *io_slot_file(struct io_rsrc_node *node) { (void)node; return NULL; }
static inline void fput(struct file *file) { (void)file; }
static inline void req_set_fail(struct io_kiocb *req) { req->flags |= REQ_F_FAIL; }

/* ---- uapi ---- */
#define IORING_RSRC_REGISTER_SPARSE (1U << 0)
#define IORING_SETUP_DEFER_TASKRUN (1U << 13)
#define IORING_REGISTER_FILES_SKIP (-2)
struct io_uring_rsrc_update2 {
	__u32 offset;
	__u32 resv;
	__u64 data;
	__u64 tags;
	__u32 nr;
	__u32 resv2;
};

#endif
