/*
 * malloc/free/realloc/calloc stress. Sizes range from a few bytes to 512 KiB;
 * M_MMAP_THRESHOLD is pinned at 128 KiB so every block above it is its own
 * mmap (and realloc of such a block uses mremap). Every block carries a
 * pattern derived from its seed that is checked before it is freed or
 * resized.
 */
#include "veiltest.h"

#include <malloc.h>
#include <sys/mman.h>

#define NSLOTS 512
#define ROUNDS 8000
#define MMAP_THRESHOLD (128 * 1024)

static uint64_t rng = 88172645463325252ULL;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static unsigned char pat(uint32_t seed, size_t i)
{
	return (unsigned char)(seed * 31u + i * 7u + (i >> 9) + (i >> 17));
}

static void fill(unsigned char *p, size_t from, size_t n, uint32_t seed)
{
	for (size_t i = from; i < n; i++)
		p[i] = pat(seed, i);
}

static void verify(const unsigned char *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != pat(seed, i))
			FAIL("block %p (size %zu, seed %u): byte %zu is %u, want %u",
			     (void *)p, n, seed, i, p[i], pat(seed, i));
}

static size_t pick_size(void)
{
	unsigned r = next() % 100;
	if (r < 60)
		return 1 + next() % 256;
	if (r < 88)
		return 257 + next() % (16 * 1024);
	if (r < 96)
		return 16 * 1024 + next() % (MMAP_THRESHOLD - 16 * 1024);
	return MMAP_THRESHOLD + next() % (384 * 1024);
}

struct slot {
	unsigned char *p;
	size_t n;
	uint32_t seed;
};

static struct slot slots[NSLOTS];

int main(void)
{
	veil_init("malloc");
	CHECK(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1);

	uint64_t sum = 0;
	unsigned allocs = 0, frees = 0, reallocs = 0, large = 0;
	uint32_t seed = 1;

	for (int round = 0; round < ROUNDS; round++) {
		struct slot *s = &slots[next() % NSLOTS];
		if (s->p == NULL) {
			s->n = pick_size();
			s->seed = seed++;
			s->p = malloc(s->n);
			CHECK(s->p != NULL);
			CHECK(((uintptr_t)s->p & 15) == 0);
			fill(s->p, 0, s->n, s->seed);
			allocs++;
			if (s->n >= MMAP_THRESHOLD)
				large++;
			sum += s->n;
			continue;
		}
		verify(s->p, s->n, s->seed);
		switch (next() % 3) {
		case 0:
			free(s->p);
			s->p = NULL;
			frees++;
			break;
		case 1: {
			size_t nn = pick_size();
			unsigned char *np = realloc(s->p, nn);
			CHECK(np != NULL);
			size_t keep = nn < s->n ? nn : s->n;
			verify(np, keep, s->seed);
			fill(np, keep, nn, s->seed);
			s->p = np;
			s->n = nn;
			reallocs++;
			if (nn >= MMAP_THRESHOLD)
				large++;
			sum += nn * 3;
			break;
		}
		default:
			break;
		}
	}
	for (int i = 0; i < NSLOTS; i++) {
		if (slots[i].p) {
			verify(slots[i].p, slots[i].n, slots[i].seed);
			free(slots[i].p);
			frees++;
		}
	}

	/* calloc must return zeroed memory, also when reusing dirty chunks. */
	for (int i = 0; i < 64; i++) {
		size_t n = (i % 8 == 7) ? MMAP_THRESHOLD * 2 + i : 64 + i * 1000;
		unsigned char *d = malloc(n);
		CHECK(d != NULL);
		memset(d, 0xa5, n);
		free(d);
		unsigned char *z = calloc(1, n);
		CHECK(z != NULL);
		for (size_t j = 0; j < n; j++)
			if (z[j] != 0)
				FAIL("calloc(%zu): byte %zu is %u", n, j, z[j]);
		free(z);
	}

	/* Aligned allocations. */
	for (int i = 0; i < 16; i++) {
		void *a = NULL;
		size_t align = (size_t)1 << (4 + i % 9); /* 16 .. 4096 */
		CHECK(posix_memalign(&a, align, 100 + i * 5000) == 0);
		CHECK(((uintptr_t)a & (align - 1)) == 0);
		memset(a, i, 100 + i * 5000);
		free(a);
	}

	printf("malloc: allocs=%u frees=%u reallocs=%u large=%u\n", allocs,
	       frees, reallocs, large);
	printf("malloc: checksum=%016llx\n", (unsigned long long)sum);
	printf("malloc: ok\n");
	return 0;
}
