package syscalls

// ptrace(2) between processes of the sandbox (sentry/kernel/ptrace.go has
// the stops and the rules). As the raw system call does, PTRACE_PEEK*
// store the word at the address in data.

import (
	"encoding/binary"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"golang.org/x/sys/unix"
)

func init() {
	register(unix.SYS_PTRACE, "ptrace", sysPtrace, Hex, Int, Hex, Hex).partial(
		"no hardware breakpoints or watchpoints (DR7 enables nothing: EIO); PTRACE_PEEKSIGINFO, " +
			"PTRACE_SECCOMP_GET_FILTER, PTRACE_GET_RSEQ_CONFIGURATION, PTRACE_O_SUSPEND_SECCOMP and " +
			"the 32-bit thread-area requests: EIO/EINVAL")
}

// Requests x/sys/unix lacks.
const (
	ptraceGetSigmask = 0x420a
	ptraceSetSigmask = 0x420b
	ptraceArchPrctl  = 30
	ntPRStatus       = 1
	ntPRFPReg        = 2
	ntX86XState      = 0x202
	fxsaveSize       = 512
)

func sysPtrace(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	req, pid, addr, data := int(int64(a[0])), kernel.ThreadID(int32(a[1])), a[2], a[3]
	switch req {
	case unix.PTRACE_TRACEME:
		return 0, t.PtraceTraceme()
	case unix.PTRACE_ATTACH, unix.PTRACE_SEIZE:
		if req == unix.PTRACE_SEIZE && addr != 0 {
			return 0, unix.EIO
		}
		// pid is a thread id of the caller's pid namespace.
		target, err := t.LookupTask(pid)
		if err != nil {
			return 0, err
		}
		if req == unix.PTRACE_SEIZE && data&unix.PTRACE_O_SUSPEND_SECCOMP != 0 {
			return 0, unsupported(t, "ptrace(PTRACE_O_SUSPEND_SECCOMP)", unix.EINVAL)
		}
		return 0, t.PtraceAttach(target, req == unix.PTRACE_SEIZE, data)
	}

	// Requests on a tracee: it must be ours, and most need it stopped.
	stopped := req != unix.PTRACE_KILL && req != unix.PTRACE_INTERRUPT
	tr, err := t.PtraceTracee(pid, stopped)
	if err != nil {
		return 0, err
	}
	switch req {
	case unix.PTRACE_KILL:
		tr.PtraceKill()
		return 0, nil
	case unix.PTRACE_INTERRUPT:
		return 0, tr.PtraceInterrupt()
	case unix.PTRACE_CONT, unix.PTRACE_SYSCALL, unix.PTRACE_SINGLESTEP, unix.PTRACE_SYSEMU, unix.PTRACE_SYSEMU_SINGLESTEP:
		return 0, tr.PtraceResume(req, unix.Signal(data))
	case unix.PTRACE_DETACH:
		return 0, tr.PtraceDetach(unix.Signal(data))
	case unix.PTRACE_LISTEN:
		return 0, tr.PtraceListen()
	case unix.PTRACE_PEEKTEXT, unix.PTRACE_PEEKDATA:
		var b [8]byte
		// As a debugger: unreadable mappings too (FOLL_FORCE).
		if _, err := tr.MemoryManager().CopyInForce(uintptr(addr), b[:]); err != nil {
			return 0, unix.EIO
		}
		return 0, t.CopyOut(uintptr(data), b[:])
	case unix.PTRACE_POKETEXT, unix.PTRACE_POKEDATA:
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], data)
		// Breakpoints go into read-only text: the write makes a
		// private copy of the page, as Linux's FOLL_FORCE does.
		if _, err := tr.MemoryManager().CopyOutForce(uintptr(addr), b[:]); err != nil {
			return 0, unix.EIO
		}
		return 0, nil
	case unix.PTRACE_PEEKUSR:
		v, err := tr.PtracePeekUser(addr)
		if err != nil {
			return 0, err
		}
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], v)
		return 0, t.CopyOut(uintptr(data), b[:])
	case unix.PTRACE_POKEUSR:
		return 0, tr.PtracePokeUser(addr, data)
	case unix.PTRACE_GETREGS:
		r := tr.PtraceRegs()
		return 0, t.CopyOut(uintptr(data), kernel.MarshalRegs(&r))
	case unix.PTRACE_SETREGS:
		b := make([]byte, 27*8)
		if err := t.CopyIn(uintptr(data), b); err != nil {
			return 0, err
		}
		return 0, tr.PtraceSetRegs(kernel.UnmarshalRegs(b))
	case unix.PTRACE_GETFPREGS:
		fp, err := t.PtraceFPState(tr)
		if err != nil {
			return 0, err
		}
		return 0, t.CopyOut(uintptr(data), fp[:fxsaveSize])
	case unix.PTRACE_SETFPREGS:
		b := make([]byte, fxsaveSize)
		if err := t.CopyIn(uintptr(data), b); err != nil {
			return 0, err
		}
		return 0, t.PtraceSetFPState(tr, b, true)
	case unix.PTRACE_GETREGSET, unix.PTRACE_SETREGSET:
		return 0, ptraceRegset(t, tr, req == unix.PTRACE_SETREGSET, addr, uintptr(data))
	case unix.PTRACE_GETSIGINFO:
		info, err := tr.PtraceSiginfo()
		if err != nil {
			return 0, err
		}
		return 0, t.CopyOut(uintptr(data), info.Marshal())
	case unix.PTRACE_SETSIGINFO:
		b := make([]byte, 128)
		if err := t.CopyIn(uintptr(data), b); err != nil {
			return 0, err
		}
		var info arch.SignalInfo
		info.Unmarshal(b)
		return 0, tr.PtraceSetSiginfo(info)
	case unix.PTRACE_SETOPTIONS:
		if data&unix.PTRACE_O_SUSPEND_SECCOMP != 0 {
			return 0, unsupported(t, "ptrace(PTRACE_O_SUSPEND_SECCOMP)", unix.EINVAL)
		}
		return 0, tr.PtraceSetOptions(data)
	case unix.PTRACE_GETEVENTMSG:
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], tr.PtraceEventMsg())
		return 0, t.CopyOut(uintptr(data), b[:])
	case unix.PTRACE_GET_SYSCALL_INFO:
		info := tr.PtraceSyscallInfo()
		b := info.Marshal()
		if n := min(uint64(len(b)), addr); n > 0 {
			if err := t.CopyOut(uintptr(data), b[:n]); err != nil {
				return 0, err
			}
		}
		return uintptr(len(b)), nil
	case ptraceGetSigmask, ptraceSetSigmask:
		if addr != 8 {
			return 0, unix.EINVAL
		}
		var b [8]byte
		if req == ptraceGetSigmask {
			binary.LittleEndian.PutUint64(b[:], tr.PtraceSignalMask())
			return 0, t.CopyOut(uintptr(data), b[:])
		}
		if err := t.CopyIn(uintptr(data), b[:]); err != nil {
			return 0, err
		}
		tr.PtraceSetSignalMask(binary.LittleEndian.Uint64(b[:]))
		return 0, nil
	case ptraceArchPrctl:
		// PTRACE_ARCH_PRCTL: data is the address, addr the code.
		r := tr.PtraceRegs()
		var b [8]byte
		switch addr {
		case archGetFS:
			binary.LittleEndian.PutUint64(b[:], r.Fs_base)
			return 0, t.CopyOut(uintptr(data), b[:])
		case archGetGS:
			binary.LittleEndian.PutUint64(b[:], r.Gs_base)
			return 0, t.CopyOut(uintptr(data), b[:])
		case archSetFS:
			r.Fs_base = data
		case archSetGS:
			r.Gs_base = data
		default:
			return 0, unix.EINVAL
		}
		return 0, tr.PtraceSetRegs(r)
	}
	return 0, unsupported(t, "ptrace("+itoa(uint64(req))+")", unix.EIO)
}

// ptraceRegset implements PTRACE_GETREGSET and PTRACE_SETREGSET: addr is
// the note type (NT_PRSTATUS, NT_PRFPREG, NT_X86_XSTATE), data a struct
// iovec whose length is updated to what was transferred.
func ptraceRegset(t *kernel.Task, tr *kernel.Task, set bool, nt uint64, iovAddr uintptr) error {
	var iov [16]byte
	if err := t.CopyIn(iovAddr, iov[:]); err != nil {
		return err
	}
	base := uintptr(binary.LittleEndian.Uint64(iov[0:]))
	n := binary.LittleEndian.Uint64(iov[8:])
	var cur []byte
	switch nt {
	case ntPRStatus:
		r := tr.PtraceRegs()
		cur = kernel.MarshalRegs(&r)
	case ntPRFPReg, ntX86XState:
		fp, err := t.PtraceFPState(tr)
		if err != nil {
			return err
		}
		cur = fp
		if nt == ntPRFPReg {
			cur = fp[:fxsaveSize]
		}
	default:
		return unix.EINVAL
	}
	if n%8 != 0 {
		return unix.EINVAL
	}
	n = min(n, uint64(len(cur)))
	if set {
		b := make([]byte, n)
		if err := t.CopyIn(base, b); err != nil {
			return err
		}
		switch nt {
		case ntPRStatus:
			copy(cur, b)
			if err := tr.PtraceSetRegs(kernel.UnmarshalRegs(cur)); err != nil {
				return err
			}
		default:
			if err := t.PtraceSetFPState(tr, b, nt == ntPRFPReg); err != nil {
				return err
			}
		}
	} else if err := t.CopyOut(base, cur[:n]); err != nil {
		return err
	}
	binary.LittleEndian.PutUint64(iov[8:], n)
	return t.CopyOut(iovAddr, iov[:])
}
