/*
 * Clocks as served by the vDSO (tests/vdso_test.go).
 *
 *   clock          self-checks, deterministic output ending in "clock: ok":
 *                  a vDSO is present and named in /proc/self/maps; every
 *                  clock libc reads (through the vDSO when there is one)
 *                  agrees with the same clock read by a raw system call;
 *                  the monotonic clocks never go backwards, also across
 *                  threads and in a forked child; gettimeofday, time and
 *                  clock_getres answer; unknown clocks fail with EINVAL.
 *   clock loop N   N calls of clock_gettime(CLOCK_MONOTONIC), checking that
 *                  they never go backwards; prints the CLOCK_REALTIME before
 *                  and after ("realtime SEC.NSEC") and the cost of a call
 *                  ("ns_per_call N"). Not compared with a native run.
 */
#include "veiltest.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

static int64_t tsns(struct timespec ts)
{
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* libc's clock_gettime: the vDSO when the kernel provides one. */
static int64_t vns(clockid_t c)
{
	struct timespec ts;
	SYS(clock_gettime(c, &ts));
	if (ts.tv_nsec < 0 || ts.tv_nsec >= 1000000000L)
		FAIL("clock %d: tv_nsec %ld out of range", (int)c, ts.tv_nsec);
	return tsns(ts);
}

/* The same clock through a real system call. */
static int64_t sns(clockid_t c)
{
	struct timespec ts;
	SYS(syscall(SYS_clock_gettime, c, &ts));
	return tsns(ts);
}

static const struct {
	clockid_t id;
	const char *name;
	int monotonic;
} clocks[] = {
	{CLOCK_REALTIME, "CLOCK_REALTIME", 0},
	{CLOCK_MONOTONIC, "CLOCK_MONOTONIC", 1},
	{CLOCK_BOOTTIME, "CLOCK_BOOTTIME", 1},
	{CLOCK_MONOTONIC_RAW, "CLOCK_MONOTONIC_RAW", 1},
	{CLOCK_REALTIME_COARSE, "CLOCK_REALTIME_COARSE", 0},
	{CLOCK_MONOTONIC_COARSE, "CLOCK_MONOTONIC_COARSE", 1},
};

/* Slack for comparisons between a vDSO reading and a system call reading:
 * the coarse clocks lag by up to a tick on Linux. */
#define SLACK_NS (20 * 1000000LL)

/* Loops run for a bounded time: without a vDSO every reading costs a trip
 * through the Sentry. */
static int64_t deadline(int64_t ms)
{
	return sns(CLOCK_MONOTONIC) + ms * 1000000LL;
}

static void check_monotonic(clockid_t c, const char *name, int n)
{
	int64_t prev = vns(c), end = deadline(50);
	for (int i = 0; i < n && (i % 1024 != 0 || vns(CLOCK_MONOTONIC) < end); i++) {
		int64_t now = vns(c);
		if (now < prev)
			FAIL("%s went backwards by %lld ns", name, (long long)(prev - now));
		prev = now;
	}
}

static _Atomic int64_t shared_last;

/* Every reading must be >= any reading another thread published before. */
static void *thread_mono(void *arg)
{
	(void)arg;
	int64_t end = deadline(200);
	for (int i = 0; i < 200000 && (i % 1024 != 0 || vns(CLOCK_MONOTONIC) < end); i++) {
		int64_t seen = atomic_load(&shared_last);
		int64_t now = vns(CLOCK_MONOTONIC);
		if (now < seen)
			FAIL("CLOCK_MONOTONIC behind another thread's earlier reading by %lld ns",
			     (long long)(seen - now));
		while (seen < now && !atomic_compare_exchange_weak(&shared_last, &seen, now))
			;
	}
	return NULL;
}

static int loop(long n)
{
	struct timespec r0, r1, m0, m1;
	SYS(clock_gettime(CLOCK_REALTIME, &r0));
	SYS(clock_gettime(CLOCK_MONOTONIC, &m0));
	int64_t prev = tsns(m0);
	for (long i = 0; i < n; i++) {
		struct timespec ts;
		SYS(clock_gettime(CLOCK_MONOTONIC, &ts));
		if (tsns(ts) < prev)
			FAIL("CLOCK_MONOTONIC went backwards by %lld ns at call %ld",
			     (long long)(prev - tsns(ts)), i);
		prev = tsns(ts);
	}
	SYS(clock_gettime(CLOCK_MONOTONIC, &m1));
	SYS(clock_gettime(CLOCK_REALTIME, &r1));
	printf("realtime %lld.%09ld\n", (long long)r0.tv_sec, r0.tv_nsec);
	printf("realtime %lld.%09ld\n", (long long)r1.tv_sec, r1.tv_nsec);
	printf("ns_per_call %lld\n", n > 0 ? (long long)((tsns(m1) - tsns(m0)) / n) : 0LL);
	printf("clock: loop ok\n");
	return 0;
}

int main(int argc, char **argv)
{
	veil_init("clock");
	if (argc == 3 && strcmp(argv[1], "loop") == 0)
		return loop(atol(argv[2]));

	CHECK(getauxval(AT_SYSINFO_EHDR) != 0);
	printf("clock: AT_SYSINFO_EHDR present\n");
	FILE *maps = fopen("/proc/self/maps", "r");
	CHECK(maps != NULL);
	char line[512];
	int vdso = 0, vvar = 0;
	while (fgets(line, sizeof line, maps)) {
		vdso |= strstr(line, "[vdso]") != NULL;
		vvar |= strstr(line, "[vvar]") != NULL;
	}
	fclose(maps);
	CHECK(vdso && vvar);
	printf("clock: [vdso] and [vvar] mapped\n");

	for (size_t i = 0; i < sizeof clocks / sizeof clocks[0]; i++) {
		clockid_t c = clocks[i].id;
		/* vDSO, syscall, vDSO: the syscall reading lies in between. */
		int64_t a = vns(c), b = sns(c), d = vns(c);
		if (b < a - SLACK_NS || d < b - SLACK_NS)
			FAIL("%s: vDSO %lld, syscall %lld, vDSO %lld are out of order", clocks[i].name,
			     (long long)a, (long long)b, (long long)d);
		if (d - a > 1000000000LL)
			FAIL("%s: two readings %lld ns apart", clocks[i].name, (long long)(d - a));
		if (clocks[i].monotonic)
			check_monotonic(c, clocks[i].name, 100000);
		printf("clock: %s agrees with the system call\n", clocks[i].name);
	}

	struct timespec rt;
	struct timeval tv;
	struct timezone tz;
	SYS(clock_gettime(CLOCK_REALTIME, &rt));
	SYS(gettimeofday(&tv, &tz));
	time_t t = time(NULL);
	int64_t tvns = (int64_t)tv.tv_sec * 1000000000LL + tv.tv_usec * 1000LL;
	if (tv.tv_usec < 0 || tv.tv_usec >= 1000000 || tvns < tsns(rt) - 1000 || tvns - tsns(rt) > 1000000000LL)
		FAIL("gettimeofday %lld.%06ld vs CLOCK_REALTIME %lld.%09ld", (long long)tv.tv_sec,
		     (long)tv.tv_usec, (long long)rt.tv_sec, rt.tv_nsec);
	/* Linux's time() reads the coarse clock, which lags CLOCK_REALTIME by
	 * up to a tick: just after a second begins it may still say the last. */
	if (t < rt.tv_sec - 1 || t > rt.tv_sec + 1)
		FAIL("time() %lld vs CLOCK_REALTIME %lld", (long long)t, (long long)rt.tv_sec);
	if (t < 1600000000)
		FAIL("time() = %lld is implausible", (long long)t);
	time_t t2;
	CHECK(time(&t2) >= t && t2 >= t);
	printf("clock: gettimeofday and time agree with CLOCK_REALTIME\n");

	struct timespec res;
	SYS(clock_getres(CLOCK_MONOTONIC, &res));
	CHECK(res.tv_sec == 0 && res.tv_nsec == 1);
	SYS(clock_getres(CLOCK_REALTIME, &res));
	CHECK(res.tv_sec == 0 && res.tv_nsec == 1);
	SYS(clock_getres(CLOCK_MONOTONIC_COARSE, &res));
	CHECK(res.tv_sec == 0 && res.tv_nsec > 0);
	SYS(clock_getres(CLOCK_MONOTONIC, NULL));
	printf("clock: clock_getres ok\n");

	/* Clocks the vDSO does not serve go to the kernel. */
	struct timespec ts;
	SYS(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts));
	SYS(clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts));
	errno = 0;
	CHECK(clock_gettime((clockid_t)1000, &ts) == -1 && errno == EINVAL);
	errno = 0;
	CHECK(clock_getres((clockid_t)1000, &res) == -1 && errno == EINVAL);
	printf("clock: CPU-time and unknown clocks ok\n");

	unsigned cpu = 12345, node = 12345;
	SYS(syscall(SYS_getcpu, &cpu, &node, NULL));
	CHECK(cpu < 4096 && node < 4096);
	CHECK(sched_getcpu() >= 0);
	printf("clock: getcpu ok\n");

	pthread_t th[3];
	for (int i = 0; i < 3; i++)
		CHECK(pthread_create(&th[i], NULL, thread_mono, NULL) == 0);
	for (int i = 0; i < 3; i++)
		CHECK(pthread_join(th[i], NULL) == 0);
	printf("clock: CLOCK_MONOTONIC is monotonic across threads\n");

	int64_t before = vns(CLOCK_MONOTONIC);
	fflush(stdout);
	pid_t pid = SYS(fork());
	if (pid == 0) {
		int64_t now = vns(CLOCK_MONOTONIC);
		if (now < before)
			FAIL("child: CLOCK_MONOTONIC went backwards across fork");
		check_monotonic(CLOCK_MONOTONIC, "child CLOCK_MONOTONIC", 10000);
		int64_t s = sns(CLOCK_MONOTONIC);
		if (llabs((long long)(s - vns(CLOCK_MONOTONIC))) > SLACK_NS)
			FAIL("child: vDSO and syscall disagree");
		_exit(0);
	}
	int st;
	SYS(waitpid(pid, &st, 0));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	printf("clock: clocks work in a forked child\n");

	printf("clock: ok\n");
	return 0;
}
