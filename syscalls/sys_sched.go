package syscalls

// Scheduling: sched_yield(2), sched_setscheduler(2), sched_getscheduler(2),
// sched_setparam(2), sched_getparam(2), sched_setattr(2), sched_getattr(2),
// sched_get_priority_max(2), sched_get_priority_min(2),
// sched_rr_get_interval(2), sched_setaffinity(2), sched_getaffinity(2),
// getcpu(2), setpriority(2) and getpriority(2). The attributes are the
// Sentry's own per-thread state (sentry/kernel/sched.go): they are
// remembered and checked as Linux does, but do not change how the host
// schedules the Sentry.

import (
	"encoding/binary"
	"runtime"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"golang.org/x/sys/unix"
)

func init() {
	register(unix.SYS_SCHED_YIELD, "sched_yield", sysSchedYield)
	register(unix.SYS_SCHED_SETSCHEDULER, "sched_setscheduler", sysSchedSetscheduler, Int, Int, Hex).partial("policies are remembered, not applied to the host's scheduling")
	register(unix.SYS_SCHED_GETSCHEDULER, "sched_getscheduler", sysSchedGetscheduler, Int)
	register(unix.SYS_SCHED_SETPARAM, "sched_setparam", sysSchedSetparam, Int, Hex).partial("priorities are remembered, not applied to the host's scheduling")
	register(unix.SYS_SCHED_GETPARAM, "sched_getparam", sysSchedGetparam, Int, Hex)
	register(unix.SYS_SCHED_SETATTR, "sched_setattr", sysSchedSetattr, Int, Hex, Hex).partial("attributes are remembered, not applied; no SCHED_DEADLINE admission control (EBUSY)")
	register(unix.SYS_SCHED_GETATTR, "sched_getattr", sysSchedGetattr, Int, Hex, Int, Hex)
	register(unix.SYS_SCHED_GET_PRIORITY_MAX, "sched_get_priority_max", sysSchedPriorityMax, Int)
	register(unix.SYS_SCHED_GET_PRIORITY_MIN, "sched_get_priority_min", sysSchedPriorityMin, Int)
	register(unix.SYS_SCHED_RR_GET_INTERVAL, "sched_rr_get_interval", sysSchedRRGetInterval, Int, Hex)
	register(unix.SYS_SCHED_SETAFFINITY, "sched_setaffinity", sysSchedSetaffinity, Int, Int, Hex).partial("the mask is remembered, not applied to the host's threads")
	register(unix.SYS_SCHED_GETAFFINITY, "sched_getaffinity", sysSchedGetaffinity, Int, Int, Hex)
	register(unix.SYS_GETCPU, "getcpu", sysGetcpu, Hex, Hex, Hex).partial("reports the first CPU of the thread's affinity mask, node 0")
	register(unix.SYS_GETPRIORITY, "getpriority", sysGetpriority, Int, Int)
	register(unix.SYS_SETPRIORITY, "setpriority", sysSetpriority, Int, Int, Int).partial("nice values are remembered, not applied to the host's scheduling")
	// Restartable sequences need a CPU number that no other thread holds
	// while the sequence runs; the Sentry's CPU numbers are not exclusive.
	// glibc registers rseq at every thread start and falls back to getcpu.
	refuse(unix.SYS_RSEQ, "rseq", unix.ENOSYS, "ENOSYS, as a kernel without CONFIG_RSEQ: the Sentry cannot give a thread a CPU number of its own; glibc falls back to getcpu(2)", Hex, Int, Hex, Hex)
}

func sysSchedYield(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	runtime.Gosched()
	return 0, nil
}

// schedTarget finds the thread a sched_* call names, a thread id of the
// caller's pid namespace: 0 is the caller; a negative id is EINVAL and a
// missing one ESRCH.
func schedTarget(t *kernel.Task, pid int32) (*kernel.Task, error) {
	switch {
	case pid < 0:
		return nil, unix.EINVAL
	case pid == 0:
		return t, nil
	}
	return t.LookupTask(kernel.ThreadID(pid))
}

// copyInSchedParam reads struct sched_param (EINVAL for NULL, as Linux).
func copyInSchedParam(t *kernel.Task, addr uintptr) (int, error) {
	if addr == 0 {
		return 0, unix.EINVAL
	}
	var b [4]byte
	if err := t.CopyIn(addr, b[:]); err != nil {
		return 0, err
	}
	return int(int32(binary.LittleEndian.Uint32(b[:]))), nil
}

// sched_setscheduler(2): the policy may carry SCHED_RESET_ON_FORK;
// SCHED_DEADLINE needs sched_setattr (EINVAL).
func sysSchedSetscheduler(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	pid, policy := int32(a[0]), int(int32(a[1]))
	if policy < 0 {
		return 0, unix.EINVAL
	}
	prio, err := copyInSchedParam(t, uintptr(a[2]))
	if err != nil {
		return 0, err
	}
	target, err := schedTarget(t, pid)
	if err != nil {
		return 0, err
	}
	attr := kernel.SchedAttr{Policy: policy &^ kernel.SchedResetOnFork, Priority: prio}
	if policy&kernel.SchedResetOnFork != 0 {
		attr.Flags |= kernel.SchedFlagResetOnFork
	}
	if attr.Policy == kernel.SchedDeadline {
		return 0, unix.EINVAL
	}
	return 0, t.SetSchedAttr(target, attr)
}

func sysSchedGetscheduler(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	target, err := schedTarget(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	p := target.SchedParams()
	policy := p.Policy
	if p.ResetOnFork {
		policy |= kernel.SchedResetOnFork
	}
	return uintptr(policy), nil
}

// sched_setparam(2) keeps the policy (and SCHED_RESET_ON_FORK).
func sysSchedSetparam(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	prio, err := copyInSchedParam(t, uintptr(a[1]))
	if err != nil {
		return 0, err
	}
	target, err := schedTarget(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	cur := target.SchedParams()
	if cur.Policy == kernel.SchedDeadline {
		return 0, unix.EINVAL
	}
	attr := kernel.SchedAttr{Policy: cur.Policy, Priority: prio}
	if cur.ResetOnFork {
		attr.Flags |= kernel.SchedFlagResetOnFork
	}
	return 0, t.SetSchedAttr(target, attr)
}

func sysSchedGetparam(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	if a[1] == 0 {
		return 0, unix.EINVAL
	}
	target, err := schedTarget(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], uint32(target.SchedParams().Priority))
	return 0, t.CopyOut(uintptr(a[1]), b[:])
}

// struct sched_attr sizes (SCHED_ATTR_SIZE_VER0 and VER1).
const (
	schedAttrSizeVer0 = 48
	schedAttrSizeVer1 = 56
)

// sched_setattr(2): a size of 0 means VER0; sizes below VER0 or above a
// page are E2BIG (with the size the kernel knows written back), as is a
// larger structure whose extra bytes are not zero.
func sysSchedSetattr(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	pid, addr, flags := int32(a[0]), uintptr(a[1]), a[2]
	if addr == 0 || pid < 0 || flags != 0 {
		return 0, unix.EINVAL
	}
	var sz [4]byte
	if err := t.CopyIn(addr, sz[:]); err != nil {
		return 0, err
	}
	size := int(binary.LittleEndian.Uint32(sz[:]))
	if size == 0 {
		size = schedAttrSizeVer0
	}
	tooBig := func() (uintptr, error) {
		binary.LittleEndian.PutUint32(sz[:], schedAttrSizeVer1)
		t.CopyOut(addr, sz[:])
		return 0, unix.E2BIG
	}
	if size < schedAttrSizeVer0 || size > 4096 {
		return tooBig()
	}
	b := make([]byte, size)
	if err := t.CopyIn(addr, b); err != nil {
		return 0, err
	}
	for _, c := range b[min(size, schedAttrSizeVer1):] {
		if c != 0 {
			return tooBig()
		}
	}
	b = append(b, make([]byte, schedAttrSizeVer1)...)
	le := binary.LittleEndian
	attr := kernel.SchedAttr{
		Policy:   int(int32(le.Uint32(b[4:]))),
		Flags:    le.Uint64(b[8:]),
		Nice:     int(int32(le.Uint32(b[16:]))),
		Priority: int(le.Uint32(b[20:])),
		Runtime:  le.Uint64(b[24:]),
		Deadline: le.Uint64(b[32:]),
		Period:   le.Uint64(b[40:]),
		UtilMin:  le.Uint32(b[48:]),
		UtilMax:  le.Uint32(b[52:]),
	}
	if attr.Flags&(kernel.SchedFlagUtilClampMin|kernel.SchedFlagUtilClampMax) != 0 {
		if size < schedAttrSizeVer1 {
			return 0, unix.EINVAL
		}
		if attr.UtilMin > 1024 || attr.UtilMax > 1024 && attr.UtilMax != ^uint32(0) ||
			attr.Flags&kernel.SchedFlagUtilClampMin != 0 && attr.Flags&kernel.SchedFlagUtilClampMax != 0 && attr.UtilMin > attr.UtilMax {
			return 0, unix.EINVAL
		}
	}
	target, err := schedTarget(t, pid)
	if err != nil {
		return 0, err
	}
	switch attr.Policy {
	case kernel.SchedOther, kernel.SchedBatch, kernel.SchedIdle:
		attr.SetNice = attr.Flags&kernel.SchedFlagKeepParams == 0
	}
	return 0, t.SetSchedAttr(target, attr)
}

// sched_getattr(2): size must hold at least VER0 and at most a page;
// flags must be 0.
func sysSchedGetattr(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	pid, addr, usize, flags := int32(a[0]), uintptr(a[1]), uint32(a[2]), a[3]
	if addr == 0 || pid < 0 || flags != 0 || usize < schedAttrSizeVer0 || usize > 4096 {
		return 0, unix.EINVAL
	}
	target, err := schedTarget(t, pid)
	if err != nil {
		return 0, err
	}
	p := target.SchedParams()
	n := min(usize, schedAttrSizeVer1)
	b := make([]byte, schedAttrSizeVer1)
	le := binary.LittleEndian
	le.PutUint32(b[0:], n)
	le.PutUint32(b[4:], uint32(p.Policy))
	le.PutUint64(b[8:], p.Flags)
	if p.Policy == kernel.SchedOther || p.Policy == kernel.SchedBatch || p.Policy == kernel.SchedIdle {
		le.PutUint32(b[16:], uint32(int32(p.Nice)))
	}
	le.PutUint32(b[20:], uint32(p.Priority))
	le.PutUint64(b[24:], p.Runtime)
	le.PutUint64(b[32:], p.Deadline)
	le.PutUint64(b[40:], p.Period)
	le.PutUint32(b[48:], p.UtilMin)
	le.PutUint32(b[52:], p.UtilMax)
	return 0, t.CopyOut(addr, b[:n])
}

func sysSchedPriorityMax(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	switch int32(a[0]) {
	case kernel.SchedFIFO, kernel.SchedRR:
		return 99, nil
	case kernel.SchedOther, kernel.SchedBatch, kernel.SchedIdle, kernel.SchedDeadline:
		return 0, nil
	}
	return 0, unix.EINVAL
}

func sysSchedPriorityMin(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	switch int32(a[0]) {
	case kernel.SchedFIFO, kernel.SchedRR:
		return 1, nil
	case kernel.SchedOther, kernel.SchedBatch, kernel.SchedIdle, kernel.SchedDeadline:
		return 0, nil
	}
	return 0, unix.EINVAL
}

// sched_rr_get_interval(2): SCHED_RR's time slice is Linux's default 100
// ms, SCHED_FIFO has none (0), and the fair policies report the 3 ms base
// slice of Linux 6.6's scheduler for a lone thread.
func sysSchedRRGetInterval(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	target, err := schedTarget(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	var ns int64
	switch target.SchedParams().Policy {
	case kernel.SchedRR:
		ns = 100_000_000
	case kernel.SchedFIFO, kernel.SchedDeadline:
		ns = 0
	default:
		ns = 3_000_000
	}
	var b [16]byte
	binary.LittleEndian.PutUint64(b[0:], uint64(ns/1e9))
	binary.LittleEndian.PutUint64(b[8:], uint64(ns%1e9))
	return 0, t.CopyOut(uintptr(a[1]), b[:])
}

// cpumaskSize is the size of the kernel's cpumask in bytes: one word per
// 64 of the sandbox's CPUs (nr_cpu_ids with CPUMASK_OFFSTACK).
func cpumaskSize() int { return (kernel.NumCPUs() + 63) / 64 * 8 }

// sched_getaffinity(2): the buffer must hold the mask and be a whole
// number of words (EINVAL); it returns the mask's size.
func sysSchedGetaffinity(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	size := a[1]
	need := cpumaskSize()
	if size*8 < uint64(kernel.NumCPUs()) || size%8 != 0 {
		return 0, unix.EINVAL
	}
	target, err := schedTarget(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	b := make([]byte, need)
	for i, w := range target.Affinity() {
		binary.LittleEndian.PutUint64(b[i*8:], w)
	}
	if err := t.CopyOut(uintptr(a[2]), b); err != nil {
		return 0, err
	}
	return uintptr(need), nil
}

// sched_setaffinity(2): a shorter mask than the kernel's means zeros for
// the rest; bits beyond the sandbox's CPUs are ignored.
func sysSchedSetaffinity(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	n := int(min(a[1], uint64(cpumaskSize())))
	b := make([]byte, (n+7)/8*8)
	if err := t.CopyIn(uintptr(a[2]), b[:n]); err != nil {
		return 0, err
	}
	mask := make([]uint64, len(b)/8)
	for i := range mask {
		mask[i] = binary.LittleEndian.Uint64(b[i*8:])
	}
	target, err := schedTarget(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	return 0, t.SetAffinity(target, mask)
}

// getcpu(2): the CPU and NUMA node (always 0) of the caller; either
// pointer may be NULL, tcache is ignored (as since Linux 2.6.24).
func sysGetcpu(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	var b [4]byte
	if a[0] != 0 {
		binary.LittleEndian.PutUint32(b[:], uint32(t.CPU()))
		if err := t.CopyOut(uintptr(a[0]), b[:]); err != nil {
			return 0, err
		}
	}
	if a[1] != 0 {
		binary.LittleEndian.PutUint32(b[:], 0)
		if err := t.CopyOut(uintptr(a[1]), b[:]); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

// getpriority(2) returns 20-nice of the target with the highest priority
// (lowest nice), as the raw system call does (glibc turns it back into a
// nice value).
func sysGetpriority(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	targets, err := t.PriorityTargets(int(int32(a[0])), int(int32(a[1])))
	if err != nil {
		return 0, err
	}
	best := 0
	for _, tt := range targets {
		best = max(best, 20-tt.Nice())
	}
	return uintptr(best), nil
}

// setpriority(2) sets the nice value of every target (clamped to
// -20..19); the last error, if any, is returned, as Linux does.
func sysSetpriority(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	targets, err := t.PriorityTargets(int(int32(a[0])), int(int32(a[1])))
	if err != nil {
		return 0, err
	}
	nice := int(int32(a[2]))
	for _, tt := range targets {
		if e := t.SetNice(tt, nice); e != nil {
			err = e
		}
	}
	return 0, err
}
