package tests

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHelpersAreConfined checks what the Sentry and the gofer may do on
// the host while a sandbox runs: the Sentry holds no capabilities and lives
// in its own pid, mount and network namespaces; the gofer keeps only the
// file capabilities and its own mount namespace; both have no_new_privs.
func TestHelpersAreConfined(t *testing.T) {
	sb := startSandbox(t, "sleep 5")
	sentry, gofer := sb.sentry, sb.gofer
	const fileCaps = 1<<0 | 1<<1 | 1<<2 | 1<<3 | 1<<4 // CHOWN, DAC_OVERRIDE, DAC_READ_SEARCH, FOWNER, FSETID
	for _, c := range []struct {
		name  string
		pid   int
		caps  uint64
		newNS []string
	}{
		{"sentry", sentry, 0, []string{"pid", "mnt", "net", "ipc", "uts"}},
		{"gofer", gofer, fileCaps, []string{"mnt"}},
	} {
		status := procStatus(t, c.pid)
		for _, field := range []string{"CapEff", "CapPrm", "CapBnd"} {
			v, err := strconv.ParseUint(status[field], 16, 64)
			if err != nil || v != c.caps {
				t.Errorf("%s %s = %s, want %x", c.name, field, status[field], c.caps)
			}
		}
		if c.name == "sentry" {
			// The Sentry sees no host files: its root holds only its own
			// /proc and the host's clocksource (for the vDSO).
			entries, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(c.pid), "root"))
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			if err != nil || strings.Join(names, " ") != "proc sys" && strings.Join(names, " ") != "proc" {
				t.Errorf("sentry root holds %v (%v), want only proc and sys", names, err)
			}
		}
		if status["NoNewPrivs"] != "1" {
			t.Errorf("%s NoNewPrivs = %q, want 1", c.name, status["NoNewPrivs"])
		}
		for _, ns := range c.newNS {
			mine, _ := os.Readlink("/proc/self/ns/" + ns)
			theirs, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(c.pid), "ns", ns))
			if err != nil || theirs == mine {
				t.Errorf("%s shares the host's %s namespace (%s, %v)", c.name, ns, theirs, err)
			}
		}
	}
}

// runningSandbox is a `runsc do` whose program has started: by then the
// Sentry and the gofer have finished confining themselves.
type runningSandbox struct {
	cmd           *exec.Cmd
	stderr        *strings.Builder
	done          chan error // runsc's exit
	sentry, gofer int        // host pids
}

// startSandbox runs script under `busybox sh -c` after an "echo ready" and
// returns once "ready" arrived and the helper processes were found. The
// sandbox is killed at the end of the test.
func startSandbox(t *testing.T, script string) *runningSandbox {
	t.Helper()
	return startSandboxAfter(t, "", script)
}

// startSandboxAfter is startSandbox with setup run before "echo ready".
func startSandboxAfter(t *testing.T, setup, script string) *runningSandbox {
	t.Helper()
	needRunsc(t)
	s := &runningSandbox{stderr: &strings.Builder{}, done: make(chan error, 1)}
	s.cmd = exec.Command(runscPath, "do", busybox, "sh", "-c", setup+"\necho ready; "+script)
	s.cmd.Stderr = s.stderr
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	})
	ready := make([]byte, 6)
	if _, err := io.ReadFull(stdout, ready); err != nil || string(ready) != "ready\n" {
		go func() { s.done <- s.cmd.Wait() }()
		t.Fatalf("sandbox did not start: %q %v; stderr %q", ready, err, s.stderr.String())
	}
	go func() { io.Copy(io.Discard, stdout); s.done <- s.cmd.Wait() }()
	for _, pid := range childrenOf(s.cmd.Process.Pid) {
		args, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		switch {
		case strings.Contains(string(args), "\x00boot\x00"):
			s.sentry = pid
		case strings.Contains(string(args), "\x00gofer\x00"):
			s.gofer = pid
		}
	}
	if s.sentry == 0 || s.gofer == 0 {
		t.Fatalf("did not find the Sentry (%d) and gofer (%d) processes of runsc %d", s.sentry, s.gofer, s.cmd.Process.Pid)
	}
	return s
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The field after the ")" that ends the command name: state, ppid.
		rest := string(stat[strings.LastIndexByte(string(stat), ')')+2:])
		fields := strings.Fields(rest)
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			out = append(out, p)
		}
	}
	return out
}

func procStatus(t *testing.T, pid int) map[string]string {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// TestGoferDeathStopsSandbox kills the gofer of a running sandbox: runsc
// must say so in one line, stop the Sentry and exit 125, leaving no
// process behind.
func TestGoferDeathStopsSandbox(t *testing.T) {
	// After "ready" the shell needs nothing from the gofer (a fifo in the
	// Sentry's /tmp, a builtin): a command it still had to look up would
	// fail with EIO and say so on stderr, racing the gofer's death.
	sb := startSandboxAfter(t, "mkfifo /tmp/wait", "read x < /tmp/wait")
	gofer, sentry := sb.gofer, sb.sentry
	syscall.Kill(gofer, syscall.SIGKILL)
	var code int
	select {
	case <-sb.done:
		code = sb.cmd.ProcessState.ExitCode()
		sb.done <- nil // for the cleanup
	case <-time.After(10 * time.Second):
		t.Fatal("runsc did not exit after its gofer died")
	}
	if code != 125 {
		t.Errorf("exit code %d, want 125; stderr %q", code, sb.stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(sb.stderr.String()), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "runsc: gofer exited unexpectedly") {
		t.Errorf("stderr %q, want one line about the gofer", sb.stderr.String())
	}
	if err := syscall.Kill(sentry, 0); err == nil {
		time.Sleep(200 * time.Millisecond)
		if syscall.Kill(sentry, 0) == nil {
			t.Errorf("the Sentry (pid %d) outlived runsc", sentry)
		}
	}
}

// TestExecDoesNotLeakSentryFiles runs a few hundred execs and checks that
// the Sentry holds no more host descriptors than a fresh sandbox does.
func TestExecDoesNotLeakSentryFiles(t *testing.T) {
	fresh := startSandbox(t, "sleep 10")
	base := countSentryFDs(t, fresh.sentry)
	looped := startSandboxAfter(t, "i=0; while [ $i -lt 300 ]; do /bin/busybox true; i=$((i+1)); done", "sleep 10")
	if n := countSentryFDs(t, looped.sentry); n > base+20 {
		t.Errorf("the Sentry holds %d host descriptors after 300 execs, %d in a fresh sandbox", n, base)
	}
}

func countSentryFDs(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "fd"))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
