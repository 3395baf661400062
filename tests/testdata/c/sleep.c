/*
 * Time: nanosleep(50ms) advances CLOCK_MONOTONIC by >= 50ms and < 5s;
 * CLOCK_MONOTONIC never goes backwards; CLOCK_REALTIME, gettimeofday and
 * time() agree; clock_nanosleep(TIMER_ABSTIME) wakes after its deadline; a
 * long nanosleep is interrupted by SIGALRM from setitimer (EINTR with the
 * remaining time filled in).
 */
#include "veiltest.h"

#include <signal.h>
#include <sys/time.h>
#include <time.h>

static int64_t ns(clockid_t c)
{
	struct timespec ts;
	SYS(clock_gettime(c, &ts));
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static volatile int alarms;
static void on_alrm(int sig)
{
	(void)sig;
	alarms++;
}

int main(void)
{
	veil_init("sleep");

	int64_t t0 = ns(CLOCK_MONOTONIC);
	struct timespec req = {0, 50 * 1000000L};
	SYS(nanosleep(&req, NULL));
	int64_t d = ns(CLOCK_MONOTONIC) - t0;
	if (d < 50000000LL || d >= 5000000000LL)
		FAIL("nanosleep(50ms) took %lld ns", (long long)d);
	printf("sleep: nanosleep(50ms) advanced CLOCK_MONOTONIC by >= 50ms\n");

	int64_t prev = ns(CLOCK_MONOTONIC);
	for (int i = 0; i < 200; i++) {
		int64_t now = ns(CLOCK_MONOTONIC);
		if (now < prev)
			FAIL("CLOCK_MONOTONIC went backwards: %lld -> %lld", (long long)prev,
			     (long long)now);
		prev = now;
	}
	printf("sleep: CLOCK_MONOTONIC is monotonic\n");

	struct timespec rt;
	SYS(clock_gettime(CLOCK_REALTIME, &rt));
	time_t t = time(NULL);
	struct timeval tv;
	SYS(gettimeofday(&tv, NULL));
	if (llabs((long long)rt.tv_sec - (long long)t) > 1)
		FAIL("CLOCK_REALTIME %lld vs time() %lld", (long long)rt.tv_sec, (long long)t);
	if (llabs((long long)tv.tv_sec - (long long)t) > 1)
		FAIL("gettimeofday %lld vs time() %lld", (long long)tv.tv_sec, (long long)t);
	if (t < 1600000000) /* 2020-09-13: the clock must be real */
		FAIL("time() = %lld is implausible", (long long)t);
	printf("sleep: CLOCK_REALTIME, gettimeofday and time() agree\n");

	struct timespec dl;
	SYS(clock_gettime(CLOCK_MONOTONIC, &dl));
	int64_t deadline = (int64_t)dl.tv_sec * 1000000000LL + dl.tv_nsec + 20000000LL;
	dl.tv_sec = deadline / 1000000000LL;
	dl.tv_nsec = deadline % 1000000000LL;
	int r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &dl, NULL);
	if (r != 0)
		FAIL("clock_nanosleep: %s", strerror(r));
	if (ns(CLOCK_MONOTONIC) < deadline)
		FAIL("clock_nanosleep(TIMER_ABSTIME) woke before its deadline");
	printf("sleep: clock_nanosleep(TIMER_ABSTIME) ok\n");

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alrm; /* no SA_RESTART */
	SYS(sigaction(SIGALRM, &sa, NULL));
	struct itimerval it = {{0, 0}, {0, 50000}};
	SYS(setitimer(ITIMER_REAL, &it, NULL));
	t0 = ns(CLOCK_MONOTONIC);
	struct timespec longreq = {3, 0}, rem = {0, 0};
	errno = 0;
	r = nanosleep(&longreq, &rem);
	d = ns(CLOCK_MONOTONIC) - t0;
	if (r != -1 || errno != EINTR)
		FAIL("nanosleep(3s) with SIGALRM after 50ms: r=%d errno=%d", r, errno);
	if (alarms != 1)
		FAIL("SIGALRM handler ran %d times", alarms);
	if (d >= 2500000000LL)
		FAIL("interrupted nanosleep lasted %lld ns", (long long)d);
	if (rem.tv_sec < 1 || rem.tv_sec > 3)
		FAIL("remaining time %lld.%09ld s is wrong", (long long)rem.tv_sec, rem.tv_nsec);
	printf("sleep: SIGALRM interrupted nanosleep with EINTR and remaining time\n");

	printf("sleep: ok\n");
	return 0;
}
