/*
 * memfd seals (memfd_create(2), fcntl(2) "File Sealing"): F_GET_SEALS and
 * F_ADD_SEALS with MFD_ALLOW_SEALING and without, F_SEAL_SHRINK and
 * F_SEAL_GROW on ftruncate, write and fallocate, F_SEAL_WRITE (EBUSY while
 * a shared writable mapping exists, then no write nor shared writable
 * mapping, and no mprotect to writable), F_SEAL_FUTURE_WRITE (existing
 * mappings keep writing), F_SEAL_SEAL, and the errors for bad seals,
 * read-only descriptors and files that are not tmpfs.
 */
#include "veiltest.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

static void say(const char *what, long r)
{
	if (r < 0)
		printf("%s: %s\n", what, strerror(errno));
	else
		printf("%s: %ld\n", what, r);
}

static long size(int fd)
{
	struct stat st;
	SYS(fstat(fd, &st));
	return st.st_size;
}

int main(void)
{
	veil_init("seals");
	static char page[8192];
	memset(page, 'p', sizeof page);

	int fd = SYS(memfd_create("sealed", MFD_ALLOW_SEALING | MFD_CLOEXEC));
	say("seals", fcntl(fd, F_GET_SEALS));
	CHECK(write(fd, page, 4096) == 4096);
	say("add SHRINK", fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK));
	say("truncate down", ftruncate(fd, 100));
	say("truncate up", ftruncate(fd, 6000));
	say("add GROW", fcntl(fd, F_ADD_SEALS, F_SEAL_GROW));
	say("truncate up again", ftruncate(fd, 9000));
	say("write at end", pwrite(fd, page, 10, 6000));
	say("write inside", pwrite(fd, page, 10, 100));
	say("write across the end", pwrite(fd, page, 5000, 1000));
	say("write across the end from a page boundary", pwrite(fd, page, 3000, 4096));
	say("fallocate past the end", fallocate(fd, 0, 0, 10000));
	say("fallocate inside", fallocate(fd, 0, 0, 4096));
	printf("size %ld\n", size(fd));

	char *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(m != MAP_FAILED);
	say("add WRITE while mapped shared writable", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
	SYS(munmap(m, 4096));
	char *pm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	CHECK(pm != MAP_FAILED);
	say("add WRITE with a private mapping", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
	pm[0] = 'q'; /* private: allowed */
	SYS(munmap(pm, 4096));
	say("seals", fcntl(fd, F_GET_SEALS));
	say("write", write(fd, "x", 1));
	m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	say("mmap shared writable", m == MAP_FAILED ? -1 : 0);
	m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	say("mmap shared read-only", m == MAP_FAILED ? -1 : 0);
	say("mprotect it writable", mprotect(m, 4096, PROT_READ | PROT_WRITE));
	printf("reads %c\n", m[0]);
	SYS(munmap(m, 4096));
	say("add SEAL", fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL));
	say("add anything", fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK));
	say("seals", fcntl(fd, F_GET_SEALS));
	close(fd);

	/* F_SEAL_FUTURE_WRITE: existing shared mappings still write. */
	fd = SYS(memfd_create("future", MFD_ALLOW_SEALING));
	SYS(ftruncate(fd, 4096));
	m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(m != MAP_FAILED);
	say("add FUTURE_WRITE while mapped", fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE));
	m[0] = 'm';
	char c;
	SYS(pread(fd, &c, 1, 0));
	printf("written through the old mapping: %c\n", c);
	say("write", write(fd, "x", 1));
	say("new shared writable mapping", mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED ? -1 : 0);
	say("truncate", ftruncate(fd, 10));
	SYS(munmap(m, 4096));
	close(fd);

	/* Errors. */
	fd = SYS(memfd_create("plain", 0));
	say("seals without MFD_ALLOW_SEALING", fcntl(fd, F_GET_SEALS));
	say("add without MFD_ALLOW_SEALING", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
	close(fd);
	fd = SYS(memfd_create("ro", MFD_ALLOW_SEALING));
	char proc[64];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	int ro = SYS(open(proc, O_RDONLY));
	say("add on a read-only descriptor", fcntl(ro, F_ADD_SEALS, F_SEAL_WRITE));
	say("seals through it", fcntl(ro, F_GET_SEALS));
	say("unknown seal", fcntl(fd, F_ADD_SEALS, 0x1000));
	close(ro);
	close(fd);
	int p[2];
	SYS(pipe(p));
	say("seals of a pipe", fcntl(p[0], F_GET_SEALS));
	say("add on a pipe", fcntl(p[1], F_ADD_SEALS, F_SEAL_WRITE));
	int shm = SYS(open("/dev/shm/seals-test", O_CREAT | O_RDWR, 0600));
	unlink("/dev/shm/seals-test");
	say("seals of a tmpfs file", fcntl(shm, F_GET_SEALS));
	say("add on a tmpfs file", fcntl(shm, F_ADD_SEALS, F_SEAL_WRITE));
	say("memfd_create bad flags", memfd_create("bad", 0x100));
	printf("seals: ok\n");
	return 0;
}
