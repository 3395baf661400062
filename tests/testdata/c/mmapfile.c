/*
 * File-backed mappings of a file in /tmp (a tmpfs inside the sandbox):
 * MAP_SHARED writes reach the file (pread sees them) and pwrite reaches the
 * mapping; MAP_PRIVATE writes stay private; touching a mapped page wholly
 * past end of file raises SIGBUS. The file is unlinked right after creation,
 * so it also checks that an open unlinked file stays usable.
 */
#include "veiltest.h"

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>

static sigjmp_buf jb;
static volatile int bus_count;
static void *volatile bus_addr;

static void on_bus(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (sig == SIGBUS) {
		bus_count++;
		bus_addr = si->si_addr;
	}
	siglongjmp(jb, 1);
}

int main(void)
{
	veil_init("mmapfile");
	long pg = sysconf(_SC_PAGESIZE);

	char path[] = "/tmp/veil-mmapfile-XXXXXX";
	int fd = SYS(mkstemp(path));
	SYS(unlink(path));
	struct stat stt;
	SYS(fstat(fd, &stt));
	CHECK(stt.st_nlink == 0 && S_ISREG(stt.st_mode));

	unsigned char buf[4096];
	for (int p = 0; p < 3; p++) {
		for (int i = 0; i < 4096; i++)
			buf[i] = (unsigned char)(p * 50 + i);
		CHECK(pwrite(fd, buf, sizeof buf, (off_t)p * 4096) == 4096);
	}
	SYS(fstat(fd, &stt));
	CHECK(stt.st_size == 3 * 4096);

	unsigned char *sh = mmap(NULL, 3 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(sh != MAP_FAILED);
	for (int p = 0; p < 3; p++)
		for (int i = 0; i < 4096; i++)
			if (sh[p * 4096 + i] != (unsigned char)(p * 50 + i))
				FAIL("mapping byte %d of page %d wrong", i, p);
	printf("mmapfile: shared mapping reads file contents\n");

	sh[4096 + 10] = 0xee;
	memcpy(sh + 2 * 4096, "veil", 4);
	SYS(msync(sh, 3 * pg, MS_SYNC));
	CHECK(pread(fd, buf, 16, 4096) == 16);
	CHECK(buf[10] == 0xee);
	CHECK(pread(fd, buf, 4, 2 * 4096) == 4);
	CHECK(memcmp(buf, "veil", 4) == 0);
	CHECK(pwrite(fd, "XYZ", 3, 100) == 3);
	CHECK(memcmp(sh + 100, "XYZ", 3) == 0);
	printf("mmapfile: shared mapping and file stay coherent\n");

	unsigned char *pv = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	CHECK(pv != MAP_FAILED);
	CHECK(memcmp(pv + 100, "XYZ", 3) == 0);
	pv[200] = 0x11;
	CHECK(pread(fd, buf, 1, 200) == 1);
	CHECK(buf[0] == (unsigned char)200);
	CHECK(sh[200] == (unsigned char)200);
	SYS(munmap(pv, pg));
	printf("mmapfile: private mapping is copy-on-write\n");

	/* Shrink the file to one page: page 3 of the mapping is past EOF. */
	SYS(ftruncate(fd, 4096));
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_bus;
	sa.sa_flags = SA_SIGINFO;
	SYS(sigaction(SIGBUS, &sa, NULL));
	if (sigsetjmp(jb, 1) == 0) {
		volatile unsigned char c = *(volatile unsigned char *)(sh + 2 * 4096 + 5);
		(void)c;
		FAIL("read past end of file did not raise SIGBUS");
	}
	CHECK(bus_count == 1);
	if (bus_addr != sh + 2 * 4096 + 5)
		FAIL("SIGBUS si_addr=%p, want %p", bus_addr, (void *)(sh + 2 * 4096 + 5));
	CHECK(sh[100] == 'X');
	printf("mmapfile: access past EOF raised SIGBUS\n");

	SYS(munmap(sh, 3 * pg));
	SYS(close(fd));
	printf("mmapfile: ok\n");
	return 0;
}
