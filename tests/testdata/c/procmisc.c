/*
 * membarrier(2) (with another thread running), the NUMA policy calls on a
 * one-node machine (get_mempolicy, set_mempolicy, mbind, move_pages,
 * migrate_pages) and clone3(2) with its argument checks.
 */
#include "veiltest.h"

#include <linux/membarrier.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define ERRNO(call)                                       \
	({                                                \
		errno = 0;                                \
		long _r = (long)(call);                   \
		_r == -1 ? strerrorname_np(errno) : "ok"; \
	})

#define MPOL_DEFAULT 0
#define MPOL_PREFERRED 1
#define MPOL_BIND 2
#define MPOL_INTERLEAVE 3
#define MPOL_F_NODE 1
#define MPOL_F_ADDR 2
#define MPOL_F_MEMS_ALLOWED 4

static volatile int stop;
static volatile long spins;

static void *spin(void *arg)
{
	(void)arg;
	while (!stop)
		spins++;
	return NULL;
}

static long membarrier(int cmd, unsigned flags) { return syscall(SYS_membarrier, cmd, flags, 0); }

static void test_membarrier(void)
{
	long q = membarrier(MEMBARRIER_CMD_QUERY, 0);
	CHECK(q >= 0);
	printf("procmisc: membarrier supports GLOBAL %d PRIVATE_EXPEDITED %d REGISTER %d SYNC_CORE %d\n",
	       !!(q & MEMBARRIER_CMD_GLOBAL), !!(q & MEMBARRIER_CMD_PRIVATE_EXPEDITED),
	       !!(q & MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED),
	       !!(q & MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE));
	pthread_t th;
	CHECK(pthread_create(&th, NULL, spin, NULL) == 0);
	while (spins == 0)
		sched_yield();
	printf("procmisc: PRIVATE_EXPEDITED unregistered: %s\n", ERRNO(membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0)));
	printf("procmisc: REGISTER_PRIVATE_EXPEDITED: %s\n",
	       ERRNO(membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0)));
	int ok = 1;
	for (int i = 0; i < 20; i++)
		ok &= membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0) == 0;
	printf("procmisc: 20 PRIVATE_EXPEDITED barriers with a spinning thread: %d\n", ok);
	printf("procmisc: GLOBAL: %s\n", ERRNO(membarrier(MEMBARRIER_CMD_GLOBAL, 0)));
	printf("procmisc: REGISTER_GLOBAL_EXPEDITED: %s, GLOBAL_EXPEDITED: %s\n",
	       ERRNO(membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0)),
	       ERRNO(membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0)));
	printf("procmisc: membarrier flags 1: %s\n", ERRNO(membarrier(MEMBARRIER_CMD_GLOBAL, 1)));
	printf("procmisc: membarrier cmd 1<<20: %s\n", ERRNO(membarrier(1 << 20, 0)));
	stop = 1;
	pthread_join(th, NULL);
}

static void test_numa(void)
{
	int mode = -1;
	unsigned long mask = 0xff;
	SYS(syscall(SYS_get_mempolicy, &mode, &mask, 64, NULL, 0));
	printf("procmisc: get_mempolicy: mode %d mask %#lx\n", mode, mask);
	SYS(syscall(SYS_get_mempolicy, &mode, &mask, 64, NULL, MPOL_F_MEMS_ALLOWED));
	printf("procmisc: mems allowed %#lx\n", mask);
	mask = 1;
	SYS(syscall(SYS_set_mempolicy, MPOL_BIND, &mask, 64));
	mask = 0;
	SYS(syscall(SYS_get_mempolicy, &mode, &mask, 64, NULL, 0));
	printf("procmisc: after MPOL_BIND: mode %d mask %#lx\n", mode, mask);
	printf("procmisc: MPOL_F_NODE without interleave: %s\n",
	       ERRNO(syscall(SYS_get_mempolicy, &mode, NULL, 0, NULL, MPOL_F_NODE)));
	mask = 0;
	printf("procmisc: MPOL_BIND with no nodes: %s\n", ERRNO(syscall(SYS_set_mempolicy, MPOL_BIND, &mask, 64)));
	mask = 2;
	printf("procmisc: MPOL_BIND to node 1: %s\n", ERRNO(syscall(SYS_set_mempolicy, MPOL_BIND, &mask, 64)));
	mask = 1;
	printf("procmisc: MPOL_DEFAULT with nodes: %s\n", ERRNO(syscall(SYS_set_mempolicy, MPOL_DEFAULT, &mask, 64)));
	printf("procmisc: mode 99: %s\n", ERRNO(syscall(SYS_set_mempolicy, 99, NULL, 0)));
	printf("procmisc: get_mempolicy flags 8: %s\n", ERRNO(syscall(SYS_get_mempolicy, &mode, NULL, 0, NULL, 8)));
	SYS(syscall(SYS_set_mempolicy, MPOL_DEFAULT, NULL, 0));

	char *m = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(m != MAP_FAILED);
	SYS(munmap(m + 4096, 4096));
	mask = 1;
	printf("procmisc: mbind: %s\n", ERRNO(syscall(SYS_mbind, m, 4096, MPOL_BIND, &mask, 64, 0)));
	printf("procmisc: mbind unaligned: %s\n", ERRNO(syscall(SYS_mbind, m + 1, 4096, MPOL_BIND, &mask, 64, 0)));
	printf("procmisc: mbind over a hole: %s\n", ERRNO(syscall(SYS_mbind, m, 3 * 4096, MPOL_BIND, &mask, 64, 0)));
	printf("procmisc: mbind flags 8: %s\n", ERRNO(syscall(SYS_mbind, m, 4096, MPOL_BIND, &mask, 64, 8)));
	m[0] = 1;
	void *pages[2] = {m, m + 4096};
	int status[2] = {99, 99};
	SYS(syscall(SYS_move_pages, 0, 2, pages, NULL, status, 0));
	printf("procmisc: move_pages status %d %s\n", status[0], strerrorname_np(-status[1]));
	int nodes[1] = {1};
	printf("procmisc: move_pages to node 1: %s\n", ERRNO(syscall(SYS_move_pages, 0, 1, pages, nodes, status, 0)));
	printf("procmisc: move_pages of a missing pid: %s\n",
	       ERRNO(syscall(SYS_move_pages, 99999, 1, pages, NULL, status, 0)));
	unsigned long from = 1, to = 1;
	printf("procmisc: migrate_pages: %ld\n", (long)syscall(SYS_migrate_pages, 0, 64, &from, &to));
	printf("procmisc: migrate_pages of a missing pid: %s\n",
	       ERRNO(syscall(SYS_migrate_pages, 99999, 64, &from, &to)));
}

static long clone3(struct clone_args *a, size_t size) { return syscall(SYS_clone3, a, size); }

static void test_clone3(void)
{
	pid_t ptid = 0;
	struct clone_args a = {.flags = CLONE_PARENT_SETTID, .parent_tid = (uintptr_t)&ptid, .exit_signal = SIGCHLD};
	fflush(stdout);
	long pid = clone3(&a, sizeof a);
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(5);
	int st;
	CHECK(waitpid(pid, &st, 0) == pid);
	printf("procmisc: clone3: child exited %d, parent_tid set %d\n", WEXITSTATUS(st), ptid == pid);

	char *stack = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(stack != MAP_FAILED);
	a = (struct clone_args){.exit_signal = SIGCHLD};
	printf("procmisc: clone3 size 8: %s\n", ERRNO(clone3(&a, 8)));
	printf("procmisc: clone3 size 8192: %s\n", ERRNO(clone3(&a, 8192)));
	char big[128] = {0};
	memcpy(big, &a, sizeof a);
	big[100] = 1;
	printf("procmisc: clone3 non-zero unknown fields: %s\n", ERRNO(clone3((struct clone_args *)big, sizeof big)));
	a = (struct clone_args){.flags = CLONE_THREAD | CLONE_SIGHAND | CLONE_VM, .exit_signal = SIGCHLD};
	printf("procmisc: clone3 CLONE_THREAD with an exit signal: %s\n", ERRNO(clone3(&a, sizeof a)));
	a = (struct clone_args){.flags = SIGCHLD};
	printf("procmisc: clone3 signal in flags: %s\n", ERRNO(clone3(&a, sizeof a)));
	a = (struct clone_args){.exit_signal = 100};
	printf("procmisc: clone3 exit signal 100: %s\n", ERRNO(clone3(&a, sizeof a)));
	a = (struct clone_args){.exit_signal = SIGCHLD, .stack = (uintptr_t)stack};
	printf("procmisc: clone3 stack without size: %s\n", ERRNO(clone3(&a, sizeof a)));
	a = (struct clone_args){.exit_signal = SIGCHLD, .stack_size = 4096};
	printf("procmisc: clone3 size without stack: %s\n", ERRNO(clone3(&a, sizeof a)));
	a = (struct clone_args){.flags = CLONE_SIGHAND | CLONE_VM | CLONE_CLEAR_SIGHAND, .exit_signal = SIGCHLD};
	printf("procmisc: clone3 CLONE_SIGHAND|CLONE_CLEAR_SIGHAND: %s\n", ERRNO(clone3(&a, sizeof a)));
	pid_t tids[2] = {5000, 5001};
	a = (struct clone_args){.exit_signal = SIGCHLD, .set_tid = (uintptr_t)tids, .set_tid_size = 2};
	printf("procmisc: clone3 set_tid for 2 levels: %s\n", ERRNO(clone3(&a, sizeof a)));
	tids[0] = -5;
	a = (struct clone_args){.exit_signal = SIGCHLD, .set_tid = (uintptr_t)tids, .set_tid_size = 1};
	printf("procmisc: clone3 set_tid -5: %s\n", ERRNO(clone3(&a, sizeof a)));
	a = (struct clone_args){.exit_signal = SIGCHLD, .set_tid_size = 1};
	printf("procmisc: clone3 set_tid_size without set_tid: %s\n", ERRNO(clone3(&a, sizeof a)));
	a = (struct clone_args){.flags = CLONE_INTO_CGROUP, .exit_signal = SIGCHLD, .cgroup = 0};
	printf("procmisc: clone3 CLONE_INTO_CGROUP of stdin: %s\n", ERRNO(clone3(&a, sizeof a)));
	/* CLONE_CLEAR_SIGHAND: handlers go back to the default, ignored
	 * signals stay ignored. */
	signal(SIGUSR1, SIG_IGN);
	signal(SIGUSR2, (void (*)(int))spin);
	a = (struct clone_args){.flags = CLONE_CLEAR_SIGHAND, .exit_signal = SIGCHLD};
	fflush(stdout);
	pid = clone3(&a, sizeof a);
	CHECK(pid >= 0);
	if (pid == 0) {
		struct sigaction s1, s2;
		sigaction(SIGUSR1, NULL, &s1);
		sigaction(SIGUSR2, NULL, &s2);
		_exit((s1.sa_handler == SIG_IGN) * 2 + (s2.sa_handler == SIG_DFL));
	}
	CHECK(waitpid(pid, &st, 0) == pid);
	printf("procmisc: CLONE_CLEAR_SIGHAND: ignored kept %d, handler reset %d\n", WEXITSTATUS(st) >> 1,
	       WEXITSTATUS(st) & 1);

	/* CLONE_PIDFD: a close-on-exec pidfd of the child, readable once it
	 * has exited and waitable with waitid(P_PIDFD); clone(2) stores it
	 * where parent_tid points. */
	for (int legacy = 0; legacy <= 1; legacy++) {
		int pfd = -1;
		a = (struct clone_args){.flags = CLONE_PIDFD, .pidfd = (uintptr_t)&pfd, .exit_signal = SIGCHLD};
		fflush(stdout);
		pid = legacy ? syscall(SYS_clone, CLONE_PIDFD | SIGCHLD, 0, &pfd, 0, 0) : clone3(&a, sizeof a);
		CHECK(pid >= 0);
		if (pid == 0)
			_exit(7);
		struct pollfd p = {.fd = pfd, .events = POLLIN};
		int n = poll(&p, 1, 10000);
		siginfo_t si = {0};
		int w = waitid((idtype_t)3 /* P_PIDFD */, pfd, &si, WEXITED);
		printf("procmisc: %s CLONE_PIDFD: fd %d cloexec %d, poll %d POLLIN %d, waitid %d pid %d status %d\n",
		       legacy ? "clone" : "clone3", pfd >= 0, fcntl(pfd, F_GETFD) == FD_CLOEXEC, n,
		       (p.revents & POLLIN) != 0, w, si.si_pid == pid, si.si_status);
		close(pfd);
	}
	int pfd = -1;
	printf("procmisc: clone CLONE_PIDFD|CLONE_PARENT_SETTID: %s\n",
	       ERRNO(syscall(SYS_clone, CLONE_PIDFD | CLONE_PARENT_SETTID | SIGCHLD, 0, &pfd, 0, 0)));
	a = (struct clone_args){.flags = CLONE_PIDFD | CLONE_PARENT_SETTID, .pidfd = (uintptr_t)&pfd,
	                        .parent_tid = (uintptr_t)&pfd, .exit_signal = SIGCHLD};
	printf("procmisc: clone3 CLONE_PIDFD and parent_tid at one address: %s\n", ERRNO(clone3(&a, sizeof a)));
	a = (struct clone_args){.flags = CLONE_PIDFD, .pidfd = 8, .exit_signal = SIGCHLD};
	printf("procmisc: clone3 CLONE_PIDFD to a bad address: %s\n", ERRNO(clone3(&a, sizeof a)));
}

int main(void)
{
	veil_init("procmisc");
	test_membarrier();
	test_numa();
	test_clone3();
	printf("procmisc: ok\n");
	return 0;
}
