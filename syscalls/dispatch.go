package syscalls

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/syserr"
	"github.com/veil-sandbox/veil/syscalls/sysno"
	"golang.org/x/sys/unix"
)

// Name returns the name of syscall nr.
func Name(nr uint64) string {
	if n, ok := sysno.Name(nr); ok {
		return n
	}
	return "syscall_" + strconv.FormatUint(nr, 10)
}

// Dispatch executes syscall nr for t: the kernel's SyscallFunc.
func Dispatch(t *kernel.Task, nr uint64, a arch.SyscallArgs) (uintptr, error) {
	var s *Syscall
	if nr < MaxSyscall && Table[nr].Fn != nil {
		s = &Table[nr]
	}
	k := t.Kernel()
	if s == nil {
		k.CountUnimplemented(Name(nr))
		if k.Strace != nil {
			fmt.Fprintf(k.Strace, "[%4d] %s(%#x, %#x, %#x, ...) = -1 ENOSYS (not implemented)\n",
				t.ThreadID(), Name(nr), a[0], a[1], a[2])
		}
		return 0, unix.ENOSYS
	}
	if k.Strace == nil {
		return s.Fn(t, a)
	}
	// Arguments are formatted before the call: paths may change and
	// buffers are filled by it.
	args := formatArgs(t, s, a)
	rv, err := s.Fn(t, a)
	switch {
	case err == kernel.ErrNoReturn:
		fmt.Fprintf(k.Strace, "[%4d] %s(%s) = ?\n", t.ThreadID(), s.Name, args)
	case err != nil:
		fmt.Fprintf(k.Strace, "[%4d] %s(%s) = -1 %s\n", t.ThreadID(), s.Name, args, errnoName(err))
	default:
		fmt.Fprintf(k.Strace, "[%4d] %s(%s) = %#x\n", t.ThreadID(), s.Name, args, rv)
	}
	return rv, err
}

func formatArgs(t *kernel.Task, s *Syscall, a arch.SyscallArgs) string {
	var b strings.Builder
	for i, kind := range s.Args {
		if i > 0 {
			b.WriteString(", ")
		}
		v := a[i]
		switch kind {
		case Int:
			b.WriteString(strconv.FormatInt(int64(v), 10))
		case Oct:
			b.WriteString("0" + strconv.FormatUint(v, 8))
		case FD:
			if int32(v) == unix.AT_FDCWD {
				b.WriteString("AT_FDCWD")
			} else {
				b.WriteString(strconv.FormatInt(int64(int32(v)), 10))
			}
		case Path:
			if str, err := t.CopyInString(uintptr(v), 4096); err == nil {
				b.WriteString(strconv.Quote(str))
			} else {
				fmt.Fprintf(&b, "%#x", v)
			}
		case Buf:
			n := int(min(a[i+1], 32))
			buf := make([]byte, n)
			if n > 0 && t.CopyIn(uintptr(v), buf) == nil {
				b.WriteString(strconv.Quote(string(buf)))
				if a[i+1] > 32 {
					b.WriteString("...")
				}
			} else {
				fmt.Fprintf(&b, "%#x", v)
			}
		case Signal:
			b.WriteString(unix.SignalName(unix.Signal(v)))
			if unix.SignalName(unix.Signal(v)) == "" {
				b.WriteString(strconv.FormatUint(v, 10))
			}
		default:
			fmt.Fprintf(&b, "%#x", v)
		}
	}
	return b.String()
}

func errnoName(err error) string {
	if e, ok := err.(unix.Errno); ok {
		if syserr.IsRestart(e) {
			return fmt.Sprintf("ERESTART(%d) (interrupted)", int(e))
		}
		if n := unix.ErrnoName(e); n != "" {
			return fmt.Sprintf("%s (%s)", n, e.Error())
		}
		return strconv.Itoa(int(e))
	}
	return err.Error()
}

// unsupported counts a recognised but unsupported use of a syscall (a flag
// or mode the Sentry does not implement) and returns err for it.
func unsupported(t *kernel.Task, what string, err error) error {
	t.Kernel().CountUnimplemented(what)
	return err
}
