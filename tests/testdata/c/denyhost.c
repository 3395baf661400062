/*
 * denyhost WHAT CMD ARGS...: take a host feature away, then exec CMD, so
 * the tests can show what runsc says on a host without it (the filter is
 * inherited by CMD and everything it starts, as a container engine's or
 * a hardened host's would be):
 *
 *   ptrace   ptrace(2) fails with EPERM (as under a seccomp profile that
 *            forbids it, e.g. docker's default, or yama's ptrace_scope=3)
 *   seccomp  seccomp(2) and prctl(PR_SET_SECCOMP) fail with EINVAL (as on
 *            a kernel without CONFIG_SECCOMP_FILTER)
 *   userns   unshare(2) and clone(2) with CLONE_NEWUSER fail with EPERM
 *            (as with user.max_user_namespaces=0 or a profile that forbids
 *            them; clone3's flags cannot be filtered and stay allowed)
 *
 * Never run inside the sandbox: it only changes its own process tree.
 */
#include "veiltest.h"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#define LD_NR BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))
#define LD_ARG0 BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]))
#define RET(v) BPF_STMT(BPF_RET | BPF_K, (v))
#define ALLOW RET(SECCOMP_RET_ALLOW)
#define ERRNO(e) RET(SECCOMP_RET_ERRNO | (e))

int main(int argc, char **argv)
{
	veil_prog = "denyhost";
	if (argc < 3) {
		fprintf(stderr, "usage: denyhost ptrace|seccomp|userns CMD ARGS...\n");
		return 2;
	}
	struct sock_filter ptrace_f[] = {
		LD_NR,
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_ptrace, 0, 1),
		ERRNO(EPERM),
		ALLOW,
	};
	struct sock_filter seccomp_f[] = {
		LD_NR,
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_seccomp, 0, 1),
		ERRNO(EINVAL),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_prctl, 0, 3),
		LD_ARG0,
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PR_SET_SECCOMP, 0, 1),
		ERRNO(EINVAL),
		ALLOW,
	};
	struct sock_filter userns_f[] = {
		LD_NR,
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_unshare, 1, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 3),
		LD_ARG0,
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_NEWUSER, 0, 1),
		ERRNO(EPERM),
		ALLOW,
	};
	struct sock_fprog prog;
	if (strcmp(argv[1], "ptrace") == 0) {
		prog.filter = ptrace_f;
		prog.len = sizeof(ptrace_f) / sizeof(ptrace_f[0]);
	} else if (strcmp(argv[1], "seccomp") == 0) {
		prog.filter = seccomp_f;
		prog.len = sizeof(seccomp_f) / sizeof(seccomp_f[0]);
	} else if (strcmp(argv[1], "userns") == 0) {
		prog.filter = userns_f;
		prog.len = sizeof(userns_f) / sizeof(userns_f[0]);
	} else {
		fprintf(stderr, "denyhost: unknown feature %s\n", argv[1]);
		return 2;
	}
	/* Root may install a filter without no_new_privs, and keeps its
	 * setuid behaviour that way. */
	CHECK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0);
	execvp(argv[2], argv + 2);
	fprintf(stderr, "denyhost: exec %s: %s\n", argv[2], strerror(errno));
	return 127;
}
