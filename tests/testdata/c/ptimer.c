/*
 * POSIX timers: timer_create(2) with SIGEV_SIGNAL, SIGEV_THREAD_ID,
 * SIGEV_NONE and glibc's SIGEV_THREAD, on CLOCK_REALTIME, CLOCK_MONOTONIC,
 * CLOCK_BOOTTIME and the CPU clocks; timer_settime(2) relative and
 * TIMER_ABSTIME, timer_gettime(2), overruns (si_overrun and
 * timer_getoverrun(2)), si_timerid/si_value/si_code in the siginfo,
 * timer_delete(2), and the errors for bad ids, clocks and events.
 * Only deterministic facts are printed.
 */
#include "veiltest.h"

#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>

static const char *yes(int c) { return c ? "yes" : "no"; }

static double clock_s(clockid_t c)
{
	struct timespec t;
	SYS(clock_gettime(c, &t));
	return t.tv_sec + t.tv_nsec / 1e9;
}

static volatile unsigned long sink;
static void spin(double secs)
{
	double end = clock_s(CLOCK_THREAD_CPUTIME_ID) + secs;
	do {
		for (unsigned long i = 0; i < 2000000; i++)
			sink += i * i;
	} while (clock_s(CLOCK_THREAD_CPUTIME_ID) < end);
}

/* Raw timer ids: the kernel's, as glibc hides them behind timer_t. */
static int tcreate(clockid_t clock, struct sigevent *ev)
{
	int id;
	if (syscall(SYS_timer_create, clock, ev, &id) == -1)
		return -errno;
	return id;
}

static int tsettime(int id, int flags, long value_ns, long interval_ns)
{
	struct itimerspec its = {{interval_ns / 1000000000, interval_ns % 1000000000},
				 {value_ns / 1000000000, value_ns % 1000000000}};
	return syscall(SYS_timer_settime, id, flags, &its, NULL) == -1 ? -errno : 0;
}

static struct itimerspec tgettime(int id)
{
	struct itimerspec its;
	SYS(syscall(SYS_timer_gettime, id, &its));
	return its;
}

static double its_value(struct itimerspec its) { return its.it_value.tv_sec + its.it_value.tv_nsec / 1e9; }

static siginfo_t wait_sig(int sig)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, sig);
	siginfo_t si;
	struct timespec to = {10, 0};
	CHECK(sigtimedwait(&set, &si, &to) == sig);
	return si;
}

static const char *errname(int e)
{
	switch (e) {
	case 0: return "0";
	case -EINVAL: return "EINVAL";
	case -EOPNOTSUPP: return "EOPNOTSUPP";
	case -EPERM: return "EPERM";
	case -EFAULT: return "EFAULT";
	}
	return "other";
}

static volatile pid_t handler_tid;
static void on_usr2(int s) { (void)s; handler_tid = gettid(); }

static pthread_barrier_t bar;
static volatile pid_t worker_tid;
static void *worker(void *a)
{
	(void)a;
	worker_tid = gettid();
	pthread_barrier_wait(&bar); /* tid known */
	pthread_barrier_wait(&bar); /* timer armed */
	while (!handler_tid)
		usleep(1000);
	return NULL;
}

static volatile int thread_fired;
static volatile int thread_value;
static void thread_notify(union sigval v)
{
	thread_value = v.sival_int;
	thread_fired = 1;
}

int main(void)
{
	veil_init("ptimer");
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGALRM);
	sigaddset(&block, SIGRTMIN);
	SYS(sigprocmask(SIG_BLOCK, &block, NULL));

	/* Ids count from 0 in each process. */
	struct sigevent none = {.sigev_notify = SIGEV_NONE};
	int a = tcreate(CLOCK_MONOTONIC, &none), b = tcreate(CLOCK_REALTIME, &none);
	printf("first ids: %d %d\n", a, b);
	printf("gettime of a disarmed timer: %s\n", yes(its_value(tgettime(a)) == 0));

	/* SIGEV_NONE: no signal, but the time runs. */
	CHECK(tsettime(a, 0, 2000000000, 0) == 0);
	double v1 = its_value(tgettime(a));
	usleep(20000);
	double v2 = its_value(tgettime(a));
	printf("SIGEV_NONE counts down: %s\n", yes(v1 <= 2.0 && v2 < v1 && v2 > 1.0));

	/* Absolute on CLOCK_REALTIME, 50 ms ahead: not due yet. */
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	long abs_ns = (now.tv_sec + 100) * 1000000000L + now.tv_nsec;
	CHECK(tsettime(b, TIMER_ABSTIME, abs_ns, 0) == 0);
	double vb = its_value(tgettime(b));
	printf("TIMER_ABSTIME 100 s ahead: value in (99 s, 100 s]: %s\n", yes(vb > 99 && vb <= 100));
	struct itimerspec old;
	struct itimerspec zero = {0};
	SYS(syscall(SYS_timer_settime, b, 0, &zero, &old));
	printf("disarm returns the old value: %s\n", yes(its_value(old) > 99));

	/* SIGEV_SIGNAL: si_code SI_TIMER, si_timerid, si_value. */
	struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1};
	ev.sigev_value.sival_int = 1234;
	int c = tcreate(CLOCK_MONOTONIC, &ev);
	CHECK(c >= 0);
	CHECK(tsettime(c, 0, 10000000, 0) == 0);
	siginfo_t si = wait_sig(SIGUSR1);
	printf("SIGEV_SIGNAL: signo %d code SI_TIMER %s timerid matches %s value %d overrun %d\n", si.si_signo,
	       yes(si.si_code == SI_TIMER), yes(si.si_timerid == c), si.si_value.sival_int, si.si_overrun);
	printf("one-shot timer disarmed after expiry: %s\n", yes(its_value(tgettime(c)) == 0));

	/* Overruns: a periodic 1 ms timer whose signal stays blocked. */
	CHECK(tsettime(c, 0, 1000000, 1000000) == 0);
	usleep(100000);
	si = wait_sig(SIGUSR1);
	int ov = syscall(SYS_timer_getoverrun, c);
	printf("overruns while blocked for 100 ms: si_overrun > 20: %s, timer_getoverrun agrees: %s\n",
	       yes(si.si_overrun > 20), yes(ov == si.si_overrun));
	struct itimerspec per = tgettime(c);
	printf("periodic: interval %ld ns, armed: %s\n", per.it_interval.tv_nsec, yes(its_value(per) > 0));
	CHECK(syscall(SYS_timer_delete, c) == 0);
	printf("timer_delete twice: %s\n", errname(syscall(SYS_timer_delete, c) == -1 ? -errno : 0));

	/* No sigevent: SIGALRM with the timer id as value. */
	int d = tcreate(CLOCK_BOOTTIME, NULL);
	CHECK(d >= 0);
	CHECK(tsettime(d, 0, 5000000, 0) == 0);
	si = wait_sig(SIGALRM);
	printf("NULL sigevent: SIGALRM with value = id: %s\n", yes(si.si_value.sival_int == d && si.si_timerid == d));

	/* SIGEV_THREAD_ID: the signal goes to that thread. */
	signal(SIGUSR2, on_usr2);
	pthread_barrier_init(&bar, NULL, 2);
	pthread_t th;
	CHECK(pthread_create(&th, NULL, worker, NULL) == 0);
	pthread_barrier_wait(&bar);
	struct sigevent tev = {.sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGUSR2};
	tev._sigev_un._tid = worker_tid;
	int e = tcreate(CLOCK_MONOTONIC, &tev);
	CHECK(e >= 0);
	CHECK(tsettime(e, 0, 5000000, 0) == 0);
	pthread_barrier_wait(&bar);
	pthread_join(th, NULL);
	printf("SIGEV_THREAD_ID: handled by the named thread: %s\n", yes(handler_tid == worker_tid));
	tev._sigev_un._tid = 999999;
	printf("SIGEV_THREAD_ID of no thread: %s\n", errname(tcreate(CLOCK_MONOTONIC, &tev)));

	/* glibc's SIGEV_THREAD. */
	timer_t gt;
	struct sigevent gev = {.sigev_notify = SIGEV_THREAD, .sigev_notify_function = thread_notify};
	gev.sigev_value.sival_int = 77;
	SYS(timer_create(CLOCK_MONOTONIC, &gev, &gt));
	struct itimerspec gits = {{0, 0}, {0, 5000000}};
	SYS(timer_settime(gt, 0, &gits, NULL));
	for (int i = 0; i < 2000 && !thread_fired; i++)
		usleep(1000);
	printf("SIGEV_THREAD: callback ran with value %d: %s\n", thread_value, yes(thread_fired));
	SYS(timer_delete(gt));

	/* A CPU-time clock: fires once the process has used the CPU. */
	struct sigevent cev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGRTMIN};
	int f = tcreate(CLOCK_PROCESS_CPUTIME_ID, &cev);
	CHECK(f >= 0);
	CHECK(tsettime(f, 0, 50000000, 0) == 0);
	double cpu_left = its_value(tgettime(f));
	printf("CPU timer value in (0, 0.05 s]: %s\n", yes(cpu_left > 0 && cpu_left <= 0.05));
	usleep(100000); /* sleeping uses no CPU */
	sigset_t pend;
	sigpending(&pend);
	printf("CPU timer not due after sleeping: %s\n", yes(!sigismember(&pend, SIGRTMIN)));
	spin(0.2);
	si = wait_sig(SIGRTMIN);
	printf("CPU timer fired after spinning: code SI_TIMER %s\n", yes(si.si_code == SI_TIMER));
	int g = tcreate(CLOCK_THREAD_CPUTIME_ID, &cev);
	CHECK(g >= 0);
	double tnow = clock_s(CLOCK_THREAD_CPUTIME_ID);
	CHECK(tsettime(g, TIMER_ABSTIME, (long)((tnow + 0.05) * 1e9), 0) == 0);
	spin(0.2);
	si = wait_sig(SIGRTMIN);
	printf("thread CPU timer (absolute) fired: %s\n", yes(si.si_timerid == g));

	/* Errors. */
	printf("bad clock: %s\n", errname(tcreate(12345, &none)));
	printf("CLOCK_MONOTONIC_RAW: %s\n", errname(tcreate(CLOCK_MONOTONIC_RAW, &none)));
	printf("CLOCK_REALTIME_COARSE: %s\n", errname(tcreate(CLOCK_REALTIME_COARSE, &none)));
	struct sigevent bad = {.sigev_notify = 7};
	printf("bad sigev_notify: %s\n", errname(tcreate(CLOCK_MONOTONIC, &bad)));
	struct sigevent badsig = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = 65};
	printf("bad signal: %s\n", errname(tcreate(CLOCK_MONOTONIC, &badsig)));
	printf("settime of no timer: %s\n", errname(tsettime(4242, 0, 1000, 0)));
	struct itimerspec badts = {{0, 0}, {0, 1000000000}};
	printf("settime with tv_nsec 1e9: %s\n",
	       errname(syscall(SYS_timer_settime, a, 0, &badts, NULL) == -1 ? -errno : 0));
	printf("getoverrun of no timer: %s\n", errname(syscall(SYS_timer_getoverrun, 4242) == -1 ? -errno : 0));
	printf("ptimer: ok\n");
	return 0;
}
