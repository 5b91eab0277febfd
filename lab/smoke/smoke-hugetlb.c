/*
 * regbuf-fuzz kernel lab: smoke test run first on every lab kernel.
 *
 * One 2 MiB hugetlb page (memfd, MFD_HUGETLB), registered whole as one
 * fixed buffer with IORING_REGISTER_BUFFERS and unregistered again: the
 * case RFC v1's fast path handles correctly (first and last page in one
 * folio, in order). Checks that registration succeeds, that VmPin grows by
 * 2048 kB and goes back, and that the huge page is free again after
 * close. Exit 0 PASS, 1 FAIL, 77 cannot run here (reason printed).
 * Raw syscalls only; build with gcc -static.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif
#define HUGE (2UL << 20)
#define IORING_REGISTER_BUFFERS 0
#define IORING_UNREGISTER_BUFFERS 1

/* struct io_uring_params: 120 bytes, zeroed is a valid request. */
struct params { unsigned int w[30]; };

static long field(const char *path, const char *name)
{
	char line[256];
	size_t n = strlen(name);
	long v = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, name, n) && line[n] == ':') {
			v = strtol(line + n + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

int main(void)
{
	struct params p;
	struct iovec iov;
	long pin0, pin1, pin2, free0, free1;
	int ring, fd;
	char *buf;
	long ret;

	setvbuf(stdout, NULL, _IONBF, 0);
	free0 = field("/proc/meminfo", "HugePages_Free");
	if (free0 < 1) {
		printf("SKIPPED: no free 2 MiB huge page (HugePages_Free %ld)\n", free0);
		return 77;
	}
	memset(&p, 0, sizeof(p));
	ring = syscall(__NR_io_uring_setup, 8, &p);
	if (ring < 0) {
		printf("SKIPPED: io_uring_setup: %s\n", strerror(errno));
		return 77;
	}
	fd = syscall(__NR_memfd_create, "smoke", MFD_HUGETLB);
	if (fd < 0 || ftruncate(fd, HUGE)) {
		printf("SKIPPED: hugetlb memfd: %s\n", strerror(errno));
		return 77;
	}
	buf = mmap(NULL, HUGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (buf == MAP_FAILED) {
		printf("SKIPPED: mmap of the huge page: %s\n", strerror(errno));
		return 77;
	}
	memset(buf, 0x5a, HUGE);
	pin0 = field("/proc/self/status", "VmPin");
	iov.iov_base = buf;
	iov.iov_len = HUGE;
	ret = syscall(__NR_io_uring_register, ring, IORING_REGISTER_BUFFERS, &iov, 1);
	if (ret) {
		printf("FAIL: IORING_REGISTER_BUFFERS of one 2 MiB hugetlb page: %s\n",
		       strerror(errno));
		return 1;
	}
	pin1 = field("/proc/self/status", "VmPin");
	ret = syscall(__NR_io_uring_register, ring, IORING_UNREGISTER_BUFFERS, NULL, 0);
	pin2 = field("/proc/self/status", "VmPin");
	if (ret || pin1 - pin0 != 2048 || pin2 != pin0) {
		printf("FAIL: unregister %ld, VmPin %ld -> %ld -> %ld kB (want +2048 and back)\n",
		       ret, pin0, pin1, pin2);
		return 1;
	}
	munmap(buf, HUGE);
	close(fd);
	close(ring);
	/* ring teardown is asynchronous; give it a moment */
	for (int i = 0; i < 50; i++) {
		free1 = field("/proc/meminfo", "HugePages_Free");
		if (free1 == free0)
			break;
		usleep(100000);
	}
	if (free1 != free0) {
		printf("FAIL: HugePages_Free %ld before, %ld after\n", free0, free1);
		return 1;
	}
	printf("PASS: 2 MiB hugetlb buffer registered, VmPin +2048 kB and back, huge page freed\n");
	return 0;
}
