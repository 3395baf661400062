/*
 * Address space calls as Linux answers them: mremap(2) (shrink, grow in
 * place, MREMAP_MAYMOVE moving the pages and unmapping the source,
 * MREMAP_FIXED, MREMAP_DONTUNMAP on anonymous, file and shared mappings,
 * duplicating a shared mapping with old size 0, and the errors), mmap(2)
 * and mprotect(2) argument checks (types, flags, alignment, length,
 * offsets), msync(2), mincore(2), madvise(2) (MADV_DONTNEED zeroes
 * private memory, MADV_FREE, MADV_REMOVE on shared memory,
 * MADV_WIPEONFORK and MADV_DONTFORK across fork, unknown advice), mlock(2),
 * mlock2(2), mlockall(2). The expected answers were taken from Linux 6.18;
 * the output is deterministic (no addresses). (Arguments of one printf are
 * evaluated in no set order: calls come first, in statements of their
 * own.)
 */
#include "veiltest.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define P 4096L

static const char *err(long r)
{
	if (r != -1)
		return "ok";
	switch (errno) {
	case EINVAL: return "EINVAL";
	case ENOMEM: return "ENOMEM";
	case EFAULT: return "EFAULT";
	case EAGAIN: return "EAGAIN";
	case EBADF: return "EBADF";
	case EOVERFLOW: return "EOVERFLOW";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case EEXIST: return "EEXIST";
	case EBUSY: return "EBUSY";
	case EPERM: return "EPERM";
	}
	return strerror(errno);
}

static const char *errp(void *p) { return err(p == MAP_FAILED ? -1 : 0); }

/* mremap with all five arguments (glibc reads new_address only for some
 * flags). */
static char *remap(void *old, long oldsz, long newsz, int flags, void *new)
{
	return (char *)syscall(SYS_mremap, old, oldsz, newsz, flags, new);
}

static int mapped(char *p)
{
	unsigned char v;
	return mincore(p, P, &v) == 0;
}

static const char *yes(int c) { return c ? "yes" : "no"; }

/* An address nothing is mapped at: far from the executable, the heap and
 * the mmap area. */
#define HOLE ((char *)0x200000000000UL)

/* A 256-page region nothing else uses: parts are mapped at fixed offsets. */
static char *A;
static char *at(long page, long pages)
{
	char *p = mmap(A + page * P, pages * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	CHECK(p != MAP_FAILED);
	return p;
}

static void mremaps(void)
{
	A = mmap(NULL, 256 * P, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(A != MAP_FAILED);
	SYS(munmap(A, 256 * P));

	printf("mremap shrink of nothing: %s\n", errp(remap(A + 10 * P, 2 * P, P, 0, 0)));
	printf("mremap same size of nothing: %s\n", errp(remap(A + 10 * P, P, P, 0, 0)));

	char *b = at(20, 4);
	char *r = remap(b + 2 * P, 4 * P, P, 0, 0);
	printf("mremap shrink past the mapping's end: %s at the same place %s; tail gone %s\n", errp(r),
	       yes(r == b + 2 * P), yes(mapped(b + 2 * P) && !mapped(b + 3 * P)));
	char *d = at(40, 4);
	SYS(mprotect(d + P, P, PROT_READ));
	r = remap(d, 4 * P, P, 0, 0);
	printf("mremap shrink across mappings: %s; rest gone %s\n", errp(r),
	       yes(mapped(d) && !mapped(d + P) && !mapped(d + 2 * P)));
	char *e = at(60, 4);
	printf("mremap same size past the end: %s\n", errp(remap(e, 8 * P, 8 * P, 0, 0)));

	char *f = at(80, 4);
	SYS(mprotect(f + 2 * P, P, PROT_READ));
	printf("mremap grow across mappings: %s\n", errp(remap(f, 3 * P, 5 * P, MREMAP_MAYMOVE, 0)));

	char *g = at(100, 2);
	at(102, 1);
	g[0] = 7;
	printf("mremap grow into a mapping: %s\n", errp(remap(g, 2 * P, 3 * P, 0, 0)));
	printf("mremap grow of a part not at the end: %s\n", errp(remap(g, P, 2 * P, 0, 0)));
	char *mv = remap(g, P, 2 * P, MREMAP_MAYMOVE, 0);
	printf("mremap MAYMOVE of that part: %s; moved %s, source gone %s, data moved %s, rest stays %s\n", errp(mv),
	       yes(mv != g), yes(!mapped(g)), yes(mv != MAP_FAILED && mv[0] == 7), yes(mapped(g + P)));

	char *h = at(110, 2);
	h[P] = 3;
	r = remap(h, 2 * P, 4 * P, 0, 0);
	printf("mremap grow in place: %s same place %s data kept %s new part zero %s\n", errp(r), yes(r == h),
	       yes(h[P] == 3), yes(h[3 * P] == 0));

	char *i = at(120, 4);
	i[0] = 9;
	char *dst = A + 140 * P;
	at(140, 1)[0] = 1;
	r = remap(i, 4 * P, 2 * P, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	printf("mremap FIXED with shrink: %s to the address %s data %s source gone %s\n", errp(r), yes(r == dst),
	       yes(dst[0] == 9), yes(!mapped(i) && !mapped(i + 3 * P)));

	char *j = at(160, 2), *k = at(170, 2);
	r = remap(j + 8 * P, P, P, MREMAP_MAYMOVE | MREMAP_FIXED, k);
	printf("mremap FIXED from nothing: %s, destination kept %s\n", errp(r), yes(mapped(k)));
	printf("mremap FIXED overlapping: %s\n", errp(remap(j, 2 * P, 2 * P, MREMAP_MAYMOVE | MREMAP_FIXED, j + P)));
	printf("mremap FIXED unaligned: %s\n", errp(remap(j, P, P, MREMAP_MAYMOVE | MREMAP_FIXED, j + 1)));
	printf("mremap FIXED without MAYMOVE: %s\n", errp(remap(j, P, P, MREMAP_FIXED, k)));
	printf("mremap new size 0: %s\n", errp(remap(j, P, 0, MREMAP_MAYMOVE, 0)));
	printf("mremap unaligned: %s\n", errp(remap(j + 1, P, P, 0, 0)));
	printf("mremap unknown flag: %s\n", errp(remap(j, P, P, 8, 0)));
	printf("mremap huge new size: %s\n", errp(remap(j, P, 1L << 62, MREMAP_MAYMOVE, 0)));
	printf("mremap DONTUNMAP without MAYMOVE: %s\n", errp(remap(j, P, P, MREMAP_DONTUNMAP, 0)));
	printf("mremap DONTUNMAP resizing: %s\n", errp(remap(j, P, 2 * P, MREMAP_DONTUNMAP | MREMAP_MAYMOVE, 0)));
	printf("mremap old size 0 of private memory: %s\n", errp(remap(j, 0, P, MREMAP_MAYMOVE, 0)));

	char *l = at(200, 2);
	l[0] = 3, l[P] = 4;
	r = remap(l, 2 * P, 2 * P, MREMAP_DONTUNMAP | MREMAP_MAYMOVE, 0);
	printf("mremap DONTUNMAP anonymous: %s; new has the data %s, old still mapped %s and zero %s\n", errp(r),
	       yes(r != MAP_FAILED && r[0] == 3 && r[P] == 4), yes(mapped(l)), yes(l[0] == 0 && l[P] == 0));
	char *fx = A + 230 * P;
	l[0] = 5;
	r = remap(l, P, P, MREMAP_DONTUNMAP | MREMAP_MAYMOVE | MREMAP_FIXED, fx);
	printf("mremap DONTUNMAP FIXED: %s at the address %s data %s\n", errp(r), yes(r == fx), yes(fx[0] == 5));

	int fd = SYS(memfd_create("memory", 0));
	SYS(ftruncate(fd, 4 * P));
	char *s = mmap(NULL, P, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(s != MAP_FAILED);
	s[0] = 5;
	r = remap(s, P, P, MREMAP_DONTUNMAP | MREMAP_MAYMOVE, 0);
	printf("mremap DONTUNMAP shared: %s; both see the file: %s\n", errp(r), yes(r[0] == 5 && s[0] == 5));
	char *fp = mmap(NULL, P, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	fp[1] = 9;
	r = remap(fp, P, P, MREMAP_DONTUNMAP | MREMAP_MAYMOVE, 0);
	printf("mremap DONTUNMAP private file: %s; new has the copy %s, old reads the file %s\n", errp(r),
	       yes(r[1] == 9), yes(fp[0] == 5 && fp[1] == 0));
	r = remap(s, 0, 2 * P, MREMAP_MAYMOVE, 0);
	printf("mremap old size 0 of a shared mapping: %s; a second view: %s\n", errp(r),
	       yes(r != MAP_FAILED && (s[0] = 6, r[0] == 6)));
	printf("mremap old size 0 without MAYMOVE: %s\n", errp(remap(s, 0, 2 * P, 0, 0)));
	close(fd);
}

static void mmaps(void)
{
	int fd = SYS(memfd_create("mmaps", 0));
	SYS(ftruncate(fd, 4 * P));
	const int anon = MAP_PRIVATE | MAP_ANONYMOUS;
	printf("mmap length 0: %s\n", errp(mmap(NULL, 0, PROT_READ, anon, -1, 0)));
	printf("mmap length -1: %s\n", errp(mmap(NULL, -1UL, PROT_READ, anon, -1, 0)));
	printf("mmap 2^47 bytes: %s\n", errp(mmap(NULL, 1UL << 47, PROT_READ, anon, -1, 0)));
	printf("mmap no type: %s\n", errp(mmap(NULL, P, PROT_READ, MAP_ANONYMOUS, -1, 0)));
	printf("mmap SHARED|PRIVATE: %s\n", errp(mmap(NULL, P, PROT_READ, MAP_SHARED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)));
	printf("mmap SHARED_VALIDATE anonymous: %s\n", errp(mmap(NULL, P, PROT_READ, MAP_SHARED_VALIDATE | MAP_ANONYMOUS, -1, 0)));
	printf("mmap SHARED_VALIDATE file: %s\n", errp(mmap(NULL, P, PROT_READ, MAP_SHARED_VALIDATE, fd, 0)));
	printf("mmap SHARED_VALIDATE unknown flag: %s\n", errp(mmap(NULL, P, PROT_READ, MAP_SHARED_VALIDATE | 0x800000, fd, 0)));
	printf("mmap SHARED_VALIDATE MAP_SYNC: %s\n", errp(mmap(NULL, P, PROT_READ, MAP_SHARED_VALIDATE | MAP_SYNC, fd, 0)));
	printf("mmap SHARED unknown flag: %s\n", errp(mmap(NULL, P, PROT_READ, MAP_SHARED | 0x800000, fd, 0)));
	printf("mmap HUGETLB file: %s\n", errp(mmap(NULL, P, PROT_READ, MAP_PRIVATE | MAP_HUGETLB, fd, 0)));
	printf("mmap shared GROWSDOWN: %s\n", errp(mmap(NULL, P, PROT_READ, MAP_SHARED | MAP_ANONYMOUS | MAP_GROWSDOWN, -1, 0)));
	printf("mmap unknown prot bits: %s\n", errp(mmap(NULL, P, PROT_READ | 0x10, anon, -1, 0)));
	printf("mmap unaligned offset: %s\n", errp(mmap(NULL, P, PROT_READ, MAP_PRIVATE, fd, 1)));
	printf("mmap file offset past the largest file: %s\n", errp(mmap(NULL, P, PROT_READ, MAP_PRIVATE, fd, -P)));
	printf("mmap anonymous with that offset: %s\n", errp(mmap(NULL, P, PROT_READ, anon, -1, -P)));
	printf("mmap past end of file: %s\n", errp(mmap(NULL, P, PROT_READ, MAP_PRIVATE, fd, 100 * P)));
	printf("mmap bad fd: %s\n", errp(mmap(NULL, P, PROT_READ, MAP_PRIVATE, -1, 0)));
	printf("mmap FIXED unaligned: %s\n", errp(mmap((void *)(A + 1), P, PROT_READ, anon | MAP_FIXED, -1, 0)));
	char *x = mmap(NULL, P, PROT_READ, anon, -1, 0);
	printf("mmap FIXED_NOREPLACE over a mapping: %s\n", errp(mmap(x, P, PROT_READ, anon | MAP_FIXED_NOREPLACE, -1, 0)));
	char *lo = mmap(NULL, P, PROT_READ, anon | MAP_32BIT, -1, 0);
	printf("mmap MAP_32BIT below 2 GiB: %s\n", yes(lo != MAP_FAILED && (unsigned long)lo < 0x80000000UL));
	char *gd = mmap(NULL, P, PROT_READ | PROT_WRITE, anon | MAP_GROWSDOWN, -1, 0);
	printf("mprotect PROT_GROWSDOWN on a MAP_GROWSDOWN mapping: %s\n", err(mprotect(gd, P, PROT_READ | PROT_GROWSDOWN)));
	printf("mprotect PROT_SEM: %s\n", err(mprotect(x, P, PROT_READ | 0x8)));
	printf("mprotect unknown bit: %s\n", err(mprotect(x, P, 0x10)));
	printf("mprotect PROT_GROWSDOWN elsewhere: %s\n", err(mprotect(x, P, PROT_READ | PROT_GROWSDOWN)));
	printf("mprotect unaligned: %s\n", err(mprotect(x + 1, P, PROT_READ)));
	printf("mprotect length 0: %s\n", err(mprotect(x, 0, PROT_READ)));
	printf("mprotect of nothing: %s\n", err(mprotect(HOLE, P, PROT_READ)));
	printf("munmap length 0: %s\n", err(munmap(x, 0)));
	printf("munmap unaligned: %s\n", err(munmap(x + 1, P)));
	close(fd);
}

static void msyncs_mincore(void)
{
	int fd = SYS(memfd_create("msync", 0));
	SYS(ftruncate(fd, 4 * P));
	char *s = mmap(NULL, P, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	char *b = mmap(NULL, 4 * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	printf("msync unaligned: %s\n", err(msync(b + 1, P, MS_SYNC)));
	printf("msync SYNC|ASYNC: %s\n", err(msync(b, P, MS_SYNC | MS_ASYNC)));
	printf("msync unknown flag: %s\n", err(msync(b, P, 8)));
	printf("msync of nothing: %s\n", err(msync(HOLE, P, MS_SYNC)));
	printf("msync length 0: %s\n", err(msync(b, 0, MS_SYNC)));
	printf("msync MS_INVALIDATE: %s\n", err(msync(s, P, MS_INVALIDATE)));
	SYS(mlock(s, P));
	printf("msync MS_INVALIDATE of locked memory: %s\n", err(msync(s, P, MS_INVALIDATE)));
	SYS(munlock(s, P));
	printf("msync MS_ASYNC: %s\n", err(msync(s, P, MS_ASYNC)));

	unsigned char v[4];
	printf("mincore length 0: %s\n", err(mincore(b, 0, v)));
	printf("mincore unaligned: %s\n", err(mincore(b + 1, P, v)));
	printf("mincore of nothing: %s\n", err(mincore(HOLE, P, v)));
	printf("mincore bad vector: %s\n", err(mincore(b, P, (void *)8)));
	b[P] = 1;
	SYS(mincore(b, 4 * P, v));
	printf("mincore: written page resident: %s\n", yes(v[1] & 1));
	s[0] = 1;
	SYS(mincore(s, P, v));
	printf("mincore: written shared page resident: %s\n", yes(v[0] & 1));
	SYS(madvise(b, 4 * P, MADV_DONTNEED));
	SYS(mincore(b, 4 * P, v));
	printf("mincore after MADV_DONTNEED: none resident: %s, page reads zero: %s\n",
	       yes(!(v[0] | v[1] | v[2] | v[3]) & 1), yes(b[P] == 0));
	SYS(madvise(b, 4 * P, MADV_POPULATE_WRITE));
	SYS(mincore(b, 4 * P, v));
	printf("mincore after MADV_POPULATE_WRITE: all resident: %s\n", yes(v[0] & v[1] & v[2] & v[3] & 1));
	close(fd);
}

static void madvises(void)
{
	char *b = mmap(NULL, 4 * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *ro = mmap(NULL, P, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *none = mmap(NULL, P, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int fd = SYS(memfd_create("madvise", 0));
	SYS(ftruncate(fd, 4 * P));
	char *s = mmap(NULL, 2 * P, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	static const struct {
		int advice;
		const char *name;
	} hints[] = {
		{MADV_NORMAL, "NORMAL"}, {MADV_RANDOM, "RANDOM"}, {MADV_SEQUENTIAL, "SEQUENTIAL"},
		{MADV_WILLNEED, "WILLNEED"}, {MADV_HUGEPAGE, "HUGEPAGE"}, {MADV_NOHUGEPAGE, "NOHUGEPAGE"},
		{MADV_MERGEABLE, "MERGEABLE"}, {MADV_UNMERGEABLE, "UNMERGEABLE"}, {MADV_DONTDUMP, "DONTDUMP"},
		{MADV_DODUMP, "DODUMP"}, {MADV_COLD, "COLD"}, {MADV_PAGEOUT, "PAGEOUT"},
	};
	for (unsigned i = 0; i < sizeof hints / sizeof hints[0]; i++)
		printf("madvise %s: %s\n", hints[i].name, err(madvise(b, P, hints[i].advice)));
	printf("madvise unknown: %s\n", err(madvise(b, P, 12345)));
	printf("madvise unaligned: %s\n", err(madvise(b + 1, P, MADV_DONTNEED)));
	printf("madvise of nothing: %s\n", err(madvise(HOLE, P, MADV_DONTNEED)));
	printf("madvise length 0: %s\n", err(madvise(b, 0, MADV_DONTNEED)));
	printf("madvise REMOVE private: %s\n", err(madvise(b, P, MADV_REMOVE)));
	printf("madvise FREE shared: %s\n", err(madvise(s, P, MADV_FREE)));
	printf("madvise WIPEONFORK shared: %s\n", err(madvise(s, P, MADV_WIPEONFORK)));
	printf("madvise POPULATE_WRITE read-only: %s\n", err(madvise(ro, P, MADV_POPULATE_WRITE)));
	printf("madvise POPULATE_READ PROT_NONE: %s\n", err(madvise(none, P, MADV_POPULATE_READ)));

	b[0] = 1;
	printf("madvise FREE: %s\n", err(madvise(b, P, MADV_FREE)));
	b[0] = 2;
	SYS(mlock(b, P));
	printf("madvise DONTNEED locked: %s\n", err(madvise(b, P, MADV_DONTNEED)));
	printf("madvise FREE locked: %s\n", err(madvise(b, P, MADV_FREE)));
	int rc = madvise(b, P, MADV_DONTNEED_LOCKED);
	printf("madvise DONTNEED_LOCKED: %s, zeroed: %s\n", err(rc), yes(b[0] == 0));
	SYS(munlock(b, P));

	s[0] = 7, s[P] = 8;
	rc = madvise(s, P, MADV_REMOVE);
	printf("madvise REMOVE shared: %s; a hole: %s, rest kept %s\n", err(rc), yes(s[0] == 0), yes(s[P] == 8));
	char back;
	SYS(pread(fd, &back, 1, 0));
	printf("madvise REMOVE: the file reads zero there: %s\n", yes(back == 0));

	/* fork: WIPEONFORK gives the child zeroes, DONTFORK no mapping. */
	char *w = mmap(NULL, P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *nf = mmap(NULL, P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	w[0] = 1, nf[0] = 1;
	SYS(madvise(w, P, MADV_WIPEONFORK));
	SYS(madvise(nf, P, MADV_DONTFORK));
	fflush(stdout);
	pid_t c = SYS(fork());
	if (c == 0) {
		printf("child: WIPEONFORK page reads %d, DONTFORK page mapped: %s\n", w[0], yes(mapped(nf)));
		fflush(stdout);
		_exit(0);
	}
	SYS(waitpid(c, NULL, 0));
	printf("parent keeps both: %s\n", yes(w[0] == 1 && nf[0] == 1));
	SYS(madvise(w, P, MADV_KEEPONFORK));
	SYS(madvise(nf, P, MADV_DOFORK));
	fflush(stdout);
	c = SYS(fork());
	if (c == 0) {
		printf("child after KEEPONFORK/DOFORK: %d %d\n", w[0], nf[0]);
		fflush(stdout);
		_exit(0);
	}
	SYS(waitpid(c, NULL, 0));
	close(fd);
}

static void mlocks(void)
{
	char *b = mmap(NULL, 4 * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	printf("mlock unaligned: %s\n", err(mlock(b + 1, 10)));
	printf("munlock unaligned: %s\n", err(munlock(b + 1, 10)));
	printf("mlock length 0: %s\n", err(mlock(b, 0)));
	printf("mlock of nothing: %s\n", err(mlock(HOLE, P)));
	printf("munlock of nothing: %s\n", err(munlock(HOLE, P)));
	printf("mlock2 MLOCK_ONFAULT: %s\n", err(mlock2(b, P, MLOCK_ONFAULT)));
	printf("mlock2 unknown flag: %s\n", err(mlock2(b, P, 2)));
	unsigned char v[4];
	SYS(mlock(b + P, P));
	SYS(mincore(b, 4 * P, v));
	printf("mlock populates: %s\n", yes(v[1] & 1));
	printf("mlockall 0: %s\n", err(mlockall(0)));
	printf("mlockall MCL_ONFAULT alone: %s\n", err(mlockall(MCL_ONFAULT)));
	printf("mlockall unknown flag: %s\n", err(mlockall(8)));
	printf("mlockall MCL_CURRENT|MCL_FUTURE|MCL_ONFAULT: %s\n", err(mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT)));
	printf("munlockall: %s\n", err(munlockall()));
	fflush(stdout);
	pid_t c = SYS(fork());
	if (c == 0) {
		/* Locks are not inherited: MADV_DONTNEED works in the child. */
		SYS(mlock(b, P));
		pid_t g = SYS(fork());
		if (g == 0) {
			printf("grandchild: DONTNEED of memory its parent locked: %s\n", err(madvise(b, P, MADV_DONTNEED)));
			fflush(stdout);
			_exit(0);
		}
		waitpid(g, NULL, 0);
		_exit(0);
	}
	SYS(waitpid(c, NULL, 0));
}

int main(void)
{
	veil_init("memory");
	mremaps();
	mmaps();
	msyncs_mincore();
	madvises();
	mlocks();
	printf("memory: ok\n");
	return 0;
}
