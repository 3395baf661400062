// Package arch holds the amd64 machine state of an application thread as the
// Sentry sees it: general-purpose registers, the FPU/xsave area, and the
// layout of the signal frame Linux builds on the user stack.
package arch

import "golang.org/x/sys/unix"

// Registers is the amd64 user register set (struct user_regs_struct), the
// unit the platforms move in one request.
type Registers = unix.PtraceRegs

// SyscallArgs are the six argument registers of a system call, in ABI order
// (rdi, rsi, rdx, r10, r8, r9).
type SyscallArgs [6]uint64

// SyscallNo returns the system call number of a syscall trap.
func SyscallNo(r *Registers) uint64 { return r.Orig_rax }

// Args returns the syscall arguments held in r.
func Args(r *Registers) SyscallArgs {
	return SyscallArgs{r.Rdi, r.Rsi, r.Rdx, r.R10, r.R8, r.R9}
}

// SetReturn stores a syscall result in rax.
func SetReturn(r *Registers, v uint64) { r.Rax = v }

// RestartSyscall rewinds r so the trapped syscall instruction runs again on
// resume (used for ERESTART* semantics): rip back over the 2-byte "syscall"
// and rax restored to the syscall number.
func RestartSyscall(r *Registers) {
	r.Rip -= 2
	r.Rax = r.Orig_rax
}

// FPState is an xsave area exactly as the host kernel reports it through
// PTRACE_GETREGSET(NT_X86_XSTATE); its first 512 bytes are the legacy
// fxsave image.
type FPState []byte

// Clone returns an independent copy.
func (f FPState) Clone() FPState { return append(FPState(nil), f...) }

// Standard amd64 user segment selectors, as Linux sets them for 64-bit tasks.
const (
	UserCS = 0x33
	UserSS = 0x2b
	UserDS = 0x0
)

// InitialRegisters returns the register state of a freshly exec'd task that
// starts at entry with stack pointer sp.
func InitialRegisters(entry, sp uint64) Registers {
	return Registers{
		Rip:    entry,
		Rsp:    sp,
		Cs:     UserCS,
		Ss:     UserSS,
		Eflags: 0x202, // IF set, reserved bit 1 set
	}
}
