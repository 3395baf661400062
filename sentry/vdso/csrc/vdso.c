/*
 * Veil's vDSO: the time system calls answered in the application's own
 * address space, without a trip through the Sentry.
 *
 * The Sentry maps this shared object into every address space (the
 * "[vdso]" mapping, AT_SYSINFO_EHDR) with one read-only data page, the
 * "[vvar]" mapping, directly below it. The data page holds the parameters
 * that turn a TSC reading into CLOCK_MONOTONIC and CLOCK_REALTIME:
 *
 *	ns = base + ((tsc - tsc_base) * mult) >> 32
 *
 * The Sentry rewrites them about once a second (see ../timekeeper.go).
 * When the host's TSC cannot be trusted the page says so (mode !=
 * VVAR_MODE_TSC) and every function here makes the real system call, which
 * the Sentry serves as if there were no vDSO.
 *
 * This file is built by ../mkimage.go (go generate) into vdso_image.go; the
 * Go build never needs a C compiler. Rules for the code: no writable data,
 * no relocations, no calls into anything (it is linked with -nostdlib),
 * little stack.
 */
#include <stddef.h>
#include <stdint.h>

/* The data page layout. Mirrored by the constants in ../layout.go. */
struct vvar_params {
	uint64_t tsc_base;  /* TSC at the anchor */
	uint64_t mono_base; /* CLOCK_MONOTONIC at tsc_base, in ns */
	uint64_t real_base; /* CLOCK_REALTIME at tsc_base, in ns since the epoch */
	uint64_t mult;      /* ns per TSC tick, times 2^32 */
};

struct vvar {
	/*
	 * seq counts updates. The Sentry writes the parameters into
	 * params[(seq + 1) & 1], which no reader is using, and then
	 * increments seq; readers use params[seq & 1] and retry if seq
	 * changed meanwhile (a "latch": readers never wait for a writer).
	 */
	uint32_t seq;
	uint32_t mode;
	uint64_t reserved;
	struct vvar_params params[2];
};

_Static_assert(offsetof(struct vvar, seq) == 0, "layout.go: offSeq");
_Static_assert(offsetof(struct vvar, mode) == 4, "layout.go: offMode");
_Static_assert(offsetof(struct vvar, params) == 16, "layout.go: offParams");
_Static_assert(sizeof(struct vvar_params) == 32, "layout.go: paramsSize");

#define VVAR_MODE_TSC 1
#define VVAR_PAGE_SIZE 4096

#define NSEC_PER_SEC 1000000000ULL

/* Linux ABI. */
typedef long kernel_time_t;
struct kernel_timespec {
	kernel_time_t tv_sec;
	long tv_nsec;
};
struct kernel_timeval {
	kernel_time_t tv_sec;
	long tv_usec;
};
struct kernel_timezone {
	int tz_minuteswest;
	int tz_dsttime;
};

#define CLOCK_REALTIME 0
#define CLOCK_MONOTONIC 1
#define CLOCK_MONOTONIC_RAW 4
#define CLOCK_REALTIME_COARSE 5
#define CLOCK_MONOTONIC_COARSE 6
#define CLOCK_BOOTTIME 7
#define CLOCK_TAI 11

#define SYS_gettimeofday 96
#define SYS_time 201
#define SYS_clock_gettime 228
#define SYS_clock_getres 229
#define SYS_getcpu 309

/* The resolutions the Sentry's clock_getres(2) reports. */
#define RES_HIGH 1
#define RES_COARSE 4000000

#define barrier() __asm__ __volatile__("" ::: "memory")

/* The data page sits right below the ELF header, at the start of the
 * image. */
extern const char __ehdr_start[] __attribute__((visibility("hidden")));

static inline const volatile struct vvar *vvar(void)
{
	const volatile struct vvar *v;
	__asm__("lea __ehdr_start-%c1(%%rip), %0" : "=r"(v) : "i"(VVAR_PAGE_SIZE));
	return v;
}

/* rdtsc, not executed before the loads that precede it. */
static inline uint64_t rdtsc_ordered(void)
{
	uint32_t lo, hi;
	__asm__ __volatile__("lfence\n\trdtsc" : "=a"(lo), "=d"(hi) : : "memory");
	return ((uint64_t)hi << 32) | lo;
}

static inline long syscall2(long nr, long a, long b)
{
	long ret;
	__asm__ __volatile__("syscall"
			     : "=a"(ret)
			     : "0"(nr), "D"(a), "S"(b)
			     : "rcx", "r11", "memory");
	return ret;
}

/*
 * read_clock stores CLOCK_REALTIME (real != 0) or CLOCK_MONOTONIC in ns
 * and returns 1, or returns 0 when the caller must make the system call.
 */
static inline int read_clock(int real, uint64_t *ns)
{
	const volatile struct vvar *v = vvar();
	uint32_t seq;
	uint64_t base, tsc_base, mult, now;

	do {
		seq = v->seq;
		barrier();
		if (v->mode != VVAR_MODE_TSC)
			return 0;
		const volatile struct vvar_params *p = &v->params[seq & 1];
		tsc_base = p->tsc_base;
		mult = p->mult;
		base = real ? p->real_base : p->mono_base;
		now = rdtsc_ordered();
		barrier();
	} while (v->seq != seq);

	/* A TSC behind the anchor (only possible within the margin the
	 * Sentry leaves when it moves the anchor) reads as the anchor. */
	uint64_t delta = now > tsc_base ? now - tsc_base : 0;
	*ns = base + (uint64_t)(((unsigned __int128)delta * mult) >> 32);
	return 1;
}

/* Which of the two clocks a clock id reads, as the Sentry maps them: 1 for
 * CLOCK_REALTIME, 0 for CLOCK_MONOTONIC, -1 for the kernel to handle. */
static inline int clock_kind(long id)
{
	switch (id) {
	case CLOCK_REALTIME:
	case CLOCK_REALTIME_COARSE:
	case CLOCK_TAI:
		return 1;
	case CLOCK_MONOTONIC:
	case CLOCK_MONOTONIC_COARSE:
	case CLOCK_MONOTONIC_RAW:
	case CLOCK_BOOTTIME:
		return 0;
	}
	return -1;
}

#define EXPORT __attribute__((visibility("default")))

EXPORT int __vdso_clock_gettime(long clock, struct kernel_timespec *ts)
{
	int kind = clock_kind(clock);
	uint64_t ns;

	if (kind < 0 || !read_clock(kind, &ns))
		return syscall2(SYS_clock_gettime, clock, (long)ts);
	ts->tv_sec = ns / NSEC_PER_SEC;
	ts->tv_nsec = ns % NSEC_PER_SEC;
	return 0;
}

EXPORT int __vdso_gettimeofday(struct kernel_timeval *tv, struct kernel_timezone *tz)
{
	uint64_t ns;

	if (!read_clock(1, &ns))
		return syscall2(SYS_gettimeofday, (long)tv, (long)tz);
	if (tv) {
		tv->tv_sec = ns / NSEC_PER_SEC;
		tv->tv_usec = ns % NSEC_PER_SEC / 1000;
	}
	if (tz) {
		/* The Sentry's time zone is UTC. */
		tz->tz_minuteswest = 0;
		tz->tz_dsttime = 0;
	}
	return 0;
}

EXPORT kernel_time_t __vdso_time(kernel_time_t *t)
{
	uint64_t ns;

	if (!read_clock(1, &ns))
		return syscall2(SYS_time, (long)t, 0);
	kernel_time_t secs = ns / NSEC_PER_SEC;
	if (t)
		*t = secs;
	return secs;
}

EXPORT int __vdso_clock_getres(long clock, struct kernel_timespec *res)
{
	long r;

	switch (clock) {
	case CLOCK_REALTIME:
	case CLOCK_MONOTONIC:
	case CLOCK_MONOTONIC_RAW:
	case CLOCK_BOOTTIME:
	case CLOCK_TAI:
		r = RES_HIGH;
		break;
	case CLOCK_REALTIME_COARSE:
	case CLOCK_MONOTONIC_COARSE:
		r = RES_COARSE;
		break;
	default:
		return syscall2(SYS_clock_getres, clock, (long)res);
	}
	if (res) {
		res->tv_sec = 0;
		res->tv_nsec = r;
	}
	return 0;
}

/* The Sentry has one virtual CPU and NUMA node as far as getcpu(2) goes;
 * the vDSO answers the same without entering it. */
EXPORT long __vdso_getcpu(unsigned *cpu, unsigned *node, void *cache)
{
	(void)cache;
	if (cpu)
		*cpu = 0;
	if (node)
		*node = 0;
	return 0;
}

/* The unprefixed names Linux's vDSO also exports. */
int clock_gettime(long, struct kernel_timespec *) __attribute__((weak, alias("__vdso_clock_gettime")));
int gettimeofday(struct kernel_timeval *, struct kernel_timezone *)
	__attribute__((weak, alias("__vdso_gettimeofday")));
kernel_time_t time(kernel_time_t *) __attribute__((weak, alias("__vdso_time")));
int clock_getres(long, struct kernel_timespec *) __attribute__((weak, alias("__vdso_clock_getres")));
long getcpu(unsigned *, unsigned *, void *) __attribute__((weak, alias("__vdso_getcpu")));
