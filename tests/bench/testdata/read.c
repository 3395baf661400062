/* read N FILE: N reads of 4 KiB at offset 0 of FILE; prints nanoseconds per read. */
#include "bench.h"

#include <fcntl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: read N FILE\n");
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
