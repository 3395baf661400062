/*
 * Capabilities as credentials: capget/capset (versions 1-3), the prctl
 * capability options, securebits, no_new_privs, the effect of uid changes
 * and of execve on the capability sets (capabilities(7)), and the
 * permission checks that consult capabilities: file DAC, ownership,
 * kill(2), setuid/setgid, setrlimit, setpriority, sethostname, chroot,
 * mknod.
 *
 * Must run as root. It first confines itself to a fixed set S (bounding,
 * permitted and effective), so everything it prints is the same whatever
 * extra capabilities the caller had: natively under a root shell, and in
 * the sandbox where root starts with all of them. Every state change
 * happens in a forked child; "caps report LABEL [FILE]" is what those
 * children execve to show the sets after an exec.
 */
#include "veiltest.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/wait.h>

#define BIT(c) (1ULL << (c))

/* S: docker's 14 default capabilities plus a few whose behaviour the
 * test looks at (DAC_READ_SEARCH, LINUX_IMMUTABLE: a file system
 * capability; AUDIT_READ: above 31, for the version 1 interfaces). */
static const uint64_t S =
	BIT(CAP_CHOWN) | BIT(CAP_DAC_OVERRIDE) | BIT(CAP_DAC_READ_SEARCH) |
	BIT(CAP_FOWNER) | BIT(CAP_FSETID) | BIT(CAP_KILL) | BIT(CAP_SETGID) |
	BIT(CAP_SETUID) | BIT(CAP_SETPCAP) | BIT(CAP_LINUX_IMMUTABLE) |
	BIT(CAP_NET_BIND_SERVICE) | BIT(CAP_NET_RAW) | BIT(CAP_SYS_CHROOT) |
	BIT(CAP_MKNOD) | BIT(CAP_AUDIT_WRITE) | BIT(CAP_SETFCAP) |
	BIT(CAP_AUDIT_READ);

static const char *self;
static char dir[64], secret[96], sub[96], inner[128], gfile[96];

struct caps {
	uint64_t e, p, i;
};

static const char *res(long r)
{
	static char buf[32];
	if (r >= 0)
		return "OK";
	switch (errno) {
	case EPERM: return "EPERM";
	case EINVAL: return "EINVAL";
	case EACCES: return "EACCES";
	case ESRCH: return "ESRCH";
	case EFAULT: return "EFAULT";
	}
	snprintf(buf, sizeof buf, "errno %d", errno);
	return buf;
}

static long capget_v(uint32_t version, int pid, struct __user_cap_data_struct *d)
{
	struct __user_cap_header_struct h = {version, pid};
	return syscall(SYS_capget, &h, d);
}

static long capset_v(uint32_t version, int pid, struct __user_cap_data_struct *d)
{
	struct __user_cap_header_struct h = {version, pid};
	return syscall(SYS_capset, &h, d);
}

static long getcaps(int pid, struct caps *c)
{
	struct __user_cap_data_struct d[2];
	long r = capget_v(_LINUX_CAPABILITY_VERSION_3, pid, d);
	if (r == 0) {
		c->e = d[0].effective | (uint64_t)d[1].effective << 32;
		c->p = d[0].permitted | (uint64_t)d[1].permitted << 32;
		c->i = d[0].inheritable | (uint64_t)d[1].inheritable << 32;
	}
	return r;
}

static struct caps mycaps(void)
{
	struct caps c;
	SYS(getcaps(0, &c));
	return c;
}

static long setcaps(uint64_t e, uint64_t p, uint64_t i)
{
	struct __user_cap_data_struct d[2] = {
		{(uint32_t)e, (uint32_t)p, (uint32_t)i},
		{(uint32_t)(e >> 32), (uint32_t)(p >> 32), (uint32_t)(i >> 32)},
	};
	return capset_v(_LINUX_CAPABILITY_VERSION_3, 0, d);
}

/* dropeff removes caps from the effective set only. */
static void dropeff(uint64_t caps)
{
	struct caps c = mycaps();
	SYS(setcaps(c.e & ~caps, c.p, c.i));
}

static uint64_t ambient(void)
{
	uint64_t a = 0;
	for (int c = 0; c < 64; c++) {
		int r = prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, c, 0, 0);
		if (r < 0)
			break;
		if (r)
			a |= BIT(c);
	}
	return a;
}

static uint64_t bounding(void)
{
	uint64_t b = 0;
	for (int c = 0; c < 64; c++) {
		int r = prctl(PR_CAPBSET_READ, c, 0, 0, 0);
		if (r < 0)
			break;
		if (r)
			b |= BIT(c);
	}
	return b;
}

static void print_state(const char *label)
{
	struct caps c = mycaps();
	uid_t r, e, s;
	SYS(getresuid(&r, &e, &s));
	printf("%s: uid=%d/%d/%d fsuid=%d E=%llx P=%llx I=%llx A=%llx B=%llx\n", label,
	       (int)r, (int)e, (int)s, setfsuid(-1), (unsigned long long)c.e,
	       (unsigned long long)c.p, (unsigned long long)c.i,
	       (unsigned long long)ambient(), (unsigned long long)bounding());
}

/* status prints the capability lines of /proc/self/status. */
static void status(const char *label, int nnp)
{
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");
	CHECK(f != NULL);
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, "Cap", 3) == 0 || (nnp && strncmp(line, "NoNewPrivs:", 11) == 0))
			printf("%s status %s", label, line);
	}
	fclose(f);
}

/* report is the program run by execve in the exec tests. */
static int report(const char *label, const char *file)
{
	print_state(label);
	printf("%s: AT_SECURE=%lu\n", label, getauxval(AT_SECURE));
	if (file) {
		int fd = open(file, O_RDONLY);
		printf("%s: open %s: %s\n", label, "secret", res(fd));
	}
	return 0;
}

static void exec_report(const char *label, const char *file)
{
	fflush(stdout);
	execl(self, self, "report", label, file, (char *)NULL);
	FAIL("execl %s: %s", self, strerror(errno));
}

/* child runs fn in a forked process and checks it exits 0. */
static void child(void (*fn)(void))
{
	fflush(stdout);
	pid_t pid = SYS(fork());
	if (pid == 0) {
		fn();
		fflush(stdout);
		_exit(0);
	}
	int st;
	SYS(waitpid(pid, &st, 0));
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		FAIL("child failed: status %#x", st);
}

/* ---- setup ---- */

static void restrict_to_S(void)
{
	for (int c = 0;; c++) {
		int r = prctl(PR_CAPBSET_READ, c, 0, 0, 0);
		if (r < 0) {
			CHECK(errno == EINVAL);
			break;
		}
		if (!(S & BIT(c)) && r == 1)
			SYS(prctl(PR_CAPBSET_DROP, c, 0, 0, 0));
	}
	for (int c = 0; c < 64; c++)
		if ((S & BIT(c)) && prctl(PR_CAPBSET_READ, c, 0, 0, 0) != 1)
			FAIL("capability %d is not in the caller's bounding set; run as a fully privileged root", c);
	SYS(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0));
	SYS(prctl(PR_SET_SECUREBITS, 0, 0, 0, 0));
	SYS(setcaps(S, S, 0));
	print_state("restricted");
	status("restricted", 0);
}

static void make_files(void)
{
	strcpy(dir, "/tmp/veil-capsXXXXXX");
	CHECK(mkdtemp(dir) != NULL);
	SYS(chmod(dir, 0755));
	snprintf(secret, sizeof secret, "%s/secret", dir);
	snprintf(sub, sizeof sub, "%s/sub", dir);
	snprintf(inner, sizeof inner, "%s/inner", sub);
	snprintf(gfile, sizeof gfile, "%s/gfile", dir);
	int fd = SYS(open(secret, O_CREAT | O_WRONLY | O_EXCL, 0600));
	CHECK(write(fd, "secret\n", 7) == 7);
	SYS(fchown(fd, 1234, 1234));
	SYS(fchmod(fd, 0600));
	SYS(close(fd));
	SYS(mkdir(sub, 0700));
	SYS(close(SYS(open(inner, O_CREAT | O_WRONLY, 0600))));
	SYS(chown(inner, 1234, 1234));
	SYS(chown(sub, 1234, 1234));
	SYS(close(SYS(open(gfile, O_CREAT | O_WRONLY, 0644))));
	SYS(chown(gfile, 0, 4321));
}

static void remove_files(void)
{
	SYS(unlink(inner));
	SYS(rmdir(sub));
	SYS(unlink(secret));
	SYS(unlink(gfile));
	SYS(rmdir(dir));
}

/* ---- capget / capset ---- */

static void test_probe(void)
{
	struct __user_cap_header_struct h = {0, 0};
	struct __user_cap_data_struct d[2];
	long r = syscall(SYS_capget, &h, NULL);
	printf("probe capget(v0, NULL): %s version=%#x\n", res(r), h.version);
	h.version = 0x12345678;
	r = syscall(SYS_capget, &h, d);
	printf("probe capget(bad, data): %s version=%#x\n", res(r), h.version);
	h.version = 0x12345678;
	r = syscall(SYS_capset, &h, d);
	printf("probe capset(bad, data): %s version=%#x\n", res(r), h.version);
	r = syscall(SYS_capget, NULL, d);
	printf("probe capget(NULL header): %s\n", res(r));
}

static void test_capget(void)
{
	struct caps a, b, c;
	SYS(getcaps(0, &a));
	SYS(getcaps(getpid(), &b));
	SYS(getcaps(syscall(SYS_gettid), &c));
	printf("capget self: E=%llx P=%llx I=%llx; by pid same=%d; by tid same=%d\n",
	       (unsigned long long)a.e, (unsigned long long)a.p, (unsigned long long)a.i,
	       a.e == b.e && a.p == b.p && a.i == b.i, a.e == c.e && a.p == c.p && a.i == c.i);

	struct __user_cap_data_struct d[2];
	memset(d, 0xab, sizeof d);
	long r = capget_v(_LINUX_CAPABILITY_VERSION_1, 0, d);
	printf("capget v1: %s e=%x p=%x i=%x second word untouched=%d\n", res(r), d[0].effective,
	       d[0].permitted, d[0].inheritable, d[1].effective == 0xabababab);
	memset(d, 0, sizeof d);
	r = capget_v(_LINUX_CAPABILITY_VERSION_2, 0, d);
	printf("capget v2: %s e=%x:%x\n", res(r), d[1].effective, d[0].effective);
	printf("capget pid -1: %s\n", res(capget_v(_LINUX_CAPABILITY_VERSION_3, -1, d)));

	/* Another process's sets. */
	int ready[2], release[2];
	SYS(pipe(ready));
	SYS(pipe(release));
	fflush(stdout);
	pid_t pid = SYS(fork());
	if (pid == 0) {
		close(release[1]);
		SYS(setcaps(S & ~BIT(CAP_KILL) & ~BIT(CAP_CHOWN), S & ~BIT(CAP_KILL), BIT(CAP_CHOWN)));
		CHECK(write(ready[1], "x", 1) == 1);
		char ch;
		read(release[0], &ch, 1);
		_exit(0);
	}
	char ch;
	CHECK(read(ready[0], &ch, 1) == 1);
	SYS(getcaps(pid, &c));
	printf("capget child: E=%llx P=%llx I=%llx\n", (unsigned long long)c.e,
	       (unsigned long long)c.p, (unsigned long long)c.i);
	close(release[1]);
	int st;
	SYS(waitpid(pid, &st, 0));
	printf("capget reaped child: %s\n", res(getcaps(pid, &c)));
	close(ready[0]);
	close(ready[1]);
	close(release[0]);
}

static void capset_rules(void)
{
	const uint64_t ADMIN = BIT(CAP_SYS_ADMIN), RAW = BIT(CAP_NET_RAW);
	printf("capset P beyond P: %s\n", res(setcaps(S | ADMIN, S | ADMIN, 0)));
	printf("capset E beyond P: %s\n", res(setcaps(S, S & ~BIT(CAP_KILL), 0)));
	printf("capset I beyond bounding: %s\n", res(setcaps(S, S, ADMIN)));
	printf("capset I within P: %s\n", res(setcaps(S, S, BIT(CAP_CHOWN))));
	uint64_t p = S & ~RAW;
	printf("capset drop NET_RAW from P: %s\n", res(setcaps(p, p, 0)));
	printf("capset I outside P with SETPCAP: %s\n", res(setcaps(p, p, RAW)));
	p &= ~BIT(CAP_SETPCAP);
	printf("capset drop SETPCAP: %s\n", res(setcaps(p, p, RAW)));
	p &= ~BIT(CAP_FSETID);
	printf("capset drop FSETID from P: %s\n", res(setcaps(p, p, RAW)));
	printf("capset I outside P without SETPCAP: %s\n", res(setcaps(p, p, RAW | BIT(CAP_FSETID))));
	printf("capset I kept outside P: %s\n", res(setcaps(p, p, RAW)));

	struct __user_cap_data_struct d[2] = {{(uint32_t)p, (uint32_t)p, 0}, {0, 0, 0}};
	printf("capset pid=parent: %s\n", res(capset_v(_LINUX_CAPABILITY_VERSION_3, getppid(), d)));
	d[1].effective = d[1].permitted = (uint32_t)(p >> 32);
	printf("capset pid=self: %s\n", res(capset_v(_LINUX_CAPABILITY_VERSION_3, getpid(), d)));
	printf("capset v1 (low 32 only): %s\n", res(capset_v(_LINUX_CAPABILITY_VERSION_1, 0, d)));
	print_state("after capset v1");
}

static void ambient_ops(void)
{
	const int CH = CAP_CHOWN, KILL = CAP_KILL;
	printf("ambient is_set CHOWN: %d\n", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CH, 0, 0));
	printf("ambient raise CHOWN without I: %s\n", res(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CH, 0, 0)));
	SYS(setcaps(S, S, BIT(CH) | BIT(KILL)));
	printf("ambient raise CHOWN: %s\n", res(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CH, 0, 0)));
	printf("ambient raise KILL: %s\n", res(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, KILL, 0, 0)));
	printf("ambient set: %llx\n", (unsigned long long)ambient());
	SYS(setcaps(S, S, BIT(CH)));
	printf("ambient after KILL left I: %llx\n", (unsigned long long)ambient());
	printf("ambient lower CHOWN: %s\n", res(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_LOWER, CH, 0, 0)));
	printf("ambient is_set CHOWN: %d\n", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CH, 0, 0));
	printf("ambient raise 999: %s\n", res(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, 999, 0, 0)));
	printf("ambient is_set 41: %s\n", res(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, 41, 0, 0)));
	printf("ambient op 99: %s\n", res(prctl(PR_CAP_AMBIENT, 99, CH, 0, 0)));
	printf("ambient is_set arg4: %s\n", res(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CH, 1, 0)));
	printf("ambient clear_all arg3: %s\n", res(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 1, 0, 0)));
	SYS(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CH, 0, 0));
	const char *r = res(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0));
	printf("ambient clear_all: %s -> %llx\n", r, (unsigned long long)ambient());
	SYS(prctl(PR_SET_SECUREBITS, SECBIT_NO_CAP_AMBIENT_RAISE, 0, 0, 0));
	printf("ambient raise with NO_CAP_AMBIENT_RAISE: %s\n", res(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CH, 0, 0)));
}

static void bounding_and_bits(void)
{
	printf("capbset_read CHOWN=%d SYS_ADMIN=%d 1000=%s\n", prctl(PR_CAPBSET_READ, CAP_CHOWN, 0, 0, 0),
	       prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0), res(prctl(PR_CAPBSET_READ, 1000, 0, 0, 0)));
	dropeff(BIT(CAP_SETPCAP));
	printf("capbset_drop without SETPCAP: %s\n", res(prctl(PR_CAPBSET_DROP, CAP_MKNOD, 0, 0, 0)));
	printf("capbset_drop 1000 without SETPCAP: %s\n", res(prctl(PR_CAPBSET_DROP, 1000, 0, 0, 0)));
	printf("set_securebits without SETPCAP: %s\n", res(prctl(PR_SET_SECUREBITS, 0, 0, 0, 0)));
	SYS(setcaps(S, S, 0));
	const char *r = res(prctl(PR_CAPBSET_DROP, CAP_MKNOD, 0, 0, 0));
	printf("capbset_drop MKNOD: %s -> read %d\n", r, prctl(PR_CAPBSET_READ, CAP_MKNOD, 0, 0, 0));
	printf("capbset_drop 1000: %s\n", res(prctl(PR_CAPBSET_DROP, 1000, 0, 0, 0)));
	print_state("after bounding drop");

	printf("get_keepcaps: %d\n", prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0));
	printf("set_keepcaps 2: %s\n", res(prctl(PR_SET_KEEPCAPS, 2, 0, 0, 0)));
	r = res(prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0));
	printf("set_keepcaps 1: %s", r);
	printf(" -> get %d", prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0));
	printf(" securebits %#x\n", prctl(PR_GET_SECUREBITS, 0, 0, 0, 0));
	r = res(prctl(PR_SET_SECUREBITS, 0, 0, 0, 0));
	printf("set_securebits 0: %s -> %#x\n", r, prctl(PR_GET_SECUREBITS, 0, 0, 0, 0));
	printf("set_securebits 1<<20: %s\n", res(prctl(PR_SET_SECUREBITS, 1 << 20, 0, 0, 0)));
	r = res(prctl(PR_SET_SECUREBITS, SECBIT_KEEP_CAPS_LOCKED, 0, 0, 0));
	printf("set_securebits KEEP_CAPS_LOCKED: %s -> %#x\n", r, prctl(PR_GET_SECUREBITS, 0, 0, 0, 0));
	printf("set_keepcaps 1 when locked: %s\n", res(prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0)));
	printf("set_securebits unlock: %s\n", res(prctl(PR_SET_SECUREBITS, 0, 0, 0, 0)));
	printf("set_securebits KEEP_CAPS while locked: %s\n",
	       res(prctl(PR_SET_SECUREBITS, SECBIT_KEEP_CAPS_LOCKED | SECBIT_KEEP_CAPS, 0, 0, 0)));
}

static void nnp(void)
{
	printf("set_no_new_privs 0: %s\n", res(prctl(PR_SET_NO_NEW_PRIVS, 0, 0, 0, 0)));
	printf("set_no_new_privs 1,1: %s\n", res(prctl(PR_SET_NO_NEW_PRIVS, 1, 1, 0, 0)));
	const char *r = res(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	printf("set_no_new_privs 1: %s -> get %d\n", r, prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
	printf("get_no_new_privs 1: %s\n", res(prctl(PR_GET_NO_NEW_PRIVS, 1, 0, 0, 0)));
	status("nnp", 1);
}

/* ---- permission checks ---- */

static int mode_of(const char *path)
{
	struct stat st;
	SYS(stat(path, &st));
	return st.st_mode & 07777;
}

static void files(void)
{
	struct stat st;
	int fd = open(secret, O_RDONLY);
	printf("files: root reads 0600 file of uid 1234: %s\n", res(fd));
	close(fd);

	dropeff(BIT(CAP_DAC_OVERRIDE));
	printf("files: without DAC_OVERRIDE:\n");
	fd = open(secret, O_RDONLY);
	printf("  open rdonly: %s (DAC_READ_SEARCH)\n", res(fd));
	close(fd);
	fd = open(secret, O_WRONLY);
	printf("  open wronly: %s\n", res(fd));
	printf("  stat in 0700 dir of uid 1234: %s\n", res(stat(inner, &st)));
	fd = open(sub, O_RDONLY | O_DIRECTORY);
	printf("  open 0700 dir: %s\n", res(fd));
	close(fd);
	char path[160];
	snprintf(path, sizeof path, "%s/new", sub);
	printf("  create in 0700 dir: %s\n", res(open(path, O_CREAT | O_WRONLY, 0600)));

	dropeff(BIT(CAP_DAC_READ_SEARCH));
	printf("files: without DAC_OVERRIDE and DAC_READ_SEARCH in effective:\n");
	printf("  open rdonly: %s\n", res(open(secret, O_RDONLY)));
	printf("  stat in 0700 dir: %s\n", res(stat(inner, &st)));
	printf("  access R_OK (real uid 0: permitted counts): %s\n", res(access(secret, R_OK)));
	printf("  faccessat AT_EACCESS R_OK: %s\n", res(faccessat(AT_FDCWD, secret, R_OK, AT_EACCESS)));
	struct caps c = mycaps();
	SYS(setcaps(c.e, c.p & ~BIT(CAP_DAC_OVERRIDE) & ~BIT(CAP_DAC_READ_SEARCH), 0));
	printf("  access R_OK once not permitted: %s\n", res(access(secret, R_OK)));

	printf("files: chmod with FOWNER: %s", res(chmod(secret, 0644)));
	printf(" -> %o\n", mode_of(secret));
	SYS(chmod(secret, 0600));
	printf("files: chown to same owner with CHOWN, not owner: %s\n", res(chown(secret, 1234, 1234)));
	SYS(chmod(gfile, 02755));
	printf("files: chmod g+s, not in group, with FSETID: %o\n", mode_of(gfile));
	dropeff(BIT(CAP_FSETID));
	SYS(chmod(gfile, 02755));
	printf("files: chmod g+s, not in group, without FSETID: %o\n", mode_of(gfile));
	dropeff(BIT(CAP_FOWNER));
	printf("files: without FOWNER: chmod %s", res(chmod(secret, 0640)));
	struct timeval tv[2] = {{1000, 0}, {2000, 0}};
	printf(", utimes explicit %s", res(utimes(secret, tv)));
	printf(", utimes now %s\n", res(utimes(secret, NULL)));
	dropeff(BIT(CAP_CHOWN));
	printf("files: without CHOWN: chown to same owner %s", res(chown(secret, 1234, -1)));
	printf(", chown to root %s", res(chown(secret, 0, -1)));
	printf(", chgrp own file to other group %s\n", res(chown(gfile, -1, 4322)));
	snprintf(path, sizeof path, "%s/dev", dir);
	dropeff(BIT(CAP_MKNOD));
	printf("files: mknod char device without MKNOD: %s\n", res(mknod(path, S_IFCHR | 0600, makedev(1, 3))));
}

static void files_as_1000(void)
{
	SYS(setuid(1000));
	print_state("setuid(1000)");
	status("setuid(1000)", 0);
	printf("setuid(1000): open secret: %s\n", res(open(secret, O_RDONLY)));
	printf("setuid(1000): setuid(0): %s\n", res(setuid(0)));
	printf("setuid(1000): capset E=S: %s\n", res(setcaps(S, S, 0)));
}

/* kill(2): a process of uid 2000 and one of uid 0 without CAP_KILL. */
static void kill_perm(void)
{
	int ready[2], release[2];
	SYS(pipe(ready));
	SYS(pipe(release));
	fflush(stdout);
	pid_t pid = SYS(fork());
	if (pid == 0) {
		close(release[1]);
		SYS(setresuid(2000, 2000, 2000));
		printf("kill: uid 2000 -> root parent sig 0: %s\n", res(kill(getppid(), 0)));
		printf("kill: uid 2000 -> root parent SIGCONT (same session): %s\n", res(kill(getppid(), SIGCONT)));
		fflush(stdout);
		CHECK(write(ready[1], "x", 1) == 1);
		char ch;
		read(release[0], &ch, 1);
		_exit(0);
	}
	char ch;
	CHECK(read(ready[0], &ch, 1) == 1);
	printf("kill: root with KILL -> uid 2000 sig 0: %s\n", res(kill(pid, 0)));
	dropeff(BIT(CAP_KILL));
	printf("kill: root without KILL -> uid 2000 sig 0: %s\n", res(kill(pid, 0)));
	printf("kill: root without KILL -> uid 2000 SIGTERM: %s\n", res(kill(pid, SIGTERM)));
	printf("kill: root without KILL -> uid 2000 SIGCONT: %s\n", res(kill(pid, SIGCONT)));
	close(release[1]);
	int st;
	SYS(waitpid(pid, &st, 0));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* ---- uid and gid changes ---- */

static void seteuid_cycle(void)
{
	SYS(setresuid(-1, 1000, -1));
	print_state("seteuid(1000)");
	SYS(setresuid(-1, 0, -1));
	print_state("seteuid(0)");
}

static void fsuid_cycle(void)
{
	int old = setfsuid(1000);
	struct caps c = mycaps();
	printf("setfsuid(1000): old=%d dropped=%llx\n", old, (unsigned long long)(S & ~c.e));
	printf("setfsuid(1000): open secret: %s\n", res(open(secret, O_RDONLY)));
	old = setfsuid(0);
	c = mycaps();
	printf("setfsuid(0): old=%d E=%llx\n", old, (unsigned long long)c.e);
	printf("setfsuid(-1): %d\n", setfsuid(-1));
}

static void saved_ids(void)
{
	uid_t r, e, s;
	printf("setuid(-1): %s\n", res(setuid(-1)));
	SYS(setresuid(1000, 1001, 1002));
	print_state("setresuid(1000,1001,1002)");
	printf("setreuid(1002,-1): %s\n", res(setreuid(1002, -1)));
	printf("setreuid(1001,-1): %s", res(setreuid(1001, -1)));
	SYS(getresuid(&r, &e, &s));
	printf(" -> %d/%d/%d\n", (int)r, (int)e, (int)s);
	printf("setreuid(-1,1000): %s", res(setreuid(-1, 1000)));
	SYS(getresuid(&r, &e, &s));
	printf(" -> %d/%d/%d\n", (int)r, (int)e, (int)s);
	printf("setuid(1002): %s\n", res(setuid(1002)));
	printf("setresuid(-1,-1,1001): %s\n", res(setresuid(-1, -1, 1001)));
	int old = setfsuid(5);
	printf("setfsuid(5) unprivileged: %d then %d\n", old, setfsuid(-1));
}

static void gids(void)
{
	gid_t g[8];
	dropeff(BIT(CAP_SETGID));
	printf("setgid(5) without SETGID: %s\n", res(setgid(5)));
	gid_t two[2] = {7, 3};
	printf("setgroups without SETGID: %s\n", res(setgroups(2, two)));
	SYS(setcaps(S, S, 0));
	printf("setgroups {7,3}: %s", res(setgroups(2, two)));
	int n = SYS(getgroups(8, g));
	for (int i = 0; i < n; i++)
		printf(" %d", (int)g[i]);
	printf("\n");
	printf("setgid(5): %s", res(setgid(5)));
	gid_t r, e, s;
	SYS(getresgid(&r, &e, &s));
	printf(" -> %d/%d/%d\n", (int)r, (int)e, (int)s);
	print_state("after setgid(5)");
}

/* ---- execve ---- */

static void exec_root(void) { exec_report("exec root", NULL); }

static void exec_regain(void)
{
	SYS(setcaps(S & ~BIT(CAP_KILL), S & ~BIT(CAP_KILL), 0));
	exec_report("exec root after dropping KILL from P", NULL);
}

static void exec_regain_nnp(void)
{
	SYS(setcaps(S & ~BIT(CAP_KILL), S & ~BIT(CAP_KILL), 0));
	SYS(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	exec_report("exec root no_new_privs after dropping KILL from P", NULL);
}

static void exec_bounding(void)
{
	SYS(setcaps(S, S, BIT(CAP_NET_RAW)));
	SYS(prctl(PR_CAPBSET_DROP, CAP_NET_RAW, 0, 0, 0));
	SYS(prctl(PR_CAPBSET_DROP, CAP_MKNOD, 0, 0, 0));
	exec_report("exec root I=NET_RAW, bounding without NET_RAW and MKNOD", NULL);
}

static void exec_noroot(void)
{
	SYS(prctl(PR_SET_SECUREBITS, SECBIT_NOROOT, 0, 0, 0));
	exec_report("exec root with SECBIT_NOROOT", NULL);
}

static void exec_keepcaps_ambient(void)
{
	SYS(prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0));
	SYS(setresuid(1000, 1000, 1000));
	print_state("keepcaps setresuid(1000)");
	printf("keepcaps: open secret: %s\n", res(open(secret, O_RDONLY)));
	const uint64_t dac = BIT(CAP_DAC_OVERRIDE) | BIT(CAP_DAC_READ_SEARCH);
	printf("keepcaps: capset E=P: %s\n", res(setcaps(S, S, dac)));
	printf("keepcaps: open secret: %s\n", res(open(secret, O_RDONLY)));
	SYS(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_DAC_OVERRIDE, 0, 0));
	SYS(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_DAC_READ_SEARCH, 0, 0));
	print_state("keepcaps ambient");
	exec_report("exec uid 1000 with ambient DAC", secret);
}

static void exec_nonroot(void)
{
	SYS(prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0));
	SYS(setresuid(1000, 1000, 1000));
	SYS(setcaps(S, S, 0));
	exec_report("exec uid 1000 without ambient", secret);
}

static void exec_setuid_root(void)
{
	SYS(setresuid(1000, 0, 0));
	exec_report("exec ruid 1000 euid 0", NULL);
}

/* ---- other privileged calls ---- */

static void misc(void)
{
	printf("sethostname without SYS_ADMIN: %s\n", res(sethostname("veil-caps", 9)));
	struct rlimit rl;
	SYS(getrlimit(RLIMIT_NOFILE, &rl));
	rl.rlim_max = rl.rlim_cur;
	SYS(setrlimit(RLIMIT_NOFILE, &rl));
	rl.rlim_max++;
	printf("raise hard RLIMIT_NOFILE without SYS_RESOURCE: %s\n", res(setrlimit(RLIMIT_NOFILE, &rl)));
	printf("setpriority -5 without SYS_NICE: %s\n", res(setpriority(PRIO_PROCESS, 0, -5)));
	dropeff(BIT(CAP_SYS_CHROOT));
	printf("chroot without SYS_CHROOT: %s\n", res(chroot(dir)));
	SYS(setcaps(S, S, 0));
	printf("chroot with SYS_CHROOT: %s\n", res(chroot(dir)));
}

int main(int argc, char **argv)
{
	veil_init("caps");
	self = argv[0];
	if (argc >= 3 && strcmp(argv[1], "report") == 0)
		return report(argv[2], argc > 3 ? argv[3] : NULL);
	if (getuid() != 0 || geteuid() != 0)
		FAIL("must run as root");

	test_probe();
	restrict_to_S();
	test_capget();
	child(capset_rules);
	child(ambient_ops);
	child(bounding_and_bits);
	child(nnp);

	make_files();
	child(files);
	child(files_as_1000);
	child(kill_perm);
	child(seteuid_cycle);
	child(fsuid_cycle);
	child(saved_ids);
	child(gids);

	child(exec_root);
	child(exec_regain);
	child(exec_regain_nnp);
	child(exec_bounding);
	child(exec_noroot);
	child(exec_keepcaps_ambient);
	child(exec_nonroot);
	child(exec_setuid_root);

	child(misc);
	remove_files();
	printf("caps: ok\n");
	return 0;
}
