package systrap

import (
	"encoding/binary"
	"errors"
	"fmt"
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

// TestContract runs the tests every platform must pass.
func TestContract(t *testing.T) { platformtest.Contract(t, getPlatform(t)) }

func BenchmarkSyscallRoundTrip(b *testing.B) {
	platformtest.BenchmarkSyscallRoundTrip(b, getPlatform(b))
}

func BenchmarkMapFileFromContext(b *testing.B) {
	platformtest.BenchmarkMapFileFromContext(b, getPlatform(b))
}

// env is platformtest's Env on the test platform.
func newEnv(t testing.TB, pages int) *platformtest.Env {
	t.Helper()
	p := getPlatform(t)
	e := platformtest.NewEnv(t, p, pages)
	// Let the pool refill now rather than in the middle of a test.
	waitPool(t, p)
	return e
}

func newContext(t testing.TB, p *Platform) *context {
	t.Helper()
	return platformtest.NewPlatformContext(t, p).(*context)
}

const (
	codeAddr = platformtest.CodeAddr
	dataAddr = platformtest.DataAddr
)

func regsAt(rip uint64) arch.Registers { return platformtest.RegsAt(rip) }

// waitPool waits until p's stub pool is full and idle and returns the
// pids of the pooled stubs.
func waitPool(t testing.TB, p *Platform) []int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
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

func TestStubImage(t *testing.T) {
	for _, fsgsbase := range []bool{true, false} {
		s := buildStub(fsgsbase)
		img := s.image
		if string(img[:4]) != "\x7fELF" || uintptr(len(img)) > stubCodePages*pageSize {
			t.Fatalf("bad stub image (%d bytes)", len(img))
		}
		if s.entry != stubBase+stubCodeOff || s.dataPage != stubBase+stubCodePages*pageSize {
			t.Fatalf("bad stub layout: entry %#x data %#x", s.entry, s.dataPage)
		}
		// Each sock_fprog points at its filter, the app filter ends the
		// image.
		for i, f := range []struct {
			at uintptr
			n  int
		}{{s.stubFprog, len(buildStubFilter(&s.stubSites))}, {s.appFprog, len(buildAppFilter(&s.stubSites))}} {
			fprog := img[f.at-stubBase:]
			n, filter := int(le.Uint16(fprog)), uintptr(le.Uint64(fprog[8:]))
			if n != f.n || filter != f.at+fprogSize || (i == 1 && int(filter-stubBase)+8*n != len(img)) {
				t.Fatalf("bad sock_fprog at %#x: %d instructions at %#x (image %d bytes)", f.at, n, filter, len(img))
			}
		}
		// Every site is in the code page, and distinct.
		seen := map[uintptr]string{}
		for _, st := range s.sites() {
			if st.ret < stubBase+stubCodeOff || st.ret >= s.stubFprog {
				t.Errorf("site %s at %#x outside the code", st.name, st.ret)
			}
			if other, dup := seen[st.ret]; dup {
				t.Errorf("sites %s and %s at %#x", st.name, other, st.ret)
			}
			seen[st.ret] = st.name
		}
		if !fsgsbase && len(s.retArchPrctl) != 4 {
			t.Errorf("%d arch_prctl sites without FSGSBASE, want 4", len(s.retArchPrctl))
		}
	}
}

// MapFiles makes all its mappings in one injection, through the request
// page, and reports the first one the stub's mmap refuses.
func TestMapFilesInOneInjection(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	e := newEnv(t, 4)
	as := e.AS.(*addressSpace)
	p := as.p
	before := p.Stats().Injections
	ms := []platform.Mapping{
		{Addr: dataAddr, Off: 2 * pageSize, Length: pageSize, Access: platform.ReadWrite},
		{Addr: dataAddr + 2*pageSize, Off: 0, Length: 2 * pageSize, Access: platform.Read},
		{Addr: dataAddr + 5*pageSize, Off: 3 * pageSize, Length: pageSize, Access: platform.AnyAccess},
	}
	if err := as.MapFiles(e.FD, ms); err != nil {
		t.Fatal(err)
	}
	// One for the batch, and at most the fd passing of a stub that
	// has not seen the memfd yet (a sendmsg and a recvmsg).
	if n := p.Stats().Injections - before; n < 1 || n > 3 {
		t.Errorf("%d injections for one MapFiles, want 1 (+2 to pass the fd)", n)
	}
	maps := stubMaps(t, as.pid)
	for _, want := range []string{
		fmt.Sprintf("%08x-%08x rw-s %08x", dataAddr, dataAddr+pageSize, 2*pageSize),
		fmt.Sprintf("%08x-%08x r--s %08x", dataAddr+2*pageSize, dataAddr+4*pageSize, 0),
		fmt.Sprintf("%08x-%08x rwxs %08x", dataAddr+5*pageSize, dataAddr+6*pageSize, 3*pageSize),
	} {
		if !strings.Contains(maps, want) {
			t.Errorf("stub maps lack %q:\n%s", want, maps)
		}
	}

	// A file opened read-only cannot be mapped shared and writable: the
	// batch stops at that mapping and says so; the one before it is made.
	ro, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", e.FD), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ro)
	err = as.MapFiles(ro, []platform.Mapping{
		{Addr: dataAddr + 8*pageSize, Off: 0, Length: pageSize, Access: platform.Read},
		{Addr: dataAddr + 9*pageSize, Off: 0, Length: pageSize, Access: platform.ReadWrite},
	})
	if !errors.Is(err, unix.EACCES) {
		t.Fatalf("MapFiles of a writable mapping of a read-only file: %v, want EACCES", err)
	}
	maps = stubMaps(t, as.pid)
	if !strings.Contains(maps, fmt.Sprintf("%08x-%08x r--s", dataAddr+8*pageSize, dataAddr+9*pageSize)) {
		t.Errorf("the mapping before the refused one is missing:\n%s", maps)
	}
	if strings.Contains(maps, fmt.Sprintf("%08x-", dataAddr+9*pageSize)) {
		t.Errorf("the refused mapping is there:\n%s", maps)
	}
	if err := as.MapFiles(e.FD, []platform.Mapping{{Addr: maxUserAddress - pageSize, Length: 2 * pageSize}, ms[0]}); err != unix.EINVAL {
		t.Errorf("MapFiles past MaxUserAddress: %v, want EINVAL", err)
	}
}

// A page fault says whether it was a write, from the kernel's error code.
func TestFaultReportsWrite(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p := getPlatform(t)
	for _, tc := range []struct {
		name  string
		insn  []byte
		write bool
	}{
		{"read", []byte{0x8a, 0x00}, false},            // mov al, [rax]
		{"write", []byte{0x88, 0x00}, true},            // mov [rax], al
		{"locked add", []byte{0xf0, 0x00, 0x00}, true}, // lock add [rax], al
	} {
		e := newEnv(t, 1)
		c := newContext(t, p)
		defer c.Release()
		code := append([]byte{0x48, 0xb8}, binary.LittleEndian.AppendUint64(nil, dataAddr)...) // mov rax, dataAddr
		e.Code(append(code, tc.insn...)...)
		regs := regsAt(codeAddr)
		trap, err := c.Switch(e.AS, &regs)
		if err != platform.ErrFault || trap.Addr != dataAddr {
			t.Fatalf("%s: Switch = %+v, %v; want a fault at %#x", tc.name, trap, err, dataAddr)
		}
		if trap.Write != tc.write {
			t.Errorf("%s: fault says write %v, want %v", tc.name, trap.Write, tc.write)
		}
	}
}

func stubMaps(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/maps")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The stub process must hold nothing but the stub pages, its request page,
// the slots of its threads and its two (or, with the memory file, three) files.
func TestStubIsEmpty(t *testing.T) {
	e := newEnv(t, 1)
	as := e.AS.(*addressSpace)
	maps, err := os.ReadFile("/proc/" + strconv.Itoa(as.pid) + "/maps")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(maps)), "\n") {
		if !strings.Contains(l, "[vsyscall]") {
			lines = append(lines, l)
		}
	}
	req := fmt.Sprintf("%x-%x r--s", reqPage, reqPage+pageSize)
	slot := fmt.Sprintf("%x-%x rw-s", slotAddr(as.spare.slot), slotAddr(as.spare.slot)+slotSize)
	if len(lines) != 4 || !strings.HasPrefix(lines[0], req) || !strings.HasPrefix(lines[1], slot) ||
		!strings.HasPrefix(lines[2], "7fff00000000-7fff00001000 r-xp") ||
		!strings.HasPrefix(lines[3], "7fff00002000-7fff00003000 rw-p") {
		t.Errorf("stub maps (want the request page %s read-only, the spare slot %s, code, data):\n%s", req, slot, maps)
	}
	fds, err := os.ReadDir("/proc/" + strconv.Itoa(as.pid) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, fd := range fds {
		names = append(names, fd.Name())
	}
	if len(names) < 2 || names[0] != "0" || names[1] != "1" || len(names) > 3 {
		t.Errorf("stub fds: %v", names)
	}
	// Every thread has the stub filter and no_new_privs; the spare
	// application thread has its own filter on top; none blocks a trap
	// signal.
	self := procStatus(t, os.Getpid(), unix.Gettid())
	ours, _ := strconv.Atoi(self["Seccomp_filters"])
	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(as.pid) + "/task")
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 3 {
		t.Errorf("%d stub threads, want 3 (control, spare mapper, spare application thread)", len(tasks))
	}
	for _, task := range tasks {
		tid, _ := strconv.Atoi(task.Name())
		st := procStatus(t, as.pid, tid)
		want := ours + 1
		if tid == as.spare.app {
			want++
		}
		if st["NoNewPrivs"] != "1" || st["Seccomp"] != "2" || st["Seccomp_filters"] != strconv.Itoa(want) {
			t.Errorf("thread %d: NoNewPrivs %s Seccomp %s Seccomp_filters %s, want 1 2 %d",
				tid, st["NoNewPrivs"], st["Seccomp"], st["Seccomp_filters"], want)
		}
		if tid == as.spare.app {
			// It waits in the handler, which blocks everything; the
			// application runs with the frame's mask, which Switch
			// clears.
			continue
		}
		blk, _ := strconv.ParseUint(st["SigBlk"], 16, 64)
		for _, sig := range trapSignals {
			if blk&(1<<(sig-1)) != 0 {
				t.Errorf("thread %d blocks %v", tid, sig)
			}
		}
	}
	var lim unix.Rlimit
	if err := unix.Prlimit(as.pid, unix.RLIMIT_CORE, nil, &lim); err != nil || lim.Cur != 0 || lim.Max != 0 {
		t.Errorf("stub RLIMIT_CORE %+v (%v), want 0", lim, err)
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

// firstSwitch runs a context up to its first system call, so that it has
// its threads.
func firstSwitch(t *testing.T, e *platformtest.Env, c *context) {
	t.Helper()
	e.Code(0x0f, 0x05, 0xeb, 0xfe) // syscall; jmp .
	regs := regsAt(codeAddr)
	if _, err := c.Switch(e.AS, &regs); err != nil {
		t.Fatalf("first Switch: %v", err)
	}
}

// noChildren fails if the Sentry (this test) has a child it did not have
// before: a stub that forked itself.
func childCount(t *testing.T) int {
	t.Helper()
	files, _ := filepath.Glob("/proc/self/task/*/children")
	n := 0
	for _, f := range files {
		b, _ := os.ReadFile(f)
		n += len(strings.Fields(string(b)))
	}
	return n
}

// Application code that makes a system call from anywhere but the
// handler's own sites (by jumping into the stub with registers of its
// choosing) kills the stub before the call runs. A system call from its
// own code is trapped and reported, never run.
func TestFilterStraySyscalls(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p := getPlatform(t)
	st := &p.stub.stubSites
	before := func(ret uintptr) uint64 { return uint64(ret - 2) } // the syscall instruction
	for _, tc := range []struct {
		name string
		rip  uint64
		regs func(r *arch.Registers)
	}{
		// Would map the slot memfd (every stub's slots) into the
		// application.
		{"mmap at the injection site", uint64(st.syscall), func(r *arch.Registers) {
			r.Rax, r.Rdi, r.Rsi, r.Rdx, r.R10, r.R8, r.R9 = unix.SYS_MMAP, dataAddr, pageSize,
				unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_FIXED, 1, 0
		}},
		// Would send a byte to the Sentry over the shared socket.
		{"write at the injection site", uint64(st.syscall), func(r *arch.Registers) {
			r.Rax, r.Rdi, r.Rsi, r.Rdx = unix.SYS_WRITE, 0, codeAddr, 1
		}},
		{"munmap at the injection site", uint64(st.syscall), func(r *arch.Registers) {
			r.Rax, r.Rdi, r.Rsi = unix.SYS_MUNMAP, stubBase, pageSize
		}},
		// Would fork a copy of the stub the Sentry knows nothing of.
		{"clone at the fork site", uint64(st.fork), func(r *arch.Registers) {
			r.Rax, r.Rdi = unix.SYS_CLONE, forkFlags
		}},
		{"clone at the mapper clone site", uint64(st.cloneM), func(r *arch.Registers) {
			r.Rax, r.Rdi = unix.SYS_CLONE, threadFlags
		}},
		{"clone at the application clone site", uint64(st.cloneA), func(r *arch.Registers) {
			r.Rax, r.Rdi, r.R12 = unix.SYS_CLONE, appThreadFlags, uint64(slotAddr(0))
		}},
		{"recvmsg at the fd passing site", before(st.retRecv), func(r *arch.Registers) {
			r.Rax, r.Rdi, r.Rsi = unix.SYS_RECVMSG, 0, uint64(st.dataPage)
		}},
		// A filter the application chose, or the right one again.
		{"seccomp at the bootstrap site", before(st.retSeccomp), func(r *arch.Registers) {
			r.Rax, r.Rdi, r.Rsi, r.Rdx = unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uint64(st.appFprog)
		}},
		{"sigaltstack at the bootstrap site", before(st.retAltStack), func(r *arch.Registers) {
			r.Rax, r.Rdi, r.Rsi = unix.SYS_SIGALTSTACK, 0, 0
		}},
		{"pause at the pause site", before(st.retPause), func(r *arch.Registers) { r.Rax = unix.SYS_PAUSE }},
		// The handler's sites, but other calls or other arguments.
		{"futex requeue at the wake site", before(st.retWake), func(r *arch.Registers) {
			r.Rax, r.Rdi, r.Rsi = unix.SYS_FUTEX, uint64(slotAddr(0)), 3 /* FUTEX_REQUEUE */
		}},
		{"getpid at the wait site", before(st.retWait), func(r *arch.Registers) { r.Rax = unix.SYS_GETPID }},
		{"exit_group at the exit site", before(st.retExit), func(r *arch.Registers) { r.Rax = unix.SYS_EXIT_GROUP }},
		{"kill at the sigreturn site", before(st.retSigreturn), func(r *arch.Registers) {
			r.Rax, r.Rdi, r.Rsi = unix.SYS_KILL, 1, uint64(unix.SIGKILL)
		}},
		// The batch loop reads its calls from memory: from the request
		// page, which only the Sentry writes, or from memory the
		// application chose; neither may run for an application thread.
		{"batch site on the request page", uint64(st.batch), func(r *arch.Registers) {
			r.R12, r.R13 = reqPage, 1
		}},
		{"batch site on application memory", uint64(st.batch), func(r *arch.Registers) {
			r.R12, r.R13 = codeAddr, 1
		}},
		{"mmap at the batch site", before(st.retBatch), func(r *arch.Registers) {
			r.Rax, r.Rdi, r.Rsi, r.Rdx, r.R10, r.R8, r.R9 = unix.SYS_MMAP, dataAddr, pageSize,
				unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_FIXED, 1, 0
		}},
		{"int 0x80 in the stub", uint64(stubBase + 0x100), func(r *arch.Registers) { r.Rax = 20 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Subtests run on goroutines of their own; a context must
			// stay on one OS thread.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			e := newEnv(t, 2)
			c := newContext(t, p)
			defer c.Release()
			firstSwitch(t, e, c)
			children := childCount(t)
			regs := regsAt(tc.rip)
			tc.regs(&regs)
			_, err := c.Switch(e.AS, &regs)
			if tc.name == "int 0x80 in the stub" {
				// ELF header bytes: whatever they do, the stub dies or
				// the Sentry sees a fault; no system call runs.
				if err == nil {
					t.Fatalf("Switch into the ELF header reported a system call")
				}
				return
			}
			if !errors.Is(err, errStubSeccomp) {
				t.Fatalf("Switch: %v (orig_rax %d), want %v", err, int64(regs.Orig_rax), errStubSeccomp)
			}
			if n := childCount(t); n > children {
				t.Errorf("%d children after, %d before", n, children)
			}
			var b [16]byte
			if n, _, err := unix.Recvfrom(p.zygote.sock, b[:], unix.MSG_DONTWAIT); n > 0 || err != unix.EAGAIN {
				t.Errorf("shared socket: read %d bytes (%v), want nothing", n, err)
			}
			// The stub is gone for good.
			if err := e.AS.MapFile(codeAddr, e.FD, 0, pageSize, platform.Read); err == nil {
				t.Error("MapFile in the killed stub succeeded")
			}
		})
	}

	// From application code, the same calls are reported to the Sentry
	// and do not run.
	e := newEnv(t, 2)
	c := newContext(t, p)
	defer c.Release()
	e.Code(0x0f, 0x05, 0xeb, 0xfc) // syscall; jmp back
	children := childCount(t)
	for _, nr := range []uint64{unix.SYS_WRITE, unix.SYS_MMAP, unix.SYS_CLONE, unix.SYS_EXIT_GROUP, unix.SYS_KILL} {
		regs := regsAt(codeAddr)
		regs.Rax, regs.Rdi, regs.Rsi, regs.Rdx = nr, 0, codeAddr, 1
		if nr == unix.SYS_KILL {
			regs.Rdi, regs.Rsi = 0, uint64(unix.SIGKILL)
		}
		if _, err := c.Switch(e.AS, &regs); err != nil || regs.Orig_rax != nr {
			t.Fatalf("system call %d from application code: %v, orig_rax %d", nr, err, regs.Orig_rax)
		}
	}
	var b [16]byte
	if n, _, err := unix.Recvfrom(p.zygote.sock, b[:], unix.MSG_DONTWAIT); n > 0 || err != unix.EAGAIN {
		t.Errorf("shared socket: read %d bytes (%v), want nothing", n, err)
	}
	if n := childCount(t); n != children {
		t.Errorf("%d children after, %d before", n, children)
	}
}

// Whatever the application writes into its slot, the Sentry neither
// breaks nor does anything it did not choose: a slot that does not
// describe a frame in the slot kills the stub; one that describes a frame
// is just another trap, with the registers the application chose.
func TestForgedSlot(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p := getPlatform(t)
	// Application code: store rcx as the slot's ucontext pointer, rdx as
	// its siginfo pointer and esi as its state word, then spin.
	code := []byte{
		0x48, 0x89, 0x4b, 0x18, // mov [rbx+0x18], rcx
		0x48, 0x89, 0x53, 0x10, // mov [rbx+0x10], rdx
		0x89, 0x33, // mov [rbx], esi
		0xeb, 0xfe, // jmp .
	}
	// Each subtest runs on a goroutine of its own, locked to its OS thread
	// (as a context must be) until it ends, cleanups included.
	run := func(t *testing.T, forge func(slot []byte, base uint64) (uc, si uint64, state uint32)) (*context, arch.Registers, error) {
		runtime.LockOSThread()
		e := newEnv(t, 2)
		c := newContext(t, p)
		t.Cleanup(c.Release)
		firstSwitch(t, e, c)
		e.Code(code...)
		slot := p.slots.bytes(c.pr.slot)
		base := uint64(slotAddr(c.pr.slot))
		regs := regsAt(codeAddr)
		regs.Rbx = base
		regs.Rcx, regs.Rdx, regs.Rsi = 0, 0, 0
		uc, si, state := forge(slot, base)
		regs.Rcx, regs.Rdx, regs.Rsi = uc, si, uint64(state)
		go func() {
			time.Sleep(200 * time.Millisecond)
			c.Interrupt() // if the forgery is ignored
		}()
		_, err := c.Switch(e.AS, &regs)
		return c, regs, err
	}
	outside := []struct {
		name   string
		uc, si func(base uint64) uint64
	}{
		{"ucontext in the Sentry's gap", func(uint64) uint64 { return maxUserAddress }, func(b uint64) uint64 { return b + 0x2000 }},
		{"ucontext in another slot", func(b uint64) uint64 { return b + slotSize + 0x2000 }, func(b uint64) uint64 { return b + 0x2000 }},
		{"ucontext in the context page", func(b uint64) uint64 { return b + 0x100 }, func(b uint64) uint64 { return b + 0x2000 }},
		{"ucontext across the slot end", func(b uint64) uint64 { return b + slotSize - 16 }, func(b uint64) uint64 { return b + 0x2000 }},
		{"ucontext at -1", func(uint64) uint64 { return ^uint64(0) }, func(b uint64) uint64 { return b + 0x2000 }},
		{"siginfo in application memory", func(b uint64) uint64 { return b + 0x2000 }, func(uint64) uint64 { return dataAddr }},
	}
	for _, tc := range outside {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := run(t, func(slot []byte, base uint64) (uint64, uint64, uint32) {
				return tc.uc(base), tc.si(base), stateTrapped
			})
			if !errors.Is(err, errBadFrame) {
				t.Fatalf("Switch: %v, want %v", err, errBadFrame)
			}
		})
	}
	t.Run("fpstate outside the slot", func(t *testing.T) {
		_, _, err := run(t, func(slot []byte, base uint64) (uint64, uint64, uint32) {
			le.PutUint64(slot[0x2000+scFPSTATE:], dataAddr)
			return base + 0x2000, base + 0x3000, stateTrapped
		})
		if !errors.Is(err, errBadFrame) {
			t.Fatalf("Switch: %v, want %v", err, errBadFrame)
		}
	})
	t.Run("fpstate misaligned", func(t *testing.T) {
		_, _, err := run(t, func(slot []byte, base uint64) (uint64, uint64, uint32) {
			le.PutUint64(slot[0x2000+scFPSTATE:], base+0x4008)
			return base + 0x2000, base + 0x3000, stateTrapped
		})
		if !errors.Is(err, errBadFrame) {
			t.Fatalf("Switch: %v, want %v", err, errBadFrame)
		}
	})
	// A well-formed forgery is a system call with the registers it says:
	// exactly what the application could have done with a syscall
	// instruction.
	t.Run("a forged system call", func(t *testing.T) {
		c, regs, err := run(t, func(slot []byte, base uint64) (uint64, uint64, uint32) {
			uc := slot[0x2000:]
			le.PutUint64(uc[scFPSTATE:], base+0x4000)
			le.PutUint64(uc[scRAX:], unix.SYS_KILL)
			le.PutUint64(uc[scRDI:], 1)
			le.PutUint64(uc[scRIP:], 0x1234)
			si := slot[0x3000:]
			le.PutUint32(si[siSigno:], uint32(unix.SIGSYS))
			le.PutUint32(si[siErrno:], appTrapData)
			le.PutUint32(si[siCode:], sysSeccomp)
			return base + 0x2000, base + 0x3000, stateTrapped
		})
		if err != nil || regs.Orig_rax != unix.SYS_KILL || regs.Rdi != 1 || regs.Rip != 0x1234 {
			t.Fatalf("Switch: %v, orig_rax %d rdi %d rip %#x", err, regs.Orig_rax, regs.Rdi, regs.Rip)
		}
		// Resuming writes only inside the slot; the thread, still
		// spinning, is then interrupted as usual.
		go func() {
			time.Sleep(20 * time.Millisecond)
			c.Interrupt()
		}()
		e := c.as
		if _, err := c.Switch(e, &regs); !errors.Is(err, platform.ErrInterrupted) {
			t.Fatalf("Switch after the forgery: %v", err)
		}
	})
	// A forged state with no trap behind it: the Sentry keeps waiting,
	// and an interrupt still works.
	for _, state := range []uint32{stateRun, stateInit, stateExit, 0x5a5a5a5a, stateRun | flagSentrySleeps | flagStubSleeps} {
		t.Run(fmt.Sprintf("state %#x", state), func(t *testing.T) {
			_, _, err := run(t, func(slot []byte, base uint64) (uint64, uint64, uint32) {
				return base + 0x2000, base + 0x3000, state
			})
			if !errors.Is(err, platform.ErrInterrupted) {
				t.Fatalf("Switch: %v, want ErrInterrupted", err)
			}
		})
	}
	// The dead state makes the Sentry give the thread up, and kill it if
	// it lives on.
	t.Run("state dead", func(t *testing.T) {
		c, _, err := run(t, func(slot []byte, base uint64) (uint64, uint64, uint32) {
			return base + 0x2000, base + 0x3000, stateDead
		})
		if !errors.Is(err, errStubDied) {
			t.Fatalf("Switch: %v, want %v", err, errStubDied)
		}
		if c.as != nil {
			t.Fatal("the context kept its threads")
		}
	})
}

// BenchmarkSyscallRoundTripStats is BenchmarkSyscallRoundTrip with the
// platform's counters per call.
func BenchmarkSyscallRoundTripStats(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p := getPlatform(b)
	e := newEnv(b, 1)
	e.Code(0x0f, 0x05, 0xeb, 0xfc) // loop: syscall; jmp loop
	c := newContext(b, p)
	defer c.Release()
	regs := regsAt(codeAddr)
	if _, err := c.Switch(e.AS, &regs); err != nil {
		b.Fatal(err)
	}
	before := p.Stats()
	hits := p.spinHits.Load()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		regs.Rax = 0
		if _, err := c.Switch(e.AS, &regs); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	after := p.Stats()
	n := float64(b.N)
	b.ReportMetric(float64(after.Sleeps-before.Sleeps)/n, "sleep/op")
	b.ReportMetric(float64(after.Wakes-before.Wakes)/n, "wake/op")
	b.ReportMetric(float64(p.spinHits.Load()-hits)/n, "spinhit/op")
	b.Logf("run %v handle %v", c.spin.run, c.spin.handle)
}

// Signals sent to the stub from outside are never delivered (they are
// ignored) and never reported; the stub survives them.
func TestExternalSignals(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p := getPlatform(t)
	e := newEnv(t, 1)
	e.Code(0xeb, 0xfe, 0x0f, 0x05) // jmp .; syscall
	c := newContext(t, p)
	defer c.Release()
	regs := regsAt(codeAddr + 2)
	if _, err := c.Switch(e.AS, &regs); err != nil {
		t.Fatal(err)
	}
	pid, tid := c.as.pid, c.pr.app
	go func() {
		time.Sleep(20 * time.Millisecond)
		unix.Tgkill(pid, tid, unix.SIGUSR1) // default action: terminate
		unix.Kill(pid, unix.SIGTERM)
		unix.Kill(pid, unix.SIGHUP)
		unix.Tgkill(pid, tid, unix.SIGSEGV) // SI_TKILL: not a fault
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
	errc := make(chan error)
	go func() { errc <- e.AS.MapFile(dataAddr, e.FD, 0, pageSize, platform.Read) }()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// patchEnv is an address space with a patched `mov eax, 39; syscall`
// site at codeAddr and its trampoline at patchTableAddr, set up as the
// Sentry would (here the test owns the memory).
func patchEnv(t *testing.T, p *Platform, tail ...byte) *platformtest.Env {
	t.Helper()
	if addr, _, _ := p.PatchTable(); addr == 0 {
		t.Skip("no syscall patching here (no FSGSBASE, or VEIL_SYSTRAP_NOPATCH)")
	}
	e := newEnv(t, 3)
	site := []byte{0xb8, 0x27, 0, 0, 0, 0x0f, 0x05} // mov eax, 39; syscall
	cell, patch, ok := p.PatchSite(codeAddr, site, patchTableAddr)
	if !ok {
		t.Fatal("PatchSite refused mov eax, imm32; syscall")
	}
	copy(e.Mem[2*pageSize:], cell)
	e.MapPage(patchTableAddr, 2, platform.AccessType{Read: true, Execute: true})
	e.MapPage(dataAddr, 1, platform.ReadWrite)
	e.Code(append(patch, tail...)...)
	return e
}

// A rewritten site runs its system call through the fast path: no trap,
// the same registers (rcx = rip and r11 = rflags, as after a syscall
// instruction), every flag kept both ways.
func TestFastPath(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p := getPlatform(t)
	e := patchEnv(t, p,
		0x48, 0x89, 0xc7, // +7: mov rdi, rax
		0x9c,       // pushfq
		0x58,       // pop rax
		0x0f, 0x05, // syscall (not patched)
		0xeb, 0xfe, // jmp .
	)
	c := newContext(t, p)
	defer c.Release()
	const flags = 0x1 | 0x4 | 0x40 | 0x80 | 0x400 | 0x800 // CF PF ZF SF DF OF
	regs := regsAt(codeAddr)
	regs.Rsp = dataAddr + 0x800
	regs.Rbx, regs.R12, regs.R15 = 0x1111, 0x1212, 0x1515
	regs.Eflags |= flags
	before := p.Stats()
	if _, err := c.Switch(e.AS, &regs); err != nil {
		t.Fatal(err)
	}
	if n := p.Stats().FastTraps - before.FastTraps; n != 1 {
		t.Fatalf("%d fast traps, want 1", n)
	}
	if regs.Orig_rax != 39 || regs.Rax != 39 || regs.Rip != codeAddr+7 || regs.Rcx != codeAddr+7 ||
		regs.Rbx != 0x1111 || regs.R12 != 0x1212 || regs.R15 != 0x1515 || regs.Rsp != dataAddr+0x800 {
		t.Fatalf("fast trap registers %+v", regs)
	}
	if regs.Eflags&flags != flags || regs.R11 != regs.Eflags {
		t.Fatalf("fast trap eflags %#x r11 %#x, want %#x set", regs.Eflags, regs.R11, flags)
	}
	regs.Rax = 12345
	if _, err := c.Switch(e.AS, &regs); err != nil {
		t.Fatal(err)
	}
	if regs.Rdi != 12345 || regs.Orig_rax&flags != flags {
		t.Fatalf("after the fast resume: rdi %d, flags %#x (want 12345, %#x set)", regs.Rdi, regs.Orig_rax, flags)
	}
	if regs.Rbx != 0x1111 || regs.R15 != 0x1515 {
		t.Fatalf("after the fast resume: %+v", regs)
	}
}

// The FP state of a thread waiting in the fast path is its live state: the
// Sentry gets it by converting the wait into a signal frame, and it
// survives the round trip.
func TestFastPathFPState(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p := getPlatform(t)
	e := patchEnv(t, p,
		0x66, 0x48, 0x0f, 0x7e, 0xc0, // +7: movq rax, xmm0
		0x0f, 0x05, // syscall
		0xeb, 0xfe,
	)
	c := newContext(t, p)
	defer c.Release()
	fp, err := c.FPState()
	if err != nil {
		t.Fatal(err)
	}
	const xmm0 = 160
	le.PutUint64(fp[xmm0:], 0x0123456789)
	if err := c.SetFPState(fp); err != nil {
		t.Fatal(err)
	}
	regs := regsAt(codeAddr)
	if _, err := c.Switch(e.AS, &regs); err != nil || regs.Orig_rax != 39 {
		t.Fatalf("Switch: %v, orig_rax %d", err, regs.Orig_rax)
	}
	before := p.Stats()
	fp, err = c.FPState()
	if err != nil {
		t.Fatal(err)
	}
	if n := p.Stats().Conversions - before.Conversions; n != 1 {
		t.Errorf("%d conversions, want 1", n)
	}
	if got := le.Uint64(fp[xmm0:]); got != 0x0123456789 {
		t.Fatalf("FPState xmm0 = %#x", got)
	}
	le.PutUint64(fp[xmm0:], 0x4242)
	if err := c.SetFPState(fp); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Switch(e.AS, &regs); err != nil || regs.Orig_rax != 0x4242 {
		t.Fatalf("Switch: %v, app read xmm0 = %#x, want 0x4242", err, regs.Orig_rax)
	}
}

// A jump to where a patched site's syscall instruction was raises SIGILL
// there, which the Sentry turns back into that system call.
func TestFastPathJumpIntoSite(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p := getPlatform(t)
	e := patchEnv(t, p, 0xeb, 0xfe)
	c := newContext(t, p)
	defer c.Release()
	regs := regsAt(codeAddr + 5)
	trap, err := c.Switch(e.AS, &regs)
	if !errors.Is(err, platform.ErrSignal) || trap.Signo != int(unix.SIGILL) || regs.Rip != codeAddr+5 {
		t.Fatalf("jump into the patched site: %+v %v rip %#x, want SIGILL at %#x", trap, err, regs.Rip, codeAddr+5)
	}
}

// An application thread that loads GS base itself still gets its system
// calls, through the trampoline's fallback: a real syscall, trapped.
func TestFastPathForeignGS(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p := getPlatform(t)
	e := patchEnv(t, p, 0xeb, 0xfe)
	// At codeAddr+0x100: wrgsbase rcx; jmp codeAddr.
	copy(e.Mem[0x100:], []byte{0xf3, 0x48, 0x0f, 0xae, 0xd9, 0xe9, 0, 0, 0, 0})
	rel := int32(-(0x100 + 10))
	le.PutUint32(e.Mem[0x106:], uint32(rel))
	c := newContext(t, p)
	defer c.Release()
	regs := regsAt(codeAddr + 0x100)
	regs.Rcx = 0x1234000
	before := p.Stats()
	if _, err := c.Switch(e.AS, &regs); err != nil {
		t.Fatal(err)
	}
	if n := p.Stats().FastTraps - before.FastTraps; n != 0 {
		t.Errorf("%d fast traps with a foreign GS base", n)
	}
	if regs.Orig_rax != 39 || regs.Rip < patchTableAddr || regs.Rip >= patchTableAddr+patchTableSize || regs.Gs_base != 0x1234000 {
		t.Fatalf("fallback system call: orig_rax %d rip %#x gs_base %#x", regs.Orig_rax, regs.Rip, regs.Gs_base)
	}
	// It returns to the site.
	regs.Rax = 7
	go func() {
		time.Sleep(50 * time.Millisecond)
		c.Interrupt()
	}()
	if _, err := c.Switch(e.AS, &regs); !errors.Is(err, platform.ErrInterrupted) || regs.Rip != codeAddr+7 || regs.Rax != 7 {
		t.Fatalf("after the fallback: %v rip %#x rax %d, want to spin at %#x", err, regs.Rip, regs.Rax, codeAddr+7)
	}
}

// Interrupts reach a thread that runs application code after a fast
// resume, and one that loops through the fast path.
func TestFastPathInterrupt(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p := getPlatform(t)
	e := patchEnv(t, p, 0xeb, 0xf7) // +7: jmp codeAddr (a loop of fast system calls)
	c := newContext(t, p)
	defer c.Release()
	regs := regsAt(codeAddr)
	var n int
	stop := time.After(100 * time.Millisecond)
	go func() {
		<-stop
		c.Interrupt()
	}()
	for {
		_, err := c.Switch(e.AS, &regs)
		if errors.Is(err, platform.ErrInterrupted) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	t.Logf("%d fast system calls before the interrupt", n)
}

func BenchmarkFastPathRoundTrip(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p := getPlatform(b)
	if addr, _, _ := p.PatchTable(); addr == 0 {
		b.Skip("no syscall patching here")
	}
	e := newEnv(b, 3)
	site := []byte{0xb8, 0x27, 0, 0, 0, 0x0f, 0x05}
	cell, patch, _ := p.PatchSite(codeAddr, site, patchTableAddr)
	copy(e.Mem[2*pageSize:], cell)
	e.MapPage(patchTableAddr, 2, platform.AccessType{Read: true, Execute: true})
	e.Code(append(patch, 0xeb, 0xf7)...)
	c := newContext(b, p)
	defer c.Release()
	regs := regsAt(codeAddr)
	if _, err := c.Switch(e.AS, &regs); err != nil {
		b.Fatal(err)
	}
	before := p.Stats()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Switch(e.AS, &regs); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	after := p.Stats()
	b.ReportMetric(float64(after.FastTraps-before.FastTraps)/float64(b.N), "fast/op")
	b.ReportMetric(float64(after.Sleeps-before.Sleeps)/float64(b.N), "sleep/op")
	b.ReportMetric(float64(after.Wakes-before.Wakes)/float64(b.N), "wake/op")
}

// childPids returns our child processes, except the zygote and the ready
// stubs of the platforms in pools (which are not leaks: Close releases
// them).
func childPids(t *testing.T, pools ...*Platform) []string {
	t.Helper()
	pooled := map[string]bool{}
	for _, p := range pools {
		for _, pid := range waitPool(t, p) {
			pooled[strconv.Itoa(pid)] = true
		}
		pooled[strconv.Itoa(p.zygote.pid)] = true
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
	// Idle workers (see runLocked) are goroutines too, kept on purpose.
	workers := func() int {
		p.workersMu.Lock()
		defer p.workersMu.Unlock()
		return len(p.workers)
	}
	goroutines := runtime.NumGoroutine() - workers()
	slots := p.Stats().SlotsInUse

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
		// Contexts in other goroutines, released normally, two of them
		// at once in one address space.
		var wg sync.WaitGroup
		for i := 0; i < 2; i++ {
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
		}
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
		as2.Release()
		c.Release()
	}()

	p.waitReaped()
	if pids := childPids(t, p); len(pids) != 0 {
		t.Errorf("children left: %v", pids)
	}
	var ws unix.WaitStatus
	if pid, err := unix.Wait4(-1, &ws, unix.WNOHANG|unix.WALL, nil); pid != 0 || (err != nil && err != unix.ECHILD) {
		t.Errorf("wait4(-1): %d, %v, want 0 or ECHILD", pid, err)
	}
	waitPool(t, p)
	deadline := time.Now().Add(2 * time.Second)
	for (runtime.NumGoroutine()-workers() > goroutines || p.Stats().SlotsInUse > slots) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := runtime.NumGoroutine() - workers(); n > goroutines {
		t.Errorf("%d goroutines, %d before", n, goroutines)
	}
	// Every slot went back, zeroed.
	if n := p.Stats().SlotsInUse; n > slots {
		t.Errorf("%d slots in use, %d before", n, slots)
	}
	p.slots.mu.Lock()
	free := append([]int(nil), p.slots.free...)
	p.slots.mu.Unlock()
	for _, s := range free {
		for i, b := range p.slots.bytes(s) {
			if b != 0 {
				t.Fatalf("freed slot %d holds %#x at %#x", s, b, i)
			}
		}
	}
}

// TestPoolClose checks that a platform's pool hands out working stubs and
// that Close leaves nothing behind but the zygote.
func TestPoolClose(t *testing.T) {
	shared := getPlatform(t)
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer p.zygote.stop()
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
	as, err := p.NewAddressSpace()
	if err != nil {
		t.Fatal(err)
	}
	ass = append(ass, as)
	func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		fd, err := unix.MemfdCreate("veil-systrap-test", unix.MFD_CLOEXEC)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		unix.Ftruncate(fd, pageSize)
		unix.Pwrite(fd, []byte{0x0f, 0x05}, 0) // syscall
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
	p.waitReaped()
	shared.waitReaped()
	pids := childPids(t, shared)
	for _, pid := range pids {
		if pid != strconv.Itoa(p.zygote.pid) {
			t.Errorf("child left: %s", pid)
		}
	}
}

// TestCloseDuringStart closes a platform whose start-up (the probe) may
// still be going on: Close waits for it, and no stub is left.
func TestCloseDuringStart(t *testing.T) {
	shared := getPlatform(t)
	p, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	if err := p.Ready(); err != nil {
		t.Fatal(err)
	}
	if idle, pids := p.poolIdle(); !idle || len(pids) != 0 {
		t.Errorf("closed pool: idle %v, stubs %v", idle, pids)
	}
	// A closed platform still makes address spaces (on demand).
	as, err := p.NewAddressSpace()
	if err != nil {
		t.Fatal(err)
	}
	as.Release()
	p.waitReaped()
	p.zygote.stop()
	p.freeFiles()
	shared.waitReaped()
	if pids := childPids(t, shared); len(pids) != 0 {
		t.Errorf("children left: %v", pids)
	}
}

// BenchmarkNewAddressSpace measures creating and releasing an address
// space, as an application fork or execve does (with the pool refilling
// in the background).
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

// BenchmarkFirstSwitch measures a fresh context's first system call in a
// fresh address space: what a new process pays before it runs.
func BenchmarkFirstSwitch(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p := getPlatform(b)
	fd, _ := unix.MemfdCreate("veil-systrap-bench", unix.MFD_CLOEXEC)
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

// TestMapperParkedForReuse checks that a released context's mapper thread
// is parked in its address space, untraced, and that the next context
// moving in seizes it instead of cloning a new one, and runs.
func TestMapperParkedForReuse(t *testing.T) {
	p := getPlatform(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	e := newEnv(t, 1)
	e.Code(0x0f, 0x05) // syscall
	as := e.AS.(*addressSpace)
	c := newContext(t, p)
	regs := regsAt(codeAddr)
	if _, err := c.Switch(e.AS, &regs); err != nil {
		t.Fatal(err)
	}
	mapper := c.pr.mapper
	c.Release()
	as.mu.Lock()
	parked := append([]int(nil), as.parked...)
	as.mu.Unlock()
	if len(parked) != 1 || parked[0] != mapper {
		t.Fatalf("parked mappers %v, want [%d]", parked, mapper)
	}
	// Untraced: no tracer in its status.
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/status", as.pid, mapper))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "\nTracerPid:\t0\n") {
		t.Errorf("parked mapper still traced:\n%s", b)
	}

	c2 := newContext(t, p)
	defer c2.Release()
	regs = regsAt(codeAddr)
	if _, err := c2.Switch(e.AS, &regs); err != nil {
		t.Fatal(err)
	}
	if regs.Rip != codeAddr+2 {
		t.Fatalf("rip %#x after syscall", regs.Rip)
	}
	if c2.pr.mapper != mapper {
		t.Errorf("second context's mapper %d, want the parked %d", c2.pr.mapper, mapper)
	}
}
