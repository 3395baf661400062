/*
 * Shared helpers for Veil's end-to-end test programs.
 *
 * Every program prints deterministic lines on stdout (the e2e tests compare
 * them byte for byte with a native run of the same binary) and, on any
 * failed self-check, prints "<prog>: FAIL file:line: reason" on stderr and
 * exits with status 99.
 */
#ifndef VEILTEST_H
#define VEILTEST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *veil_prog = "?";

#define FAIL(...)                                                        \
	do {                                                             \
		fflush(stdout);                                          \
		fprintf(stderr, "%s: FAIL %s:%d: ", veil_prog, __FILE__, \
			__LINE__);                                       \
		fprintf(stderr, __VA_ARGS__);                            \
		fprintf(stderr, "\n");                                   \
		exit(99);                                                \
	} while (0)

/* CHECK fails with errno context when cond is false. */
#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond))                                               \
			FAIL("check failed: %s (errno=%d %s)", #cond, errno, \
			     strerror(errno));                             \
	} while (0)

/* SYS evaluates a libc call that returns -1 on error and fails on error. */
#define SYS(call)                                                      \
	({                                                             \
		long _r = (long)(call);                                \
		if (_r == -1)                                          \
			FAIL("%s: errno=%d %s", #call, errno,          \
			     strerror(errno));                         \
		_r;                                                    \
	})

static inline void veil_init(const char *name)
{
	veil_prog = name;
	/* Line buffered even into a pipe; also flushed before every fork. */
	setvbuf(stdout, NULL, _IOLBF, 0);
}

#endif
