/* Shared helpers for the benchmark programs (see tests/bench/main.go). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline long arg_n(int argc, char **argv, long def)
{
	if (argc > 1) {
		long n = atol(argv[1]);
		if (n > 0)
			return n;
	}
	return def;
}
