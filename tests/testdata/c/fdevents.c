/*
 * Event file descriptors: timerfd (timerfd_create(2), timerfd_settime(2),
 * timerfd_gettime(2): relative, TFD_TIMER_ABSTIME, periodic counts,
 * TFD_NONBLOCK), signalfd (signalfd(2)/signalfd4(2): signalfd_siginfo
 * fields, masks, SFD_NONBLOCK, a timer's and a child's signals), pidfd
 * (pidfd_open(2), readable when the process exits, pidfd_send_signal(2),
 * pidfd_getfd(2), waitid(P_PIDFD), PIDFD_NONBLOCK), all watched with
 * poll(2) and epoll(7). Deterministic output only.
 */
#include "veiltest.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>

#ifndef PIDFD_NONBLOCK
#define PIDFD_NONBLOCK O_NONBLOCK
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

static const char *yes(int c) { return c ? "yes" : "no"; }

static const char *err(long r)
{
	if (r >= 0)
		return "ok";
	switch (errno) {
	case EAGAIN: return "EAGAIN";
	case EINVAL: return "EINVAL";
	case EBADF: return "EBADF";
	case ESRCH: return "ESRCH";
	case EPERM: return "EPERM";
	case ECHILD: return "ECHILD";
	}
	return strerror(errno);
}

static int readable(int fd, int ms)
{
	struct pollfd p = {fd, POLLIN, 0};
	return SYS(poll(&p, 1, ms)) == 1 && (p.revents & POLLIN);
}

static void timerfds(void)
{
	int fd = SYS(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC));
	printf("timerfd: disarmed readable: %s\n", yes(readable(fd, 0)));
	struct itimerspec its = {{0, 0}, {0, 20000000}};
	SYS(timerfd_settime(fd, 0, &its, NULL));
	struct itimerspec cur;
	SYS(timerfd_gettime(fd, &cur));
	printf("timerfd: armed value in (0, 20 ms]: %s\n",
	       yes(cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec > 0 && cur.it_value.tv_nsec <= 20000000));
	printf("timerfd: readable after expiry: %s\n", yes(readable(fd, 5000)));
	uint64_t n = 0;
	ssize_t got = read(fd, &n, 8);
	printf("timerfd: read %zd bytes, count %llu\n", got, (unsigned long long)n);
	char small[4];
	printf("timerfd: short read: %s\n", err(read(fd, small, sizeof small)));

	/* Periodic 5 ms for ~60 ms: several expirations in one read. */
	its = (struct itimerspec){{0, 5000000}, {0, 5000000}};
	SYS(timerfd_settime(fd, 0, &its, NULL));
	usleep(60000);
	SYS(read(fd, &n, 8));
	printf("timerfd: periodic count >= 5: %s\n", yes(n >= 5));
	SYS(timerfd_gettime(fd, &cur));
	printf("timerfd: interval %ld ns\n", cur.it_interval.tv_nsec);

	/* Absolute on CLOCK_REALTIME, in the past: due at once. */
	int rfd = SYS(timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK));
	printf("timerfd: nonblocking read when not due: %s\n", err(read(rfd, &n, 8)));
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	its = (struct itimerspec){{0, 0}, {now.tv_sec - 1, now.tv_nsec}};
	SYS(timerfd_settime(rfd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, NULL));
	printf("timerfd: absolute time in the past: readable %s\n", yes(readable(rfd, 1000)));
	printf("timerfd: bad flags: %s\n", err(timerfd_settime(rfd, 8, &its, NULL)));
	printf("timerfd: bad clock: %s\n", err(timerfd_create(CLOCK_PROCESS_CPUTIME_ID, 0)));
	printf("timerfd: settime of a pipe: %s\n", err(timerfd_settime(0 + SYS(dup(1)), 0, &its, NULL)));

	/* Through epoll: a timer disarmed by settime is no longer readable. */
	int ep = SYS(epoll_create1(EPOLL_CLOEXEC));
	struct epoll_event e = {.events = EPOLLIN, .data.u32 = 42};
	SYS(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e));
	its = (struct itimerspec){{0, 0}, {0, 10000000}};
	SYS(timerfd_settime(fd, 0, &its, NULL));
	struct epoll_event out;
	int r = SYS(epoll_wait(ep, &out, 1, 5000));
	printf("timerfd: epoll_wait %d data %u\n", r, out.data.u32);
	its = (struct itimerspec){{0, 0}, {100, 0}};
	SYS(timerfd_settime(fd, 0, &its, NULL));
	printf("timerfd: re-armed: expirations dropped: %s\n", yes(SYS(epoll_wait(ep, &out, 1, 0)) == 0));
	close(ep);
	close(fd);
	close(rfd);
}

static void signalfds(void)
{
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGUSR1);
	sigaddset(&m, SIGRTMIN);
	sigaddset(&m, SIGCHLD);
	SYS(sigprocmask(SIG_BLOCK, &m, NULL));
	int fd = SYS(signalfd(-1, &m, SFD_NONBLOCK | SFD_CLOEXEC));
	struct signalfd_siginfo si[4];
	printf("signalfd: empty: %s\n", err(read(fd, si, sizeof si)));
	printf("signalfd: short buffer: %s\n", err(read(fd, si, 64)));

	SYS(kill(getpid(), SIGUSR1));
	printf("signalfd: readable with a signal pending: %s\n", yes(readable(fd, 0)));
	ssize_t n = SYS(read(fd, si, sizeof si));
	printf("signalfd: read %zd bytes: signo %u code %d pid ok %s uid %u\n", n, si[0].ssi_signo, si[0].ssi_code,
	       yes(si[0].ssi_pid == (uint32_t)getpid()), si[0].ssi_uid);

	union sigval v = {.sival_int = 99};
	SYS(sigqueue(getpid(), SIGRTMIN, v));
	SYS(sigqueue(getpid(), SIGRTMIN, v));
	n = SYS(read(fd, si, sizeof si));
	printf("signalfd: two queued real-time signals in one read: %zd records, int %d code SI_QUEUE %s\n",
	       n / (ssize_t)sizeof si[0], si[1].ssi_int, yes(si[0].ssi_code == SI_QUEUE));

	/* A timer's signal. */
	timer_t t;
	struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGRTMIN};
	ev.sigev_value.sival_int = 5;
	SYS(timer_create(CLOCK_MONOTONIC, &ev, &t));
	struct itimerspec its = {{0, 0}, {0, 5000000}};
	SYS(timer_settime(t, 0, &its, NULL));
	printf("signalfd: timer signal becomes readable: %s\n", yes(readable(fd, 5000)));
	SYS(read(fd, si, sizeof si));
	printf("signalfd: timer: code SI_TIMER %s int %d overrun %u\n", yes(si[0].ssi_code == SI_TIMER), si[0].ssi_int,
	       si[0].ssi_overrun);
	timer_delete(t);

	/* A child's exit: SIGCHLD through epoll. */
	int ep = SYS(epoll_create1(0));
	struct epoll_event e = {.events = EPOLLIN, .data.u32 = 7};
	SYS(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e));
	pid_t c = SYS(fork());
	if (c == 0)
		_exit(9);
	struct epoll_event out;
	printf("signalfd: epoll sees SIGCHLD: %ld\n", SYS(epoll_wait(ep, &out, 1, 5000)));
	SYS(read(fd, si, sizeof si));
	printf("signalfd: SIGCHLD: code CLD_EXITED %s status %d pid ok %s\n", yes(si[0].ssi_code == CLD_EXITED),
	       si[0].ssi_status, yes(si[0].ssi_pid == (uint32_t)c));
	waitpid(c, NULL, 0);

	/* Changing the mask of an existing signalfd. */
	sigset_t only;
	sigemptyset(&only);
	sigaddset(&only, SIGUSR1);
	printf("signalfd: new mask on the same fd: %s\n", yes(signalfd(fd, &only, 0) == fd));
	SYS(sigqueue(getpid(), SIGRTMIN, v));
	printf("signalfd: signal outside the mask not read: %s\n", err(read(fd, si, sizeof si)));
	sigset_t pend;
	sigpending(&pend);
	printf("signalfd: it stays pending: %s\n", yes(sigismember(&pend, SIGRTMIN)));
	sigwaitinfo(&m, NULL);
	printf("signalfd: a pipe is not a signalfd: %s\n", err(signalfd(0 + SYS(dup(1)), &m, 0)));
	printf("signalfd: bad flags: %s\n", err(syscall(SYS_signalfd4, -1, &m, 8, 0x1)));
	printf("signalfd: bad size: %s\n", err(syscall(SYS_signalfd4, -1, &m, 4, 0)));
	close(ep);
	close(fd);
}

static void pidfds(void)
{
	int p[2];
	SYS(pipe(p));
	pid_t c = SYS(fork());
	if (c == 0) {
		char b;
		read(p[0], &b, 1);
		_exit(5);
	}
	int pfd = SYS(syscall(SYS_pidfd_open, c, 0));
	printf("pidfd: close-on-exec: %s\n", yes(fcntl(pfd, F_GETFD) & FD_CLOEXEC));
	printf("pidfd: running child not readable: %s\n", yes(!readable(pfd, 0)));
	char buf[8];
	printf("pidfd: read: %s\n", err(read(pfd, buf, sizeof buf)));
	/* pidfd_getfd: the child's end of the pipe. */
	int dupfd = SYS(syscall(SYS_pidfd_getfd, pfd, p[1], 0));
	printf("pidfd_getfd: close-on-exec: %s\n", yes(fcntl(dupfd, F_GETFD) & FD_CLOEXEC));
	printf("pidfd_getfd: bad flags: %s\n", err(syscall(SYS_pidfd_getfd, pfd, p[1], 1)));
	printf("pidfd_getfd: not open in the target: %s\n", err(syscall(SYS_pidfd_getfd, pfd, 999, 0)));
	SYS(write(dupfd, "x", 1)); /* wakes the child through its own pipe */
	close(dupfd);

	int ep = SYS(epoll_create1(0));
	struct epoll_event e = {.events = EPOLLIN, .data.u32 = 3};
	SYS(epoll_ctl(ep, EPOLL_CTL_ADD, pfd, &e));
	struct epoll_event out;
	printf("pidfd: epoll sees the exit: %ld\n", SYS(epoll_wait(ep, &out, 1, 5000)));
	struct pollfd pp = {pfd, POLLIN, 0};
	SYS(poll(&pp, 1, 0));
	printf("pidfd: zombie: POLLIN %s POLLHUP %s\n", yes(pp.revents & POLLIN), yes(pp.revents & POLLHUP));
	printf("pidfd_send_signal to a zombie: %s\n", err(syscall(SYS_pidfd_send_signal, pfd, SIGTERM, NULL, 0)));
	siginfo_t si;
	SYS(waitid(P_PIDFD, pfd, &si, WEXITED));
	printf("waitid(P_PIDFD): pid ok %s status %d\n", yes(si.si_pid == c), si.si_status);
	SYS(poll(&pp, 1, 0));
	printf("pidfd: reaped: POLLIN %s POLLHUP %s\n", yes(pp.revents & POLLIN), yes(pp.revents & POLLHUP));
	printf("waitid(P_PIDFD) again: %s\n", err(waitid(P_PIDFD, pfd, &si, WEXITED)));
	close(ep);
	close(pfd);

	/* pidfd_send_signal and PIDFD_NONBLOCK. */
	c = SYS(fork());
	if (c == 0) {
		pause();
		_exit(0);
	}
	pfd = SYS(syscall(SYS_pidfd_open, c, PIDFD_NONBLOCK));
	printf("waitid(P_PIDFD) on a nonblocking pidfd of a live child: %s\n", err(waitid(P_PIDFD, pfd, &si, WEXITED)));
	printf("pidfd_send_signal bad flags: %s\n", err(syscall(SYS_pidfd_send_signal, pfd, SIGKILL, NULL, 8)));
	printf("pidfd_send_signal signal 0: %s\n", err(syscall(SYS_pidfd_send_signal, pfd, 0, NULL, 0)));
	SYS(syscall(SYS_pidfd_send_signal, pfd, SIGKILL, NULL, 0));
	printf("pidfd: readable after SIGKILL: %s\n", yes(readable(pfd, 5000)));
	int st;
	SYS(waitpid(c, &st, 0));
	printf("killed by pidfd_send_signal: %s\n", yes(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL));
	close(pfd);

	printf("pidfd_open(no such pid): %s\n", err(syscall(SYS_pidfd_open, 999999, 0)));
	printf("pidfd_open(bad flags): %s\n", err(syscall(SYS_pidfd_open, getpid(), 1)));
	printf("pidfd_open(0): %s\n", err(syscall(SYS_pidfd_open, 0, 0)));
	int self = SYS(syscall(SYS_pidfd_open, getpid(), 0));
	printf("pidfd_getfd of own fd: %s\n", err(syscall(SYS_pidfd_getfd, self, 1, 0)));
	printf("pidfd_send_signal on a pipe: %s\n", err(syscall(SYS_pidfd_send_signal, p[0], 0, NULL, 0)));
	printf("waitid(P_PIDFD) of self: %s\n", err(waitid(P_PIDFD, self, &si, WEXITED | WNOHANG)));
}

int main(void)
{
	veil_init("fdevents");
	timerfds();
	signalfds();
	pidfds();
	printf("fdevents: ok\n");
	return 0;
}
