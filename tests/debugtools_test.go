package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// Debian's debugging and scheduling tools, run in the sandbox on
// programs of the sandbox and compared with the same commands run
// natively: strace -f (ptrace with PTRACE_SEIZE, PTRACE_GET_SYSCALL_INFO,
// fork and clone events, process_vm_readv), gdb -batch (breakpoints,
// single steps, signals, backtraces), and util-linux's nice, renice,
// chrt and taskset.

func needTool(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is not installed (.ci/run installs it): %v", path, err)
	}
}

// straceNames returns the sorted set of system call names in strace's
// output (lines "name(", "[pid N] name(" or "N name("; "<... resumed>"
// lines name no new call).
func straceNames(out string) []string {
	re := regexp.MustCompile(`^(?:\[pid +\d+\] |\d+ +)?([a-z_0-9]+)\(`)
	set := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		if m := re.FindStringSubmatch(l); m != nil {
			set[m[1]] = true
		}
	}
	var names []string
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// withoutNames returns names less those in drop.
func withoutNames(names, drop []string) []string {
	var out []string
	for _, n := range names {
		keep := true
		for _, d := range drop {
			keep = keep && n != d
		}
		if keep {
			out = append(out, n)
		}
	}
	return out
}

// TestStrace: `strace -f` of programs that fork, start threads (clone3)
// and exec prints the same system calls in the sandbox as natively.
// (Programs that kill a child racing with its first system calls are
// left out: which calls the child makes first depends on timing.)
func TestStrace(t *testing.T) {
	needTool(t, "/usr/bin/strace")
	for _, tc := range []struct {
		name string
		argv []string
		// racy are calls the program makes or not depending on timing.
		racy []string
	}{
		{"pipe", []string{prog("pipe")}, nil},
		// Its last thread may or may not reach read(2) before exit.
		{"threads", []string{prog("threads")}, []string{"read"}},
		{"exec", []string{prog("exec"), prog("echoargs")}, nil},
		{"shell", []string{"/bin/sh", "-c", "/bin/true; echo done"}, nil},
		// strace's seccomp filter stops the tracee only for the calls
		// traced (SECCOMP_RET_TRACE, PTRACE_EVENT_SECCOMP).
		{"seccomp-bpf", []string{"--seccomp-bpf", "-e", "trace=execve,clone,write,wait4,exit_group", prog("pipe")}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			argv := append([]string{"/usr/bin/strace", "-f", "-qq"}, tc.argv...)
			o := opts{timeout: 120 * time.Second}
			nat := native(t, o, argv...)
			if nat.startErr != nil || nat.timedOut {
				t.Fatalf("BUG IN THE TEST: native strace failed%s", nat)
			}
			sb := sandbox(t, o, argv...)
			checkNoCrash(t, sb)
			if sb.code != nat.code || sb.stdout != nat.stdout {
				t.Fatalf("the traced program ended differently: exit %d, native %d%s\nnative:%s", sb.code, nat.code, sb, nat)
			}
			want, got := withoutNames(straceNames(nat.stderr), tc.racy), withoutNames(straceNames(sb.stderr), tc.racy)
			if len(want) < 4 {
				t.Fatalf("BUG IN THE TEST: native strace printed only %v%s", want, nat)
			}
			if strings.Join(want, " ") != strings.Join(got, " ") {
				t.Fatalf("strace in the sandbox saw system calls %v, natively %v%s", got, want, sb)
			}
			if strings.Count(sb.stderr, "+++ killed by") != strings.Count(nat.stderr, "+++ killed by") {
				t.Fatalf("strace reported deaths by signals differently%s\nnative:%s", sb, nat)
			}
		})
	}
}

// gdbLines keeps what gdb says about the program: frames, stops and
// signals, without the warnings about /proc files the sandbox lacks.
func gdbLines(out string) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "warning: opening /proc/") || l == "" {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}

// TestGDB: gdb -batch runs a crashing static C program (built with -g)
// in the sandbox: the backtrace, a breakpoint with stepping, and the
// death by SIGSEGV are reported as natively.
func TestGDB(t *testing.T) {
	needTool(t, "/usr/bin/gdb")
	// The source next to the binary, where the sandbox sees it too
	// (its /tmp is private), so gdb shows the same source lines.
	src := filepath.Join(binDir, "crash-g.c")
	if err := os.WriteFile(src, []byte(`#include <stdio.h>
void f(int *p) { *p = 1; }
void g(int n) { if (n > 0) g(n - 1); else f(0); }
int main(void) { puts("crash: start"); fflush(stdout); g(2); return 0; }
`), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := prog("crash-g")
	if out, err := exec.Command("gcc", "-g", "-O0", "-static", "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"backtrace", []string{"-ex", "run", "-ex", "bt"},
			[]string{"Program received signal SIGSEGV", "#0  0x", "in f (p=0x0)", "in g (n=0)", "in g (n=2)", "in main ()"}},
		{"breakpoint", []string{"-ex", "break g", "-ex", "run", "-ex", "bt", "-ex", "next", "-ex", "stepi",
			"-ex", "info registers rip", "-ex", "continue", "-ex", "bt"},
			[]string{"Breakpoint 1, g (n=2)", "rip ", "Breakpoint 1, g (n=0)", "in g (n=1)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			argv := append(append([]string{"/usr/bin/gdb", "-batch", "-nx"}, tc.args...), bin)
			o := opts{timeout: 180 * time.Second}
			nat := native(t, o, argv...)
			for _, w := range tc.want {
				if !strings.Contains(nat.stdout, w) {
					t.Fatalf("BUG IN THE TEST: native gdb did not print %q%s", w, nat)
				}
			}
			sb := sandbox(t, o, argv...)
			checkNoCrash(t, sb)
			if got, want := gdbLines(sb.stdout), gdbLines(nat.stdout); got != want {
				t.Fatalf("gdb in the sandbox printed something else; %s%s\nnative:%s", firstDiff(want, got), sb, nat)
			}
		})
	}
}

// TestSchedTools: nice, renice, chrt and taskset of util-linux print what
// they print natively (pids are replaced by PID).
func TestSchedTools(t *testing.T) {
	for _, tool := range []string{"/usr/bin/nice", "/usr/bin/renice", "/usr/bin/chrt", "/usr/bin/taskset"} {
		needTool(t, tool)
	}
	script := `set -e
nice
nice -n 7 nice
nice -n 3 sh -c 'renice -n 5 -p $$ | sed "s/$$/PID/"; nice'
chrt -p $$ | sed "s/$$/PID/"
chrt -f 10 sh -c 'chrt -p $$ | sed "s/$$/PID/"'
chrt -r 5 sh -c 'chrt -p $$ | sed "s/$$/PID/"'
chrt -b 0 sh -c 'chrt -p $$ | sed "s/$$/PID/"'
chrt -i 0 sh -c 'chrt -p $$ | sed "s/$$/PID/"'
chrt -m
taskset -c 0 sh -c 'taskset -p $$ | sed "s/$$/PID/"; taskset -cp $$ | sed "s/$$/PID/"'
sh -c 'taskset -cp 0 $$ | sed "s/$$/PID/"'
renice -n 1 -p 99999 || echo "renice of a missing pid: $?"
taskset -p 99999 || echo "taskset of a missing pid: $?"
chrt -p 99999 || echo "chrt of a missing pid: $?"
`
	o := opts{timeout: 60 * time.Second}
	nat := native(t, o, "/bin/sh", "-c", script)
	if nat.code != 0 {
		t.Fatalf("BUG IN THE TEST: the native run failed%s", nat)
	}
	sb := sandbox(t, o, "/bin/sh", "-c", script)
	compareOutputs(t, nat, sb)
	if sb.stderr != nat.stderr {
		t.Errorf("stderr differs: %s%s\nnative:%s", firstDiff(nat.stderr, sb.stderr), sb, nat)
	}
}
