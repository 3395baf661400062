package devpts

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/waiter"
	"golang.org/x/sys/unix"
)

// Ioctls golang.org/x/sys/unix lacks.
const (
	tiocGPTPeer = 0x5441 // TIOCGPTPEER: open the slave of a master
	tiocGETD    = 0x5424 // TIOCGETD: the line discipline (always N_TTY)
	tiocSETD    = 0x5423
)

// Events each side waits for and reports.
const (
	readEvents  = waiter.EventIn | waiter.EventRdNorm
	writeEvents = waiter.EventOut | waiter.EventWrNorm
	allEvents   = readEvents | writeEvents | waiter.EventErr | waiter.EventHUp
)

// pty is one pseudo-terminal pair: the master the opener of /dev/ptmx
// holds, and the slave /dev/pts/N. It implements kernel.TTYDevice so
// that /dev/tty reopens the slave.
type pty struct {
	fs    *Filesystem
	index uint32
	ino   *slaveInode
	jc    *kernel.TTY

	mu sync.Mutex
	ld *ldisc
	ws unix.Winsize
	// locked until unlockpt(3) (TIOCSPTLCK 0): the slave cannot be
	// opened.
	locked bool
	// masterGone: the master was closed; the slave is hung up.
	masterGone bool
	// slaves counts the slave's open files; with none the master reads
	// EIO once it has read everything (and polls POLLHUP). opened
	// records that the slave was ever opened.
	slaves int
	opened bool

	// masterQ wakes master readers and writers and its pollers, slaveQ
	// the slave's.
	masterQ, slaveQ waiter.Queue
}

var _ kernel.TTYDevice = (*pty)(nil)

// Reopen implements kernel.TTYDevice: /dev/tty of a session whose
// controlling terminal is this slave.
func (p *pty) Reopen(_ vfs.Context, flags uint32) (vfs.FileImpl, error) {
	return p.openSlave()
}

// Rdev returns the slave's device number (what /proc/PID/stat's tty_nr
// shows for a process whose controlling terminal it is).
func (p *pty) Rdev() uint64 { return p.ino.st.Rdev }

// openSlave makes a new open file of the slave.
func (p *pty) openSlave() (*slaveFile, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.locked || p.masterGone {
		return nil, unix.EIO
	}
	p.slaves++
	p.opened = true
	return &slaveFile{p: p}, nil
}

// signal sends what the line discipline generated, with no lock held.
func (p *pty) signal(sigs []unix.Signal) {
	for _, s := range sigs {
		p.jc.SignalFromTerminal(s)
	}
}

// Master is an open file of a master (/dev/ptmx).
type Master struct {
	p       *pty
	release sync.Once
}

var _ vfs.FileImpl = (*Master)(nil)

// Index returns the pseudo-terminal's number: its slave is /dev/pts/N.
func (m *Master) Index() uint32 { return m.p.index }

// TTY returns the slave's job-control state.
func (m *Master) TTY() *kernel.TTY { return m.p.jc }

// Unlock unlocks the slave (unlockpt(3)).
func (m *Master) Unlock() {
	m.p.mu.Lock()
	m.p.locked = false
	m.p.mu.Unlock()
}

// SetWindowSize sets the window size (TIOCSWINSZ).
func (m *Master) SetWindowSize(ws unix.Winsize) { m.p.SetWindowSize(ws) }

// SetTermios sets the slave's settings (TCSETS).
func (m *Master) SetTermios(t Termios) { m.p.setTermios(t, false) }

// WaitOutput blocks until the slave has output for the master, whether or
// not any slave file is open (a relay must not stop while the sandbox's
// processes have closed the terminal: /dev/tty opens it again). It
// returns false once the master is released.
func (m *Master) WaitOutput(ctx vfs.Context) bool {
	p := m.p
	e, ch := waiter.NewChannelEntry(readEvents | waiter.EventHUp)
	p.masterQ.EventRegister(e)
	defer p.masterQ.EventUnregister(e)
	for {
		p.mu.Lock()
		ready, gone := len(p.ld.out) > 0, p.masterGone
		p.mu.Unlock()
		if gone {
			return false
		}
		if ready {
			return true
		}
		if err := ctx.Block(ch); err != nil {
			return false
		}
	}
}

// TakeOutput takes up to len(dst) bytes of output without blocking.
func (m *Master) TakeOutput(dst []byte) int {
	p := m.p
	p.mu.Lock()
	n := p.ld.takeOutput(dst)
	p.mu.Unlock()
	if n > 0 {
		p.slaveQ.Notify(writeEvents)
	}
	return n
}

// Read implements vfs.FileImpl: the slave's output and the echoes. Once
// every slave file is closed (or before the first is opened) and
// everything was read, EIO.
func (m *Master) Read(ctx vfs.Context, dst []byte, _ int64, nonblock bool) (int, error) {
	p := m.p
	if len(dst) == 0 {
		return 0, nil
	}
	var ch chan struct{}
	for {
		p.mu.Lock()
		if p.ld.packet {
			// Packet mode: an event alone, or TIOCPKT_DATA and data.
			if ev := p.ld.pkt; ev != 0 {
				p.ld.pkt = 0
				p.mu.Unlock()
				dst[0] = ev
				return 1, nil
			}
			if len(p.ld.out) > 0 {
				dst[0] = 0
				n := p.ld.takeOutput(dst[1:])
				p.mu.Unlock()
				p.slaveQ.Notify(writeEvents)
				return n + 1, nil
			}
		} else if n := p.ld.takeOutput(dst); n > 0 {
			p.mu.Unlock()
			p.slaveQ.Notify(writeEvents)
			return n, nil
		}
		gone := p.slaves == 0
		p.mu.Unlock()
		if gone {
			return 0, unix.EIO
		}
		if nonblock {
			return 0, unix.EAGAIN
		}
		if ch == nil {
			var e *waiter.Entry
			e, ch = waiter.NewChannelEntry(readEvents | waiter.EventHUp)
			p.masterQ.EventRegister(e)
			defer p.masterQ.EventUnregister(e)
			continue
		}
		if err := ctx.Block(ch); err != nil {
			return 0, err
		}
	}
}

// Write implements vfs.FileImpl: keys typed on the terminal, through the
// line discipline.
func (m *Master) Write(ctx vfs.Context, src []byte, _ int64, nonblock bool) (int, error) {
	p := m.p
	done := 0
	var ch chan struct{}
	for {
		p.mu.Lock()
		n := p.ld.input(src[done:])
		sigs := p.ld.takeSignals()
		// Echoes and packet mode events are for the master to read.
		forMaster := len(p.ld.out) > 0 || p.ld.pkt != 0
		p.mu.Unlock()
		p.signal(sigs)
		if n > 0 {
			p.slaveQ.Notify(readEvents)
			if forMaster {
				p.masterQ.Notify(readEvents)
			}
		}
		done += n
		if done == len(src) {
			return done, nil
		}
		if nonblock {
			if done > 0 {
				return done, nil
			}
			return 0, unix.EAGAIN
		}
		if ch == nil {
			var e *waiter.Entry
			e, ch = waiter.NewChannelEntry(writeEvents)
			p.masterQ.EventRegister(e)
			defer p.masterQ.EventUnregister(e)
			continue
		}
		if err := ctx.Block(ch); err != nil {
			if done > 0 {
				return done, nil
			}
			return 0, err
		}
	}
}

// Readiness implements waiter.Waitable.
func (m *Master) Readiness(mask waiter.EventMask) waiter.EventMask {
	p := m.p
	p.mu.Lock()
	defer p.mu.Unlock()
	var r waiter.EventMask
	if len(p.ld.out) > 0 {
		r |= readEvents
	}
	if p.ld.packet && p.ld.pkt != 0 {
		r |= readEvents | waiter.EventPri
	}
	if p.ld.inputRoom() {
		r |= writeEvents
	}
	if p.slaves == 0 {
		r |= waiter.EventHUp
	}
	return r & (mask | waiter.EventHUp | waiter.EventErr)
}

// EventRegister implements waiter.Waitable.
func (m *Master) EventRegister(e *waiter.Entry) { m.p.masterQ.EventRegister(e) }

// EventUnregister implements waiter.Waitable.
func (m *Master) EventUnregister(e *waiter.Entry) { m.p.masterQ.EventUnregister(e) }

// Release implements vfs.FileImpl: closing the master hangs up the
// slave (its session leader gets SIGHUP) and removes /dev/pts/N.
func (m *Master) Release() {
	m.release.Do(func() {
		p := m.p
		p.mu.Lock()
		p.masterGone = true
		p.mu.Unlock()
		p.fs.remove(p)
		p.jc.Hangup()
		p.slaveQ.Notify(allEvents)
		p.masterQ.Notify(allEvents)
	})
}

// Ioctl implements vfs.FileImpl. Settings and window size are the
// slave's, as on Linux.
func (m *Master) Ioctl(ctx vfs.Context, io vfs.UserMemory, cmd uint32, arg uint64) (uint64, error) {
	p := m.p
	addr := uintptr(arg)
	switch cmd {
	case unix.TIOCSPTLCK:
		v, err := getU32(io, addr)
		if err != nil {
			return 0, err
		}
		p.mu.Lock()
		p.locked = v != 0
		p.mu.Unlock()
		return 0, nil
	case unix.TIOCGPTLCK:
		p.mu.Lock()
		locked := p.locked
		p.mu.Unlock()
		return 0, putU32(io, addr, b2u(locked))
	case unix.TIOCGPTN:
		return 0, putU32(io, addr, p.index)
	case tiocGPTPeer:
		return p.fs.openPeer(ctx, p, uint32(arg))
	case unix.TIOCGPGRP, unix.TIOCGSID:
		pg, sid := p.jc.Foreground()
		if sid == 0 {
			return 0, unix.ENOTTY
		}
		if cmd == unix.TIOCGSID {
			pg = sid
		}
		return 0, putU32(io, addr, uint32(pg))
	case vfs.FIONREAD:
		p.mu.Lock()
		n := len(p.ld.out)
		p.mu.Unlock()
		return 0, putU32(io, addr, uint32(n))
	case unix.TIOCOUTQ:
		return 0, putU32(io, addr, 0)
	case unix.TCFLSH:
		// The master's input is the slave's output and vice versa.
		switch arg {
		case unix.TCIFLUSH:
			arg = unix.TCOFLUSH
		case unix.TCOFLUSH:
			arg = unix.TCIFLUSH
		}
		return p.flush(arg)
	case unix.TIOCSTI:
		return 0, unix.EPERM
	case unix.TIOCPKT:
		v, err := getU32(io, addr)
		if err != nil {
			return 0, err
		}
		p.mu.Lock()
		p.ld.packet, p.ld.pkt = v != 0, 0
		p.mu.Unlock()
		return 0, nil
	case unix.TIOCGPKT:
		p.mu.Lock()
		on := p.ld.packet
		p.mu.Unlock()
		return 0, putU32(io, addr, b2u(on))
	case unix.TIOCSCTTY, unix.TIOCNOTTY, unix.TIOCSPGRP:
		return 0, unix.ENOTTY
	}
	return p.commonIoctl(ctx, io, cmd, addr, arg)
}

// slaveFile is an open file of the slave (/dev/pts/N).
type slaveFile struct {
	p       *pty
	release sync.Once
}

var _ vfs.FileImpl = (*slaveFile)(nil)

// Read implements vfs.FileImpl: canonical lines, or bytes as VMIN and
// VTIME say (termios(3) "Canonical and noncanonical mode"). A background
// process gets SIGTTIN; once the master is gone, end of file.
func (s *slaveFile) Read(ctx vfs.Context, dst []byte, _ int64, nonblock bool) (int, error) {
	p := s.p
	if t, ok := ctx.(*kernel.Task); ok {
		if err := t.CheckTTYRead(p.jc); err != nil {
			return 0, err
		}
	}
	if len(dst) == 0 {
		return 0, nil
	}
	var ch chan struct{}
	got := 0
	var deadline time.Time
	for {
		p.mu.Lock()
		ld, gone := p.ld, p.masterGone
		if ld.canon() {
			if !ld.readable(false) {
				p.mu.Unlock()
				if gone {
					return 0, nil
				}
			} else {
				n := ld.readCanon(dst)
				p.mu.Unlock()
				p.masterQ.Notify(writeEvents)
				return n, nil
			}
		} else {
			vmin, vtime := int(ld.t.Cc[unix.VMIN]), time.Duration(ld.t.Cc[unix.VTIME])*100*time.Millisecond
			n := ld.readRaw(dst[got:])
			p.mu.Unlock()
			if n > 0 {
				p.masterQ.Notify(writeEvents)
			}
			got += n
			switch {
			case got == len(dst), gone:
				return got, nil
			case vmin > 0 && got >= vmin, vmin == 0 && (got > 0 || vtime == 0):
				return got, nil
			}
			// With VMIN, VTIME is an inter-byte timer started by
			// each byte; without, the wait for the first one.
			if vtime > 0 && (n > 0 || (vmin == 0 && deadline.IsZero())) {
				deadline = time.Now().Add(vtime)
			}
		}
		if nonblock {
			if got > 0 {
				return got, nil
			}
			return 0, unix.EAGAIN
		}
		if ch == nil {
			var e *waiter.Entry
			e, ch = waiter.NewChannelEntry(readEvents | waiter.EventHUp)
			p.slaveQ.EventRegister(e)
			defer p.slaveQ.EventUnregister(e)
			continue
		}
		var err error
		switch d := time.Until(deadline); {
		case deadline.IsZero():
			err = ctx.Block(ch)
		case d <= 0:
			err = unix.ETIMEDOUT
		default:
			err = ctx.BlockTimeout(ch, d)
		}
		if err == unix.ETIMEDOUT {
			return got, nil
		}
		if err != nil {
			if got > 0 {
				return got, nil
			}
			return 0, err
		}
	}
}

// Write implements vfs.FileImpl: through the output flags to the master.
// With TOSTOP a background process gets SIGTTOU; once the master is
// gone, EIO.
func (s *slaveFile) Write(ctx vfs.Context, src []byte, _ int64, nonblock bool) (int, error) {
	p := s.p
	if t, ok := ctx.(*kernel.Task); ok && t.InTTYBackground(p.jc) {
		p.mu.Lock()
		tostop := p.ld.t.lflag(unix.TOSTOP)
		p.mu.Unlock()
		if tostop {
			if err := t.CheckTTYChange(p.jc); err != nil {
				return 0, err
			}
		}
	}
	done := 0
	var ch chan struct{}
	for {
		p.mu.Lock()
		if p.masterGone {
			p.mu.Unlock()
			if done > 0 {
				return done, nil
			}
			return 0, unix.EIO
		}
		n := p.ld.write(src[done:])
		p.mu.Unlock()
		if n > 0 {
			p.masterQ.Notify(readEvents)
		}
		done += n
		if done == len(src) {
			return done, nil
		}
		if nonblock {
			if done > 0 {
				return done, nil
			}
			return 0, unix.EAGAIN
		}
		if ch == nil {
			var e *waiter.Entry
			e, ch = waiter.NewChannelEntry(writeEvents | waiter.EventHUp)
			p.slaveQ.EventRegister(e)
			defer p.slaveQ.EventUnregister(e)
			continue
		}
		if err := ctx.Block(ch); err != nil {
			if done > 0 {
				return done, nil
			}
			return 0, err
		}
	}
}

// Readiness implements waiter.Waitable. A hung-up slave is ready for
// everything, as Linux's hung_up_tty_poll.
func (s *slaveFile) Readiness(mask waiter.EventMask) waiter.EventMask {
	p := s.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.masterGone {
		return mask&(readEvents|writeEvents) | waiter.EventErr | waiter.EventHUp
	}
	var r waiter.EventMask
	if p.ld.readable(true) {
		r |= readEvents
	}
	if p.ld.outputRoom() {
		r |= writeEvents
	}
	return r & mask
}

// EventRegister implements waiter.Waitable.
func (s *slaveFile) EventRegister(e *waiter.Entry) { s.p.slaveQ.EventRegister(e) }

// EventUnregister implements waiter.Waitable.
func (s *slaveFile) EventUnregister(e *waiter.Entry) { s.p.slaveQ.EventUnregister(e) }

// Release implements vfs.FileImpl: with the last slave file gone, the
// master reads EIO (after what is left) and polls POLLHUP.
func (s *slaveFile) Release() {
	s.release.Do(func() {
		p := s.p
		p.mu.Lock()
		p.slaves--
		last := p.slaves == 0
		p.mu.Unlock()
		if last {
			p.masterQ.Notify(allEvents)
			p.fs.maybeFree(p)
		}
	})
}

// Ioctl implements vfs.FileImpl.
func (s *slaveFile) Ioctl(ctx vfs.Context, io vfs.UserMemory, cmd uint32, arg uint64) (uint64, error) {
	p := s.p
	p.mu.Lock()
	gone := p.masterGone
	p.mu.Unlock()
	if gone {
		// hung_up_tty_ioctl.
		if cmd == unix.TIOCSPGRP {
			return 0, unix.ENOTTY
		}
		return 0, unix.EIO
	}
	addr := uintptr(arg)
	t, _ := ctx.(*kernel.Task)
	switch cmd {
	case vfs.FIONREAD:
		p.mu.Lock()
		n := p.ld.inputAvailable()
		p.mu.Unlock()
		return 0, putU32(io, addr, uint32(n))
	case unix.TIOCOUTQ:
		// What the master has not read yet.
		p.mu.Lock()
		n := len(p.ld.out)
		p.mu.Unlock()
		return 0, putU32(io, addr, uint32(n))
	case unix.TCFLSH:
		if t != nil {
			if err := t.CheckTTYChange(p.jc); err != nil {
				return 0, err
			}
		}
		return p.flush(arg)
	case unix.TIOCSTI:
		// Faking input needs the terminal to be the caller's
		// controlling terminal, or CAP_SYS_ADMIN.
		if t == nil || (t.ControllingTTY() != p.jc && !t.HasCapability(unix.CAP_SYS_ADMIN)) {
			return 0, unix.EPERM
		}
		b := make([]byte, 1)
		if err := io.CopyIn(addr, b); err != nil {
			return 0, err
		}
		p.mu.Lock()
		p.ld.receive(b[0])
		sigs := p.ld.takeSignals()
		p.mu.Unlock()
		p.signal(sigs)
		p.slaveQ.Notify(readEvents)
		p.masterQ.Notify(readEvents)
		return 0, nil
	case unix.TIOCGPGRP, unix.TIOCSPGRP, unix.TIOCGSID, unix.TIOCSCTTY, unix.TIOCNOTTY:
		if t == nil {
			return 0, unix.ENOTTY
		}
		return jobControlIoctl(t, p.jc, io, cmd, addr, arg)
	case unix.TIOCSPTLCK, unix.TIOCGPTLCK, unix.TIOCGPTN, tiocGPTPeer, unix.TIOCPKT, unix.TIOCGPKT:
		return 0, unix.ENOTTY
	}
	return p.commonIoctl(ctx, io, cmd, addr, arg)
}

// commonIoctl is what both sides do the same: the settings, the window
// size and flow control of the slave (tty_ioctl(4)).
func (p *pty) commonIoctl(ctx vfs.Context, io vfs.UserMemory, cmd uint32, addr uintptr, arg uint64) (uint64, error) {
	t, _ := ctx.(*kernel.Task)
	switch cmd {
	case unix.TCSETS, unix.TCSETSW, unix.TCSETSF, unix.TCSETA, unix.TCSETAW, unix.TCSETAF, unix.TIOCSWINSZ, unix.TCXONC:
		if t != nil {
			if err := t.CheckTTYChange(p.jc); err != nil {
				return 0, err
			}
		}
	}
	switch cmd {
	case unix.TCGETS:
		p.mu.Lock()
		b := p.ld.t.Encode()
		p.mu.Unlock()
		return 0, io.CopyOut(addr, b)
	case unix.TCGETA:
		p.mu.Lock()
		b := p.ld.t.encodeTermio()
		p.mu.Unlock()
		return 0, io.CopyOut(addr, b)
	case unix.TCSETS, unix.TCSETSW, unix.TCSETSF:
		b := make([]byte, TermiosSize)
		if err := io.CopyIn(addr, b); err != nil {
			return 0, err
		}
		// Output never waits to drain (the master takes it as it
		// comes), so TCSETSW is TCSETS.
		p.setTermios(DecodeTermios(b), cmd == unix.TCSETSF)
		return 0, nil
	case unix.TCSETA, unix.TCSETAW, unix.TCSETAF:
		b := make([]byte, termioSize)
		if err := io.CopyIn(addr, b); err != nil {
			return 0, err
		}
		p.mu.Lock()
		nt := p.ld.t.withTermio(b)
		p.mu.Unlock()
		p.setTermios(nt, cmd == unix.TCSETAF)
		return 0, nil
	case unix.TIOCGWINSZ:
		p.mu.Lock()
		ws := p.ws
		p.mu.Unlock()
		return 0, io.CopyOut(addr, encodeWinsize(ws))
	case unix.TIOCSWINSZ:
		b := make([]byte, 8)
		if err := io.CopyIn(addr, b); err != nil {
			return 0, err
		}
		p.SetWindowSize(decodeWinsize(b))
		return 0, nil
	case unix.TCSBRK, unix.TCSBRKP, unix.TIOCSBRK, unix.TIOCCBRK:
		// tcdrain and breaks: nothing waits, there is no line.
		return 0, nil
	case unix.TCXONC:
		return p.flow(arg)
	case tiocGETD:
		return 0, putU32(io, addr, 0) // N_TTY
	case tiocSETD:
		v, err := getU32(io, addr)
		if err != nil {
			return 0, err
		}
		if v != 0 {
			return 0, unix.EINVAL
		}
		return 0, nil
	case unix.TIOCEXCL, unix.TIOCNXCL:
		return 0, nil
	}
	return 0, unix.ENOTTY
}

// setTermios installs new settings (flush: TCSETSF discards unread input
// first).
func (p *pty) setTermios(t Termios, flush bool) {
	p.mu.Lock()
	if flush {
		p.ld.flushInput()
	}
	p.ld.setTermios(t)
	p.mu.Unlock()
	// A mode change may make input readable or output writable.
	p.slaveQ.Notify(readEvents | writeEvents)
	p.masterQ.Notify(readEvents | writeEvents)
}

// SetWindowSize sets the window size; if it changed, the foreground
// process group gets SIGWINCH (tty_do_resize).
func (p *pty) SetWindowSize(ws unix.Winsize) {
	p.mu.Lock()
	changed := ws != p.ws
	p.ws = ws
	p.mu.Unlock()
	if changed {
		p.jc.SignalFromTerminal(unix.SIGWINCH)
	}
}

// flush implements TCFLSH from the slave's side.
func (p *pty) flush(arg uint64) (uint64, error) {
	p.mu.Lock()
	switch arg {
	case unix.TCIFLUSH:
		p.ld.flushInput()
		p.ld.event(pktFlushRead, 0)
	case unix.TCOFLUSH:
		p.ld.flushOutput()
		p.ld.event(pktFlushWrite, 0)
	case unix.TCIOFLUSH:
		p.ld.flushInput()
		p.ld.flushOutput()
		p.ld.event(pktFlushRead|pktFlushWrite, 0)
	default:
		p.mu.Unlock()
		return 0, unix.EINVAL
	}
	p.mu.Unlock()
	p.masterQ.Notify(readEvents | writeEvents)
	p.slaveQ.Notify(writeEvents)
	return 0, nil
}

// flow implements TCXONC (tcflow(3)).
func (p *pty) flow(arg uint64) (uint64, error) {
	p.mu.Lock()
	switch arg {
	case unix.TCOOFF:
		p.ld.stop()
		p.ld.tcoStopped = true
	case unix.TCOON:
		p.ld.tcoStopped = false
		p.ld.start()
	case unix.TCIOFF, unix.TCION:
		// Send STOP or START to the device: the master reads it.
		c := p.ld.t.Cc[unix.VSTOP]
		if arg == unix.TCION {
			c = p.ld.t.Cc[unix.VSTART]
		}
		if c != disabled {
			p.ld.outRaw(c)
		}
	default:
		p.mu.Unlock()
		return 0, unix.EINVAL
	}
	p.mu.Unlock()
	p.masterQ.Notify(readEvents)
	p.slaveQ.Notify(writeEvents)
	return 0, nil
}

// jobControlIoctl implements the ioctls about sessions and process
// groups, which kernel.TTY keeps.
func jobControlIoctl(t *kernel.Task, tty *kernel.TTY, io vfs.UserMemory, cmd uint32, addr uintptr, arg uint64) (uint64, error) {
	switch cmd {
	case unix.TIOCGPGRP:
		pg, err := t.ForegroundProcessGroup(tty)
		if err != nil {
			return 0, err
		}
		return 0, putU32(io, addr, uint32(pg))
	case unix.TIOCSPGRP:
		v, err := getU32(io, addr)
		if err != nil {
			return 0, err
		}
		return 0, t.SetForegroundProcessGroup(tty, kernel.ThreadID(int32(v)))
	case unix.TIOCGSID:
		sid, err := t.TTYSession(tty)
		if err != nil {
			return 0, err
		}
		return 0, putU32(io, addr, uint32(sid))
	case unix.TIOCSCTTY:
		return 0, t.SetControllingTTY(tty, arg == 1)
	case unix.TIOCNOTTY:
		return 0, t.ReleaseControllingTTY(tty)
	}
	return 0, unix.ENOTTY
}

func encodeWinsize(ws unix.Winsize) []byte {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint16(b[0:], ws.Row)
	binary.LittleEndian.PutUint16(b[2:], ws.Col)
	binary.LittleEndian.PutUint16(b[4:], ws.Xpixel)
	binary.LittleEndian.PutUint16(b[6:], ws.Ypixel)
	return b
}

func decodeWinsize(b []byte) unix.Winsize {
	return unix.Winsize{
		Row: binary.LittleEndian.Uint16(b[0:]), Col: binary.LittleEndian.Uint16(b[2:]),
		Xpixel: binary.LittleEndian.Uint16(b[4:]), Ypixel: binary.LittleEndian.Uint16(b[6:]),
	}
}

func putU32(io vfs.UserMemory, addr uintptr, v uint32) error {
	b := make([]byte, 4)
	binary.LittleEndian.PutUint32(b, v)
	return io.CopyOut(addr, b)
}

func getU32(io vfs.UserMemory, addr uintptr) (uint32, error) {
	b := make([]byte, 4)
	if err := io.CopyIn(addr, b); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}
