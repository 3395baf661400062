/*
 * Exec target for exec.c: prints its argv and envp (except VEIL_PID, whose
 * value is not deterministic), optionally checks that the pid survived the
 * execve and which file descriptors survived it, and exits with argc.
 */
#include "veiltest.h"

#include <fcntl.h>
#include <sys/prctl.h>

int main(int argc, char **argv, char **envp)
{
	veil_init("echoargs");
	printf("echoargs: argc=%d\n", argc);
	for (int i = 0; i < argc; i++)
		printf("echoargs: argv[%d]=\"%s\"\n", i, argv[i]);
	CHECK(argv[argc] == NULL);
	for (char **e = envp; *e; e++) {
		if (strncmp(*e, "VEIL_PID=", 9) == 0)
			continue;
		printf("echoargs: env \"%s\"\n", *e);
	}
	if (getenv("VEIL_SHOW_EXE")) {
		/* For script.c: the program that runs (the interpreter of a
		 * script) and the name the kernel gave the process. */
		char exe[512], comm[17] = {0};
		ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
		CHECK(n > 0);
		exe[n] = 0;
		CHECK(prctl(PR_GET_NAME, comm) == 0);
		printf("echoargs: exe=\"%s\" comm=\"%s\"\n", exe, comm);
	}
	const char *want_pid = getenv("VEIL_PID");
	if (want_pid) {
		if (atoi(want_pid) != getpid())
			FAIL("pid changed across execve: was %s, now %d", want_pid,
			     (int)getpid());
		printf("echoargs: pid preserved across execve\n");
	}
	if (getenv("VEIL_CHECK_FDS")) {
		errno = 0;
		if (fcntl(10, F_GETFD) != -1 || errno != EBADF)
			FAIL("close-on-exec fd 10 still open after execve");
		CHECK(fcntl(11, F_GETFD) == 0);
		char c;
		CHECK(pread(11, &c, 1, 0) == 1);
		printf("echoargs: O_CLOEXEC fd closed, other fd kept\n");
	}
	return argc;
}
