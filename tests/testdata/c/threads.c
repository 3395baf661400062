/*
 * pthreads: 8 threads increment a mutex-protected counter 100000 times each
 * (800000 in the end), a condition-variable ping-pong between two threads,
 * per-thread TLS (__thread, i.e. the FS base), distinct thread ids, join
 * return values, and exit() from main while another thread is blocked.
 */
#include "veiltest.h"

#include <pthread.h>
#include <sys/syscall.h>

#define NTHREADS 8
#define ITERS 100000
#define HANDOFFS 200

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static long counter;
static __thread long tls_value = 5;
static pid_t tids[NTHREADS];

static void *incr(void *arg)
{
	long id = (long)arg;
	tids[id] = (pid_t)syscall(SYS_gettid);
	if (tls_value != 5)
		return (void *)-1L;
	tls_value = 1000 + id;
	for (int i = 0; i < ITERS; i++) {
		pthread_mutex_lock(&mu);
		counter++;
		pthread_mutex_unlock(&mu);
		if (i % 10000 == 0 && tls_value != 1000 + id)
			return (void *)-2L;
	}
	if (tls_value != 1000 + id)
		return (void *)-3L;
	return (void *)(id * 10);
}

static pthread_mutex_t pm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pc = PTHREAD_COND_INITIALIZER;
static int turn;       /* 0: ping's turn, 1: pong's turn */
static int exchanges;

static void *pong(void *arg)
{
	(void)arg;
	for (int i = 0; i < HANDOFFS; i++) {
		pthread_mutex_lock(&pm);
		while (turn != 1)
			pthread_cond_wait(&pc, &pm);
		exchanges++;
		turn = 0;
		pthread_cond_broadcast(&pc);
		pthread_mutex_unlock(&pm);
	}
	return NULL;
}

static void *blocker(void *arg)
{
	int *fds = arg;
	char c;
	(void)!read(fds[0], &c, 1); /* never returns: nobody writes */
	return NULL;
}

int main(void)
{
	veil_init("threads");
	pid_t main_tid = (pid_t)syscall(SYS_gettid);
	CHECK(main_tid == getpid());

	pthread_t th[NTHREADS];
	for (long i = 0; i < NTHREADS; i++)
		CHECK(pthread_create(&th[i], NULL, incr, (void *)i) == 0);
	for (long i = 0; i < NTHREADS; i++) {
		void *ret;
		CHECK(pthread_join(th[i], &ret) == 0);
		if ((long)ret != i * 10)
			FAIL("thread %ld returned %ld", i, (long)ret);
	}
	if (counter != (long)NTHREADS * ITERS)
		FAIL("counter=%ld, want %ld", counter, (long)NTHREADS * ITERS);
	printf("threads: counter=%ld\n", counter);
	CHECK(tls_value == 5);
	for (int i = 0; i < NTHREADS; i++) {
		CHECK(tids[i] > 0 && tids[i] != main_tid);
		for (int j = 0; j < i; j++)
			CHECK(tids[i] != tids[j]);
	}
	printf("threads: TLS and thread ids distinct\n");

	pthread_t pt;
	CHECK(pthread_create(&pt, NULL, pong, NULL) == 0);
	for (int i = 0; i < HANDOFFS; i++) {
		pthread_mutex_lock(&pm);
		while (turn != 0)
			pthread_cond_wait(&pc, &pm);
		exchanges++;
		turn = 1;
		pthread_cond_broadcast(&pc);
		pthread_mutex_unlock(&pm);
	}
	pthread_mutex_lock(&pm);
	while (turn != 0)
		pthread_cond_wait(&pc, &pm);
	pthread_mutex_unlock(&pm);
	CHECK(pthread_join(pt, NULL) == 0);
	if (exchanges != 2 * HANDOFFS)
		FAIL("exchanges=%d, want %d", exchanges, 2 * HANDOFFS);
	printf("threads: condvar handoffs=%d\n", exchanges);

	static int fds[2];
	SYS(pipe(fds));
	pthread_t bt;
	CHECK(pthread_create(&bt, NULL, blocker, fds) == 0);
	printf("threads: ok\n");
	fflush(stdout);
	exit(0); /* exit_group must also end the blocked thread */
}
