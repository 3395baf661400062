package sandbox

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// parseCapBnd returns the CapBnd of a /proc/PID/status text.
func parseCapBnd(status string) (uint64, error) {
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, "CapBnd:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, fmt.Errorf("no CapBnd in %q", status)
}

// capBndOf returns the CapBnd of a status file.
func capBndOf(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return parseCapBnd(string(b))
}

// mainSpawner's thread was the main thread's goroutine's when it began
// to serve (TestMain), as a spawner's goroutine may find itself: it must
// move off it and leave the main thread's credentials alone.
var (
	mainSpawner = &spawner{keep: []uintptr{unix.CAP_SYS_ADMIN, unix.CAP_CHOWN}}
	fullCapBnd  uint64
)

// mainSpawnerSet is the bounding set of mainSpawner's thread.
const mainSpawnerSet = 1<<unix.CAP_SYS_ADMIN | 1<<unix.CAP_CHOWN

// init keeps the main goroutine, which runs TestMain, on the main thread.
func init() { runtime.LockOSThread() }

func TestMain(m *testing.M) {
	var err error
	if fullCapBnd, err = capBndOf("/proc/self/status"); err != nil {
		panic(err)
	}
	mainSpawner.once.Do(func() {
		mainSpawner.reqs = make(chan spawnRequest)
		mainSpawner.serve(mainSpawner.reqs) // returns once handed over
	})
	os.Exit(m.Run())
}

func TestSpawnerCutsChildsBoundingSet(t *testing.T) {
	if fullCapBnd&(1<<unix.CAP_SETPCAP) == 0 || fullCapBnd&(1<<unix.CAP_SYS_ADMIN) == 0 {
		t.Skip("needs CAP_SETPCAP and CAP_SYS_ADMIN in the bounding set (run as root)")
	}
	for i := range 2 { // the second start reuses the thread
		cmd := exec.Command("/bin/cat", "/proc/self/status")
		var out strings.Builder
		cmd.Stdout = &out
		if err := mainSpawner.start(cmd, ""); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
		got, err := parseCapBnd(out.String())
		if err != nil {
			t.Fatal(err)
		}
		if want := uint64(mainSpawnerSet); got != want {
			t.Errorf("start %d: child's CapBnd %x, want %x", i, got, want)
		}
	}
	if got, err := capBndOf("/proc/self/status"); err != nil || got != fullCapBnd {
		t.Errorf("the main thread's CapBnd went from %x to %x", fullCapBnd, got)
	}
	// Threads come and go; only the spawner's has its set.
	done := make(chan bool)
	for range 50 {
		go func() { time.Sleep(time.Millisecond); done <- true }()
	}
	for range 50 {
		<-done
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, task := range tasks {
		if set, err := capBndOf("/proc/self/task/" + task.Name() + "/status"); err == nil && set == mainSpawnerSet {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d of %d threads have the spawner's bounding set, want 1", n, len(tasks))
	}
}

// A child with Pdeathsig lives on after start returns: the thread that
// forked it does not exit.
func TestSpawnerKeepsPdeathsigChildAlive(t *testing.T) {
	s := &spawner{}
	cmd := exec.Command("/bin/sleep", "10")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: unix.SIGKILL}
	if err := s.start(cmd, ""); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	// Let other goroutines run, and a thread that would exit do so.
	for range 10 {
		time.Sleep(10 * time.Millisecond)
		go func() {}()
	}
	var ws unix.WaitStatus
	pid, err := unix.Wait4(cmd.Process.Pid, &ws, unix.WNOHANG, nil)
	if err != nil || pid != 0 {
		t.Fatalf("the child ended (wait4 %d, %v, status %#x)", pid, err, ws)
	}
}
