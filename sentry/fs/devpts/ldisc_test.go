package devpts

import (
	"reflect"
	"testing"

	"golang.org/x/sys/unix"
)

// readAll reads what the slave could read now, as successive read(2)s
// with a large buffer would: one line at a time in canonical mode.
func readAll(l *ldisc) []string {
	var got []string
	buf := make([]byte, 8192)
	for l.readable(false) {
		var n int
		if l.canon() {
			n = l.readCanon(buf)
		} else {
			n = l.readRaw(buf)
		}
		got = append(got, string(buf[:n]))
	}
	return got
}

// TestLineDiscipline checks input processing, line editing and echo
// against termios(3) and Linux's n_tty: what the master typed, what it
// reads back (echo), what the slave can read and the signals generated.
func TestLineDiscipline(t *testing.T) {
	noFlag := func(lflag uint32) func(*Termios) { return func(t *Termios) { t.Lflag &^= lflag } }
	cases := []struct {
		name  string
		setup func(*Termios)
		in    string
		echo  string
		reads []string
		sigs  []unix.Signal
	}{
		{name: "cooked line, CR typed as NL (ICRNL), echoed through ONLCR", in: "ls -l\r", echo: "ls -l\r\n", reads: []string{"ls -l\n"}},
		{name: "partial line is not readable", in: "abc", echo: "abc"},
		{name: "two lines read separately", in: "a\nb\n", echo: "a\r\nb\r\n", reads: []string{"a\n", "b\n"}},
		{name: "erase with ECHOE", in: "abx\x7fc\n", echo: "abx\b \bc\r\n", reads: []string{"abc\n"}},
		{name: "erase on an empty line does nothing", in: "\x7f\x7fa\n", echo: "a\r\n", reads: []string{"a\n"}},
		{name: "erase without ECHOE echoes the erase char", setup: noFlag(unix.ECHOE), in: "ab\x7f\n", echo: "ab^?\r\n", reads: []string{"a\n"}},
		{name: "erase of a control char shown as ^X takes two columns", in: "a\x01\x7f\n", echo: "a^A\b \b\b \b\r\n", reads: []string{"a\n"}},
		{name: "erase of a tab goes back to its start", in: "ab\t\x7fc\n", echo: "ab\t\b\b\b\b\b\bc\r\n", reads: []string{"abc\n"}},
		{name: "erase of a UTF-8 character under IUTF8", setup: func(t *Termios) { t.Iflag |= unix.IUTF8 }, in: "a\xc3\xa9\x7f\n", echo: "a\xc3\xa9\b \b\r\n", reads: []string{"a\n"}},
		{name: "without IUTF8 erase takes one byte", in: "a\xc3\xa9\x7f\n", echo: "a\xc3\xa9\b \b\r\n", reads: []string{"a\xc3\n"}},
		{name: "kill with ECHOKE erases the line visually", in: "abc\x15d\n", echo: "abc\b \b\b \b\b \bd\r\n", reads: []string{"d\n"}},
		{name: "kill without ECHOKE echoes it and a newline (ECHOK)", setup: noFlag(unix.ECHOKE), in: "abc\x15d\n", echo: "abc^U\r\nd\r\n", reads: []string{"d\n"}},
		{name: "kill without ECHOK", setup: noFlag(unix.ECHOKE | unix.ECHOK), in: "abc\x15d\n", echo: "abc^Ud\r\n", reads: []string{"d\n"}},
		{name: "werase erases a word and the blanks after it", in: "echo foo  \x17bar\n", echo: "echo foo  \b \b\b \b\b \b\b \b\b \bbar\r\n", reads: []string{"echo bar\n"}},
		{name: "werase stops at punctuation", in: "a-bc\x17\n", echo: "a-bc\b \b\b \b\r\n", reads: []string{"a-\n"}},
		{name: "werase needs IEXTEN", setup: noFlag(unix.IEXTEN), in: "ab\x17\n", echo: "ab^W\r\n", reads: []string{"ab\x17\n"}},
		{name: "lnext makes the next char literal", in: "a\x16\x7f\x16\x03\n", echo: "a^\b^?^\b^C\r\n", reads: []string{"a\x7f\x03\n"}},
		{name: "reprint", in: "ab\x12c\n", echo: "ab^R\r\nabc\r\n", reads: []string{"abc\n"}},
		{name: "eof on an empty line reads as end of file", in: "\x04", reads: []string{""}},
		{name: "eof ends a line without being read", in: "abc\x04", echo: "abc", reads: []string{"abc"}},
		{name: "eol ends a line and is kept", setup: func(t *Termios) { t.Cc[unix.VEOL] = ';' }, in: "a;b", echo: "a;b", reads: []string{"a;"}},
		{name: "eol2 needs IEXTEN", setup: func(t *Termios) { t.Cc[unix.VEOL2] = '|' }, in: "a|", echo: "a|", reads: []string{"a|"}},
		{name: "no echo", setup: noFlag(unix.ECHO), in: "secret\n", reads: []string{"secret\n"}},
		{name: "ECHONL echoes newlines without ECHO", setup: func(t *Termios) { t.Lflag = t.Lflag&^unix.ECHO | unix.ECHONL }, in: "pw\n", echo: "\r\n", reads: []string{"pw\n"}},
		{name: "control chars echo as themselves without ECHOCTL", setup: noFlag(unix.ECHOCTL), in: "\x01\n", echo: "\x01\r\n", reads: []string{"\x01\n"}},
		{name: "IGNCR drops CR", setup: func(t *Termios) { t.Iflag |= unix.IGNCR }, in: "a\rb\n", echo: "ab\r\n", reads: []string{"ab\n"}},
		{name: "without ICRNL CR is data", setup: func(t *Termios) { t.Iflag &^= unix.ICRNL }, in: "a\r\n", echo: "a^M\r\n", reads: []string{"a\r\n"}},
		{name: "INLCR turns NL into CR, which does not end the line", setup: func(t *Termios) { t.Iflag = t.Iflag&^unix.ICRNL | unix.INLCR }, in: "a\nb", echo: "a^Mb"},
		{name: "ISTRIP", setup: func(t *Termios) { t.Iflag |= unix.ISTRIP }, in: "\xe1\n", echo: "a\r\n", reads: []string{"a\n"}},
		{name: "IUCLC", setup: func(t *Termios) { t.Iflag |= unix.IUCLC }, in: "AbC\n", echo: "abc\r\n", reads: []string{"abc\n"}},
		{name: "VINTR signals, flushes input and unread output, echoes ^C", in: "abc\x03x\n", echo: "^Cx\r\n", reads: []string{"x\n"}, sigs: []unix.Signal{unix.SIGINT}},
		{name: "a literal newline does not end the line", in: "a\x16\nb\n", echo: "a^\b^Jb\r\n", reads: []string{"a\nb\n"}},
		{name: "NUL is data (disabled characters match nothing)", in: "\x00a\n", echo: "^@a\r\n", reads: []string{"\x00a\n"}},
		{name: "raw mode: a newline echoes as ^J", setup: noFlag(unix.ICANON), in: "a\nb", echo: "a^Jb", reads: []string{"a\nb"}},
		{name: "raw mode: no ECHONL", setup: func(t *Termios) { t.Lflag = t.Lflag&^(unix.ICANON|unix.ECHO) | unix.ECHONL }, in: "a\n", reads: []string{"a\n"}},
		{name: "VQUIT and VSUSP", in: "\x1c\x1a", echo: "^Z", sigs: []unix.Signal{unix.SIGQUIT, unix.SIGTSTP}},
		{name: "NOFLSH keeps the input", setup: func(t *Termios) { t.Lflag |= unix.NOFLSH }, in: "ab\x03c\n", echo: "ab^Cc\r\n", reads: []string{"abc\n"}, sigs: []unix.Signal{unix.SIGINT}},
		{name: "without ISIG VINTR is data", setup: noFlag(unix.ISIG), in: "\x03\n", echo: "^C\r\n", reads: []string{"\x03\n"}},
		{name: "disabled control chars match nothing", setup: func(t *Termios) { t.Cc[unix.VINTR] = 0 }, in: "\x03\x00\n", echo: "^C^@\r\n", reads: []string{"\x03\x00\n"}},
		{name: "raw mode: bytes readable at once, echoed", setup: noFlag(unix.ICANON), in: "a\x7fb", echo: "a^?b", reads: []string{"a\x7fb"}},
		{name: "raw mode without echo, CR kept when ICRNL off", setup: func(t *Termios) { t.Lflag &^= unix.ICANON | unix.ECHO; t.Iflag &^= unix.ICRNL }, in: "q\r", reads: []string{"q\r"}},
		{name: "raw mode still has ISIG", setup: noFlag(unix.ICANON | unix.ECHO), in: "ab\x03c", reads: []string{"c"}, sigs: []unix.Signal{unix.SIGINT}},
		{name: "long lines are cut at 4095 bytes", in: string(make([]byte, 0)) + repeat('x', 5000) + "\n", echo: repeat('x', 4095) + "\r\n", reads: []string{repeat('x', 4095) + "\n"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tios := DefaultTermios()
			if c.setup != nil {
				c.setup(&tios)
			}
			l := newLdisc(tios)
			if n := l.input([]byte(c.in)); n != len(c.in) {
				t.Fatalf("input took %d of %d bytes", n, len(c.in))
			}
			if got := string(l.out); got != c.echo {
				t.Errorf("echo %q, want %q", got, c.echo)
			}
			if got := readAll(l); !reflect.DeepEqual(got, c.reads) {
				t.Errorf("reads %q, want %q", got, c.reads)
			}
			if got := l.takeSignals(); !reflect.DeepEqual(got, c.sigs) {
				t.Errorf("signals %v, want %v", got, c.sigs)
			}
		})
	}
}

func repeat(c byte, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = c
	}
	return string(b)
}

// TestOutputProcessing checks the output flags (OPOST and friends) on
// what the slave writes.
func TestOutputProcessing(t *testing.T) {
	cases := []struct {
		name         string
		oflag        uint32
		in, want     string
		wantColumnAt int
	}{
		{name: "ONLCR", oflag: unix.OPOST | unix.ONLCR, in: "a\nb\n", want: "a\r\nb\r\n"},
		{name: "no OPOST", oflag: unix.ONLCR, in: "a\nb", want: "a\nb", wantColumnAt: 0},
		{name: "OCRNL", oflag: unix.OPOST | unix.OCRNL, in: "a\rb", want: "a\nb", wantColumnAt: 2},
		{name: "ONOCR drops CR at column 0", oflag: unix.OPOST | unix.ONOCR, in: "\ra\r", want: "a\r"},
		{name: "OLCUC", oflag: unix.OPOST | unix.OLCUC, in: "Hi!", want: "HI!", wantColumnAt: 3},
		{name: "XTABS expands tabs", oflag: unix.OPOST | unix.XTABS, in: "ab\tc", want: "ab      c", wantColumnAt: 9},
		{name: "tabs kept", oflag: unix.OPOST, in: "ab\tc", want: "ab\tc", wantColumnAt: 9},
		{name: "backspace moves back", oflag: unix.OPOST, in: "ab\b", want: "ab\b", wantColumnAt: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tios := DefaultTermios()
			tios.Oflag = c.oflag
			l := newLdisc(tios)
			if n := l.write([]byte(c.in)); n != len(c.in) {
				t.Fatalf("write took %d of %d", n, len(c.in))
			}
			buf := make([]byte, 100)
			if got := string(buf[:l.takeOutput(buf)]); got != c.want {
				t.Errorf("output %q, want %q", got, c.want)
			}
			if l.column != c.wantColumnAt {
				t.Errorf("column %d, want %d", l.column, c.wantColumnAt)
			}
		})
	}
}

// TestModeSwitch: input is never lost when ICANON changes (readline
// switches to raw mode at each prompt; typeahead made while a command ran
// in canonical mode must reach it).
func TestModeSwitch(t *testing.T) {
	l := newLdisc(DefaultTermios())
	l.input([]byte("typeahead"))
	raw := l.t
	raw.Lflag &^= unix.ICANON | unix.ECHO
	l.setTermios(raw)
	if got := readAll(l); !reflect.DeepEqual(got, []string{"typeahead"}) {
		t.Errorf("after switching to raw mode: %q", got)
	}
	l.input([]byte("xy"))
	l.setTermios(DefaultTermios())
	if got := readAll(l); !reflect.DeepEqual(got, []string{"xy"}) {
		t.Errorf("after switching back to canonical mode: %q", got)
	}
	// A read with a small buffer takes part of a line, the rest stays.
	l.input([]byte("hello\nworld\n"))
	buf := make([]byte, 3)
	var parts []string
	for l.readable(false) {
		parts = append(parts, string(buf[:l.readCanon(buf)]))
	}
	if want := []string{"hel", "lo\n", "wor", "ld\n"}; !reflect.DeepEqual(parts, want) {
		t.Errorf("small reads %q, want %q", parts, want)
	}
}

// TestFlowControl: VSTOP suspends output (the slave's writes wait), VSTART
// or, with IXANY, any key resumes it.
func TestFlowControl(t *testing.T) {
	l := newLdisc(DefaultTermios())
	l.input([]byte{0x13})
	if l.outputRoom() || l.write([]byte("x")) != 0 {
		t.Fatal("output not stopped by ^S")
	}
	l.input([]byte{0x11})
	if !l.outputRoom() {
		t.Fatal("output not restarted by ^Q")
	}
	tios := DefaultTermios()
	tios.Iflag |= unix.IXANY
	l.setTermios(tios)
	l.input([]byte{0x13})
	l.input([]byte("k"))
	if !l.outputRoom() {
		t.Fatal("output not restarted by a key under IXANY")
	}
	if got := readAll(l); len(got) != 0 {
		t.Errorf("stop/start characters were read: %q", got)
	}
}

// TestInputLimit: the master's writes stop being accepted once the
// unread input is at the limit.
func TestInputLimit(t *testing.T) {
	tios := DefaultTermios()
	tios.Lflag &^= unix.ICANON | unix.ECHO
	l := newLdisc(tios)
	big := []byte(repeat('z', inputLimit+10))
	if n := l.input(big); n != inputLimit {
		t.Fatalf("took %d, want %d", n, inputLimit)
	}
	if l.inputRoom() {
		t.Error("room left at the limit")
	}
	buf := make([]byte, 10)
	l.readRaw(buf)
	if !l.inputRoom() {
		t.Error("no room after a read")
	}
}

func TestTermiosEncoding(t *testing.T) {
	d := DefaultTermios()
	if got := DecodeTermios(d.Encode()); got != d {
		t.Errorf("round trip %+v, want %+v", got, d)
	}
	// TCSETA replaces the low halves and the first 8 characters.
	old := d
	old.Iflag |= 1 << 20
	n := old
	n.Iflag, n.Lflag = unix.ICRNL, 0
	n.Cc[unix.VINTR], n.Cc[unix.VSUSP] = 1, 2
	got := old.withTermio(n.encodeTermio())
	if got.Iflag != 1<<20|unix.ICRNL || got.Lflag != 0 || got.Cc[unix.VINTR] != 1 || got.Cc[unix.VSUSP] != old.Cc[unix.VSUSP] {
		t.Errorf("TCSETA gave %+v", got)
	}
	if d.Lflag != 0x8a3b || d.Iflag != 0x500 || d.Oflag != 0x5 || d.Cflag != 0x4bf {
		t.Errorf("default flags %#x %#x %#x %#x, want Linux's 0x500 0x5 0x4bf 0x8a3b", d.Iflag, d.Oflag, d.Cflag, d.Lflag)
	}
}
