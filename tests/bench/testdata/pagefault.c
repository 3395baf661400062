/* pagefault MIB: touches MIB MiB of fresh anonymous memory, one write per
 * 4 KiB page; prints nanoseconds per page (the first touch of each page
 * is a page fault). */
#include "bench.h"

#include <sys/mman.h>

int main(int argc, char **argv)
{
	long mib = arg_n(argc, argv, 256);
	size_t len = (size_t)mib << 20;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	long long t0 = now_ns();
	for (size_t off = 0; off < len; off += 4096)
		p[off] = 1;
	long long t1 = now_ns();
	printf("%.1f\n", (double)(t1 - t0) / (double)(len / 4096));
	return 0;
}
