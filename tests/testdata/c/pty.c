/*
 * Pseudo-terminals made inside the program: posix_openpt, grantpt,
 * unlockpt and ptsname give a slave under /dev/pts (TIOCGPTN and
 * TIOCGPTPEER agree); a child in a new session makes it its controlling
 * terminal by opening it; the line discipline echoes and edits canonical
 * lines (erase, word erase), turns ^C into SIGINT for the child's process
 * group only, a window size change into SIGWINCH, honours VMIN in raw
 * mode; the master reads EIO once the slave is closed; closing the master
 * hangs the slave up (SIGHUP to the session leader, read 0, write EIO).
 * The parent prints what the master reads, escaped.
 */
#include "veiltest.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

static int master;
static char acc[8192];
static size_t acclen;

/* expect reads the master until what it read contains want, and prints
 * it escaped. */
static void expect(const char *what, const char *want)
{
	acclen = 0;
	acc[0] = 0;
	while (!strstr(acc, want)) {
		CHECK(acclen < sizeof acc - 1);
		ssize_t n = read(master, acc + acclen, sizeof acc - 1 - acclen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			FAIL("%s: master read %zd (errno %d) before %s; had \"%s\"", what, n, errno, want, acc);
		acclen += n;
		acc[acclen] = 0;
	}
	printf("pty: %s: \"", what);
	for (size_t i = 0; i < acclen; i++) {
		unsigned char c = acc[i];
		if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"')
			putchar(c);
		else
			printf("\\x%02x", c);
	}
	printf("\"\n");
}

static void type(const char *s) { CHECK(write(master, s, strlen(s)) == (ssize_t)strlen(s)); }

static volatile sig_atomic_t got_int, got_winch, got_hup;
static void on_int(int s) { (void)s; got_int++; }
static void on_winch(int s) { (void)s; got_winch++; }
static void on_hup(int s) { (void)s; got_hup++; }

static void say(int fd, const char *s) { CHECK(write(fd, s, strlen(s)) == (ssize_t)strlen(s)); }

/* child runs on the slave: it reports what it reads and the signals it
 * gets, waiting in ppoll with the signals unblocked only there. */
static void child(const char *name)
{
	SYS(close(master));
	SYS(setsid());
	int s = SYS(open(name, O_RDWR));
	CHECK(tcgetpgrp(s) == getpid());
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_int;
	SYS(sigaction(SIGINT, &sa, NULL));
	sa.sa_handler = on_winch;
	SYS(sigaction(SIGWINCH, &sa, NULL));
	sigset_t block, empty;
	sigemptyset(&block);
	sigemptyset(&empty);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGWINCH);
	SYS(sigprocmask(SIG_BLOCK, &block, NULL));
	say(s, "child ready\n");
	char buf[256], msg[300];
	for (;;) {
		if (got_int) {
			got_int = 0;
			say(s, "child: SIGINT\n");
			continue;
		}
		if (got_winch) {
			got_winch = 0;
			struct winsize ws;
			SYS(ioctl(s, TIOCGWINSZ, &ws));
			snprintf(msg, sizeof msg, "child: SIGWINCH %dx%d\n", ws.ws_row, ws.ws_col);
			say(s, msg);
			continue;
		}
		struct pollfd p = {s, POLLIN, 0};
		if (ppoll(&p, 1, NULL, &empty) < 0) {
			CHECK(errno == EINTR);
			continue;
		}
		ssize_t n = SYS(read(s, buf, sizeof buf - 1));
		buf[n] = 0;
		if (strcmp(buf, "quit\n") == 0)
			break;
		if (strcmp(buf, "raw\n") == 0) {
			struct termios t, saved;
			SYS(tcgetattr(s, &t));
			saved = t;
			t.c_lflag &= ~(ICANON | ECHO);
			t.c_cc[VMIN] = 3;
			t.c_cc[VTIME] = 0;
			SYS(tcsetattr(s, TCSANOW, &t));
			say(s, "child: raw on\n");
			struct pollfd q = {s, POLLIN, 0};
			SYS(poll(&q, 1, -1));
			n = SYS(read(s, buf, sizeof buf - 1));
			buf[n] = 0;
			snprintf(msg, sizeof msg, "child: raw read %zd \"%s\"\n", n, buf);
			say(s, msg);
			SYS(tcsetattr(s, TCSANOW, &saved));
			say(s, "child: cooked again\n");
			continue;
		}
		snprintf(msg, sizeof msg, "child got \"%.*s\"\n", (int)(n - 1), buf);
		say(s, msg);
	}
	exit(0);
}

/* hangup_child waits on the slave for the master to close, then reports
 * in its exit status: 1 SIGHUP seen, 2 read gave 0, 4 write gave EIO. */
static void hangup_child(const char *name)
{
	SYS(close(master));
	SYS(setsid());
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_hup;
	SYS(sigaction(SIGHUP, &sa, NULL));
	int s = SYS(open(name, O_RDWR));
	say(s, "hangup child ready\n");
	while (!got_hup)
		pause();
	int st = 1;
	char c;
	if (read(s, &c, 1) == 0)
		st |= 2;
	if (write(s, "x", 1) < 0 && errno == EIO)
		st |= 4;
	exit(st);
}

int main(void)
{
	veil_init("pty");
	master = SYS(posix_openpt(O_RDWR | O_NOCTTY));
	SYS(grantpt(master));
	SYS(unlockpt(master));
	char *p = ptsname(master);
	CHECK(p != NULL);
	char name[64];
	snprintf(name, sizeof name, "%s", p);
	CHECK(strncmp(name, "/dev/pts/", 9) == 0);
	unsigned int n;
	SYS(ioctl(master, TIOCGPTN, &n));
	char want[64];
	snprintf(want, sizeof want, "/dev/pts/%u", n);
	CHECK(strcmp(name, want) == 0);
	struct stat st, pst;
	SYS(stat(name, &st));
	CHECK(S_ISCHR(st.st_mode) && major(st.st_rdev) == 136 && minor(st.st_rdev) == n);
	CHECK(st.st_uid == getuid());
	int peer = SYS(ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY));
	SYS(fstat(peer, &pst));
	CHECK(pst.st_rdev == st.st_rdev);
	CHECK(isatty(peer) && !isatty(-1));
	char *tn = ttyname(peer);
	CHECK(tn != NULL && strcmp(tn, name) == 0);
	printf("pty: ptsname, TIOCGPTN, TIOCGPTPEER and ttyname agree\n");

	struct termios t;
	SYS(tcgetattr(master, &t));
	CHECK((t.c_lflag & (ICANON | ECHO | ISIG)) == (ICANON | ECHO | ISIG));
	CHECK(t.c_cc[VINTR] == 3 && t.c_cc[VERASE] == 0x7f && t.c_cc[VWERASE] == 0x17);
	CHECK((t.c_oflag & (OPOST | ONLCR)) == (OPOST | ONLCR) && (t.c_iflag & ICRNL));
	printf("pty: default settings: canonical, echo, signals\n");
	struct winsize ws = {24, 80, 0, 0};
	SYS(ioctl(master, TIOCSWINSZ, &ws));

	/* SIGINT from the terminal must reach the child's group only. */
	signal(SIGINT, on_int);
	fflush(stdout);
	pid_t c = SYS(fork());
	if (c == 0)
		child(name);
	/* Until the child has the slave open, the peer keeps the master
	 * from reading EIO. */
	expect("child's first output", "child ready\r\n");
	SYS(close(peer));
	pid_t fg;
	SYS(ioctl(master, TIOCGPGRP, &fg));
	CHECK(fg == c);
	printf("pty: the master sees the child's group in the foreground\n");

	type("helo\x7flo wor\x17world\r");
	expect("canonical editing", "child got \"hello world\"\r\n");
	type("\x03");
	expect("^C", "child: SIGINT\r\n");
	CHECK(got_int == 0);
	ws.ws_row = 30;
	ws.ws_col = 100;
	SYS(ioctl(master, TIOCSWINSZ, &ws));
	expect("window size change", "child: SIGWINCH 30x100\r\n");
	type("raw\r");
	expect("switch to raw mode", "child: raw on\r\n");
	type("xyz");
	expect("raw read with VMIN=3", "child: cooked again\r\n");
	type("quit\r");
	expect("quit", "quit\r\n");
	int status;
	SYS(waitpid(c, &status, 0));
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	char buf[64];
	ssize_t r;
	while ((r = read(master, buf, sizeof buf)) > 0)
		;
	CHECK(r == -1 && errno == EIO);
	struct pollfd pf = {master, POLLIN, 0};
	SYS(poll(&pf, 1, 0));
	CHECK(pf.revents & POLLHUP);
	printf("pty: the master reads EIO and polls POLLHUP once the slave is closed\n");

	/* Packet mode: a status byte before data, flushes and flow control
	 * changes alone. */
	int on = 1;
	SYS(ioctl(master, TIOCPKT, &on));
	peer = SYS(ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY));
	SYS(write(peer, "ab", 2));
	unsigned char pk[16];
	CHECK(read(master, pk, sizeof pk) == 3 && pk[0] == TIOCPKT_DATA && pk[1] == 'a');
	SYS(tcflush(peer, TCIFLUSH));
	CHECK(read(master, pk, sizeof pk) == 1 && pk[0] == TIOCPKT_FLUSHREAD);
	type("\x13");
	CHECK(read(master, pk, sizeof pk) == 1 && pk[0] == TIOCPKT_STOP);
	type("\x11");
	CHECK(read(master, pk, sizeof pk) == 1 && pk[0] == TIOCPKT_START);
	SYS(tcgetattr(peer, &t));
	t.c_iflag &= ~IXON;
	SYS(tcsetattr(peer, TCSANOW, &t));
	CHECK(read(master, pk, sizeof pk) == 1 && pk[0] == TIOCPKT_NOSTOP);
	on = 0;
	SYS(ioctl(master, TIOCPKT, &on));
	SYS(close(peer));
	printf("pty: packet mode: data, flush, stop, start, nostop\n");

	fflush(stdout);
	c = SYS(fork());
	if (c == 0)
		hangup_child(name);
	peer = SYS(ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY));
	expect("hangup child", "hangup child ready\r\n");
	SYS(close(peer));
	SYS(close(master));
	SYS(waitpid(c, &status, 0));
	CHECK(WIFEXITED(status));
	printf("pty: after the master closed: SIGHUP %s, read %s, write %s\n",
	       WEXITSTATUS(status) & 1 ? "yes" : "no", WEXITSTATUS(status) & 2 ? "0" : "not 0",
	       WEXITSTATUS(status) & 4 ? "EIO" : "not EIO");
	CHECK(access(name, F_OK) == -1 && errno == ENOENT);
	printf("pty: %s is gone\n", "the slave");
	printf("pty: ok\n");
	return 0;
}
