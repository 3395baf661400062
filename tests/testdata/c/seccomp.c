/*
 * seccomp(2) filters installed by the program itself: prctl and seccomp
 * entry points, malformed programs, ERRNO (capped, zero, stacked),
 * TRAP with a SIGSYS handler, TRACE and USER_NOTIF without a tracer or
 * listener, LOG, KILL_PROCESS, KILL_THREAD, unknown actions, strict mode,
 * TSYNC, inheritance by fork and execve, /proc/self/status, the
 * instruction limit and the architecture of int $0x80 calls. Run as root
 * (installing a filter needs CAP_SYS_ADMIN or no_new_privs).
 */
#include "veiltest.h"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ucontext.h>

#define LD_NR BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))
#define LD_ARCH BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch))
#define RET(v) BPF_STMT(BPF_RET | BPF_K, (v))
/* ON(nr, ret): return ret for system call nr (A holds the number). */
#define ON(nr, ret) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), RET(ret)
/* Kill calls of any other ABI, then load the number. */
#define NATIVE_ONLY                                                      \
	LD_ARCH, BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0), \
		RET(SECCOMP_RET_KILL_PROCESS), LD_NR

#define FILTER(...) ((struct sock_filter[]){__VA_ARGS__})
#define LEN(...) (sizeof(FILTER(__VA_ARGS__)) / sizeof(struct sock_filter))

static long set_filter(unsigned flags, struct sock_filter *f, unsigned short n)
{
	struct sock_fprog prog = {.len = n, .filter = f};
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

#define INSTALL(flags, ...) set_filter((flags), FILTER(__VA_ARGS__), LEN(__VA_ARGS__))

/* show prints a system call's result: its value, or its errno's name. */
static void show(const char *what, long r)
{
	if (r != -1) {
		printf("%s = %ld\n", what, r);
		return;
	}
	const char *name = strerrorname_np(errno);
	if (name)
		printf("%s = -1 %s\n", what, name);
	else
		printf("%s = -1 errno %d\n", what, errno);
}

static void show_status(const char *when)
{
	FILE *f = fopen("/proc/self/status", "r");
	CHECK(f != NULL);
	char line[256];
	while (fgets(line, sizeof line, f))
		if (strncmp(line, "Seccomp", 7) == 0)
			printf("%s: %s", when, line);
	fclose(f);
	printf("%s: PR_GET_SECCOMP = %d\n", when, prctl(PR_GET_SECCOMP, 0, 0, 0, 0));
}

/* Child processes report how they ended. */
static void report(const char *what, pid_t pid)
{
	int st;
	CHECK(waitpid(pid, &st, 0) == pid);
	if (WIFEXITED(st))
		printf("%s: exited %d\n", what, WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		printf("%s: killed by signal %d (%s)\n", what, WTERMSIG(st), sigabbrev_np(WTERMSIG(st)));
	else
		printf("%s: status %#x\n", what, st);
}

/* CHILD runs its block in a child process and reports its end. */
#define CHILD(what, ...)               \
	do {                           \
		fflush(stdout);        \
		pid_t _p = fork();     \
		CHECK(_p >= 0);        \
		if (_p == 0) {         \
			__VA_ARGS__;   \
			_exit(0);      \
		}                      \
		report(what, _p);      \
	} while (0)

/* The SIGSYS handler prints what the kernel says about the trapped
 * call and, if asked, makes the call return 1234. */
extern char trap_site[];
static volatile int set_rax;

static void on_sigsys(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	printf("SIGSYS: signo %d code %d errno %d syscall %d arch %#x call_addr %s\n",
	       si->si_signo, si->si_code, si->si_errno, si->si_syscall, si->si_arch,
	       si->si_call_addr == (void *)trap_site ? "after the syscall instruction" : "WRONG");
	printf("SIGSYS: saved rax %lld\n", (long long)uc->uc_mcontext.gregs[REG_RAX]);
	if (set_rax)
		uc->uc_mcontext.gregs[REG_RAX] = 1234;
}

/* sched_yield with a known return address, for si_call_addr. */
__attribute__((noinline)) static long yield_at_trap_site(void)
{
	long r;
	asm volatile("syscall\n.globl trap_site\ntrap_site:"
		     : "=a"(r)
		     : "a"((long)SYS_sched_yield)
		     : "rcx", "r11", "memory");
	return r;
}

static void malformed(void)
{
	struct sock_filter big[BPF_MAXINSNS + 1];
	for (int i = 0; i <= BPF_MAXINSNS; i++)
		big[i] = (struct sock_filter)RET(SECCOMP_RET_ALLOW);
	show("empty program", set_filter(0, big, 0));
	show("4097 instructions", set_filter(0, big, BPF_MAXINSNS + 1));
	show("halfword load", INSTALL(0, BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 0), RET(SECCOMP_RET_ALLOW)));
	show("load past seccomp_data", INSTALL(0, BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 64), RET(SECCOMP_RET_ALLOW)));
	show("unaligned load", INSTALL(0, BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 2), RET(SECCOMP_RET_ALLOW)));
	show("jump past the end", INSTALL(0, LD_NR, BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1), RET(SECCOMP_RET_ALLOW)));
	show("no final return", INSTALL(0, RET(SECCOMP_RET_ALLOW), LD_NR));
	show("division by zero", INSTALL(0, BPF_STMT(BPF_ALU | BPF_DIV | BPF_K, 0), RET(SECCOMP_RET_ALLOW)));
	show("modulo", INSTALL(0, BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, 3), RET(SECCOMP_RET_ALLOW)));
	show("uninitialised scratch", INSTALL(0, BPF_STMT(BPF_LD | BPF_MEM, 3), RET(SECCOMP_RET_ALLOW)));
	show("NULL sock_fprog", syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, NULL));
	struct sock_fprog bad = {.len = 1, .filter = (void *)8};
	show("unmapped filter", syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &bad));
	show("unknown flag", INSTALL(1u << 30, RET(SECCOMP_RET_ALLOW)));
	show("TSYNC|NEW_LISTENER", INSTALL(SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_NEW_LISTENER, RET(SECCOMP_RET_ALLOW)));
	show("WAIT_KILLABLE_RECV alone", INSTALL(SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, RET(SECCOMP_RET_ALLOW)));
	show("unknown operation", syscall(SYS_seccomp, 99, 0, NULL));
	show("strict mode with flags", syscall(SYS_seccomp, SECCOMP_SET_MODE_STRICT, 1, NULL));
	show("prctl unknown mode", prctl(PR_SET_SECCOMP, 7, 0, 0, 0));
	show("prctl NULL filter", prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, NULL, 0, 0));
}

static void queries(void)
{
	static const struct {
		const char *name;
		unsigned action;
	} acts[] = {
		{"KILL_PROCESS", SECCOMP_RET_KILL_PROCESS}, {"KILL_THREAD", SECCOMP_RET_KILL_THREAD},
		{"TRAP", SECCOMP_RET_TRAP}, {"ERRNO", SECCOMP_RET_ERRNO}, {"TRACE", SECCOMP_RET_TRACE},
		{"LOG", SECCOMP_RET_LOG}, {"ALLOW", SECCOMP_RET_ALLOW}, {"0x10000", 0x10000},
	};
	for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++) {
		char what[64];
		snprintf(what, sizeof what, "action %s available", acts[i].name);
		show(what, syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &acts[i].action));
	}
	show("action available with flags", syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 1, &acts[0].action));
	struct seccomp_notif_sizes sz;
	show("notif sizes", syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sz));
	printf("notif sizes: %u %u %u\n", sz.seccomp_notif, sz.seccomp_notif_resp, sz.seccomp_data);
}

static void trap(long expect_rax_setting)
{
	set_rax = expect_rax_setting;
	show(set_rax ? "sched_yield (trapped, handler sets rax)" : "sched_yield (trapped)", yield_at_trap_site());
}

static void kill_children(void)
{
	CHILD("KILL_PROCESS", {
		INSTALL(0, NATIVE_ONLY, ON(SYS_sysinfo, SECCOMP_RET_KILL_PROCESS), RET(SECCOMP_RET_ALLOW));
		syscall(SYS_sysinfo, NULL);
		printf("KILL_PROCESS: survived\n");
	});
	CHILD("KILL_PROCESS with a SIGSYS handler", {
		struct sigaction sa = {.sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO};
		sigaction(SIGSYS, &sa, NULL);
		INSTALL(0, NATIVE_ONLY, ON(SYS_sysinfo, SECCOMP_RET_KILL_PROCESS), RET(SECCOMP_RET_ALLOW));
		syscall(SYS_sysinfo, NULL);
	});
	CHILD("KILL_THREAD, last thread", {
		INSTALL(0, NATIVE_ONLY, ON(SYS_sysinfo, SECCOMP_RET_KILL_THREAD), RET(SECCOMP_RET_ALLOW));
		syscall(SYS_sysinfo, NULL);
	});
	CHILD("unknown action", {
		INSTALL(0, NATIVE_ONLY, ON(SYS_sysinfo, 0x00010000), RET(SECCOMP_RET_ALLOW));
		syscall(SYS_sysinfo, NULL);
	});
	CHILD("TRAP with SIGSYS blocked", {
		sigset_t s;
		sigemptyset(&s);
		sigaddset(&s, SIGSYS);
		sigprocmask(SIG_BLOCK, &s, NULL);
		INSTALL(0, NATIVE_ONLY, ON(SYS_sysinfo, SECCOMP_RET_TRAP), RET(SECCOMP_RET_ALLOW));
		syscall(SYS_sysinfo, NULL);
	});
	CHILD("int $0x80 under an x86-64-only filter", {
		INSTALL(0, NATIVE_ONLY, RET(SECCOMP_RET_ALLOW));
		long r;
		asm volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory");
	});
	CHILD("strict mode with filters", {
		show("strict mode with filters", syscall(SYS_seccomp, SECCOMP_SET_MODE_STRICT, 0, NULL));
	});
	CHILD("non-root without no_new_privs", {
		CHECK(setgid(65534) == 0 && setuid(65534) == 0);
		show("non-root install", INSTALL(0, RET(SECCOMP_RET_ALLOW)));
		show_status("non-root");
	});
}

/* Strict mode, before any filter (it cannot be combined with them). */
static void strict_children(void)
{
	CHILD("strict mode, then getpid", {
		CHECK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0) == 0);
		static const char msg[] = "strict mode: write works\n";
		syscall(SYS_write, 1, msg, sizeof msg - 1);
		syscall(SYS_getpid);
	});
	CHILD("strict mode, then exit(3)", {
		CHECK(syscall(SYS_seccomp, SECCOMP_SET_MODE_STRICT, 0, NULL) == 0);
		syscall(SYS_exit, 3);
	});
	CHILD("a filter in strict mode", {
		/* It cannot even be attempted: seccomp() kills. */
		CHECK(syscall(SYS_seccomp, SECCOMP_SET_MODE_STRICT, 0, NULL) == 0);
		INSTALL(0, RET(SECCOMP_RET_ALLOW));
	});
}

static void *killed_thread(void *arg)
{
	syscall(SYS_sysinfo, NULL); /* KILL_THREAD */
	printf("KILL_THREAD: thread survived\n");
	return NULL;
}

/* tsync_thread waits for main's TSYNC filter, tries it, installs its own
 * filter and lets main fail to synchronise. */
static int to_thread[2], to_main[2];
static volatile pid_t thread_tid;

static void *tsync_thread(void *arg)
{
	char c;
	thread_tid = gettid();
	CHECK(write(to_main[1], "r", 1) == 1);
	CHECK(read(to_thread[0], &c, 1) == 1);
	show("thread: getresgid after main's TSYNC", syscall(SYS_getresgid, NULL, NULL, NULL));
	CHECK(INSTALL(0, RET(SECCOMP_RET_ALLOW)) == 0);
	CHECK(write(to_main[1], "f", 1) == 1);
	CHECK(read(to_thread[0], &c, 1) == 1);
	return NULL;
}

static void thread_children(void)
{
	CHILD("KILL_THREAD, one of two threads", {
		INSTALL(0, NATIVE_ONLY, ON(SYS_sysinfo, SECCOMP_RET_KILL_THREAD), RET(SECCOMP_RET_ALLOW));
		pthread_t th;
		CHECK(pthread_create(&th, NULL, killed_thread, NULL) == 0);
		CHECK(pthread_join(th, NULL) == 0);
		printf("KILL_THREAD: the other thread lives on\n");
	});
	CHILD("TSYNC", {
		CHECK(pipe(to_thread) == 0 && pipe(to_main) == 0);
		pthread_t th;
		char c;
		CHECK(pthread_create(&th, NULL, tsync_thread, NULL) == 0);
		CHECK(read(to_main[0], &c, 1) == 1);
		show("TSYNC install",
		     INSTALL(SECCOMP_FILTER_FLAG_TSYNC, NATIVE_ONLY, ON(SYS_getresgid, SECCOMP_RET_ERRNO | EROFS),
			     RET(SECCOMP_RET_ALLOW)));
		CHECK(write(to_thread[1], "g", 1) == 1);
		CHECK(read(to_main[0], &c, 1) == 1);
		long r = INSTALL(SECCOMP_FILTER_FLAG_TSYNC, RET(SECCOMP_RET_ALLOW));
		printf("TSYNC with a diverged thread returns its tid: %s\n", r == thread_tid ? "yes" : "NO");
		show("TSYNC|TSYNC_ESRCH with a diverged thread",
		     INSTALL(SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_TSYNC_ESRCH, RET(SECCOMP_RET_ALLOW)));
		CHECK(write(to_thread[1], "q", 1) == 1);
		CHECK(pthread_join(th, NULL) == 0);
	});
}

static void limit_child(void)
{
	CHILD("instruction limit", {
		static struct sock_filter big[BPF_MAXINSNS];
		for (int i = 0; i < BPF_MAXINSNS - 1; i++)
			big[i] = (struct sock_filter)LD_NR;
		big[BPF_MAXINSNS - 1] = (struct sock_filter)RET(SECCOMP_RET_ALLOW);
		int n = 0;
		long r;
		while ((r = set_filter(0, big, BPF_MAXINSNS)) == 0)
			n++;
		printf("instruction limit: %d more filters of 4096 instructions\n", n);
		show("instruction limit: next", r);
	});
}

static int exec_child(void)
{
	show_status("after execve");
	show("after execve: getuid", syscall(SYS_getuid));
	return 0;
}

int main(int argc, char **argv)
{
	veil_init("seccomp");
	if (argc > 1 && strcmp(argv[1], "exec-child") == 0)
		return exec_child();

	show_status("initially");
	malformed();
	queries();
	strict_children();

	struct sigaction sa = {.sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO};
	CHECK(sigaction(SIGSYS, &sa, NULL) == 0);
	umask(022);

	/* The first filter, through prctl(2). */
	struct sock_filter f1[] = {
		NATIVE_ONLY,
		ON(SYS_getuid, SECCOMP_RET_ERRNO | EXDEV),
		ON(SYS_sched_yield, SECCOMP_RET_TRAP | 42),
		ON(SYS_getpriority, SECCOMP_RET_ERRNO | 0),
		ON(SYS_getegid, SECCOMP_RET_ERRNO | 5000),
		ON(SYS_getgid, SECCOMP_RET_TRACE | 7),
		ON(SYS_getresuid, SECCOMP_RET_USER_NOTIF),
		ON(SYS_umask, SECCOMP_RET_LOG),
		RET(SECCOMP_RET_ALLOW),
	};
	struct sock_fprog p1 = {.len = sizeof f1 / sizeof f1[0], .filter = f1};
	show("prctl(PR_SET_SECCOMP, filter)", prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &p1, 0, 0));
	show_status("one filter");
	show("getuid (ERRNO EXDEV)", syscall(SYS_getuid));
	trap(0);
	trap(1);
	show("getpriority (ERRNO 0)", syscall(SYS_getpriority, PRIO_PROCESS, 0));
	show("getegid (ERRNO 5000, capped)", syscall(SYS_getegid));
	show("getgid (TRACE, no tracer)", syscall(SYS_getgid));
	show("getresuid (USER_NOTIF, no listener)", syscall(SYS_getresuid, NULL, NULL, NULL));
	show("umask (LOG)", syscall(SYS_umask, 077));

	/* A second filter, through seccomp(2): precedence. */
	show("seccomp(SECCOMP_SET_MODE_FILTER)",
	     INSTALL(SECCOMP_FILTER_FLAG_LOG | SECCOMP_FILTER_FLAG_SPEC_ALLOW, NATIVE_ONLY,
		     ON(SYS_getuid, SECCOMP_RET_ERRNO | EPERM), ON(SYS_sched_yield, SECCOMP_RET_ERRNO | EACCES),
		     ON(SYS_getgid, SECCOMP_RET_ERRNO | ENOENT), ON(SYS_umask, SECCOMP_RET_ALLOW),
		     RET(SECCOMP_RET_ALLOW)));
	show_status("two filters");
	show("getuid (ERRNO EXDEV, then EPERM: the newest wins)", syscall(SYS_getuid));
	trap(0);
	show("getgid (TRACE, then ERRNO ENOENT: ERRNO wins)", syscall(SYS_getgid));
	show("umask (LOG, then ALLOW: LOG wins)", syscall(SYS_umask, 022));

	CHILD("fork", {
		show("forked child: getuid", syscall(SYS_getuid));
		show_status("forked child");
	});
	CHILD("execve", {
		execl(argv[0], argv[0], "exec-child", (char *)NULL);
		FAIL("execl: %s", strerror(errno));
	});
	kill_children();
	thread_children();
	limit_child();
	printf("seccomp: ok\n");
	return 0;
}
