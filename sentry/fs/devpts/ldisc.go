package devpts

import (
	"golang.org/x/sys/unix"
)

// The line discipline (Linux's n_tty, termios(3)) sits between the master
// of a pseudo-terminal, which plays the terminal device (the keyboard
// writes to it, the screen reads from it), and the slave, which the
// application reads and writes:
//
//   - input (master writes) goes through the input flags (ISTRIP, IGNCR,
//     ICRNL, INLCR, IUCLC, IXON/IXANY), then ISIG turns VINTR, VQUIT and
//     VSUSP into signals for the foreground process group (flushing
//     input and unread output unless NOFLSH), and ICANON
//     collects lines with VERASE, VKILL, VWERASE, VLNEXT, VREPRINT,
//     VEOF, VEOL and VEOL2; without ICANON bytes are readable at once and
//     VMIN/VTIME decide when a read returns (the pty's slaveRead);
//   - echo (ECHO, ECHOE, ECHOK, ECHOKE, ECHONL, ECHOCTL) goes to the
//     output, as Linux's does;
//   - output (slave writes and echoes) goes through the output flags
//     when OPOST is set (ONLCR, OCRNL, ONOCR, ONLRET, OLCUC, XTABS).
//
// Not done: parity and breaks (a pseudo-terminal has neither), ECHOPRT,
// VDISCARD (Linux ignores it too), PARMRK, EXTPROC.

const (
	// maxCanon is the longest canonical line (N_TTY_BUF_SIZE - 1):
	// further characters are dropped until the line ends.
	maxCanon = 4095
	// inputLimit bounds the input waiting to be read: the master's
	// writes block beyond it (Linux's 4 KiB buffer plus the 64 KiB of
	// flip buffers in front of it).
	inputLimit = 64 << 10
	// outputLimit bounds the output waiting for the master: the
	// slave's writes block beyond it. Echoes are never held back.
	outputLimit = 64 << 10
)

// ldisc is the state of one line discipline. It is not safe for
// concurrent use: the pty's mutex guards it. Signals it generates are
// queued in sigs for the caller to send once it holds no lock.
type ldisc struct {
	t Termios

	// edit is the canonical line being edited.
	edit []byte
	// ready is the input the slave may read. In canonical mode it
	// holds whole lines, lines giving where each ends (the terminator
	// is included, except VEOF which is dropped: a line that is only
	// VEOF is empty and reads as end of file).
	ready []byte
	lines []int
	// lnext: the previous input byte was VLNEXT, this one is literal.
	lnext       bool
	column      int // output column, for tabs and erasing
	canonColumn int // column where the line being edited began
	// out is what the master reads: the slave's output and echoes.
	out []byte
	// stopped: output is suspended (VSTOP, or TCOOFF when tcoStopped).
	stopped, tcoStopped bool

	sigs []unix.Signal

	// packet: the master is in packet mode (TIOCPKT); pkt holds the
	// TIOCPKT_* events its next read reports.
	packet bool
	pkt    byte
}

// Packet mode events (TIOCPKT_*), what a master read in packet mode
// returns alone in place of the leading TIOCPKT_DATA (0) byte.
const (
	pktFlushRead  = 1
	pktFlushWrite = 2
	pktStop       = 4
	pktStart      = 8
	pktNoStop     = 16
	pktDoStop     = 32
)

// event records a packet mode event (set drops the events it replaces).
func (l *ldisc) event(set, clear byte) {
	if l.packet {
		l.pkt = l.pkt&^clear | set
	}
}

// stop and start suspend and resume output (stop_tty, start_tty).
func (l *ldisc) stop() {
	if !l.stopped {
		l.stopped = true
		l.event(pktStop, pktStart)
	}
}

func (l *ldisc) start() {
	if l.stopped {
		l.stopped = false
		l.event(pktStart, pktStop)
	}
}

// flowKeys reports whether ^S/^Q flow control is on, for packet mode's
// NOSTOP/DOSTOP.
func (t *Termios) flowKeys() bool {
	return t.iflag(unix.IXON) && t.Cc[unix.VSTOP] == 0x13 && t.Cc[unix.VSTART] == 0x11
}

func newLdisc(t Termios) *ldisc { return &ldisc{t: t} }

func (l *ldisc) canon() bool { return l.t.lflag(unix.ICANON) }

// setTermios installs new settings. Switching ICANON off makes the line
// being edited readable; switching it on makes what is unread one line
// (as Linux's n_tty_set_termios "pushes" it), so no input is lost.
func (l *ldisc) setTermios(t Termios) {
	if old := l.t.flowKeys(); old != t.flowKeys() {
		if t.flowKeys() {
			l.event(pktDoStop, pktNoStop)
		} else {
			l.event(pktNoStop, pktDoStop)
		}
	}
	wasCanon := l.canon()
	l.t = t
	switch now := l.canon(); {
	case wasCanon && !now:
		l.ready = append(l.ready, l.edit...)
		l.edit, l.lines = nil, nil
	case !wasCanon && now:
		l.lines = nil
		if len(l.ready) > 0 {
			l.lines = []int{len(l.ready)}
		}
	}
	if !t.iflag(unix.IXON) && !l.tcoStopped {
		l.start()
	}
}

// inputRoom reports whether the master may write (input is accepted).
func (l *ldisc) inputRoom() bool { return len(l.ready)+len(l.edit) < inputLimit }

// input processes the bytes the master wrote, as many as there is room
// for, and returns how many it took.
func (l *ldisc) input(b []byte) int {
	n := 0
	for _, c := range b {
		if !l.inputRoom() {
			break
		}
		l.receive(c)
		n++
	}
	return n
}

// receive processes one input byte (n_tty_receive_char and friends).
func (l *ldisc) receive(c byte) {
	t := &l.t
	if t.iflag(unix.ISTRIP) {
		c &= 0x7f
	}
	if t.iflag(unix.IUCLC) && t.lflag(unix.IEXTEN) && c >= 'A' && c <= 'Z' {
		c += 'a' - 'A'
	}
	if l.lnext {
		l.lnext = false
		l.literal(c)
		return
	}
	if t.iflag(unix.IXON) {
		switch {
		case t.is(c, unix.VSTOP):
			l.stop()
			return
		case t.is(c, unix.VSTART):
			if !l.tcoStopped {
				l.start()
			}
			return
		}
	}
	if t.lflag(unix.ISIG) {
		var sig unix.Signal
		switch {
		case t.is(c, unix.VINTR):
			sig = unix.SIGINT
		case t.is(c, unix.VQUIT):
			sig = unix.SIGQUIT
		case t.is(c, unix.VSUSP):
			sig = unix.SIGTSTP
		}
		if sig != 0 {
			l.signalChar(sig, c)
			return
		}
	}
	if !l.tcoStopped && t.iflag(unix.IXON) && t.iflag(unix.IXANY) {
		l.start()
	}
	switch {
	case c == '\r':
		if t.iflag(unix.IGNCR) {
			return
		}
		if t.iflag(unix.ICRNL) {
			c = '\n'
		}
	case c == '\n' && t.iflag(unix.INLCR):
		c = '\r'
	}
	if !l.canon() {
		l.rawChar(c)
		return
	}
	ext := t.lflag(unix.IEXTEN)
	switch {
	case t.is(c, unix.VERASE), t.is(c, unix.VKILL), ext && t.is(c, unix.VWERASE):
		l.erase(c)
	case ext && t.is(c, unix.VLNEXT):
		l.lnext = true
		if t.lflag(unix.ECHO) && t.lflag(unix.ECHOCTL) {
			// A placeholder the literal character overwrites.
			l.echoStartLine()
			l.opost('^')
			l.opost('\b')
		}
	case ext && t.is(c, unix.VREPRINT) && t.lflag(unix.ECHO):
		l.echoChar(c)
		l.opost('\n')
		l.canonColumn = l.column
		for _, e := range l.edit {
			l.echoChar(e)
		}
	case c == '\n':
		if t.lflag(unix.ECHO) || t.lflag(unix.ECHONL) {
			l.opost('\n')
		}
		l.endLine(c, true)
	case t.is(c, unix.VEOF):
		l.endLine(c, false)
	case t.is(c, unix.VEOL), ext && t.is(c, unix.VEOL2):
		if t.lflag(unix.ECHO) {
			l.echoStartLine()
			l.echoChar(c)
		}
		l.endLine(c, true)
	default:
		l.literal(c)
	}
}

// literal adds an ordinary character: echoed, then queued.
func (l *ldisc) literal(c byte) {
	if !l.canon() {
		l.rawChar(c)
		return
	}
	if len(l.edit) >= maxCanon {
		return
	}
	if l.t.lflag(unix.ECHO) {
		l.echoStartLine()
		l.echoChar(c)
	}
	l.edit = append(l.edit, c)
}

// rawChar queues a byte in non-canonical mode. A newline is nothing
// special there: under ECHOCTL it echoes as ^J, and ECHONL (which needs
// ICANON) does not apply.
func (l *ldisc) rawChar(c byte) {
	if l.t.lflag(unix.ECHO) {
		l.echoChar(c)
	}
	l.ready = append(l.ready, c)
}

// endLine completes the line being edited; keep says the terminator is
// part of it (VEOF is not).
func (l *ldisc) endLine(c byte, keep bool) {
	if keep {
		l.edit = append(l.edit, c)
	}
	l.ready = append(l.ready, l.edit...)
	l.lines = append(l.lines, len(l.ready))
	l.edit = nil
}

// signalChar handles VINTR, VQUIT and VSUSP (n_tty_receive_signal_char):
// unless NOFLSH the input is flushed, the signal is queued for the
// foreground process group, and the character is echoed.
func (l *ldisc) signalChar(sig unix.Signal, c byte) {
	if !l.t.lflag(unix.NOFLSH) {
		// Like Linux's isig: the output the master has not taken
		// yet goes too.
		l.flushInput()
		l.flushOutput()
		l.event(pktFlushRead|pktFlushWrite, 0)
	}
	l.sigs = append(l.sigs, sig)
	if l.t.iflag(unix.IXON) && !l.tcoStopped {
		l.start()
	}
	if l.t.lflag(unix.ECHO) {
		l.echoChar(c)
	}
}

// echoStartLine records the column a canonical line starts at, when the
// first character of it is echoed.
func (l *ldisc) echoStartLine() {
	if len(l.edit) == 0 {
		l.canonColumn = l.column
	}
}

// isCtl reports whether c is echoed as ^X under ECHOCTL: every control
// character but tab (a newline that ends a canonical line is echoed as
// itself, without echoChar).
func isCtl(c byte) bool { return (c < 0x20 || c == 0x7f) && c != '\t' }

// echoChar echoes c: a control character as ^X under ECHOCTL (tab as
// itself).
func (l *ldisc) echoChar(c byte) {
	if l.t.lflag(unix.ECHOCTL) && isCtl(c) {
		l.opost('^')
		l.opost(c ^ 0x40)
		return
	}
	l.opost(c)
}

// isContinuation reports whether c continues a UTF-8 sequence under
// IUTF8 (it takes no column and is erased with its lead byte).
func (l *ldisc) isContinuation(c byte) bool {
	return l.t.iflag(unix.IUTF8) && c&0xc0 == 0x80
}

// erase handles VERASE, VWERASE and VKILL (Linux's eraser).
func (l *ldisc) erase(c byte) {
	t := &l.t
	if len(l.edit) == 0 {
		return
	}
	kill := t.is(c, unix.VKILL)
	werase := !kill && !t.is(c, unix.VERASE)
	if kill {
		if !t.lflag(unix.ECHO) {
			l.edit = l.edit[:0]
			return
		}
		if !t.lflag(unix.ECHOK) || !t.lflag(unix.ECHOKE) || !t.lflag(unix.ECHOE) {
			l.edit = l.edit[:0]
			l.echoChar(c)
			if t.lflag(unix.ECHOK) {
				l.opost('\n')
			}
			return
		}
	}
	seenAlnum := false
	for len(l.edit) > 0 {
		// One character: a UTF-8 lead byte with its continuations.
		end := len(l.edit)
		start := end - 1
		for start > 0 && l.isContinuation(l.edit[start]) {
			start--
		}
		ch := l.edit[start]
		if werase {
			if isAlnum(ch) || ch == '_' {
				seenAlnum = true
			} else if seenAlnum {
				break
			}
		}
		l.edit = l.edit[:start]
		if t.lflag(unix.ECHO) {
			switch {
			case !kill && !werase && !t.lflag(unix.ECHOE):
				l.echoChar(t.Cc[unix.VERASE])
			case ch == '\t':
				// Back to where the tab started: the width of the
				// line without it.
				for n := l.column - l.lineWidth(); n > 0; n-- {
					l.outRaw('\b')
					l.column--
				}
			default:
				w := 1
				if isCtl(ch) {
					w = 0
					if t.lflag(unix.ECHOCTL) {
						w = 2
					}
				}
				for ; w > 0; w-- {
					l.outRaw('\b')
					l.outRaw(' ')
					l.outRaw('\b')
					l.column--
				}
			}
		}
		if !kill && !werase {
			break
		}
	}
}

// lineWidth is the column the echo of the line being edited ends at.
func (l *ldisc) lineWidth() int {
	col := l.canonColumn
	for _, c := range l.edit {
		switch {
		case c == '\t':
			col = col | 7 + 1
		case isCtl(c):
			if l.t.lflag(unix.ECHOCTL) {
				col += 2
			}
		case !l.isContinuation(c):
			col++
		}
	}
	return col
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// flushInput discards unread input (TCIFLUSH, signals without NOFLSH).
func (l *ldisc) flushInput() {
	l.edit, l.ready, l.lines, l.lnext = nil, nil, nil, false
}

// flushOutput discards output the master has not read (TCOFLUSH).
func (l *ldisc) flushOutput() { l.out = nil }

// inputAvailable is the FIONREAD count of the slave: whole lines in
// canonical mode (the terminators but not VEOF counted), every byte
// otherwise.
func (l *ldisc) inputAvailable() int { return len(l.ready) }

// readable reports whether a slave read would return now (a complete
// line, or any byte; for poll, VMIN bytes when VTIME is 0, as Linux's
// n_tty_poll).
func (l *ldisc) readable(poll bool) bool {
	if l.canon() {
		return len(l.lines) > 0
	}
	need := 1
	if vmin := int(l.t.Cc[unix.VMIN]); poll && l.t.Cc[unix.VTIME] == 0 && vmin > 1 {
		need = vmin
	}
	return len(l.ready) >= need
}

// readCanon takes up to one line (or its first len(dst) bytes); the
// caller checked that a line is there. 0 is end of file (VEOF on an
// empty line).
func (l *ldisc) readCanon(dst []byte) int {
	end := l.lines[0]
	n := min(len(dst), end)
	copy(dst, l.ready[:n])
	l.consume(n)
	if n == end {
		l.lines = l.lines[1:]
	}
	for i := range l.lines {
		l.lines[i] -= n
	}
	return n
}

// readRaw takes what is readable in non-canonical mode, up to len(dst).
func (l *ldisc) readRaw(dst []byte) int {
	n := copy(dst, l.ready)
	l.consume(n)
	return n
}

func (l *ldisc) consume(n int) {
	l.ready = l.ready[n:]
	if len(l.ready) == 0 {
		l.ready = nil
	}
}

// outputRoom reports whether the slave may write now.
func (l *ldisc) outputRoom() bool { return !l.stopped && len(l.out) < outputLimit }

// write processes the slave's output, as much as there is room for, and
// returns how many bytes it took.
func (l *ldisc) write(b []byte) int {
	n := 0
	for _, c := range b {
		if !l.outputRoom() {
			break
		}
		l.opost(c)
		n++
	}
	return n
}

// outRaw queues an output byte as is.
func (l *ldisc) outRaw(c byte) { l.out = append(l.out, c) }

// opost queues an output byte through the output flags (do_output_char),
// keeping track of the column.
func (l *ldisc) opost(c byte) {
	t := &l.t
	if !t.oflag(unix.OPOST) {
		l.outRaw(c)
		return
	}
	switch c {
	case '\n':
		if t.oflag(unix.ONLRET) {
			l.column = 0
		}
		if t.oflag(unix.ONLCR) {
			l.column, l.canonColumn = 0, 0
			l.outRaw('\r')
		}
	case '\r':
		if t.oflag(unix.ONOCR) && l.column == 0 {
			return
		}
		if t.oflag(unix.OCRNL) {
			c = '\n'
			if t.oflag(unix.ONLRET) {
				l.column, l.canonColumn = 0, 0
			}
			break
		}
		l.column, l.canonColumn = 0, 0
	case '\t':
		spaces := 8 - l.column&7
		if t.Oflag&unix.TABDLY == unix.XTABS {
			l.column += spaces
			for ; spaces > 0; spaces-- {
				l.outRaw(' ')
			}
			return
		}
		l.column += spaces
	case '\b':
		if l.column > 0 {
			l.column--
		}
	default:
		if c >= 0x20 && c != 0x7f {
			if t.oflag(unix.OLCUC) && c >= 'a' && c <= 'z' {
				c -= 'a' - 'A'
			}
			if !l.isContinuation(c) {
				l.column++
			}
		}
	}
	l.outRaw(c)
}

// takeOutput gives the master up to len(dst) bytes of output.
func (l *ldisc) takeOutput(dst []byte) int {
	n := copy(dst, l.out)
	l.out = l.out[n:]
	if len(l.out) == 0 {
		l.out = nil
	}
	return n
}

// takeSignals returns and forgets the signals generated since the last
// call.
func (l *ldisc) takeSignals() []unix.Signal {
	s := l.sigs
	l.sigs = nil
	return s
}
