/*
 * Job control and signal waiting: a child stopped by SIGSTOP is reported by
 * waitpid(WUNTRACED) and continued by SIGCONT (waitpid(WCONTINUED));
 * SIGCHLD arrives for each; a child killed by SIGTERM reports WTERMSIG;
 * sigsuspend returns after a handler ran; sigtimedwait takes a blocked
 * signal and times out when none comes; ITIMER_REAL fires periodically.
 */
#include "veiltest.h"

#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

static volatile sig_atomic_t chld, alrm, usr1;
static void on_chld(int s) { (void)s; chld++; }
static void on_alrm(int s) { (void)s; alrm++; }
static void on_usr1(int s) { (void)s; usr1++; }

int main(void)
{
	veil_init("jobctl");
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_chld;
	sa.sa_flags = SA_RESTART;
	SYS(sigaction(SIGCHLD, &sa, NULL));

	pid_t p = SYS(fork());
	if (p == 0) {
		for (;;)
			pause();
	}
	int st;
	SYS(kill(p, SIGSTOP));
	CHECK(waitpid(p, &st, WUNTRACED) == p);
	CHECK(WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP);
	printf("jobctl: child stopped by SIGSTOP\n");
	SYS(kill(p, SIGCONT));
	CHECK(waitpid(p, &st, WCONTINUED) == p);
	CHECK(WIFCONTINUED(st));
	printf("jobctl: child continued\n");
	SYS(kill(p, SIGTERM));
	CHECK(waitpid(p, &st, 0) == p);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
	CHECK(chld >= 2);
	printf("jobctl: child killed by SIGTERM, SIGCHLD seen\n");

	/* sigsuspend: wait with SIGUSR1 unblocked, the old mask comes back. */
	sigset_t block, old, none;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	SYS(sigprocmask(SIG_BLOCK, &block, &old));
	sa.sa_handler = on_usr1;
	SYS(sigaction(SIGUSR1, &sa, NULL));
	SYS(kill(getpid(), SIGUSR1));
	CHECK(usr1 == 0);
	sigemptyset(&none);
	CHECK(sigsuspend(&none) == -1 && errno == EINTR);
	CHECK(usr1 == 1);
	sigset_t now;
	SYS(sigprocmask(SIG_BLOCK, NULL, &now));
	CHECK(sigismember(&now, SIGUSR1));
	printf("jobctl: sigsuspend ran the handler and restored the mask\n");

	/* sigtimedwait takes a blocked pending signal, else times out. */
	SYS(kill(getpid(), SIGUSR1));
	siginfo_t si;
	struct timespec ts = {0, 20 * 1000 * 1000};
	CHECK(sigtimedwait(&block, &si, &ts) == SIGUSR1);
	CHECK(si.si_pid == getpid() && usr1 == 1);
	CHECK(sigtimedwait(&block, &si, &ts) == -1 && errno == EAGAIN);
	printf("jobctl: sigtimedwait took the signal, then timed out\n");

	/* A periodic ITIMER_REAL interrupts pause() repeatedly. */
	sa.sa_handler = on_alrm;
	sa.sa_flags = 0;
	SYS(sigaction(SIGALRM, &sa, NULL));
	struct itimerval it = {{0, 10000}, {0, 10000}};
	SYS(setitimer(ITIMER_REAL, &it, NULL));
	while (alrm < 3)
		pause();
	memset(&it, 0, sizeof it);
	SYS(setitimer(ITIMER_REAL, &it, NULL));
	printf("jobctl: interval timer fired 3 times\n");
	printf("jobctl: ok\n");
	return 0;
}
