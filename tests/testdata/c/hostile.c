/*
 * Arguments a hostile or buggy program may pass: huge counts and lengths,
 * addresses that wrap around the end of the address space. Each must fail
 * (or be capped) the way Linux does, and none may bring the sandbox down.
 */
#include "veiltest.h"

#include <sys/mman.h>
#include <sys/syscall.h>

int main(void)
{
	veil_init("hostile");
	char cpus[128] = {0xff};
	/* A huge cpumask length is capped by Linux, not an error. */
	CHECK(syscall(SYS_sched_setaffinity, 0, -1L, cpus) == 0);
	printf("hostile: sched_setaffinity with a huge length\n");

	/* getrandom with a huge count into a small heap page followed by a
	 * guard: either a partial count or EFAULT, never a crash. */
	char *buf = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(buf != MAP_FAILED);
	SYS(mprotect(buf + 4096, 4096, PROT_NONE));
	long r = syscall(SYS_getrandom, buf, -1L, 0);
	CHECK(r > 0 || errno == EFAULT);
	printf("hostile: getrandom with a huge count\n");

	/* A hint that wraps past the end is ignored. */
	void *p = mmap((void *)0xfffffffffffff000UL, 0x2000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED && (unsigned long)p < 0x800000000000UL);
	((char *)p)[0] = 1;
	printf("hostile: wrapping mmap hint ignored\n");

	void *brk0 = sbrk(0);
	CHECK((void *)syscall(SYS_brk, 0xfffffffffffff001UL) == brk0);
	printf("hostile: huge brk refused\n");

	void *q = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(q != MAP_FAILED);
	CHECK(mremap(q, 8192, -1UL, 0) == MAP_FAILED && errno == EINVAL);
	CHECK(madvise(q, -4096UL, MADV_DONTNEED) == -1 && errno == EINVAL);
	((char *)q)[0] = 2;
	printf("hostile: huge mremap and madvise refused\n");

	CHECK(syscall(SYS_write, 1, 0L, 10L) == -1 && errno == EFAULT);
	CHECK(write(1, (void *)0xfffffffffffff000UL, 4096) == -1 && errno == EFAULT);
	printf("hostile: bad buffers give EFAULT\n");
	printf("hostile: ok\n");
	return 0;
}
