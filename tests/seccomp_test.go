package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHelpersRunUnderSeccomp checks that a running sandbox's Sentry, gofer
// and stub processes are confined by seccomp filters: every thread is in
// filter mode ("Seccomp: 2"), the Sentry and the gofer have one filter
// each, and the stubs two: the Sentry's, inherited, and their own. The
// sandbox must still run to completion. (That a system call outside a
// filter kills the process is tested in runsc/seccomp, on the same
// filters.)
func TestHelpersRunUnderSeccomp(t *testing.T) {
	needRunsc(t)
	stdout, err := os.CreateTemp(workDir, "seccomp-stdout-")
	if err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()
	var stderr strings.Builder
	cmd := exec.Command(runscPath, "do", busybox, "sh", "-c", "echo ready; sleep 2; echo done")
	cmd.Stdout, cmd.Stderr = stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	// Once the program has run, both helpers are past their set-up: the
	// gofer serves and the Sentry runs the application in a stub.
	var sentry, gofer int
	var stubs []int
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the sandbox did not start (Sentry %d, gofer %d, stubs %v of runsc %d); stderr %q",
				sentry, gofer, stubs, cmd.Process.Pid, stderr.String())
		}
		for _, pid := range childrenOf(cmd.Process.Pid) {
			args, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
			switch {
			case strings.Contains(string(args), "\x00boot\x00"):
				sentry = pid
			case strings.Contains(string(args), "\x00gofer\x00"):
				gofer = pid
			}
		}
		if sentry != 0 {
			// The Sentry's only children are the platform's stubs (and
			// systrap's zygote).
			stubs = childrenOf(sentry)
		}
		out, _ := os.ReadFile(stdout.Name())
		if sentry != 0 && gofer != 0 && len(stubs) > 0 && string(out) == "ready\n" {
			break
		}
	}

	if _, ok := procStatus(t, sentry)["Seccomp_filters"]; !ok {
		t.Log("this kernel does not report Seccomp_filters; checking the mode only")
	}
	for _, c := range []struct {
		name    string
		pid     int
		filters string
	}{
		{"sentry", sentry, "1"},
		{"gofer", gofer, "1"},
	} {
		status := procStatus(t, c.pid)
		if status["Seccomp"] != "2" {
			t.Errorf("%s (pid %d): Seccomp = %q, want 2 (filter)", c.name, c.pid, status["Seccomp"])
		}
		if f, ok := status["Seccomp_filters"]; ok && f != c.filters {
			t.Errorf("%s (pid %d): Seccomp_filters = %q, want %s", c.name, c.pid, f, c.filters)
		}
		// Each thread has its own seccomp state: TSYNC must have
		// reached all of them, and the runtime's later threads inherit.
		tids := threadsOf(c.pid)
		if len(tids) < 2 {
			t.Errorf("%s (pid %d): %d threads listed, want several", c.name, c.pid, len(tids))
		}
		for _, tid := range tids {
			st, ok := taskStatus(c.pid, tid)
			if !ok {
				continue // the thread ended meanwhile
			}
			if st["Seccomp"] != "2" {
				t.Errorf("%s thread %d: Seccomp = %q, want 2", c.name, tid, st["Seccomp"])
			}
		}
	}
	// A ptrace stub inherits the Sentry's filter at fork and adds its own
	// at the end of its start-up, which a new stub may not have reached
	// yet. A systrap stub is a fork of a process started before the
	// Sentry's filter existed: every thread has the stub's own filter, and
	// each thread that runs application code one more of its own.
	checked := 0
	for _, pid := range stubs {
		// Stubs unmap their argv; the memfd they were exec'd from names
		// them.
		if exe, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe"); strings.Contains(exe, "veil-systrap-stub") {
			if checkSystrapStub(t, pid) {
				checked++
			}
			continue
		}
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			st, ok := taskStatus(pid, pid)
			if !ok {
				break // released meanwhile
			}
			if st["Seccomp"] != "2" {
				t.Errorf("stub (pid %d): Seccomp = %q, want 2", pid, st["Seccomp"])
				break
			}
			f, ok := st["Seccomp_filters"]
			if !ok || f == "2" {
				checked++
				break
			}
			if f != "1" || time.Now().After(deadline) {
				t.Errorf("stub (pid %d): Seccomp_filters = %q, want 2 (the Sentry's and its own)", pid, f)
				break
			}
		}
	}
	if checked == 0 {
		t.Errorf("every stub of %v ended before it could be checked", stubs)
	}

	select {
	case <-done:
	case <-time.After(defaultTimeout):
		t.Fatal("the sandbox did not finish")
	}
	out, _ := os.ReadFile(stdout.Name())
	if code := cmd.ProcessState.ExitCode(); code != 0 || string(out) != "ready\ndone\n" {
		t.Errorf("sandbox: exit code %d, stdout %q, stderr %q; want 0, \"ready\\ndone\\n\"", code, out, stderr.String())
	}
}

// threadsOf lists the threads of process pid.
func threadsOf(pid int) []int {
	entries, _ := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "task"))
	var tids []int
	for _, e := range entries {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids
}

// taskStatus is procStatus for one thread that may be gone: ok is false
// then.
func taskStatus(pid, tid int) (map[string]string, bool) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "task", strconv.Itoa(tid), "status"))
	if err != nil {
		return nil, false
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m, true
}

// vsyscallSource calls the three legacy vsyscalls. The host kernel
// emulates them through seccomp alone: the stub's filter traps them for
// the Sentry to emulate, and the Sentry's filter, which the stub inherits,
// must not be stricter (the strictest action of all filters wins).
const vsyscallSource = `#include <stdio.h>
#include <time.h>
#include <sys/time.h>
int main(void) {
	time_t (*vtime)(time_t *) = (void *)0xffffffffff600400;
	int (*vgettimeofday)(struct timeval *, void *) = (void *)0xffffffffff600000;
	long (*vgetcpu)(unsigned *, unsigned *, void *) = (void *)0xffffffffff600800;
	struct timeval tv = {0};
	unsigned cpu = ~0u;
	time_t t = vtime(0);
	int r = vgettimeofday(&tv, 0);
	long c = vgetcpu(&cpu, 0, 0);
	printf("time %d\n", t > 1600000000);
	printf("gettimeofday %d %d\n", r, tv.tv_sec > 1600000000);
	printf("getcpu %ld %d\n", c, cpu != ~0u);
	printf("vsyscall: ok\n");
	return 0;
}
`

func TestVsyscallThroughSeccomp(t *testing.T) {
	needRunsc(t)
	src := filepath.Join(workDir, "vsyscall.c")
	bin := filepath.Join(binDir, "vsyscall")
	if err := os.WriteFile(src, []byte(vsyscallSource), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := command(workDir, nil, "gcc", "-static", "-O1", "-Wall", "-o", bin, src); err != nil {
		t.Fatalf("building %s: %v\n%s", src, err, out)
	}
	want := "time 1\ngettimeofday 0 1\ngetcpu 0 1\nvsyscall: ok\n"
	if nat := native(t, opts{}, bin); nat.code != 0 || nat.stdout != want {
		t.Skip(fmt.Sprintf("the host does not emulate vsyscalls (booted with vsyscall=none?)%s", nat))
	}
	expect(t, sandbox(t, opts{}, bin), 0, want)
}

// checkSystrapStub checks the filters of every thread of systrap stub pid
// and reports whether it could (the stub may have ended meanwhile).
func checkSystrapStub(t *testing.T, pid int) bool {
	t.Helper()
	tids := threadsOf(pid)
	seen := 0
	for _, tid := range tids {
		st, ok := taskStatus(pid, tid)
		if !ok {
			continue
		}
		seen++
		if st["Seccomp"] != "2" || st["NoNewPrivs"] != "1" {
			t.Errorf("systrap stub %d thread %d: Seccomp = %q, NoNewPrivs = %q, want 2 and 1", pid, tid, st["Seccomp"], st["NoNewPrivs"])
		}
		if f, ok := st["Seccomp_filters"]; ok && f != "1" && f != "2" {
			t.Errorf("systrap stub %d thread %d: Seccomp_filters = %q, want 1 (the stub's) or 2 (and the application thread's)", pid, tid, f)
		}
	}
	return seen > 0
}
