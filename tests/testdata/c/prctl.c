/*
 * prctl(2) options of process state: PR_SET_PDEATHSIG (the signal when
 * the parent dies), PR_SET_CHILD_SUBREAPER (orphans are reparented to the
 * subreaper, which reaps them), PR_SET_NAME truncation, PR_SET_DUMPABLE,
 * PR_SET_TIMERSLACK, PR_SET_THP_DISABLE (inherited by fork),
 * PR_GET_TID_ADDRESS, PR_SET_VMA anonymous names, PR_SET_MM's checks, and
 * EINVAL for unknown options and bad arguments.
 */
#include "veiltest.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

#define ERRNO(call)                                       \
	({                                                \
		errno = 0;                                \
		long _r = (long)(call);                   \
		_r == -1 ? strerrorname_np(errno) : "ok"; \
	})

static void pdeathsig(void)
{
	int ready[2], report[2];
	SYS(pipe(ready));
	SYS(pipe(report));
	fflush(stdout);
	pid_t a = SYS(fork());
	if (a == 0) {
		pid_t b = SYS(fork());
		if (b == 0) {
			sigset_t set;
			sigemptyset(&set);
			sigaddset(&set, SIGUSR1);
			sigprocmask(SIG_BLOCK, &set, NULL);
			SYS(prctl(PR_SET_PDEATHSIG, SIGUSR1));
			int got = 0;
			SYS(prctl(PR_GET_PDEATHSIG, &got));
			CHECK(write(ready[1], &got, sizeof got) == sizeof got);
			int sig;
			sigwait(&set, &sig);
			/* The parent is gone: reparented to the reaper. */
			CHECK(write(report[1], &sig, sizeof sig) == sizeof sig);
			_exit(0);
		}
		int got;
		CHECK(read(ready[0], &got, sizeof got) == sizeof got);
		printf("prctl: PR_GET_PDEATHSIG %s\n", sigabbrev_np(got));
		fflush(stdout);
		_exit(0); /* the parent dies */
	}
	int st, sig;
	CHECK(waitpid(a, &st, 0) == a);
	CHECK(read(report[0], &sig, sizeof sig) == sizeof sig);
	printf("prctl: the orphan got SIG%s when its parent died\n", sigabbrev_np(sig));
	printf("prctl: PR_SET_PDEATHSIG 100: %s\n", ERRNO(prctl(PR_SET_PDEATHSIG, 100)));
	/* A fork does not inherit it. */
	SYS(prctl(PR_SET_PDEATHSIG, SIGHUP));
	fflush(stdout);
	pid_t c = SYS(fork());
	if (c == 0) {
		int v = -1;
		prctl(PR_GET_PDEATHSIG, &v);
		_exit(v);
	}
	CHECK(waitpid(c, &st, 0) == c);
	printf("prctl: a forked child's pdeath signal is %d\n", WEXITSTATUS(st));
	SYS(prctl(PR_SET_PDEATHSIG, 0));
}

static void subreaper(void)
{
	int v = -1;
	SYS(prctl(PR_GET_CHILD_SUBREAPER, &v));
	printf("prctl: subreaper before: %d\n", v);
	SYS(prctl(PR_SET_CHILD_SUBREAPER, 1));
	SYS(prctl(PR_GET_CHILD_SUBREAPER, &v));
	printf("prctl: subreaper after: %d\n", v);
	int p[2], q[2];
	SYS(pipe(p));
	SYS(pipe(q));
	pid_t me = getpid();
	fflush(stdout);
	pid_t a = SYS(fork());
	if (a == 0) {
		pid_t b = SYS(fork());
		if (b > 0)
			CHECK(write(q[1], &b, sizeof b) == sizeof b);
		if (b == 0) {
			close(p[1]);
			char c;
			CHECK(read(p[0], &c, 1) == 1); /* until the parent is gone */
			_exit(getppid() == me ? 42 : 43);
		}
		_exit(0);
	}
	int st;
	pid_t b;
	CHECK(read(q[0], &b, sizeof b) == sizeof b);
	CHECK(waitpid(a, &st, 0) == a);
	CHECK(write(p[1], "x", 1) == 1);
	/* The grandchild is now our child: wait reaps it. */
	CHECK(waitpid(b, &st, 0) == b);
	printf("prctl: the orphaned grandchild was reparented here: exit %d\n", WEXITSTATUS(st));
	SYS(prctl(PR_SET_CHILD_SUBREAPER, 0));
}

int main(void)
{
	veil_init("prctl");
	pdeathsig();
	subreaper();

	char name[32] = {0};
	SYS(prctl(PR_SET_NAME, "a-very-long-thread-name"));
	SYS(prctl(PR_GET_NAME, name));
	printf("prctl: name \"%s\"\n", name);

	printf("prctl: dumpable %d\n", (int)SYS(prctl(PR_GET_DUMPABLE)));
	SYS(prctl(PR_SET_DUMPABLE, 0));
	printf("prctl: dumpable after set 0: %d\n", (int)SYS(prctl(PR_GET_DUMPABLE)));
	printf("prctl: dumpable 2: %s\n", ERRNO(prctl(PR_SET_DUMPABLE, 2)));
	SYS(prctl(PR_SET_DUMPABLE, 1));

	long slack = SYS(prctl(PR_GET_TIMERSLACK));
	SYS(prctl(PR_SET_TIMERSLACK, 12345));
	printf("prctl: timerslack set: %ld\n", (long)SYS(prctl(PR_GET_TIMERSLACK)));
	SYS(prctl(PR_SET_TIMERSLACK, 0));
	printf("prctl: timerslack 0 restores the default: %d\n", SYS(prctl(PR_GET_TIMERSLACK)) == slack);

	printf("prctl: thp disabled %d\n", (int)SYS(prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0)));
	SYS(prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0));
	fflush(stdout);
	pid_t c = SYS(fork());
	if (c == 0)
		_exit(prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0));
	int st;
	CHECK(waitpid(c, &st, 0) == c);
	printf("prctl: thp disabled %d, in a child %d\n", (int)SYS(prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0)),
	       WEXITSTATUS(st));
	printf("prctl: thp with arg3: %s\n", ERRNO(prctl(PR_SET_THP_DISABLE, 1, 1, 0, 0)));
	printf("prctl: get thp with arg2: %s\n", ERRNO(prctl(PR_GET_THP_DISABLE, 1, 0, 0, 0)));
	SYS(prctl(PR_SET_THP_DISABLE, 0, 0, 0, 0));

	static int tidword;
	syscall(SYS_set_tid_address, &tidword);
	int *addr = NULL;
	SYS(prctl(PR_GET_TID_ADDRESS, &addr));
	printf("prctl: PR_GET_TID_ADDRESS is set_tid_address's: %d\n", addr == &tidword);

	char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(m != MAP_FAILED);
	/* A valid name is accepted only by kernels with CONFIG_ANON_VMA_NAME
	 * (the Sentry accepts it): not compared. */
	prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, m, 8192, "veil heap");
	printf("prctl: PR_SET_VMA bad name: %s\n", ERRNO(prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, m, 8192, "a$b")));
	printf("prctl: PR_SET_VMA unaligned: %s\n", ERRNO(prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, m + 1, 8192, "x")));
	printf("prctl: PR_SET_VMA bad attribute: %s\n", ERRNO(prctl(PR_SET_VMA, 7, m, 8192, "x")));

	printf("prctl: PR_SET_MM with arg5: %s\n", ERRNO(prctl(PR_SET_MM, PR_SET_MM_START_CODE, 0x400000, 0, 1)));
	fflush(stdout);
	c = SYS(fork());
	if (c == 0) {
		SYS(prctl(PR_SET_PDEATHSIG, SIGUSR2));
		SYS(setresuid(1000, 1000, 1000));
		int pd = -1;
		SYS(prctl(PR_GET_PDEATHSIG, &pd));
		printf("prctl: after setresuid: dumpable %d, pdeath signal %d\n", (int)SYS(prctl(PR_GET_DUMPABLE)), pd);
		printf("prctl: PR_SET_MM unprivileged: %s\n", ERRNO(prctl(PR_SET_MM, PR_SET_MM_START_BRK, 0x400000, 0, 0)));
		fflush(stdout);
		_exit(0);
	}
	CHECK(waitpid(c, &st, 0) == c);

	printf("prctl: PR_GET_SPECULATION_CTRL with arg3: %s\n", ERRNO(prctl(PR_GET_SPECULATION_CTRL, 0, 1, 0, 0)));
	printf("prctl: option 9999: %s\n", ERRNO(prctl(9999, 0, 0, 0, 0)));
	printf("prctl: option -1: %s\n", ERRNO(prctl(-1, 0, 0, 0, 0)));
	printf("prctl: ok\n");
	return 0;
}
