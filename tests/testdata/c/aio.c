/*
 * Linux AIO with raw system calls (as libaio makes them): io_setup,
 * io_submit of PWRITE, PREAD, PWRITEV, PREADV, FSYNC and FDSYNC on a file
 * under /tmp, io_getevents, IOCB_FLAG_RESFD with an eventfd, IOCB_CMD_POLL
 * on a pipe (completing when written, and cancelled with io_cancel),
 * io_pgetevents, partial submissions, the errors of bad requests and
 * contexts, and io_destroy. Also readahead, sync_file_range, fadvise,
 * syncfs and ioprio_get/ioprio_set.
 */
#include "veiltest.h"

#include <fcntl.h>
#include <linux/aio_abi.h>
#include <linux/ioprio.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

static long io_setup(unsigned nr, aio_context_t *ctx) { return syscall(SYS_io_setup, nr, ctx); }
static long io_destroy(aio_context_t ctx) { return syscall(SYS_io_destroy, ctx); }
static long io_submit(aio_context_t ctx, long nr, struct iocb **l) { return syscall(SYS_io_submit, ctx, nr, l); }
static long io_getevents(aio_context_t ctx, long min, long nr, struct io_event *ev, struct timespec *ts)
{
	return syscall(SYS_io_getevents, ctx, min, nr, ev, ts);
}
static long io_cancel(aio_context_t ctx, struct iocb *cb, struct io_event *ev)
{
	return syscall(SYS_io_cancel, ctx, cb, ev);
}

static void say(const char *what, long r)
{
	if (r < 0)
		printf("%s: %s\n", what, strerror(errno));
	else
		printf("%s: %ld\n", what, r);
}

static struct iocb cb(int op, int fd, void *buf, size_t n, long long off, unsigned long long data)
{
	struct iocb c;
	memset(&c, 0, sizeof c);
	c.aio_lio_opcode = op;
	c.aio_fildes = fd;
	c.aio_buf = (unsigned long)buf;
	c.aio_nbytes = n;
	c.aio_offset = off;
	c.aio_data = data;
	return c;
}

static int bydata(const void *a, const void *b)
{
	const struct io_event *x = a, *y = b;
	return x->data < y->data ? -1 : x->data > y->data;
}

static void reap(aio_context_t ctx, long min, const char *what, struct iocb **cbs, int ncbs)
{
	struct io_event ev[16];
	struct timespec ts = {5, 0};
	long n = io_getevents(ctx, min, 16, ev, &ts);
	if (n < 0) {
		printf("%s: getevents: %s\n", what, strerror(errno));
		return;
	}
	qsort(ev, n, sizeof ev[0], bydata);
	printf("%s: %ld events\n", what, n);
	for (long i = 0; i < n; i++) {
		int objok = 0;
		for (int k = 0; k < ncbs; k++)
			if (ev[i].obj == (unsigned long)cbs[k])
				objok = 1;
		printf("  data %llu res %lld res2 %lld obj %s\n", (unsigned long long)ev[i].data, (long long)ev[i].res,
		       (long long)ev[i].res2, objok ? "ok" : "WRONG");
	}
}

int main(void)
{
	veil_init("aio");
	signal(SIGPIPE, SIG_IGN);
	aio_context_t ctx = 0;
	say("io_setup", io_setup(64, &ctx));
	printf("context set: %d\n", ctx != 0);
	aio_context_t other = 1;
	say("io_setup with *ctxp set", io_setup(8, &other));
	other = 0;
	say("io_setup of 0 events", io_setup(0, &other));

	char path[] = "/tmp/aioXXXXXX";
	int fd = SYS(mkstemp(path));
	char wbuf[] = "hello aio", rbuf[32] = {0}, v1[4] = "abc", v2[4] = "def", r1[3], r2[3];
	struct iovec wv[2] = {{v1, 3}, {v2, 3}}, rv[2] = {{r1, 3}, {r2, 3}};
	struct iocb c1 = cb(IOCB_CMD_PWRITE, fd, wbuf, 9, 100, 1);
	struct iocb c2 = cb(IOCB_CMD_PWRITEV, fd, wv, 2, 0, 2);
	struct iocb c3 = cb(IOCB_CMD_FSYNC, fd, NULL, 0, 0, 3);
	struct iocb c4 = cb(IOCB_CMD_FDSYNC, fd, NULL, 0, 0, 4);
	struct iocb *l1[] = {&c1, &c2, &c3, &c4};
	say("submit writes and syncs", io_submit(ctx, 4, l1));
	reap(ctx, 4, "writes", l1, 4);

	int efd = SYS(eventfd(0, 0));
	struct iocb c5 = cb(IOCB_CMD_PREAD, fd, rbuf, sizeof rbuf, 100, 5);
	struct iocb c6 = cb(IOCB_CMD_PREADV, fd, rv, 2, 0, 6);
	struct iocb c7 = cb(IOCB_CMD_PREAD, fd, rbuf, 10, 5000, 7);
	struct iocb c8 = cb(IOCB_CMD_PREAD, fd, (void *)1, 10, 0, 8);
	c5.aio_flags = c6.aio_flags = IOCB_FLAG_RESFD;
	c5.aio_resfd = c6.aio_resfd = efd;
	struct iocb *l2[] = {&c5, &c6, &c7, &c8};
	say("submit reads", io_submit(ctx, 4, l2));
	reap(ctx, 1, "reads", l2, 4);
	printf("read: %.9s %.3s%.3s\n", rbuf, r1, r2);
	uint64_t count;
	CHECK(read(efd, &count, 8) == 8);
	printf("eventfd: %llu\n", (unsigned long long)count);

	/* IOCB_CMD_POLL on a pipe. */
	int p[2];
	SYS(pipe(p));
	struct iocb c9 = cb(IOCB_CMD_POLL, p[0], NULL, 0, 0, 9);
	c9.aio_buf = POLLIN;
	struct iocb *l3[] = {&c9};
	say("submit poll", io_submit(ctx, 1, l3));
	struct io_event ev[4];
	struct timespec zero = {0, 0};
	say("getevents before the write", io_getevents(ctx, 1, 4, ev, &zero));
	CHECK(write(p[1], "x", 1) == 1);
	reap(ctx, 1, "poll after the write", l3, 1);
	struct iocb c10 = cb(IOCB_CMD_POLL, p[1], NULL, 0, 0, 10);
	c10.aio_buf = POLLOUT;
	struct iocb c11 = cb(IOCB_CMD_POLL, p[0], NULL, 0, 0, 11);
	c11.aio_buf = POLLPRI;
	struct iocb *l4[] = {&c10, &c11};
	say("submit two polls", io_submit(ctx, 2, l4));
	reap(ctx, 1, "a writable pipe", l4, 2);
	say("io_cancel of the pending poll", io_cancel(ctx, &c11, ev));
	reap(ctx, 1, "after io_cancel", l4, 2);
	say("io_cancel of a finished request", io_cancel(ctx, &c10, ev));

	/* Errors. */
	struct iocb bad = cb(IOCB_CMD_PREAD, 99, rbuf, 1, 0, 20);
	struct iocb *lb[] = {&bad};
	say("bad fd", io_submit(ctx, 1, lb));
	bad = cb(IOCB_CMD_PREAD, fd, rbuf, 1, 0, 21);
	bad.aio_reserved2 = 1;
	say("reserved field", io_submit(ctx, 1, lb));
	bad = cb(6 /* IOCB_CMD_NOOP */, fd, rbuf, 1, 0, 22);
	say("noop", io_submit(ctx, 1, lb));
	bad = cb(IOCB_CMD_FSYNC, fd, rbuf, 1, 0, 23);
	say("fsync with a buffer", io_submit(ctx, 1, lb));
	bad = cb(IOCB_CMD_PREAD, p[1], rbuf, 1, 0, 24);
	say("read from a write end", io_submit(ctx, 1, lb));
	bad = cb(IOCB_CMD_PREAD, fd, rbuf, 1, -1, 25);
	say("negative offset", io_submit(ctx, 1, lb));
	bad = cb(IOCB_CMD_PREAD, fd, rbuf, 1, 0, 26);
	bad.aio_rw_flags = 0x80000;
	say("unknown RWF flag", io_submit(ctx, 1, lb));
	struct iocb ok = cb(IOCB_CMD_PREAD, fd, rbuf, 3, 0, 27);
	struct iocb bad2 = cb(IOCB_CMD_PREAD, 99, rbuf, 1, 0, 28);
	struct iocb *lp[] = {&ok, &bad2};
	say("partial submission", io_submit(ctx, 2, lp));
	reap(ctx, 1, "partial", lp, 2);
	say("submit 0", io_submit(ctx, 0, lp));
	say("submit -1", io_submit(ctx, -1, lp));
	say("bad context", io_submit(12345, 1, lp));
	say("min_nr > nr", io_getevents(ctx, 3, 2, ev, &zero));
	say("getevents on a bad context", io_getevents(12345, 0, 1, ev, &zero));
	say("pgetevents, nothing queued", syscall(SYS_io_pgetevents, ctx, 0, 4, ev, &zero, NULL));
	say("io_destroy", io_destroy(ctx));
	say("io_destroy again", io_destroy(ctx));
	say("getevents after destroy", io_getevents(ctx, 0, 1, ev, &zero));

	/* readahead, sync_file_range, fadvise, syncfs. */
	say("readahead", readahead(fd, 0, 4096));
	say("readahead on a pipe", readahead(p[0], 0, 4096));
	int wo = SYS(open(path, O_WRONLY));
	say("readahead on O_WRONLY", readahead(wo, 0, 10));
	say("sync_file_range", sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER));
	say("sync_file_range bad flags", sync_file_range(fd, 0, 0, 8));
	say("sync_file_range negative", sync_file_range(fd, -1, 0, 0));
	say("sync_file_range on a pipe", sync_file_range(p[0], 0, 0, 0));
	errno = posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	say("fadvise", errno ? -1 : 0);
	errno = posix_fadvise(fd, 0, 0, 99);
	say("fadvise bad advice", errno ? -1 : 0);
	errno = posix_fadvise(p[0], 0, 0, POSIX_FADV_NORMAL);
	say("fadvise on a pipe", errno ? -1 : 0);
	say("syncfs", syncfs(fd));
	say("syncfs bad fd", syncfs(99));

	/* ioprio. */
	say("ioprio_get", syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0));
	say("ioprio_set idle", syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, IOPRIO_PRIO_VALUE(IOPRIO_CLASS_IDLE, 0)));
	say("ioprio_get", syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, getpid()));
	say("ioprio_set be/3", syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, IOPRIO_PRIO_VALUE(IOPRIO_CLASS_BE, 3)));
	say("ioprio_get", syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0));
	say("ioprio_set be/9", syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, IOPRIO_PRIO_VALUE(IOPRIO_CLASS_BE, 0) | 9));
	say("ioprio_set class 5", syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, 5 << 13));
	say("ioprio_set bad which", syscall(SYS_ioprio_set, 9, 0, 0));
	say("ioprio_get no such pid", syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, 999999));
	fflush(stdout);
	if (fork() == 0) {
		say("child inherits", syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0));
		SYS(setpgid(0, 0));
		say("child sets be/5", syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, IOPRIO_PRIO_VALUE(IOPRIO_CLASS_BE, 5)));
		say("ioprio_get of its own group", syscall(SYS_ioprio_get, IOPRIO_WHO_PGRP, 0));
		exit(0);
	}
	SYS(wait(NULL));
	unlink(path);
	printf("aio: ok\n");
	return 0;
}
