/* getppid N: N raw getppid calls; prints nanoseconds per call. */
#include "bench.h"

#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long n = arg_n(argc, argv, 2000);
	for (int i = 0; i < 50; i++)
		syscall(SYS_getppid);
	long long t0 = now_ns();
	for (long i = 0; i < n; i++)
		syscall(SYS_getppid);
	long long t1 = now_ns();
	printf("%.1f\n", (double)(t1 - t0) / (double)n);
	return 0;
}
