/*
 * ptrace(2) between processes (argv[1]: path of echoargs): a tracer that
 * counts a child's system calls, PTRACE_PEEK/POKE of data and text,
 * registers (GETREGS/SETREGS, PEEKUSER, GETREGSET, FPU), changing a
 * system call's result, signal suppression and injection, GETSIGINFO,
 * GET_SYSCALL_INFO, fork and exec events, exit events, a breakpoint (int3)
 * and single-stepping, PTRACE_SEIZE with INTERRUPT and LISTEN,
 * process_vm_readv, and the errors of misuse. Everything printed is
 * deterministic.
 */
#include "veiltest.h"

#include <elf.h>
#include <linux/audit.h>
#include <signal.h>
#include <stddef.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>

static const char *echoargs;

volatile long shared_word = 0x1122334455667788L;
static volatile int got_usr1, got_usr2;

static void on_usr1(int s) { (void)s; got_usr1++; }
static void on_usr2(int s) { (void)s; got_usr2++; }

/* Functions whose code the tracer patches; noinline and aligned so that
 * the breakpoint address is the function's first byte. */
__attribute__((noinline, aligned(16))) int bp_target(int x)
{
	return x * 3 + 1;
}

/* waitstop waits for pid and checks that it stopped; it returns the
 * status. */
static int waitstop(pid_t pid)
{
	int st;
	CHECK(waitpid(pid, &st, __WALL) == pid);
	if (!WIFSTOPPED(st))
		FAIL("pid %d: status %#x, want a stop", (int)pid, st);
	return st;
}

static pid_t traced_child(void (*body)(void))
{
	fflush(stdout);
	pid_t pid = SYS(fork());
	if (pid == 0) {
		CHECK(ptrace(PTRACE_TRACEME, 0, 0, 0) == 0);
		raise(SIGSTOP);
		body();
		_exit(0);
	}
	int st = waitstop(pid);
	CHECK(WSTOPSIG(st) == SIGSTOP);
	return pid;
}

static void finish(pid_t pid, const char *what)
{
	int st;
	CHECK(waitpid(pid, &st, __WALL) == pid);
	if (WIFEXITED(st))
		printf("ptrace: %s: child exited with %d\n", what, WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		printf("ptrace: %s: child killed by %s\n", what, sigabbrev_np(WTERMSIG(st)));
	else
		FAIL("%s: status %#x", what, st);
}

/* 1. Counting system calls with PTRACE_SYSCALL. */
static void count_body(void)
{
	for (int i = 0; i < 7; i++)
		syscall(SYS_getppid);
	write(1, "", 0);
	syscall(SYS_exit_group, 3);
}

static void test_count(void)
{
	pid_t pid = traced_child(count_body);
	CHECK(ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEEXIT) == 0);
	int entries = 0, exits = 0, getppids = 0, writes = 0, in = 0;
	long exitmsg = -1;
	for (;;) {
		CHECK(ptrace(PTRACE_SYSCALL, pid, 0, 0) == 0);
		int st;
		CHECK(waitpid(pid, &st, 0) == pid);
		if (WIFEXITED(st)) {
			printf("ptrace: count: exited %d\n", WEXITSTATUS(st));
			break;
		}
		CHECK(WIFSTOPPED(st));
		if (st >> 8 == (SIGTRAP | (PTRACE_EVENT_EXIT << 8))) {
			CHECK(ptrace(PTRACE_GETEVENTMSG, pid, 0, &exitmsg) == 0);
			printf("ptrace: count: PTRACE_EVENT_EXIT, status %#lx\n", exitmsg);
			continue;
		}
		if (WSTOPSIG(st) != (SIGTRAP | 0x80))
			FAIL("count: stop %#x", st);
		struct user_regs_struct r;
		CHECK(ptrace(PTRACE_GETREGS, pid, 0, &r) == 0);
		if (!in) {
			entries++;
			if (r.orig_rax == SYS_getppid)
				getppids++;
			if (r.orig_rax == SYS_write)
				writes++;
			/* At entry rax is -ENOSYS. */
			CHECK((long)r.rax == -ENOSYS);
		} else {
			exits++;
		}
		in = !in;
	}
	printf("ptrace: count: %d getppid, %d write, entries-exits=%d\n", getppids, writes, entries - exits);
}

/* 2. PEEK and POKE. */
/* tracer_pid reads TracerPid from /proc/self/status. */
static int tracer_pid(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	CHECK(f != NULL);
	char line[256];
	int pid = -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "TracerPid: %d", &pid) == 1)
			break;
	fclose(f);
	return pid;
}

static void peek_body(void)
{
	printf("ptrace: peek: TracerPid is the parent: %d\n", tracer_pid() == getppid());
	printf("ptrace: peek: child sees %#lx, bp_target(2)=%d\n", shared_word, bp_target(2));
	fflush(stdout);
}

static void test_peekpoke(void)
{
	pid_t pid = traced_child(peek_body);
	errno = 0;
	long w = ptrace(PTRACE_PEEKDATA, pid, &shared_word, 0);
	CHECK(errno == 0);
	printf("ptrace: peek: PEEKDATA %#lx\n", w);
	long text = ptrace(PTRACE_PEEKTEXT, pid, (void *)bp_target, 0);
	CHECK(errno == 0 && memcmp(&text, (void *)bp_target, 8) == 0);
	printf("ptrace: peek: PEEKTEXT matches the code\n");
	CHECK(ptrace(PTRACE_POKEDATA, pid, &shared_word, (void *)0x0badc0deL) == 0);
	errno = 0;
	CHECK(ptrace(PTRACE_PEEKDATA, pid, (void *)8, 0) == -1 && errno == EIO);
	printf("ptrace: peek: PEEKDATA of an unmapped address: EIO\n");
	/* Patch bp_target to "lea 0x29(%rip)..."? Simpler: make it return
	 * 42: mov $42,%eax; ret. */
	long patched = text;
	unsigned char code[6] = {0xb8, 42, 0, 0, 0, 0xc3};
	memcpy(&patched, code, sizeof code);
	CHECK(ptrace(PTRACE_POKETEXT, pid, (void *)bp_target, (void *)patched) == 0);
	CHECK(ptrace(PTRACE_CONT, pid, 0, 0) == 0);
	finish(pid, "peek");
	printf("ptrace: peek: the tracer's own bp_target(2)=%d\n", bp_target(2));
}

/* 3. Registers: the result of a system call, PEEKUSER, GETREGSET, FPU. */
static void regs_body(void)
{
	long r = syscall(SYS_getppid);
	printf("ptrace: regs: getppid returned %ld\n", r);
	fflush(stdout);
}

static void test_regs(void)
{
	pid_t pid = traced_child(regs_body);
	CHECK(ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACESYSGOOD) == 0);
	struct user_regs_struct r;
	for (;;) { /* to the entry of getppid */
		CHECK(ptrace(PTRACE_SYSCALL, pid, 0, 0) == 0);
		waitstop(pid);
		CHECK(ptrace(PTRACE_GETREGS, pid, 0, &r) == 0);
		if (r.orig_rax == SYS_getppid)
			break;
		CHECK(ptrace(PTRACE_SYSCALL, pid, 0, 0) == 0); /* its exit */
		waitstop(pid);
	}
	errno = 0;
	long rip = ptrace(PTRACE_PEEKUSER, pid, offsetof(struct user, regs.rip), 0);
	long orig = ptrace(PTRACE_PEEKUSER, pid, offsetof(struct user, regs.orig_rax), 0);
	long dr7 = ptrace(PTRACE_PEEKUSER, pid, offsetof(struct user, u_debugreg[7]), 0);
	CHECK(errno == 0);
	printf("ptrace: regs: PEEKUSER rip %s GETREGS, orig_rax=%ld, dr7=%ld\n",
	       (unsigned long)rip == r.rip ? "==" : "!=", orig, dr7);
	errno = 0;
	CHECK(ptrace(PTRACE_PEEKUSER, pid, 3, 0) == -1 && errno == EIO);
	struct user_regs_struct rs;
	struct iovec iov = {&rs, sizeof rs};
	CHECK(ptrace(PTRACE_GETREGSET, pid, NT_PRSTATUS, &iov) == 0);
	printf("ptrace: regs: GETREGSET NT_PRSTATUS: %zu bytes, same rip: %d\n", iov.iov_len, rs.rip == r.rip);
	struct user_fpregs_struct fp;
	CHECK(ptrace(PTRACE_GETFPREGS, pid, 0, &fp) == 0);
	printf("ptrace: regs: mxcsr %#x\n", fp.mxcsr);
	fp.mxcsr |= 0x6000; /* round toward zero */
	CHECK(ptrace(PTRACE_SETFPREGS, pid, 0, &fp) == 0);
	struct user_fpregs_struct fp2;
	iov.iov_base = &fp2;
	iov.iov_len = sizeof fp2;
	CHECK(ptrace(PTRACE_GETREGSET, pid, NT_PRFPREG, &iov) == 0);
	printf("ptrace: regs: NT_PRFPREG %zu bytes, mxcsr %#x\n", iov.iov_len, fp2.mxcsr);
	fp.mxcsr &= ~0x6000;
	CHECK(ptrace(PTRACE_SETFPREGS, pid, 0, &fp) == 0);
	char xs[4096];
	iov.iov_base = xs;
	iov.iov_len = sizeof xs;
	CHECK(ptrace(PTRACE_GETREGSET, pid, NT_X86_XSTATE, &iov) == 0);
	printf("ptrace: regs: NT_X86_XSTATE at least 576 bytes: %d\n", iov.iov_len >= 576);
	/* Let the call run, then change its result. */
	CHECK(ptrace(PTRACE_SYSCALL, pid, 0, 0) == 0);
	waitstop(pid);
	CHECK(ptrace(PTRACE_GETREGS, pid, 0, &r) == 0);
	printf("ptrace: regs: at exit rax is the parent: %d\n", (pid_t)r.rax == getpid());
	r.rax = 4242;
	CHECK(ptrace(PTRACE_SETREGS, pid, 0, &r) == 0);
	struct user_regs_struct bad = r;
	bad.cs = 0x10; /* a kernel selector */
	errno = 0;
	CHECK(ptrace(PTRACE_SETREGS, pid, 0, &bad) == -1 && errno == EIO);
	printf("ptrace: regs: SETREGS with a kernel code segment: EIO\n");
	CHECK(ptrace(PTRACE_CONT, pid, 0, 0) == 0);
	finish(pid, "regs");
}

/* 4. Signals: suppression, injection, GETSIGINFO, GET_SYSCALL_INFO. */
static void sig_body(void)
{
	signal(SIGUSR1, on_usr1);
	signal(SIGUSR2, on_usr2);
	raise(SIGUSR1); /* suppressed by the tracer */
	raise(SIGUSR2); /* replaced by SIGUSR1 */
	printf("ptrace: signals: child got usr1=%d usr2=%d\n", got_usr1, got_usr2);
	fflush(stdout);
}

static void test_signals(void)
{
	pid_t pid = traced_child(sig_body);
	CHECK(ptrace(PTRACE_CONT, pid, 0, 0) == 0);
	int st = waitstop(pid);
	siginfo_t si;
	CHECK(ptrace(PTRACE_GETSIGINFO, pid, 0, &si) == 0);
	printf("ptrace: signals: stop %s, siginfo %s code %d, pid ok %d\n", sigabbrev_np(WSTOPSIG(st)),
	       sigabbrev_np(si.si_signo), si.si_code, si.si_pid == pid);
	struct __ptrace_syscall_info info;
	long n = ptrace(PTRACE_GET_SYSCALL_INFO, pid, sizeof info, &info);
	printf("ptrace: signals: GET_SYSCALL_INFO in a signal-delivery-stop: size %ld op %d\n", n, info.op);
	CHECK(ptrace(PTRACE_CONT, pid, 0, 0) == 0); /* suppress */
	st = waitstop(pid);
	printf("ptrace: signals: next stop %s\n", sigabbrev_np(WSTOPSIG(st)));
	CHECK(ptrace(PTRACE_CONT, pid, 0, SIGUSR1) == 0); /* inject */
	finish(pid, "signals");
}

/* 5. System call info and SYSEMU-free skipping: orig_rax = -1. */
static void info_body(void)
{
	long r = syscall(SYS_getpriority, 0x1234, 0x5678);
	printf("ptrace: info: skipped call returned %ld errno %s\n", r, strerrorname_np(errno));
	fflush(stdout);
}

static void test_info(void)
{
	pid_t pid = traced_child(info_body);
	CHECK(ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACESYSGOOD) == 0);
	struct __ptrace_syscall_info info;
	for (;;) {
		CHECK(ptrace(PTRACE_SYSCALL, pid, 0, 0) == 0);
		waitstop(pid);
		long n = ptrace(PTRACE_GET_SYSCALL_INFO, pid, sizeof info, &info);
		CHECK(n > 0);
		if (info.op == PTRACE_SYSCALL_INFO_ENTRY && info.entry.nr == SYS_getpriority) {
			printf("ptrace: info: entry size %ld nr getpriority args %#lx %#lx arch ok %d\n", n,
			       (unsigned long)info.entry.args[0], (unsigned long)info.entry.args[1], info.arch == AUDIT_ARCH_X86_64);
			break;
		}
	}
	CHECK(ptrace(PTRACE_POKEUSER, pid, offsetof(struct user, regs.orig_rax), (void *)-1L) == 0);
	CHECK(ptrace(PTRACE_SYSCALL, pid, 0, 0) == 0);
	waitstop(pid);
	long n = ptrace(PTRACE_GET_SYSCALL_INFO, pid, sizeof info, &info);
	printf("ptrace: info: exit size %ld rval %lld is_error %d\n", n, (long long)info.exit.rval, info.exit.is_error);
	CHECK(ptrace(PTRACE_CONT, pid, 0, 0) == 0);
	finish(pid, "info");
}

/* 5b. PTRACE_SYSEMU: the tracer takes over a system call. */
static void emu_body(void)
{
	long a = syscall(SYS_getppid);
	long b = syscall(SYS_getppid);
	printf("ptrace: sysemu: first getppid real %d, emulated one returned %ld\n", a == getppid(), b);
	fflush(stdout);
}

static void test_sysemu(void)
{
	pid_t pid = traced_child(emu_body);
	CHECK(ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACESYSGOOD) == 0);
	struct user_regs_struct r;
	for (;;) {
		CHECK(ptrace(PTRACE_SYSCALL, pid, 0, 0) == 0);
		waitstop(pid);
		CHECK(ptrace(PTRACE_GETREGS, pid, 0, &r) == 0);
		CHECK(ptrace(PTRACE_SYSCALL, pid, 0, 0) == 0); /* to its exit */
		waitstop(pid);
		if (r.orig_rax == SYS_getppid)
			break;
	}
	CHECK(ptrace(PTRACE_SYSEMU, pid, 0, 0) == 0);
	waitstop(pid);
	CHECK(ptrace(PTRACE_GETREGS, pid, 0, &r) == 0);
	printf("ptrace: sysemu: stopped at the entry of getppid: %d\n", r.orig_rax == SYS_getppid);
	r.rax = 77;
	CHECK(ptrace(PTRACE_SETREGS, pid, 0, &r) == 0);
	CHECK(ptrace(PTRACE_CONT, pid, 0, 0) == 0);
	finish(pid, "sysemu");
}

/* 6. Fork and exec events. */
static void fork_body(void)
{
	fflush(stdout);
	pid_t c = fork();
	if (c == 0)
		_exit(7);
	int st;
	waitpid(c, &st, 0);
	/* Said by the exec'd program, which runs only once the tracer has
	 * seen the exec event: printed here, the line would race with the
	 * tracer's about the same exit (which Linux reports to the tracer
	 * first, and to this parent once the tracer has reaped it). */
	char status[64];
	snprintf(status, sizeof status, "grandchild status %d", WEXITSTATUS(st));
	char *argv[] = {"echoargs", "exec'd", status, NULL};
	char *envp[] = {NULL};
	execve(echoargs, argv, envp);
	_exit(127);
}

static void test_events(void)
{
	pid_t pid = traced_child(fork_body);
	CHECK(ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACEFORK | PTRACE_O_TRACEEXEC) == 0);
	CHECK(ptrace(PTRACE_CONT, pid, 0, 0) == 0);
	int forks = 0, execs = 0, gcstops = 0;
	pid_t gc = 0;
	for (;;) {
		int st;
		pid_t w = waitpid(-1, &st, __WALL);
		CHECK(w > 0);
		if (w == pid && WIFEXITED(st)) {
			printf("ptrace: events: child exited with %d\n", WEXITSTATUS(st));
			break;
		}
		if (WIFEXITED(st)) {
			printf("ptrace: events: tracer saw the grandchild exit with %d\n", WEXITSTATUS(st));
			continue;
		}
		CHECK(WIFSTOPPED(st));
		int sig = 0;
		if (w == pid && st >> 8 == (SIGTRAP | (PTRACE_EVENT_FORK << 8))) {
			unsigned long msg;
			CHECK(ptrace(PTRACE_GETEVENTMSG, pid, 0, &msg) == 0);
			gc = msg;
			forks++;
		} else if (w == pid && st >> 8 == (SIGTRAP | (PTRACE_EVENT_EXEC << 8))) {
			unsigned long msg;
			CHECK(ptrace(PTRACE_GETEVENTMSG, pid, 0, &msg) == 0);
			printf("ptrace: events: exec event, former tid is the pid: %d\n", (pid_t)msg == pid);
			execs++;
		} else if (w != pid && WSTOPSIG(st) == SIGSTOP) {
			gcstops++; /* an auto-attached child starts stopped */
		} else if (WSTOPSIG(st) == SIGCHLD) {
			sig = SIGCHLD;
		} else {
			FAIL("events: pid %s stop %#x", w == pid ? "child" : "other", st);
		}
		CHECK(ptrace(PTRACE_CONT, w, 0, sig) == 0);
	}
	printf("ptrace: events: %d fork event, %d exec event, grandchild started stopped %d, traced it %d\n",
	       forks, execs, gcstops, gc > 0);
}

/* 7. A breakpoint and single steps. */
static void bp_body(void)
{
	int r = bp_target(5);
	printf("ptrace: breakpoint: bp_target(5)=%d\n", r);
	fflush(stdout);
}

static void test_breakpoint(void)
{
	pid_t pid = traced_child(bp_body);
	errno = 0;
	long orig = ptrace(PTRACE_PEEKTEXT, pid, (void *)bp_target, 0);
	CHECK(errno == 0);
	long trap = (orig & ~0xffL) | 0xcc;
	CHECK(ptrace(PTRACE_POKETEXT, pid, (void *)bp_target, (void *)trap) == 0);
	CHECK(ptrace(PTRACE_CONT, pid, 0, 0) == 0);
	int st = waitstop(pid);
	struct user_regs_struct r;
	CHECK(ptrace(PTRACE_GETREGS, pid, 0, &r) == 0);
	siginfo_t si;
	CHECK(ptrace(PTRACE_GETSIGINFO, pid, 0, &si) == 0);
	printf("ptrace: breakpoint: %s at bp_target+%ld, si_code %#x\n", sigabbrev_np(WSTOPSIG(st)),
	       (long)(r.rip - (unsigned long)bp_target), si.si_code);
	CHECK(ptrace(PTRACE_POKETEXT, pid, (void *)bp_target, (void *)orig) == 0);
	r.rip = (unsigned long)bp_target;
	CHECK(ptrace(PTRACE_SETREGS, pid, 0, &r) == 0);
	int steps = 0, traps = 0;
	unsigned long last = r.rip;
	for (int i = 0; i < 4; i++) {
		CHECK(ptrace(PTRACE_SINGLESTEP, pid, 0, 0) == 0);
		st = waitstop(pid);
		CHECK(ptrace(PTRACE_GETREGS, pid, 0, &r) == 0);
		CHECK(ptrace(PTRACE_GETSIGINFO, pid, 0, &si) == 0);
		steps += r.rip != last;
		traps += WSTOPSIG(st) == SIGTRAP && si.si_code == 2 /* TRAP_TRACE */;
		last = r.rip;
	}
	printf("ptrace: breakpoint: 4 single steps: %d moved, %d TRAP_TRACE\n", steps, traps);
	CHECK(ptrace(PTRACE_CONT, pid, 0, 0) == 0);
	finish(pid, "breakpoint");
}

/* 8. PTRACE_SEIZE, INTERRUPT, LISTEN, process_vm_readv, errors. */
static void test_seize(void)
{
	int p[2];
	SYS(pipe(p));
	fflush(stdout);
	pid_t pid = SYS(fork());
	if (pid == 0) {
		char c;
		close(p[1]);
		read(p[0], &c, 1); /* blocks until the tracer is done */
		_exit(shared_word == 0x55 ? 9 : 8);
	}
	close(p[0]);
	CHECK(ptrace(PTRACE_SEIZE, pid, 0, PTRACE_O_TRACESYSGOOD) == 0);
	errno = 0;
	CHECK(ptrace(PTRACE_SEIZE, pid, 0, 0) == -1 && errno == EPERM);
	printf("ptrace: seize: a second SEIZE: EPERM\n");
	errno = 0;
	CHECK(ptrace(PTRACE_PEEKDATA, pid, &shared_word, 0) == -1 && errno == ESRCH);
	printf("ptrace: seize: PEEKDATA of a running tracee: ESRCH\n");
	CHECK(ptrace(PTRACE_INTERRUPT, pid, 0, 0) == 0);
	int st = waitstop(pid);
	printf("ptrace: seize: INTERRUPT stop: sig %s event %s\n", sigabbrev_np(WSTOPSIG(st)),
	       st >> 16 == PTRACE_EVENT_STOP ? "PTRACE_EVENT_STOP" : "?");
	long v = 0;
	struct iovec local = {&v, sizeof v}, remote = {(void *)&shared_word, sizeof v};
	CHECK(process_vm_readv(pid, &local, 1, &remote, 1, 0) == sizeof v);
	printf("ptrace: seize: process_vm_readv %#lx\n", v);
	v = 0x55;
	CHECK(process_vm_writev(pid, &local, 1, &remote, 1, 0) == sizeof v);
	errno = 0;
	remote.iov_base = (void *)8;
	CHECK(process_vm_readv(pid, &local, 1, &remote, 1, 0) == -1 && errno == EFAULT);
	printf("ptrace: seize: process_vm_readv of an unmapped address: EFAULT\n");
	/* LISTEN in a PTRACE_EVENT_STOP: the tracee stays stopped but
	 * takes no requests until something (here INTERRUPT) wakes it. */
	CHECK(ptrace(PTRACE_LISTEN, pid, 0, 0) == 0);
	errno = 0;
	CHECK(ptrace(PTRACE_CONT, pid, 0, 0) == -1 && errno == ESRCH);
	CHECK(waitpid(pid, &st, WNOHANG | __WALL) == 0);
	printf("ptrace: seize: LISTEN: not waitable, CONT gives ESRCH\n");
	CHECK(ptrace(PTRACE_INTERRUPT, pid, 0, 0) == 0);
	st = waitstop(pid);
	printf("ptrace: seize: INTERRUPT of a listening tracee: sig %s event %d\n", sigabbrev_np(WSTOPSIG(st)), st >> 16);
	CHECK(ptrace(PTRACE_CONT, pid, 0, 0) == 0);
	CHECK(write(p[1], "x", 1) == 1);
	for (;;) {
		CHECK(waitpid(pid, &st, 0) == pid);
		if (WIFEXITED(st))
			break;
		CHECK(ptrace(PTRACE_CONT, pid, 0, 0) == 0);
	}
	printf("ptrace: seize: child exited with %d\n", WEXITSTATUS(st));
}

static void test_errors(void)
{
	errno = 0;
	CHECK(ptrace(PTRACE_CONT, getppid() > 0 ? 1 : 1, 0, 0) == -1 && errno == ESRCH);
	errno = 0;
	CHECK(ptrace(PTRACE_ATTACH, getpid(), 0, 0) == -1 && errno == EPERM);
	errno = 0;
	CHECK(ptrace(PTRACE_CONT, 99999, 0, 0) == -1 && errno == ESRCH);
	errno = 0;
	CHECK(ptrace(PTRACE_ATTACH, 99999, 0, 0) == -1 && errno == ESRCH);
	errno = 0;
	CHECK(ptrace(PTRACE_SEIZE, 99999, 0, 0x40000000) == -1);
	printf("ptrace: errors: CONT of a non-tracee ESRCH, ATTACH to self EPERM, missing pid ESRCH\n");

	pid_t pid = traced_child(count_body);
	errno = 0;
	CHECK(ptrace(PTRACE_SETOPTIONS, pid, 0, 0x800) == -1 && errno == EINVAL);
	errno = 0;
	CHECK(ptrace(0x7777, pid, 0, 0) == -1 && errno == EIO);
	printf("ptrace: errors: a bad option EINVAL, an unknown request EIO\n");
	CHECK(ptrace(PTRACE_KILL, pid, 0, 0) == 0);
	finish(pid, "PTRACE_KILL");

	/* PTRACE_ATTACH of a running child: it gets SIGSTOP. */
	fflush(stdout);
	pid = SYS(fork());
	if (pid == 0) {
		for (;;)
			pause();
	}
	CHECK(ptrace(PTRACE_ATTACH, pid, 0, 0) == 0);
	int st = waitstop(pid);
	printf("ptrace: attach: stopped by %s\n", sigabbrev_np(WSTOPSIG(st)));
	CHECK(ptrace(PTRACE_DETACH, pid, 0, 0) == 0);
	/* Not traced any more: its status says so. */
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	CHECK(f != NULL);
	int tp = -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "TracerPid: %d", &tp) == 1)
			break;
	fclose(f);
	printf("ptrace: attach: TracerPid after PTRACE_DETACH: %d\n", tp);
	SYS(kill(pid, SIGTERM));
	finish(pid, "detached");
}

int main(int argc, char **argv)
{
	veil_init("ptrace");
	if (argc != 2)
		FAIL("usage: ptrace PATH-TO-ECHOARGS");
	echoargs = argv[1];
	test_count();
	test_peekpoke();
	test_regs();
	test_signals();
	test_info();
	test_sysemu();
	test_events();
	test_breakpoint();
	test_seize();
	test_errors();
	printf("ptrace: ok\n");
	return 0;
}
