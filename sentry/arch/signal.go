package arch

import "encoding/binary"

// This file holds the amd64 Linux ABI types that carry signal state across the
// user/kernel boundary: siginfo_t, the kernel's struct sigaction (as used by
// rt_sigaction) and stack_t. Each has an explicit little-endian byte layout;
// Marshal/Unmarshal never depend on Go's struct layout.

// Memory is application memory access (the Sentry's mm implements it).
//
// Both methods return the number of bytes copied; a short count or a non-nil
// error means the access faulted.
type Memory interface {
	CopyIn(addr uintptr, dst []byte) (int, error)
	CopyOut(addr uintptr, src []byte) (int, error)
}

// Flags of struct sigaction's sa_flags (include/uapi/asm-generic/signal-defs.h
// and arch/x86/include/uapi/asm/signal.h).
const (
	SA_NOCLDSTOP      = 0x00000001
	SA_NOCLDWAIT      = 0x00000002
	SA_SIGINFO        = 0x00000004
	SA_UNSUPPORTED    = 0x00000400
	SA_EXPOSE_TAGBITS = 0x00000800
	SA_RESTORER       = 0x04000000
	SA_ONSTACK        = 0x08000000
	SA_RESTART        = 0x10000000
	SA_NODEFER        = 0x40000000
	SA_RESETHAND      = 0x80000000

	SA_NOMASK  = SA_NODEFER
	SA_ONESHOT = SA_RESETHAND
)

// Flags of stack_t's ss_flags. SS_AUTODISARM is bit 31, hence negative as an
// int32.
const (
	SS_ONSTACK    int32 = 1
	SS_DISABLE    int32 = 2
	SS_AUTODISARM int32 = -1 << 31
	// SS_FLAG_BITS are the ss_flags bits that are flags rather than a mode.
	SS_FLAG_BITS = SS_AUTODISARM
)

// SI_KERNEL is the si_code of signals the kernel itself sends (job
// control, hangup), as opposed to SI_USER (0) from kill(2).
const SI_KERNEL = 0x80

// Signal stack size limits (arch/x86/include/uapi/asm/signal.h). The kernel
// may enforce a larger dynamic minimum (AT_MINSIGSTKSZ) on big-xstate CPUs.
const (
	MINSIGSTKSZ = 2048
	SIGSTKSZ    = 8192
)

// Sizes of the marshalled ABI structures.
const (
	SizeofSignalInfo  = 128
	SizeofSignalAct   = 32
	SizeofSignalStack = 24
)

// Offsets inside siginfo_t (the union _sifields starts at 16 on amd64
// because it contains pointers).
const (
	siginfoFieldsOffset = 16

	siPid      = 16 // _kill, _rt, _sigchld: si_pid (int32)
	siUid      = 20 // _kill, _rt, _sigchld: si_uid (uint32)
	siTimerID  = 16 // _timer: si_tid (int32)
	siOverrun  = 20 // _timer: si_overrun (int32)
	siValue    = 24 // _timer, _rt: si_value (union sigval, 8 bytes)
	siStatus   = 24 // _sigchld: si_status (int32)
	siUtime    = 32 // _sigchld: si_utime (clock_t)
	siStime    = 40 // _sigchld: si_stime (clock_t)
	siAddr     = 16 // _sigfault: si_addr
	siAddrLSB  = 24 // _sigfault: si_addr_lsb (int16)
	siLower    = 32 // _sigfault._addr_bnd: si_lower
	siUpper    = 40 // _sigfault._addr_bnd: si_upper
	siPkey     = 32 // _sigfault._addr_pkey: si_pkey (uint32)
	siBand     = 16 // _sigpoll: si_band (long)
	siFD       = 24 // _sigpoll: si_fd (int32)
	siCallAddr = 16 // _sigsys: si_call_addr
	siSyscall  = 24 // _sigsys: si_syscall (int32)
	siArch     = 28 // _sigsys: si_arch (uint32)
)

// SignalInfo is struct siginfo_t (128 bytes) in its Linux byte layout. Fields
// holds the union _sifields (bytes 16..127 of the structure); the accessors
// below read and write its members at their amd64 offsets. Which accessors
// are meaningful depends on Signo and Code, exactly as in C.
type SignalInfo struct {
	Signo int32 // si_signo
	Errno int32 // si_errno
	Code  int32 // si_code
	_     int32
	// Fields is the union _sifields.
	Fields [SizeofSignalInfo - siginfoFieldsOffset]byte
}

func (s *SignalInfo) field(off int) []byte { return s.Fields[off-siginfoFieldsOffset:] }

func (s *SignalInfo) get32(off int) uint32 { return binary.LittleEndian.Uint32(s.field(off)) }
func (s *SignalInfo) get64(off int) uint64 { return binary.LittleEndian.Uint64(s.field(off)) }
func (s *SignalInfo) put32(off int, v uint32) {
	binary.LittleEndian.PutUint32(s.field(off), v)
}
func (s *SignalInfo) put64(off int, v uint64) {
	binary.LittleEndian.PutUint64(s.field(off), v)
}

// PID returns si_pid (kill, sigqueue, SIGCHLD).
func (s *SignalInfo) PID() int32 { return int32(s.get32(siPid)) }

// SetPID sets si_pid.
func (s *SignalInfo) SetPID(pid int32) { s.put32(siPid, uint32(pid)) }

// UID returns si_uid (kill, sigqueue, SIGCHLD).
func (s *SignalInfo) UID() uint32 { return s.get32(siUid) }

// SetUID sets si_uid.
func (s *SignalInfo) SetUID(uid uint32) { s.put32(siUid, uid) }

// Status returns si_status (SIGCHLD: exit code or signal number).
func (s *SignalInfo) Status() int32 { return int32(s.get32(siStatus)) }

// SetStatus sets si_status.
func (s *SignalInfo) SetStatus(status int32) { s.put32(siStatus, uint32(status)) }

// Utime returns si_utime (SIGCHLD), in clock ticks.
func (s *SignalInfo) Utime() int64 { return int64(s.get64(siUtime)) }

// SetUtime sets si_utime (SIGCHLD), in clock ticks.
func (s *SignalInfo) SetUtime(t int64) { s.put64(siUtime, uint64(t)) }

// Stime returns si_stime (SIGCHLD), in clock ticks.
func (s *SignalInfo) Stime() int64 { return int64(s.get64(siStime)) }

// SetStime sets si_stime (SIGCHLD), in clock ticks.
func (s *SignalInfo) SetStime(t int64) { s.put64(siStime, uint64(t)) }

// Addr returns si_addr (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP).
func (s *SignalInfo) Addr() uint64 { return s.get64(siAddr) }

// SetAddr sets si_addr.
func (s *SignalInfo) SetAddr(addr uint64) { s.put64(siAddr, addr) }

// AddrLSB returns si_addr_lsb (SIGBUS BUS_MCEERR_*).
func (s *SignalInfo) AddrLSB() int16 {
	return int16(binary.LittleEndian.Uint16(s.field(siAddrLSB)))
}

// SetAddrLSB sets si_addr_lsb.
func (s *SignalInfo) SetAddrLSB(lsb int16) {
	binary.LittleEndian.PutUint16(s.field(siAddrLSB), uint16(lsb))
}

// SetBounds sets si_lower and si_upper (SIGSEGV SEGV_BNDERR).
func (s *SignalInfo) SetBounds(lower, upper uint64) {
	s.put64(siLower, lower)
	s.put64(siUpper, upper)
}

// Pkey returns si_pkey (SIGSEGV SEGV_PKUERR).
func (s *SignalInfo) Pkey() uint32 { return s.get32(siPkey) }

// SetPkey sets si_pkey.
func (s *SignalInfo) SetPkey(pkey uint32) { s.put32(siPkey, pkey) }

// TimerID returns si_timerid (SI_TIMER).
func (s *SignalInfo) TimerID() int32 { return int32(s.get32(siTimerID)) }

// SetTimerID sets si_timerid.
func (s *SignalInfo) SetTimerID(id int32) { s.put32(siTimerID, uint32(id)) }

// Overrun returns si_overrun (SI_TIMER).
func (s *SignalInfo) Overrun() int32 { return int32(s.get32(siOverrun)) }

// SetOverrun sets si_overrun.
func (s *SignalInfo) SetOverrun(n int32) { s.put32(siOverrun, uint32(n)) }

// Value returns si_value (union sigval: sival_int in the low 32 bits, or
// sival_ptr) for SI_TIMER, SI_QUEUE, SI_MESGQ and rt_sigqueueinfo.
func (s *SignalInfo) Value() uint64 { return s.get64(siValue) }

// SetValue sets si_value.
func (s *SignalInfo) SetValue(v uint64) { s.put64(siValue, v) }

// Band returns si_band (SIGPOLL/SIGIO).
func (s *SignalInfo) Band() int64 { return int64(s.get64(siBand)) }

// SetBand sets si_band.
func (s *SignalInfo) SetBand(band int64) { s.put64(siBand, uint64(band)) }

// FD returns si_fd (SIGPOLL/SIGIO).
func (s *SignalInfo) FD() int32 { return int32(s.get32(siFD)) }

// SetFD sets si_fd.
func (s *SignalInfo) SetFD(fd int32) { s.put32(siFD, uint32(fd)) }

// CallAddr returns si_call_addr (SIGSYS SYS_SECCOMP).
func (s *SignalInfo) CallAddr() uint64 { return s.get64(siCallAddr) }

// SetCallAddr sets si_call_addr.
func (s *SignalInfo) SetCallAddr(addr uint64) { s.put64(siCallAddr, addr) }

// Syscall returns si_syscall (SIGSYS SYS_SECCOMP).
func (s *SignalInfo) Syscall() int32 { return int32(s.get32(siSyscall)) }

// SetSyscall sets si_syscall.
func (s *SignalInfo) SetSyscall(nr int32) { s.put32(siSyscall, uint32(nr)) }

// Arch returns si_arch (SIGSYS SYS_SECCOMP; AUDIT_ARCH_X86_64 is 0xc000003e).
func (s *SignalInfo) Arch() uint32 { return s.get32(siArch) }

// SetArch sets si_arch.
func (s *SignalInfo) SetArch(arch uint32) { s.put32(siArch, arch) }

// Marshal returns the 128-byte siginfo_t image.
func (s *SignalInfo) Marshal() []byte {
	b := make([]byte, SizeofSignalInfo)
	s.marshalTo(b)
	return b
}

func (s *SignalInfo) marshalTo(b []byte) {
	_ = b[SizeofSignalInfo-1]
	binary.LittleEndian.PutUint32(b[0:], uint32(s.Signo))
	binary.LittleEndian.PutUint32(b[4:], uint32(s.Errno))
	binary.LittleEndian.PutUint32(b[8:], uint32(s.Code))
	binary.LittleEndian.PutUint32(b[12:], 0)
	copy(b[siginfoFieldsOffset:SizeofSignalInfo], s.Fields[:])
}

// Unmarshal decodes a siginfo_t image; b must hold at least
// SizeofSignalInfo bytes (it panics otherwise, like encoding/binary).
func (s *SignalInfo) Unmarshal(b []byte) {
	_ = b[SizeofSignalInfo-1]
	s.Signo = int32(binary.LittleEndian.Uint32(b[0:]))
	s.Errno = int32(binary.LittleEndian.Uint32(b[4:]))
	s.Code = int32(binary.LittleEndian.Uint32(b[8:]))
	copy(s.Fields[:], b[siginfoFieldsOffset:SizeofSignalInfo])
}

// SignalAct is the kernel's struct sigaction as rt_sigaction reads and
// writes it on amd64: sa_handler, sa_flags, sa_restorer, sa_mask (the mask
// last, 8 bytes for the 64-signal sigset_t). Handler may be SIG_DFL (0) or
// SIG_IGN (1).
type SignalAct struct {
	Handler  uint64
	Flags    uint64
	Restorer uint64
	Mask     uint64
}

// Marshal returns the 32-byte struct sigaction image.
func (a *SignalAct) Marshal() []byte {
	b := make([]byte, SizeofSignalAct)
	binary.LittleEndian.PutUint64(b[0:], a.Handler)
	binary.LittleEndian.PutUint64(b[8:], a.Flags)
	binary.LittleEndian.PutUint64(b[16:], a.Restorer)
	binary.LittleEndian.PutUint64(b[24:], a.Mask)
	return b
}

// Unmarshal decodes a struct sigaction image; b must hold at least
// SizeofSignalAct bytes.
func (a *SignalAct) Unmarshal(b []byte) {
	_ = b[SizeofSignalAct-1]
	a.Handler = binary.LittleEndian.Uint64(b[0:])
	a.Flags = binary.LittleEndian.Uint64(b[8:])
	a.Restorer = binary.LittleEndian.Uint64(b[16:])
	a.Mask = binary.LittleEndian.Uint64(b[24:])
}

// SignalStack is stack_t: ss_sp, ss_flags (int32 followed by 4 bytes of
// padding), ss_size.
//
// As the argument of SetupSignalFrame it is the thread's sigaltstack setting
// as stored (Linux's current->sas_ss_{sp,flags,size}): Flags is the value the
// application last passed to sigaltstack (0, SS_ONSTACK or SS_DISABLE, maybe
// with SS_AUTODISARM), and a disabled stack has Size 0.
type SignalStack struct {
	Sp    uint64
	Flags int32
	Size  uint64
}

// Marshal returns the 24-byte stack_t image.
func (s *SignalStack) Marshal() []byte {
	b := make([]byte, SizeofSignalStack)
	s.marshalTo(b)
	return b
}

func (s *SignalStack) marshalTo(b []byte) {
	_ = b[SizeofSignalStack-1]
	binary.LittleEndian.PutUint64(b[0:], s.Sp)
	binary.LittleEndian.PutUint32(b[8:], uint32(s.Flags))
	binary.LittleEndian.PutUint32(b[12:], 0)
	binary.LittleEndian.PutUint64(b[16:], s.Size)
}

// Unmarshal decodes a stack_t image; b must hold at least SizeofSignalStack
// bytes.
func (s *SignalStack) Unmarshal(b []byte) {
	_ = b[SizeofSignalStack-1]
	s.Sp = binary.LittleEndian.Uint64(b[0:])
	s.Flags = int32(binary.LittleEndian.Uint32(b[8:]))
	s.Size = binary.LittleEndian.Uint64(b[16:])
}

// Enabled reports whether the stack is usable for SA_ONSTACK delivery. Like
// Linux (which zeroes the size on SS_DISABLE) a zero Size means disabled.
func (s SignalStack) Enabled() bool {
	return s.Size != 0 && s.Flags&^SS_FLAG_BITS != SS_DISABLE
}

// Contains reports whether sp lies on the stack, with Linux's
// __on_sig_stack bounds: Sp < sp <= Sp+Size (sp is a pre-decrement stack
// pointer, so the top address itself belongs to the stack).
func (s SignalStack) Contains(sp uint64) bool {
	return sp > s.Sp && sp-s.Sp <= s.Size
}

// OnStack reports whether a thread whose stack pointer is sp counts as
// running on this alternate stack (Linux's on_sig_stack): never when the
// stack was set up with SS_AUTODISARM, which is disarmed while in use.
func (s SignalStack) OnStack(sp uint64) bool {
	if s.Flags&SS_AUTODISARM != 0 {
		return false
	}
	return s.Contains(sp)
}

// ReportedFlags returns the ss_flags sigaltstack(2) reports in old_ss for a
// thread at sp (Linux's sas_ss_flags plus the SS_FLAG_BITS the application
// set): SS_DISABLE, SS_ONSTACK or 0, or'd with SS_AUTODISARM.
func (s SignalStack) ReportedFlags(sp uint64) int32 {
	return s.mode(sp) | s.Flags&SS_FLAG_BITS
}

// mode is Linux's sas_ss_flags(sp).
func (s SignalStack) mode(sp uint64) int32 {
	if !s.Enabled() {
		return SS_DISABLE
	}
	if s.OnStack(sp) {
		return SS_ONSTACK
	}
	return 0
}
