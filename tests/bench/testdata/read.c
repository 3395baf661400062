/* read N FILE [DIR]: N reads of 4 KiB at offset 0 of FILE, or of a copy of
 * its first 4 KiB made in DIR (a tmpfs, so that no host file system is
 * involved); prints nanoseconds per read. */
#include "bench.h"

#include <fcntl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: read N FILE [DIR]\n");
		return 2;
	}
	long n = arg_n(argc, argv, 2000);
	int fd = open(argv[2], O_RDONLY);
	if (fd < 0) {
		perror(argv[2]);
		return 1;
	}
	static char buf[4096];
	if (pread(fd, buf, sizeof buf, 0) != (ssize_t)sizeof buf) {
		fprintf(stderr, "read: %s is shorter than 4 KiB\n", argv[2]);
		return 1;
	}
	if (argc == 4) {
		char path[4096];
		snprintf(path, sizeof path, "%s/veil-read-bench.%d", argv[3], (int)getpid());
		int wfd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
		if (wfd < 0 || pwrite(wfd, buf, sizeof buf, 0) != (ssize_t)sizeof buf) {
			perror(path);
			return 1;
		}
		unlink(path);
		close(fd);
		fd = wfd;
	}
	long long t0 = now_ns();
	for (long i = 0; i < n; i++) {
		if (pread(fd, buf, sizeof buf, 0) != (ssize_t)sizeof buf) {
			perror("pread");
			return 1;
		}
	}
	long long t1 = now_ns();
	printf("%.1f\n", (double)(t1 - t0) / (double)n);
	return 0;
}
