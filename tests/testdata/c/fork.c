/*
 * fork/vfork and wait semantics: exit codes 0..5, a child killed with
 * SIGKILL by its parent and one killed by its own SIGTERM (WIFSIGNALED,
 * WTERMSIG), WNOHANG on a live child, order-independent collection with
 * waitpid(-1) followed by ECHILD, getppid in the child, and SIGCHLD
 * delivery with CLD_EXITED.
 */
#include "veiltest.h"

#include <signal.h>
#include <sys/wait.h>
#include <time.h>

static volatile int sigchld_count;
static volatile int sigchld_code;
static volatile pid_t sigchld_pid;

static void on_chld(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	sigchld_count++;
	sigchld_code = si->si_code;
	sigchld_pid = si->si_pid;
}

static pid_t xfork(void)
{
	fflush(stdout);
	fflush(stderr);
	return SYS(fork());
}

int main(void)
{
	veil_init("fork");
	pid_t me = getpid();
	int st;

	for (int i = 0; i <= 5; i++) {
		pid_t pid = xfork();
		if (pid == 0) {
			if (getppid() != me)
				_exit(98);
			if (getpid() == me)
				_exit(97);
			_exit(i);
		}
		CHECK(waitpid(pid, &st, 0) == pid);
		if (!WIFEXITED(st))
			FAIL("child %d: not exited, status 0x%x", i, st);
		printf("fork: child %d exited with %d\n", i, WEXITSTATUS(st));
		if (WEXITSTATUS(st) != i)
			FAIL("child %d: exit status %d", i, WEXITSTATUS(st));
	}

	/* A child blocked in read(2) is killed with SIGKILL. */
	int p[2];
	SYS(pipe(p));
	pid_t pid = xfork();
	if (pid == 0) {
		char c;
		close(p[1]);
		if (read(p[0], &c, 1) >= 0)
			_exit(96);
		_exit(95);
	}
	close(p[0]);
	CHECK(waitpid(pid, &st, WNOHANG) == 0);
	SYS(kill(pid, SIGKILL));
	CHECK(waitpid(pid, &st, 0) == pid);
	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL)
		FAIL("SIGKILLed child: status 0x%x", st);
	printf("fork: killed child: WIFSIGNALED, WTERMSIG=%d\n", WTERMSIG(st));
	close(p[1]);

	/* A child that raises SIGTERM with the default action. */
	pid = xfork();
	if (pid == 0) {
		raise(SIGTERM);
		_exit(94);
	}
	CHECK(waitpid(pid, &st, 0) == pid);
	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGTERM)
		FAIL("SIGTERM child: status 0x%x", st);
	printf("fork: self-terminated child: WTERMSIG=%d\n", WTERMSIG(st));

	/* vfork: the parent is suspended until the child exits. */
	volatile int shared_stack_var = 0;
	pid = vfork();
	if (pid == 0) {
		shared_stack_var = 1; /* visible in the parent: same memory */
		_exit(3);
	}
	CHECK(pid > 0);
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 3);
	CHECK(shared_stack_var == 1);
	printf("fork: vfork child exited with %d\n", WEXITSTATUS(st));

	/* waitpid(-1): collect five children in whatever order they end. */
	pid_t kids[5];
	for (int i = 0; i < 5; i++) {
		kids[i] = xfork();
		if (kids[i] == 0) {
			struct timespec ts = {0, (long)(4 - i) * 3000000L};
			nanosleep(&ts, NULL);
			_exit(10 + i);
		}
	}
	int seen = 0;
	for (int n = 0; n < 5; n++) {
		pid_t w = waitpid(-1, &st, 0);
		CHECK(w > 0);
		int idx = -1;
		for (int i = 0; i < 5; i++)
			if (kids[i] == w)
				idx = i;
		if (idx < 0)
			FAIL("waitpid(-1) returned unknown pid %d", (int)w);
		if (seen & (1 << idx))
			FAIL("pid %d reaped twice", (int)w);
		seen |= 1 << idx;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 10 + idx)
			FAIL("child %d: status 0x%x, want exit %d", idx, st, 10 + idx);
	}
	CHECK(seen == 0x1f);
	errno = 0;
	CHECK(waitpid(-1, &st, 0) == -1 && errno == ECHILD);
	printf("fork: waitpid(-1) collected exit codes 10..14, then ECHILD\n");

	/* SIGCHLD with CLD_EXITED. */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_chld;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	SYS(sigaction(SIGCHLD, &sa, NULL));
	pid = xfork();
	if (pid == 0)
		_exit(7);
	CHECK(waitpid(pid, &st, 0) == pid);
	for (int i = 0; i < 1000 && sigchld_count == 0; i++) {
		struct timespec ts = {0, 1000000L};
		nanosleep(&ts, NULL);
	}
	if (sigchld_count != 1)
		FAIL("SIGCHLD handler ran %d times, want 1", sigchld_count);
	CHECK(sigchld_code == CLD_EXITED);
	CHECK(sigchld_pid == pid);
	printf("fork: SIGCHLD delivered with CLD_EXITED\n");

	printf("fork: ok\n");
	return 0;
}
