package kernel

import (
	"testing"

	"github.com/veil-sandbox/veil/sentry/arch"
	"golang.org/x/sys/unix"
)

func TestRegsMarshalRoundTrip(t *testing.T) {
	var r arch.Registers
	for i, f := range regsFields(&r) {
		*f = uint64(i + 1)
	}
	b := MarshalRegs(&r)
	if len(b) != userRegsSize {
		t.Fatalf("%d bytes, want %d", len(b), userRegsSize)
	}
	if r.R15 != 1 || r.Orig_rax != 16 || r.Rip != 17 || r.Gs != 27 {
		t.Fatalf("field order differs from struct user_regs_struct: %+v", r)
	}
	if got := UnmarshalRegs(b); got != r {
		t.Fatalf("round trip: %+v, want %+v", got, r)
	}
}

// TestSyscallInfoSizes: PTRACE_GET_SYSCALL_INFO returns as many bytes as
// Linux does for each kind of stop.
func TestSyscallInfoSizes(t *testing.T) {
	for op, want := range map[uint8]int{
		unix.PTRACE_SYSCALL_INFO_NONE: 24, unix.PTRACE_SYSCALL_INFO_ENTRY: 80,
		unix.PTRACE_SYSCALL_INFO_EXIT: 33, unix.PTRACE_SYSCALL_INFO_SECCOMP: 84,
	} {
		s := SyscallInfo{Op: op, Nr: 39, RVal: -2, IsError: true}
		if got := len(s.Marshal()); got != want {
			t.Errorf("op %d: %d bytes, want %d", op, got, want)
		}
	}
}

func TestPtraceUserArea(t *testing.T) {
	h := newHarness(t)
	it := h.startInit()
	c := h.fork(it)
	c.regs.Cs, c.regs.Ss = 0x33, 0x2b
	if _, err := c.PtracePeekUser(3); err != unix.EIO {
		t.Fatalf("unaligned PEEKUSER: %v, want EIO", err)
	}
	if _, err := c.PtracePeekUser(userSize); err != unix.EIO {
		t.Fatalf("PEEKUSER past struct user: %v, want EIO", err)
	}
	if err := c.PtracePokeUser(16*8, 0x401000); err != nil { // rip
		t.Fatal(err)
	}
	if v, _ := c.PtracePeekUser(16 * 8); v != 0x401000 || c.regs.Rip != 0x401000 {
		t.Fatalf("rip %#x", v)
	}
	if err := c.PtracePokeUser(17*8, 0x10); err != unix.EIO { // cs: a kernel selector
		t.Fatalf("POKEUSER cs=0x10: %v, want EIO", err)
	}
	dr7 := uint64(userDebugRegOffset + 7*8)
	if err := c.PtracePokeUser(dr7, 1); err != unix.EIO {
		t.Fatalf("enabling a hardware breakpoint: %v, want EIO", err)
	}
	if err := c.PtracePokeUser(userDebugRegOffset, 0x1234); err != nil {
		t.Fatal(err)
	}
	if v, _ := c.PtracePeekUser(userDebugRegOffset); v != 0x1234 {
		t.Fatalf("DR0 reads %#x", v)
	}
	r := c.PtraceRegs()
	r.Eflags = 0xffffffff
	if err := c.PtraceSetRegs(r); err != nil {
		t.Fatal(err)
	}
	// VM (bit 17), IOPL (12-13) and IF (9) are not the tracer's to set.
	if c.regs.Eflags&(1<<17|3<<12) != 0 || c.regs.Eflags&userFlagMask != userFlagMask {
		t.Fatalf("SETREGS set privileged flags: %#x", c.regs.Eflags)
	}
}
