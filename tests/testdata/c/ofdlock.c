/*
 * Open file description locks (fcntl F_OFD_SETLK, F_OFD_SETLKW,
 * F_OFD_GETLK): owned by the description, so two open(2)s of one file
 * conflict even in one process while dup(2)s and a forked child share the
 * lock; they conflict with POSIX locks; F_GETLK reports them with l_pid -1;
 * the last close of the description releases them; F_OFD_SETLKW waits.
 */
#include "veiltest.h"

#include <fcntl.h>
#include <sys/wait.h>

static int lk(int fd, int cmd, short type, off_t start, off_t len)
{
	struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
	return fcntl(fd, cmd, &fl);
}

static void say(const char *what, int r)
{
	printf("%s: %s\n", what, r < 0 ? strerror(errno) : "ok");
}

static void getlk(const char *what, int fd, int cmd, short type, off_t start, off_t len)
{
	struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
	if (fcntl(fd, cmd, &fl) < 0) {
		printf("%s: %s\n", what, strerror(errno));
		return;
	}
	const char *t = fl.l_type == F_RDLCK ? "RD" : fl.l_type == F_WRLCK ? "WR" : "UN";
	printf("%s: %s start %ld len %ld pid %s\n", what, t, (long)fl.l_start, (long)fl.l_len,
	       fl.l_type == F_UNLCK ? "-" : fl.l_pid == -1 ? "-1" : fl.l_pid == getpid() ? "self" : "other");
}

int main(void)
{
	veil_init("ofdlock");
	char path[] = "/tmp/ofdlockXXXXXX";
	int fd1 = SYS(mkstemp(path));
	int fd2 = SYS(open(path, O_RDWR));
	say("fd1 write lock [0,10)", lk(fd1, F_OFD_SETLK, F_WRLCK, 0, 10));
	say("fd2 write lock [5,15)", lk(fd2, F_OFD_SETLK, F_WRLCK, 5, 15));
	say("fd2 write lock [10,20)", lk(fd2, F_OFD_SETLK, F_WRLCK, 10, 10));
	getlk("fd2 OFD_GETLK [0,5)", fd2, F_OFD_GETLK, F_RDLCK, 0, 5);
	getlk("fd1 OFD_GETLK [0,5)", fd1, F_OFD_GETLK, F_WRLCK, 0, 5);
	say("fd2 POSIX lock [0,5)", lk(fd2, F_SETLK, F_WRLCK, 0, 5));
	getlk("fd2 POSIX GETLK [0,5)", fd2, F_GETLK, F_WRLCK, 0, 5);
	say("POSIX lock [30,40)", lk(fd2, F_SETLK, F_WRLCK, 30, 10));
	getlk("fd1 OFD_GETLK [30,31)", fd1, F_OFD_GETLK, F_WRLCK, 30, 1);
	say("fd1 OFD lock on the POSIX range", lk(fd1, F_OFD_SETLK, F_WRLCK, 35, 1));

	int dup1 = SYS(dup(fd1));
	say("dup converts to a read lock", lk(dup1, F_OFD_SETLK, F_RDLCK, 0, 10));
	say("fd2 read lock [0,10)", lk(fd2, F_OFD_SETLK, F_RDLCK, 0, 10));
	say("fd2 write lock [0,10)", lk(fd2, F_OFD_SETLK, F_WRLCK, 0, 10));
	close(dup1);
	getlk("after closing the dup", fd2, F_OFD_GETLK, F_WRLCK, 0, 10);

	/* A forked child shares fd1's description, and its locks. */
	int go[2], held[2];
	SYS(pipe(go));
	SYS(pipe(held));
	fflush(stdout);
	pid_t pid = SYS(fork());
	if (pid == 0) {
		say("child: upgrade fd1's lock", lk(fd1, F_OFD_SETLK, F_WRLCK, 0, 10));
		int cfd = SYS(open(path, O_RDWR));
		say("child: new description", lk(cfd, F_OFD_SETLK, F_WRLCK, 50, 10));
		fflush(stdout);
		CHECK(write(held[1], "h", 1) == 1);
		char c;
		CHECK(read(go[0], &c, 1) == 1);
		close(cfd); /* releases [50,60) */
		_exit(0);
	}
	char c;
	CHECK(read(held[0], &c, 1) == 1);
	say("parent: fd2 on the child's lock", lk(fd2, F_OFD_SETLK, F_WRLCK, 55, 1));
	CHECK(write(go[1], "g", 1) == 1);
	say("parent: fd2 waits for it", lk(fd2, F_OFD_SETLKW, F_WRLCK, 55, 1));
	int st;
	SYS(waitpid(pid, &st, 0));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);

	/* Closing the last descriptor of fd1's description releases it. */
	close(fd1);
	say("fd2 after fd1's close", lk(fd2, F_OFD_SETLK, F_WRLCK, 0, 10));
	say("unlock part", lk(fd2, F_OFD_SETLK, F_UNLCK, 2, 3));
	int fd3 = SYS(open(path, O_RDWR));
	say("fd3 in the unlocked hole", lk(fd3, F_OFD_SETLK, F_WRLCK, 3, 1));
	say("fd3 next to it", lk(fd3, F_OFD_SETLK, F_WRLCK, 5, 1));

	/* Errors. */
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1, .l_pid = 1};
	say("l_pid set", fcntl(fd3, F_OFD_SETLK, &fl));
	say("bad type", lk(fd3, F_OFD_SETLK, 7, 0, 1));
	int ro = SYS(open(path, O_RDONLY));
	say("write lock on O_RDONLY", lk(ro, F_OFD_SETLK, F_WRLCK, 100, 1));
	say("read lock on O_RDONLY", lk(ro, F_OFD_SETLK, F_RDLCK, 100, 1));
	unlink(path);
	printf("ofdlock: ok\n");
	return 0;
}
