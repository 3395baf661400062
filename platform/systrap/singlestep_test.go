package systrap

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/veil-sandbox/veil/platform"
)

// TestSingleStep steps through two nops, a mov and a system call: each
// step is one instruction (SIGTRAP, TRAP_TRACE), the system call still
// only traps, the trap flag never shows in the registers, and stepping
// stops when it is turned off.
func TestSingleStep(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	e := newEnv(t, 1)
	e.Code(
		0x90, 0x90, // nop; nop
		0xb8, 0x27, 0x00, 0x00, 0x00, // mov eax, SYS_getpid
		0x0f, 0x05, // syscall
		0xeb, 0xf5, // jmp to the first nop
	)
	c := newContext(t, e.P.(*Platform))
	defer c.Release()
	regs := regsAt(codeAddr)
	c.SetSingleStep(true)
	for _, want := range []uint64{codeAddr + 1, codeAddr + 2, codeAddr + 7} {
		trap, err := c.Switch(e.AS, &regs)
		if err != platform.ErrSignal || trap.Signo != int(unix.SIGTRAP) || trap.Code != 2 /* TRAP_TRACE */ {
			t.Fatalf("step to %#x: %+v, %v", want, trap, err)
		}
		if regs.Rip != want {
			t.Fatalf("step: rip %#x, want %#x", regs.Rip, want)
		}
		if regs.Eflags&eflagsTF != 0 {
			t.Fatalf("step: eflags %#x shows the trap flag", regs.Eflags)
		}
	}
	if _, err := c.Switch(e.AS, &regs); err != nil || regs.Orig_rax != unix.SYS_GETPID || regs.Rip != codeAddr+9 || regs.Eflags&eflagsTF != 0 {
		t.Fatalf("step over the syscall: %v, orig_rax %d rip %#x eflags %#x", err, regs.Orig_rax, regs.Rip, regs.Eflags)
	}
	regs.Rax = 0
	// Stepped once more: the jmp.
	if trap, err := c.Switch(e.AS, &regs); err != platform.ErrSignal || trap.Signo != int(unix.SIGTRAP) || regs.Rip != codeAddr {
		t.Fatalf("step over the jmp: %+v, %v, rip %#x", trap, err, regs.Rip)
	}
	c.SetSingleStep(false)
	for i := 0; i < 3; i++ {
		if _, err := c.Switch(e.AS, &regs); err != nil || regs.Rip != codeAddr+9 || regs.Eflags&eflagsTF != 0 {
			t.Fatalf("run %d without stepping: %v, rip %#x eflags %#x", i, err, regs.Rip, regs.Eflags)
		}
	}
	// A trap flag the application set itself is its own: it shows, and
	// it traps.
	regs.Rip = codeAddr
	regs.Eflags |= eflagsTF
	if trap, err := c.Switch(e.AS, &regs); err != platform.ErrSignal || trap.Signo != int(unix.SIGTRAP) || regs.Rip != codeAddr+1 || regs.Eflags&eflagsTF == 0 {
		t.Fatalf("the application's own trap flag: %+v, %v, rip %#x eflags %#x", trap, err, regs.Rip, regs.Eflags)
	}
}

// TestSingleStepFromFastPath steps a thread that waits in the fast path:
// it resumes through a signal frame, one instruction at a time, never
// through the fast path's resume (stub code).
func TestSingleStepFromFastPath(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p := getPlatform(t)
	e := patchEnv(t, p,
		0x48, 0x89, 0xc7, // +7: mov rdi, rax
		0x90,       // nop
		0xeb, 0xfe, // jmp .
	)
	c := newContext(t, p)
	defer c.Release()
	regs := regsAt(codeAddr)
	regs.Rsp = dataAddr + 0x800
	before := p.Stats()
	if _, err := c.Switch(e.AS, &regs); err != nil {
		t.Fatal(err)
	}
	if n := p.Stats().FastTraps - before.FastTraps; n != 1 || !c.fast {
		t.Fatalf("%d fast traps, want 1", n)
	}
	regs.Rax = 12345
	c.SetSingleStep(true)
	trap, err := c.Switch(e.AS, &regs)
	if err != platform.ErrSignal || trap.Signo != int(unix.SIGTRAP) || regs.Rip != codeAddr+10 || regs.Rdi != 12345 || regs.Eflags&eflagsTF != 0 {
		t.Fatalf("step after a fast trap: %+v, %v, rip %#x rdi %d eflags %#x", trap, err, regs.Rip, regs.Rdi, regs.Eflags)
	}
	if trap, err := c.Switch(e.AS, &regs); err != platform.ErrSignal || trap.Signo != int(unix.SIGTRAP) || regs.Rip != codeAddr+11 {
		t.Fatalf("second step: %+v, %v, rip %#x", trap, err, regs.Rip)
	}
}
