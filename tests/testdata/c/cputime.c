/*
 * CPU-time accounting: getrusage(2), times(2), the CPU-time clocks
 * (clock_gettime(2) of CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID
 * and of clock_getcpuclockid(3)/pthread_getcpuclockid(3) clocks),
 * clock_nanosleep(2) on a CPU clock, wait4(2)/waitid(2) rusage, SIGCHLD's
 * si_utime, /proc/PID/stat, ITIMER_PROF and ITIMER_VIRTUAL, RLIMIT_CPU.
 *
 *   cputime              all the checks below, deterministic output
 *   cputime spin SECS    uses SECS of CPU time and exits (for time(1))
 *   cputime settime      tries to set the clock (only ever run in the
 *                        sandbox, where it must fail: never natively)
 *
 * Times vary from run to run, so only plausibility is printed ("yes"/"no"
 * lines): a loop that uses ~0.3 s of CPU reports user time between 0.1 s
 * and 2 s, and more user than system time. Busy loops run until their own
 * thread's CPU clock says so (reading it rarely, since under the sandbox
 * every reading is a system call), so a loaded machine only makes them
 * take longer.
 */
#include "veiltest.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timex.h>
#include <sys/times.h>
#include <sys/wait.h>
#include <time.h>

#define MAKE_PROCESS_CPUCLOCK(pid, clock) ((int)(~(unsigned)(pid) << 3) | (clock))
#define MAKE_THREAD_CPUCLOCK(tid, clock) MAKE_PROCESS_CPUCLOCK(tid, (clock) | 4)
#define CPUCLOCK_SCHED 2

static double ts_s(struct timespec t) { return t.tv_sec + t.tv_nsec / 1e9; }
static double tv_s(struct timeval t) { return t.tv_sec + t.tv_usec / 1e6; }

static double clock_s(clockid_t c)
{
	struct timespec t;
	SYS(clock_gettime(c, &t));
	return ts_s(t);
}

static volatile unsigned long sink;

/* spin uses about secs of CPU time in the calling thread. */
static void spin(double secs)
{
	double end = clock_s(CLOCK_THREAD_CPUTIME_ID) + secs;
	do {
		for (unsigned long i = 0; i < 2000000; i++)
			sink += i * i;
	} while (clock_s(CLOCK_THREAD_CPUTIME_ID) < end);
}

static const char *yes(int c) { return c ? "yes" : "no"; }

static int plausible(double user) { return user >= 0.1 && user <= 2.0; }

static volatile sig_atomic_t nprof, nvirt, nxcpu;
static volatile long chld_utime;
static int xcpu_pipe;

static void on_prof(int s) { (void)s; nprof++; }
static void on_virt(int s) { (void)s; nvirt++; }
static void on_chld(int s, siginfo_t *si, void *u)
{
	(void)s, (void)u;
	chld_utime = si->si_utime;
}
static void on_xcpu(int s)
{
	(void)s;
	struct rlimit rl;
	getrlimit(RLIMIT_CPU, &rl);
	char c = (char)rl.rlim_cur;
	write(xcpu_pipe, &c, 1);
}

/* A thread that spins, then waits for the main thread to read its clock. */
static pthread_barrier_t bar;
static void *worker(void *arg)
{
	(void)arg;
	spin(0.2);
	pthread_barrier_wait(&bar);
	pthread_barrier_wait(&bar);
	return NULL;
}

static volatile int stop_spinner;
static void *spinner(void *arg)
{
	(void)arg;
	while (!stop_spinner)
		sink++;
	return NULL;
}

/* Field n (1-based) of /proc/<path>/stat. */
static long stat_field(const char *path, int n)
{
	char buf[1024];
	int fd = SYS(open(path, O_RDONLY));
	ssize_t len = SYS(read(fd, buf, sizeof buf - 1));
	close(fd);
	buf[len] = 0;
	char *p = strrchr(buf, ')');
	CHECK(p != NULL);
	p += 2; /* field 3 */
	for (int i = 3; i < n; i++) {
		p = strchr(p, ' ');
		CHECK(p != NULL);
		p++;
	}
	return strtol(p, NULL, 10);
}

static void self_usage(void)
{
	spin(0.3);
	struct rusage ru;
	SYS(getrusage(RUSAGE_SELF, &ru));
	printf("RUSAGE_SELF user plausible: %s\n", yes(plausible(tv_s(ru.ru_utime))));
	printf("RUSAGE_SELF user > sys: %s\n", yes(tv_s(ru.ru_utime) > tv_s(ru.ru_stime)));
	printf("RUSAGE_SELF minflt > 0: %s\n", yes(ru.ru_minflt > 0));
	SYS(getrusage(RUSAGE_THREAD, &ru));
	printf("RUSAGE_THREAD user plausible: %s\n", yes(plausible(tv_s(ru.ru_utime))));
	errno = 0;
	printf("getrusage(42): %s\n", getrusage(42, &ru) == -1 && errno == EINVAL ? "EINVAL" : "?");

	struct tms tm;
	CHECK(times(&tm) != (clock_t)-1);
	printf("times user ticks plausible: %s\n", yes(tm.tms_utime >= 10 && tm.tms_utime <= 200));

	double p1 = clock_s(CLOCK_PROCESS_CPUTIME_ID), t1 = clock_s(CLOCK_THREAD_CPUTIME_ID);
	double p2 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
	printf("process clock plausible: %s\n", yes(plausible(p1)));
	printf("thread clock plausible: %s\n", yes(plausible(t1)));
	printf("process clock goes forward: %s\n", yes(p2 >= p1));
	struct timespec res;
	SYS(clock_getres(CLOCK_PROCESS_CPUTIME_ID, &res));
	printf("CLOCK_PROCESS_CPUTIME_ID resolution: %ld ns\n", res.tv_nsec);
	SYS(clock_getres(CLOCK_THREAD_CPUTIME_ID, &res));
	printf("CLOCK_THREAD_CPUTIME_ID resolution: %ld ns\n", res.tv_nsec);

	clockid_t c;
	CHECK(clock_getcpuclockid(getpid(), &c) == 0);
	printf("clock_getcpuclockid(getpid()) plausible: %s\n", yes(plausible(clock_s(c))));
	printf("clock_getcpuclockid(no such pid): %s\n", clock_getcpuclockid(999999, &c) == ESRCH ? "ESRCH" : "?");

	long ut = stat_field("/proc/self/stat", 14);
	printf("/proc/self/stat utime plausible: %s\n", yes(ut >= 10 && ut <= 200));
	char path[64];
	snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)gettid());
	ut = stat_field(path, 14);
	printf("/proc/self/task/TID/stat utime plausible: %s\n", yes(ut >= 10 && ut <= 200));
}

static void thread_clocks(void)
{
	pthread_t th;
	pthread_barrier_init(&bar, NULL, 2);
	SYS(pthread_create(&th, NULL, worker, NULL) == 0 ? 0 : -1);
	pthread_barrier_wait(&bar);
	clockid_t c;
	CHECK(pthread_getcpuclockid(th, &c) == 0);
	double w = clock_s(c);
	printf("other thread's clock plausible: %s\n", yes(w >= 0.1 && w <= 2.0));
	printf("process clock >= both threads: %s\n",
	       yes(clock_s(CLOCK_PROCESS_CPUTIME_ID) >= w + clock_s(CLOCK_THREAD_CPUTIME_ID) - 0.01));
	pthread_barrier_wait(&bar);
	pthread_join(th, NULL);
	/* (The clock of a thread just joined is not checked: even Linux may
	 * still have the thread for a moment after it woke its joiner.) */
}

static void cpu_nanosleep(void)
{
	pthread_t th;
	stop_spinner = 0;
	SYS(pthread_create(&th, NULL, spinner, NULL) == 0 ? 0 : -1);
	double before = clock_s(CLOCK_PROCESS_CPUTIME_ID);
	struct timespec d = {0, 100000000};
	int r = clock_nanosleep(CLOCK_PROCESS_CPUTIME_ID, 0, &d, NULL);
	double after = clock_s(CLOCK_PROCESS_CPUTIME_ID);
	stop_spinner = 1;
	pthread_join(th, NULL);
	printf("clock_nanosleep(CLOCK_PROCESS_CPUTIME_ID): %d, slept 0.1 s of CPU: %s\n", r, yes(after - before >= 0.099));
	printf("clock_nanosleep(CLOCK_THREAD_CPUTIME_ID): %s\n",
	       clock_nanosleep(CLOCK_THREAD_CPUTIME_ID, 0, &d, NULL) == EINVAL ? "EINVAL" : "?");
}

static void children(void)
{
	struct sigaction sa = {0};
	sa.sa_sigaction = on_chld;
	sa.sa_flags = SA_SIGINFO;
	SYS(sigaction(SIGCHLD, &sa, NULL));

	int p[2];
	SYS(pipe(p));
	pid_t c = SYS(fork());
	if (c == 0) {
		spin(0.2);
		char b = 1;
		write(p[1], &b, 1);
		pause(); /* until killed */
		_exit(0);
	}
	char b;
	SYS(read(p[0], &b, 1));
	clockid_t cc;
	CHECK(clock_getcpuclockid(c, &cc) == 0);
	printf("child's process clock plausible: %s\n", yes(clock_s(cc) >= 0.1 && clock_s(cc) <= 2.0));
	struct timespec t;
	errno = 0;
	printf("child's thread clock: %s\n",
	       clock_gettime(MAKE_THREAD_CPUCLOCK(c, CPUCLOCK_SCHED), &t) == -1 && errno == EINVAL ? "EINVAL" : "?");
	SYS(kill(c, SIGKILL));
	struct rusage ru;
	int st;
	SYS(wait4(c, &st, 0, &ru));
	printf("wait4 rusage user plausible: %s\n", yes(tv_s(ru.ru_utime) >= 0.1 && tv_s(ru.ru_utime) <= 2.0));
	printf("SIGCHLD si_utime > 0: %s\n", yes(chld_utime > 0));
	struct rusage ch;
	SYS(getrusage(RUSAGE_CHILDREN, &ch));
	printf("RUSAGE_CHILDREN includes it: %s\n", yes(tv_s(ch.ru_utime) >= tv_s(ru.ru_utime) - 0.001));
	struct tms tm;
	times(&tm);
	printf("times children ticks > 0: %s\n", yes(tm.tms_cutime > 0));
	printf("/proc/self/stat cutime > 0: %s\n", yes(stat_field("/proc/self/stat", 16) > 0));

	c = SYS(fork());
	if (c == 0) {
		spin(0.2);
		_exit(3);
	}
	siginfo_t si;
	memset(&ru, 0, sizeof ru);
	SYS(syscall(SYS_waitid, P_PID, c, &si, WEXITED, &ru));
	printf("waitid rusage user plausible: %s (status %d)\n",
	       yes(tv_s(ru.ru_utime) >= 0.1 && tv_s(ru.ru_utime) <= 2.0), si.si_status);
	signal(SIGCHLD, SIG_DFL);
}

static void itimers(void)
{
	signal(SIGPROF, on_prof);
	signal(SIGVTALRM, on_virt);
	struct itimerval it = {{0, 10000}, {0, 10000}};
	SYS(setitimer(ITIMER_PROF, &it, NULL));
	spin(0.3);
	it = (struct itimerval){{0, 0}, {0, 0}};
	SYS(setitimer(ITIMER_PROF, &it, NULL));
	printf("ITIMER_PROF 10 ms over 0.3 s of CPU: plausible count: %s\n", yes(nprof >= 10 && nprof <= 60));

	it = (struct itimerval){{0, 10000}, {0, 10000}};
	SYS(setitimer(ITIMER_VIRTUAL, &it, NULL));
	spin(0.3);
	it = (struct itimerval){{0, 0}, {0, 0}};
	SYS(setitimer(ITIMER_VIRTUAL, &it, NULL));
	printf("ITIMER_VIRTUAL 10 ms over 0.3 s of CPU: plausible count: %s\n", yes(nvirt >= 10 && nvirt <= 60));

	it = (struct itimerval){{1, 0}, {5, 0}};
	SYS(setitimer(ITIMER_PROF, &it, NULL));
	struct itimerval got;
	SYS(getitimer(ITIMER_PROF, &got));
	printf("getitimer(ITIMER_PROF): interval %ld s, value in (4 s, 5.1 s]: %s\n", got.it_interval.tv_sec,
	       yes(tv_s(got.it_value) > 4 && tv_s(got.it_value) <= 5.1));
	struct itimerval old;
	it = (struct itimerval){{0, 0}, {0, 50000}};
	SYS(setitimer(ITIMER_PROF, &it, &old));
	printf("setitimer old value interval %ld s\n", old.it_interval.tv_sec);
	nprof = 0;
	usleep(200000);
	printf("no SIGPROF while sleeping: %s\n", yes(nprof == 0));
	it = (struct itimerval){{0, 0}, {0, 0}};
	SYS(setitimer(ITIMER_PROF, &it, NULL));
	errno = 0;
	printf("setitimer(42): %s\n", setitimer(42, &it, NULL) == -1 && errno == EINVAL ? "EINVAL" : "?");
}

static void cpu_limit(void)
{
	int p[2];
	SYS(pipe(p));
	pid_t c = SYS(fork());
	if (c == 0) {
		close(p[0]);
		xcpu_pipe = p[1];
		signal(SIGXCPU, on_xcpu);
		struct rlimit rl = {1, 2};
		SYS(setrlimit(RLIMIT_CPU, &rl));
		for (;;)
			sink++;
	}
	close(p[1]);
	int st;
	SYS(waitpid(c, &st, 0));
	char got[16];
	ssize_t n = read(p[0], got, sizeof got);
	printf("RLIMIT_CPU 1/2 s: SIGXCPU at the soft limit: %s, soft limit then 2: %s\n", yes(n >= 1),
	       yes(n >= 1 && got[0] == 2));
	printf("RLIMIT_CPU: killed by SIGKILL at the hard limit: %s\n", yes(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL));
}

static void memory(void)
{
	struct rusage a, b;
	SYS(getrusage(RUSAGE_SELF, &a));
	size_t n = 32 << 20;
	volatile char *m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(m != MAP_FAILED);
	for (size_t i = 0; i < n; i += 4096)
		m[i] = 1;
	SYS(getrusage(RUSAGE_SELF, &b));
	printf("maxrss grew by >= 16 MiB after touching 32 MiB: %s\n", yes(b.ru_maxrss - a.ru_maxrss >= 16 << 10));
	SYS(munmap((void *)m, n));
	SYS(getrusage(RUSAGE_SELF, &a));
	printf("maxrss stays after munmap: %s\n", yes(a.ru_maxrss >= b.ru_maxrss));
	for (int i = 0; i < 5; i++)
		usleep(1000);
	printf("voluntary context switches after sleeps: %s\n", yes(a.ru_nvcsw >= 0 && (getrusage(RUSAGE_SELF, &b), b.ru_nvcsw >= 5)));
}

/* settime tries every way of setting the clock, to the time it is now. */
static int settime(void)
{
	struct timespec ts;
	SYS(clock_gettime(CLOCK_REALTIME, &ts));
	errno = 0;
	int r = clock_settime(CLOCK_REALTIME, &ts);
	printf("clock_settime: %d %s\n", r, strerror(errno));
	struct timeval tv = {ts.tv_sec, ts.tv_nsec / 1000};
	errno = 0;
	r = settimeofday(&tv, NULL);
	printf("settimeofday: %d %s\n", r, strerror(errno));
	struct timex tx = {.modes = ADJ_OFFSET | ADJ_STATUS, .offset = 0, .status = 0};
	errno = 0;
	r = adjtimex(&tx);
	printf("adjtimex set: %d %s\n", r, strerror(errno));
	struct timex q = {0};
	r = adjtimex(&q);
	printf("adjtimex query: %s, tick %ld\n", r >= 0 ? "ok" : strerror(errno), q.tick);
	errno = 0;
	r = clock_settime(CLOCK_MONOTONIC, &ts);
	printf("clock_settime(CLOCK_MONOTONIC): %d %s\n", r, strerror(errno));
	return 0;
}

int main(int argc, char **argv)
{
	veil_init("cputime");
	if (argc == 3 && strcmp(argv[1], "spin") == 0) {
		spin(atof(argv[2]));
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "settime") == 0)
		return settime();
	self_usage();
	thread_clocks();
	cpu_nanosleep();
	children();
	itimers();
	cpu_limit();
	memory();
	printf("cputime: ok\n");
	return 0;
}
