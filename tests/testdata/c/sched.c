/*
 * Scheduling attributes: sched_setscheduler/getscheduler/setparam/
 * getparam/setattr/getattr, priority ranges, sched_rr_get_interval,
 * SCHED_RESET_ON_FORK, setpriority/getpriority by process, group and user,
 * CPU affinity and getcpu, and the permission rules for an unprivileged
 * user (EPERM, EACCES). Runs as root; the unprivileged part in a child
 * that gives up root.
 */
#include "veiltest.h"

#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

struct attr {
	uint32_t size, policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime, deadline, period;
	uint32_t util_min, util_max;
};

static const char *pol(int p)
{
	switch (p & ~SCHED_RESET_ON_FORK) {
	case SCHED_OTHER:
		return "SCHED_OTHER";
	case SCHED_FIFO:
		return "SCHED_FIFO";
	case SCHED_RR:
		return "SCHED_RR";
	case SCHED_BATCH:
		return "SCHED_BATCH";
	case SCHED_IDLE:
		return "SCHED_IDLE";
	case 6:
		return "SCHED_DEADLINE";
	}
	return "?";
}

#define ERRNO(call)                                                   \
	({                                                            \
		errno = 0;                                            \
		long _r = (long)(call);                               \
		_r == -1 ? strerrorname_np(errno) : "ok";             \
	})

static void show(const char *what)
{
	struct sched_param sp;
	SYS(sched_getparam(0, &sp));
	int p = SYS(sched_getscheduler(0));
	printf("sched: %s: %s%s priority %d nice %d\n", what, pol(p),
	       p & SCHED_RESET_ON_FORK ? "|RESET_ON_FORK" : "", sp.sched_priority,
	       getpriority(PRIO_PROCESS, 0));
}

int main(void)
{
	veil_init("sched");
	/* Its own process group, so that PRIO_PGRP reaches only it (a
	 * session leader, as pid 1 of a sandbox, already has one). */
	setpgid(0, 0);
	show("start");
	int pols[] = {SCHED_OTHER, SCHED_FIFO, SCHED_RR, SCHED_BATCH, SCHED_IDLE, 6};
	for (int i = 0; i < 6; i++)
		printf("sched: %s range %d..%d\n", pol(pols[i]), sched_get_priority_min(pols[i]),
		       sched_get_priority_max(pols[i]));
	printf("sched: policy 42 range: %s\n", ERRNO(sched_get_priority_max(42)));

	struct sched_param sp = {.sched_priority = 10};
	SYS(sched_setscheduler(0, SCHED_FIFO, &sp));
	show("SCHED_FIFO 10");
	struct timespec ts;
	SYS(sched_rr_get_interval(0, &ts));
	printf("sched: FIFO rr interval %ld.%09ld\n", (long)ts.tv_sec, ts.tv_nsec);
	sp.sched_priority = 20;
	SYS(sched_setparam(0, &sp));
	show("setparam 20");
	SYS(sched_setscheduler(0, SCHED_RR, &sp));
	SYS(sched_rr_get_interval(0, &ts));
	printf("sched: RR rr interval %ld.%09ld\n", (long)ts.tv_sec, ts.tv_nsec);
	sp.sched_priority = 0;
	printf("sched: FIFO priority 0: %s\n", ERRNO(sched_setscheduler(0, SCHED_FIFO, &sp)));
	sp.sched_priority = 100;
	printf("sched: FIFO priority 100: %s\n", ERRNO(sched_setscheduler(0, SCHED_FIFO, &sp)));
	sp.sched_priority = 5;
	printf("sched: OTHER priority 5: %s\n", ERRNO(sched_setscheduler(0, SCHED_OTHER, &sp)));
	printf("sched: policy 42: %s\n", ERRNO(sched_setscheduler(0, 42, &sp)));
	printf("sched: NULL param: %s\n", ERRNO(syscall(SYS_sched_setscheduler, 0, SCHED_OTHER, NULL)));
	printf("sched: pid -1: %s\n", ERRNO(sched_getscheduler(-1)));
	printf("sched: missing pid: %s %s\n", ERRNO(sched_getscheduler(99999)), ERRNO(sched_getparam(99999, &sp)));
	printf("sched: deadline by setscheduler: %s\n", ERRNO(sched_setscheduler(0, 6, &sp)));

	/* SCHED_RESET_ON_FORK: a child starts as SCHED_OTHER. */
	sp.sched_priority = 30;
	SYS(sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &sp));
	show("FIFO|RESET_ON_FORK");
	fflush(stdout);
	pid_t c = SYS(fork());
	if (c == 0) {
		show("child after reset-on-fork");
		_exit(0);
	}
	int st;
	CHECK(waitpid(c, &st, 0) == c && st == 0);

	/* sched_setattr and sched_getattr. */
	struct attr a = {.size = sizeof a, .policy = SCHED_BATCH, .nice = 7};
	SYS(syscall(SYS_sched_setattr, 0, &a, 0));
	show("setattr SCHED_BATCH nice 7");
	memset(&a, 0xff, sizeof a);
	SYS(syscall(SYS_sched_getattr, 0, &a, sizeof a, 0));
	printf("sched: getattr size %u policy %s nice %d priority %u flags %#lx\n", a.size, pol(a.policy), a.nice,
	       a.priority, (unsigned long)a.flags);
	SYS(syscall(SYS_sched_getattr, 0, &a, 48, 0));
	printf("sched: getattr with 48 bytes: size %u\n", a.size);
	printf("sched: getattr size 8: %s\n", ERRNO(syscall(SYS_sched_getattr, 0, &a, 8, 0)));
	printf("sched: getattr flags 1: %s\n", ERRNO(syscall(SYS_sched_getattr, 0, &a, sizeof a, 1)));
	a = (struct attr){.size = 40, .policy = SCHED_OTHER};
	printf("sched: setattr size 40: %s\n", ERRNO(syscall(SYS_sched_setattr, 0, &a, 0)));
	a = (struct attr){.size = 0, .policy = SCHED_OTHER, .nice = -3};
	printf("sched: setattr size 0 (VER0): %s\n", ERRNO(syscall(SYS_sched_setattr, 0, &a, 0)));
	show("after VER0 setattr");
	a = (struct attr){.size = sizeof a, .policy = 6, .runtime = 10, .deadline = 20, .period = 30};
	printf("sched: deadline runtime too small: %s\n", ERRNO(syscall(SYS_sched_setattr, 0, &a, 0)));
	a = (struct attr){.size = sizeof a, .policy = 6, .runtime = 2000000, .deadline = 1000000, .period = 3000000};
	printf("sched: deadline runtime > deadline: %s\n", ERRNO(syscall(SYS_sched_setattr, 0, &a, 0)));
	a = (struct attr){.size = sizeof a, .policy = SCHED_OTHER, .flags = 0x1000};
	printf("sched: unknown sched_flags: %s\n", ERRNO(syscall(SYS_sched_setattr, 0, &a, 0)));
	printf("sched: setattr flags 1: %s\n", ERRNO(syscall(SYS_sched_setattr, 0, &a, 1)));

	/* setpriority/getpriority. */
	SYS(setpriority(PRIO_PROCESS, 0, 5));
	printf("sched: PRIO_PROCESS nice %d\n", getpriority(PRIO_PROCESS, 0));
	SYS(setpriority(PRIO_PROCESS, 0, 100));
	printf("sched: nice 100 clamps to %d\n", getpriority(PRIO_PROCESS, getpid()));
	SYS(setpriority(PRIO_PGRP, 0, -4));
	printf("sched: PRIO_PGRP nice %d %d\n", getpriority(PRIO_PGRP, 0), getpriority(PRIO_PROCESS, 0));
	printf("sched: raw getpriority returns %ld\n", syscall(SYS_getpriority, PRIO_PROCESS, 0));
	printf("sched: which 7: %s\n", ERRNO(setpriority(7, 0, 0)));
	printf("sched: missing pid: %s %s\n", ERRNO(setpriority(PRIO_PROCESS, 99999, 0)),
	       ERRNO(getpriority(PRIO_PROCESS, 99999)));
	printf("sched: missing user: %s\n", ERRNO(getpriority(PRIO_USER, 54321)));
	SYS(nice(2));
	printf("sched: nice(2) gives %d\n", getpriority(PRIO_PROCESS, 0));

	/* Affinity and getcpu. */
	cpu_set_t set;
	CPU_ZERO(&set);
	SYS(sched_getaffinity(0, sizeof set, &set));
	printf("sched: affinity has %d CPUs, as many as online: %d\n", CPU_COUNT(&set),
	       CPU_COUNT(&set) == sysconf(_SC_NPROCESSORS_ONLN));
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	SYS(sched_setaffinity(0, sizeof set, &set));
	CPU_ZERO(&set);
	SYS(sched_getaffinity(0, sizeof set, &set));
	printf("sched: pinned: %d CPU, CPU0 %d\n", CPU_COUNT(&set), CPU_ISSET(0, &set));
	unsigned cpu = 99, node = 99;
	SYS(syscall(SYS_getcpu, &cpu, &node, NULL));
	printf("sched: getcpu cpu %u node %u\n", cpu, node);
	CPU_ZERO(&set);
	printf("sched: empty mask: %s\n", ERRNO(sched_setaffinity(0, sizeof set, &set)));
	CPU_SET(1000, &set);
	printf("sched: only CPU 1000: %s\n", ERRNO(sched_setaffinity(0, sizeof set, &set)));
	printf("sched: getaffinity of 1 byte: %s\n", ERRNO(syscall(SYS_sched_getaffinity, 0, 1, &set)));
	printf("sched: getaffinity of a missing pid: %s\n", ERRNO(sched_getaffinity(99999, sizeof set, &set)));
	long n = syscall(SYS_sched_getaffinity, 0, sizeof set, &set);
	printf("sched: raw getaffinity returns a whole number of words: %d\n", n > 0 && n % 8 == 0);

	/* An unprivileged user: lower nice needs CAP_SYS_NICE (EACCES), real
	 * time policies and other users' processes EPERM. */
	SYS(setpriority(PRIO_PROCESS, 0, 0));
	sp.sched_priority = 0;
	SYS(sched_setscheduler(0, SCHED_OTHER, &sp));
	pid_t root = getpid();
	fflush(stdout);
	c = SYS(fork());
	if (c == 0) {
		SYS(setresgid(1000, 1000, 1000));
		SYS(setresuid(1000, 1000, 1000));
		SYS(setpriority(PRIO_PROCESS, 0, 3));
		printf("sched: user: raise nice to 3: %d\n", getpriority(PRIO_PROCESS, 0));
		printf("sched: user: lower nice to 1: %s\n", ERRNO(setpriority(PRIO_PROCESS, 0, 1)));
		printf("sched: user: renice root's process: %s\n", ERRNO(setpriority(PRIO_PROCESS, root, 5)));
		sp.sched_priority = 1;
		printf("sched: user: SCHED_FIFO: %s\n", ERRNO(sched_setscheduler(0, SCHED_FIFO, &sp)));
		sp.sched_priority = 0;
		printf("sched: user: SCHED_BATCH: %s\n", ERRNO(sched_setscheduler(0, SCHED_BATCH, &sp)));
		printf("sched: user: SCHED_IDLE: %s\n", ERRNO(sched_setscheduler(0, SCHED_IDLE, &sp)));
		printf("sched: user: back from SCHED_IDLE: %s\n", ERRNO(sched_setscheduler(0, SCHED_OTHER, &sp)));
		printf("sched: user: setaffinity of root's process: %s\n",
		       ERRNO(sched_setaffinity(root, sizeof set, &set)));
		printf("sched: user: getscheduler of root's process: %s\n", ERRNO(sched_getscheduler(root)));
		fflush(stdout);
		_exit(0);
	}
	CHECK(waitpid(c, &st, 0) == c && st == 0);
	printf("sched: ok\n");
	return 0;
}
