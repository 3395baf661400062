package systrap

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/veil-sandbox/veil/platform"
)

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
