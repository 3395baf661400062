/*
 * AF_UNIX sockets (unix(7)): socketpairs of the three types, filesystem
 * and abstract names, autobind, connect errors and the backlog, passing
 * descriptors (SCM_RIGHTS, MSG_CTRUNC, MSG_CMSG_CLOEXEC) and credentials
 * (SCM_CREDENTIALS, SO_PASSCRED, SO_PEERCRED) between processes, shutdown
 * and EPIPE/SIGPIPE, MSG_PEEK/TRUNC/WAITALL/DONTWAIT, socket options,
 * FIONREAD, poll and epoll readiness, recv interrupted by signals, and
 * sendmmsg/recvmmsg. Everything printed is independent of pids, inode
 * numbers and the directory used.
 *
 * Usage: sockets [DIR]: socket files go in DIR, or in a new directory
 * under /tmp that is removed at the end. sockets --leave PATH binds a
 * socket to PATH and exits, leaving the socket file behind.
 */
#include "veiltest.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <sys/wait.h>

static const char *dir;

static const char *ename(int e)
{
	switch (e) {
	case 0: return "ok";
	case EAGAIN: return "EAGAIN";
	case EPIPE: return "EPIPE";
	case ENOTCONN: return "ENOTCONN";
	case ECONNREFUSED: return "ECONNREFUSED";
	case ECONNRESET: return "ECONNRESET";
	case ENOENT: return "ENOENT";
	case EINVAL: return "EINVAL";
	case EADDRINUSE: return "EADDRINUSE";
	case EPROTOTYPE: return "EPROTOTYPE";
	case EISCONN: return "EISCONN";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case EINTR: return "EINTR";
	case EMSGSIZE: return "EMSGSIZE";
	case EPERM: return "EPERM";
	case EACCES: return "EACCES";
	case EBADF: return "EBADF";
	case ENOTSOCK: return "ENOTSOCK";
	case EDOM: return "EDOM";
	case ENOPROTOOPT: return "ENOPROTOOPT";
	case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
	case ESOCKTNOSUPPORT: return "ESOCKTNOSUPPORT";
	case ENXIO: return "ENXIO";
	case ESPIPE: return "ESPIPE";
	case EAFNOSUPPORT: return "EAFNOSUPPORT";
	}
	static char buf[32];
	snprintf(buf, sizeof buf, "errno %d", e);
	return buf;
}

/* res prints what a call returned: a value or an errno name. */
#define RES(label, call)                                                \
	do {                                                            \
		errno = 0;                                              \
		long _v = (long)(call);                                 \
		if (_v < 0)                                             \
			printf("%s: %s\n", label, ename(errno));        \
		else                                                    \
			printf("%s: %ld\n", label, _v);                 \
	} while (0)

static socklen_t path_addr(struct sockaddr_un *a, const char *name)
{
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	snprintf(a->sun_path, sizeof a->sun_path, "%s/%s", dir, name);
	return offsetof(struct sockaddr_un, sun_path) + strlen(a->sun_path) + 1;
}

static socklen_t abstract_addr(struct sockaddr_un *a, const char *name)
{
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	size_t n = strlen(name);
	memcpy(a->sun_path + 1, name, n);
	return offsetof(struct sockaddr_un, sun_path) + 1 + n;
}

static void pairs(void)
{
	static const int types[] = {SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET};
	static const char *names[] = {"stream", "dgram", "seqpacket"};
	for (int i = 0; i < 3; i++) {
		int sv[2];
		char buf[64];
		SYS(socketpair(AF_UNIX, types[i], 0, sv));
		SYS(send(sv[0], "abc", 3, 0));
		SYS(send(sv[0], "defgh", 5, 0));
		int avail = -1;
		SYS(ioctl(sv[1], FIONREAD, &avail));
		printf("%s: FIONREAD %d\n", names[i], avail);
		ssize_t n = SYS(recv(sv[1], buf, 2, MSG_PEEK));
		printf("%s: peek %.*s\n", names[i], (int)n, buf);
		struct msghdr mh = {0};
		struct iovec iov = {buf, 2};
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		n = SYS(recvmsg(sv[1], &mh, 0));
		printf("%s: recv(2) %.*s%s\n", names[i], (int)n, buf, (mh.msg_flags & MSG_TRUNC) ? " MSG_TRUNC" : "");
		n = SYS(recv(sv[1], buf, sizeof buf, 0));
		printf("%s: recv %.*s\n", names[i], (int)n, buf);
		if (types[i] != SOCK_STREAM) {
			SYS(send(sv[0], "xyz", 3, 0));
			n = SYS(recv(sv[1], buf, 1, MSG_TRUNC));
			printf("%s: MSG_TRUNC length %zd\n", names[i], n);
			/* A zero-length datagram is a message of its own. */
			SYS(send(sv[0], "", 0, 0));
			n = SYS(recv(sv[1], buf, sizeof buf, 0));
			printf("%s: empty datagram %zd\n", names[i], n);
		}
		RES("  recv empty nonblocking", recv(sv[1], buf, sizeof buf, MSG_DONTWAIT));
		/* Vectored I/O keeps the boundaries of a message. */
		struct iovec wv[2] = {{"12", 2}, {"345", 3}};
		SYS(writev(sv[0], wv, 2));
		char a[3] = {0}, b[8] = {0};
		struct iovec rv[2] = {{a, 2}, {b, sizeof b}};
		n = SYS(readv(sv[1], rv, 2));
		printf("%s: readv %zd %.2s|%.3s\n", names[i], n, a, b);

		int v = 0;
		socklen_t l = sizeof v;
		SYS(getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &v, &l));
		printf("%s: SO_TYPE %d", names[i], v);
		SYS(getsockopt(sv[0], SOL_SOCKET, SO_DOMAIN, &v, &l));
		printf(" SO_DOMAIN %d", v);
		SYS(getsockopt(sv[0], SOL_SOCKET, SO_PROTOCOL, &v, &l));
		printf(" SO_PROTOCOL %d", v);
		SYS(getsockopt(sv[0], SOL_SOCKET, SO_ACCEPTCONN, &v, &l));
		printf(" SO_ACCEPTCONN %d\n", v);

		struct sockaddr_un sa;
		l = sizeof sa;
		SYS(getsockname(sv[0], (struct sockaddr *)&sa, &l));
		printf("%s: getsockname len %u", names[i], l);
		l = sizeof sa;
		SYS(getpeername(sv[0], (struct sockaddr *)&sa, &l));
		printf(" getpeername len %u\n", l);

		/* Shutdown. */
		SYS(shutdown(sv[0], SHUT_WR));
		RES("  send after SHUT_WR", send(sv[0], "x", 1, MSG_NOSIGNAL));
		if (types[i] == SOCK_DGRAM)
			RES("  peer recv after SHUT_WR", recv(sv[1], buf, sizeof buf, MSG_DONTWAIT));
		else
			RES("  peer recv after SHUT_WR", recv(sv[1], buf, sizeof buf, 0));
		struct pollfd pf = {sv[1], POLLIN | POLLOUT | POLLRDHUP, 0};
		SYS(poll(&pf, 1, 0));
		printf("%s: peer poll after SHUT_WR %#x\n", names[i], pf.revents);
		close(sv[0]);
		pf.revents = 0;
		SYS(poll(&pf, 1, 0));
		printf("%s: peer poll after close %#x\n", names[i], pf.revents);
		RES("  send to closed peer", send(sv[1], "x", 1, MSG_NOSIGNAL));
		close(sv[1]);
	}
}

static volatile sig_atomic_t sigs;
static void on_sig(int s)
{
	(void)s;
	sigs++;
}

static void sigpipe(void)
{
	struct sigaction sa = {0};
	sa.sa_handler = on_sig;
	SYS(sigaction(SIGPIPE, &sa, NULL));
	static const int types[] = {SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET};
	static const char *names[] = {"stream", "dgram", "seqpacket"};
	for (int i = 0; i < 3; i++) {
		int sv[2];
		SYS(socketpair(AF_UNIX, types[i], 0, sv));
		close(sv[1]);
		sigs = 0;
		errno = 0;
		ssize_t r = write(sv[0], "x", 1);
		printf("%s: write to closed peer %s, SIGPIPE %d\n", names[i], r < 0 ? ename(errno) : "ok", (int)sigs);
		sigs = 0;
		r = send(sv[0], "x", 1, MSG_NOSIGNAL);
		printf("%s: send MSG_NOSIGNAL %s, SIGPIPE %d\n", names[i], r < 0 ? ename(errno) : "ok", (int)sigs);
		close(sv[0]);
	}
	signal(SIGPIPE, SIG_DFL);
}

static void options(void)
{
	int s = SYS(socket(AF_UNIX, SOCK_STREAM, 0));
	int v = 10000;
	socklen_t l = sizeof v;
	SYS(setsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, sizeof v));
	SYS(getsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, &l));
	printf("SO_SNDBUF 10000 -> %d\n", v);
	v = 1;
	SYS(setsockopt(s, SOL_SOCKET, SO_RCVBUF, &v, sizeof v));
	SYS(getsockopt(s, SOL_SOCKET, SO_RCVBUF, &v, &l));
	printf("SO_RCVBUF 1 -> %d\n", v);
	v = 1;
	SYS(setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &v, sizeof v));
	SYS(getsockopt(s, SOL_SOCKET, SO_REUSEADDR, &v, &l));
	printf("SO_REUSEADDR %d\n", v);
	SYS(getsockopt(s, SOL_SOCKET, SO_PASSCRED, &v, &l));
	printf("SO_PASSCRED %d\n", v);
	struct timeval tv = {1, 500000};
	SYS(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
	memset(&tv, 0, sizeof tv);
	l = sizeof tv;
	SYS(getsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, &l));
	printf("SO_RCVTIMEO %ld.%06ld len %u\n", (long)tv.tv_sec, (long)tv.tv_usec, l);
	tv.tv_usec = 1000000;
	RES("SO_RCVTIMEO bad usec", setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
	RES("SO_RCVTIMEO short", setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, 8));
	struct linger lg = {1, 5};
	SYS(setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg));
	memset(&lg, 0, sizeof lg);
	l = sizeof lg;
	SYS(getsockopt(s, SOL_SOCKET, SO_LINGER, &lg, &l));
	printf("SO_LINGER %d %d\n", lg.l_onoff, lg.l_linger);
	l = 2;
	v = 0;
	SYS(getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &l));
	printf("SO_TYPE short len %u value %d\n", l, v);
	struct ucred uc;
	l = sizeof uc;
	SYS(getsockopt(s, SOL_SOCKET, SO_PEERCRED, &uc, &l));
	printf("SO_PEERCRED unconnected pid %d uid %d gid %d\n", uc.pid, (int)uc.uid, (int)uc.gid);
	SYS(getsockopt(s, SOL_SOCKET, SO_ERROR, &v, &l));
	printf("SO_ERROR %d\n", v);
	RES("getsockopt SOL_TCP", getsockopt(s, IPPROTO_TCP, 1, &v, &l));
	RES("setsockopt bogus", setsockopt(s, SOL_SOCKET, 12345, &v, sizeof v));
	char b[4];
	RES("recv unconnected stream", recv(s, b, sizeof b, 0));
	RES("send unconnected stream", send(s, b, 1, MSG_NOSIGNAL));
	RES("getpeername unconnected", getpeername(s, (struct sockaddr *)&uc, &l));
	RES("shutdown unconnected", shutdown(s, SHUT_RDWR));
	RES("shutdown bad how", shutdown(s, 7));
	RES("listen unbound", listen(s, 1));
	close(s);

	int fd = SYS(open("/dev/null", O_RDONLY));
	RES("getsockopt on a file", getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &l));
	close(fd);
	RES("socket AF_UNIX SOCK_RAW", (fd = socket(AF_UNIX, SOCK_RAW, 0)));
	if (fd >= 0) {
		l = sizeof v;
		SYS(getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &l));
		printf("  its SO_TYPE %d\n", v);
		close(fd);
	}
	RES("socket AF_UNIX protocol 3", socket(AF_UNIX, SOCK_STREAM, 3));
	RES("socket AF_UNIX SOCK_RDM", socket(AF_UNIX, SOCK_RDM, 0));
	RES("socket bad flags", socket(AF_UNIX, SOCK_STREAM | 0x100, 0));
	RES("socketpair AF_NETLINK", socketpair(AF_NETLINK, SOCK_RAW, 0, (int[2]){0}));

	/* SO_RCVTIMEO makes a blocking recv give EAGAIN. */
	int sv[2];
	SYS(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	tv.tv_sec = 0;
	tv.tv_usec = 20000;
	SYS(setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
	RES("recv past SO_RCVTIMEO", recv(sv[0], b, sizeof b, 0));
	/* Closing with unread data resets the peer. */
	SYS(send(sv[0], "unread", 6, 0));
	close(sv[1]);
	RES("recv after peer closed with unread data", recv(sv[0], b, sizeof b, 0));
	RES("recv again", recv(sv[0], b, sizeof b, 0));
	close(sv[0]);

	/* A message larger than the send buffer. */
	SYS(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	v = 2048;
	SYS(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &v, sizeof v));
	static char big[8192];
	RES("dgram larger than SO_SNDBUF", send(sv[0], big, sizeof big, 0));
	close(sv[0]);
	close(sv[1]);
}

/* names: filesystem and abstract names, autobind, connect errors. */
static void names(void)
{
	struct sockaddr_un a, b;
	socklen_t al = path_addr(&a, "srv.sock");
	int srv = SYS(socket(AF_UNIX, SOCK_STREAM, 0));
	mode_t old = umask(022);
	SYS(bind(srv, (struct sockaddr *)&a, al));
	umask(old);
	struct stat st;
	SYS(stat(a.sun_path, &st));
	printf("bound node: socket %d mode %o\n", S_ISSOCK(st.st_mode), st.st_mode & 07777);
	socklen_t bl = sizeof b;
	SYS(getsockname(srv, (struct sockaddr *)&b, &bl));
	printf("getsockname: len matches %d, path matches %d\n", bl == al, strcmp(a.sun_path, b.sun_path) == 0);
	/* A short buffer gets a cut address and the full length. */
	bl = 4;
	SYS(getsockname(srv, (struct sockaddr *)&b, &bl));
	printf("getsockname short buffer: len matches %d\n", bl == al);

	int c = SYS(socket(AF_UNIX, SOCK_STREAM, 0));
	RES("connect to bound, not listening", connect(c, (struct sockaddr *)&a, al));
	int second = SYS(socket(AF_UNIX, SOCK_STREAM, 0));
	RES("bind to an existing path", bind(second, (struct sockaddr *)&a, al));
	struct sockaddr_un other;
	socklen_t ol = path_addr(&other, "other.sock");
	RES("rebind a bound socket", bind(srv, (struct sockaddr *)&other, ol));
	RES("stat after failed rebind", stat(other.sun_path, &st));
	close(second);
	SYS(listen(srv, 4));
	int dg = SYS(socket(AF_UNIX, SOCK_DGRAM, 0));
	RES("dgram connect to stream path", connect(dg, (struct sockaddr *)&a, al));
	close(dg);
	struct sockaddr_un missing;
	socklen_t ml = path_addr(&missing, "missing.sock");
	RES("connect to missing path", connect(c, (struct sockaddr *)&missing, ml));
	int fd = SYS(open(dir, O_RDONLY | O_DIRECTORY));
	close(fd);
	struct sockaddr_un notsock;
	socklen_t nl = path_addr(&notsock, "plain");
	fd = SYS(open(notsock.sun_path, O_CREAT | O_WRONLY, 0644));
	close(fd);
	RES("connect to a regular file", connect(c, (struct sockaddr *)&notsock, nl));
	unlink(notsock.sun_path);
	RES("connect with addrlen 2", connect(c, (struct sockaddr *)&a, 2));
	RES("connect", connect(c, (struct sockaddr *)&a, al));
	RES("connect again", connect(c, (struct sockaddr *)&a, al));
	bl = sizeof b;
	int s = SYS(accept(srv, (struct sockaddr *)&b, &bl));
	printf("accept: peer addr len %u\n", bl);
	bl = sizeof b;
	SYS(getsockname(s, (struct sockaddr *)&b, &bl));
	printf("accepted socket's name is the listener's: %d\n", bl == al && strcmp(b.sun_path, a.sun_path) == 0);
	bl = sizeof b;
	SYS(getpeername(c, (struct sockaddr *)&b, &bl));
	printf("connector's peer name is the listener's: %d\n", bl == al && strcmp(b.sun_path, a.sun_path) == 0);
	int v;
	socklen_t l = sizeof v;
	SYS(getsockopt(srv, SOL_SOCKET, SO_ACCEPTCONN, &v, &l));
	printf("SO_ACCEPTCONN listener %d\n", v);
	SYS(send(c, "hi", 2, 0));
	char buf[8];
	ssize_t n = SYS(recv(s, buf, sizeof buf, 0));
	printf("accepted recv %.*s\n", (int)n, buf);
	close(s);
	close(c);

	/* Unlinked while bound: unreachable by name, still bound. */
	SYS(unlink(a.sun_path));
	c = SYS(socket(AF_UNIX, SOCK_STREAM, 0));
	RES("connect after unlink", connect(c, (struct sockaddr *)&a, al));
	bl = sizeof b;
	SYS(getsockname(srv, (struct sockaddr *)&b, &bl));
	printf("getsockname after unlink: len matches %d\n", bl == al);
	int again = SYS(socket(AF_UNIX, SOCK_STREAM, 0));
	RES("bind the unlinked name again", bind(again, (struct sockaddr *)&a, al));
	SYS(listen(again, 1));
	RES("connect reaches the new socket", connect(c, (struct sockaddr *)&a, al));
	close(c);
	close(again);
	close(srv);
	RES("connect after the socket closed", connect(SYS(socket(AF_UNIX, SOCK_STREAM, 0)), (struct sockaddr *)&a, al));
	unlink(a.sun_path);

	/* Backlog: listen(0) admits one pending connection. */
	al = abstract_addr(&a, "veil-sockets-backlog");
	srv = SYS(socket(AF_UNIX, SOCK_STREAM, 0));
	SYS(bind(srv, (struct sockaddr *)&a, al));
	SYS(listen(srv, 0));
	int c1 = SYS(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0));
	int c2 = SYS(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0));
	int c3 = SYS(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0));
	RES("backlog connect 1", connect(c1, (struct sockaddr *)&a, al));
	RES("backlog connect 2", connect(c2, (struct sockaddr *)&a, al));
	RES("backlog connect 3", connect(c3, (struct sockaddr *)&a, al));
	struct pollfd pf = {srv, POLLIN, 0};
	SYS(poll(&pf, 1, 0));
	printf("listener poll %#x\n", pf.revents);
	s = SYS(accept4(srv, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK));
	printf("accept4 flags: cloexec %d nonblock %d\n", (fcntl(s, F_GETFD) & FD_CLOEXEC) != 0,
	       (fcntl(s, F_GETFL) & O_NONBLOCK) != 0);
	RES("backlog connect 3 after accept", connect(c3, (struct sockaddr *)&a, al));
	RES("accept4 bad flags", accept4(srv, NULL, NULL, 0x4));
	close(s);
	close(c1);
	close(c2);
	close(c3);
	/* A pending connection whose connector closed is still accepted. */
	s = SYS(accept(srv, NULL, NULL));
	char eof[2];
	RES("recv on it", recv(s, eof, sizeof eof, 0));
	close(s);
	SYS(fcntl(srv, F_SETFL, O_NONBLOCK));
	RES("accept with none pending", accept(srv, NULL, NULL));
	close(srv);

	/* Abstract names are per socket type; autobind. */
	al = abstract_addr(&a, "veil-sockets-abstract");
	int st1 = SYS(socket(AF_UNIX, SOCK_STREAM, 0));
	int dg1 = SYS(socket(AF_UNIX, SOCK_DGRAM, 0));
	int st2 = SYS(socket(AF_UNIX, SOCK_STREAM, 0));
	RES("abstract bind stream", bind(st1, (struct sockaddr *)&a, al));
	RES("abstract bind dgram, same name", bind(dg1, (struct sockaddr *)&a, al));
	RES("abstract bind stream, same name", bind(st2, (struct sockaddr *)&a, al));
	RES("abstract connect to unbound", connect(st2, (struct sockaddr *)&(struct sockaddr_un){AF_UNIX, "\0veil-nobody"}, 14));
	bl = sizeof b;
	SYS(getsockname(st1, (struct sockaddr *)&b, &bl));
	printf("abstract getsockname len matches %d\n", bl == al);
	close(st1);
	close(dg1);
	RES("abstract name free after close", bind(st2, (struct sockaddr *)&a, al));
	close(st2);
	int au = SYS(socket(AF_UNIX, SOCK_DGRAM, 0));
	sa_family_t fam = AF_UNIX;
	SYS(bind(au, (struct sockaddr *)&fam, sizeof fam));
	bl = sizeof b;
	SYS(getsockname(au, (struct sockaddr *)&b, &bl));
	int hex = 1;
	for (int i = 1; i < 6; i++)
		hex &= (b.sun_path[i] >= '0' && b.sun_path[i] <= '9') || (b.sun_path[i] >= 'a' && b.sun_path[i] <= 'f');
	printf("autobind: len %u leading NUL %d hex %d\n", bl, b.sun_path[0] == 0, hex);
	close(au);
}

static int recv_fd(int s, int *flags, int ctlroom, int recvflags)
{
	char buf[8];
	struct iovec iov = {buf, sizeof buf};
	char ctl[CMSG_SPACE(4 * sizeof(int))] __attribute__((aligned(8)));
	memset(ctl, 0, sizeof ctl);
	struct msghdr mh = {0};
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctlroom ? ctl : NULL;
	mh.msg_controllen = ctlroom;
	SYS(recvmsg(s, &mh, recvflags));
	*flags = mh.msg_flags;
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	if (!c || c->cmsg_type != SCM_RIGHTS)
		return -1;
	int fd;
	memcpy(&fd, CMSG_DATA(c), sizeof fd);
	return fd;
}

static void send_fds(int s, const int *fds, int n)
{
	char ctl[CMSG_SPACE(4 * sizeof(int))] __attribute__((aligned(8)));
	memset(ctl, 0, sizeof ctl);
	struct iovec iov = {"F", 1};
	struct msghdr mh = {0};
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl;
	mh.msg_controllen = CMSG_SPACE(n * sizeof(int));
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(n * sizeof(int));
	memcpy(CMSG_DATA(c), fds, n * sizeof(int));
	SYS(sendmsg(s, &mh, 0));
}

/* rights: descriptors between processes, over a path socket. */
static void rights(void)
{
	struct sockaddr_un a;
	socklen_t al = path_addr(&a, "rights.sock");
	int srv = SYS(socket(AF_UNIX, SOCK_SEQPACKET, 0));
	SYS(bind(srv, (struct sockaddr *)&a, al));
	SYS(listen(srv, 5));
	fflush(stdout);
	pid_t child = SYS(fork());
	if (child == 0) {
		int c = SYS(socket(AF_UNIX, SOCK_SEQPACKET, 0));
		SYS(connect(c, (struct sockaddr *)&a, al));
		struct ucred uc;
		socklen_t l = sizeof uc;
		SYS(getsockopt(c, SOL_SOCKET, SO_PEERCRED, &uc, &l));
		if (uc.pid != getppid() || uc.uid != geteuid())
			_exit(81);
		/* A pipe whose write end goes to the parent. */
		int p[2];
		SYS(pipe(p));
		send_fds(c, &p[1], 1);
		close(p[1]);
		char buf[16];
		ssize_t n = read(p[0], buf, sizeof buf);
		if (n != 5 || memcmp(buf, "hello", 5) != 0)
			_exit(82);
		/* Two descriptors, received with too small a control buffer. */
		int two[2] = {p[0], p[0]};
		send_fds(c, two, 2);
		/* One to be received with MSG_CMSG_CLOEXEC. */
		send_fds(c, &p[0], 1);
		/* One sent, then the child closes its copy. */
		int q[2];
		SYS(pipe(q));
		SYS(write(q[1], "kept", 4));
		send_fds(c, &q[0], 1);
		close(q[0]);
		close(q[1]);
		/* A socket passed over itself's peer. */
		if (read(c, buf, 1) != 1)
			_exit(83);
		_exit(0);
	}
	int s = SYS(accept(srv, NULL, NULL));
	struct ucred uc;
	socklen_t l = sizeof uc;
	SYS(getsockopt(s, SOL_SOCKET, SO_PEERCRED, &uc, &l));
	printf("SO_PEERCRED of accepted: pid is the child %d, uid ok %d\n", uc.pid == child, uc.uid == geteuid());
	int flags;
	int fd = recv_fd(s, &flags, CMSG_SPACE(sizeof(int)), 0);
	printf("received a descriptor: %d, flags %#x, cloexec %d\n", fd >= 0, flags, fd >= 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC));
	struct stat st;
	SYS(fstat(fd, &st));
	printf("it is a fifo: %d\n", S_ISFIFO(st.st_mode));
	SYS(write(fd, "hello", 5));
	close(fd);
	fd = recv_fd(s, &flags, CMSG_LEN(sizeof(int)), 0);
	printf("two sent, room for one: got %d, MSG_CTRUNC %d\n", fd >= 0, (flags & MSG_CTRUNC) != 0);
	close(fd);
	fd = recv_fd(s, &flags, CMSG_SPACE(sizeof(int)), MSG_CMSG_CLOEXEC);
	printf("MSG_CMSG_CLOEXEC: cloexec %d, flags MSG_CMSG_CLOEXEC %d\n", (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0,
	       (flags & MSG_CMSG_CLOEXEC) != 0);
	close(fd);
	/* Peek installs a copy; the message keeps its own. */
	fd = recv_fd(s, &flags, CMSG_SPACE(sizeof(int)), MSG_PEEK);
	int fd2 = recv_fd(s, &flags, CMSG_SPACE(sizeof(int)), 0);
	char buf[8];
	ssize_t n = SYS(read(fd2, buf, sizeof buf));
	printf("peeked %d and received %d, distinct %d, read %.*s\n", fd >= 0, fd2 >= 0, fd != fd2, (int)n, buf);
	close(fd);
	close(fd2);
	SYS(write(s, "x", 1));
	int status;
	SYS(waitpid(child, &status, 0));
	printf("child exit %d\n", WEXITSTATUS(status));
	/* No control buffer: the descriptor is dropped, MSG_CTRUNC. */
	int sv[2];
	SYS(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	send_fds(sv[0], &sv[0], 1);
	fd = recv_fd(sv[1], &flags, 0, 0);
	printf("no control buffer: fd %d, MSG_CTRUNC %d\n", fd, (flags & MSG_CTRUNC) != 0);
	/* Bad descriptors and too many. */
	struct msghdr mh = {0};
	char ctl[CMSG_SPACE(sizeof(int))] __attribute__((aligned(8))) = {0};
	struct iovec iov = {"x", 1};
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl;
	mh.msg_controllen = sizeof ctl;
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	int bad = 9999;
	memcpy(CMSG_DATA(c), &bad, sizeof bad);
	RES("SCM_RIGHTS bad descriptor", sendmsg(sv[0], &mh, 0));
	c->cmsg_type = 77;
	RES("unknown SOL_SOCKET control message", sendmsg(sv[0], &mh, 0));
	c->cmsg_len = 1000;
	RES("control message longer than the buffer", sendmsg(sv[0], &mh, 0));
	close(sv[0]);
	close(sv[1]);
	close(s);
	close(srv);
	unlink(a.sun_path);
}

/* creds: SCM_CREDENTIALS with SO_PASSCRED. */
static void creds(void)
{
	int sv[2];
	SYS(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	int on = 1;
	SYS(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof on));
	fflush(stdout);
	pid_t child = SYS(fork());
	if (child == 0) {
		SYS(send(sv[0], "c", 1, 0));
		/* Explicit credentials: our own are allowed. */
		struct ucred uc = {getpid(), getuid(), getgid()};
		char ctl[CMSG_SPACE(sizeof uc)] __attribute__((aligned(8))) = {0};
		struct iovec iov = {"e", 1};
		struct msghdr mh = {0};
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = ctl;
		mh.msg_controllen = sizeof ctl;
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_CREDENTIALS;
		c->cmsg_len = CMSG_LEN(sizeof uc);
		memcpy(CMSG_DATA(c), &uc, sizeof uc);
		SYS(sendmsg(sv[0], &mh, 0));
		/* Someone else's pid needs CAP_SYS_ADMIN. */
		if (getuid() != 0) {
			uc.pid = getppid();
			memcpy(CMSG_DATA(c), &uc, sizeof uc);
			if (sendmsg(sv[0], &mh, 0) != -1 || errno != EPERM)
				_exit(71);
		}
		uc.pid = getpid();
		uc.uid = (uid_t)-1;
		memcpy(CMSG_DATA(c), &uc, sizeof uc);
		if (sendmsg(sv[0], &mh, 0) != -1 || errno != EINVAL)
			_exit(72);
		_exit(0);
	}
	for (int i = 0; i < 2; i++) {
		char buf[4];
		char ctl[CMSG_SPACE(sizeof(struct ucred))] __attribute__((aligned(8)));
		struct iovec iov = {buf, sizeof buf};
		struct msghdr mh = {0};
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = ctl;
		mh.msg_controllen = sizeof ctl;
		SYS(recvmsg(sv[1], &mh, 0));
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		struct ucred uc = {0};
		if (c && c->cmsg_type == SCM_CREDENTIALS)
			memcpy(&uc, CMSG_DATA(c), sizeof uc);
		printf("%c: SCM_CREDENTIALS %d, pid is the child %d, uid ok %d, gid ok %d, controllen %zu\n", buf[0],
		       c && c->cmsg_type == SCM_CREDENTIALS, uc.pid == child, uc.uid == getuid(), uc.gid == getgid(),
		       (size_t)mh.msg_controllen);
	}
	int status;
	SYS(waitpid(child, &status, 0));
	printf("creds child exit %d\n", WEXITSTATUS(status));
	close(sv[0]);
	close(sv[1]);
}

/* waitall: MSG_WAITALL gathers pieces from a child writing slowly. */
static void waitall(void)
{
	int sv[2];
	SYS(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	fflush(stdout);
	pid_t child = SYS(fork());
	if (child == 0) {
		close(sv[0]);
		for (int i = 0; i < 8; i++) {
			SYS(write(sv[1], "0123456789" + i, 1));
			usleep(2000);
		}
		_exit(0);
	}
	close(sv[1]);
	char buf[16];
	ssize_t n = SYS(recv(sv[0], buf, 8, MSG_WAITALL));
	printf("MSG_WAITALL got %zd: %.*s\n", n, (int)n, buf);
	n = SYS(recv(sv[0], buf, 8, MSG_WAITALL));
	printf("MSG_WAITALL at EOF %zd\n", n);
	waitpid(child, NULL, 0);
	close(sv[0]);
}

/* interrupted: a blocked recv and a signal (ERESTARTSYS semantics). */
static void interrupted(void)
{
	static const struct {
		const char *what;
		int restart, timeout;
	} cases[] = {
		{"no SA_RESTART", 0, 0},
		{"SA_RESTART", SA_RESTART, 0},
		{"SA_RESTART with SO_RCVTIMEO", SA_RESTART, 1},
	};
	for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct sigaction sa = {0};
		sa.sa_handler = on_sig;
		sa.sa_flags = cases[i].restart;
		SYS(sigaction(SIGUSR1, &sa, NULL));
		int sv[2], done[2];
		SYS(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
		SYS(pipe(done));
		if (cases[i].timeout) {
			struct timeval tv = {60, 0};
			SYS(setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
		}
		fflush(stdout);
		pid_t parent = getpid();
		sigs = 0;
		pid_t child = SYS(fork());
		if (child == 0) {
			/* Signal until the parent says it is done; with
			 * SA_RESTART, also send data after a few. */
			SYS(fcntl(done[0], F_SETFL, O_NONBLOCK));
			char c;
			for (int k = 0; read(done[0], &c, 1) != 1; k++) {
				kill(parent, SIGUSR1);
				if (k == 20 && cases[i].restart && !cases[i].timeout)
					SYS(write(sv[1], "d", 1));
				usleep(5000);
			}
			_exit(0);
		}
		char b[4];
		errno = 0;
		ssize_t r = recv(sv[0], b, sizeof b, 0);
		printf("recv with %s: %s\n", cases[i].what, r < 0 ? ename(errno) : (r == 1 ? "data" : "?"));
		SYS(write(done[1], "x", 1));
		waitpid(child, NULL, 0);
		close(sv[0]);
		close(sv[1]);
		close(done[0]);
		close(done[1]);
	}
	signal(SIGUSR1, SIG_DFL);
}

/* readiness: poll and epoll across processes. */
static void readiness(void)
{
	int sv[2];
	SYS(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	int ep = SYS(epoll_create1(0));
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u32 = 7};
	SYS(epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev));
	struct epoll_event out[4];
	printf("epoll idle: %d\n", (int)SYS(epoll_wait(ep, out, 4, 0)));
	fflush(stdout);
	pid_t child = SYS(fork());
	if (child == 0) {
		usleep(10000);
		SYS(write(sv[1], "x", 1));
		usleep(10000);
		close(sv[1]);
		_exit(0);
	}
	close(sv[1]);
	int n = SYS(epoll_wait(ep, out, 4, -1));
	printf("epoll woken: %d events %#x data %u\n", n, out[0].events, out[0].data.u32);
	char b[2];
	SYS(read(sv[0], b, 1));
	n = SYS(epoll_wait(ep, out, 4, -1));
	printf("epoll after peer close: %d events %#x\n", n, out[0].events);
	struct pollfd pf = {sv[0], POLLIN | POLLOUT, 0};
	SYS(poll(&pf, 1, -1));
	printf("poll after peer close %#x\n", pf.revents);
	fd_set r;
	FD_ZERO(&r);
	FD_SET(sv[0], &r);
	struct timeval tv = {0, 0};
	printf("select readable %d\n", (int)SYS(select(sv[0] + 1, &r, NULL, NULL, &tv)));
	waitpid(child, NULL, 0);
	close(ep);
	close(sv[0]);

	/* A full send buffer is not writable; draining makes it so. */
	SYS(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv));
	static char chunk[4096];
	long sent = 0;
	for (;;) {
		ssize_t w = send(sv[0], chunk, sizeof chunk, 0);
		if (w < 0) {
			if (errno != EAGAIN)
				FAIL("send: %s", strerror(errno));
			break;
		}
		sent += w;
	}
	pf.fd = sv[0];
	pf.events = POLLOUT;
	pf.revents = 0;
	SYS(poll(&pf, 1, 0));
	printf("full: writable %d, sent some %d\n", (pf.revents & POLLOUT) != 0, sent > 0);
	long got = 0;
	static char sink[65536];
	while (got < sent) {
		ssize_t k = recv(sv[1], sink, sizeof sink, 0);
		if (k <= 0)
			FAIL("recv: %s", strerror(errno));
		got += k;
	}
	SYS(poll(&pf, 1, 0));
	printf("drained: writable %d\n", (pf.revents & POLLOUT) != 0);
	close(sv[0]);
	close(sv[1]);
}

static void mmsg(void)
{
	int sv[2];
	SYS(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	struct mmsghdr m[3];
	struct iovec iov[3] = {{"one", 3}, {"two!", 4}, {"three", 5}};
	memset(m, 0, sizeof m);
	for (int i = 0; i < 3; i++) {
		m[i].msg_hdr.msg_iov = &iov[i];
		m[i].msg_hdr.msg_iovlen = 1;
	}
	int sent = SYS(sendmmsg(sv[0], m, 3, 0));
	printf("sendmmsg %d, lens %u %u %u\n", sent, m[0].msg_len, m[1].msg_len, m[2].msg_len);
	char bufs[4][8];
	struct iovec riov[4];
	struct mmsghdr rm[4];
	memset(rm, 0, sizeof rm);
	for (int i = 0; i < 4; i++) {
		riov[i].iov_base = bufs[i];
		riov[i].iov_len = sizeof bufs[i];
		rm[i].msg_hdr.msg_iov = &riov[i];
		rm[i].msg_hdr.msg_iovlen = 1;
	}
	int n = SYS(recvmmsg(sv[1], rm, 4, MSG_WAITFORONE, NULL));
	printf("recvmmsg %d:", n);
	for (int i = 0; i < n; i++)
		printf(" %.*s", (int)rm[i].msg_len, bufs[i]);
	printf("\n");
	RES("recvmmsg nothing queued", recvmmsg(sv[1], rm, 4, MSG_DONTWAIT, NULL));
	close(sv[0]);
	close(sv[1]);
}

/* corners: addressing rules of sendto, datagram association,
 * credentials that keep stream data apart, SO_SNDTIMEO. */
static void corners(void)
{
	struct sockaddr_un a, b;
	socklen_t al = abstract_addr(&a, "veil-corners-a"), bl = abstract_addr(&b, "veil-corners-b");
	int sv[2];
	SYS(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	RES("stream sendto with an address, connected", sendto(sv[0], "x", 1, MSG_NOSIGNAL, (struct sockaddr *)&a, al));
	int u = SYS(socket(AF_UNIX, SOCK_STREAM, 0));
	RES("stream sendto with an address, unconnected", sendto(u, "x", 1, MSG_NOSIGNAL, (struct sockaddr *)&a, al));
	close(u);
	/* Descriptors with no data on a stream are not sent. */
	char ctl[CMSG_SPACE(sizeof(int))] __attribute__((aligned(8))) = {0};
	struct msghdr mh = {0};
	mh.msg_control = ctl;
	mh.msg_controllen = sizeof ctl;
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &sv[0], sizeof(int));
	RES("stream sendmsg of descriptors without data", sendmsg(sv[0], &mh, 0));
	char buf[16];
	RES("  and the peer reads", recv(sv[1], buf, sizeof buf, MSG_DONTWAIT));
	/* SO_PASSCRED keeps writers with different credentials apart. */
	int on = 1;
	SYS(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof on));
	SYS(send(sv[0], "aa", 2, 0));
	fflush(stdout);
	pid_t child = SYS(fork());
	if (child == 0) {
		SYS(send(sv[0], "bb", 2, 0));
		_exit(0);
	}
	waitpid(child, NULL, 0);
	SYS(send(sv[0], "cc", 2, 0));
	for (int i = 0; i < 3; i++) {
		ssize_t n = SYS(recv(sv[1], buf, sizeof buf, 0));
		printf("SO_PASSCRED stream read %d: %.*s\n", i, (int)n, buf);
	}
	/* SO_SNDTIMEO: a send that cannot make room in time. */
	struct timeval tv = {0, 20000};
	SYS(setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv));
	static char chunk[65536];
	ssize_t w;
	while ((w = send(sv[0], chunk, sizeof chunk, MSG_DONTWAIT)) > 0)
		;
	RES("send past SO_SNDTIMEO", send(sv[0], chunk, sizeof chunk, 0));
	close(sv[0]);
	close(sv[1]);

	/* Datagram association. */
	int da = SYS(socket(AF_UNIX, SOCK_DGRAM, 0)), db = SYS(socket(AF_UNIX, SOCK_DGRAM, 0));
	int dc = SYS(socket(AF_UNIX, SOCK_DGRAM, 0));
	SYS(bind(da, (struct sockaddr *)&a, al));
	SYS(bind(db, (struct sockaddr *)&b, bl));
	RES("sendto a bound datagram socket", sendto(dc, "1", 1, 0, (struct sockaddr *)&a, al));
	SYS(connect(da, (struct sockaddr *)&b, bl));
	RES("sendto a socket connected elsewhere", sendto(dc, "2", 1, 0, (struct sockaddr *)&a, al));
	RES("its peer may", sendto(db, "3", 1, 0, (struct sockaddr *)&a, al));
	struct sockaddr_un from;
	socklen_t fl = sizeof from;
	ssize_t n = SYS(recvfrom(da, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl));
	printf("recvfrom: %.*s from unnamed %d\n", (int)n, buf, fl == 0);
	fl = sizeof from;
	n = SYS(recvfrom(da, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl));
	printf("recvfrom: %.*s from b %d\n", (int)n, buf, fl == bl && memcmp(&from, &b, bl) == 0);
	struct sockaddr unspec = {.sa_family = AF_UNSPEC};
	RES("disconnect with AF_UNSPEC", connect(da, &unspec, sizeof unspec));
	RES("sendto it again", sendto(dc, "4", 1, 0, (struct sockaddr *)&a, al));
	RES("send unconnected", send(da, "5", 1, 0));
	close(da);
	close(db);
	close(dc);
}

static void fdinfo(void)
{
	int s = SYS(socket(AF_UNIX, SOCK_STREAM, 0));
	struct stat st;
	SYS(fstat(s, &st));
	printf("fstat: socket %d mode %o\n", S_ISSOCK(st.st_mode), st.st_mode & 0777);
	char path[64], link[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", s);
	ssize_t n = SYS(readlink(path, link, sizeof link - 1));
	link[n] = 0;
	char want[64];
	snprintf(want, sizeof want, "socket:[%lu]", (unsigned long)st.st_ino);
	printf("/proc/self/fd link is socket:[ino] %d\n", strcmp(link, want) == 0);
	RES("open /proc/self/fd of a socket", open(path, O_RDWR));
	RES("lseek on a socket", lseek(s, 0, SEEK_SET));
	close(s);
}

int main(int argc, char **argv)
{
	veil_init("sockets");
	if (argc == 3 && strcmp(argv[1], "--leave") == 0) {
		struct sockaddr_un a = {.sun_family = AF_UNIX};
		snprintf(a.sun_path, sizeof a.sun_path, "%s", argv[2]);
		int s = SYS(socket(AF_UNIX, SOCK_STREAM, 0));
		SYS(bind(s, (struct sockaddr *)&a, sizeof a));
		return 0;
	}
	char tmp[] = "/tmp/veil-sockets-XXXXXX";
	if (argc == 2) {
		dir = argv[1];
	} else if (argc == 1) {
		dir = mkdtemp(tmp);
		CHECK(dir != NULL);
	} else {
		FAIL("usage: sockets [DIR] | sockets --leave PATH");
	}
	pairs();
	sigpipe();
	options();
	names();
	rights();
	creds();
	waitall();
	interrupted();
	readiness();
	mmsg();
	corners();
	fdinfo();
	if (argc == 1)
		SYS(rmdir(dir));
	printf("sockets: ok\n");
	return 0;
}
