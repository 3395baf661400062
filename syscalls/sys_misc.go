package syscalls

// Miscellaneous process state: arch_prctl(2), getrandom(2), sysinfo(2),
// personality(2). prctl(2) is in sys_prctl.go, scheduling in
// sys_sched.go, resource limits and usage in sys_rlimit.go.

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
	register(unix.SYS_GETRANDOM, "getrandom", sysGetrandom, Hex, Int, Hex)
	register(unix.SYS_SYSINFO, "sysinfo", sysSysinfo, Hex)
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
