/*
 * Hot system call sites: loops of system calls from the same instructions,
 * which a platform may run without a trap once their sites are rewritten
 * (systrap), in every situation that must not notice: a fork, threads,
 * signals interrupting the loop and using the FPU, a jump straight to the
 * syscall instruction of such a site, something mapped over where the
 * platform's trampolines live, and an execve. Every result is checked
 * against the plain answer; the output is the same natively.
 */
#include "veiltest.h"

#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>

static pid_t ppid;

/* Through glibc's syscall() (mov r9, [rsp+8]; syscall) and its getppid()
 * (mov eax, 110; syscall). */
static void loop(int n)
{
	for (int i = 0; i < n; i++) {
		if (syscall(SYS_getppid) != ppid)
			FAIL("syscall(SYS_getppid) != %d", (int)ppid);
		if (getppid() != ppid)
			FAIL("getppid() != %d", (int)ppid);
	}
}

/* A site (mov eax, 110; syscall) whose syscall instruction other code
 * also jumps to, with its own system call number in rax. */
static long site(long nr, int direct)
{
	long ret;
	__asm__ volatile("test %2, %2\n\t"
			 "jnz 1f\n\t"
			 "mov $110, %%eax\n\t"
			 "2: syscall\n\t"
			 "jmp 3f\n"
			 "1: mov %1, %%rax\n\t"
			 "jmp 2b\n"
			 "3:\n"
			 : "=&a"(ret)
			 : "r"(nr), "r"((long)direct)
			 : "rcx", "r11", "memory");
	return ret;
}

static void *thread(void *arg)
{
	(void)arg;
	loop(3000);
	return NULL;
}

static volatile sig_atomic_t alarms;
static volatile double fsum;

static void on_alarm(int sig)
{
	(void)sig;
	/* The handler clobbers FP registers the interrupted loop uses. */
	double x = 0;
	for (int i = 1; i <= 100; i++)
		x += 1.0 / i;
	fsum += x;
	alarms++;
}

int main(int argc, char **argv)
{
	veil_init("hotsyscall");
	ppid = getppid();
	if (argc > 1 && strcmp(argv[1], "exec") == 0) {
		loop(200);
		printf("after execve: ok\n");
		return 0;
	}

	loop(500);
	printf("loops: ok\n");

	for (int i = 0; i < 100; i++)
		if (site(0, 0) != ppid)
			FAIL("site(getppid) != ppid");
	if (site(SYS_getpid, 1) != getpid())
		FAIL("a jump to the site's syscall instruction did not make its own call");
	if (site(0, 0) != ppid)
		FAIL("site(getppid) != ppid after the jump");
	printf("jump into a site: ok\n");

	fflush(stdout);
	pid_t child = SYS(fork());
	if (child == 0) {
		ppid = getppid();
		loop(500);
		_exit(7);
	}
	int st;
	SYS(waitpid(child, &st, 0));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 7);
	loop(100);
	printf("fork: ok\n");

	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		CHECK(pthread_create(&th[i], NULL, thread, NULL) == 0);
	loop(3000);
	for (int i = 0; i < 4; i++)
		CHECK(pthread_join(th[i], NULL) == 0);
	printf("threads: ok\n");

	struct sigaction sa = {0};
	sa.sa_handler = on_alarm;
	SYS(sigaction(SIGALRM, &sa, NULL));
	struct itimerval it = {{0, 1000}, {0, 1000}};
	SYS(setitimer(ITIMER_REAL, &it, NULL));
	double acc = 0;
	for (int i = 0; alarms < 20; i++) {
		acc += 0.5;
		if (syscall(SYS_getppid) != ppid)
			FAIL("getppid under signals");
		if (acc != 0.5 * (i + 1))
			FAIL("FP state lost: %f after %d rounds", acc, i + 1);
	}
	struct itimerval off = {{0, 0}, {0, 0}};
	SYS(setitimer(ITIMER_REAL, &off, NULL));
	printf("signals: ok\n");

	/* Something mapped where the trampolines would be: every rewritten
	 * site must still make its call. */
	void *p = mmap((void *)0x60000, 0x10000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	CHECK(p == (void *)0x60000);
	memset(p, 0xcc, 0x10000);
	loop(500);
	if (site(0, 0) != ppid)
		FAIL("site(getppid) != ppid with 0x60000 mapped");
	SYS(munmap(p, 0x10000));
	loop(500);
	printf("mapping over 0x60000: ok\n");

	fflush(stdout);
	child = SYS(fork());
	if (child == 0) {
		execl(argv[0], argv[0], "exec", (char *)NULL);
		_exit(98);
	}
	SYS(waitpid(child, &st, 0));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	printf("hotsyscall: ok\n");
	return 0;
}
