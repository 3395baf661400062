/*
 * O_TMPFILE on a tmpfs (/dev/shm): an unnamed file with st_nlink 0, shown
 * as "DIR/#INO (deleted)" in /proc/self/fd, linked with linkat(fd, "",
 * AT_EMPTY_PATH) and through /proc/self/fd with AT_SYMLINK_FOLLOW; O_EXCL
 * makes it unlinkable; the open errors Linux gives.
 */
#include "veiltest.h"

#include <fcntl.h>
#include <sys/stat.h>

static void say(const char *what, long r)
{
	printf("%s: %s\n", what, r < 0 ? strerror(errno) : "ok");
}

int main(void)
{
	veil_init("tmpfile");
	char dir[] = "/dev/shm/tmpfileXXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char named[64], named2[64], file[64];
	snprintf(named, sizeof named, "%s/named", dir);
	snprintf(named2, sizeof named2, "%s/named2", dir);
	snprintf(file, sizeof file, "%s/file", dir);

	int fd = SYS(open(dir, O_TMPFILE | O_RDWR, 0640));
	struct stat st;
	SYS(fstat(fd, &st));
	printf("nlink %ld mode %o size %ld\n", (long)st.st_nlink, st.st_mode, (long)st.st_size);
	CHECK(write(fd, "tmpdata", 7) == 7);
	char link[128], want[96], proc[64];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	ssize_t n = SYS(readlink(proc, link, sizeof link - 1));
	link[n] = 0;
	snprintf(want, sizeof want, "%s/#%lu (deleted)", dir, (unsigned long)st.st_ino);
	printf("fd link as expected: %d\n", strcmp(link, want) == 0);
	say("linkat AT_EMPTY_PATH", linkat(fd, "", AT_FDCWD, named, AT_EMPTY_PATH));
	SYS(stat(named, &st));
	printf("named: nlink %ld size %ld\n", (long)st.st_nlink, (long)st.st_size);
	SYS(fstat(fd, &st));
	printf("fd after link: nlink %ld\n", (long)st.st_nlink);
	close(fd);

	fd = SYS(open(dir, O_TMPFILE | O_WRONLY, 0600));
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	say("linkat via /proc/self/fd", linkat(AT_FDCWD, proc, AT_FDCWD, named2, AT_SYMLINK_FOLLOW));
	say("link again to an existing name", linkat(fd, "", AT_FDCWD, named2, AT_EMPTY_PATH));
	close(fd);

	fd = SYS(open(dir, O_TMPFILE | O_RDWR | O_EXCL, 0600));
	say("linkat of an O_EXCL tmpfile", linkat(fd, "", AT_FDCWD, file, AT_EMPTY_PATH));
	close(fd);

	say("O_TMPFILE read-only", open(dir, O_TMPFILE | O_RDONLY, 0600));
	say("O_TMPFILE|O_CREAT", open(dir, O_TMPFILE | O_RDWR | O_CREAT, 0600));
	say("O_TMPFILE on a file", open(named, O_TMPFILE | O_RDWR, 0600));
	say("O_TMPFILE on nothing", open("/dev/shm/nonexistent-tmpfile", O_TMPFILE | O_RDWR, 0600));
	say("__O_TMPFILE alone", open(dir, (O_TMPFILE & ~O_DIRECTORY) | O_RDWR, 0600));

	/* An unlinked ordinary file cannot get its name back. */
	fd = SYS(open(file, O_CREAT | O_RDWR, 0600));
	SYS(unlink(file));
	say("linkat of an unlinked file", linkat(fd, "", AT_FDCWD, file, AT_EMPTY_PATH));
	close(fd);

	unlink(named);
	unlink(named2);
	SYS(rmdir(dir));
	printf("tmpfile: ok\n");
	return 0;
}
