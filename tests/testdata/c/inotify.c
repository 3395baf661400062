/*
 * inotify(7): the events of changes made to a watched directory and file
 * (create, open, modify, close, access, attrib, moves with one cookie,
 * deletes, IN_DELETE_SELF and IN_IGNORED), merging of identical events,
 * IN_ONESHOT, IN_MASK_ADD, IN_MASK_CREATE, IN_ONLYDIR, IN_EXCL_UNLINK,
 * inotify_rm_watch, FIONREAD, poll readiness, short read buffers, a
 * nonblocking empty read and IN_Q_OVERFLOW. Watch descriptors and cookies
 * are printed symbolically.
 */
#include "veiltest.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

/* R runs a call and prints its result and errno as "<what>: <r> <err>". */
#define R(what, call)                                                          \
	do {                                                                   \
		errno = 0;                                                     \
		long _r = (long)(call);                                        \
		int _e = errno;                                                \
		printf("%s: %ld %s\n", what, _r, _r < 0 ? strerror(_e) : "ok"); \
	} while (0)

static int wds[16];
static const char *wdnames[16];
static int nwd;
static uint32_t cookies[16];
static int ncookies;

static const char *wdname(int wd)
{
	for (int i = 0; i < nwd; i++)
		if (wds[i] == wd)
			return wdnames[i];
	return wd == -1 ? "-1" : "?";
}

static int watch(int fd, const char *path, uint32_t mask, const char *name)
{
	int wd = inotify_add_watch(fd, path, mask);
	if (wd < 0)
		return -1;
	for (int i = 0; i < nwd; i++)
		if (wds[i] == wd)
			return wd;
	wds[nwd] = wd;
	wdnames[nwd++] = name;
	return wd;
}

static void maskstr(uint32_t m, char *out)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} bits[] = {
		{IN_ACCESS, "ACCESS"}, {IN_MODIFY, "MODIFY"}, {IN_ATTRIB, "ATTRIB"},
		{IN_CLOSE_WRITE, "CLOSE_WRITE"}, {IN_CLOSE_NOWRITE, "CLOSE_NOWRITE"},
		{IN_OPEN, "OPEN"}, {IN_MOVED_FROM, "MOVED_FROM"}, {IN_MOVED_TO, "MOVED_TO"},
		{IN_CREATE, "CREATE"}, {IN_DELETE, "DELETE"}, {IN_DELETE_SELF, "DELETE_SELF"},
		{IN_MOVE_SELF, "MOVE_SELF"}, {IN_UNMOUNT, "UNMOUNT"}, {IN_Q_OVERFLOW, "Q_OVERFLOW"},
		{IN_IGNORED, "IGNORED"}, {IN_ISDIR, "ISDIR"},
	};
	out[0] = 0;
	for (size_t i = 0; i < sizeof bits / sizeof bits[0]; i++)
		if (m & bits[i].bit) {
			if (out[0])
				strcat(out, "|");
			strcat(out, bits[i].name);
		}
}

/* dump prints and consumes every queued event. */
static int dump(int fd, const char *when)
{
	char buf[65536] __attribute__((aligned(8)));
	int total = 0;
	printf("-- %s\n", when);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n < 0) {
			CHECK(errno == EAGAIN);
			break;
		}
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *e = (struct inotify_event *)p;
			char m[200];
			maskstr(e->mask, m);
			char c[16] = "0";
			if (e->cookie) {
				int k;
				for (k = 0; k < ncookies && cookies[k] != e->cookie; k++)
					;
				if (k == ncookies)
					cookies[ncookies++] = e->cookie;
				snprintf(c, sizeof c, "c%d", k + 1);
			}
			if (total < 40)
				printf("%s %s %s %s len=%u\n", wdname(e->wd), m, c, e->len ? e->name : "-", e->len);
			total++;
			p += sizeof *e + e->len;
		}
	}
	return total;
}

int main(void)
{
	veil_init("inotify");
	char dir[] = "/tmp/inotifyXXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char f[64], g[64], h[64], sub[64];
	snprintf(f, sizeof f, "%s/f", dir);
	snprintf(g, sizeof g, "%s/g", dir);
	snprintf(h, sizeof h, "%s/h", dir);
	snprintf(sub, sizeof sub, "%s/sub", dir);
	int in = SYS(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
	CHECK(fcntl(in, F_GETFD) == FD_CLOEXEC);
	char small[8];
	R("empty read", read(in, small, sizeof small));
	int wdir = watch(in, dir, IN_ALL_EVENTS, "dir");
	printf("dir watch: %d\n", wdir > 0);

	int fd = SYS(open(f, O_CREAT | O_WRONLY, 0644));
	CHECK(write(fd, "hello", 5) == 5);
	CHECK(write(fd, "hello", 5) == 5);
	close(fd);
	struct pollfd pfd = {.fd = in, .events = POLLIN};
	int pr = poll(&pfd, 1, 0);
	printf("poll: %d %x\n", pr, pfd.revents);
	int avail;
	SYS(ioctl(in, FIONREAD, &avail));
	printf("FIONREAD: %d\n", avail);
	R("small read", read(in, small, sizeof small));
	dump(in, "create, write twice, close");

	int wf = watch(in, f, IN_ALL_EVENTS, "f");
	fd = SYS(open(f, O_RDONLY));
	char buf[16];
	CHECK(read(fd, buf, sizeof buf) == 10);
	close(fd);
	SYS(chmod(f, 0600));
	dump(in, "read and chmod");

	SYS(rename(f, g));
	SYS(mkdir(sub, 0755));
	char sub2[80];
	snprintf(sub2, sizeof sub2, "%s2", sub);
	watch(in, sub, IN_ALL_EVENTS, "sub");
	SYS(rename(sub, sub2));
	SYS(rmdir(sub2));
	fd = SYS(open(dir, O_RDONLY | O_DIRECTORY));
	close(fd);
	dump(in, "rename, mkdir, rmdir, open the directory");

	SYS(truncate(g, 3));
	SYS(link(g, f));
	SYS(unlink(f));
	SYS(unlink(g));
	dump(in, "truncate, link, unlink twice");
	R("rm_watch of the deleted file's watch", inotify_rm_watch(in, wf));

	/* IN_ONESHOT; IN_MASK_ADD; IN_MASK_CREATE; IN_ONLYDIR. */
	close(SYS(open(h, O_CREAT | O_WRONLY, 0644)));
	dump(in, "create h");
	int wh = watch(in, h, IN_MODIFY | IN_ONESHOT, "h");
	fd = SYS(open(h, O_WRONLY));
	CHECK(write(fd, "a", 1) == 1);
	CHECK(write(fd, "b", 1) == 1);
	close(fd);
	dump(in, "oneshot: two writes");
	wh = watch(in, h, IN_OPEN, "h2");
	int again = inotify_add_watch(in, h, IN_CLOSE | IN_MASK_ADD);
	printf("mask add: same wd %d\n", again == wh);
	R("mask create", inotify_add_watch(in, h, IN_OPEN | IN_MASK_CREATE));
	R("mask add and create", inotify_add_watch(in, h, IN_OPEN | IN_MASK_CREATE | IN_MASK_ADD));
	R("onlydir", inotify_add_watch(in, h, IN_OPEN | IN_ONLYDIR));
	R("no bits", inotify_add_watch(in, h, 0));
	R("not inotify", inotify_add_watch(0, h, IN_OPEN));
	R("bad fd", inotify_add_watch(99, h, IN_OPEN));
	R("missing", inotify_add_watch(in, "/tmp/nonexistent-inotify", IN_OPEN));
	R("init1 bad flags", inotify_init1(1));
	close(SYS(open(h, O_RDONLY)));
	dump(in, "open h read-only");
	R("rm_watch", inotify_rm_watch(in, wh));
	R("rm_watch again", inotify_rm_watch(in, wh));
	dump(in, "after rm_watch");

	/* IN_EXCL_UNLINK: no events for an unlinked child still open. */
	R("rm dir watch", inotify_rm_watch(in, wdir));
	dump(in, "after rm of the dir watch");
	wdir = watch(in, dir, IN_ALL_EVENTS | IN_EXCL_UNLINK, "dir2");
	fd = SYS(open(h, O_RDWR));
	SYS(unlink(h));
	CHECK(write(fd, "x", 1) == 1);
	close(fd);
	dump(in, "excl_unlink");

	/* Overflow: open/close events alternate, so none merge. */
	char o[64];
	snprintf(o, sizeof o, "%s/o", dir);
	close(SYS(open(o, O_CREAT | O_WRONLY, 0644)));
	dump(in, "create o");
	for (int i = 0; i < 8300; i++)
		close(SYS(open(o, O_RDONLY)));
	SYS(ioctl(in, FIONREAD, &avail));
	printf("FIONREAD when full: %d\n", avail);
	int n = dump(in, "overflow (first 40)");
	printf("events after overflow: %d\n", n);
	unlink(o);
	rmdir(dir);
	dump(in, "rmdir of the watched directory");
	close(in);
	printf("inotify: ok\n");
	return 0;
}
