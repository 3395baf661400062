/*
 * execve of another static program (argv[1]: path of echoargs): first from
 * a forked child (the parent collects the child's exit code), then an
 * execve of a missing file (ENOENT), then the process itself execs with
 * chosen argv/envp and close-on-exec descriptors; echoargs exits with its
 * argc (4), which becomes this process's exit code.
 */
#include "veiltest.h"

#include <fcntl.h>
#include <sys/wait.h>

int main(int argc, char **argv)
{
	veil_init("exec");
	if (argc != 2)
		FAIL("usage: exec PATH-TO-ECHOARGS");
	const char *target = argv[1];

	fflush(stdout);
	pid_t pid = SYS(fork());
	if (pid == 0) {
		char *cargv[] = {"echoargs", "child", "x y", NULL};
		char *cenv[] = {"VEIL_MODE=child", NULL};
		execve(target, cargv, cenv);
		fprintf(stderr, "exec: child execve: %s\n", strerror(errno));
		_exit(127);
	}
	int st;
	CHECK(waitpid(pid, &st, 0) == pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 3)
		FAIL("exec'd child: status 0x%x, want exit 3", st);
	printf("exec: child execve exited with %d\n", WEXITSTATUS(st));

	char *nargv[] = {"nope", NULL};
	errno = 0;
	CHECK(execve("/nonexistent/veil-no-such-program", nargv, nargv + 1) == -1);
	CHECK(errno == ENOENT);
	printf("exec: execve of a missing file gives ENOENT\n");

	int fd = SYS(open(target, O_RDONLY));
	SYS(dup2(fd, 10));
	SYS(dup2(fd, 11));
	SYS(close(fd));
	SYS(fcntl(10, F_SETFD, FD_CLOEXEC));
	CHECK(fcntl(11, F_GETFD) == 0);

	char pidenv[64];
	snprintf(pidenv, sizeof pidenv, "VEIL_PID=%d", (int)getpid());
	char *xargv[] = {"echoargs", "alpha", "beta gamma", "", NULL};
	char *xenv[] = {"VEIL_A=1", "VEIL_B=two words", pidenv, "VEIL_CHECK_FDS=1", NULL};
	printf("exec: replacing myself\n");
	fflush(stdout);
	execve(target, xargv, xenv);
	FAIL("execve: %s", strerror(errno));
}
