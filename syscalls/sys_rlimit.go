package syscalls

// Resource limits and usage: getrlimit(2), setrlimit(2), prlimit64(2),
// getrusage(2). The limits take effect where the Sentry enforces them
// (sentry/kernel/rlimit.go; memory limits in sys_mm.go).

import (
	"encoding/binary"
	"time"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"golang.org/x/sys/unix"
)

func init() {
	register(unix.SYS_GETRLIMIT, "getrlimit", sysGetrlimit, Int, Hex)
	register(unix.SYS_SETRLIMIT, "setrlimit", sysSetrlimit, Int, Hex).partial(
		"RLIMIT_RSS, RLIMIT_LOCKS, RLIMIT_NICE, RLIMIT_RTPRIO and RLIMIT_RTTIME are kept but not enforced (as RLIMIT_RSS and RLIMIT_LOCKS in Linux); " +
			"RLIMIT_CORE and RLIMIT_MSGQUEUE are kept (no core dumps; message queues read them)")
	register(unix.SYS_PRLIMIT64, "prlimit64", sysPrlimit64, Int, Int, Hex, Hex).partial(Table[unix.SYS_SETRLIMIT].Note)
	register(unix.SYS_GETRUSAGE, "getrusage", sysGetrusage, Int, Hex).partial(
		"ru_majflt, ru_inblock, ru_oublock and the IPC and signal counters are 0; ru_minflt counts faults the Sentry resolved (each maps up to 64 pages)")
}

// nrOpen is fs.nr_open, the most RLIMIT_NOFILE may be.
const nrOpen = 1 << 20

func rlimitBytes(l kernel.Limit) []byte {
	var b [16]byte
	putUint64(b[0:], l.Cur)
	putUint64(b[8:], l.Max)
	return b[:]
}

func sysGetrlimit(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	l, err := t.ThreadGroup().Limits().Get(int(a[0]))
	if err != nil {
		return 0, err
	}
	return 0, t.CopyOut(uintptr(a[1]), rlimitBytes(l))
}

func copyInRlimit(t *kernel.Task, addr uintptr) (kernel.Limit, error) {
	var b [16]byte
	if err := t.CopyIn(addr, b[:]); err != nil {
		return kernel.Limit{}, err
	}
	return kernel.Limit{Cur: binary.LittleEndian.Uint64(b[0:]), Max: binary.LittleEndian.Uint64(b[8:])}, nil
}

// setLimit applies the checks of setrlimit(2) and sets resource r of tg.
func setLimit(t *kernel.Task, tg *kernel.ThreadGroup, r int, l kernel.Limit) (kernel.Limit, error) {
	if r == unix.RLIMIT_NOFILE && l.Max > nrOpen && l.Max != kernel.Infinity {
		// kernel/sys.c do_prlimit: above fs.nr_open even root gets EPERM.
		return kernel.Limit{}, unix.EPERM
	}
	return tg.SetLimit(r, l, t.HasCapability(unix.CAP_SYS_RESOURCE))
}

func sysSetrlimit(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	l, err := copyInRlimit(t, uintptr(a[1]))
	if err != nil {
		return 0, err
	}
	_, err = setLimit(t, t.ThreadGroup(), int(a[0]), l)
	return 0, err
}

func sysPrlimit64(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	tg := t.ThreadGroup()
	if pid := int32(a[0]); pid != 0 {
		var err error
		if tg, err = t.LookupProcess(kernel.ThreadID(pid)); err != nil {
			return 0, err
		}
	}
	if err := t.MayPrlimit(tg); err != nil {
		return 0, err
	}
	old, err := tg.Limits().Get(int(a[1]))
	if err != nil {
		return 0, err
	}
	if a[2] != 0 {
		l, err := copyInRlimit(t, uintptr(a[2]))
		if err != nil {
			return 0, err
		}
		if old, err = setLimit(t, tg, int(a[1]), l); err != nil {
			return 0, err
		}
	}
	if a[3] != 0 {
		return 0, t.CopyOut(uintptr(a[3]), rlimitBytes(old))
	}
	return 0, nil
}

// rusageBytes is a struct rusage (144 bytes on amd64): two timevals, then
// fourteen longs of which the Sentry keeps maxrss (KiB), minflt, majflt,
// nvcsw and nivcsw.
func rusageBytes(u kernel.Usage) []byte {
	var b [144]byte
	copy(b[0:16], timevalBytes(u.User))
	copy(b[16:32], timevalBytes(u.Sys))
	longs := b[32:]
	putUint64(longs[0*8:], uint64(u.MaxRSS/1024))
	putUint64(longs[4*8:], u.MinFlt)
	putUint64(longs[5*8:], u.MajFlt)
	putUint64(longs[12*8:], u.NVCSw)
	putUint64(longs[13*8:], u.NIVCSw)
	return b[:]
}

// getrusage(2): RUSAGE_SELF (all threads, live and exited), RUSAGE_THREAD
// (the caller), RUSAGE_CHILDREN (children waited for, and theirs).
func sysGetrusage(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	var u kernel.Usage
	switch int32(a[0]) {
	case unix.RUSAGE_SELF:
		u = t.OwnUsage(true)
	case unix.RUSAGE_CHILDREN:
		u = t.ThreadGroup().ChildrenUsage()
	case unix.RUSAGE_THREAD:
		u = t.OwnUsage(false)
	default:
		return 0, unix.EINVAL
	}
	return 0, t.CopyOut(uintptr(a[1]), rusageBytes(u))
}

// timevalBytes is a struct timeval.
func timevalBytes(d time.Duration) []byte {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[0:], uint64(d/time.Second))
	binary.LittleEndian.PutUint64(b[8:], uint64(d%time.Second/time.Microsecond))
	return b[:]
}
