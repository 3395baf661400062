/*
 * Resource limits enforced (setrlimit(2)): RLIMIT_FSIZE (short write,
 * EFBIG and SIGXFSZ, truncate, fallocate), RLIMIT_AS and RLIMIT_DATA
 * (mmap, brk, mremap, mprotect ENOMEM), RLIMIT_NOFILE (EMFILE, dup2,
 * F_DUPFD), RLIMIT_NPROC (fork and pthread_create EAGAIN for a user
 * without privilege), RLIMIT_STACK (the stack an exec'd program gets),
 * RLIMIT_MEMLOCK (mlock ENOMEM/EPERM), RLIMIT_SIGPENDING (sigqueue
 * EAGAIN), and limits that are only kept (RLIMIT_CORE, RLIMIT_MSGQUEUE).
 * Each part runs in a child so its limits do not leak.
 *
 *   rlimits               all the checks, deterministic output
 *   rlimits recurse KiB   uses KiB of stack (helper for RLIMIT_STACK)
 */
#include "veiltest.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>

#define MiB (1024L * 1024)
/* A user nobody on the host uses, so its process and signal counts start
 * at zero natively too. */
#define UNPRIV 54321

static const char *self_path;

static const char *err(long r)
{
	if (r != -1)
		return "ok";
	switch (errno) {
	case EFBIG: return "EFBIG";
	case ENOMEM: return "ENOMEM";
	case EMFILE: return "EMFILE";
	case EBADF: return "EBADF";
	case EINVAL: return "EINVAL";
	case EAGAIN: return "EAGAIN";
	case EPERM: return "EPERM";
	}
	return strerror(errno);
}

static const char *errp(void *p) { return p == MAP_FAILED ? err(-1) : "ok"; }

static void setlim(int r, rlim_t cur, rlim_t max)
{
	struct rlimit rl = {cur, max};
	SYS(setrlimit(r, &rl));
}

/* run runs f in a child and waits for it; the child's output ends before
 * the parent goes on. */
static int run(void (*f)(void))
{
	fflush(stdout);
	pid_t c = SYS(fork());
	if (c == 0) {
		f();
		fflush(stdout);
		_exit(0);
	}
	int st;
	SYS(waitpid(c, &st, 0));
	return st;
}

static volatile sig_atomic_t xfsz;
static void on_xfsz(int s) { (void)s; xfsz++; }

static void fsize(void)
{
	char path[] = "/tmp/veil-rlimits-XXXXXX";
	int fd = SYS(mkstemp(path));
	unlink(path);
	signal(SIGXFSZ, on_xfsz);
	setlim(RLIMIT_FSIZE, 10000, RLIM_INFINITY);
	static char buf[20000];
	printf("FSIZE: write of 20000 bytes writes %ld\n", (long)write(fd, buf, sizeof buf));
	printf("FSIZE: SIGXFSZ on the short write: %s\n", xfsz ? "yes" : "no");
	const char *r = err(write(fd, buf, 1));
	printf("FSIZE: next write: %s, SIGXFSZ: %s\n", r, xfsz == 1 ? "yes" : "no");
	printf("FSIZE: pwrite at 9999: %ld\n", (long)pwrite(fd, buf, 10, 9999));
	printf("FSIZE: pwrite at 10000: %s\n", err(pwrite(fd, buf, 10, 10000)));
	printf("FSIZE: empty write at 10000: %ld\n", (long)pwrite(fd, buf, 0, 10000));
	printf("FSIZE: ftruncate to 20000: %s\n", err(ftruncate(fd, 20000)));
	printf("FSIZE: ftruncate to 5000: %s\n", err(ftruncate(fd, 5000)));
	printf("FSIZE: fallocate to 30000: %s\n", err(fallocate(fd, 0, 0, 30000)));
	int afd = SYS(open("/dev/null", O_WRONLY));
	printf("FSIZE: /dev/null unaffected: %ld\n", (long)write(afd, buf, sizeof buf));
	int p[2];
	SYS(pipe(p));
	printf("FSIZE: pipes unaffected: %ld\n", (long)write(p[1], buf, 15000));
	printf("FSIZE: SIGXFSZ count %d\n", (int)xfsz);
	fflush(stdout);
	signal(SIGXFSZ, SIG_DFL);
	setlim(RLIMIT_CORE, 0, 0);
	SYS(lseek(fd, 20000, SEEK_SET));
	write(fd, buf, 1); /* dies */
	printf("FSIZE: not killed?\n");
}

static void as(void)
{
	setlim(RLIMIT_AS, 256 * MiB, RLIM_INFINITY);
	struct rlimit rl;
	SYS(getrlimit(RLIMIT_AS, &rl));
	printf("AS: limit %ld MiB\n", (long)(rl.rlim_cur / MiB));
	printf("AS: mmap 512 MiB: %s\n",
	       errp(mmap(NULL, 512 * MiB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)));
	void *m = malloc(512 * MiB);
	printf("AS: malloc 512 MiB: %s (errno %s)\n", m ? "ok" : "NULL", m ? "-" : err(-1));
	char *s = mmap(NULL, 16 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	printf("AS: mmap 16 MiB: %s\n", errp(s));
	printf("AS: mremap it to 512 MiB: %s\n", errp(mremap(s, 16 * MiB, 512 * MiB, MREMAP_MAYMOVE)));
	printf("AS: mremap it to 32 MiB: %s\n", errp(mremap(s, 16 * MiB, 32 * MiB, MREMAP_MAYMOVE)));
	printf("AS: sbrk 512 MiB: %s\n", errp(sbrk(512 * MiB)));
	printf("AS: sbrk 1 MiB: %s\n", errp(sbrk(1 * MiB)));
	printf("AS: mmap replacing a mapping with one as big: %s\n",
	       errp(mmap(s, 16 * MiB, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0)));
}

static void data(void)
{
	setlim(RLIMIT_DATA, 64 * MiB, RLIM_INFINITY);
	printf("DATA: private writable 128 MiB: %s\n",
	       errp(mmap(NULL, 128 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)));
	char *r = mmap(NULL, 128 * MiB, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	printf("DATA: private read-only 128 MiB: %s\n", errp(r));
	printf("DATA: shared writable 128 MiB: %s\n",
	       errp(mmap(NULL, 128 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0)));
	printf("DATA: mprotect the read-only one writable: %s\n", err(mprotect(r, 128 * MiB, PROT_READ | PROT_WRITE)));
	printf("DATA: mprotect 1 MiB of it writable: %s\n", err(mprotect(r, 1 * MiB, PROT_READ | PROT_WRITE)));
	printf("DATA: sbrk 128 MiB: %s\n", errp(sbrk(128 * MiB)));
	printf("DATA: private writable 16 MiB: %s\n",
	       errp(mmap(NULL, 16 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)));
}

static void nofile(void)
{
	setlim(RLIMIT_NOFILE, 16, 16);
	int last = -1, n;
	while ((n = open("/dev/null", O_RDONLY)) >= 0)
		last = n;
	printf("NOFILE 16: last fd %d, then %s\n", last, err(-1));
	printf("NOFILE: dup2 to 16: %s\n", err(dup2(0, 16)));
	printf("NOFILE: dup2 to 15: %s\n", err(dup2(0, 15)));
	printf("NOFILE: F_DUPFD from 16: %s\n", err(fcntl(0, F_DUPFD, 16)));
	int p[2];
	close(15);
	printf("NOFILE: pipe with one free fd: %s\n", err(pipe(p)));
	printf("NOFILE: raise above fs.nr_open: %s\n", err(setrlimit(RLIMIT_NOFILE, &(struct rlimit){16, (1 << 20) + 1})));
	setlim(RLIMIT_NOFILE, 8, 16);
	printf("NOFILE: lowered to 8: open: %s\n", err(open("/dev/null", O_RDONLY)));
	setlim(RLIMIT_NOFILE, 16, 16);
	close(14);
	printf("NOFILE: back to 16: open: %s\n", err(open("/dev/null", O_RDONLY)));
}

static void *idle(void *a)
{
	(void)a;
	pause();
	return NULL;
}

static void nproc(void)
{
	setlim(RLIMIT_NPROC, 3, 3);
	SYS(setuid(UNPRIV));
	pid_t kids[8];
	int n = 0;
	for (; n < 8; n++) {
		pid_t c = fork();
		if (c == 0) {
			pause();
			_exit(0);
		}
		if (c < 0)
			break;
		kids[n] = c;
	}
	printf("NPROC 3 as uid %d: forks before failing: %d (%s)\n", UNPRIV, n, err(-1));
	pthread_t th;
	int e = pthread_create(&th, NULL, idle, NULL);
	printf("NPROC: pthread_create at the limit: %s\n", e == EAGAIN ? "EAGAIN" : e ? strerror(e) : "ok");
	for (int i = 0; i < n; i++)
		kill(kids[i], SIGKILL);
	for (int i = 0; i < n; i++)
		waitpid(kids[i], NULL, 0);
	pid_t c = fork();
	if (c == 0)
		_exit(0);
	printf("NPROC: fork once children are gone: %s\n", c >= 0 ? "ok" : err(-1));
	waitpid(c, NULL, 0);
	printf("NPROC: raise the hard limit unprivileged: %s\n", err(setrlimit(RLIMIT_NPROC, &(struct rlimit){4, 4})));
}

/* recurse uses kib KiB of stack. */
static int recurse(int kib)
{
	volatile char frame[16 * 1024];
	frame[0] = (char)kib;
	frame[sizeof frame - 1] = 1;
	if (kib <= 16)
		return frame[0];
	return recurse(kib - 16) + frame[sizeof frame - 1];
}

static int exec_recurse(rlim_t stack, int kib)
{
	fflush(stdout);
	pid_t c = SYS(fork());
	if (c == 0) {
		setlim(RLIMIT_STACK, stack, RLIM_INFINITY);
		setlim(RLIMIT_CORE, 0, 0);
		char arg[32];
		snprintf(arg, sizeof arg, "%d", kib);
		execl(self_path, self_path, "recurse", arg, (char *)NULL);
		_exit(127);
	}
	int st;
	SYS(waitpid(c, &st, 0));
	return st;
}

static void stack(void)
{
	int st = exec_recurse(1 * MiB, 4096);
	printf("STACK 1 MiB, 4 MiB deep: killed by SIGSEGV: %s\n", WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV ? "yes" : "no");
	st = exec_recurse(64 * MiB, 32768);
	printf("STACK 64 MiB, 32 MiB deep: exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	st = exec_recurse(RLIM_INFINITY, 32768);
	printf("STACK unlimited, 32 MiB deep: exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	st = exec_recurse(8 * MiB, 4096);
	printf("STACK 8 MiB, 4 MiB deep: exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

static void memlock(void)
{
	char *m = mmap(NULL, 1 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(m != MAP_FAILED);
	setlim(RLIMIT_MEMLOCK, 64 * 1024, 64 * 1024);
	printf("MEMLOCK as root: mlock 1 MiB over the limit: %s\n", err(mlock(m, 1 * MiB)));
	SYS(munlock(m, 1 * MiB));
	SYS(setuid(UNPRIV));
	printf("MEMLOCK 64 KiB: mlock 32 KiB: %s\n", err(mlock(m, 32 * 1024)));
	printf("MEMLOCK: mlock the same 32 KiB again: %s\n", err(mlock(m, 32 * 1024)));
	printf("MEMLOCK: mlock 128 KiB: %s\n", err(mlock(m, 128 * 1024)));
	printf("MEMLOCK: mlock2 MLOCK_ONFAULT 32 KiB more: %s\n", err(mlock2(m + 32 * 1024, 32 * 1024, MLOCK_ONFAULT)));
	printf("MEMLOCK: mlockall(MCL_CURRENT): %s\n", err(mlockall(MCL_CURRENT)));
	printf("MEMLOCK: MAP_LOCKED 128 KiB: %s\n",
	       errp(mmap(NULL, 128 * 1024, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0)));
	SYS(munlockall());
	setlim(RLIMIT_MEMLOCK, 0, 0);
	printf("MEMLOCK 0: mlock: %s\n", err(mlock(m, 4096)));
	printf("MEMLOCK 0: mlockall(MCL_FUTURE): %s\n", err(mlockall(MCL_FUTURE)));
	printf("MEMLOCK 0: MAP_LOCKED: %s\n",
	       errp(mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0)));
	printf("MEMLOCK 0: munlock: %s\n", err(munlock(m, 4096)));
}

static void sigpending_limit(void)
{
	SYS(setuid(UNPRIV));
	setlim(RLIMIT_SIGPENDING, 2, 2);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGRTMIN);
	sigaddset(&set, SIGUSR1);
	SYS(sigprocmask(SIG_BLOCK, &set, NULL));
	union sigval v = {0};
	const char *r1 = err(sigqueue(getpid(), SIGRTMIN, v));
	const char *r2 = err(sigqueue(getpid(), SIGRTMIN, v));
	const char *r3 = err(sigqueue(getpid(), SIGRTMIN, v));
	printf("SIGPENDING 2: sigqueue x3: %s %s %s\n", r1, r2, r3);
	printf("SIGPENDING: kill() of a real-time signal still works: %s\n", err(kill(getpid(), SIGRTMIN)));
	printf("SIGPENDING: sigqueue of a standard signal still works: %s\n", err(sigqueue(getpid(), SIGUSR1, v)));
	siginfo_t si;
	struct timespec zero = {0, 0};
	int n = 0;
	while (sigtimedwait(&set, &si, &zero) > 0)
		n++;
	printf("SIGPENDING: signals taken: %d\n", n);
	printf("SIGPENDING: sigqueue once drained: %s\n", err(sigqueue(getpid(), SIGRTMIN, v)));
}

static void kept(void)
{
	struct rlimit rl;
	setlim(RLIMIT_CORE, 0, RLIM_INFINITY);
	SYS(getrlimit(RLIMIT_CORE, &rl));
	printf("CORE: kept: %s\n", rl.rlim_cur == 0 && rl.rlim_max == RLIM_INFINITY ? "yes" : "no");
	setlim(RLIMIT_MSGQUEUE, 4096, 8192);
	SYS(getrlimit(RLIMIT_MSGQUEUE, &rl));
	printf("MSGQUEUE: kept: %ld %ld\n", (long)rl.rlim_cur, (long)rl.rlim_max);
	printf("soft above hard: %s\n", err(setrlimit(RLIMIT_CORE, &(struct rlimit){10, 5})));
	printf("unknown resource: %s\n", err(setrlimit(99, &rl)));

	/* prlimit on a child. */
	pid_t c = SYS(fork());
	if (c == 0) {
		pause();
		_exit(0);
	}
	struct rlimit old;
	SYS(prlimit(c, RLIMIT_NOFILE, &(struct rlimit){100, 200}, &old));
	SYS(prlimit(c, RLIMIT_NOFILE, NULL, &rl));
	printf("prlimit on a child: %ld %ld\n", (long)rl.rlim_cur, (long)rl.rlim_max);
	kill(c, SIGKILL);
	waitpid(c, NULL, 0);
}

int main(int argc, char **argv)
{
	veil_init("rlimits");
	self_path = argv[0];
	if (argc == 3 && strcmp(argv[1], "recurse") == 0)
		return recurse(atoi(argv[2])) > 0 ? 0 : 1;
	int st = run(fsize);
	printf("FSIZE: write past the limit with SIGXFSZ's default action: killed by SIGXFSZ: %s\n",
	       WIFSIGNALED(st) && WTERMSIG(st) == SIGXFSZ ? "yes" : "no");
	run(as);
	run(data);
	run(nofile);
	run(nproc);
	run(stack);
	run(memlock);
	run(sigpending_limit);
	run(kept);
	printf("rlimits: ok\n");
	return 0;
}
