/*
 * Containment check, run ONLY inside the sandbox (never natively: it
 * creates directories and files on the filesystem it sees).
 *
 *   rawsys NONCE [HOSTDIR]
 *
 * Issues system calls with the raw `syscall` instruction (no libc wrapper)
 * and prints one "rawsys: NAME=RESULT" line per call, RESULT being the raw
 * return value (negative errno on failure). The e2e test checks the values
 * and that nothing appeared on, or vanished from, the host:
 *   mkdir_tmp     mkdirat(/tmp/veil-escape-NONCE)           expect 0 (sandbox tmpfs)
 *   stat_tmp      newfstatat of that directory               expect 0
 *   open_root     openat(/veil-escape-NONCE, O_CREAT)        expect -EROFS
 *   mkdir_root    mkdirat(/veil-escape-dir-NONCE)            expect -EROFS
 *   open_host     openat(HOSTDIR/escape-NONCE, O_CREAT)      expect -EROFS
 *   trunc_host    truncate(HOSTDIR/keep-NONCE, 0)            expect -EROFS
 *   unlink_host   unlinkat(HOSTDIR/keep-NONCE)               expect -EROFS
 *   enosys        syscall number 1000                        expect -ENOSYS
 *   getpid        getpid()                                   expect 1
 *   getppid       getppid()                                  expect 0
 * and exits with a raw exit_group(0).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>

static long rsys(long nr, long a1, long a2, long a3, long a4)
{
	long ret;
	register long r10 __asm__("r10") = a4;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a1), "S"(a2), "d"(a3), "r"(r10)
			 : "rcx", "r11", "memory");
	return ret;
}

static void report(const char *name, long v)
{
	printf("rawsys: %s=%ld\n", name, v);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: rawsys NONCE [HOSTDIR]\n");
		return 2;
	}
	const char *nonce = argv[1];
	char p[4096];
	struct stat st;

	snprintf(p, sizeof p, "/tmp/veil-escape-%s", nonce);
	report("mkdir_tmp", rsys(SYS_mkdirat, AT_FDCWD, (long)p, 0755, 0));
	memset(&st, 0, sizeof st);
	long r = rsys(SYS_newfstatat, AT_FDCWD, (long)p, (long)&st, 0);
	report("stat_tmp", r == 0 && !S_ISDIR(st.st_mode) ? -1000 : r);

	snprintf(p, sizeof p, "/veil-escape-%s", nonce);
	report("open_root", rsys(SYS_openat, AT_FDCWD, (long)p, O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
	snprintf(p, sizeof p, "/veil-escape-dir-%s", nonce);
	report("mkdir_root", rsys(SYS_mkdirat, AT_FDCWD, (long)p, 0755, 0));

	if (argc == 3) {
		snprintf(p, sizeof p, "%s/escape-%s", argv[2], nonce);
		report("open_host", rsys(SYS_openat, AT_FDCWD, (long)p, O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
		snprintf(p, sizeof p, "%s/keep-%s", argv[2], nonce);
		report("trunc_host", rsys(SYS_truncate, (long)p, 0, 0, 0));
		report("unlink_host", rsys(SYS_unlinkat, AT_FDCWD, (long)p, 0, 0));
	}

	report("enosys", rsys(1000, 0, 0, 0, 0));
	report("getpid", rsys(SYS_getpid, 0, 0, 0, 0));
	report("getppid", rsys(SYS_getppid, 0, 0, 0, 0));
	rsys(SYS_exit_group, 0, 0, 0, 0);
	return 111; /* not reached */
}
