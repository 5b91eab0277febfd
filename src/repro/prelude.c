#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

/* Raw system calls only: no liburing, no <linux/io_uring.h> (old headers
 * lack READV_FIXED), so this builds with gcc and any libc headers. */
#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif
#ifndef __NR_io_uring_enter
#define __NR_io_uring_enter 426
#endif
#ifndef __NR_io_uring_register
#define __NR_io_uring_register 427
#endif
#ifndef MFD_HUGETLB
#define MFD_HUGETLB 4U
#endif
#ifndef MADV_HUGEPAGE
#define MADV_HUGEPAGE 14
#endif
#ifndef MREMAP_MAYMOVE
#define MREMAP_MAYMOVE 1
#endif
#ifndef MREMAP_FIXED
#define MREMAP_FIXED 2
#endif

#define PAGE 4096UL
#define EXIT_PASS 0
#define EXIT_FAIL 1
#define EXIT_TROUBLE 2
#define EXIT_SKIP 77

#define IORING_OP_READ_FIXED 4
#define IORING_OP_WRITE_FIXED 5
#define IORING_OP_READV_FIXED 60
#define IORING_OP_WRITEV_FIXED 61
#define IORING_ENTER_GETEVENTS 1U
#define IORING_FEAT_SINGLE_MMAP 1U
#define IORING_OFF_SQ_RING 0ULL
#define IORING_OFF_CQ_RING 0x8000000ULL
#define IORING_OFF_SQES 0x10000000ULL
#define IORING_REGISTER_BUFFERS 0
#define IORING_UNREGISTER_BUFFERS 1
#define IORING_REGISTER_BUFFERS2 15
#define IORING_REGISTER_BUFFERS_UPDATE 16
#define IORING_RSRC_REGISTER_SPARSE 1U

struct sqring_offsets {
	uint32_t head, tail, ring_mask, ring_entries, flags, dropped, array;
	uint32_t resv1;
	uint64_t user_addr;
};

struct cqring_offsets {
	uint32_t head, tail, ring_mask, ring_entries, overflow, cqes, flags;
	uint32_t resv1;
	uint64_t user_addr;
};

struct uring_params {
	uint32_t sq_entries, cq_entries, flags, sq_thread_cpu, sq_thread_idle;
	uint32_t features, wq_fd, resv[3];
	struct sqring_offsets sq_off;
	struct cqring_offsets cq_off;
};

struct uring_sqe {
	uint8_t opcode, flags;
	uint16_t ioprio;
	int32_t fd;
	uint64_t off, addr;
	uint32_t len, rw_flags;
	uint64_t user_data;
	uint16_t buf_index, personality;
	int32_t splice_fd_in;
	uint64_t addr3, pad;
};

struct uring_cqe {
	uint64_t user_data;
	int32_t res;
	uint32_t flags;
};

struct rsrc_register {
	uint32_t nr, flags;
	uint64_t resv2, data, tags;
};

struct rsrc_update2 {
	uint32_t offset, resv;
	uint64_t data, tags;
	uint32_t nr, resv2;
};

enum folio_kind { SMALL, MTHP, THP, HUGETLB_PMD, HUGETLB_PUD, SHMEM_THP, SHMEM_MTHP,
		  HUGETLB_PMD_PRIVATE, HUGETLB_PUD_PRIVATE };
static const char *const kind_name[] = {
	"small", "mthp", "thp", "hugetlb-pmd", "hugetlb-pud", "shmem-thp", "shmem-mthp",
	"hugetlb-pmd-private", "hugetlb-pud-private"
};

/* What fork() does to a private hugetlb page: nothing; shares it with a
 * child that exits at once; or with one that maps it until the end, so that
 * the first pin copies it. */
enum folio_fork { NO_FORK, FORK_EXITED, FORK_CHILD_MAPS };

/* One folio of the layout and what backs it: a memfd (shmem or hugetlb,
 * mapped MAP_SHARED wherever the folio appears) or anonymous memory under
 * MADV_HUGEPAGE whose pages are moved into place with mremap. */
struct folio {
	enum folio_kind kind;
	unsigned long nr_pages;
	const char *memfd_name; /* NULL: anonymous */
	unsigned int memfd_flags;
	unsigned long size;
	int populate; /* fallocate it whole, as one large shmem folio */
	int map_hugetlb; /* MAP_HUGETLB and its size: a MAP_PRIVATE hugetlb page */
	enum folio_fork fork;
};

/* One stretch of the address space, at base + offset. */
struct segment {
	unsigned long offset, bytes;
	int folio; /* -1: a hole, left PROT_NONE */
	unsigned long first_page;
	int readonly;
};

/* An iovec: at_base ? base + addr : addr (literal overflow cases). */
struct iov {
	int at_base;
	unsigned long long addr, len;
};

/* Bytes [off, off + len) of folio `folio` are bytes [k, k + len) of a
 * fixed transfer. */
struct piece {
	int folio;
	unsigned long long off, len, k;
};

enum op_kind {
	REGISTER, REGISTER_SPARSE, UPDATE, UNREGISTER,
	READ_FIXED, WRITE_FIXED, READV_FIXED, WRITEV_FIXED
};

/* One operation with the upstream model's prediction: its return value,
 * VmPin above its value after ring setup, and (check) the bytes a fixed
 * transfer moves, as pieces[piece .. piece + npieces). */
struct op {
	enum op_kind kind;
	unsigned int slot; /* buf_index; for UPDATE the first slot */
	unsigned int nr;   /* iovecs, or the table size of REGISTER_SPARSE */
	unsigned int iov;  /* first entry of iovs[] */
	long long want_ret;
	unsigned long long want_pin_kb;
	int check;
	unsigned int piece, npieces;
	unsigned int want_copies; /* pages a live child maps, copied by now */
	const char *what;
};
