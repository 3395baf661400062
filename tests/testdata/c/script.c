/*
 * execve(2) of interpreter scripts and execveat(2) (argv[1]: path of
 * echoargs, the interpreter). Each case runs in a forked child and prints
 * what the exec'd program printed (echoargs prints its argv) or the errno
 * the exec failed with: "#!" lines with and without the optional
 * argument, nested scripts up to Linux's limit and ELOOP beyond it,
 * ENOEXEC, EACCES, ENOENT, a "#!" line too long for the kernel's buffer,
 * fexecve of an ELF file and of a script (also close-on-exec: ENOENT),
 * execveat relative to a directory descriptor, AT_SYMLINK_NOFOLLOW,
 * /proc/self/exe of a script, and ETXTBSY for a file open for writing.
 * Paths are printed relative to the scratch directory so that native and
 * sandboxed runs print the same.
 */
#include "veiltest.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static char dir[256];
static const char *interp;

static void writefile(const char *name, const char *content, mode_t mode)
{
	char p[512];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	unlink(p);
	int fd = SYS(open(p, O_WRONLY | O_CREAT | O_TRUNC, mode));
	CHECK(write(fd, content, strlen(content)) == (ssize_t)strlen(content));
	SYS(close(fd));
	SYS(chmod(p, mode));
}

/* run forks; the child calls fn and, if it returns, prints its errno. The
 * child's stdout goes through a pipe so that the dir prefix can be cut. */
static void run(const char *what, void (*fn)(void *), void *arg)
{
	int p[2];
	SYS(pipe(p));
	fflush(stdout);
	pid_t pid = SYS(fork());
	if (pid == 0) {
		close(p[0]);
		dup2(p[1], 1);
		close(p[1]);
		fn(arg);
		printf("error %s\n", strerrorname_np(errno));
		fflush(stdout);
		_exit(0);
	}
	close(p[1]);
	char buf[8192];
	size_t n = 0;
	ssize_t r;
	while ((r = read(p[0], buf + n, sizeof buf - 1 - n)) > 0)
		n += r;
	buf[n] = 0;
	close(p[0]);
	int st;
	CHECK(waitpid(pid, &st, 0) == pid);
	printf("script: %s:\n", what);
	size_t dl = strlen(dir);
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		printf("  ");
		for (char *s = line; *s;) {
			if (strncmp(s, dir, dl) == 0) {
				printf("$D");
				s += dl;
			} else
				putchar(*s++);
		}
		putchar('\n');
	}
}

static char *path_of(const char *name)
{
	static char p[512];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	return p;
}

static void exec_name(void *arg)
{
	const char *name = arg;
	char *argv[] = {"ARGV0", "one", "two words", NULL};
	char *envp[] = {NULL};
	execve(path_of(name), argv, envp);
}

static void exec_exe(void *arg)
{
	char *argv[] = {"self", NULL};
	char *envp[] = {"VEIL_SHOW_EXE=1", NULL};
	execve(path_of((char *)arg), argv, envp);
}

static void fexec_elf(void *arg)
{
	int fd = SYS(open(interp, (long)arg));
	char *argv[] = {"fexec", NULL};
	char *envp[] = {NULL};
	fexecve(fd, argv, envp);
}

static void fexec_script(void *arg)
{
	int fd = SYS(open(path_of("plain"), O_RDONLY | (int)(long)arg));
	if (fd != 5) {
		SYS(dup2(fd, 5));
		SYS(fcntl(5, F_SETFD, (long)arg ? FD_CLOEXEC : 0));
	}
	char *argv[] = {"fexec", "x", NULL};
	char *envp[] = {"VEIL_SHOW_EXE=1", NULL};
	syscall(SYS_execveat, 5, "", argv, envp, AT_EMPTY_PATH);
}

static void execat(void *arg)
{
	int d = SYS(open(dir, O_RDONLY | O_DIRECTORY));
	SYS(dup2(d, 7));
	char *argv[] = {"at", NULL};
	char *envp[] = {"VEIL_SHOW_EXE=1", NULL};
	syscall(SYS_execveat, 7, (char *)arg, argv, envp, 0);
}

static void execat_nofollow(void *arg)
{
	char *argv[] = {"nofollow", NULL};
	char *envp[] = {NULL};
	syscall(SYS_execveat, AT_FDCWD, path_of((char *)arg), argv, envp, AT_SYMLINK_NOFOLLOW);
}

static void execat_badflags(void *arg)
{
	(void)arg;
	char *argv[] = {"bad", NULL};
	char *envp[] = {NULL};
	syscall(SYS_execveat, AT_FDCWD, interp, argv, envp, 0x4);
}

static void execat_empty(void *arg)
{
	(void)arg;
	char *argv[] = {"empty", NULL};
	char *envp[] = {NULL};
	syscall(SYS_execveat, AT_FDCWD, "", argv, envp, 0);
}

static void exec_busy(void *arg)
{
	(void)arg;
	int w = SYS(open(path_of("busy"), O_WRONLY));
	char *argv[] = {"busy", NULL};
	char *envp[] = {NULL};
	execve(path_of("busy"), argv, envp);
	close(w);
}

int main(int argc, char **argv)
{
	veil_init("script");
	if (argc != 2)
		FAIL("usage: script PATH-TO-ECHOARGS");
	interp = argv[1];
	snprintf(dir, sizeof dir, "/tmp/veil-script-%d", (int)getpid());
	SYS(mkdir(dir, 0755));

	char line[600];
	snprintf(line, sizeof line, "#!%s\necho not run\n", interp);
	writefile("plain", line, 0755);
	snprintf(line, sizeof line, "#!  %s   -a  b\tc  \n", interp);
	writefile("witharg", line, 0755);
	snprintf(line, sizeof line, "#!%s", interp);
	writefile("nonewline", line, 0755);
	/* A chain: level1 is run by echoargs, levelN by level(N-1). */
	writefile("level1", strcat(strcpy(line, "#!"), interp), 0755);
	for (int i = 2; i <= 7; i++) {
		char name[16], content[300];
		snprintf(name, sizeof name, "level%d", i);
		snprintf(content, sizeof content, "#!%s/level%d\n", dir, i - 1);
		writefile(name, content, 0755);
	}
	writefile("junk", "this is neither ELF nor a script\n", 0755);
	writefile("empty", "", 0755);
	writefile("noexec", line, 0644);
	writefile("nointerp", "#!/nonexistent/interpreter\n", 0755);
	writefile("dirinterp", "#!/\n", 0755);
	writefile("blank", "#!   \n", 0755);
	char longline[400] = "#!/";
	memset(longline + 3, 'x', 300);
	strcpy(longline + 303, "\n");
	writefile("toolong", longline, 0755);
	snprintf(line, sizeof line, "%s/plain", dir);
	SYS(symlink(line, path_of("link")));
	/* A copy of the interpreter, to open for writing. */
	{
		int in = SYS(open(interp, O_RDONLY));
		int out = SYS(open(path_of("busy"), O_WRONLY | O_CREAT | O_TRUNC, 0755));
		char b[65536];
		ssize_t n;
		while ((n = read(in, b, sizeof b)) > 0)
			CHECK(write(out, b, n) == n);
		close(in);
		close(out);
	}

	run("plain script", exec_name, "plain");
	run("optional argument", exec_name, "witharg");
	run("no newline", exec_name, "nonewline");
	for (int i = 2; i <= 7; i++) {
		char what[32], *name = malloc(16);
		snprintf(name, 16, "level%d", i);
		snprintf(what, sizeof what, "nested %d deep", i);
		run(what, exec_name, name);
	}
	run("neither ELF nor script", exec_name, "junk");
	run("empty file", exec_name, "empty");
	run("not executable", exec_name, "noexec");
	run("missing interpreter", exec_name, "nointerp");
	run("directory as interpreter", exec_name, "dirinterp");
	run("no interpreter name", exec_name, "blank");
	run("#! line too long", exec_name, "toolong");
	run("directory", exec_name, ".");
	run("/proc/self/exe and comm of a script", exec_exe, "plain");
	run("/proc/self/exe and comm of a nested script", exec_exe, "level3");
	run("fexecve of an ELF file", fexec_elf, (void *)(long)O_RDONLY);
	run("fexecve of an O_PATH descriptor", fexec_elf, (void *)(long)O_PATH);
	run("fexecve of a script", fexec_script, (void *)0L);
	run("fexecve of a close-on-exec script", fexec_script, (void *)(long)O_CLOEXEC);
	run("execveat relative to a directory", execat, "plain");
	run("execveat AT_SYMLINK_NOFOLLOW of a symlink", execat_nofollow, "link");
	run("execveat AT_SYMLINK_NOFOLLOW of a file", execat_nofollow, "plain");
	run("execveat with a bad flag", execat_badflags, NULL);
	run("execveat of an empty path", execat_empty, NULL);
	run("execve of a file open for writing", exec_busy, NULL);

	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
	printf("script: ok\n");
	return 0;
}
