/*
 * mmap/munmap/mprotect/mremap semantics and SIGSEGV delivery:
 *  1. write to a read-only page: the SA_SIGINFO handler sees si_addr and
 *     SEGV_ACCERR, makes the page writable again and returns; the write is
 *     then retried and succeeds (handler ran exactly once).
 *  2. MAP_SHARED|MAP_ANONYMOUS memory is shared with a forked child,
 *     MAP_PRIVATE memory is copy-on-write.
 *  3. access to an unmapped page: SIGSEGV with SEGV_MAPERR, recovered with
 *     siglongjmp (twice, so the signal mask must be restored by siglongjmp).
 *  4. mremap grows a mapping and keeps its contents.
 */
#include "veiltest.h"

#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

static long pagesz;
static volatile int segv_count;
static volatile int mode; /* 0: fix protection and return, 1: siglongjmp */
static void *volatile expect_addr;
static void *volatile got_addr;
static volatile int got_code;
static volatile int handler_err;
static sigjmp_buf jb;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	segv_count++;
	got_addr = si->si_addr;
	got_code = si->si_code;
	if (sig != SIGSEGV || si->si_signo != SIGSEGV)
		handler_err = 1;
	if (mode == 0) {
		void *page = (void *)((uintptr_t)si->si_addr & ~(uintptr_t)(pagesz - 1));
		if (mprotect(page, pagesz, PROT_READ | PROT_WRITE) != 0)
			handler_err = 2;
		return;
	}
	siglongjmp(jb, 1);
}

int main(void)
{
	veil_init("mmap");
	pagesz = sysconf(_SC_PAGESIZE);
	CHECK(pagesz == 4096);

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	SYS(sigaction(SIGSEGV, &sa, NULL));

	/* 1. mprotect + fault handler that fixes the protection. */
	unsigned char *m = mmap(NULL, 4 * pagesz, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(m != MAP_FAILED);
	CHECK(((uintptr_t)m & (pagesz - 1)) == 0);
	for (long i = 0; i < 4 * pagesz; i++)
		CHECK(m[i] == 0);
	for (long i = 0; i < 4 * pagesz; i++)
		m[i] = (unsigned char)(i * 13);
	SYS(mprotect(m + pagesz, pagesz, PROT_READ));
	CHECK(m[pagesz + 100] == (unsigned char)((pagesz + 100) * 13)); /* reads still work */
	volatile unsigned char *target = m + pagesz + 100;
	mode = 0;
	expect_addr = (void *)target;
	*target = 42;
	if (handler_err)
		FAIL("handler error %d", handler_err);
	if (segv_count != 1)
		FAIL("SIGSEGV handler ran %d times, want 1", segv_count);
	if (got_addr != expect_addr)
		FAIL("si_addr=%p, want %p", got_addr, expect_addr);
	if (got_code != SEGV_ACCERR)
		FAIL("si_code=%d, want SEGV_ACCERR (%d)", got_code, SEGV_ACCERR);
	CHECK(*target == 42);
	for (long i = 0; i < 4 * pagesz; i++)
		if (i != pagesz + 100 && m[i] != (unsigned char)(i * 13))
			FAIL("byte %ld changed after mprotect", i);
	printf("mmap: mprotect fault handled once, si_addr ok, write retried ok\n");

	/* A read from a PROT_NONE page also faults with SEGV_ACCERR. */
	SYS(mprotect(m + 2 * pagesz, pagesz, PROT_NONE));
	segv_count = 0;
	expect_addr = m + 2 * pagesz + 7;
	unsigned char v = *(volatile unsigned char *)(m + 2 * pagesz + 7);
	CHECK(segv_count == 1 && got_addr == expect_addr && got_code == SEGV_ACCERR);
	CHECK(v == (unsigned char)((2 * pagesz + 7) * 13));
	printf("mmap: PROT_NONE read fault handled\n");
	SYS(munmap(m, 4 * pagesz));

	/* 2. Shared vs private anonymous memory across fork. */
	volatile uint64_t *shared = mmap(NULL, pagesz, PROT_READ | PROT_WRITE,
					 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(shared != MAP_FAILED);
	volatile uint64_t *priv = mmap(NULL, pagesz, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(priv != MAP_FAILED);
	shared[0] = 1;
	priv[0] = 1;
	fflush(stdout);
	pid_t pid = SYS(fork());
	if (pid == 0) {
		if (shared[0] != 1 || priv[0] != 1)
			_exit(3);
		shared[0] = 0x1234567890abcdefULL;
		shared[511] = 77;
		priv[0] = 0xdead;
		_exit(0);
	}
	int st;
	CHECK(waitpid(pid, &st, 0) == pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		FAIL("shared-memory child status 0x%x", st);
	if (shared[0] != 0x1234567890abcdefULL || shared[511] != 77)
		FAIL("MAP_SHARED write by child not visible: %llx",
		     (unsigned long long)shared[0]);
	if (priv[0] != 1)
		FAIL("MAP_PRIVATE write by child leaked into parent: %llx",
		     (unsigned long long)priv[0]);
	printf("mmap: MAP_SHARED visible to parent, MAP_PRIVATE copy-on-write\n");

	/* 3. Access after munmap: SIGSEGV/SEGV_MAPERR, recovered twice. */
	unsigned char *u = mmap(NULL, 2 * pagesz, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(u != MAP_FAILED);
	u[0] = 5;
	u[pagesz] = 6;
	SYS(munmap(u + pagesz, pagesz));
	CHECK(u[0] == 5);
	mode = 1;
	for (int round = 0; round < 2; round++) {
		segv_count = 0;
		got_addr = NULL;
		expect_addr = u + pagesz + 8 + round;
		if (sigsetjmp(jb, 1) == 0) {
			volatile unsigned char *p = expect_addr;
			*p = 1;
			FAIL("write to unmapped page did not fault (round %d)", round);
		}
		if (segv_count != 1)
			FAIL("round %d: handler ran %d times", round, segv_count);
		if (got_addr != expect_addr)
			FAIL("round %d: si_addr=%p, want %p", round, got_addr, expect_addr);
		if (got_code != SEGV_MAPERR)
			FAIL("round %d: si_code=%d, want SEGV_MAPERR (%d)", round, got_code,
			     SEGV_MAPERR);
	}
	sigset_t cur;
	SYS(sigprocmask(SIG_BLOCK, NULL, &cur));
	CHECK(!sigismember(&cur, SIGSEGV));
	CHECK(u[0] == 5);
	SYS(munmap(u, pagesz));
	printf("mmap: munmap fault caught with siglongjmp twice\n");

	/* 4. mremap grows a mapping, contents preserved. */
	unsigned char *g = mmap(NULL, 2 * pagesz, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(g != MAP_FAILED);
	for (long i = 0; i < 2 * pagesz; i++)
		g[i] = (unsigned char)(i ^ 0x5a);
	unsigned char *g2 = mremap(g, 2 * pagesz, 64 * pagesz, MREMAP_MAYMOVE);
	CHECK(g2 != MAP_FAILED);
	for (long i = 0; i < 2 * pagesz; i++)
		if (g2[i] != (unsigned char)(i ^ 0x5a))
			FAIL("mremap lost byte %ld", i);
	for (long i = 2 * pagesz; i < 64 * pagesz; i++)
		if (g2[i] != 0)
			FAIL("mremap new area byte %ld not zero", i);
	g2[64 * pagesz - 1] = 1;
	SYS(munmap(g2, 64 * pagesz));
	printf("mmap: mremap grow ok\n");

	printf("mmap: ok\n");
	return 0;
}
