package sandbox

import (
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

// capBnd returns the CapBnd line of a /proc/PID/status text.
func capBnd(t *testing.T, status string) uint64 {
	t.Helper()
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, "CapBnd:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatalf("CapBnd %q: %v", v, err)
			}
			return n
		}
	}
	t.Fatalf("no CapBnd in %q", status)
	return 0
}

func ownCapBnd(t *testing.T) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	return capBnd(t, string(b))
}

// mainSpawner's thread was the main thread's goroutine's when it began
// to serve (TestMain), as a spawner's goroutine may find itself: it must
// move off it and leave the main thread's credentials alone.
var (
	mainSpawner = &spawner{keep: []uintptr{unix.CAP_SYS_ADMIN, unix.CAP_CHOWN}}
	fullCapBnd  uint64
)

// init keeps the main goroutine, which runs TestMain, on the main thread.
func init() { runtime.LockOSThread() }

func TestMain(m *testing.M) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		panic(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapBnd:"); ok {
			fullCapBnd, _ = strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
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
		if got, want := capBnd(t, out.String()), uint64(1<<unix.CAP_SYS_ADMIN|1<<unix.CAP_CHOWN); got != want {
			t.Errorf("start %d: child's CapBnd %x, want %x", i, got, want)
		}
	}
	if got := ownCapBnd(t); got != fullCapBnd {
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
		b, err := os.ReadFile("/proc/self/task/" + task.Name() + "/status")
		if err == nil && capBnd(t, string(b)) == 1<<unix.CAP_SYS_ADMIN|1<<unix.CAP_CHOWN {
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
