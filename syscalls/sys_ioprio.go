package syscalls

import (
	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"golang.org/x/sys/unix"
)

// ioprio_get(2) and ioprio_set(2): the Sentry schedules no I/O, so a
// priority is only remembered per task (kernel.Task.IOPrio) and answered
// back, with Linux's checks (block/ioprio.c).

func init() {
	register(unix.SYS_IOPRIO_SET, "ioprio_set", sysIoprioSet, Int, Int, Hex)
	register(unix.SYS_IOPRIO_GET, "ioprio_get", sysIoprioGet, Int, Int)
}

// I/O priority encoding (include/uapi/linux/ioprio.h).
const (
	ioprioClassShift = 13
	ioprioClassNone  = 0
	ioprioClassRT    = 1
	ioprioClassBE    = 2
	ioprioClassIdle  = 3
	ioprioNrLevels   = 8

	ioprioWhoProcess = 1
	ioprioWhoPgrp    = 2
	ioprioWhoUser    = 3
)

func ioprioClass(p int32) int32 { return (p >> ioprioClassShift) & 7 }
func ioprioLevel(p int32) int32 { return p & 7 }

// checkIOPrio is Linux's ioprio_check_cap: the real-time class needs
// CAP_SYS_NICE or CAP_SYS_ADMIN (EPERM); levels run 0-7 (EINVAL); the
// "none" class takes level 0 only; other classes are EINVAL.
func checkIOPrio(t *kernel.Task, p int32) error {
	switch ioprioClass(p) {
	case ioprioClassRT:
		if !t.HasCapability(unix.CAP_SYS_NICE) && !t.HasCapability(unix.CAP_SYS_ADMIN) {
			return unix.EPERM
		}
		fallthrough
	case ioprioClassBE:
		if ioprioLevel(p) >= ioprioNrLevels {
			return unix.EINVAL
		}
	case ioprioClassIdle:
	case ioprioClassNone:
		if ioprioLevel(p) != 0 {
			return unix.EINVAL
		}
	default:
		return unix.EINVAL
	}
	return nil
}

// ioprioTargets returns the tasks (which, who) names: a thread, the
// process group or the user (who 0: the caller's). ESRCH if none, EINVAL
// for an unknown which.
func ioprioTargets(t *kernel.Task, which, who int32) ([]*kernel.Task, error) {
	k := t.Kernel()
	var out []*kernel.Task
	switch which {
	case ioprioWhoProcess:
		if who == 0 {
			return []*kernel.Task{t}, nil
		}
		// Ids are the caller's pid and user namespaces'.
		if o, err := t.LookupTask(kernel.ThreadID(who)); err == nil {
			out = append(out, o)
		}
	case ioprioWhoPgrp:
		pg := t.KernelGroupID(kernel.ThreadID(who))
		if who == 0 {
			pg = t.ThreadGroup().ProcessGroup()
		}
		for _, id := range k.ThreadGroupIDs() {
			if tg := k.ThreadGroupByID(id); tg != nil && tg.ProcessGroup() == pg {
				out = append(out, tg.Tasks()...)
			}
		}
	case ioprioWhoUser:
		uid, ok := t.UserNamespace().MapUID(uint32(who))
		if who == 0 {
			uid, ok = t.Credentials().UID, true
		}
		if !ok {
			return nil, unix.ESRCH
		}
		for _, id := range k.ThreadGroupIDs() {
			if tg := k.ThreadGroupByID(id); tg != nil {
				for _, o := range tg.Tasks() {
					if o.Credentials().UID == uid {
						out = append(out, o)
					}
				}
			}
		}
	default:
		return nil, unix.EINVAL
	}
	if len(out) == 0 {
		return nil, unix.ESRCH
	}
	return out, nil
}

// sysIoprioSet implements ioprio_set(2): changing another user's tasks
// needs CAP_SYS_NICE (EPERM), as Linux's set_task_ioprio.
func sysIoprioSet(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	which, who, prio := int32(a[0]), int32(a[1]), int32(a[2])
	if err := checkIOPrio(t, prio); err != nil {
		return 0, err
	}
	tasks, err := ioprioTargets(t, which, who)
	if err != nil {
		return 0, err
	}
	c := t.Credentials()
	for _, o := range tasks {
		oc := o.Credentials()
		if oc.UID != c.EUID && oc.UID != c.UID && !t.HasCapability(unix.CAP_SYS_NICE) {
			return 0, unix.EPERM
		}
		o.SetIOPrio(prio)
	}
	return 0, nil
}

// sysIoprioGet implements ioprio_get(2): for a group or user, the best
// priority among its tasks (Linux's ioprio_best: the lowest class, then
// the lowest level; "none" counts as best-effort).
func sysIoprioGet(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	tasks, err := ioprioTargets(t, int32(a[0]), int32(a[1]))
	if err != nil {
		return 0, err
	}
	best := tasks[0].IOPrio()
	for _, o := range tasks[1:] {
		best = ioprioBest(best, o.IOPrio())
	}
	return uintptr(best), nil
}

func ioprioBest(a, b int32) int32 {
	rank := func(p int32) int32 {
		c := ioprioClass(p)
		if c == ioprioClassNone {
			c = ioprioClassBE
		}
		return c<<3 | ioprioLevel(p)
	}
	if rank(b) < rank(a) {
		return b
	}
	return a
}
