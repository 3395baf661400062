/*
 * Dies by SIGSEGV (a NULL store, default action): the sandbox's pid 1
 * dying by signal 11 must make runsc exit with 128+11 = 139. Core dumps
 * are disabled first so a native run leaves nothing behind.
 */
#include "veiltest.h"

#include <sys/resource.h>

int main(void)
{
	veil_init("segv");
	struct rlimit rl = {0, 0};
	SYS(setrlimit(RLIMIT_CORE, &rl));
	printf("segv: about to fault\n");
	fflush(stdout);
	*(volatile int *)(uintptr_t)8 = 1;
	printf("segv: still alive?\n");
	return 0;
}
