/*
 * signalfd: blocked signals are read as signalfd_siginfo records (kill,
 * sigqueue's value, a child's exit status), poll says when one is
 * pending, a non-blocking read with none gives EAGAIN, and the mask can be
 * changed on the same descriptor.
 */
#include "veiltest.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>

int main(void)
{
	veil_init("signalfd");
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGCHLD);
	SYS(sigprocmask(SIG_BLOCK, &set, NULL));
	int fd = SYS(signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
	struct signalfd_siginfo si;
	CHECK(read(fd, &si, sizeof si) == -1 && errno == EAGAIN);
	struct pollfd p = {fd, POLLIN, 0};
	CHECK(poll(&p, 1, 0) == 0);
	printf("signalfd: nothing pending: EAGAIN, not readable\n");

	SYS(kill(getpid(), SIGUSR1));
	CHECK(poll(&p, 1, -1) == 1 && (p.revents & POLLIN));
	CHECK(read(fd, &si, sizeof si) == sizeof si);
	CHECK(si.ssi_signo == SIGUSR1 && si.ssi_pid == (uint32_t)getpid() && si.ssi_code == SI_USER);
	printf("signalfd: kill read as SIGUSR1 from this process\n");

	union sigval v = {.sival_int = 42};
	SYS(sigqueue(getpid(), SIGUSR1, v));
	CHECK(read(fd, &si, sizeof si) == sizeof si);
	CHECK(si.ssi_signo == SIGUSR1 && si.ssi_code == SI_QUEUE && si.ssi_int == 42);
	printf("signalfd: sigqueue value %d\n", si.ssi_int);

	fflush(stdout);
	pid_t c = SYS(fork());
	if (c == 0)
		_exit(7);
	p.revents = 0;
	CHECK(poll(&p, 1, -1) == 1);
	CHECK(read(fd, &si, sizeof si) == sizeof si);
	CHECK(si.ssi_signo == SIGCHLD && si.ssi_pid == (uint32_t)c && si.ssi_code == CLD_EXITED && si.ssi_status == 7);
	SYS(waitpid(c, NULL, 0));
	printf("signalfd: SIGCHLD with the child's status %d\n", si.ssi_status);

	/* A new mask on the same descriptor: SIGUSR1 is no longer read. */
	sigset_t only;
	sigemptyset(&only);
	sigaddset(&only, SIGCHLD);
	CHECK(signalfd(fd, &only, 0) == fd);
	SYS(kill(getpid(), SIGUSR1));
	CHECK(read(fd, &si, sizeof si) == -1 && errno == EAGAIN);
	sigset_t pend;
	SYS(sigpending(&pend));
	CHECK(sigismember(&pend, SIGUSR1));
	printf("signalfd: mask changed, SIGUSR1 stays pending\n");
	printf("signalfd: ok\n");
	return 0;
}
