package platformtest

import (
	"encoding/binary"
	"errors"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/veil-sandbox/veil/platform"
	"github.com/veil-sandbox/veil/sentry/arch"
)

// The platform contract: tests every real platform must pass, whatever
// mechanism it uses. A platform's own tests call Contract with a working
// platform, and add the checks only it can make (request counts, its stub
// processes, its filters).

const (
	// CodeAddr holds memfd page 0, R+X, in most tests; DataAddr memfd
	// page 1.
	CodeAddr = 0x400000
	DataAddr = 0x600000
)

// Env is an address space backed by one memfd the test also maps.
type Env struct {
	T   testing.TB
	P   platform.Platform
	FD  int
	Mem []byte
	AS  platform.AddressSpace
}

// NewEnv returns an address space of p backed by a memfd of pages pages,
// released at the end of the test.
func NewEnv(t testing.TB, p platform.Platform, pages int) *Env {
	t.Helper()
	fd, err := unix.MemfdCreate("veil-platform-test", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Ftruncate(fd, int64(pages*pageSize)); err != nil {
		t.Fatal(err)
	}
	mem, err := unix.Mmap(fd, 0, pages*pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	as, err := p.NewAddressSpace()
	if err != nil {
		t.Fatal(err)
	}
	e := &Env{T: t, P: p, FD: fd, Mem: mem, AS: as}
	t.Cleanup(func() {
		e.AS.Release()
		unix.Munmap(mem)
		unix.Close(fd)
	})
	return e
}

// Code writes machine code at the start of memfd page 0 and maps that page
// R+X at CodeAddr.
func (e *Env) Code(b ...byte) {
	e.T.Helper()
	copy(e.Mem, b)
	e.MapPage(CodeAddr, 0, platform.AccessType{Read: true, Execute: true})
}

// MapPage maps memfd page page at addr.
func (e *Env) MapPage(addr uintptr, page int, at platform.AccessType) {
	e.T.Helper()
	if err := e.AS.MapFile(addr, e.FD, int64(page*pageSize), pageSize, at); err != nil {
		e.T.Fatalf("MapFile(%#x): %v", addr, err)
	}
}

// Word returns the 64-bit word at off of memfd page page.
func (e *Env) Word(page, off int) uint64 {
	return binary.LittleEndian.Uint64(e.Mem[page*pageSize+off:])
}

// NewPlatformContext returns a context of p.
func NewPlatformContext(t testing.TB, p platform.Platform) platform.Context {
	t.Helper()
	c, err := p.NewContext()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// RegsAt returns the registers of a fresh thread starting at rip.
func RegsAt(rip uint64) arch.Registers { return arch.InitialRegisters(rip, 0) }

// Contract runs the contract tests on p.
func Contract(t *testing.T, p platform.Platform) {
	for _, tc := range []struct {
		name string
		f    func(*testing.T, platform.Platform)
	}{
		{"SyscallEmulation", testSyscallEmulation},
		{"Faults", testFaults},
		{"Signals", testSignals},
		{"Interrupt", testInterrupt},
		{"InterruptRace", testInterruptRace},
		{"ConcurrentContexts", testConcurrentContexts},
		{"FPState", testFPState},
		{"Registers", testRegisters},
		{"MapFileFDReuse", testMapFileFDReuse},
		{"MapFileRange", testMapFileRange},
		{"UnmapNothingMapped", testUnmapNothingMapped},
		{"ReleasedAddressSpace", testReleasedAddressSpace},
		{"Stress", testStress},
		{"Vsyscall", testVsyscall},
		{"SingleStep", testSingleStep},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, p) })
	}
}

func testSyscallEmulation(t *testing.T, p platform.Platform) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	e := NewEnv(t, p, 1)
	e.Code(
		0xb8, 0x27, 0x00, 0x00, 0x00, // mov eax, 39 (getpid)
		0x0f, 0x05, // syscall
		0x48, 0x89, 0xc7, // mov rdi, rax
		0xb8, 0x3c, 0x00, 0x00, 0x00, // mov eax, 60 (exit)
		0x0f, 0x05, // syscall
		0xcd, 0x80, // int $0x80
	)
	c := NewPlatformContext(t, p)
	defer c.Release()

	regs := RegsAt(CodeAddr)
	regs.Rbx, regs.R15 = 0x1111, 0xffff
	if _, err := c.Switch(e.AS, &regs); err != nil {
		t.Fatalf("Switch: %v", err)
	}
	if regs.Orig_rax != unix.SYS_GETPID || regs.Rip != CodeAddr+7 || regs.Rbx != 0x1111 || regs.R15 != 0xffff {
		t.Fatalf("got orig_rax %d rip %#x rbx %#x r15 %#x, want %d %#x", regs.Orig_rax, regs.Rip, regs.Rbx, regs.R15, unix.SYS_GETPID, CodeAddr+7)
	}
	regs.Rax = 12345
	if _, err := c.Switch(e.AS, &regs); err != nil {
		t.Fatalf("Switch: %v", err)
	}
	if regs.Orig_rax != unix.SYS_EXIT || regs.Rdi != 12345 || regs.Rip != CodeAddr+17 {
		t.Fatalf("got orig_rax %d rdi %d rip %#x", regs.Orig_rax, regs.Rdi, regs.Rip)
	}
	// exit was not executed: the thread is still there.
	regs.Rip = CodeAddr + 15 // the second syscall again
	regs.Rax = unix.SYS_EXIT
	if _, err := c.Switch(e.AS, &regs); err != nil || regs.Orig_rax != unix.SYS_EXIT {
		t.Fatalf("Switch after emulated exit: %v, orig_rax %d", err, regs.Orig_rax)
	}
	// A 32-bit system call is reported too (the Sentry fails it), with
	// rip after the int $0x80.
	regs.Rip = CodeAddr + 17
	regs.Rax = 20 // i386 getpid
	if _, err := c.Switch(e.AS, &regs); err != nil || regs.Orig_rax != 20 || regs.Rip != CodeAddr+19 {
		t.Fatalf("int $0x80: %v, orig_rax %d rip %#x", err, regs.Orig_rax, regs.Rip)
	}
}

func testFaults(t *testing.T, p platform.Platform) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	e := NewEnv(t, p, 2)
	e.Code(
		0x48, 0x89, 0x18, // mov [rax], rbx
		0x0f, 0x05, // syscall
	)
	c := NewPlatformContext(t, p)
	defer c.Release()

	regs := RegsAt(CodeAddr)
	regs.Rax = DataAddr + 8
	regs.Rbx = 0xdeadbeefcafe
	start := regs

	trap, err := c.Switch(e.AS, &regs)
	if !errors.Is(err, platform.ErrFault) {
		t.Fatalf("write to unmapped memory: %v, want ErrFault", err)
	}
	if trap.Signo != int(unix.SIGSEGV) || trap.Addr != DataAddr+8 || trap.Code != 1 /* SEGV_MAPERR */ {
		t.Fatalf("trap %+v", trap)
	}
	if regs.Rip != CodeAddr || regs.Rbx != start.Rbx {
		t.Fatalf("rip %#x rbx %#x after fault, want %#x %#x", regs.Rip, regs.Rbx, CodeAddr, start.Rbx)
	}

	e.MapPage(DataAddr, 1, platform.Read)
	trap, err = c.Switch(e.AS, &regs)
	if !errors.Is(err, platform.ErrFault) || trap.Code != 2 /* SEGV_ACCERR */ || trap.Addr != DataAddr+8 {
		t.Fatalf("write to read-only memory: %+v %v, want ErrFault SEGV_ACCERR", trap, err)
	}

	e.MapPage(DataAddr, 1, platform.ReadWrite)
	if _, err := c.Switch(e.AS, &regs); err != nil {
		t.Fatalf("write to mapped memory: %v", err)
	}
	if got := e.Word(1, 8); got != start.Rbx {
		t.Fatalf("memfd holds %#x, want %#x", got, start.Rbx)
	}

	// After Unmap the same write faults again.
	e.AS.Unmap(DataAddr, pageSize)
	regs = start
	if _, err := c.Switch(e.AS, &regs); !errors.Is(err, platform.ErrFault) {
		t.Fatalf("write after Unmap: %v, want ErrFault", err)
	}

	// Executing just past the user address space is a fault there.
	rip := uint64(p.MaxUserAddress())
	regs = RegsAt(rip)
	trap, err = c.Switch(e.AS, &regs)
	if !errors.Is(err, platform.ErrFault) || trap.Signo != int(unix.SIGSEGV) || trap.Addr != uintptr(rip) {
		t.Errorf("jump to %#x: %+v %v, want ErrFault SIGSEGV there", rip, trap, err)
	}
}

func testSignals(t *testing.T, p platform.Platform) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	e := NewEnv(t, p, 1)
	e.Code(
		0x0f, 0x0b, // ud2
		0xcc,                   // int3
		0xf4,                   // hlt
		0x31, 0xc9, 0xf7, 0xf1, // xor ecx, ecx; div ecx
	)
	c := NewPlatformContext(t, p)
	defer c.Release()

	for _, tc := range []struct {
		name string
		rip  uint64
		sig  unix.Signal
		next uint64 // rip at the trap
	}{
		{"ud2", CodeAddr, unix.SIGILL, CodeAddr},
		{"int3", CodeAddr + 2, unix.SIGTRAP, CodeAddr + 3},
		{"hlt", CodeAddr + 3, unix.SIGSEGV, CodeAddr + 3}, // #GP: a signal, not a page fault
		{"div", CodeAddr + 4, unix.SIGFPE, CodeAddr + 6},
	} {
		regs := RegsAt(tc.rip)
		trap, err := c.Switch(e.AS, &regs)
		if !errors.Is(err, platform.ErrSignal) || trap.Signo != int(tc.sig) || regs.Rip != tc.next {
			t.Errorf("%s: %+v %v rip %#x, want ErrSignal %v at %#x", tc.name, trap, err, regs.Rip, tc.sig, tc.next)
		}
	}
}

func testInterrupt(t *testing.T, p platform.Platform) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	e := NewEnv(t, p, 1)
	e.Code(
		0xeb, 0xfe, // jmp .
		0x0f, 0x05, // syscall
	)
	c := NewPlatformContext(t, p)
	defer c.Release()

	for i := 0; i < 3; i++ {
		regs := RegsAt(CodeAddr)
		regs.Rbx = 42
		go func() {
			time.Sleep(20 * time.Millisecond)
			c.Interrupt()
		}()
		start := time.Now()
		if _, err := c.Switch(e.AS, &regs); !errors.Is(err, platform.ErrInterrupted) {
			t.Fatalf("Switch: %v, want ErrInterrupted", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("interrupt took %v", d)
		}
		if regs.Rip != CodeAddr || regs.Rbx != 42 || regs.Cs != arch.UserCS {
			t.Fatalf("registers after interrupt: rip %#x rbx %d cs %#x", regs.Rip, regs.Rbx, regs.Cs)
		}
	}

	// An interrupt before Switch is honoured without running anything.
	c.Interrupt()
	regs := RegsAt(CodeAddr + 2)
	if _, err := c.Switch(e.AS, &regs); !errors.Is(err, platform.ErrInterrupted) || regs.Rip != CodeAddr+2 {
		t.Fatalf("Switch after Interrupt: %v rip %#x, want ErrInterrupted", err, regs.Rip)
	}
	// ... and only once.
	if _, err := c.Switch(e.AS, &regs); err != nil || regs.Orig_rax != 0 {
		t.Fatalf("Switch: %v orig_rax %d", err, regs.Orig_rax)
	}

	// A fresh context interrupted before it has threads.
	c2 := NewPlatformContext(t, p)
	defer c2.Release()
	c2.Interrupt()
	regs = RegsAt(CodeAddr + 2)
	if _, err := c2.Switch(e.AS, &regs); !errors.Is(err, platform.ErrInterrupted) {
		t.Fatalf("new context: %v, want ErrInterrupted", err)
	}
}

// Interrupts racing with syscall round trips must never be lost, and stale
// interrupt signals must not produce extra ErrInterrupted.
func testInterruptRace(t *testing.T, p platform.Platform) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	e := NewEnv(t, p, 1)
	e.Code(0x0f, 0x05, 0xeb, 0xfc) // loop: syscall; jmp loop
	c := NewPlatformContext(t, p)
	defer c.Release()

	const n = 200
	var sent sync.WaitGroup
	sent.Add(1)
	go func() {
		defer sent.Done()
		for i := 0; i < n; i++ {
			c.Interrupt()
			time.Sleep(100 * time.Microsecond)
		}
	}()
	regs := RegsAt(CodeAddr)
	got := 0
	done := make(chan struct{})
	go func() { sent.Wait(); close(done) }()
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
		}
		_, err := c.Switch(e.AS, &regs)
		switch {
		case errors.Is(err, platform.ErrInterrupted):
			got++
		case err != nil:
			t.Fatal(err)
		}
	}
	// Drain: at most one interrupt can still be pending.
	for i := 0; i < 3; i++ {
		if _, err := c.Switch(e.AS, &regs); errors.Is(err, platform.ErrInterrupted) {
			got++
		}
	}
	if got == 0 || got > n {
		t.Fatalf("%d interrupts reported for %d sent", got, n)
	}
	t.Logf("%d Interrupt calls, %d ErrInterrupted", n, got)
}

func testConcurrentContexts(t *testing.T, p platform.Platform) {
	e := NewEnv(t, p, 2)
	e.Code(
		// A: store 1 at DataAddr, wait for B's store, syscall.
		0x48, 0xc7, 0x04, 0x25, 0x00, 0x00, 0x60, 0x00, 0x01, 0x00, 0x00, 0x00,
		0x48, 0x83, 0x3c, 0x25, 0x08, 0x00, 0x60, 0x00, 0x00,
		0x74, 0xf5,
		0x0f, 0x05,
		// B (CodeAddr+25): wait for A's store, store 2 at DataAddr+8, syscall.
		0x48, 0x83, 0x3c, 0x25, 0x00, 0x00, 0x60, 0x00, 0x00,
		0x74, 0xf5,
		0x48, 0xc7, 0x04, 0x25, 0x08, 0x00, 0x60, 0x00, 0x02, 0x00, 0x00, 0x00,
		0x0f, 0x05,
	)
	e.MapPage(DataAddr, 1, platform.ReadWrite)

	var wg sync.WaitGroup
	errs := make([]error, 2)
	ctxs := make([]platform.Context, 2)
	var ready sync.WaitGroup
	ready.Add(2)
	for i, rip := range []uint64{CodeAddr, CodeAddr + 25} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			c, err := p.NewContext()
			if err != nil {
				errs[i] = err
				ready.Done()
				return
			}
			defer c.Release()
			ctxs[i] = c
			ready.Done()
			regs := RegsAt(rip)
			if _, err := c.Switch(e.AS, &regs); err != nil {
				errs[i] = err
			} else if regs.Orig_rax != 0 {
				errs[i] = errors.New("unexpected syscall")
			}
		}()
	}
	// Watchdog: if the contexts do not run concurrently they spin forever.
	ready.Wait()
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		for _, c := range ctxs {
			if c != nil {
				c.Interrupt()
			}
		}
		<-finished
		t.Fatal("contexts did not see each other's writes")
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("context %d: %v", i, err)
		}
	}
	if e.Word(1, 0) != 1 || e.Word(1, 8) != 2 {
		t.Errorf("shared memory: %d %d", e.Word(1, 0), e.Word(1, 8))
	}
}

func testFPState(t *testing.T, p platform.Platform) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	e := NewEnv(t, p, 1)
	e.Code(
		0x66, 0x48, 0x0f, 0x7e, 0xc0, // movq rax, xmm0
		0x0f, 0x05, // syscall
		0x66, 0x48, 0x0f, 0x6e, 0xcf, // movq xmm1, rdi
		0x0f, 0x05, // syscall
		0xc5, 0xfd, 0x6f, 0xd3, // vmovdqa ymm2, ymm3
		0xc4, 0xe3, 0x7d, 0x39, 0xd0, 0x01, // vextracti128 xmm0, ymm2, 1
		0x66, 0x48, 0x0f, 0x7e, 0xc0, // movq rax, xmm0
		0x0f, 0x05, // syscall
	)
	c := NewPlatformContext(t, p)
	defer c.Release()

	const xmm0, xmm1 = 160, 176
	const v0, v1 = 0x1122334455667788, 0x0badc0ffee
	fp, err := c.FPState() // no thread yet: the initial state
	if err != nil {
		t.Fatal(err)
	}
	if len(fp) < 576 {
		t.Fatalf("FP state of %d bytes", len(fp))
	}
	size := len(fp)
	binary.LittleEndian.PutUint64(fp[xmm0:], v0)
	if err := c.SetFPState(fp); err != nil {
		t.Fatal(err)
	}

	regs := RegsAt(CodeAddr)
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
	fp, err = c.FPState()
	if err != nil {
		t.Fatal(err)
	}
	if len(fp) != size {
		t.Fatalf("FP state of %d bytes, then %d", size, len(fp))
	}
	if got := binary.LittleEndian.Uint64(fp[xmm1:]); got != v1 {
		t.Fatalf("FPState xmm1 = %#x, want %#x", got, uint64(v1))
	}
	if got := binary.LittleEndian.Uint64(fp[xmm0:]); got != v0 {
		t.Fatalf("FPState xmm0 = %#x, want %#x", got, uint64(v0))
	}
	// The upper half of ymm3 (xsave component 2, AVX), set through
	// SetFPState, reaches the application whole.
	const avxOff, ymm3Hi = 576, 0x5a5a5a5a01020304
	if size >= avxOff+64 && hasAVX() {
		binary.LittleEndian.PutUint64(fp[avxOff+3*16:], ymm3Hi)
		binary.LittleEndian.PutUint64(fp[512:], binary.LittleEndian.Uint64(fp[512:])|4)
		if err := c.SetFPState(fp); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Switch(e.AS, &regs); err != nil {
			t.Fatal(err)
		}
		if regs.Orig_rax != ymm3Hi {
			t.Errorf("app read ymm3's upper half = %#x, want %#x", regs.Orig_rax, uint64(ymm3Hi))
		}
	}

	// The FP state follows the context into another address space...
	e2 := NewEnv(t, p, 1)
	e2.Code(0x66, 0x48, 0x0f, 0x7e, 0xc8, 0x0f, 0x05) // movq rax, xmm1; syscall
	regs = RegsAt(CodeAddr)
	if _, err := c.Switch(e2.AS, &regs); err != nil {
		t.Fatal(err)
	}
	if regs.Orig_rax != v1 {
		t.Fatalf("after address space change xmm1 = %#x, want %#x", regs.Orig_rax, uint64(v1))
	}

	// ... unless the old one was released first (execve): then the new
	// thread starts from the initial state.
	e3 := NewEnv(t, p, 1)
	e3.Code(0x66, 0x48, 0x0f, 0x7e, 0xc8, 0x0f, 0x05)
	e2.AS.Release()
	regs = RegsAt(CodeAddr)
	if _, err := c.Switch(e3.AS, &regs); err != nil {
		t.Fatal(err)
	}
	if regs.Orig_rax != 0 {
		t.Fatalf("after exec-like address space change xmm1 = %#x, want 0", regs.Orig_rax)
	}
}

// hasAVX reports whether this CPU has AVX and AVX2 (the test's vmovdqa
// and vextracti128).
func hasAVX() bool {
	b, err := os.ReadFile("/proc/cpuinfo")
	return err == nil && strings.Contains(string(b), " avx2")
}

// Every general register, the flags the application may set, and the FS
// and GS bases survive a round trip through the application, both ways.
func testRegisters(t *testing.T, p platform.Platform) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	e := NewEnv(t, p, 2)
	e.MapPage(DataAddr, 1, platform.ReadWrite)
	e.Code(
		0x0f, 0x05, // syscall
		0x64, 0x48, 0x8b, 0x04, 0x25, 0x08, 0x00, 0x00, 0x00, // mov rax, fs:[8]
		0x65, 0x48, 0x8b, 0x1c, 0x25, 0x10, 0x00, 0x00, 0x00, // mov rbx, gs:[16]
		0x0f, 0x05, // syscall
	)
	binary.LittleEndian.PutUint64(e.Mem[pageSize+8:], 0xf5f5)
	binary.LittleEndian.PutUint64(e.Mem[pageSize+0x110:], 0x6565)
	c := NewPlatformContext(t, p)
	defer c.Release()
	regs := RegsAt(CodeAddr)
	if _, err := c.Switch(e.AS, &regs); err != nil {
		t.Fatal(err)
	}
	want := regs
	want.Rbx, want.Rcx, want.Rdx = 0x0101010101010101, 0x0202, 0x0303
	want.Rsi, want.Rdi, want.Rbp, want.Rsp = 0x0404, 0x0505, 0x0606, 0x0707
	want.R8, want.R9, want.R10, want.R11 = 8, 9, 10, 11
	want.R12, want.R13, want.R14, want.R15 = 12, 13, 14, 0xffff_ffff_ffff_ffff
	want.Eflags |= 0x1 | 0x4 | 0x40 | 0x80 | 0x400 | 0x800 // CF PF ZF SF DF OF
	want.Fs_base, want.Gs_base = DataAddr, DataAddr+0x100
	want.Rip = CodeAddr + 2
	regs = want
	if _, err := c.Switch(e.AS, &regs); err != nil {
		t.Fatal(err)
	}
	// rax was the system call number.
	if regs.Orig_rax != 0xf5f5 || regs.Rbx != 0x6565 {
		t.Errorf("fs:[8] = %#x, gs:[16] = %#x: FS/GS base not loaded", regs.Orig_rax, regs.Rbx)
	}
	got := regs
	got.Rax, got.Rbx, got.Orig_rax, want.Rax, want.Orig_rax = 0, want.Rbx, 0, 0, 0
	got.Rip, want.Rip = 0, 0
	// rcx and r11 hold rip and rflags after a syscall instruction.
	got.Rcx, got.R11, want.Rcx, want.R11 = 0, 0, 0, 0
	if got.Eflags&0xcd5 != want.Eflags&0xcd5 {
		t.Errorf("eflags %#x, want %#x", got.Eflags, want.Eflags)
	}
	got.Eflags, want.Eflags = 0, 0
	if got != want {
		t.Errorf("registers after a round trip:\n got %+v\nwant %+v", got, want)
	}
}

// A host fd number that gets reused for another file must not map the old
// file.
func testMapFileFDReuse(t *testing.T, p platform.Platform) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	e := NewEnv(t, p, 1)
	e.Code(0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x60, 0x00, 0x0f, 0x05) // mov rax, [0x600000]; syscall
	c := NewPlatformContext(t, p)
	defer c.Release()

	mk := func(v uint64) int {
		fd, err := unix.MemfdCreate("veil-platform-reuse", unix.MFD_CLOEXEC)
		if err != nil {
			t.Fatal(err)
		}
		var b [pageSize]byte
		binary.LittleEndian.PutUint64(b[:], v)
		if _, err := unix.Pwrite(fd, b[:], 0); err != nil {
			t.Fatal(err)
		}
		return fd
	}
	run := func(fd int, want uint64) {
		t.Helper()
		if err := e.AS.MapFile(DataAddr, fd, 0, pageSize, platform.Read); err != nil {
			t.Fatal(err)
		}
		regs := RegsAt(CodeAddr)
		if _, err := c.Switch(e.AS, &regs); err != nil || regs.Orig_rax != want {
			t.Fatalf("read %#x (%v), want %#x", regs.Orig_rax, err, want)
		}
	}
	fd1 := mk(111)
	run(fd1, 111)
	unix.Close(fd1)
	fd2 := mk(222)
	defer unix.Close(fd2)
	if fd2 != fd1 {
		t.Skipf("fd not reused (%d, %d)", fd1, fd2)
	}
	run(fd2, 222)
}

func testMapFileRange(t *testing.T, p platform.Platform) {
	e := NewEnv(t, p, 1)
	max := p.MaxUserAddress()
	for _, addr := range []uintptr{max, 0x7fff_0000_0000, max - pageSize/2} {
		if err := e.AS.MapFile(addr, e.FD, 0, pageSize, platform.Read); err == nil {
			t.Errorf("MapFile(%#x) succeeded", addr)
		}
	}
	if err := e.AS.MapFile(max-pageSize, e.FD, 0, pageSize, platform.Read); err != nil {
		t.Errorf("MapFile of the last page: %v", err)
	}
}

// Unmap of everything, then of a single page, leaves the platform's own
// pages alone and the address space working.
func testUnmapNothingMapped(t *testing.T, p platform.Platform) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	e := NewEnv(t, p, 2)
	e.AS.Unmap(0, p.MaxUserAddress())
	e.AS.Unmap(0, ^uintptr(0)&^(pageSize-1))
	e.Code(0x0f, 0x05)                         // syscall
	e.MapPage(DataAddr, 1, platform.ReadWrite) // the data page
	e.AS.Unmap(DataAddr, pageSize)
	c := NewPlatformContext(t, p)
	defer c.Release()
	regs := RegsAt(CodeAddr)
	if _, err := c.Switch(e.AS, &regs); err != nil {
		t.Fatal(err)
	}
	// mov al, [DataAddr]: faults, since the page is unmapped.
	e.Code(0x8a, 0x04, 0x25, 0x00, 0x00, 0x60, 0x00)
	regs = RegsAt(CodeAddr)
	if _, err := c.Switch(e.AS, &regs); !errors.Is(err, platform.ErrFault) {
		t.Fatalf("read of an unmapped page: %v, want ErrFault", err)
	}
	e.AS.Unmap(0, ^uintptr(0)&^(pageSize-1))
	e.Code(0x0f, 0x05)
	regs = RegsAt(CodeAddr)
	if _, err := c.Switch(e.AS, &regs); err != nil {
		t.Fatalf("after unmapping everything: %v", err)
	}
}

// A context whose address space is released under it (exec) moves to
// another one; it cannot switch into the released one again.
func testReleasedAddressSpace(t *testing.T, p platform.Platform) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	e := NewEnv(t, p, 1)
	e.Code(0x0f, 0x05) // syscall
	e2 := NewEnv(t, p, 1)
	e2.Code(0x0f, 0x05)
	c := NewPlatformContext(t, p)
	defer c.Release()
	regs := RegsAt(CodeAddr)
	if _, err := c.Switch(e.AS, &regs); err != nil {
		t.Fatal(err)
	}
	e.AS.Release()
	regs = RegsAt(CodeAddr)
	if _, err := c.Switch(e2.AS, &regs); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Switch(e.AS, &regs); err == nil {
		t.Error("Switch into a released address space succeeded")
	}
	regs = RegsAt(CodeAddr)
	if _, err := c.Switch(e2.AS, &regs); err != nil {
		t.Fatal(err)
	}
}

// Many contexts switching concurrently while other goroutines remap memory
// and interrupt them.
func testStress(t *testing.T, p platform.Platform) {
	e := NewEnv(t, p, 2)
	e.Code(0x0f, 0x05, 0xeb, 0xfc) // loop: syscall; jmp loop
	const workers, rounds = 8, 200
	ctxs := make(chan platform.Context, workers)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			c := NewPlatformContext(t, p)
			defer c.Release()
			ctxs <- c
			regs := RegsAt(CodeAddr)
			for i := 0; i < rounds; i++ {
				if _, err := c.Switch(e.AS, &regs); err != nil && !errors.Is(err, platform.ErrInterrupted) {
					t.Error(err)
					return
				}
				if i%50 == 0 {
					// The fault path: map from the context's goroutine.
					if err := e.AS.MapFile(DataAddr, e.FD, pageSize, pageSize, platform.ReadWrite); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	var bg sync.WaitGroup
	bg.Add(2)
	go func() {
		defer bg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := e.AS.MapFile(DataAddr+pageSize, e.FD, pageSize, pageSize, platform.Read); err != nil {
				t.Error(err)
				return
			}
			e.AS.Unmap(DataAddr+pageSize, pageSize)
		}
	}()
	go func() {
		defer bg.Done()
		var all []platform.Context
		for len(all) < workers {
			all = append(all, <-ctxs)
		}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Microsecond):
			}
			all[i%workers].Interrupt()
		}
	}()
	wg.Wait()
	close(stop)
	bg.Wait()
}

// Legacy vsyscalls are reported as the system calls they are, instead of
// being run by the host.
func testVsyscall(t *testing.T, p platform.Platform) {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(maps), "[vsyscall]") {
		t.Skip("no vsyscall page on this host (vsyscall=none)")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	e := NewEnv(t, p, 2)
	e.MapPage(DataAddr, 1, platform.ReadWrite)
	c := NewPlatformContext(t, p)
	defer c.Release()
	for _, tc := range []struct {
		name string
		off  byte // in the vsyscall page, in units of 0x100
		nr   uint64
	}{
		{"gettimeofday", 0x00, unix.SYS_GETTIMEOFDAY},
		{"time", 0x04, unix.SYS_TIME},
		{"getcpu", 0x08, unix.SYS_GETCPU},
	} {
		e.Code(
			0x48, 0xc7, 0xc0, 0x00, tc.off, 0x60, 0xff, // mov rax, 0xffffffffff600000+off
			0xff, 0xd0, // call rax
			0x0f, 0x05, // syscall
		)
		const buf = DataAddr + 0x100
		for i := range 32 {
			e.Mem[pageSize+0x100+i] = 0xa5
		}
		regs := RegsAt(CodeAddr)
		regs.Rsp = DataAddr + 0x800
		regs.Rdi, regs.Rsi, regs.Rdx = buf, buf+16, 0
		if _, err := c.Switch(e.AS, &regs); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if regs.Orig_rax != tc.nr || regs.Rip != CodeAddr+9 || regs.Rsp != DataAddr+0x800 ||
			regs.Rdi != buf || regs.Rsi != buf+16 {
			t.Fatalf("%s: orig_rax %d rip %#x rsp %#x rdi %#x rsi %#x, want %d %#x %#x %#x %#x", tc.name,
				regs.Orig_rax, regs.Rip, regs.Rsp, regs.Rdi, regs.Rsi, tc.nr, CodeAddr+9, DataAddr+0x800, buf, buf+16)
		}
		// The host did not run it: the buffers are untouched.
		for i := range 32 {
			if e.Mem[pageSize+0x100+i] != 0xa5 {
				t.Fatalf("%s: the host wrote the result", tc.name)
			}
		}
		// Execution goes on after the call with the Sentry's result.
		regs.Rax = 1234
		if _, err := c.Switch(e.AS, &regs); err != nil || regs.Orig_rax != 1234 || regs.Rip != CodeAddr+11 {
			t.Fatalf("%s: after the vsyscall: %v, orig_rax %d rip %#x", tc.name, err, regs.Orig_rax, regs.Rip)
		}
	}
}

// BenchmarkSyscallRoundTrip measures one application system call: trap
// to the Sentry and back.
func BenchmarkSyscallRoundTrip(b *testing.B, p platform.Platform) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	e := NewEnv(b, p, 1)
	e.Code(0x0f, 0x05, 0xeb, 0xfc) // loop: syscall; jmp loop
	c := NewPlatformContext(b, p)
	defer c.Release()
	regs := RegsAt(CodeAddr)
	if _, err := c.Switch(e.AS, &regs); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		regs.Rax = 0
		if _, err := c.Switch(e.AS, &regs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMapFileFromContext measures MapFile from the goroutine of a
// context running in the address space (the page fault path).
func BenchmarkMapFileFromContext(b *testing.B, p platform.Platform) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	e := NewEnv(b, p, 1)
	e.Code(0x0f, 0x05) // syscall
	c := NewPlatformContext(b, p)
	defer c.Release()
	regs := RegsAt(CodeAddr)
	if _, err := c.Switch(e.AS, &regs); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := e.AS.MapFile(DataAddr, e.FD, 0, pageSize, platform.Read); err != nil {
			b.Fatal(err)
		}
	}
}
