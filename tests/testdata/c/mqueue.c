/*
 * POSIX message queues (mq_overview(7)): open/create/exclusive, priorities,
 * O_NONBLOCK, timeouts, attributes, a receiver blocked in another process,
 * mq_notify with SIGEV_SIGNAL (once, then unregistered; EBUSY for a second
 * process), limits (EINVAL, EMSGSIZE, RLIMIT_MSGQUEUE's EMFILE), unlink
 * while open. Queue names carry the pid so a native run never meets
 * another's; every queue is unlinked.
 */
#include "veiltest.h"

#include <fcntl.h>
#include <mqueue.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

static char name[64], name2[64];

static volatile sig_atomic_t got_sig, got_code, got_val;

static void handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	got_sig = sig;
	got_code = si->si_code;
	got_val = si->si_value.sival_int;
}

/* "mqueue keep NAME": make queue NAME holding two messages and leave it. */
static int keep(const char *n)
{
	struct mq_attr at = {.mq_maxmsg = 4, .mq_msgsize = 64};
	mqd_t q = mq_open(n, O_WRONLY | O_CREAT, 0640, &at);
	CHECK(q != (mqd_t)-1);
	SYS(mq_send(q, "hello", 5, 1));
	SYS(mq_send(q, "world!", 6, 2));
	return 0;
}

int main(int argc, char **argv)
{
	veil_init("mqueue");
	if (argc == 3 && strcmp(argv[1], "keep") == 0)
		return keep(argv[2]);
	snprintf(name, sizeof name, "/veil-mq-%d", getpid());
	snprintf(name2, sizeof name2, "/veil-mq2-%d", getpid());

	CHECK(mq_open(name, O_RDWR) == (mqd_t)-1 && errno == ENOENT);
	struct mq_attr at = {.mq_maxmsg = 4, .mq_msgsize = 64};
	mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &at);
	CHECK(q != (mqd_t)-1);
	CHECK(mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &at) == (mqd_t)-1 && errno == EEXIST);
	CHECK(fcntl(q, F_GETFD) == FD_CLOEXEC);
	struct mq_attr got;
	SYS(mq_getattr(q, &got));
	printf("attr: flags=%ld maxmsg=%ld msgsize=%ld curmsgs=%ld\n", got.mq_flags, got.mq_maxmsg,
	       got.mq_msgsize, got.mq_curmsgs);

	/* Priorities: highest first, FIFO within a priority. */
	SYS(mq_send(q, "low-1", 6, 1));
	SYS(mq_send(q, "high", 5, 9));
	SYS(mq_send(q, "low-2", 6, 1));
	SYS(mq_send(q, "mid", 4, 5));
	SYS(mq_getattr(q, &got));
	printf("queued: %ld\n", got.mq_curmsgs);
	char buf[64];
	unsigned prio;
	for (int i = 0; i < 4; i++) {
		ssize_t n = SYS(mq_receive(q, buf, sizeof buf, &prio));
		printf("recv: %s prio=%u len=%zd\n", buf, prio, n);
	}
	CHECK(mq_receive(q, buf, 10, &prio) == -1 && errno == EMSGSIZE);
	CHECK(mq_send(q, buf, 65, 0) == -1 && errno == EMSGSIZE);
	CHECK(mq_send(q, buf, 1, 40000) == -1 && errno == EINVAL);

	/* Non-blocking and timeouts. */
	struct mq_attr nb = {.mq_flags = O_NONBLOCK};
	SYS(mq_setattr(q, &nb, &got));
	printf("old flags=%ld\n", got.mq_flags);
	CHECK(mq_receive(q, buf, sizeof buf, NULL) == -1 && errno == EAGAIN);
	for (int i = 0; i < 4; i++)
		SYS(mq_send(q, "x", 1, 0));
	CHECK(mq_send(q, "x", 1, 0) == -1 && errno == EAGAIN);
	nb.mq_flags = 0;
	SYS(mq_setattr(q, &nb, NULL));
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += 20 * 1000 * 1000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	CHECK(mq_timedsend(q, "x", 1, 0, &ts) == -1 && errno == ETIMEDOUT);
	ts.tv_nsec = -1;
	CHECK(mq_timedsend(q, "x", 1, 0, &ts) == -1 && errno == EINVAL);
	for (int i = 0; i < 4; i++)
		SYS(mq_receive(q, buf, sizeof buf, NULL));

	/* A receiver blocked in another process. */
	pid_t c = SYS(fork());
	if (c == 0) {
		mqd_t r = mq_open(name, O_RDONLY);
		char b[64];
		unsigned p;
		if (r == (mqd_t)-1 || mq_receive(r, b, sizeof b, &p) != 6 || strcmp(b, "hello") || p != 3)
			_exit(1);
		_exit(0);
	}
	usleep(20000);
	SYS(mq_send(q, "hello", 6, 3));
	int st;
	CHECK(waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	printf("blocked receiver got it\n");

	/* mq_notify: a signal for the first message into an empty queue. */
	struct sigaction sa = {.sa_sigaction = handler, .sa_flags = SA_SIGINFO};
	SYS(sigaction(SIGUSR1, &sa, NULL));
	struct sigevent sev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1};
	sev.sigev_value.sival_int = 42;
	SYS(mq_notify(q, &sev));
	c = SYS(fork());
	if (c == 0) {
		struct sigevent s2 = {.sigev_notify = SIGEV_NONE};
		_exit(mq_notify(q, &s2) == -1 && errno == EBUSY ? 0 : 1);
	}
	CHECK(waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	SYS(mq_send(q, "n", 2, 0));
	for (int i = 0; i < 1000 && !got_sig; i++)
		usleep(1000);
	printf("notified: sig=%d code=%d value=%d\n", (int)got_sig, (int)got_code, (int)got_val);
	/* The registration is gone: a second registration succeeds. */
	SYS(mq_notify(q, &sev));
	SYS(mq_notify(q, NULL));
	SYS(mq_receive(q, buf, sizeof buf, NULL));

	/* Attribute limits: over msg_max without CAP_SYS_RESOURCE is EINVAL
	 * (root has it: up to the hard limit); zero sizes are EINVAL. */
	struct mq_attr bad = {.mq_maxmsg = 0, .mq_msgsize = 10};
	CHECK(mq_open(name2, O_RDWR | O_CREAT, 0600, &bad) == (mqd_t)-1 && errno == EINVAL);
	bad.mq_maxmsg = 70000;
	CHECK(mq_open(name2, O_RDWR | O_CREAT, 0600, &bad) == (mqd_t)-1 && errno == EINVAL);

	/* RLIMIT_MSGQUEUE bounds the memory of a user's queues. */
	struct rlimit old, rl;
	SYS(getrlimit(RLIMIT_MSGQUEUE, &old));
	rl = old;
	rl.rlim_cur = 1000;
	SYS(setrlimit(RLIMIT_MSGQUEUE, &rl));
	struct mq_attr big = {.mq_maxmsg = 10, .mq_msgsize = 8192};
	CHECK(mq_open(name2, O_RDWR | O_CREAT, 0600, &big) == (mqd_t)-1 && errno == EMFILE);
	SYS(setrlimit(RLIMIT_MSGQUEUE, &old));

	/* Unlink while open: the queue works until closed. */
	SYS(mq_unlink(name));
	CHECK(mq_unlink(name) == -1 && errno == ENOENT);
	SYS(mq_send(q, "still", 6, 0));
	CHECK(mq_receive(q, buf, sizeof buf, NULL) == 6);
	SYS(mq_close(q));
	CHECK(mq_open("/a/b", O_RDWR) == (mqd_t)-1 && errno == EACCES);
	printf("mqueue: ok\n");
	return 0;
}
