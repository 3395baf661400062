/* threads T N: T threads each make N raw getppid calls at once; prints
 * nanoseconds per call over all of them (wall time / (T*N)), so that T
 * threads sharing fewer CPUs show how well the syscall path scales. */
#include "bench.h"

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

static long n;
static pthread_barrier_t barrier;

static void *worker(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&barrier);
	for (long i = 0; i < n; i++)
		syscall(SYS_getppid);
	return NULL;
}

int main(int argc, char **argv)
{
	long t = arg_n(argc, argv, 8);
	n = argc > 2 ? atol(argv[2]) : 2000;
	if (t > 64 || n <= 0) {
		fprintf(stderr, "usage: threads T N\n");
		return 2;
	}
	pthread_t th[64];
	pthread_barrier_init(&barrier, NULL, (unsigned)t + 1);
	for (long i = 0; i < t; i++)
		if (pthread_create(&th[i], NULL, worker, NULL) != 0) {
			fprintf(stderr, "pthread_create failed\n");
			return 1;
		}
	for (int i = 0; i < 50; i++)
		syscall(SYS_getppid);
	long long t0 = now_ns();
	pthread_barrier_wait(&barrier);
	for (long i = 0; i < t; i++)
		pthread_join(th[i], NULL);
	long long t1 = now_ns();
	printf("%.1f\n", (double)(t1 - t0) / (double)(t * n));
	return 0;
}
