package tests

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestDentryCacheIsBounded walks a tree of 30,000 files with du, find and
// ls -lR under runsc do: the results must equal the native run's, and the
// gofer, which holds one host descriptor per file the Sentry's dentry
// cache names, must stay far below one descriptor per file (the cache
// evicts unused dentries and clunks their FIDs).
func TestDentryCacheIsBounded(t *testing.T) {
	needRunsc(t)
	const dirs, files = 300, 100
	tree := filepath.Join(workDir, "tree-"+nonce(t))
	for d := 0; d < dirs; d++ {
		dir := filepath.Join(tree, fmt.Sprintf("d%03d", d))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for f := 0; f < files; f++ {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d", f)), []byte(strings.Repeat("x", f*50)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	defer os.RemoveAll(tree)
	script := `du -s "$T" | cut -f1; find "$T" | wc -l; ls -lR "$T" > /dev/null; echo "ls $?"; du -a "$T" | sort | md5sum`
	env := []string{"T=" + tree, "LC_ALL=C"}
	nat := native(t, withEnv(opts{timeout: 2 * time.Minute}, env...), "/bin/sh", "-c", script)
	if nat.code != 0 || nat.stderr != "" {
		t.Fatalf("BUG IN THE TEST: the native run failed%s", nat)
	}

	cmd := exec.Command(runscPath, "do", "/bin/sh", "-c", script)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Sample the gofer's descriptors while the walk runs.
	var mu sync.Mutex
	peak, gofer := 0, 0
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-exited:
				return
			default:
			}
			if gofer == 0 {
				gofer = goferOf(cmd.Process.Pid)
			}
			if gofer != 0 {
				if fds, err := os.ReadDir("/proc/" + strconv.Itoa(gofer) + "/fd"); err == nil {
					mu.Lock()
					peak = max(peak, len(fds))
					mu.Unlock()
				} else {
					return
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	timer := time.AfterFunc(5*time.Minute, func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	err := cmd.Wait()
	timer.Stop()
	close(exited)
	<-done
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("runsc do: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	if stdout.String() != nat.stdout {
		t.Errorf("sandboxed output %q, native %q", stdout.String(), nat.stdout)
	}
	mu.Lock()
	defer mu.Unlock()
	if gofer == 0 || peak == 0 {
		t.Fatal("could not find the gofer to count its descriptors")
	}
	t.Logf("the gofer held at most %d descriptors for %d files", peak, dirs*files)
	if peak > 6000 {
		t.Errorf("the gofer held up to %d descriptors walking %d files: the dentry cache is not bounded", peak, dirs*files)
	}
}

// goferOf returns the host pid of the gofer started by the runsc process
// pid, or 0.
func goferOf(pid int) int {
	for _, c := range childrenOf(pid) {
		args, _ := os.ReadFile("/proc/" + strconv.Itoa(c) + "/cmdline")
		if strings.Contains(string(args), "\x00gofer\x00") {
			return c
		}
	}
	return 0
}

// TestDuUsr compares du -sh of the host's /usr (150,000 files on a Debian
// with the test dependencies) with the native answer.
func TestDuUsr(t *testing.T) {
	o := opts{timeout: 10 * time.Minute}
	nat := native(t, o, "/usr/bin/du", "-sh", "/usr")
	if nat.code != 0 {
		t.Fatalf("BUG IN THE TEST: the native run failed%s", nat)
	}
	sb := sandbox(t, o, "/usr/bin/du", "-sh", "/usr")
	compareOutputs(t, nat, sb)
	if sb.stderr != "" {
		t.Errorf("du printed errors in the sandbox%s", sb)
	}
}
