/*
 * Extended attributes (xattr(7)) on a file and a directory in a fresh
 * directory under /tmp and on /dev/shm: set/get/list/remove through paths,
 * l* and f* variants, XATTR_CREATE/XATTR_REPLACE, size 0 queries, ERANGE,
 * E2BIG, bad names, user.* on a symlink, trusted.* as root, unprivileged
 * access after setuid, fgetxattr on O_PATH (EBADF) and on a pipe.
 * Listed names are sorted (filesystems list them in their own order).
 */
#include "veiltest.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>

static const char *err(long r)
{
	return r < 0 ? strerror(errno) : "ok";
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list(const char *what, ssize_t n, char *buf)
{
	if (n < 0) {
		printf("%s: list: %s\n", what, strerror(errno));
		return;
	}
	char *names[64];
	int k = 0;
	for (char *p = buf; p < buf + n && k < 64; p += strlen(p) + 1)
		names[k++] = p;
	qsort(names, k, sizeof names[0], cmp);
	printf("%s: %zd bytes:", what, n);
	for (int i = 0; i < k; i++)
		printf(" %s", names[i]);
	printf("\n");
}

static void run(const char *base)
{
	char dir[128], f[160], d[160], l[160];
	snprintf(dir, sizeof dir, "%s/xattrXXXXXX", base);
	CHECK(mkdtemp(dir) != NULL);
	SYS(chmod(dir, 0755));
	snprintf(f, sizeof f, "%s/f", dir);
	snprintf(d, sizeof d, "%s/d", dir);
	snprintf(l, sizeof l, "%s/l", dir);
	close(SYS(open(f, O_CREAT | O_WRONLY, 0644)));
	SYS(mkdir(d, 0755));
	SYS(symlink("f", l));
	printf("== %s\n", base);

	char buf[4096];
	printf("set user.a: %s\n", err(setxattr(f, "user.a", "alpha", 5, 0)));
	printf("set user.b (empty): %s\n", err(setxattr(f, "user.b", "", 0, 0)));
	printf("create user.a: %s\n", err(setxattr(f, "user.a", "x", 1, XATTR_CREATE)));
	printf("replace user.c: %s\n", err(setxattr(f, "user.c", "x", 1, XATTR_REPLACE)));
	printf("replace user.a: %s\n", err(setxattr(f, "user.a", "ALPHA!", 6, XATTR_REPLACE)));
	printf("bad flags: %s\n", err(setxattr(f, "user.a", "x", 1, 4)));
	ssize_t n = getxattr(f, "user.a", NULL, 0);
	printf("size of user.a: %zd\n", n);
	n = getxattr(f, "user.a", buf, sizeof buf);
	printf("get user.a: %zd %.*s\n", n, (int)(n > 0 ? n : 0), buf);
	printf("get user.a small: %s\n", err(getxattr(f, "user.a", buf, 2)));
	printf("get user.b: %zd\n", getxattr(f, "user.b", buf, sizeof buf));
	printf("get user.none: %s\n", err(getxattr(f, "user.none", buf, sizeof buf)));
	printf("get bare prefix: %s\n", err(getxattr(f, "user.", buf, sizeof buf)));
	printf("get unknown namespace: %s\n", err(getxattr(f, "bogus.x", buf, sizeof buf)));
	printf("get empty name: %s\n", err(getxattr(f, "", buf, sizeof buf)));
	char longname[300];
	memset(longname, 'n', sizeof longname);
	memcpy(longname, "user.", 5);
	longname[256] = 0;
	printf("set 256-byte name: %s\n", err(setxattr(f, longname, "x", 1, 0)));
	static char big[65537];
	printf("set 65537-byte value: %s\n", err(setxattr(f, "user.big", big, sizeof big, 0)));
	printf("get security.selinux: %s\n", err(getxattr(f, "security.selinux", buf, sizeof buf)));
	printf("get posix ACL: %s\n", err(getxattr(f, "system.posix_acl_access", buf, sizeof buf)));
	printf("set trusted.t (root): %s\n", err(setxattr(f, "trusted.t", "t", 1, 0)));
	printf("set security.capability garbage: %s\n", err(setxattr(f, "security.capability", "12345", 5, 0)));
	list("list f", listxattr(f, buf, sizeof buf), buf);
	printf("list size: %zd\n", listxattr(f, NULL, 0));
	printf("list small: %s\n", err(listxattr(f, buf, 3)));

	/* Directories, symlinks (l* variants), descriptors. */
	printf("set user.d on dir: %s\n", err(setxattr(d, "user.d", "dd", 2, 0)));
	list("list d", listxattr(d, buf, sizeof buf), buf);
	printf("lset user.l on symlink: %s\n", err(lsetxattr(l, "user.l", "x", 1, 0)));
	printf("lget user.a via symlink: %s\n", err(lgetxattr(l, "user.a", buf, sizeof buf)));
	n = getxattr(l, "user.a", buf, sizeof buf);
	printf("get user.a through symlink: %zd\n", n);
	list("llist l", llistxattr(l, buf, sizeof buf), buf);
	int fd = SYS(open(f, O_RDWR));
	printf("fset user.fd: %s\n", err(fsetxattr(fd, "user.fd", "1", 1, 0)));
	n = fgetxattr(fd, "user.fd", buf, sizeof buf);
	printf("fget user.fd: %zd\n", n);
	printf("fremove user.fd: %s\n", err(fremovexattr(fd, "user.fd")));
	list("flist", flistxattr(fd, buf, sizeof buf), buf);
	close(fd);
	int pfd = SYS(open(f, O_PATH));
	printf("fget on O_PATH: %s\n", err(fgetxattr(pfd, "user.a", buf, sizeof buf)));
	close(pfd);
	int p[2];
	SYS(pipe(p));
	printf("fget on a pipe: %s\n", err(fgetxattr(p[0], "user.a", buf, sizeof buf)));
	list("flist on a pipe", flistxattr(p[0], buf, sizeof buf), buf);
	close(p[0]);
	close(p[1]);
	printf("remove user.b: %s\n", err(removexattr(f, "user.b")));
	printf("remove user.b again: %s\n", err(removexattr(f, "user.b")));
	printf("get on missing file: %s\n", err(getxattr("/tmp/nonexistent-xattr", "user.a", buf, sizeof buf)));

	/* An unprivileged user: no trusted.*, no writing without permission. */
	fflush(stdout);
	pid_t pid = SYS(fork());
	if (pid == 0) {
		SYS(setgid(1000));
		SYS(setuid(1000));
		printf("user: get user.a: %s\n", err(getxattr(f, "user.a", buf, sizeof buf)));
		printf("user: set user.u: %s\n", err(setxattr(f, "user.u", "u", 1, 0)));
		printf("user: get trusted.t: %s\n", err(getxattr(f, "trusted.t", buf, sizeof buf)));
		printf("user: set trusted.u: %s\n", err(setxattr(f, "trusted.u", "u", 1, 0)));
		printf("user: set security.x: %s\n", err(setxattr(f, "security.x", "u", 1, 0)));
		list("user: list f", listxattr(f, buf, sizeof buf), buf);
		exit(0);
	}
	int st;
	SYS(waitpid(pid, &st, 0));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	unlink(l);
	unlink(f);
	rmdir(d);
	rmdir(dir);
}

int main(void)
{
	veil_init("xattr");
	run("/tmp");
	run("/dev/shm");
	printf("xattr: ok\n");
	return 0;
}
