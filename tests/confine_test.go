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
	needRunsc(t)
	cmd := exec.Command(runscPath, "do", busybox, "sleep", "5")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	}()
	var sentry, gofer int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && (sentry == 0 || gofer == 0); {
		time.Sleep(50 * time.Millisecond)
		for _, pid := range childrenOf(cmd.Process.Pid) {
			args, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
			switch {
			case strings.Contains(string(args), "\x00boot\x00"):
				sentry = pid
			case strings.Contains(string(args), "\x00gofer\x00"):
				gofer = pid
			}
		}
	}
	if sentry == 0 || gofer == 0 {
		t.Fatalf("did not find the Sentry (%d) and gofer (%d) processes of runsc %d", sentry, gofer, cmd.Process.Pid)
	}
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
	needRunsc(t)
	var stderr strings.Builder
	cmd := exec.Command(runscPath, "do", busybox, "sh", "-c", "echo ready; sleep 10")
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	// Kill the gofer only once the program runs, so the failure is the
	// gofer's death and not a failed start.
	ready := make([]byte, 6)
	if _, err := io.ReadFull(stdout, ready); err != nil || string(ready) != "ready\n" {
		t.Fatalf("sandbox did not start: %q %v; stderr %q", ready, err, stderr.String())
	}
	done := make(chan error, 1)
	go func() { io.Copy(io.Discard, stdout); done <- cmd.Wait() }()
	gofer, sentry := 0, 0
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && (gofer == 0 || sentry == 0); {
		time.Sleep(50 * time.Millisecond)
		for _, pid := range childrenOf(cmd.Process.Pid) {
			args, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
			if strings.Contains(string(args), "\x00gofer\x00") {
				gofer = pid
			}
			if strings.Contains(string(args), "\x00boot\x00") {
				sentry = pid
			}
		}
	}
	if gofer == 0 || sentry == 0 {
		t.Fatal("did not find the gofer and Sentry processes")
	}
	syscall.Kill(gofer, syscall.SIGKILL)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("runsc did not exit after its gofer died")
	}
	if code := cmd.ProcessState.ExitCode(); code != 125 {
		t.Errorf("exit code %d, want 125; stderr %q", code, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "runsc: gofer exited unexpectedly") {
		t.Errorf("stderr %q, want one line about the gofer", stderr.String())
	}
	if err := syscall.Kill(sentry, 0); err == nil {
		time.Sleep(200 * time.Millisecond)
		if syscall.Kill(sentry, 0) == nil {
			t.Errorf("the Sentry (pid %d) outlived runsc", sentry)
		}
	}
}
