/*
 * splice(2), tee(2), vmsplice(2), sendfile(2) and copy_file_range(2):
 * file -> pipe (with and without an offset), pipe -> file, pipe -> pipe,
 * tee, vmsplice both ways, and the errors Linux gives for unsupported
 * pairs, offsets on pipes, O_APPEND outputs, bad flags, empty pipes
 * without writers and pipes without readers.
 */
#include "veiltest.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/uio.h>

#define SIZE 100000

static char data[SIZE];

static void drain(int fd, size_t n, size_t off)
{
	char buf[70000];
	size_t got = 0;
	while (got < n) {
		ssize_t r = SYS(read(fd, buf, n - got > sizeof buf ? sizeof buf : n - got));
		CHECK(r > 0);
		CHECK(memcmp(buf, data + off + got, r) == 0);
		got += r;
	}
}

static const char *err(long r)
{
	return r < 0 ? strerror(errno) : "ok";
}

static int pending(int fd)
{
	int n;
	SYS(ioctl(fd, FIONREAD, &n));
	return n;
}

int main(void)
{
	veil_init("splice");
	signal(SIGPIPE, SIG_IGN);
	for (int i = 0; i < SIZE; i++)
		data[i] = 'a' + (i * 7 + i / 26) % 26;
	char dir[] = "/tmp/spliceXXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[64], path2[64], path3[64];
	snprintf(path, sizeof path, "%s/in", dir);
	snprintf(path2, sizeof path2, "%s/out", dir);
	snprintf(path3, sizeof path3, "%s/app", dir);
	int in = SYS(open(path, O_RDWR | O_CREAT, 0644));
	CHECK(write(in, data, SIZE) == SIZE);
	SYS(lseek(in, 0, SEEK_SET));
	int out = SYS(open(path2, O_RDWR | O_CREAT, 0644));
	int p[2], q[2];
	SYS(pipe(p));
	SYS(pipe(q));

	/* file -> pipe with an offset: the file position stays. */
	loff_t off = 10;
	long r = SYS(splice(in, &off, p[1], NULL, 100, 0));
	printf("file->pipe at 10: %ld, off %lld, pos %lld, pipe %d\n", r, (long long)off,
	       (long long)lseek(in, 0, SEEK_CUR), pending(p[0]));
	drain(p[0], 100, 10);
	/* Without an offset: the position moves; at most what the pipe holds. */
	r = SYS(splice(in, NULL, p[1], NULL, 1 << 20, SPLICE_F_MOVE));
	printf("file->pipe 1MiB: %ld, pos %lld\n", r, (long long)lseek(in, 0, SEEK_CUR));
	drain(p[0], r, 0);
	SYS(lseek(in, SIZE - 5, SEEK_SET));
	r = SYS(splice(in, NULL, p[1], NULL, 100, 0));
	printf("file->pipe at end-5: %ld\n", r);
	drain(p[0], r, SIZE - 5);
	r = SYS(splice(in, NULL, p[1], NULL, 100, 0));
	printf("file->pipe at EOF: %ld\n", r);

	/* pipe -> file at an offset, then at the position. */
	CHECK(write(p[1], data, 12) == 12);
	off = 5;
	r = SYS(splice(p[0], NULL, out, &off, 100, 0));
	char buf[64] = {0};
	SYS(pread(out, buf, 17, 0));
	long long pos = lseek(out, 0, SEEK_CUR);
	printf("pipe->file at 5: %ld, off %lld, pos %lld, size %lld\n", r, (long long)off, pos,
	       (long long)lseek(out, 0, SEEK_END));
	CHECK(memcmp(buf + 5, data, 12) == 0 && buf[0] == 0);
	SYS(lseek(out, 0, SEEK_SET));
	CHECK(write(p[1], data + 100, 30) == 30);
	r = SYS(splice(p[0], NULL, out, NULL, 10, 0));
	printf("pipe->file 10 of 30: %ld, pos %lld, left %d\n", r, (long long)lseek(out, 0, SEEK_CUR), pending(p[0]));
	drain(p[0], 20, 110);

	/* pipe -> pipe, partly. */
	CHECK(write(p[1], data, 5000) == 5000);
	r = SYS(splice(p[0], NULL, q[1], NULL, 3000, 0));
	printf("pipe->pipe: %ld, left %d, moved %d\n", r, pending(p[0]), pending(q[0]));
	drain(q[0], 3000, 0);
	drain(p[0], 2000, 3000);

	/* tee copies and leaves the data. */
	CHECK(write(p[1], data, 7) == 7);
	r = SYS(tee(p[0], q[1], 100, 0));
	printf("tee: %ld, in %d, out %d\n", r, pending(p[0]), pending(q[0]));
	drain(p[0], 7, 0);
	drain(q[0], 7, 0);

	/* vmsplice into a pipe from two buffers, and out of it. */
	struct iovec iov[2] = {{data, 3}, {data + 3, 4}};
	r = SYS(vmsplice(p[1], iov, 2, 0));
	printf("vmsplice in: %ld, pipe %d\n", r, pending(p[0]));
	char a[2], b[10];
	struct iovec riov[2] = {{a, 2}, {b, 10}};
	r = SYS(vmsplice(p[0], riov, 2, 0));
	printf("vmsplice out: %ld, %.2s%.5s\n", r, a, b);

	/* pipe -> /dev/null. */
	int null = SYS(open("/dev/null", O_WRONLY));
	CHECK(write(p[1], data, 50) == 50);
	r = SYS(splice(p[0], NULL, null, NULL, 50, 0));
	printf("pipe->/dev/null: %ld, left %d\n", r, pending(p[0]));

	/* Errors. */
	errno = 0;
	r = splice(in, NULL, out, NULL, 10, 0);
	printf("file->file: %s\n", err(r));
	off = 0;
	r = splice(p[0], &off, out, NULL, 10, 0);
	printf("offset on the input pipe: %s\n", err(r));
	r = splice(in, NULL, p[1], &off, 10, 0);
	printf("offset on the output pipe: %s\n", err(r));
	r = splice(p[0], NULL, p[1], NULL, 10, 0);
	printf("pipe to itself: %s\n", err(r));
	r = splice(in, NULL, p[1], NULL, 10, 0x100);
	printf("bad flags: %s\n", err(r));
	r = splice(p[0], NULL, q[1], NULL, 10, SPLICE_F_NONBLOCK);
	printf("empty pipe, nonblocking: %s\n", err(r));
	r = splice(p[0], NULL, out, NULL, 0, 0);
	printf("zero length: %ld\n", r);
	int app = SYS(open(path3, O_WRONLY | O_CREAT | O_APPEND, 0644));
	CHECK(write(p[1], "x", 1) == 1);
	r = splice(p[0], NULL, app, NULL, 1, 0);
	printf("to O_APPEND: %s\n", err(r));
	int wo = SYS(open(path, O_WRONLY));
	r = splice(wo, NULL, q[1], NULL, 10, 0);
	printf("from O_WRONLY: %s\n", err(r));
	int dfd = SYS(open(dir, O_RDONLY | O_DIRECTORY));
	r = splice(dfd, NULL, q[1], NULL, 10, 0);
	printf("from a directory: %s\n", err(r));
	int efd = SYS(eventfd(1, 0));
	r = splice(efd, NULL, q[1], NULL, 8, 0);
	printf("from an eventfd: %s\n", err(r));
	r = tee(in, q[1], 10, 0);
	printf("tee from a file: %s\n", err(r));
	r = vmsplice(in, iov, 1, 0);
	printf("vmsplice to a file: %s\n", err(r));
	CHECK(read(p[0], buf, 1) == 1 && buf[0] == 'x');
	/* No writer: EOF; no reader: EPIPE. */
	close(p[1]);
	r = splice(p[0], NULL, q[1], NULL, 10, 0);
	printf("pipe without writers: %ld\n", r);
	r = tee(p[0], q[1], 10, 0);
	printf("tee without writers: %ld\n", r);
	close(q[0]);
	r = splice(in, &off, q[1], NULL, 10, 0);
	printf("pipe without readers: %s\n", err(r));

	/* sendfile. */
	SYS(pipe(p));
	off = 1000;
	r = SYS(sendfile(p[1], in, &off, 500));
	printf("sendfile file->pipe: %ld, off %lld\n", r, (long long)off);
	drain(p[0], 500, 1000);
	SYS(lseek(in, 20, SEEK_SET));
	SYS(ftruncate(out, 0));
	SYS(lseek(out, 0, SEEK_SET));
	r = SYS(sendfile(out, in, NULL, 2000));
	pos = lseek(in, 0, SEEK_CUR);
	printf("sendfile file->file: %ld, in pos %lld, out size %lld\n", r, pos, (long long)lseek(out, 0, SEEK_END));
	r = sendfile(app, in, NULL, 10);
	printf("sendfile to O_APPEND: %s\n", err(r));
	r = sendfile(p[1], p[0], NULL, 10);
	printf("sendfile from a pipe: %s\n", err(r));

	/* copy_file_range. */
	loff_t ioff = 50, ooff = 7;
	r = SYS(copy_file_range(in, &ioff, out, &ooff, 300, 0));
	printf("copy_file_range: %ld, %lld %lld\n", r, (long long)ioff, (long long)ooff);
	SYS(pread(out, buf, 20, 7));
	CHECK(memcmp(buf, data + 50, 20) == 0);
	ioff = 0, ooff = 10;
	r = copy_file_range(in, &ioff, in, &ooff, 100, 0);
	printf("copy_file_range overlapping: %s\n", err(r));
	r = copy_file_range(in, NULL, out, NULL, 10, 1);
	printf("copy_file_range flags: %s\n", err(r));
	int shm = SYS(open("/dev/shm/splice-test", O_RDWR | O_CREAT | O_TRUNC, 0600));
	unlink("/dev/shm/splice-test");
	r = copy_file_range(in, NULL, shm, NULL, 10, 0);
	printf("copy_file_range across filesystems: %s\n", err(r));
	r = copy_file_range(in, NULL, app, NULL, 10, 0);
	printf("copy_file_range to O_APPEND: %s\n", err(r));

	unlink(path);
	unlink(path2);
	unlink(path3);
	rmdir(dir);
	printf("splice: ok\n");
	return 0;
}
