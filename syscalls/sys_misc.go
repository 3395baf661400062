package syscalls

// Miscellaneous process state: arch_prctl(2), prctl(2) (its capability
// options are in sys_capability.go), getrandom(2), sched_*(2), getcpu(2),
// sysinfo(2), personality(2), getpriority(2). Resource limits and usage
// are in sys_rlimit.go.

import (
	"crypto/rand"
	"encoding/binary"
	"runtime"
	"strconv"
	"strings"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"golang.org/x/sys/unix"
)

func init() {
	register(unix.SYS_ARCH_PRCTL, "arch_prctl", sysArchPrctl, Hex, Hex)
	register(unix.SYS_PRCTL, "prctl", sysPrctl, Int, Hex, Hex, Hex, Hex).partial("options other than those of names, anonymous memory names (PR_SET_VMA), no_new_privs, dumpable, capabilities, keepcaps, securebits and seccomp: EINVAL")
	register(unix.SYS_GETRANDOM, "getrandom", sysGetrandom, Hex, Int, Hex)
	register(unix.SYS_SCHED_YIELD, "sched_yield", sysSchedYield)
	register(unix.SYS_SCHED_GETAFFINITY, "sched_getaffinity", sysSchedGetaffinity, Int, Int, Hex)
	register(unix.SYS_SCHED_SETAFFINITY, "sched_setaffinity", sysSchedSetaffinity, Int, Int, Hex)
	register(unix.SYS_SCHED_GETSCHEDULER, "sched_getscheduler", sysSchedGetscheduler, Int)
	register(unix.SYS_SCHED_GETPARAM, "sched_getparam", sysSchedGetparam, Int, Hex)
	register(unix.SYS_SCHED_GET_PRIORITY_MAX, "sched_get_priority_max", sysSchedPriorityRange, Int)
	register(unix.SYS_SCHED_GET_PRIORITY_MIN, "sched_get_priority_min", sysSchedPriorityRange, Int)
	register(unix.SYS_GETCPU, "getcpu", sysGetcpu, Hex, Hex, Hex)
	register(unix.SYS_SYSINFO, "sysinfo", sysSysinfo, Hex)
	register(unix.SYS_PERSONALITY, "personality", sysPersonality, Hex).partial("only the default personality (PER_LINUX): other values EINVAL")
	register(unix.SYS_GETPRIORITY, "getpriority", sysGetpriority, Int, Int)
	register(unix.SYS_SETPRIORITY, "setpriority", sysSetpriority, Int, Int, Int)
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

func sysPrctl(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	if rv, ok, err := prctlCapability(t, a); ok {
		return rv, err
	}
	switch int(a[0]) {
	case unix.PR_SET_NAME:
		var b [16]byte
		n, _ := t.MemoryManager().CopyIn(uintptr(a[1]), b[:])
		if n == 0 {
			return 0, unix.EFAULT
		}
		name := b[:n]
		for i, c := range name {
			if c == 0 {
				name = name[:i]
				break
			}
		}
		t.SetName(string(name))
		return 0, nil
	case unix.PR_GET_NAME:
		var b [16]byte
		copy(b[:15], t.Name())
		return 0, t.CopyOut(uintptr(a[1]), b[:])
	case unix.PR_GET_DUMPABLE:
		return 1, nil
	case unix.PR_SET_DUMPABLE:
		if a[1] > 1 {
			return 0, unix.EINVAL
		}
		return 0, nil
	case unix.PR_GET_SECCOMP, unix.PR_SET_SECCOMP:
		return prctlSeccomp(t, a)
	case unix.PR_SET_VMA:
		return 0, prctlSetVMA(t, a)
	}
	return 0, unsupported(t, "prctl("+itoa(a[0])+")", unix.EINVAL)
}

// anonNameMax is ANON_VMA_NAME_MAX_LEN, with the terminating NUL.
const anonNameMax = 80

// prctlSetVMA implements PR_SET_VMA_ANON_NAME (Linux 5.17): it names
// anonymous memory for /proc/PID/maps ([anon:NAME]); a NULL name removes
// the name.
func prctlSetVMA(t *kernel.Task, a arch.SyscallArgs) error {
	if a[1] != unix.PR_SET_VMA_ANON_NAME {
		return unix.EINVAL
	}
	name := ""
	if a[4] != 0 {
		s, err := t.CopyInString(uintptr(a[4]), anonNameMax-1)
		if err == unix.ENAMETOOLONG {
			return unix.EINVAL
		}
		if err != nil {
			return err
		}
		for _, c := range []byte(s) {
			// Linux refuses what would make maps ambiguous.
			if c <= ' ' || c >= 0x7f || strings.IndexByte("\\`$[]", c) >= 0 {
				return unix.EINVAL
			}
		}
		name = s
	}
	return t.MemoryManager().SetAnonName(uintptr(a[2]), uintptr(a[3]), name)
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

func sysSchedYield(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	runtime.Gosched()
	return 0, nil
}

// The sandbox sees as many CPUs as the Sentry may use.
func sysSchedGetaffinity(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	size := int(a[1])
	ncpu := runtime.NumCPU()
	need := (ncpu + 63) / 64 * 8
	if size < need || size%8 != 0 {
		return 0, unix.EINVAL
	}
	b := make([]byte, need)
	for i := 0; i < ncpu; i++ {
		b[i/8] |= 1 << (i % 8)
	}
	if err := t.CopyOut(uintptr(a[2]), b); err != nil {
		return 0, err
	}
	return uintptr(need), nil
}

// sched_setaffinity(2) is accepted and has no effect: the Sentry's own
// scheduler places threads. The mask must name at least one CPU we have.
func sysSchedSetaffinity(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	b := make([]byte, int(min(a[1], 128)))
	if err := t.CopyIn(uintptr(a[2]), b); err != nil {
		return 0, err
	}
	for i := 0; i < runtime.NumCPU() && i/8 < len(b); i++ {
		if b[i/8]&(1<<(i%8)) != 0 {
			return 0, nil
		}
	}
	return 0, unix.EINVAL
}

func sysSchedGetscheduler(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return 0, nil // SCHED_OTHER
}

func sysSchedGetparam(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return 0, t.CopyOut(uintptr(a[1]), make([]byte, 4))
}

func sysSchedPriorityRange(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	switch a[0] {
	case 0, 3, 5: // SCHED_OTHER, SCHED_BATCH, SCHED_IDLE
		return 0, nil
	case 1, 2: // SCHED_FIFO, SCHED_RR
		return 99, nil // max; min is 1 but callers only compare
	}
	return 0, unix.EINVAL
}

func sysGetcpu(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	var z [4]byte
	for _, addr := range []uintptr{uintptr(a[0]), uintptr(a[1])} {
		if addr != 0 {
			if err := t.CopyOut(addr, z[:]); err != nil {
				return 0, err
			}
		}
	}
	return 0, nil
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

func sysPersonality(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	if uint32(a[0]) == 0xffffffff || a[0] == 0 {
		return 0, nil // PER_LINUX
	}
	return 0, unsupported(t, "personality(non-default)", unix.EINVAL)
}

func sysGetpriority(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return 20, nil // nice 0, in the kernel's 40-nice encoding
}

// setpriority(2): every nice value stays 0 (getpriority reports it), but
// asking for a negative one, below the RLIMIT_NICE of 0, needs
// CAP_SYS_NICE (EACCES), as Linux's can_nice checks.
func sysSetpriority(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	if int32(a[2]) < 0 && !t.HasCapability(unix.CAP_SYS_NICE) {
		return 0, unix.EACCES
	}
	return 0, nil
}
