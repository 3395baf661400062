package syscalls

// prctl(2). The capability and privilege options are in
// sys_capability.go, PR_SET_SECCOMP and PR_GET_SECCOMP in sys_seccomp.go;
// the rest is here. Options Linux does not have, or has only on other
// architectures, fail with EINVAL as on Linux.

import (
	"encoding/binary"
	"strings"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"golang.org/x/sys/unix"
)

func init() {
	register(unix.SYS_PRCTL, "prctl", sysPrctl, Int, Hex, Hex, Hex, Hex).partial(
		"PR_SET_MM changes nothing (EPERM without CAP_SYS_RESOURCE, else EINVAL); PR_GET_SPECULATION_CTRL " +
			"says not affected; options for other architectures and PR_SCHED_CORE, PR_SET_IO_FLUSHER, " +
			"PR_GET_AUXV, PR_SET_MDWE: EINVAL")
}

// prctl options x/sys/unix may lack.
const (
	prSetMMMapSize     = 15
	prSetMMMap         = 14
	prSetMMLast        = 15
	prctlMMMapSize     = 104 // sizeof(struct prctl_mm_map)
	prSetPtracerAny    = ^uint64(0)
	prTSCEnable        = 1
	prMCEKillDefault   = 2
	prSpecNotAffected  = 0
	prSpecStoreBypass  = 0
	prSpecIndirect     = 1
	prSpecL1DFlush     = 2
	prTimingStatistics = 0
)

func sysPrctl(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	if rv, ok, err := prctlCapability(t, a); ok {
		return rv, err
	}
	putInt := func(addr uint64, v int32) error {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(v))
		return t.CopyOut(uintptr(addr), b[:])
	}
	switch int(a[0]) {
	case unix.PR_SET_NAME:
		// Up to 15 bytes, stopping at a NUL (strncpy_from_user).
		var b [16]byte
		n, _ := t.MemoryManager().CopyIn(uintptr(a[1]), b[:15])
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
		return boolRet(t.ThreadGroup().Dumpable()), nil
	case unix.PR_SET_DUMPABLE:
		// Only SUID_DUMP_DISABLE and SUID_DUMP_USER may be set.
		if a[1] > 1 {
			return 0, unix.EINVAL
		}
		t.ThreadGroup().SetDumpable(a[1] == 1)
		return 0, nil
	case unix.PR_GET_SECCOMP, unix.PR_SET_SECCOMP:
		return prctlSeccomp(t, a)
	case unix.PR_SET_PDEATHSIG:
		return 0, t.SetPdeathSig(a[1])
	case unix.PR_GET_PDEATHSIG:
		return 0, putInt(a[1], int32(t.PdeathSig()))
	case unix.PR_SET_CHILD_SUBREAPER:
		t.ThreadGroup().SetChildSubreaper(a[1] != 0)
		return 0, nil
	case unix.PR_GET_CHILD_SUBREAPER:
		return 0, putInt(a[1], int32(boolRet(t.ThreadGroup().ChildSubreaper())))
	case unix.PR_GET_TIMERSLACK:
		return uintptr(t.TimerSlack()), nil
	case unix.PR_SET_TIMERSLACK:
		t.SetTimerSlack(a[1])
		return 0, nil
	case unix.PR_SET_THP_DISABLE:
		if a[2]|a[3]|a[4] != 0 {
			return 0, unix.EINVAL
		}
		t.ThreadGroup().SetTHPDisabled(a[1] != 0)
		return 0, nil
	case unix.PR_GET_THP_DISABLE:
		if a[1]|a[2]|a[3]|a[4] != 0 {
			return 0, unix.EINVAL
		}
		return boolRet(t.ThreadGroup().THPDisabled()), nil
	case unix.PR_GET_TID_ADDRESS:
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(t.ClearTIDAddress()))
		return 0, t.CopyOut(uintptr(a[1]), b[:])
	case unix.PR_SET_MM:
		return 0, prctlSetMM(t, a)
	case unix.PR_SET_VMA:
		return 0, prctlSetVMA(t, a)
	case unix.PR_SET_PTRACER:
		pid := int64(a[1])
		if a[1] == prSetPtracerAny {
			pid = -1
		}
		return 0, t.SetPtracer(pid)
	case unix.PR_GET_SPECULATION_CTRL:
		if a[2]|a[3]|a[4] != 0 {
			return 0, unix.EINVAL
		}
		switch a[1] {
		case prSpecStoreBypass, prSpecIndirect, prSpecL1DFlush:
			// The sandbox reports no speculation controls: there is
			// nothing the application could switch.
			return prSpecNotAffected, nil
		}
		return 0, unix.ENODEV
	case unix.PR_SET_SPECULATION_CTRL:
		if a[3]|a[4] != 0 {
			return 0, unix.EINVAL
		}
		switch a[1] {
		case prSpecStoreBypass, prSpecIndirect, prSpecL1DFlush:
			return 0, unix.ENXIO // as for a CPU not affected
		}
		return 0, unix.ENODEV
	case unix.PR_GET_TSC:
		return 0, putInt(a[1], prTSCEnable)
	case unix.PR_SET_TSC:
		// Only PR_TSC_ENABLE: the Sentry cannot make rdtsc fault.
		if a[1] != prTSCEnable {
			return 0, unsupported(t, "prctl(PR_SET_TSC, PR_TSC_SIGSEGV)", unix.EINVAL)
		}
		return 0, nil
	case unix.PR_TASK_PERF_EVENTS_DISABLE, unix.PR_TASK_PERF_EVENTS_ENABLE:
		return 0, nil // there are no perf events in the sandbox
	case unix.PR_GET_TIMING:
		return prTimingStatistics, nil
	case unix.PR_SET_TIMING:
		if a[1] != prTimingStatistics {
			return 0, unix.EINVAL
		}
		return 0, nil
	case unix.PR_MCE_KILL_GET:
		if a[1]|a[2]|a[3]|a[4] != 0 {
			return 0, unix.EINVAL
		}
		return prMCEKillDefault, nil
	}
	return 0, unsupported(t, "prctl("+itoa(a[0])+")", unix.EINVAL)
}

// prctlSetMM implements PR_SET_MM's checks (kernel/sys.c prctl_set_mm):
// bad argument combinations and options are EINVAL, PR_SET_MM_MAP_SIZE
// answers, and changing anything needs CAP_SYS_RESOURCE (EPERM); with it
// the Sentry still changes nothing (EINVAL, counted).
func prctlSetMM(t *kernel.Task, a arch.SyscallArgs) error {
	opt := a[1]
	if a[4] != 0 || (a[3] != 0 && opt != unix.PR_SET_MM_AUXV && opt != prSetMMMap && opt != prSetMMMapSize) {
		return unix.EINVAL
	}
	if opt == prSetMMMapSize {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], prctlMMMapSize)
		return t.CopyOut(uintptr(a[2]), b[:])
	}
	if opt < 1 || opt > prSetMMLast {
		return unix.EINVAL
	}
	if !t.HasCapability(unix.CAP_SYS_RESOURCE) {
		return unix.EPERM
	}
	return unsupported(t, "prctl(PR_SET_MM)", unix.EINVAL)
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
			// Printable characters but those that would make maps
			// ambiguous (is_valid_name_char): a space is allowed.
			if c < ' ' || c >= 0x7f || strings.IndexByte("\\`$[]", c) >= 0 {
				return unix.EINVAL
			}
		}
		name = s
	}
	return t.MemoryManager().SetAnonName(uintptr(a[2]), uintptr(a[3]), name)
}
