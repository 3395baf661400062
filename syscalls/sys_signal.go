package syscalls

// Signals: rt_sigaction(2), rt_sigprocmask(2), rt_sigreturn(2),
// sigaltstack(2), kill(2), tkill(2), tgkill(2), rt_sigpending(2),
// rt_sigsuspend(2), rt_sigtimedwait(2), rt_sigqueueinfo(2), pause(2).

import (
	"encoding/binary"
	"time"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/syserr"
	"golang.org/x/sys/unix"
)

func init() {
	register(unix.SYS_RT_SIGACTION, "rt_sigaction", sysRtSigaction, Signal, Hex, Hex, Int)
	register(unix.SYS_RT_SIGPROCMASK, "rt_sigprocmask", sysRtSigprocmask, Int, Hex, Hex, Int)
	register(unix.SYS_RT_SIGRETURN, "rt_sigreturn", sysRtSigreturn)
	register(unix.SYS_SIGALTSTACK, "sigaltstack", sysSigaltstack, Hex, Hex)
	register(unix.SYS_KILL, "kill", sysKill, Int, Signal)
	register(unix.SYS_TKILL, "tkill", sysTkill, Int, Signal)
	register(unix.SYS_TGKILL, "tgkill", sysTgkill, Int, Int, Signal)
	register(unix.SYS_RT_SIGPENDING, "rt_sigpending", sysRtSigpending, Hex, Int)
	register(unix.SYS_RT_SIGSUSPEND, "rt_sigsuspend", sysRtSigsuspend, Hex, Int)
	register(unix.SYS_RT_SIGTIMEDWAIT, "rt_sigtimedwait", sysRtSigtimedwait, Hex, Hex, Hex, Int)
	register(unix.SYS_RT_SIGQUEUEINFO, "rt_sigqueueinfo", sysRtSigqueueinfo, Int, Signal, Hex)
	register(unix.SYS_RT_TGSIGQUEUEINFO, "rt_tgsigqueueinfo", sysRtTgsigqueueinfo, Int, Int, Signal, Hex)
	register(unix.SYS_PAUSE, "pause", sysPause)
}

func copyInSigset(t *kernel.Task, addr uintptr, size uint64) (uint64, error) {
	if size != 8 {
		return 0, unix.EINVAL
	}
	var b [8]byte
	if err := t.CopyIn(addr, b[:]); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

func copyOutSigset(t *kernel.Task, addr uintptr, set uint64) error {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], set)
	return t.CopyOut(addr, b[:])
}

func sysRtSigaction(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	sig, newAddr, oldAddr, size := unix.Signal(a[0]), uintptr(a[1]), uintptr(a[2]), a[3]
	if size != 8 {
		return 0, unix.EINVAL
	}
	var newAct *arch.SignalAct
	if newAddr != 0 {
		var b [32]byte
		if err := t.CopyIn(newAddr, b[:]); err != nil {
			return 0, err
		}
		newAct = &arch.SignalAct{}
		newAct.Unmarshal(b[:])
	}
	old, err := t.SignalAction(sig, newAct)
	if err != nil {
		return 0, err
	}
	if oldAddr != 0 {
		return 0, t.CopyOut(oldAddr, old.Marshal())
	}
	return 0, nil
}

func sysRtSigprocmask(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	how, setAddr, oldAddr, size := int(a[0]), uintptr(a[1]), uintptr(a[2]), a[3]
	if size != 8 {
		return 0, unix.EINVAL
	}
	old := t.SignalMask()
	if setAddr != 0 {
		set, err := copyInSigset(t, setAddr, size)
		if err != nil {
			return 0, err
		}
		switch how {
		case unix.SIG_BLOCK:
			t.SetSignalMask(old | set)
		case unix.SIG_UNBLOCK:
			t.SetSignalMask(old &^ set)
		case unix.SIG_SETMASK:
			t.SetSignalMask(set)
		default:
			return 0, unix.EINVAL
		}
	}
	if oldAddr != 0 {
		return 0, copyOutSigset(t, oldAddr, old)
	}
	return 0, nil
}

func sysRtSigreturn(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return 0, t.SignalReturn()
}

func sysSigaltstack(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	newAddr, oldAddr := uintptr(a[0]), uintptr(a[1])
	old := t.SignalStack()
	if newAddr != 0 {
		var b [24]byte
		if err := t.CopyIn(newAddr, b[:]); err != nil {
			return 0, err
		}
		var s arch.SignalStack
		s.Unmarshal(b[:])
		if err := t.SetSignalStack(s); err != nil {
			return 0, err
		}
	}
	if oldAddr != 0 {
		return 0, t.CopyOut(oldAddr, old.Marshal())
	}
	return 0, nil
}

// userSignalInfo is the siginfo of a signal sent by kill(2) and friends
// (si_pid is filled in for the target's pid namespace when it is sent).
func userSignalInfo(t *kernel.Task, sig unix.Signal, code int32) *arch.SignalInfo {
	info := &arch.SignalInfo{Signo: int32(sig), Code: code}
	info.SetUID(t.UserNamespace().ViewUID(t.Credentials().UID))
	return info
}

const siUser = 0   // SI_USER
const siTkill = -6 // SI_TKILL
const siQueue = -1 // SI_QUEUE

func sysKill(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	pid, sig := int32(a[0]), unix.Signal(a[1])
	if sig < 0 || sig > 64 {
		return 0, unix.EINVAL
	}
	// Signal 0 checks existence and permission (CAP_KILL or matching
	// uids; see Task.MaySignal) without sending anything.
	send := func(tg *kernel.ThreadGroup) error {
		if err := t.MaySignalProcess(tg, sig); err != nil {
			return err
		}
		if sig == 0 {
			return nil
		}
		return t.SignalProcess(tg, userSignalInfo(t, sig, siUser), true)
	}
	switch {
	case pid > 0:
		tg, err := t.LookupProcess(kernel.ThreadID(pid))
		if err != nil {
			return 0, err
		}
		return 0, send(tg)
	default:
		// Process group (0: the caller's, -1: everyone but init and the
		// caller, < -1: group -pid). As in Linux, a group signal succeeds
		// if one process got it and otherwise fails with the last error;
		// kill(-1) ignores EPERM. Processes are those of the caller's
		// pid namespace, by their ids there.
		pgid := t.KernelGroupID(kernel.ThreadID(-pid))
		if pid == 0 {
			pgid = t.ThreadGroup().ProcessGroup()
		}
		found, sent := false, false
		var lastErr error
		ns := t.PIDNamespace()
		for _, id := range ns.ThreadGroupIDs() {
			tg := ns.ThreadGroupWithID(id)
			if tg == nil {
				continue
			}
			if pid == -1 {
				if id == 1 || tg == t.ThreadGroup() {
					continue
				}
			} else if tg.ProcessGroup() != pgid {
				continue
			}
			found = true
			if err := send(tg); err == nil {
				sent = true
			} else if pid != -1 || err != unix.EPERM {
				lastErr = err
			}
		}
		switch {
		case !found:
			return 0, unix.ESRCH
		case sent && pid != -1:
			return 0, nil
		}
		return 0, lastErr
	}
}

func threadSignal(t *kernel.Task, tgid, tid int32, sig unix.Signal, info *arch.SignalInfo) error {
	if tid <= 0 || sig < 0 || sig > 64 {
		return unix.EINVAL
	}
	target, err := t.LookupTask(kernel.ThreadID(tid))
	if err != nil || (tgid > 0 && t.ViewOf(target.ThreadGroup()) != kernel.ThreadID(tgid)) {
		return unix.ESRCH
	}
	if err := t.MaySignal(target, sig); err != nil {
		return err
	}
	if sig == 0 {
		return nil
	}
	return t.SignalThread(target, info, info.Code == siTkill)
}

func sysTkill(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	sig := unix.Signal(a[1])
	return 0, threadSignal(t, 0, int32(a[0]), sig, userSignalInfo(t, sig, siTkill))
}

func sysTgkill(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	if int32(a[0]) <= 0 {
		return 0, unix.EINVAL
	}
	sig := unix.Signal(a[2])
	return 0, threadSignal(t, int32(a[0]), int32(a[1]), sig, userSignalInfo(t, sig, siTkill))
}

func copyInQueuedInfo(t *kernel.Task, addr uintptr, sig unix.Signal, target int32) (*arch.SignalInfo, error) {
	b := make([]byte, 128)
	if err := t.CopyIn(addr, b); err != nil {
		return nil, err
	}
	info := &arch.SignalInfo{}
	info.Unmarshal(b)
	// Only negative codes (user-originated) may be forged, except by a
	// process signalling itself, as Linux checks.
	if (info.Code >= 0 || info.Code == siTkill) && target != int32(t.PID()) {
		return nil, unix.EPERM
	}
	info.Signo = int32(sig)
	return info, nil
}

func sysRtSigqueueinfo(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	pid, sig := int32(a[0]), unix.Signal(a[1])
	info, err := copyInQueuedInfo(t, uintptr(a[2]), sig, pid)
	if err != nil {
		return 0, err
	}
	tg, err := t.LookupProcess(kernel.ThreadID(pid))
	if err != nil || pid <= 0 {
		return 0, unix.ESRCH
	}
	if err := t.MaySignalProcess(tg, sig); err != nil {
		return 0, err
	}
	if sig == 0 {
		return 0, nil
	}
	return 0, t.SignalProcess(tg, info, false)
}

func sysRtTgsigqueueinfo(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	sig := unix.Signal(a[2])
	info, err := copyInQueuedInfo(t, uintptr(a[3]), sig, int32(a[0]))
	if err != nil {
		return 0, err
	}
	return 0, threadSignal(t, int32(a[0]), int32(a[1]), sig, info)
}

func sysRtSigpending(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	if a[1] > 8 {
		return 0, unix.EINVAL
	}
	return 0, copyOutSigset(t, uintptr(a[0]), t.PendingSignals()&t.SignalMask())
}

// sysRtSigsuspend waits for a signal with a temporary mask; the old mask
// comes back when the handler returns.
func sysRtSigsuspend(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	mask, err := copyInSigset(t, uintptr(a[0]), a[1])
	if err != nil {
		return 0, err
	}
	t.SetSavedSignalMask(mask)
	for t.Block(nil) == nil {
	}
	return 0, syserr.ERESTARTNOHAND
}

func sysPause(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	for t.Block(nil) == nil {
	}
	return 0, syserr.ERESTARTNOHAND
}

func sysRtSigtimedwait(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	set, err := copyInSigset(t, uintptr(a[0]), a[3])
	if err != nil {
		return 0, err
	}
	set &^= kernel.SigBit(unix.SIGKILL) | kernel.SigBit(unix.SIGSTOP)
	var deadline time.Time
	if a[2] != 0 {
		d, err := copyInTimespec(t, uintptr(a[2]))
		if err != nil {
			return 0, err
		}
		if d < 0 {
			return 0, unix.EINVAL
		}
		deadline = time.Now().Add(d)
	}
	t.SetSignalWait(set)
	defer t.SetSignalWait(0)
	for {
		if info := t.DequeueSignal(set); info != nil {
			if a[1] != 0 {
				if err := t.CopyOut(uintptr(a[1]), info.Marshal()); err != nil {
					return 0, err
				}
			}
			return uintptr(info.Signo), nil
		}
		var err error
		if deadline.IsZero() {
			err = t.Block(nil)
		} else {
			err = t.BlockUntil(nil, deadline)
		}
		switch err {
		case unix.ETIMEDOUT:
			return 0, unix.EAGAIN
		case nil:
		default:
			// Woken: either a signal in set (loop picks it up) or
			// another signal to deliver, which interrupts the wait.
			if t.PendingSignals()&set != 0 {
				continue
			}
			return 0, unix.EINTR
		}
	}
}
