/*
 * Signals on an alternate stack: SIGUSR1 with SA_ONSTACK|SA_SIGINFO runs on
 * the sigaltstack (address of a handler local lies inside it, sigaltstack()
 * reports SS_ONSTACK inside the handler), for raise() (SI_TKILL) and
 * kill(getpid()) (SI_USER, si_pid = our pid). Also: SIGUSR1 is blocked while
 * its handler runs, a blocked signal stays pending until unblocked, and a
 * handler without SA_ONSTACK runs on the normal stack.
 */
#include "veiltest.h"

#include <signal.h>
#include <sys/syscall.h>

#define ALTSZ (64 * 1024)

static char *alt;
static volatile int count;
static volatile int on_alt;
static volatile int ss_onstack;
static volatile int self_blocked;
static volatile int code;
static volatile pid_t sender;
static volatile int usr2_on_alt = -1;

static void on_usr1(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	volatile char local = 0;
	uintptr_t a = (uintptr_t)&local;
	on_alt = a >= (uintptr_t)alt && a < (uintptr_t)alt + ALTSZ && sig == SIGUSR1;
	stack_t cur;
	ss_onstack = sigaltstack(NULL, &cur) == 0 && (cur.ss_flags & SS_ONSTACK);
	sigset_t m;
	sigprocmask(SIG_BLOCK, NULL, &m);
	self_blocked = sigismember(&m, SIGUSR1);
	code = si->si_code;
	sender = si->si_pid;
	count++;
}

static void on_usr2(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	(void)uc;
	volatile char local = 0;
	uintptr_t a = (uintptr_t)&local;
	usr2_on_alt = a >= (uintptr_t)alt && a < (uintptr_t)alt + ALTSZ;
}

static void expect(const char *what, int want_code)
{
	if (!on_alt)
		FAIL("%s: handler did not run on the alternate stack", what);
	if (!ss_onstack)
		FAIL("%s: sigaltstack() in handler lacks SS_ONSTACK", what);
	if (!self_blocked)
		FAIL("%s: SIGUSR1 not blocked inside its handler", what);
	if (code != want_code)
		FAIL("%s: si_code=%d want %d", what, code, want_code);
	if (sender != getpid())
		FAIL("%s: si_pid=%d want %d", what, (int)sender, (int)getpid());
	on_alt = ss_onstack = self_blocked = 0;
}

int main(void)
{
	veil_init("altstack");
	alt = malloc(ALTSZ);
	CHECK(alt != NULL);
	stack_t ss = {.ss_sp = alt, .ss_size = ALTSZ, .ss_flags = 0};
	SYS(sigaltstack(&ss, NULL));
	stack_t q;
	SYS(sigaltstack(NULL, &q));
	CHECK(q.ss_sp == alt && q.ss_size == ALTSZ && q.ss_flags == 0);

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_usr1;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	SYS(sigaction(SIGUSR1, &sa, NULL));

	SYS(raise(SIGUSR1));
	CHECK(count == 1);
	expect("raise", SI_TKILL);
	printf("altstack: raise(SIGUSR1) handled on the alternate stack\n");

	SYS(kill(getpid(), SIGUSR1));
	CHECK(count == 2);
	expect("kill", SI_USER);
	printf("altstack: kill(getpid(), SIGUSR1) handled on the alternate stack\n");

	/* After the handler returned we are no longer on the alt stack. */
	SYS(sigaltstack(NULL, &q));
	CHECK(!(q.ss_flags & SS_ONSTACK));

	/* Blocked signals stay pending until unblocked. */
	sigset_t block, old, pend;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	SYS(sigprocmask(SIG_BLOCK, &block, &old));
	SYS(kill(getpid(), SIGUSR1));
	CHECK(count == 2);
	SYS(sigpending(&pend));
	CHECK(sigismember(&pend, SIGUSR1));
	SYS(sigprocmask(SIG_SETMASK, &old, NULL));
	CHECK(count == 3);
	expect("unblock", SI_USER);
	SYS(sigpending(&pend));
	CHECK(!sigismember(&pend, SIGUSR1));
	printf("altstack: blocked SIGUSR1 stayed pending, delivered on unblock\n");

	/* Without SA_ONSTACK the handler uses the normal stack. */
	sa.sa_sigaction = on_usr2;
	sa.sa_flags = SA_SIGINFO;
	SYS(sigaction(SIGUSR2, &sa, NULL));
	SYS(raise(SIGUSR2));
	CHECK(usr2_on_alt == 0);
	printf("altstack: handler without SA_ONSTACK ran on the normal stack\n");

	printf("altstack: ok\n");
	return 0;
}
