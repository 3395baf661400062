/*
 * IP sockets over loopback: sendmmsg/recvmmsg, MSG_TRUNC, epoll and select
 * readiness through a connection's life, a refused non-blocking connect,
 * SIGPIPE with EPIPE after a reset, EINTR of a blocking accept, and
 * SO_RCVTIMEO.
 */
#include "veiltest.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>

static volatile sig_atomic_t sigpipes, alarms;

static void on_pipe(int sig) { (void)sig; sigpipes++; }
static void on_alarm(int sig) { (void)sig; alarms++; }

static struct sockaddr_in lo(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

static int listener(struct sockaddr_in *a)
{
	int l = SYS(socket(AF_INET, SOCK_STREAM, 0));
	*a = lo(0);
	SYS(bind(l, (struct sockaddr *)a, sizeof(*a)));
	SYS(listen(l, 8));
	socklen_t n = sizeof(*a);
	SYS(getsockname(l, (struct sockaddr *)a, &n));
	return l;
}

static unsigned wait1(int ep, int ms)
{
	struct epoll_event ev;
	int n = SYS(epoll_wait(ep, &ev, 1, ms));
	return n == 0 ? 0 : ev.events;
}

static void mmsg(void)
{
	int r = SYS(socket(AF_INET, SOCK_DGRAM, 0));
	struct sockaddr_in a = lo(0);
	SYS(bind(r, (struct sockaddr *)&a, sizeof(a)));
	socklen_t n = sizeof(a);
	SYS(getsockname(r, (struct sockaddr *)&a, &n));
	int s = SYS(socket(AF_INET, SOCK_DGRAM, 0));
	SYS(connect(s, (struct sockaddr *)&a, sizeof(a)));

	char *msgs[] = {"one", "two two", "three three three"};
	struct iovec iov[3];
	struct mmsghdr out[3] = {0};
	for (int i = 0; i < 3; i++) {
		iov[i].iov_base = msgs[i];
		iov[i].iov_len = strlen(msgs[i]);
		out[i].msg_hdr.msg_iov = &iov[i];
		out[i].msg_hdr.msg_iovlen = 1;
	}
	printf("sendmmsg %ld\n", SYS(sendmmsg(s, out, 3, 0)));

	char bufs[3][8];
	struct iovec riov[3];
	struct mmsghdr in[3] = {0};
	struct sockaddr_in from[3];
	for (int i = 0; i < 3; i++) {
		riov[i].iov_base = bufs[i];
		riov[i].iov_len = sizeof(bufs[i]);
		in[i].msg_hdr.msg_iov = &riov[i];
		in[i].msg_hdr.msg_iovlen = 1;
		in[i].msg_hdr.msg_name = &from[i];
		in[i].msg_hdr.msg_namelen = sizeof(from[i]);
	}
	int got = SYS(recvmmsg(r, in, 3, MSG_WAITFORONE, NULL));
	printf("recvmmsg %d:", got);
	for (int i = 0; i < got; i++)
		printf(" %u%s", in[i].msg_len, (in[i].msg_hdr.msg_flags & MSG_TRUNC) ? "(trunc)" : "");
	printf(" from lo %d\n", from[0].sin_addr.s_addr == htonl(INADDR_LOOPBACK));

	SYS(send(s, "0123456789abcdef", 16, 0));
	char b[4];
	printf("MSG_TRUNC %ld\n", SYS(recv(r, b, sizeof(b), MSG_TRUNC)));
	close(r);
	close(s);
}

static void readiness(void)
{
	struct sockaddr_in a;
	int l = listener(&a);
	int ep = SYS(epoll_create1(0));
	struct epoll_event ev = {.events = EPOLLIN};
	SYS(epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev));
	printf("listener idle %#x\n", wait1(ep, 0));

	int c = SYS(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
	int rc = connect(c, (struct sockaddr *)&a, sizeof(a));
	printf("nonblocking connect %d %s\n", rc, rc ? strerror(errno) : "");
	printf("listener pending %#x\n", wait1(ep, 10000));
	int s = SYS(accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC));

	int ep2 = SYS(epoll_create1(0));
	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
	SYS(epoll_ctl(ep2, EPOLL_CTL_ADD, s, &ev));
	printf("accepted %#x\n", wait1(ep2, 10000));
	int e = 0;
	socklen_t n = sizeof(e);
	SYS(getsockopt(c, SOL_SOCKET, SO_ERROR, &e, &n));
	printf("client SO_ERROR %d\n", e);
	/* connect again once the handshake is done: 0 the first time, then EISCONN. */
	rc = connect(c, (struct sockaddr *)&a, sizeof(a));
	printf("connect again %d %s\n", rc, rc ? strerror(errno) : "");
	rc = connect(c, (struct sockaddr *)&a, sizeof(a));
	printf("connect again %d %s\n", rc, rc ? strerror(errno) : "");

	SYS(write(c, "ping", 4));
	/* ep2 also waits for EPOLLOUT, which holds at once: poll for up to
	 * 10 s rather than a number of times, since the Sentry's loopback
	 * delivers a little after the write returns (Linux's before). */
	for (int i = 0; i < 10000 && !(wait1(ep2, 10000) & EPOLLIN); i++)
		usleep(1000);
	fd_set rd;
	FD_ZERO(&rd);
	FD_SET(s, &rd);
	struct timeval tv = {10, 0};
	printf("select %d %d\n", (int)SYS(select(s + 1, &rd, NULL, NULL, &tv)), FD_ISSET(s, &rd) != 0);
	char b[16];
	printf("read %ld\n", SYS(read(s, b, sizeof(b))));
	SYS(shutdown(c, SHUT_WR));
	unsigned evs = wait1(ep2, 10000);
	for (int i = 0; i < 10000 && !(evs & EPOLLRDHUP); i++) {
		usleep(1000);
		evs = wait1(ep2, 10000);
	}
	printf("peer shut %#x\n", evs);
	printf("read at eof %ld\n", SYS(read(s, b, sizeof(b))));
	close(s);
	close(c);
	close(ep2);

	/* A refused non-blocking connect: EPOLLOUT|EPOLLERR|EPOLLHUP, then ECONNREFUSED. */
	close(l);
	c = SYS(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
	rc = connect(c, (struct sockaddr *)&a, sizeof(a));
	printf("refused connect %d %s\n", rc, rc ? strerror(errno) : "");
	ev.events = EPOLLOUT;
	SYS(epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev));
	printf("refused events %#x\n", wait1(ep, 10000));
	n = sizeof(e);
	SYS(getsockopt(c, SOL_SOCKET, SO_ERROR, &e, &n));
	printf("refused SO_ERROR %s\n", strerror(e));
	close(c);
	close(ep);
}

static void errors(void)
{
	struct sockaddr_in a;
	int l = listener(&a);
	int c = SYS(socket(AF_INET, SOCK_STREAM, 0));
	SYS(connect(c, (struct sockaddr *)&a, sizeof(a)));
	int s = SYS(accept(l, NULL, NULL));
	struct linger lg = {1, 0};
	SYS(setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)));
	close(s);
	signal(SIGPIPE, on_pipe);
	char b[8];
	long r = recv(c, b, sizeof(b), 0);
	printf("recv after reset %ld %s\n", r, strerror(errno));
	r = send(c, "x", 1, 0);
	printf("send after reset %ld %s sigpipes %d\n", r, strerror(errno), (int)sigpipes);
	r = send(c, "x", 1, MSG_NOSIGNAL);
	printf("send MSG_NOSIGNAL %ld %s sigpipes %d\n", r, strerror(errno), (int)sigpipes);
	close(c);

	/* A blocking accept is interrupted by a signal without SA_RESTART. */
	struct sigaction sa = {.sa_handler = on_alarm};
	SYS(sigaction(SIGALRM, &sa, NULL));
	struct itimerval it = {.it_value = {0, 200000}};
	SYS(setitimer(ITIMER_REAL, &it, NULL));
	r = accept(l, NULL, NULL);
	printf("accept interrupted %ld %s alarms %d\n", r, strerror(errno), (int)alarms);

	/* SO_RCVTIMEO: a receive gives up with EAGAIN. */
	c = SYS(socket(AF_INET, SOCK_STREAM, 0));
	SYS(connect(c, (struct sockaddr *)&a, sizeof(a)));
	struct timeval tv = {0, 100000};
	SYS(setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)));
	r = recv(c, b, sizeof(b), 0);
	printf("recv timeout %ld %s\n", r, strerror(errno));
	close(c);
	close(l);
}

int main(void)
{
	veil_init("inet");
	mmsg();
	readiness();
	errors();
	printf("inet: ok\n");
	return 0;
}
