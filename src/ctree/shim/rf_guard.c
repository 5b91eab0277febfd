/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * regbuf-fuzz: the memory errors of the kernel's C, caught and told as the
 * kernel would tell them, instead of killing the fuzzer.
 *
 * Two nets. The kernel's translation unit is built with
 * -fsanitize=kernel-address, so every load and store checks the shadow
 * byte of its address, as under KASAN; the loader's allocator poisons the
 * redzones around each object and a freed object (kept in quarantine until
 * the run is over). A bad access calls the __asan_report_* functions here,
 * which note the first one of the call; the C goes on, as it does under
 * KASAN. A fault (a NULL or wild pointer) is caught by rf_try(): a SIGSEGV
 * or SIGBUS whose instruction lies in this object's own code jumps back to
 * it with the address and instruction. A fault anywhere else (the loader,
 * libc) is not the kernel's: it goes to the handler that was there before.
 *
 * Built without the sanitizer, in its own translation unit: it needs the
 * C library's signal headers, which the kernel's names must not meet.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <ucontext.h>

struct rf_fault {
	unsigned long addr;
	/* Offset of the faulting instruction in this object. */
	unsigned long ip;
	int write;
	int sig;
	/* The shadow byte at the address when KASAN's check failed, else -1. */
	int shadow;
};

/* guard::SHADOW_OFFSET, set by the loader's build. */
#ifndef RF_SHADOW_OFFSET
#error "RF_SHADOW_OFFSET not set"
#endif

static __thread sigjmp_buf *rf_jmp;
static __thread struct rf_fault rf_last;
/* The first bad access KASAN's checks saw in this call, and how many. */
static __thread struct rf_fault rf_kasan;
static __thread unsigned long rf_kasan_nr;
static unsigned long rf_base, rf_text_lo, rf_text_hi;
static struct sigaction rf_old_segv, rf_old_bus;

static void rf_pass_on(int sig, siginfo_t *si, void *uc)
{
	const struct sigaction *old = sig == SIGSEGV ? &rf_old_segv : &rf_old_bus;

	if (old->sa_flags & SA_SIGINFO) {
		old->sa_sigaction(sig, si, uc);
	} else if (old->sa_handler == SIG_DFL || old->sa_handler == SIG_IGN) {
		/* Returning repeats the access, which now kills the process. */
		signal(sig, SIG_DFL);
	} else {
		old->sa_handler(sig);
	}
}

static void rf_handler(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	unsigned long ip = 0;
	int write = 0;

#if defined(__x86_64__)
	ip = uc->uc_mcontext.gregs[REG_RIP];
	/* Page-fault error code: bit 1 is set for a write. */
	write = (uc->uc_mcontext.gregs[REG_ERR] & 2) != 0;
#elif defined(__aarch64__)
	ip = uc->uc_mcontext.pc;
#endif
	if (!rf_jmp || ip < rf_text_lo || ip >= rf_text_hi) {
		rf_pass_on(sig, si, ucv);
		return;
	}
	rf_last.addr = (unsigned long)si->si_addr;
	rf_last.ip = ip - rf_base;
	rf_last.write = write;
	rf_last.sig = sig;
	rf_last.shadow = -1;
	{
		sigjmp_buf *j = rf_jmp;

		rf_jmp = NULL;
		siglongjmp(*j, 1);
	}
}

static int rf_find_text(struct dl_phdr_info *info, size_t size, void *data)
{
	int i;

	(void)size;
	(void)data;
	if (info->dlpi_addr != rf_base)
		return 0;
	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		unsigned long lo = rf_base + ph->p_vaddr, hi = lo + ph->p_memsz;

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		if (!rf_text_lo || lo < rf_text_lo)
			rf_text_lo = lo;
		if (hi > rf_text_hi)
			rf_text_hi = hi;
	}
	return 1;
}

/* Once per loaded object, under the loader's lock (handlers chain). */
int rf_guard_install(void)
{
	struct sigaction sa;
	Dl_info di;

	if (!dladdr((void *)rf_handler, &di))
		return -1;
	rf_base = (unsigned long)di.dli_fbase;
	dl_iterate_phdr(rf_find_text, NULL);
	if (!rf_text_hi)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = rf_handler;
	/* NODEFER: the jump out of the handler leaves the signal unblocked. */
	sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &rf_old_segv) || sigaction(SIGBUS, &sa, &rf_old_bus))
		return -1;
	return 0;
}

/* Runs fn(arg); 1 and the fault in *out when the C faulted in it. */
int rf_try(void (*fn)(void *), void *arg, struct rf_fault *out)
{
	sigjmp_buf jb;

	if (sigsetjmp(jb, 0)) {
		*out = rf_last;
		return 1;
	}
	rf_jmp = &jb;
	fn(arg);
	rf_jmp = NULL;
	return 0;
}

/*
 * KASAN's report hooks, called by the instrumented code when a shadow
 * check fails. The caller's address is the access's site.
 */
static void rf_kasan_report(unsigned long addr, int write, void *ret)
{
	if (!rf_kasan_nr++) {
		rf_kasan.addr = addr;
		rf_kasan.ip = (unsigned long)ret - 1 - rf_base;
		rf_kasan.write = write;
		rf_kasan.sig = 0;
		rf_kasan.shadow = *(unsigned char *)((addr >> 3) + RF_SHADOW_OFFSET);
	}
}

#define RF_REPORT(size)                                                                  \
	void __asan_report_load##size##_noabort(unsigned long addr)                       \
	{                                                                                 \
		rf_kasan_report(addr, 0, __builtin_return_address(0));                    \
	}                                                                                 \
	void __asan_report_store##size##_noabort(unsigned long addr)                      \
	{                                                                                 \
		rf_kasan_report(addr, 1, __builtin_return_address(0));                    \
	}
RF_REPORT(1)
RF_REPORT(2)
RF_REPORT(4)
RF_REPORT(8)
RF_REPORT(16)

void __asan_report_load_n_noabort(unsigned long addr, unsigned long size)
{
	(void)size;
	rf_kasan_report(addr, 0, __builtin_return_address(0));
}

void __asan_report_store_n_noabort(unsigned long addr, unsigned long size)
{
	(void)size;
	rf_kasan_report(addr, 1, __builtin_return_address(0));
}

/* The first bad access since the last call, and how many there were. */
unsigned long rf_kasan_take(struct rf_fault *out)
{
	unsigned long n = rf_kasan_nr;

	*out = rf_kasan;
	rf_kasan_nr = 0;
	return n;
}
