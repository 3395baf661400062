/*
 * Pipes between processes: a child writes 1 MiB of patterned data in
 * chunks of varying size, the parent reads and verifies every byte and then
 * sees EOF once the child has exited. Also: pipe2(O_CLOEXEC) sets
 * FD_CLOEXEC, writing to a pipe without readers gives EPIPE (SIGPIPE
 * ignored) or kills with SIGPIPE (default action).
 */
#include "veiltest.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#define TOTAL (1 << 20)

static unsigned char pat(size_t i)
{
	return (unsigned char)(i * 7 + (i >> 8) + (i >> 16) * 3);
}

int main(void)
{
	veil_init("pipe");
	int p[2];
	SYS(pipe(p));
	fflush(stdout);
	pid_t pid = SYS(fork());
	if (pid == 0) {
		close(p[0]);
		static unsigned char buf[65536];
		size_t off = 0;
		unsigned n = 0;
		while (off < TOTAL) {
			size_t chunk = 1000 + (n++ * 3571) % 60000;
			if (chunk > TOTAL - off)
				chunk = TOTAL - off;
			for (size_t i = 0; i < chunk; i++)
				buf[i] = pat(off + i);
			size_t done = 0;
			while (done < chunk) {
				ssize_t w = write(p[1], buf + done, chunk - done);
				if (w <= 0)
					_exit(90);
				done += (size_t)w;
			}
			off += chunk;
		}
		_exit(0);
	}
	close(p[1]);
	static unsigned char rbuf[40000];
	size_t got = 0;
	int reads = 0;
	for (;;) {
		ssize_t r = read(p[0], rbuf, sizeof rbuf);
		if (r < 0)
			FAIL("read: %s", strerror(errno));
		if (r == 0)
			break;
		reads++;
		for (ssize_t i = 0; i < r; i++)
			if (rbuf[i] != pat(got + (size_t)i))
				FAIL("byte %zu: got %u want %u", got + (size_t)i, rbuf[i],
				     pat(got + (size_t)i));
		got += (size_t)r;
		if (got > TOTAL)
			FAIL("read more than written: %zu", got);
	}
	if (got != TOTAL)
		FAIL("EOF after %zu bytes, want %d", got, TOTAL);
	int st;
	CHECK(waitpid(pid, &st, 0) == pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		FAIL("writer child status 0x%x", st);
	CHECK(reads > 0);
	close(p[0]);
	printf("pipe: 1048576 bytes verified, then EOF\n");

	/* pipe2(O_CLOEXEC) */
	SYS(pipe2(p, O_CLOEXEC));
	CHECK(fcntl(p[0], F_GETFD) == FD_CLOEXEC);
	CHECK(fcntl(p[1], F_GETFD) == FD_CLOEXEC);
	int p2[2];
	SYS(pipe(p2));
	CHECK(fcntl(p2[0], F_GETFD) == 0);
	close(p2[0]);
	close(p2[1]);
	printf("pipe: pipe2(O_CLOEXEC) ok\n");

	/* Reader gone: EPIPE with SIGPIPE ignored. */
	close(p[0]);
	signal(SIGPIPE, SIG_IGN);
	errno = 0;
	CHECK(write(p[1], "x", 1) == -1 && errno == EPIPE);
	close(p[1]);
	printf("pipe: EPIPE without readers\n");

	/* Reader gone, default SIGPIPE action: the writer dies. */
	signal(SIGPIPE, SIG_DFL);
	SYS(pipe(p));
	close(p[0]);
	fflush(stdout);
	pid = SYS(fork());
	if (pid == 0) {
		(void)!write(p[1], "x", 1);
		_exit(91);
	}
	close(p[1]);
	CHECK(waitpid(pid, &st, 0) == pid);
	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGPIPE)
		FAIL("writer status 0x%x, want killed by SIGPIPE", st);
	printf("pipe: writer killed by SIGPIPE\n");

	/* Nonblocking read of an empty pipe: EAGAIN. */
	SYS(pipe2(p, O_NONBLOCK));
	char c;
	errno = 0;
	CHECK(read(p[0], &c, 1) == -1 && errno == EAGAIN);
	CHECK(write(p[1], "z", 1) == 1);
	CHECK(read(p[0], &c, 1) == 1 && c == 'z');
	close(p[0]);
	close(p[1]);
	printf("pipe: O_NONBLOCK EAGAIN ok\n");

	printf("pipe: ok\n");
	return 0;
}
