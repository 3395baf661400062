package ptrace

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/veil-sandbox/veil/platform"
	"github.com/veil-sandbox/veil/platform/platformtest"
	"github.com/veil-sandbox/veil/sentry/arch"
)

const (
	codeAddr = 0x400000 // memfd page 0, R+X
	dataAddr = 0x600000 // memfd page 1 in most tests
)

var (
	testPlatformOnce sync.Once
	testPlatform     *Platform
	testPlatformErr  error
)

func getPlatform(t testing.TB) *Platform {
	testPlatformOnce.Do(func() {
		testPlatform, testPlatformErr = New()
		if testPlatformErr != nil {
			return
		}
		// Get the stub pool going (see startPool), so that tests see
		// it in its steady state.
		for i := 0; i < 2; i++ {
			as, err := testPlatform.NewAddressSpace()
			if err != nil {
				testPlatformErr = err
				return
			}
			as.Release()
		}
	})
	if testPlatformErr != nil {
		t.Fatalf("New: %v", testPlatformErr)
	}
	return testPlatform
}

// env is an address space of the test platform (platformtest.Env), with
// the platform's concrete type for the tests that look inside it.
type env struct {
	*platformtest.Env
	p *Platform
}

func newEnv(t testing.TB, pages int) *env {
	t.Helper()
	p := getPlatform(t)
	e := platformtest.NewEnv(t, p, pages)
	// Let the pool refill now rather than in the middle of a test that
	// counts ptrace requests.
	waitPool(t, p)
	return &env{Env: e, p: p}
}

func newContext(t testing.TB, p *Platform) platform.Context {
	t.Helper()
	c, err := p.NewContext()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func regsAt(rip uint64) arch.Registers { return arch.InitialRegisters(rip, 0) }

func TestStubELF(t *testing.T) {
	img := buildStubELF()
	if string(img[:4]) != "\x7fELF" || len(img) > pageSize {
		t.Fatalf("bad stub image (%d bytes)", len(img))
	}
	if stubRecvOK >= stubBase+pageSize || stubEntry != stubBase+stubCodeOff {
		t.Fatalf("bad stub layout: entry %#x end %#x", stubEntry, stubRecvOK)
	}
	// The sock_fprog points at the filter, which ends the image.
	le := binary.LittleEndian
	fprog := img[stubFprog-stubCodePage:]
	n, filter := int(le.Uint16(fprog)), uintptr(le.Uint64(fprog[8:]))
	if n != len(buildStubFilter()) || filter != stubFprog+16 || int(filter-stubCodePage)+8*n != len(img) {
		t.Fatalf("bad sock_fprog at %#x: %d instructions at %#x (image %d bytes)", stubFprog, n, filter, len(img))
	}
}

// The stub process must hold nothing but its two pages and the socket.
func TestStubIsEmpty(t *testing.T) {
	e := newEnv(t, 1)
	pid := e.AS.(*addressSpace).pid
	maps, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/maps")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(maps)), "\n") {
		if !strings.Contains(l, "[vsyscall]") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "7fff00000000-7fff00001000 r-xp") ||
		!strings.HasPrefix(lines[1], "7fff00001000-7fff00002000 rw-p") {
		t.Errorf("stub maps:\n%s", maps)
	}
	fds, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	if len(fds) != 1 || fds[0].Name() != "0" {
		t.Errorf("stub fds: %v", fds)
	}
}

func TestSyscallEmulation(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	e := newEnv(t, 1)
	e.Code(
		0xb8, 0x27, 0x00, 0x00, 0x00, // mov eax, 39 (getpid)
		0x0f, 0x05, // syscall
		0x48, 0x89, 0xc7, // mov rdi, rax
		0xb8, 0x3c, 0x00, 0x00, 0x00, // mov eax, 60 (exit)
		0x0f, 0x05, // syscall
	)
	c := newContext(t, e.p)
	defer c.Release()

	regs := regsAt(codeAddr)
	if _, err := c.Switch(e.AS, &regs); err != nil {
		t.Fatalf("Switch: %v", err)
	}
	if regs.Orig_rax != unix.SYS_GETPID || regs.Rip != codeAddr+7 {
		t.Fatalf("got orig_rax %d rip %#x, want %d %#x", regs.Orig_rax, regs.Rip, unix.SYS_GETPID, codeAddr+7)
	}
	// The host did not run getpid: rax still holds the entry -ENOSYS.
	if int64(regs.Rax) != -int64(unix.ENOSYS) {
		t.Errorf("rax = %#x after an emulated syscall, want -ENOSYS", regs.Rax)
	}

	before := e.p.Stats()
	regs.Rax = 12345
	if _, err := c.Switch(e.AS, &regs); err != nil {
		t.Fatalf("Switch: %v", err)
	}
	after := e.p.Stats()
	if regs.Orig_rax != unix.SYS_EXIT || regs.Rdi != 12345 || regs.Rip != codeAddr+17 {
		t.Fatalf("got orig_rax %d rdi %d rip %#x", regs.Orig_rax, regs.Rdi, regs.Rip)
	}
	if n := after.PtraceRequests - before.PtraceRequests; n != 3 {
		t.Errorf("syscall round trip took %d ptrace requests, want 3", n)
	}
	if n := after.Waits - before.Waits; n != 1 {
		t.Errorf("syscall round trip took %d waits, want 1", n)
	}

	// exit was not executed either: the thread is still there.
	regs.Rip = codeAddr + 15 // the second syscall again
	regs.Rax = unix.SYS_EXIT
	if _, err := c.Switch(e.AS, &regs); err != nil || regs.Orig_rax != unix.SYS_EXIT {
		t.Fatalf("Switch after emulated exit: %v, orig_rax %d", err, regs.Orig_rax)
	}
}

// Signals sent to the stub from outside are never delivered and never
// reported; the stub survives them.
func TestExternalSignals(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	e := newEnv(t, 1)
	e.Code(0xeb, 0xfe, 0x0f, 0x05) // jmp .; syscall
	c := newContext(t, e.p)
	defer c.Release()
	pid := e.AS.(*addressSpace).pid

	// Create the stub thread first.
	regs := regsAt(codeAddr + 2)
	if _, err := c.Switch(e.AS, &regs); err != nil {
		t.Fatal(err)
	}
	tid := int(uint32(c.(*context).ids.Load()))
	go func() {
		time.Sleep(20 * time.Millisecond)
		unix.Tgkill(pid, tid, unix.SIGUSR1) // default action: terminate
		unix.Kill(pid, unix.SIGTERM)
		unix.Kill(pid, unix.SIGSTOP)
		time.Sleep(20 * time.Millisecond)
		c.Interrupt()
	}()
	regs = regsAt(codeAddr)
	if _, err := c.Switch(e.AS, &regs); !errors.Is(err, platform.ErrInterrupted) {
		t.Fatalf("Switch: %v, want ErrInterrupted", err)
	}
	// Both the application thread and the control thread still work.
	e.MapPage(dataAddr, 0, platform.Read)
	regs = regsAt(codeAddr + 2)
	if _, err := c.Switch(e.AS, &regs); err != nil {
		t.Fatal(err)
	}
	// From another goroutine, so through the control thread.
	errc := make(chan error)
	go func() { errc <- e.AS.MapFile(dataAddr, e.FD, 0, pageSize, platform.Read) }()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestFPState(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	e := newEnv(t, 1)
	e.Code(
		0x66, 0x48, 0x0f, 0x7e, 0xc0, // movq rax, xmm0
		0x0f, 0x05, // syscall
		0x66, 0x48, 0x0f, 0x6e, 0xcf, // movq xmm1, rdi
		0x0f, 0x05, // syscall
	)
	c := newContext(t, e.p)
	defer c.Release()

	const xmm0, xmm1 = 160, 176
	const v0, v1 = 0x1122334455667788, 0x0badc0ffee
	fp, err := c.FPState() // no thread yet: the initial state
	if err != nil {
		t.Fatal(err)
	}
	if len(fp) != e.p.fpSize || len(fp) < 576 {
		t.Fatalf("FP state of %d bytes", len(fp))
	}
	binary.LittleEndian.PutUint64(fp[xmm0:], v0)
	if err := c.SetFPState(fp); err != nil {
		t.Fatal(err)
	}

	before := e.p.Stats()
	regs := regsAt(codeAddr)
	if _, err := c.Switch(e.AS, &regs); err != nil {
		t.Fatal(err)
	}
	// At a syscall trap the app's rax is the syscall number.
	if regs.Orig_rax != v0 {
		t.Fatalf("app read xmm0 = %#x, want %#x", regs.Orig_rax, uint64(v0))
	}
	regs.Rdi = v1
	if _, err := c.Switch(e.AS, &regs); err != nil {
		t.Fatal(err)
	}
	// Normal switches do not touch the FP state: thread creation
	// (clone injection + seize + interrupt) and one SETREGSET, then 3
	// requests per syscall.
	if n := e.p.Stats().PtraceRequests - before.PtraceRequests; n > 3+2+1+3+3 {
		t.Errorf("%d ptrace requests", n)
	}
	fp, err = c.FPState()
	if err != nil {
		t.Fatal(err)
	}
	if got := binary.LittleEndian.Uint64(fp[xmm1:]); got != v1 {
		t.Fatalf("FPState xmm1 = %#x, want %#x", got, uint64(v1))
	}
	if got := binary.LittleEndian.Uint64(fp[xmm0:]); got != v0 {
		t.Fatalf("FPState xmm0 = %#x, want %#x", got, uint64(v0))
	}

	// The FP state follows the context into another address space...
	e2 := newEnv(t, 1)
	e2.Code(0x66, 0x48, 0x0f, 0x7e, 0xc0, 0x0f, 0x05) // movq rax, xmm0; syscall
	regs = regsAt(codeAddr)
	if _, err := c.Switch(e2.AS, &regs); err != nil {
		t.Fatal(err)
	}
	if regs.Orig_rax != v0 {
		t.Fatalf("after address space change xmm0 = %#x, want %#x", regs.Orig_rax, uint64(v0))
	}

	// ... unless the old one was released first (execve): then the new
	// thread starts from the initial state.
	e.AS.Release()
	e3 := newEnv(t, 1)
	e3.Code(0x66, 0x48, 0x0f, 0x7e, 0xc0, 0x0f, 0x05)
	e2.AS.Release()
	regs = regsAt(codeAddr)
	if _, err := c.Switch(e3.AS, &regs); err != nil {
		t.Fatal(err)
	}
	if regs.Orig_rax != 0 {
		t.Fatalf("after exec-like address space change xmm0 = %#x, want 0", regs.Orig_rax)
	}
}

// waitPool waits until p's stub pool is full and idle and returns the
// pids of the pooled stubs.
func waitPool(t testing.TB, p *Platform) []int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		idle, pids := p.poolIdle()
		if idle {
			return pids
		}
		if time.Now().After(deadline) {
			t.Fatalf("stub pool not refilled (%d ready)", len(pids))
		}
		time.Sleep(time.Millisecond)
	}
}

// childPids returns our child processes, except the ready stubs of the
// platforms in pools (which are not leaks: Close releases them).
func childPids(t *testing.T, pools ...*Platform) []string {
	t.Helper()
	pooled := map[string]bool{}
	for _, p := range pools {
		for _, pid := range waitPool(t, p) {
			pooled[strconv.Itoa(pid)] = true
		}
	}
	files, _ := filepath.Glob("/proc/self/task/*/children")
	var pids []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, pid := range strings.Fields(string(b)) {
			if !pooled[pid] {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

func TestReleaseLeavesNothing(t *testing.T) {
	p := getPlatform(t)
	waitPool(t, p)
	time.Sleep(10 * time.Millisecond)
	goroutines := runtime.NumGoroutine()

	func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		e := newEnv(t, 1)
		e.Code(0x0f, 0x05) // syscall
		as2, err := p.NewAddressSpace()
		if err != nil {
			t.Fatal(err)
		}
		if err := as2.MapFile(codeAddr, e.FD, 0, pageSize, platform.AccessType{Read: true, Execute: true}); err != nil {
			t.Fatal(err)
		}

		// A context in another goroutine, released normally.
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			c := newContext(t, p)
			regs := regsAt(codeAddr)
			if _, err := c.Switch(e.AS, &regs); err != nil {
				t.Error(err)
			}
			c.Release()
		}()
		wg.Wait()

		// A context whose address space is released under it (exec),
		// then moves to another one, then is released after it.
		c := newContext(t, p)
		regs := regsAt(codeAddr)
		if _, err := c.Switch(e.AS, &regs); err != nil {
			t.Fatal(err)
		}
		e.AS.Release()
		regs = regsAt(codeAddr)
		if _, err := c.Switch(as2, &regs); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Switch(e.AS, &regs); err == nil {
			t.Error("Switch into a released address space succeeded")
		}
		as2.Release()
		c.Release()
	}()

	if pids := childPids(t, p); len(pids) != 0 {
		t.Errorf("children left: %v", pids)
	}
	// Only the pooled stubs are left, with no state change to report.
	var ws unix.WaitStatus
	if pid, err := unix.Wait4(-1, &ws, unix.WNOHANG|unix.WALL, nil); pid != 0 || (err != nil && err != unix.ECHILD) {
		t.Errorf("wait4(-1): %d, %v, want 0 or ECHILD", pid, err)
	}
	waitPool(t, p)
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > goroutines {
		t.Errorf("%d goroutines, %d before", n, goroutines)
	}
}

// TestUnmapNothingMapped checks that Unmap outside anything MapFile ever
// mapped costs no injection, and that Unmap inside still works.
func TestUnmapNothingMapped(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	e := newEnv(t, 2)
	before := e.p.Stats()
	e.AS.Unmap(0, maxUserAddress)
	if n := e.p.Stats().Injections - before.Injections; n != 0 {
		t.Errorf("Unmap in an empty address space: %d injections", n)
	}
	e.Code(0x0f, 0x05)                         // syscall
	e.MapPage(dataAddr, 1, platform.ReadWrite) // the data page
	e.AS.Unmap(dataAddr, pageSize)
	c := newContext(t, e.p)
	defer c.Release()
	regs := regsAt(codeAddr)
	if _, err := c.Switch(e.AS, &regs); err != nil {
		t.Fatal(err)
	}
	// mov al, [dataAddr]: faults, since the page is unmapped.
	e.Code(0x8a, 0x04, 0x25, 0x00, 0x00, 0x60, 0x00)
	regs = regsAt(codeAddr)
	if _, err := c.Switch(e.AS, &regs); !errors.Is(err, platform.ErrFault) {
		t.Fatalf("read of an unmapped page: %v, want ErrFault", err)
	}
}

// TestPoolClose checks that a platform's pool hands out working stubs and
// that Close leaves no process behind.
func TestPoolClose(t *testing.T) {
	shared := getPlatform(t)
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	waitPool(t, p)
	var ass []platform.AddressSpace
	for i := 0; i < poolSize+1; i++ {
		as, err := p.NewAddressSpace()
		if err != nil {
			t.Fatal(err)
		}
		ass = append(ass, as)
	}
	p.Close()
	p.Close()
	// Still usable after Close, without a pool.
	as, err := p.NewAddressSpace()
	if err != nil {
		t.Fatal(err)
	}
	ass = append(ass, as)
	func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		fd, err := unix.MemfdCreate("veil-ptrace-test", unix.MFD_CLOEXEC)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		if err := unix.Ftruncate(fd, pageSize); err != nil {
			t.Fatal(err)
		}
		if _, err := unix.Pwrite(fd, []byte{0x0f, 0x05}, 0); err != nil { // syscall
			t.Fatal(err)
		}
		c := newContext(t, p)
		defer c.Release()
		for _, as := range ass {
			if err := as.MapFile(codeAddr, fd, 0, pageSize, platform.AccessType{Read: true, Execute: true}); err != nil {
				t.Fatal(err)
			}
			regs := regsAt(codeAddr)
			if _, err := c.Switch(as, &regs); err != nil {
				t.Fatal(err)
			}
			if regs.Rip != codeAddr+2 {
				t.Fatalf("rip %#x after syscall", regs.Rip)
			}
		}
	}()
	for _, as := range ass {
		as.Release()
	}
	if idle, pids := p.poolIdle(); !idle || len(pids) != 0 {
		t.Errorf("closed pool: idle %v, stubs %v", idle, pids)
	}
	if pids := childPids(t, shared); len(pids) != 0 {
		t.Errorf("children left: %v", pids)
	}
}

func BenchmarkSyscallRoundTrip(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	e := newEnv(b, 1)
	e.Code(0x0f, 0x05, 0xeb, 0xfc) // loop: syscall; jmp loop
	c := newContext(b, e.p)
	defer c.Release()
	regs := regsAt(codeAddr)
	if _, err := c.Switch(e.AS, &regs); err != nil {
		b.Fatal(err)
	}
	before := e.p.Stats()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		regs.Rax = 0
		if _, err := c.Switch(e.AS, &regs); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	after := e.p.Stats()
	b.ReportMetric(float64(after.PtraceRequests-before.PtraceRequests)/float64(b.N), "ptrace/op")
}

func BenchmarkMapFile(b *testing.B) {
	e := newEnv(b, 1)
	for i := 0; i < b.N; i++ {
		if err := e.AS.MapFile(codeAddr, e.FD, 0, pageSize, platform.Read); err != nil {
			b.Fatal(err)
		}
	}
}

// MapFile from the goroutine of a context running in the address space
// (the page fault path) injects on the context's own thread.
func BenchmarkMapFileFromContext(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	e := newEnv(b, 1)
	e.Code(0x0f, 0x05) // syscall
	c := newContext(b, e.p)
	defer c.Release()
	regs := regsAt(codeAddr)
	if _, err := c.Switch(e.AS, &regs); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := e.AS.MapFile(dataAddr, e.FD, 0, pageSize, platform.Read); err != nil {
			b.Fatal(err)
		}
	}
}

// A stub thread runs on its tracer's CPU after short runs, and anywhere
// after a long one.
func TestCPUBinding(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	e := newEnv(t, 1)
	e.Code(0xeb, 0xfe, 0x0f, 0x05) // jmp .; syscall
	c := newContext(t, e.p)
	defer c.Release()
	affinity := func() int {
		var s unix.CPUSet
		if err := unix.SchedGetaffinity(c.(*context).tid, &s); err != nil {
			t.Fatal(err)
		}
		return s.Count()
	}
	// The threshold is set per phase so that a loaded machine's scheduling
	// delays cannot turn a short run into a long one, or back.
	defer func(d time.Duration) { bindMaxRun = d }(bindMaxRun)
	bindMaxRun = time.Hour // every run is short
	for i := 0; i < 2; i++ {
		regs := regsAt(codeAddr + 2)
		if _, err := c.Switch(e.AS, &regs); err != nil {
			t.Fatal(err)
		}
	}
	if n := affinity(); n != 1 {
		t.Errorf("after short runs the stub thread may run on %d CPUs, want 1", n)
	}
	bindMaxRun = time.Nanosecond // every run is long
	regs := regsAt(codeAddr)
	go func() {
		time.Sleep(10 * time.Millisecond)
		c.Interrupt()
	}()
	if _, err := c.Switch(e.AS, &regs); !errors.Is(err, platform.ErrInterrupted) {
		t.Fatal(err)
	}
	regs = regsAt(codeAddr + 2)
	if _, err := c.Switch(e.AS, &regs); err != nil {
		t.Fatal(err)
	}
	if n, want := affinity(), e.p.cpus.Count(); n != want {
		t.Errorf("after a long run the stub thread may run on %d CPUs, want %d", n, want)
	}
}

// procStatus returns the fields of /proc/<pid>/task/<tid>/status.
func procStatus(t *testing.T, pid, tid int) map[string]string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(tid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	m := make(map[string]string)
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// Every stub thread runs under the seccomp filter, and every system call
// the platform injects still works under it.
func TestStubSeccomp(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	e := newEnv(t, 2)
	as := e.AS.(*addressSpace)
	self := procStatus(t, os.Getpid(), unix.Gettid())
	ours, _ := strconv.Atoi(self["Seccomp_filters"])
	check := func(what string, tid int) {
		t.Helper()
		st := procStatus(t, as.pid, tid)
		if st["NoNewPrivs"] != "1" || st["Seccomp"] != "2" || st["Seccomp_filters"] != strconv.Itoa(ours+1) {
			t.Errorf("%s: NoNewPrivs %s Seccomp %s Seccomp_filters %s, want 1 2 %d",
				what, st["NoNewPrivs"], st["Seccomp"], st["Seccomp_filters"], ours+1)
		}
	}
	check("control thread", as.pid)
	var lim unix.Rlimit
	if err := unix.Prlimit(as.pid, unix.RLIMIT_CORE, nil, &lim); err != nil || lim.Cur != 0 || lim.Max != 0 {
		t.Errorf("stub RLIMIT_CORE %+v (%v), want 0", lim, err)
	}

	// mmap and recvmsg (a new fd) from the control thread, munmap, and
	// clone + pause for the context's thread.
	e.Code(0x0f, 0x05) // syscall
	e.MapPage(dataAddr, 1, platform.ReadWrite)
	e.AS.Unmap(dataAddr, pageSize)
	c := newContext(t, e.p)
	regs := regsAt(codeAddr)
	if _, err := c.Switch(e.AS, &regs); err != nil {
		t.Fatal(err)
	}
	check("context thread", c.(*context).tid)
	// The same from the context's thread.
	fd2, err := unix.Dup(e.FD)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd2)
	if err := e.AS.MapFile(dataAddr, fd2, 0, pageSize, platform.Read); err != nil {
		t.Fatal(err)
	}
	e.AS.Unmap(dataAddr, pageSize)
	// close.
	if err := as.run(func(in injector) error {
		_, err := as.syscall(in, unix.SYS_CLOSE, 1000)
		return err
	}); err != unix.EBADF {
		t.Errorf("injected close(1000): %v, want EBADF", err)
	}
	// exit, when the context lets its thread go.
	c.Release()
	// A system call the filter does not allow is refused before it is
	// injected.
	if err := as.run(func(in injector) error {
		_, err := as.syscall(in, unix.SYS_GETPID)
		return err
	}); err == nil {
		t.Error("injected getpid succeeded")
	}
	// The stub survived all of it.
	if err := e.AS.MapFile(dataAddr, e.FD, pageSize, pageSize, platform.Read); err != nil {
		t.Fatal(err)
	}
	c = newContext(t, e.p)
	defer c.Release()
	regs = regsAt(codeAddr)
	if _, err := c.Switch(e.AS, &regs); err != nil {
		t.Fatal(err)
	}
}

// procExitCode waits for process pid to be a zombie and returns its exit
// status in wait(2) form (field 52 of /proc/<pid>/stat).
func procExitCode(t *testing.T, pid int) unix.WaitStatus {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]) // from field 3
		if f[0] == "Z" {
			code, err := strconv.Atoi(f[52-3])
			if err != nil {
				t.Fatal(err)
			}
			return unix.WaitStatus(code)
		}
		if time.Now().After(deadline) {
			t.Fatalf("stub %d still in state %s", pid, f[0])
		}
		time.Sleep(time.Millisecond)
	}
}

// If application code ever ran outside PTRACE_SYSEMU (simulated here by
// resuming it with PTRACE_CONT), the stub's seccomp filter would kill the
// stub before any of its system calls reached the host.
func TestSeccompKillsStraySyscalls(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, tc := range []struct {
		name          string
		rip           uint64
		rax, rdi, rsi uint64
		rdx           uint64
	}{
		{name: "getpid", rip: codeAddr, rax: unix.SYS_GETPID},
		// Would send a byte to the Sentry over the stub's socket.
		{name: "write", rip: codeAddr, rax: unix.SYS_WRITE, rdi: 0, rsi: codeAddr, rdx: 1},
		{name: "int 0x80", rip: codeAddr + 2, rax: 20 /* i386 getpid */},
		// Stub sites, but not their system calls.
		{name: "syscall site", rip: uint64(stubSyscall), rax: unix.SYS_WRITE, rdi: 0, rsi: codeAddr, rdx: 1},
		{name: "recvmsg site", rip: uint64(stubRecvRet - 2), rax: unix.SYS_GETPID},
		{name: "clone site", rip: uint64(stubClone), rax: unix.SYS_CLONE, rdi: uint64(unix.SIGCHLD)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 1)
			e.Code(0x0f, 0x05, 0xcd, 0x80) // syscall; int $0x80
			as := e.AS.(*addressSpace)
			c := newContext(t, e.p).(*context)
			defer c.Release()

			// Normal operation first.
			regs := regsAt(codeAddr)
			regs.Rax = unix.SYS_GETPID
			if _, err := c.Switch(e.AS, &regs); err != nil || regs.Orig_rax != unix.SYS_GETPID {
				t.Fatalf("Switch: %v, orig_rax %d", err, regs.Orig_rax)
			}

			c.resume = unix.PTRACE_CONT // the bug
			regs = regsAt(tc.rip)
			regs.Rax, regs.Rdi, regs.Rsi, regs.Rdx = tc.rax, tc.rdi, tc.rsi, tc.rdx
			_, err := c.Switch(e.AS, &regs)
			if !errors.Is(err, errStubSeccomp) {
				t.Fatalf("Switch with PTRACE_CONT: %v (orig_rax %d rax %#x), want %v", err, int64(regs.Orig_rax), regs.Rax, errStubSeccomp)
			}
			// The whole stub is dead, control thread included, killed
			// by SIGSYS.
			if ws := procExitCode(t, as.pid); !ws.Signaled() || ws.Signal() != unix.SIGSYS {
				t.Errorf("stub exit status %#x, want killed by SIGSYS", uint32(ws))
			}
			if err := e.AS.MapFile(codeAddr, e.FD, 0, pageSize, platform.Read); err == nil {
				t.Error("MapFile in the killed stub succeeded")
			}
			// Nothing reached the Sentry's end of the stub socket: the
			// stub is gone (EOF) without having written.
			var b [16]byte
			if n, _, err := unix.Recvfrom(as.sock, b[:], unix.MSG_DONTWAIT); n != 0 || err != nil {
				t.Errorf("stub socket: read %d bytes (%v), want EOF", n, err)
			}
		})
	}
}

// BenchmarkNewAddressSpace measures creating and releasing an address
// space, as an application fork or execve does.
func BenchmarkNewAddressSpace(b *testing.B) {
	p := getPlatform(b)
	before := p.Stats()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		as, err := p.NewAddressSpace()
		if err != nil {
			b.Fatal(err)
		}
		as.Release()
	}
	b.StopTimer()
	after := p.Stats()
	b.ReportMetric(float64(after.PtraceRequests-before.PtraceRequests)/float64(b.N), "ptrace/op")
	b.ReportMetric(float64(after.Injections-before.Injections)/float64(b.N), "inject/op")
}

// BenchmarkNewAddressSpaceOnly measures the latency of NewAddressSpace
// alone (releases are done outside the timed part).
func BenchmarkNewAddressSpaceOnly(b *testing.B) {
	p := getPlatform(b)
	var ass []platform.AddressSpace
	defer func() {
		for _, as := range ass {
			as.Release()
		}
	}()
	for i := 0; i < b.N; i++ {
		as, err := p.NewAddressSpace()
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		as.Release()
		time.Sleep(time.Millisecond)
		b.StartTimer()
	}
}

// BenchmarkSyscallRoundTripStats is BenchmarkSyscallRoundTrip with the
// platform's counters per call: ptrace requests, waits and CPU re-binds.
func BenchmarkSyscallRoundTripStats(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	e := newEnv(b, 1)
	e.Code(0x0f, 0x05, 0xeb, 0xfc) // loop: syscall; jmp loop
	c := newContext(b, e.p)
	defer c.Release()
	regs := regsAt(codeAddr)
	if _, err := c.Switch(e.AS, &regs); err != nil {
		b.Fatal(err)
	}
	before := e.p.Stats()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		regs.Rax = 0
		if _, err := c.Switch(e.AS, &regs); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	after := e.p.Stats()
	b.ReportMetric(float64(after.Rebinds-before.Rebinds)/float64(b.N), "rebind/op")
}

// TestContract runs the tests every platform must pass. It comes last:
// the tests above expect stubs that have not been given a file yet.
func TestContract(t *testing.T) { platformtest.Contract(t, getPlatform(t)) }

// BenchmarkFirstSwitch measures a fresh context's first system call in a
// fresh address space: what a new process pays before it runs.
func BenchmarkFirstSwitch(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p := getPlatform(b)
	fd, _ := unix.MemfdCreate("veil-ptrace-bench", unix.MFD_CLOEXEC)
	defer unix.Close(fd)
	unix.Ftruncate(fd, pageSize)
	unix.Pwrite(fd, []byte{0x0f, 0x05}, 0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		as, err := p.NewAddressSpace()
		if err != nil {
			b.Fatal(err)
		}
		as.MapFile(codeAddr, fd, 0, pageSize, platform.AccessType{Read: true, Execute: true})
		c, _ := p.NewContext()
		regs := regsAt(codeAddr)
		if _, err := c.Switch(as, &regs); err != nil {
			b.Fatal(err)
		}
		c.Release()
		as.Release()
	}
}
