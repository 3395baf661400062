package syscalls

// Miscellaneous process state: arch_prctl(2), getrlimit(2),
// setrlimit(2), prlimit64(2), getrandom(2), sysinfo(2), getrusage(2),
// personality(2). prctl(2) is in sys_prctl.go, scheduling in
// sys_sched.go.

import (
	"crypto/rand"
	"encoding/binary"
	"strconv"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"golang.org/x/sys/unix"
)

func init() {
	register(unix.SYS_ARCH_PRCTL, "arch_prctl", sysArchPrctl, Hex, Hex)
	register(unix.SYS_GETRLIMIT, "getrlimit", sysGetrlimit, Int, Hex)
	register(unix.SYS_SETRLIMIT, "setrlimit", sysSetrlimit, Int, Hex)
	register(unix.SYS_PRLIMIT64, "prlimit64", sysPrlimit64, Int, Int, Hex, Hex)
	register(unix.SYS_GETRANDOM, "getrandom", sysGetrandom, Hex, Int, Hex)
	register(unix.SYS_SYSINFO, "sysinfo", sysSysinfo, Hex)
	register(unix.SYS_GETRUSAGE, "getrusage", sysGetrusage, Int, Hex)
	register(unix.SYS_PERSONALITY, "personality", sysPersonality, Hex).partial("only PER_LINUX, with ADDR_NO_RANDOMIZE, ADDR_COMPAT_LAYOUT or UNAME26 (remembered, no effect): other values EINVAL")
	refuse(unix.SYS_KCMP, "kcmp", unix.ENOSYS, "not implemented: as a kernel built without CONFIG_KCMP", Int, Int, Int, Hex, Hex)
}

func putUint64(b []byte, v uint64) { binary.LittleEndian.PutUint64(b, v) }

const (
	archSetGS = 0x1001
	archSetFS = 0x1002
	archGetFS = 0x1003
	archGetGS = 0x1004
)

func sysArchPrctl(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	r := t.Regs()
	var b [8]byte
	switch a[0] {
	case archSetFS:
		if a[1] >= 1<<47 {
			return 0, unix.EPERM
		}
		r.Fs_base = a[1]
	case archSetGS:
		if a[1] >= 1<<47 {
			return 0, unix.EPERM
		}
		r.Gs_base = a[1]
	case archGetFS:
		putUint64(b[:], r.Fs_base)
		return 0, t.CopyOut(uintptr(a[1]), b[:])
	case archGetGS:
		putUint64(b[:], r.Gs_base)
		return 0, t.CopyOut(uintptr(a[1]), b[:])
	default:
		// CET and CPUID faulting controls are not supported.
		return 0, unix.EINVAL
	}
	return 0, nil
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }

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

func sysSetrlimit(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	l, err := copyInRlimit(t, uintptr(a[1]))
	if err != nil {
		return 0, err
	}
	_, err = t.ThreadGroup().Limits().Set(int(a[0]), l, t.HasCapability(unix.CAP_SYS_RESOURCE))
	if err == nil {
		applyLimit(t, int(a[0]), l)
	}
	return 0, err
}

// applyLimit makes a new limit take effect where the Sentry enforces it.
func applyLimit(t *kernel.Task, resource int, l kernel.Limit) {
	if resource == unix.RLIMIT_NOFILE {
		t.FDTable().SetLimit(int32(min(l.Cur, 1<<20)))
	}
}

func sysPrlimit64(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	tg := t.ThreadGroup()
	if pid := int32(a[0]); pid != 0 {
		if tg = t.Kernel().ThreadGroupByID(kernel.ThreadID(pid)); tg == nil {
			return 0, unix.ESRCH
		}
	}
	if err := t.MayPrlimit(tg); err != nil {
		return 0, err
	}
	lim := tg.Limits()
	old, err := lim.Get(int(a[1]))
	if err != nil {
		return 0, err
	}
	if a[2] != 0 {
		l, err := copyInRlimit(t, uintptr(a[2]))
		if err != nil {
			return 0, err
		}
		if old, err = lim.Set(int(a[1]), l, t.HasCapability(unix.CAP_SYS_RESOURCE)); err != nil {
			return 0, err
		}
		if tg == t.ThreadGroup() {
			applyLimit(t, int(a[1]), l)
		}
	}
	if a[3] != 0 {
		return 0, t.CopyOut(uintptr(a[3]), rlimitBytes(old))
	}
	return 0, nil
}

func sysGetrandom(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	if a[2]&^(unix.GRND_NONBLOCK|unix.GRND_RANDOM|unix.GRND_INSECURE) != 0 {
		return 0, unix.EINVAL
	}
	n := int(min(a[1], 1<<20)) // compared unsigned: a huge count is capped, not negative
	b := make([]byte, n)
	rand.Read(b)
	if err := t.CopyOut(uintptr(a[0]), b); err != nil {
		return 0, err
	}
	return uintptr(n), nil
}

func sysSysinfo(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	var host unix.Sysinfo_t
	unix.Sysinfo(&host)
	var b [112]byte
	putUint64(b[0:], uint64(t.Kernel().Uptime().Seconds()))
	putUint64(b[32:], host.Totalram)
	putUint64(b[40:], host.Freeram)
	binary.LittleEndian.PutUint16(b[80:], uint16(len(t.Kernel().ThreadGroupIDs())))
	binary.LittleEndian.PutUint32(b[104:], host.Unit)
	return 0, t.CopyOut(uintptr(a[0]), b[:])
}

// getrusage(2): resource accounting is not implemented; all zero.
func sysGetrusage(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	switch int32(a[0]) {
	case unix.RUSAGE_SELF, unix.RUSAGE_CHILDREN, unix.RUSAGE_THREAD:
	default:
		return 0, unix.EINVAL
	}
	return 0, t.CopyOut(uintptr(a[1]), make([]byte, 144))
}

// personality(2): only PER_LINUX, with the flags that change nothing in
// the Sentry (ADDR_NO_RANDOMIZE: it does not randomise layouts anyway;
// ADDR_COMPAT_LAYOUT, ADDR_LIMIT_3GB-free flags); 0xffffffff queries.
func sysPersonality(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	const addrNoRandomize, addrCompatLayout, uname26 = 0x0040000, 0x0200000, 0x0020000
	p := uint32(a[0])
	tg := t.ThreadGroup()
	if p == 0xffffffff {
		return uintptr(tg.Personality()), nil
	}
	if p&^(addrNoRandomize|addrCompatLayout|uname26) != 0 {
		return 0, unsupported(t, "personality(non-default)", unix.EINVAL)
	}
	return uintptr(tg.SetPersonality(p)), nil
}
