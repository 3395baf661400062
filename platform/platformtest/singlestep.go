package platformtest

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/veil-sandbox/veil/platform"
)

// eflagsTF is the trap flag.
const eflagsTF = 0x100

// testSingleStep steps through two nops, a mov and a system call on a
// platform whose contexts are SingleSteppers: each step is one
// instruction (SIGTRAP, TRAP_TRACE), the system call still only traps, the
// trap flag never shows in the registers, stepping stops when it is
// turned off, and a trap flag the application set itself is its own.
func testSingleStep(t *testing.T, p platform.Platform) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	e := NewEnv(t, p, 1)
	e.Code(
		0x90, 0x90, // nop; nop
		0xb8, 0x27, 0x00, 0x00, 0x00, // mov eax, SYS_getpid
		0x0f, 0x05, // syscall
		0xeb, 0xf5, // jmp to the first nop
	)
	c := NewPlatformContext(t, p)
	defer c.Release()
	ss, ok := c.(platform.SingleStepper)
	if !ok {
		t.Skipf("%T cannot single-step", c)
	}
	regs := RegsAt(CodeAddr)
	ss.SetSingleStep(true)
	for _, want := range []uint64{CodeAddr + 1, CodeAddr + 2, CodeAddr + 7} {
		trap, err := c.Switch(e.AS, &regs)
		if err != platform.ErrSignal || trap.Signo != int(unix.SIGTRAP) || trap.Code != 2 /* TRAP_TRACE */ {
			t.Fatalf("step to %#x: %+v, %v", want, trap, err)
		}
		if regs.Rip != want || regs.Eflags&eflagsTF != 0 {
			t.Fatalf("step: rip %#x (want %#x), eflags %#x", regs.Rip, want, regs.Eflags)
		}
	}
	if _, err := c.Switch(e.AS, &regs); err != nil || regs.Orig_rax != unix.SYS_GETPID || regs.Rip != CodeAddr+9 || regs.Eflags&eflagsTF != 0 {
		t.Fatalf("step over the syscall: %v, orig_rax %d rip %#x eflags %#x", err, regs.Orig_rax, regs.Rip, regs.Eflags)
	}
	regs.Rax = 0
	if trap, err := c.Switch(e.AS, &regs); err != platform.ErrSignal || trap.Signo != int(unix.SIGTRAP) || regs.Rip != CodeAddr {
		t.Fatalf("step over the jmp: %+v, %v, rip %#x", trap, err, regs.Rip)
	}
	ss.SetSingleStep(false)
	for i := 0; i < 3; i++ {
		if _, err := c.Switch(e.AS, &regs); err != nil || regs.Rip != CodeAddr+9 || regs.Eflags&eflagsTF != 0 {
			t.Fatalf("run %d without stepping: %v, rip %#x eflags %#x", i, err, regs.Rip, regs.Eflags)
		}
	}
	regs.Rip = CodeAddr
	regs.Eflags |= eflagsTF
	if trap, err := c.Switch(e.AS, &regs); err != platform.ErrSignal || trap.Signo != int(unix.SIGTRAP) || regs.Rip != CodeAddr+1 || regs.Eflags&eflagsTF == 0 {
		t.Fatalf("the application's own trap flag: %+v, %v, rip %#x eflags %#x", trap, err, regs.Rip, regs.Eflags)
	}
}
