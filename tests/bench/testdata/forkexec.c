/* forkexec N PATH: N times fork, execve(PATH), waitpid; prints microseconds per iteration. */
#include "bench.h"

#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: forkexec N PATH\n");
		return 2;
	}
	long n = arg_n(argc, argv, 100);
	char *cargv[] = {argv[2], NULL};
	char *cenv[] = {NULL};
	long long t0 = now_ns();
	for (long i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			execve(argv[2], cargv, cenv);
			_exit(127);
		}
		int st;
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "forkexec: child failed (status 0x%x)\n", st);
			return 1;
		}
	}
	long long t1 = now_ns();
	printf("%.1f\n", (double)(t1 - t0) / (double)n / 1000.0);
	return 0;
}
