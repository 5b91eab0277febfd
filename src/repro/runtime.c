/* ------------------------------------------------------------------ */
/* The runtime: the same for every scenario; everything above is data. */

static int failed;
static int flip_pending; /* --flip-one-expected-byte */
static unsigned char *base;
static void *reserve_area;
static int folio_fd[N_FOLIOS + 1];
static unsigned char *folio_src[N_FOLIOS + 1]; /* anonymous folios */
static unsigned char *folio_scratch[N_FOLIOS + 1]; /* and their areas */
/* fork()ed children that still map a private hugetlb page, and the page
 * frame each page had after the fork. */
static pid_t child_pid[N_FOLIOS + 1];
static int child_folio[N_FOLIOS + 1], nchildren;
static unsigned long long child_pfn[N_FOLIOS + 1];
static unsigned long long folio_pfn[N_FOLIOS + 1];
static unsigned char *shadow[N_FOLIOS + 1];

#define MAX_GUARDS 8
static int nguards;
static int guard_fd[MAX_GUARDS];
static unsigned char *guard_mem[MAX_GUARDS];
static char guard_text[MAX_GUARDS][96];

/* Knobs put back at exit, also from a signal handler (so plain strings
 * and write(2) only). */
struct knob {
	const char *path;
	char old[64];
	int set;
};
static struct knob knob_2m = {
	"/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "", 0
};
static struct knob knob_1g = {
	"/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages", "", 0
};
static struct knob knob_mthp = {
	"/sys/kernel/mm/transparent_hugepage/hugepages-16kB/enabled", "", 0
};
static struct knob knob_shmem_pmd = {
	"/sys/kernel/mm/transparent_hugepage/shmem_enabled", "", 0
};
static struct knob knob_shmem_16k = {
	"/sys/kernel/mm/transparent_hugepage/hugepages-16kB/shmem_enabled", "", 0
};

static void knob_restore(struct knob *k)
{
	int fd;

	if (!k->set)
		return;
	fd = open(k->path, O_WRONLY);
	if (fd >= 0) {
		if (write(fd, k->old, strlen(k->old)) < 0) {
			/* nothing more can be done from here */
		}
		close(fd);
	}
	k->set = 0;
}

static void restore_knobs(void)
{
	knob_restore(&knob_shmem_16k);
	knob_restore(&knob_shmem_pmd);
	knob_restore(&knob_mthp);
	knob_restore(&knob_1g);
	knob_restore(&knob_2m);
}

static void on_signal(int sig)
{
	restore_knobs();
	_exit(128 + sig);
}

static void finish(int code)
{
	restore_knobs();
	if (code == EXIT_PASS)
		printf("PASS\n");
	else if (code == EXIT_FAIL)
		printf("FAIL\n");
	exit(code);
}

static void skip(const char *fmt, ...)
{
	va_list ap;

	printf("SKIPPED: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	finish(EXIT_SKIP);
}

static void trouble(const char *fmt, ...)
{
	va_list ap;

	printf("TROUBLE (this program could not run its check): ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	finish(EXIT_TROUBLE);
}

static void fail(const char *fmt, ...)
{
	va_list ap;

	printf("  FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	failed = 1;
}

/* The initial value of byte `off` of folio `folio` (regbuf-fuzz's
 * live::layout::fill_value): aliases of one page agree. */
static uint8_t fill_value(uint32_t folio, uint64_t off)
{
	uint64_t x = off * 0x9e3779b9ULL ^ (uint64_t)folio * 0x85ebca6bULL ^
		     (off >> 12);

	return (uint8_t)(x ^ (x >> 13));
}

/* Byte k of the file fixed reads come from (live::exec::pattern). */
static uint8_t pattern(uint64_t k)
{
	return (uint8_t)((k * 2654435761ULL) >> 7) ^ (uint8_t)(k >> 12);
}

static int read_text(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	return 0;
}

static int write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n < 0 ? -1 : 0;
}

/* A "Field: value" number from a /proc file, or -1. */
static long long proc_field(const char *path, const char *field)
{
	static char text[16384];
	size_t flen = strlen(field);
	char *p;

	if (read_text(path, text, sizeof text))
		return -1;
	for (p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (!strncmp(p, field, flen) && p[flen] == ':')
			return strtoll(p + flen + 1, NULL, 10);
	return -1;
}

static long long vm_pin_kb(void)
{
	long long v = proc_field("/proc/self/status", "VmPin");

	if (v < 0)
		trouble("no VmPin in /proc/self/status");
	return v;
}

static long long hugepages_free(void)
{
	return proc_field("/proc/meminfo", "HugePages_Free");
}

/* Sets a huge page pool to its old size plus `want`; returns how many it
 * grew by. */
static long long reserve(struct knob *k, long long want)
{
	char now[64];
	long long old;

	if (!want || read_text(k->path, k->old, sizeof k->old))
		return 0;
	old = strtoll(k->old, NULL, 10);
	k->old[strcspn(k->old, "\n")] = 0;
	k->set = 1;
	snprintf(now, sizeof now, "%lld", old + want);
	write_text(k->path, now);
	if (read_text(k->path, now, sizeof now))
		return 0;
	return strtoll(now, NULL, 10) - old;
}

/* Sets a "[current] other" sysfs choice for the run. */
static void set_choice(struct knob *k, const char *value)
{
	char text[256], *a, *b;

	if (read_text(k->path, text, sizeof text))
		return;
	a = strchr(text, '[');
	b = a ? strchr(a, ']') : NULL;
	if (!b)
		return;
	*b = 0;
	snprintf(k->old, sizeof k->old, "%s", a + 1);
	k->set = 1;
	write_text(k->path, value);
}

static const char *errname(long long ret)
{
	static char buf[32];

	switch (-ret) {
	case EPERM: return "-EPERM";
	case ENXIO: return "-ENXIO";
	case ENOMEM: return "-ENOMEM";
	case EFAULT: return "-EFAULT";
	case EBUSY: return "-EBUSY";
	case EINVAL: return "-EINVAL";
	case EOVERFLOW: return "-EOVERFLOW";
	case ENOSPC: return "-ENOSPC";
	}
	snprintf(buf, sizeof buf, "%lld", ret);
	return buf;
}

static const char *ret_text(long long ret)
{
	static char buf[2][32];
	static int which;

	which ^= 1;
	if (ret < 0)
		snprintf(buf[which], sizeof buf[which], "%s", errname(ret));
	else
		snprintf(buf[which], sizeof buf[which], "%lld", ret);
	return buf[which];
}

/* ---- the ring: io_uring_setup and mmap'd SQ/CQ rings ---- */

struct ring {
	int fd;
	void *sq_ptr, *cq_ptr;
	size_t sq_len, cq_len, sqes_len;
	unsigned int *sq_head, *sq_tail, *sq_mask, *sq_array;
	unsigned int *cq_head, *cq_tail, *cq_mask;
	struct uring_sqe *sqes;
	struct uring_cqe *cqes;
};

static int ring_setup(struct ring *r, unsigned int entries)
{
	struct uring_params p;
	unsigned char *sq, *cq;
	int fd;

	memset(&p, 0, sizeof p);
	memset(r, 0, sizeof *r);
	fd = syscall(__NR_io_uring_setup, entries, &p);
	if (fd < 0)
		return -errno;
	r->fd = fd;
	r->sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned int);
	r->cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct uring_cqe);
	if (p.features & IORING_FEAT_SINGLE_MMAP) {
		if (r->cq_len > r->sq_len)
			r->sq_len = r->cq_len;
		r->cq_len = r->sq_len;
	}
	sq = mmap(NULL, r->sq_len, PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
	if (sq == MAP_FAILED)
		trouble("mmap of the SQ ring: %s", strerror(errno));
	cq = sq;
	if (!(p.features & IORING_FEAT_SINGLE_MMAP)) {
		cq = mmap(NULL, r->cq_len, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_CQ_RING);
		if (cq == MAP_FAILED)
			trouble("mmap of the CQ ring: %s", strerror(errno));
	}
	r->sqes_len = p.sq_entries * sizeof(struct uring_sqe);
	r->sqes = mmap(NULL, r->sqes_len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
	if (r->sqes == MAP_FAILED)
		trouble("mmap of the SQEs: %s", strerror(errno));
	r->sq_ptr = sq;
	r->cq_ptr = cq;
	r->sq_head = (unsigned int *)(sq + p.sq_off.head);
	r->sq_tail = (unsigned int *)(sq + p.sq_off.tail);
	r->sq_mask = (unsigned int *)(sq + p.sq_off.ring_mask);
	r->sq_array = (unsigned int *)(sq + p.sq_off.array);
	r->cq_head = (unsigned int *)(cq + p.cq_off.head);
	r->cq_tail = (unsigned int *)(cq + p.cq_off.tail);
	r->cq_mask = (unsigned int *)(cq + p.cq_off.ring_mask);
	r->cqes = (struct uring_cqe *)(cq + p.cq_off.cqes);
	return 0;
}

static void ring_close(struct ring *r)
{
	munmap(r->sqes, r->sqes_len);
	if (r->cq_ptr != r->sq_ptr)
		munmap(r->cq_ptr, r->cq_len);
	munmap(r->sq_ptr, r->sq_len);
	close(r->fd);
}

/* Submits one SQE and waits for its completion; returns cqe->res. */
static long long ring_submit(struct ring *r, const struct uring_sqe *e)
{
	unsigned int tail = *r->sq_tail, idx = tail & *r->sq_mask, head;
	long long res;

	r->sqes[idx] = *e;
	r->sq_array[idx] = idx;
	__atomic_store_n(r->sq_tail, tail + 1, __ATOMIC_RELEASE);
	for (;;) {
		int n = syscall(__NR_io_uring_enter, r->fd, 1, 1,
				IORING_ENTER_GETEVENTS, NULL, 0);

		if (n >= 0 || errno != EINTR)
			break;
	}
	head = *r->cq_head;
	while (head == __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE))
		if (syscall(__NR_io_uring_enter, r->fd, 0, 1,
			    IORING_ENTER_GETEVENTS, NULL, 0) < 0 &&
		    errno != EINTR)
			trouble("io_uring_enter: %s", strerror(errno));
	res = r->cqes[head & *r->cq_mask].res;
	__atomic_store_n(r->cq_head, head + 1, __ATOMIC_RELEASE);
	return res;
}

static long long uring_register(int fd, unsigned int opcode, void *arg,
				unsigned int nr)
{
	long ret = syscall(__NR_io_uring_register, fd, opcode, arg, nr);

	return ret < 0 ? -errno : ret;
}

/* ---- RLIMIT_MEMLOCK: the ring's creator without CAP_IPC_LOCK ---- */

struct cap_header {
	uint32_t version;
	int pid;
};

struct cap_data {
	uint32_t effective, permitted, inheritable;
};

#define CAP_IPC_LOCK 14

static int set_cap_ipc_lock(int on)
{
	struct cap_header h = { 0x20080522, 0 };
	struct cap_data d[2];

	if (syscall(SYS_capget, &h, d))
		return -1;
	if (on)
		d[0].effective |= 1U << CAP_IPC_LOCK;
	else
		d[0].effective &= ~(1U << CAP_IPC_LOCK);
	return syscall(SYS_capset, &h, d) ? -1 : 0;
}

static struct rlimit old_memlock;
static int memlock_set;

/* ctx->user is set when the creator lacks CAP_IPC_LOCK: drop it for the
 * setup. Rings close asynchronously (io_ring_exit_work), so an earlier
 * ring's regions may still be charged to this user: setup under a limit of
 * exactly the ring's own pages succeeds only once that charge is gone;
 * then the scenario's limit applies (registration reads it when it
 * charges). */
static void ring_create(struct ring *r)
{
	struct rlimit lim;
	struct timespec t0, t;
	int ret;

	if (!has_memlock) {
		ret = ring_setup(r, 8);
		if (ret)
			trouble("io_uring_setup: %s", strerror(-ret));
		return;
	}
	if (getrlimit(RLIMIT_MEMLOCK, &old_memlock))
		trouble("getrlimit: %s", strerror(errno));
	if (memlock_bytes > old_memlock.rlim_max) {
		lim.rlim_cur = lim.rlim_max = memlock_bytes;
		if (setrlimit(RLIMIT_MEMLOCK, &lim))
			skip("RLIMIT_MEMLOCK of %llu bytes is above this process's hard limit of %llu (raising it needs CAP_SYS_RESOURCE)",
			     memlock_bytes,
			     (unsigned long long)old_memlock.rlim_max);
		setrlimit(RLIMIT_MEMLOCK, &old_memlock);
	}
	memlock_set = 1;
	if (set_cap_ipc_lock(0))
		trouble("dropping CAP_IPC_LOCK: %s", strerror(errno));
	lim.rlim_cur = ring_only_bytes;
	lim.rlim_max = old_memlock.rlim_max > ring_only_bytes ?
		       old_memlock.rlim_max : ring_only_bytes;
	if (setrlimit(RLIMIT_MEMLOCK, &lim))
		trouble("setrlimit(RLIMIT_MEMLOCK): %s", strerror(errno));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		ret = ring_setup(r, 8);
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (ret != -ENOMEM || t.tv_sec - t0.tv_sec >= 5)
			break;
		usleep(1000);
	}
	if (ret)
		trouble("io_uring_setup under a %llu-byte RLIMIT_MEMLOCK (earlier rings still charged?): %s",
			ring_only_bytes, strerror(-ret));
	lim.rlim_cur = memlock_bytes;
	lim.rlim_max = old_memlock.rlim_max > memlock_bytes ?
		       old_memlock.rlim_max : memlock_bytes;
	if (setrlimit(RLIMIT_MEMLOCK, &lim))
		trouble("setrlimit(RLIMIT_MEMLOCK, %llu): %s", memlock_bytes,
			strerror(errno));
	set_cap_ipc_lock(1);
	printf("ring created without CAP_IPC_LOCK, RLIMIT_MEMLOCK %llu bytes\n",
	       memlock_bytes);
}

/* ---- the layout ---- */

/* A memfd of `size` bytes; with `populate`, allocated whole now, while
 * shmem's huge page knobs say within_size, so that shmem makes it one large
 * folio (a fault through a partial mapping would not). */
static int memfd(const char *name, unsigned int flags, unsigned long size,
		 int populate)
{
	int fd = syscall(SYS_memfd_create, name, flags);

	if (fd < 0)
		return -1;
	if (ftruncate(fd, size) || (populate && fallocate(fd, 0, 0, size))) {
		close(fd);
		return -1;
	}
	return fd;
}

/* An anonymous area of `size` bytes at its alignment under MADV_HUGEPAGE,
 * faulted in: a PMD THP, or an mTHP of that size. */
static unsigned char *anon_large(unsigned long size, unsigned char **area)
{
	unsigned char *p = mmap(NULL, 2 * size, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *src;

	if (p == MAP_FAILED)
		skip("layout not backed as asked: mmap for a large folio: %s",
		     strerror(errno));
	*area = p;
	src = (unsigned char *)(((unsigned long)p + size - 1) & ~(size - 1));
	if (madvise(src, size, MADV_HUGEPAGE))
		skip("layout not backed as asked: MADV_HUGEPAGE: %s",
		     strerror(errno));
	*(volatile unsigned char *)src = 1;
	return src;
}

static unsigned long long pfn_of(int pagemap, const void *addr)
{
	uint64_t e;

	if (pread(pagemap, &e, 8, (unsigned long)addr / PAGE * 8) != 8)
		skip("cannot read /proc/self/pagemap: %s", strerror(errno));
	if (!(e >> 63))
		return 0;
	return e & ((1ULL << 55) - 1);
}

static uint64_t kpageflags(int fd, unsigned long long pfn)
{
	uint64_t f;

	if (pread(fd, &f, 8, pfn * 8) != 8)
		skip("cannot read /proc/kpageflags: %s", strerror(errno));
	return f;
}

#define KPF_COMPOUND_HEAD (1ULL << 15)
#define KPF_COMPOUND_TAIL (1ULL << 16)
#define KPF_HUGE (1ULL << 17)
#define KPF_THP (1ULL << 22)
#define KPF_ANON (1ULL << 12)

static int kind_ok(enum folio_kind kind, uint64_t f)
{
	switch (kind) {
	case SMALL:
		return !(f & (KPF_COMPOUND_HEAD | KPF_COMPOUND_TAIL));
	case MTHP:
	case THP:
	case SHMEM_THP: /* KPF_THP: any large rmappable folio */
	case SHMEM_MTHP:
		return !!(f & KPF_THP);
	case HUGETLB_PMD_PRIVATE: /* written: an anonymous hugetlb folio */
	case HUGETLB_PUD_PRIVATE:
		return (f & (KPF_HUGE | KPF_ANON)) == (KPF_HUGE | KPF_ANON);
	default: /* a memfd's hugetlb page: a file page */
		return (f & (KPF_HUGE | KPF_ANON)) == KPF_HUGE;
	}
}

/* The fork()s the layout asks for, one per forked private hugetlb page:
 * every other mapping of the reservation is MADV_DONTFORK, so the child
 * shares that page alone. A FORK_EXITED child exits at once; a
 * FORK_CHILD_MAPS one waits until it is killed at the end. */
static void fork_children(void)
{
	int i;

	for (i = 0; i < N_SEGMENTS; i++) {
		const struct segment *s = &segments[i];
		pid_t pid;

		if (s->folio < 0 || folios[s->folio].fork == NO_FORK)
			continue;
		if (madvise(reserve_area, reserve_bytes, MADV_DONTFORK) ||
		    madvise(base + s->offset, s->bytes, MADV_DOFORK))
			skip("madvise(MADV_DONTFORK/MADV_DOFORK): %s", strerror(errno));
		pid = fork();
		if (pid < 0)
			trouble("fork: %s", strerror(errno));
		if (!pid) {
			if (folios[s->folio].fork == FORK_EXITED)
				_exit(0);
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			for (;;)
				pause();
		}
		if (folios[s->folio].fork == FORK_EXITED) {
			waitpid(pid, NULL, 0);
			continue;
		}
		child_folio[nchildren] = s->folio;
		child_pid[nchildren++] = pid;
	}
	if (madvise(reserve_area, reserve_bytes, MADV_DOFORK))
		skip("madvise(MADV_DOFORK): %s", strerror(errno));
}

/* How many pages a live child maps have moved to a new page frame here:
 * those a pin has copied (hugetlb's COW). */
static unsigned int copies_made(void)
{
	int pagemap = open("/proc/self/pagemap", O_RDONLY);
	unsigned int n = 0;
	int c, i;

	if (pagemap < 0)
		trouble("cannot open /proc/self/pagemap: %s", strerror(errno));
	for (c = 0; c < nchildren; c++)
		for (i = 0; i < N_SEGMENTS; i++)
			if (segments[i].folio == child_folio[c]) {
				n += pfn_of(pagemap, base + segments[i].offset) != child_pfn[c];
				break;
			}
	close(pagemap);
	return n;
}

static void kill_children(void)
{
	int c;

	for (c = 0; c < nchildren; c++) {
		kill(child_pid[c], SIGKILL);
		waitpid(child_pid[c], NULL, 0);
	}
	nchildren = 0;
}

/* Checks through pagemap and kpageflags that each segment is backed by the
 * kind and order of folio the scenario names, and that all mappings of one
 * folio see the same pages in the same order. */
static void verify(void)
{
	int pagemap = open("/proc/self/pagemap", O_RDONLY);
	int flags = open("/proc/kpageflags", O_RDONLY);
	int i, k;

	if (pagemap < 0 || flags < 0)
		skip("cannot open /proc/self/pagemap or /proc/kpageflags: %s",
		     strerror(errno));
	for (i = 0; i < N_SEGMENTS; i++) {
		const struct segment *s = &segments[i];
		const struct folio *f;
		unsigned long pages = s->bytes / PAGE;

		if (s->folio < 0)
			continue;
		f = &folios[s->folio];
		for (k = 0; k < 2; k++) {
			unsigned long page = k ? pages - 1 : 0;
			unsigned long long pfn =
				pfn_of(pagemap, base + s->offset + page * PAGE);
			unsigned long long fb;
			uint64_t fl;

			if (!pfn)
				skip("layout not backed as asked: segment %d page %lu is not present",
				     i, page);
			fb = pfn - s->first_page - page;
			if (!folio_pfn[s->folio])
				folio_pfn[s->folio] = fb;
			if (folio_pfn[s->folio] != fb)
				skip("layout not backed as asked: segment %d does not map folio %d's pages in order",
				     i, s->folio);
			fl = kpageflags(flags, pfn);
			if (!kind_ok(f->kind, fl) ||
			    (f->nr_pages > 1 &&
			     (!(kpageflags(flags, fb) & KPF_COMPOUND_HEAD) ||
			      (kpageflags(flags, fb + f->nr_pages) &
			       KPF_COMPOUND_TAIL))))
				skip("layout not backed as asked: segment %d: folio %d is not a %s of %lu pages here (kpageflags 0x%llx)",
				     i, s->folio, kind_name[f->kind], f->nr_pages,
				     (unsigned long long)fl);
		}
	}
	close(pagemap);
	close(flags);
}

/* Reserves the address space (PROT_NONE: holes stay unmapped to GUP), maps
 * every segment at base + offset, fills it, and checks its backing. */
static void build_layout(void)
{
	unsigned long gib = 1UL << 30;
	int i;

	reserve_area = mmap(NULL, reserve_bytes, PROT_NONE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (reserve_area == MAP_FAILED)
		skip("cannot reserve %lu bytes of address space: %s",
		     reserve_bytes, strerror(errno));
	base = (unsigned char *)(((unsigned long)reserve_area + 2 * gib - 1) &
				 ~(gib - 1));
	for (i = 0; i < N_FOLIOS; i++) {
		folio_fd[i] = -1;
		if (folios[i].map_hugetlb)
			continue; /* mapped in place below */
		if (!folios[i].memfd_name) {
			folio_src[i] = anon_large(folios[i].size,
						  &folio_scratch[i]);
			continue;
		}
		folio_fd[i] = memfd(folios[i].memfd_name,
				    folios[i].memfd_flags, folios[i].size,
				    folios[i].populate);
		if (folio_fd[i] < 0)
			skip("layout not backed as asked: memfd_create (or fallocate) %s: %s",
			     folios[i].memfd_name, strerror(errno));
	}
	for (i = 0; i < N_SEGMENTS; i++) {
		const struct segment *s = &segments[i];
		unsigned char *at = base + s->offset;

		if (s->folio < 0)
			continue;
		if (folios[s->folio].map_hugetlb) {
			/* As liburing's fixed-hugepage.c maps its buffers; the
			 * fill's writes fault the page in. */
			if (mmap(at, s->bytes, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED |
				 folios[s->folio].map_hugetlb, -1, 0) == MAP_FAILED)
				skip("layout not backed as asked: MAP_PRIVATE hugetlb mmap of segment %d (folio %d): %s",
				     i, s->folio, strerror(errno));
		} else if (folio_fd[s->folio] >= 0) {
			if (mmap(at, s->bytes, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_FIXED, folio_fd[s->folio],
				 s->first_page * PAGE) == MAP_FAILED)
				skip("layout not backed as asked: mmap of segment %d (folio %d): %s",
				     i, s->folio, strerror(errno));
		} else if (mremap(folio_src[s->folio] + s->first_page * PAGE,
				  s->bytes, s->bytes,
				  MREMAP_MAYMOVE | MREMAP_FIXED, at) ==
			   MAP_FAILED) {
			skip("layout not backed as asked: mremap of THP pages into segment %d: %s",
			     i, strerror(errno));
		}
	}
	for (i = 0; i < N_SEGMENTS; i++) {
		const struct segment *s = &segments[i];
		unsigned long j;

		if (s->folio < 0)
			continue;
		for (j = 0; j < s->bytes; j++)
			base[s->offset + j] =
				fill_value(s->folio, s->first_page * PAGE + j);
	}
	for (i = 0; i < N_SEGMENTS; i++)
		if (segments[i].readonly &&
		    mprotect(base + segments[i].offset, segments[i].bytes,
			     PROT_READ))
			skip("mprotect: %s", strerror(errno));
	fork_children();
	verify();
	for (i = 0; i < nchildren; i++) {
		int pagemap = open("/proc/self/pagemap", O_RDONLY);
		int k;

		for (k = 0; k < N_SEGMENTS; k++)
			if (segments[k].folio == child_folio[i])
				child_pfn[i] = pfn_of(pagemap, base + segments[k].offset);
		close(pagemap);
	}
	for (i = 0; i < N_FOLIOS; i++) {
		unsigned long bytes = folios[i].nr_pages * PAGE, j;

		shadow[i] = malloc(bytes);
		if (!shadow[i])
			trouble("no memory for the expected contents of folio %d", i);
		for (j = 0; j < bytes; j++)
			shadow[i][j] = fill_value(i, j);
	}
	for (i = 0; i < N_SEGMENTS; i++) {
		const struct segment *s = &segments[i];

		if (s->folio < 0)
			printf("  seg %d  %p  hole of %lu bytes (PROT_NONE)\n",
			       i, (void *)(base + s->offset), s->bytes);
		else
			printf("  seg %d  %p  %lu bytes: folio %d (%s) pages %lu-%lu, pfn 0x%llx%s\n",
			       i, (void *)(base + s->offset), s->bytes,
			       s->folio, kind_name[folios[s->folio].kind],
			       s->first_page, s->first_page + s->bytes / PAGE - 1,
			       folio_pfn[s->folio] + s->first_page,
			       s->readonly ? ", read-only" : "");
	}
}

/* Maps spare 2 MiB hugetlb pages and keeps those physically adjacent to a
 * hugetlb folio of the layout, filled with their own pattern: I/O that
 * leaves the folio it pinned shows as changed bytes there. */
static void map_guards(int count)
{
	int pagemap = open("/proc/self/pagemap", O_RDONLY);
	int g, i;

	for (g = 0; g < count && pagemap >= 0; g++) {
		int fd = memfd("regbuf-guard", MFD_HUGETLB | (21U << 26), 2UL << 20, 0);
		unsigned char *m;
		unsigned long long pfn;
		const char *where = NULL;
		unsigned long j;

		if (fd < 0)
			break;
		m = mmap(NULL, 2UL << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (m == MAP_FAILED) {
			close(fd);
			break;
		}
		for (j = 0; j < 2UL << 20; j++)
			m[j] = fill_value(1000 + nguards, j);
		pfn = pfn_of(pagemap, m);
		for (i = 0; i < N_FOLIOS && !where && pfn; i++) {
			if (folios[i].kind != HUGETLB_PMD &&
			    folios[i].kind != HUGETLB_PMD_PRIVATE)
				continue;
			if (pfn == folio_pfn[i] + folios[i].nr_pages)
				where = "right after";
			else if (pfn + 512 == folio_pfn[i])
				where = "right before";
			if (where)
				snprintf(guard_text[nguards], sizeof guard_text[nguards],
					 "guard page at pfn 0x%llx, %s folio %d", pfn,
					 where, i);
		}
		if (!where) {
			munmap(m, 2UL << 20);
			close(fd);
			continue;
		}
		guard_fd[nguards] = fd;
		guard_mem[nguards] = m;
		printf("  %s\n", guard_text[nguards]);
		nguards++;
	}
	if (pagemap >= 0)
		close(pagemap);
	if (count && !nguards)
		printf("  none of %d spare huge pages is physically next to a folio of the layout: no guard pages this run\n",
		       count);
}

/* The hugetlb pool hands out the most recently freed page first. Taking
 * every free 2 MiB page, reading where each lies and giving them back in a
 * chosen order makes the layout's hugetlb folios land on pages with free
 * neighbours, and the guard pages on those neighbours. Returns how many
 * guard pages to map, or -1 when the pool could not be arranged. */
#define MAX_POOL 64
static int arrange_pool(void)
{
	unsigned long long pfn[MAX_POOL];
	int n, i, j, k, order[MAX_POOL], norder = 0, nguard = 0;
	int used[MAX_POOL] = { 0 }, first[N_FOLIOS + 1];
	int guard[MAX_POOL], pagemap, fd;
	unsigned char *m;
	char text[32];

	if (!need_2m || read_text("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages",
				  text, sizeof text))
		return -1;
	n = atoi(text);
	if (n > MAX_POOL)
		n = MAX_POOL;
	if (n <= need_2m)
		return -1;
	fd = memfd("regbuf-pool", MFD_HUGETLB | (21U << 26), (unsigned long)n << 21, 0);
	if (fd < 0)
		return -1;
	m = mmap(NULL, (unsigned long)n << 21, PROT_READ | PROT_WRITE,
		 MAP_SHARED, fd, 0);
	pagemap = open("/proc/self/pagemap", O_RDONLY);
	if (m == MAP_FAILED || pagemap < 0) {
		close(fd);
		return -1;
	}
	for (i = 0; i < n; i++) {
		m[(unsigned long)i << 21] = 0;
		pfn[i] = pfn_of(pagemap, m + ((unsigned long)i << 21));
	}
	close(pagemap);
	/* The layout's 2 MiB folios in the order the fill first touches them. */
	for (i = 0, k = 0; i < N_SEGMENTS; i++) {
		int f = segments[i].folio, seen = 0;

		if (f < 0 || (folios[f].kind != HUGETLB_PMD &&
			      folios[f].kind != HUGETLB_PMD_PRIVATE))
			continue;
		for (j = 0; j < k; j++)
			seen |= first[j] == f;
		if (!seen)
			first[k++] = f;
	}
	/* Each folio takes the free page with the most free neighbours. */
	for (j = 0; j < k; j++) {
		int best = -1, best_n = -1;

		for (i = 0; i < n; i++) {
			int nb = 0, x;

			if (used[i])
				continue;
			for (x = 0; x < n; x++)
				nb += !used[x] && (pfn[x] == pfn[i] + 512 ||
						   pfn[x] + 512 == pfn[i]);
			if (nb > best_n) {
				best = i;
				best_n = nb;
			}
		}
		used[best] = 1;
		order[norder++] = best;
		for (i = 0; i < n; i++)
			if (!used[i] && (pfn[i] == pfn[best] + 512 ||
					 pfn[i] + 512 == pfn[best]) &&
			    nguard < MAX_GUARDS) {
				used[i] = 1;
				guard[nguard++] = i;
			}
	}
	/* Unused pages back first, then the wanted order reversed. */
	for (i = 0; i < n; i++)
		if (!used[i])
			fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				  (long)i << 21, 2UL << 20);
	for (i = nguard - 1; i >= 0; i--)
		fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			  (long)guard[i] << 21, 2UL << 20);
	for (i = norder - 1; i >= 0; i--)
		fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			  (long)order[i] << 21, 2UL << 20);
	munmap(m, (unsigned long)n << 21);
	close(fd);
	if (!nguard)
		printf("  none of the %d free 2 MiB pages is physically next to another: no guard pages this run\n",
		       n);
	return nguard;
}

/* ---- the checks ---- */

static int pattern_fd, sink_fd;

static void make_files(void)
{
	static unsigned char chunk[1 << 16];
	unsigned long long k, j;

	pattern_fd = memfd("regbuf-pattern", 0, 0, 0);
	sink_fd = memfd("regbuf-sink", 0, 0, 0);
	if (pattern_fd < 0 || sink_fd < 0)
		trouble("memfd_create: %s", strerror(errno));
	for (k = 0; k < pattern_bytes; k += sizeof chunk) {
		for (j = 0; j < sizeof chunk; j++)
			chunk[j] = pattern(k + j);
		if (pwrite(pattern_fd, chunk, sizeof chunk, k) != sizeof chunk)
			trouble("writing the pattern file: %s", strerror(errno));
	}
}

/* Compares every mapped byte of the layout with the expected contents of
 * its folio, and every guard page with its fill. */
static void check_memory(int i)
{
	int s, g;

	for (s = 0; s < N_SEGMENTS; s++) {
		const struct segment *sg = &segments[s];
		unsigned char *mem = base + sg->offset, *want;
		unsigned long j, bad = 0, first = 0;

		if (sg->folio < 0)
			continue;
		want = shadow[sg->folio] + sg->first_page * PAGE;
		if (!memcmp(mem, want, sg->bytes))
			continue;
		for (j = 0; j < sg->bytes; j++)
			if (mem[j] != want[j] && !bad++)
				first = j;
		fail("op %d: byte 0x%lx of segment %d (address %p, folio %d page %lu +0x%lx, pfn 0x%llx): expected 0x%02x, got 0x%02x; %lu bytes of the segment differ",
		     i, first, s, (void *)(mem + first), sg->folio,
		     sg->first_page + first / PAGE, first % PAGE,
		     folio_pfn[sg->folio] + sg->first_page + first / PAGE,
		     want[first], mem[first], bad);
		/* Report each difference once: expect what is there now. */
		memcpy(want, mem, sg->bytes);
	}
	for (g = 0; g < nguards; g++) {
		unsigned long j;

		for (j = 0; j < 2UL << 20; j++)
			if (guard_mem[g][j] != fill_value(1000 + g, j))
				break;
		if (j == 2UL << 20)
			continue;
		fail("op %d: byte 0x%lx of the %s changed: expected 0x%02x, got 0x%02x (memory outside every folio of the layout)",
		     i, j, guard_text[g], fill_value(1000 + g, j), guard_mem[g][j]);
		guard_mem[g][j] = fill_value(1000 + g, j);
	}
}

static void check_read(int i, const struct op *o)
{
	unsigned int p;
	unsigned long long j;

	for (p = o->piece; p < o->piece + o->npieces; p++) {
		const struct piece *pc = &pieces[p];

		for (j = 0; j < pc->len; j++)
			shadow[pc->folio][pc->off + j] = pattern(pc->k + j);
	}
	if (flip_pending && o->npieces) {
		shadow[pieces[o->piece].folio][pieces[o->piece].off] ^= 0xff;
		flip_pending = 0;
		printf("  (--flip-one-expected-byte: the first byte this read should write is expected wrong on purpose)\n");
	}
	check_memory(i);
}

static void check_write(int i, const struct op *o)
{
	unsigned long long total = 0, at = 0, j;
	unsigned char *want, *got;
	unsigned int p;

	for (p = o->piece; p < o->piece + o->npieces; p++)
		total += pieces[p].len;
	want = malloc(total + 1);
	got = malloc(total + 1);
	if (!want || !got)
		trouble("no memory for %llu bytes", total);
	for (p = o->piece; p < o->piece + o->npieces; p++) {
		memcpy(want + at, shadow[pieces[p].folio] + pieces[p].off,
		       pieces[p].len);
		at += pieces[p].len;
	}
	if (flip_pending && total) {
		want[0] ^= 0xff;
		flip_pending = 0;
		printf("  (--flip-one-expected-byte: the first byte this write should send is expected wrong on purpose)\n");
	}
	if (pread(sink_fd, got, total, 0) != (ssize_t)total)
		fail("op %d: the file holds fewer than the %llu bytes written", i,
		     total);
	else
		for (j = 0; j < total; j++)
			if (got[j] != want[j]) {
				fail("op %d: byte 0x%llx written by the fixed write: expected 0x%02x, got 0x%02x",
				     i, j, want[j], got[j]);
				break;
			}
	free(want);
	free(got);
	check_memory(i);
}

static unsigned long long addr_of(const struct iov *v)
{
	return v->at_base ? (unsigned long long)(unsigned long)base + v->addr :
			    v->addr;
}

static struct iovec *iovecs(const struct op *o)
{
	struct iovec *v = calloc(o->nr + 1, sizeof *v);
	unsigned int j;

	if (!v)
		trouble("no memory");
	for (j = 0; j < o->nr; j++) {
		v[j].iov_base = (void *)(unsigned long)addr_of(&iovs[o->iov + j]);
		v[j].iov_len = iovs[o->iov + j].len;
	}
	return v;
}

/* IORING_OP_READV_FIXED and IORING_OP_WRITEV_FIXED came with Linux 6.15:
 * on an older kernel an operation of that kind is not run (and said so),
 * rather than reported as a wrong return value. Asked once with
 * IORING_REGISTER_PROBE. Skipping one keeps the shadow copy and memory
 * in step: neither is touched. */
#define IORING_REGISTER_PROBE 8
#define IO_URING_OP_SUPPORTED 1U

struct uring_probe {
	uint8_t last_op, ops_len;
	uint16_t resv;
	uint32_t resv2[3];
	struct {
		uint8_t op, resv;
		uint16_t flags;
		uint32_t resv2;
	} ops[256];
};

static int vectored_fixed_supported(int fd)
{
	static struct uring_probe p;

	memset(&p, 0, sizeof p);
	if (uring_register(fd, IORING_REGISTER_PROBE, &p, 256) < 0)
		return 0;
	return p.last_op >= IORING_OP_WRITEV_FIXED &&
	       (p.ops[IORING_OP_READV_FIXED].flags & IO_URING_OP_SUPPORTED) &&
	       (p.ops[IORING_OP_WRITEV_FIXED].flags & IO_URING_OP_SUPPORTED);
}

static long long run_op(struct ring *r, const struct op *o)
{
	struct uring_sqe e;
	struct iovec *v = NULL;
	long long ret;

	memset(&e, 0, sizeof e);
	switch (o->kind) {
	case REGISTER:
		v = iovecs(o);
		ret = uring_register(r->fd, IORING_REGISTER_BUFFERS, v, o->nr);
		break;
	case REGISTER_SPARSE: {
		struct rsrc_register rr = { .nr = o->nr,
					    .flags = IORING_RSRC_REGISTER_SPARSE };

		ret = uring_register(r->fd, IORING_REGISTER_BUFFERS2, &rr,
				     sizeof rr);
		break;
	}
	case UPDATE: {
		struct rsrc_update2 up = { .offset = o->slot, .nr = o->nr };

		v = iovecs(o);
		up.data = (unsigned long)v;
		ret = uring_register(r->fd, IORING_REGISTER_BUFFERS_UPDATE,
				     &up, sizeof up);
		break;
	}
	case UNREGISTER:
		ret = uring_register(r->fd, IORING_UNREGISTER_BUFFERS, NULL, 0);
		break;
	default:
		if (o->kind == WRITE_FIXED || o->kind == WRITEV_FIXED) {
			if (ftruncate(sink_fd, 0))
				trouble("ftruncate: %s", strerror(errno));
			e.fd = sink_fd;
		} else {
			e.fd = pattern_fd;
		}
		e.buf_index = o->slot;
		e.off = 0;
		if (o->kind == READ_FIXED || o->kind == WRITE_FIXED) {
			e.opcode = o->kind == READ_FIXED ? IORING_OP_READ_FIXED :
							   IORING_OP_WRITE_FIXED;
			e.addr = addr_of(&iovs[o->iov]);
			e.len = iovs[o->iov].len;
		} else {
			v = iovecs(o);
			e.opcode = o->kind == READV_FIXED ? IORING_OP_READV_FIXED :
							    IORING_OP_WRITEV_FIXED;
			e.addr = (unsigned long)v;
			e.len = o->nr;
		}
		ret = ring_submit(r, &e);
	}
	free(v);
	return ret;
}

int main(int argc, char **argv)
{
	struct ring probe, ring;
	long long pin0, pin, hp0, hp = -1, got_2m = 0, got_1g = 0;
	int i, g, ret, arranged, vectored;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--flip-one-expected-byte")) {
			flip_pending = 1;
			continue;
		}
		fprintf(stderr, "usage: %s [--flip-one-expected-byte]\n"
			"  exit 0 PASS, 1 FAIL, 77 skipped (with the reason), 2 trouble\n"
			"  --flip-one-expected-byte: expect one byte wrong on purpose, to see\n"
			"  the checker FAIL\n", argv[0]);
		return EXIT_TROUBLE;
	}
	printf("regbuf-fuzz reproducer of %s\n", corpus_file);
	if (unsupported)
		skip("%s", unsupported);
	if (geteuid())
		skip("not root: huge pages cannot be reserved and /proc/kpageflags cannot be read");
	ret = ring_setup(&probe, 2);
	if (ret)
		skip("io_uring_setup fails here: %s", strerror(-ret));
	ring_close(&probe);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);

	got_2m = reserve(&knob_2m, need_2m ? need_2m + spare_2m : 0);
	got_1g = reserve(&knob_1g, need_1g);
	if (got_2m < need_2m)
		skip("could reserve %lld of the %d 2 MiB huge pages needed (memory too fragmented?)",
		     got_2m, need_2m);
	if (got_1g < need_1g)
		skip("could reserve %lld of the %d 1 GiB huge pages needed",
		     got_1g, need_1g);
	if (need_mthp)
		set_choice(&knob_mthp, "madvise");
	if (need_shmem) {
		set_choice(&knob_shmem_pmd, "within_size");
		set_choice(&knob_shmem_16k, "within_size");
	}
	arranged = arrange_pool();
	hp0 = hugepages_free();

	printf("layout:\n");
	build_layout();
	map_guards(arranged >= 0 ? arranged :
		   got_2m - need_2m < MAX_GUARDS ? got_2m - need_2m : MAX_GUARDS);
	make_files();
	ring_create(&ring);
	pin0 = vm_pin_kb();

	vectored = vectored_fixed_supported(ring.fd);
	for (i = 0; i < N_OPS; i++) {
		const struct op *o = &ops[i];
		long long got;

		if (!vectored && (o->kind == READV_FIXED || o->kind == WRITEV_FIXED)) {
			printf("op %d %s: not run: this kernel has no IORING_OP_%s (Linux 6.15 and later)\n",
			       i, o->what, o->kind == READV_FIXED ? "READV_FIXED" : "WRITEV_FIXED");
			continue;
		}
		got = run_op(&ring, o);

		printf("op %d %s: %s\n", i, o->what, ret_text(got));
		if (got != o->want_ret)
			fail("op %d returned %s, expected %s", i, ret_text(got),
			     ret_text(o->want_ret));
		else if (o->check && (o->kind == READ_FIXED || o->kind == READV_FIXED))
			check_read(i, o);
		else if (o->check)
			check_write(i, o);
		if (nchildren && copies_made() != o->want_copies)
			fail("op %d: %u of the pages a fork()ed child still maps have been copied, expected %u",
			     i, copies_made(), o->want_copies);
		pin = vm_pin_kb() - pin0;
		if (pin != (long long)o->want_pin_kb)
			fail("op %d: VmPin is %+lld kB from its value after ring setup, expected %+lld kB",
			     i, pin, (long long)o->want_pin_kb);
	}

	/* Ring exit: unregister synchronously, then close. */
	uring_register(ring.fd, IORING_UNREGISTER_BUFFERS, NULL, 0);
	ring_close(&ring);
	pin = vm_pin_kb();
	if (flip_pending) {
		pin0 += 1;
		flip_pending = 0;
		printf("  (--flip-one-expected-byte: no data check ran, so VmPin after teardown is expected 1 kB off on purpose)\n");
	}
	if (pin != pin0)
		fail("VmPin after ring exit is %lld kB, expected %lld kB (its value after ring setup)",
		     pin, pin0);
	if (memlock_set)
		setrlimit(RLIMIT_MEMLOCK, &old_memlock);
	kill_children();
	for (i = 0; i < N_FOLIOS; i++) {
		if (folio_fd[i] >= 0)
			close(folio_fd[i]);
		else if (folio_scratch[i])
			munmap(folio_scratch[i], 2 * folios[i].size);
		free(shadow[i]);
	}
	munmap(reserve_area, reserve_bytes);
	for (g = 0; g < nguards; g++) {
		munmap(guard_mem[g], 2UL << 20);
		close(guard_fd[g]);
	}
	/* A huge page is freed when its last user goes; allow a moment. */
	for (i = 0; i < 200; i++) {
		hp = hugepages_free();
		if (hp == hp0)
			break;
		usleep(10000);
	}
	if (hp != hp0)
		fail("HugePages_Free after teardown is %lld, expected %lld (its value before the layout was built)",
		     hp, hp0);
	else
		printf("teardown: VmPin %lld kB, HugePages_Free %lld, as before\n",
		       pin, hp);
	finish(failed ? EXIT_FAIL : EXIT_PASS);
	return 0;
}
