/*
 * Namespaces through the system calls (namespaces(7)): clone(2) with
 * CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWNS|CLONE_NEWPID, a user namespace
 * whose maps the parent writes, setns(2) into a child's UTS namespace and
 * back, unshare(CLONE_NEWPID) and its pid 1 (and ENOMEM once that init
 * is gone), unshare(CLONE_NEWNET) (abstract unix names per namespace,
 * only lo), ns inode numbers, and the errors of the flag rules. Every
 * mount happens in a private mount namespace of the child, so a native
 * run (as root) changes nothing on the host.
 */
#include "veiltest.h"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stddef.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/mount.h>
#include <sys/msg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/utsname.h>

static char stack[256 * 1024] __attribute__((aligned(16)));
static int pfd[2], cfd[2], sp[2];
static char dir[64];
static int key;

static volatile sig_atomic_t got_usr1;
static void on_usr1(int sig)
{
	(void)sig;
	got_usr1 = 1;
}

static void hostname(char *buf, size_t n)
{
	struct utsname u;
	SYS(uname(&u));
	snprintf(buf, n, "%s", u.nodename);
}

static int child(void *arg)
{
	(void)arg;
	char c;
	/* A new pid namespace: pid 1, no parent in it. */
	if (getpid() != 1 || getppid() != 0)
		return 10;
	/* pidfd_open takes pids of this namespace: 1 is this process. */
	signal(SIGUSR1, on_usr1);
	int self = syscall(SYS_pidfd_open, 1, 0);
	if (self < 0 || syscall(SYS_pidfd_send_signal, self, SIGUSR1, NULL, 0) != 0)
		return 18;
	for (int i = 0; !got_usr1 && i < 1000; i++)
		usleep(1000);
	if (!got_usr1)
		return 19;
	close(self);
	/* The socket pair's credentials are the parent's, outside this pid
	 * namespace: pid 0 here. What we send as pid 1 the parent reads as
	 * our pid in its namespace. */
	struct ucred uc;
	socklen_t ul = sizeof uc;
	if (getsockopt(sp[1], SOL_SOCKET, SO_PEERCRED, &uc, &ul) != 0 || uc.pid != 0 || uc.uid != getuid())
		return 16;
	struct ucred me = {.pid = getpid(), .uid = getuid(), .gid = getgid()};
	union {
		char buf[CMSG_SPACE(sizeof me)];
		struct cmsghdr align;
	} cm;
	struct iovec iov = {.iov_base = "c", .iov_len = 1};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf, .msg_controllen = sizeof cm.buf};
	struct cmsghdr *h = CMSG_FIRSTHDR(&mh);
	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_CREDENTIALS;
	h->cmsg_len = CMSG_LEN(sizeof me);
	memcpy(CMSG_DATA(h), &me, sizeof me);
	if (sendmsg(sp[1], &mh, 0) != 1)
		return 17;
	if (sethostname("veil-child", 10) != 0)
		return 11;
	/* A new IPC namespace: the parent's queue is not here. */
	if (msgget(key, 0) != -1 || errno != ENOENT)
		return 12;
	/* A new mount namespace, made private first so nothing propagates
	 * back to the parent's (or, natively, the host's). */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		return 13;
	if (mount("veil", dir, "tmpfs", 0, "size=1m") != 0)
		return 14;
	char path[96];
	snprintf(path, sizeof path, "%s/inside", dir);
	int fd = open(path, O_CREAT | O_WRONLY, 0600);
	if (fd < 0)
		return 15;
	close(fd);
	/* A grandchild is pid 2 and sees its parent as 1. */
	pid_t g = fork();
	if (g == 0)
		_exit(getpid() == 2 && getppid() == 1 ? 0 : 1);
	int st;
	if (g != 2 || waitpid(g, &st, 0) != 2 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return 16;
	/* Tell the parent we are set up, wait until it is done with us. */
	if (write(pfd[1], "r", 1) != 1 || read(cfd[0], &c, 1) != 1)
		return 17;
	return 0;
}

static int userns_child(void *arg)
{
	(void)arg;
	char c;
	/* Before the maps are written, ids read as the overflow ids. */
	int before = (int)getuid();
	if (write(pfd[1], "u", 1) != 1 || read(cfd[0], &c, 1) != 1)
		return 20;
	printf("userns: uid before map %d, after %d, gid %d\n", before, (int)getuid(), (int)getgid());
	/* Root in the namespace: every capability there. */
	if (sethostname("x", 1) != -1 || errno != EPERM)
		return 21; /* the UTS namespace is the parent's */
	if (unshare(CLONE_NEWUTS) != 0 || sethostname("x", 1) != 0)
		return 22;
	return 0;
}

static void write_file(const char *path, const char *s)
{
	int fd = SYS(open(path, O_WRONLY));
	CHECK(write(fd, s, strlen(s)) == (ssize_t)strlen(s));
	close(fd);
}

static ino_t ns_ino(const char *name)
{
	char p[64];
	struct stat st;
	snprintf(p, sizeof p, "/proc/self/ns/%s", name);
	SYS(stat(p, &st));
	return st.st_ino;
}

int main(void)
{
	veil_init("namespaces");
	char before[65], now[65];
	hostname(before, sizeof before);
	snprintf(dir, sizeof dir, "/tmp/veil-ns-%d", getpid());
	SYS(mkdir(dir, 0700));
	key = 0x7e110000 + getpid();
	int q = SYS(msgget(key, IPC_CREAT | 0600));
	SYS(pipe(pfd));
	SYS(pipe(cfd));
	SYS(socketpair(AF_UNIX, SOCK_STREAM, 0, sp));
	int one = 1;
	SYS(setsockopt(sp[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof one));

	pid_t c = clone(child, stack + sizeof stack,
			CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNS | CLONE_NEWPID | SIGCHLD, NULL);
	CHECK(c > 0);
	char r;
	CHECK(read(pfd[0], &r, 1) == 1);
	hostname(now, sizeof now);
	printf("parent hostname unchanged: %d\n", strcmp(before, now) == 0);
	{
		union {
			char buf[CMSG_SPACE(sizeof(struct ucred))];
			struct cmsghdr align;
		} cm;
		char b;
		struct iovec iov = {.iov_base = &b, .iov_len = 1};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf, .msg_controllen = sizeof cm.buf};
		CHECK(recvmsg(sp[0], &mh, 0) == 1);
		struct cmsghdr *h = CMSG_FIRSTHDR(&mh);
		CHECK(h != NULL && h->cmsg_type == SCM_CREDENTIALS);
		struct ucred uc;
		memcpy(&uc, CMSG_DATA(h), sizeof uc);
		printf("child's credentials show its pid here: %d\n", uc.pid == c);
		close(sp[0]);
		close(sp[1]);
	}
	char path[96];
	snprintf(path, sizeof path, "%s/inside", dir);
	printf("child's mount invisible: %d\n", access(path, F_OK) == -1 && errno == ENOENT);

	/* setns into the child's UTS namespace and back. */
	snprintf(path, sizeof path, "/proc/%d/ns/uts", c);
	int cns = SYS(open(path, O_RDONLY | O_CLOEXEC));
	int mine = SYS(open("/proc/self/ns/uts", O_RDONLY | O_CLOEXEC));
	CHECK(setns(cns, CLONE_NEWIPC) == -1 && errno == EINVAL);
	SYS(setns(cns, CLONE_NEWUTS));
	hostname(now, sizeof now);
	printf("after setns: %s\n", now);
	SYS(setns(mine, 0));
	hostname(now, sizeof now);
	printf("back: %d\n", strcmp(before, now) == 0);
	CHECK(setns(pfd[0], 0) == -1 && errno == EINVAL);
	close(cns);
	close(mine);

	CHECK(write(cfd[1], "g", 1) == 1);
	int st;
	CHECK(waitpid(c, &st, 0) == c);
	printf("child exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st));
	SYS(rmdir(dir));
	SYS(msgctl(q, IPC_RMID, NULL));

	/* A user namespace: the parent writes the child's maps. */
	c = clone(userns_child, stack + sizeof stack, CLONE_NEWUSER | SIGCHLD, NULL);
	CHECK(c > 0);
	CHECK(read(pfd[0], &r, 1) == 1);
	char p2[64];
	snprintf(p2, sizeof p2, "/proc/%d/uid_map", c);
	write_file(p2, "0 0 1\n");
	CHECK(open(p2, O_WRONLY) >= 0);
	snprintf(p2, sizeof p2, "/proc/%d/gid_map", c);
	write_file(p2, "0 0 1\n");
	CHECK(write(cfd[1], "g", 1) == 1);
	CHECK(waitpid(c, &st, 0) == c);
	printf("userns child exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st));

	/* A network namespace has its own abstract unix names and only a
	 * loopback interface; filesystem names stay reachable. */
	int srv = SYS(socket(AF_UNIX, SOCK_STREAM, 0));
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path + 1, sizeof sa.sun_path - 1, "veil-netns-%d", getpid());
	socklen_t sl = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(sa.sun_path + 1);
	SYS(bind(srv, (struct sockaddr *)&sa, sl));
	SYS(listen(srv, 1));
	ino_t netns = ns_ino("net");
	c = SYS(fork());
	if (c == 0) {
		if (unshare(CLONE_NEWNET) != 0)
			_exit(1);
		if (ns_ino("net") == netns)
			_exit(2);
		int s = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(s, (struct sockaddr *)&sa, sl) == 0 || errno != ECONNREFUSED)
			_exit(3);
		if (bind(s, (struct sockaddr *)&sa, sl) != 0)
			_exit(4);
		struct if_nameindex *ifs = if_nameindex();
		if (ifs == NULL || ifs[0].if_name == NULL || strcmp(ifs[0].if_name, "lo") != 0 || ifs[1].if_name != NULL)
			_exit(5);
		_exit(0);
	}
	CHECK(waitpid(c, &st, 0) == c && WIFEXITED(st));
	printf("netns child exit %d\n", WEXITSTATUS(st));
	/* The name is still ours here. */
	int again = SYS(socket(AF_UNIX, SOCK_STREAM, 0));
	CHECK(bind(again, (struct sockaddr *)&sa, sl) == -1 && errno == EADDRINUSE);
	close(again);
	close(srv);

	/* unshare(CLONE_NEWPID): the next child is pid 1 of the new
	 * namespace; our own pid does not change. */
	pid_t self = getpid();
	ino_t pidns = ns_ino("pid");
	SYS(unshare(CLONE_NEWPID));
	CHECK(getpid() == self && ns_ino("pid") == pidns);
	struct stat pst;
	CHECK(stat("/proc/self/ns/pid_for_children", &pst) == -1 && errno == ENOENT);
	c = SYS(fork());
	if (c == 0)
		_exit(getpid() == 1 ? 0 : 1);
	CHECK(waitpid(c, &st, 0) == c && WIFEXITED(st));
	printf("first child was pid 1: %d\n", WEXITSTATUS(st) == 0);
	printf("pid_for_children differs: %d\n", ns_ino("pid_for_children") != pidns);
	/* Its init is gone: the namespace takes no one else. */
	CHECK(fork() == -1 && errno == ENOMEM);
	printf("fork into a dead namespace: ENOMEM\n");

	/* Flag rules. */
	CHECK(syscall(SYS_clone, CLONE_NEWNS | CLONE_FS | SIGCHLD, 0, 0, 0, 0) == -1 && errno == EINVAL);
	CHECK(syscall(SYS_clone, CLONE_NEWIPC | CLONE_SYSVSEM | SIGCHLD, 0, 0, 0, 0) == -1 && errno == EINVAL);
	CHECK(unshare(0x80000000 /* CSIGNAL bit */) == -1 && errno == EINVAL);

	ino_t uts = ns_ino("uts");
	SYS(unshare(CLONE_NEWUTS));
	printf("new uts inode differs: %d\n", ns_ino("uts") != uts);
	printf("namespaces: ok\n");
	return 0;
}
