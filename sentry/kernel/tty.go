package kernel

import (
	"sync/atomic"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/syserr"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// TTY is the job-control side of a terminal (credentials(7), "Sessions
// and process groups"; tty_ioctl(4)): the session it is the controlling
// terminal of and that session's foreground process group. The terminal
// device itself (line discipline, termios, window size) belongs to the
// file that has it; the Sentry only decides who may use it and sends the
// job-control signals. One TTY exists per terminal device, however many
// descriptors refer to it.
type TTY struct {
	// dev reopens the terminal (nil: it cannot be); immutable.
	dev TTYDevice

	// k is the kernel the terminal was attached to (set once, under its
	// mu; loaded without it by those that then take it).
	k atomic.Pointer[Kernel]
	// Protected by k.mu.
	sid ThreadID // 0: nobody's controlling terminal
	fg  ThreadID // foreground process group

	// keysFromHost says that the signals the terminal's line
	// discipline generates come from outside the sandbox (see
	// SetKeysFromHost).
	keysFromHost atomic.Bool
}

// TTYDevice is the terminal behind a TTY, as the filesystem that has it
// sees it: /dev/tty and /dev/console open it again through this, so the
// kernel needs to know nothing about where the terminal lives.
type TTYDevice interface {
	// Reopen returns a new open file of the terminal for the open(2)
	// flags. It never makes the terminal anyone's controlling terminal.
	Reopen(ctx vfs.Context, flags uint32) (vfs.FileImpl, error)
}

// NewTTY returns the job-control state of a terminal that dev reopens.
func NewTTY(dev TTYDevice) *TTY { return &TTY{dev: dev} }

// Device returns what reopens the terminal, or nil.
func (tty *TTY) Device() TTYDevice { return tty.dev }

// ControllingTTY returns the controlling terminal of t's session, or nil
// if it has none (what /dev/tty opens).
func (t *Task) ControllingTTY() *TTY {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	return t.k.cttys[t.tg.sid]
}

// ConsoleTTY returns the first process's terminal (/dev/console), or nil
// if it was started without one.
func (k *Kernel) ConsoleTTY() *TTY {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.console
}

// OpenedTTY is what opening tty without O_NOCTTY does besides (tty_open):
// a session leader without a controlling terminal acquires it, if it is
// no session's yet.
func (t *Task) OpenedTTY(tty *TTY) {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	tg := t.tg
	if tg.sid == tg.tgid && k.cttys[tg.sid] == nil && tty.sid == 0 {
		tty.attachLocked(k, tg.sid, tg.pgid)
	}
}

// attachLocked makes tty the controlling terminal of session sid with fg
// in the foreground; k.mu is held.
func (tty *TTY) attachLocked(k *Kernel, sid, fg ThreadID) {
	tty.k.Store(k)
	tty.sid, tty.fg = sid, fg
	k.cttys[sid] = tty
}

func (tty *TTY) detachLocked() {
	if k := tty.k.Load(); k != nil && tty.sid != 0 {
		delete(k.cttys, tty.sid)
	}
	tty.sid, tty.fg = 0, 0
}

// SignalForeground sends a signal from outside the sandbox to the
// terminal's foreground process group: what the host's line discipline
// generated (^C, ^Z, ^\, a window size change) and runsc caught.
func (tty *TTY) SignalForeground(sig unix.Signal) {
	k := tty.k.Load()
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if tty.fg != 0 {
		k.signalGroupLocked(tty.fg, &arch.SignalInfo{Signo: int32(sig)})
	}
}

// SetKeysFromHost says whether the keys typed on the terminal come from
// outside the sandbox: the Sentry's pseudo-terminal that relays the
// terminal of `runsc do`. Its VINTR, VQUIT and VSUSP then act on a first
// process without handlers as signals from outside do (see
// Kernel.HostSignalsActOnInit), so ^C stops `runsc do sleep 100` as it
// did when the host's line discipline sent the signal.
func (tty *TTY) SetKeysFromHost(v bool) { tty.keysFromHost.Store(v) }

// SignalFromTerminal sends a signal the terminal itself generates (the
// line discipline's VINTR, VQUIT, VSUSP; SIGWINCH on a window size
// change) to its foreground process group, as Linux's kill_pgrp with
// priv set (SI_KERNEL). Nothing happens if the terminal is nobody's
// controlling terminal or has no foreground group.
func (tty *TTY) SignalFromTerminal(sig unix.Signal) {
	if tty.keysFromHost.Load() {
		tty.SignalForeground(sig)
		return
	}
	k := tty.k.Load()
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if tty.fg != 0 {
		k.signalGroupLocked(tty.fg, &arch.SignalInfo{Signo: int32(sig), Code: arch.SI_KERNEL})
	}
}

// Hangup is the hangup of the terminal device (the master of a
// pseudo-terminal closed; Linux's __tty_hangup): the session leader gets
// SIGHUP and SIGCONT, and the terminal is nobody's controlling terminal
// any more.
func (tty *TTY) Hangup() {
	k := tty.k.Load()
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if tty.sid == 0 {
		return
	}
	if leader := k.tgs[tty.sid]; leader != nil && leader.sid == tty.sid {
		k.sendLocked(leader, nil, &arch.SignalInfo{Signo: int32(unix.SIGHUP), Code: arch.SI_KERNEL})
		k.sendLocked(leader, nil, &arch.SignalInfo{Signo: int32(unix.SIGCONT), Code: arch.SI_KERNEL})
	}
	tty.detachLocked()
}

// Foreground returns the terminal's foreground process group and
// session (0 if it is nobody's controlling terminal), as a pseudo-
// terminal's master sees them (TIOCGPGRP and TIOCGSID on the master need
// no relation to the terminal).
func (tty *TTY) Foreground() (pgid, sid ThreadID) {
	k := tty.k.Load()
	if k == nil {
		return 0, 0
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return tty.fg, tty.sid
}

// isControllingLocked reports whether tty is the controlling terminal of
// t's session.
func (t *Task) isControllingLocked(tty *TTY) bool {
	return t.k.cttys[t.tg.sid] == tty
}

// SetControllingTTY implements TIOCSCTTY: a session leader without a
// controlling terminal acquires tty. steal takes it from another session
// (needs CAP_SYS_ADMIN).
func (t *Task) SetControllingTTY(tty *TTY, steal bool) error {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	tg := t.tg
	if cur := k.cttys[tg.sid]; cur == tty {
		return nil
	} else if cur != nil || tg.sid != tg.tgid {
		return unix.EPERM
	}
	if tty.sid != 0 {
		if !steal || !t.HasCapability(unix.CAP_SYS_ADMIN) {
			return unix.EPERM
		}
		tty.detachLocked()
	}
	tty.attachLocked(k, tg.sid, tg.pgid)
	return nil
}

// ReleaseControllingTTY implements TIOCNOTTY. A session leader giving up
// its terminal hangs up the foreground group, as when it exits.
func (t *Task) ReleaseControllingTTY(tty *TTY) error {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if !t.isControllingLocked(tty) {
		return unix.ENOTTY
	}
	if t.tg.sid == t.tg.tgid {
		tty.hangupLocked()
	}
	return nil
}

// hangupLocked sends SIGHUP and SIGCONT to the foreground group and frees
// the terminal (disassociate_ctty).
func (tty *TTY) hangupLocked() {
	if fg := tty.fg; fg != 0 {
		tty.k.Load().signalGroupLocked(fg, &arch.SignalInfo{Signo: int32(unix.SIGHUP), Code: arch.SI_KERNEL})
		tty.k.Load().signalGroupLocked(fg, &arch.SignalInfo{Signo: int32(unix.SIGCONT), Code: arch.SI_KERNEL})
	}
	tty.detachLocked()
}

// ForegroundProcessGroup implements TIOCGPGRP.
func (t *Task) ForegroundProcessGroup(tty *TTY) (ThreadID, error) {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	if !t.isControllingLocked(tty) {
		return 0, unix.ENOTTY
	}
	return tty.fg, nil
}

// TTYSession implements TIOCGSID.
func (t *Task) TTYSession(tty *TTY) (ThreadID, error) {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	if !t.isControllingLocked(tty) {
		return 0, unix.ENOTTY
	}
	return tty.sid, nil
}

// SetForegroundProcessGroup implements TIOCSPGRP.
func (t *Task) SetForegroundProcessGroup(tty *TTY, pgid ThreadID) error {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if !t.isControllingLocked(tty) {
		return unix.ENOTTY
	}
	if err := t.checkTTYChangeLocked(tty, unix.SIGTTOU); err != nil {
		return err
	}
	if pgid < 0 {
		return unix.EINVAL
	}
	// A zombie still belongs to its group until it is reaped, as on
	// Linux (find_vpid): the shell makes a pipeline's group the
	// foreground one from each child, and the first may be done already.
	found := false
	for _, o := range k.tgs {
		if o.pgid == pgid {
			if o.sid != t.tg.sid {
				return unix.EPERM
			}
			found = true
		}
	}
	if !found {
		return unix.ESRCH
	}
	tty.fg = pgid
	return nil
}

// InTTYBackground reports whether tty is t's controlling terminal and t's
// process group is not in its foreground.
func (t *Task) InTTYBackground(tty *TTY) bool {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	return t.isControllingLocked(tty) && tty.fg != 0 && tty.fg != t.tg.pgid
}

// CheckTTYRead is the job-control check before reading the terminal: a
// background process gets SIGTTIN (or EIO if it ignores it or its group
// is orphaned).
func (t *Task) CheckTTYRead(tty *TTY) error {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	return t.checkTTYChangeLocked(tty, unix.SIGTTIN)
}

// CheckTTYChange is the job-control check before writing to the terminal
// with TOSTOP set, and before changing its settings: a background process
// gets SIGTTOU, unless it ignores or blocks it.
func (t *Task) CheckTTYChange(tty *TTY) error {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	return t.checkTTYChangeLocked(tty, unix.SIGTTOU)
}

// checkTTYChangeLocked follows Linux's __tty_check_change.
func (t *Task) checkTTYChangeLocked(tty *TTY, sig unix.Signal) error {
	if !t.isControllingLocked(tty) {
		return nil
	}
	tg := t.tg
	if tty.fg == 0 || tg.pgid == tty.fg {
		return nil
	}
	ignored := t.sigMask&SigBit(sig) != 0 || tg.handlers.acts[sig].Handler == sigIGN
	switch {
	case ignored:
		if sig == unix.SIGTTIN {
			return unix.EIO
		}
		return nil
	case t.k.orphanedLocked(tg.pgid, tg.sid):
		return unix.EIO
	}
	t.k.signalGroupLocked(tg.pgid, &arch.SignalInfo{Signo: int32(sig), Code: arch.SI_KERNEL})
	return syserr.ERESTARTSYS
}

// orphanedLocked reports whether process group pgid of session sid is
// orphaned: no member has a parent in another group of the same session
// (so nobody is left to continue it after a stop).
func (k *Kernel) orphanedLocked(pgid, sid ThreadID) bool {
	for _, tg := range k.tgs {
		if tg.pgid != pgid || tg.zombie {
			continue
		}
		if p := tg.parent; p != nil && p.pgid != pgid && p.sid == sid {
			return false
		}
	}
	return true
}

// releaseTTYLocked runs when a session leader exits: its controlling
// terminal is hung up.
func (tg *ThreadGroup) releaseTTYLocked() {
	if tg.sid != tg.tgid {
		return
	}
	if tty := tg.k.cttys[tg.sid]; tty != nil {
		tty.hangupLocked()
	}
}
