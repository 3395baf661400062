package devpts

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// Termios is struct termios of the kernel's ioctl ABI (TCGETS/TCSETS:
// four flag words, the line discipline number and 19 control
// characters), not glibc's larger struct.
type Termios struct {
	Iflag, Oflag, Cflag, Lflag uint32
	Line                       uint8
	Cc                         [nccs]uint8
}

const (
	nccs = 19
	// TermiosSize is sizeof(struct termios) for TCGETS and TCSETS.
	TermiosSize = 36
	// termioSize is sizeof(struct termio) for TCGETA and TCSETA: 16-bit
	// flags and the first 8 control characters.
	termioSize = 18
	termioNCC  = 8
	// disabled is _POSIX_VDISABLE: a control character set to it
	// matches no input byte.
	disabled = 0
)

// DefaultTermios is the settings of a new pseudo-terminal
// (tty_std_termios plus the pty driver's: cooked mode, echo, signals).
func DefaultTermios() Termios {
	t := Termios{
		Iflag: unix.ICRNL | unix.IXON,
		Oflag: unix.OPOST | unix.ONLCR,
		Cflag: unix.B38400 | unix.CS8 | unix.CREAD | unix.HUPCL,
		Lflag: unix.ISIG | unix.ICANON | unix.ECHO | unix.ECHOE | unix.ECHOK | unix.ECHOCTL | unix.ECHOKE | unix.IEXTEN,
	}
	// INIT_C_CC of include/linux/tty.h.
	cc := map[int]uint8{
		unix.VINTR: 'C' & 0x1f, unix.VQUIT: '\\' & 0x1f, unix.VERASE: 0x7f, unix.VKILL: 'U' & 0x1f,
		unix.VEOF: 'D' & 0x1f, unix.VTIME: 0, unix.VMIN: 1, unix.VSTART: 'Q' & 0x1f, unix.VSTOP: 'S' & 0x1f,
		unix.VSUSP: 'Z' & 0x1f, unix.VREPRINT: 'R' & 0x1f, unix.VDISCARD: 'O' & 0x1f,
		unix.VWERASE: 'W' & 0x1f, unix.VLNEXT: 'V' & 0x1f,
	}
	for i, c := range cc {
		t.Cc[i] = c
	}
	return t
}

// Encode returns the ioctl ABI bytes of t.
func (t *Termios) Encode() []byte {
	b := make([]byte, TermiosSize)
	binary.LittleEndian.PutUint32(b[0:], t.Iflag)
	binary.LittleEndian.PutUint32(b[4:], t.Oflag)
	binary.LittleEndian.PutUint32(b[8:], t.Cflag)
	binary.LittleEndian.PutUint32(b[12:], t.Lflag)
	b[16] = t.Line
	copy(b[17:], t.Cc[:])
	return b
}

// DecodeTermios reads the ioctl ABI bytes of a termios.
func DecodeTermios(b []byte) Termios {
	t := Termios{
		Iflag: binary.LittleEndian.Uint32(b[0:]), Oflag: binary.LittleEndian.Uint32(b[4:]),
		Cflag: binary.LittleEndian.Uint32(b[8:]), Lflag: binary.LittleEndian.Uint32(b[12:]),
		Line: b[16],
	}
	copy(t.Cc[:], b[17:TermiosSize])
	return t
}

// encodeTermio returns struct termio (TCGETA): the low 16 bits of each
// flag word.
func (t *Termios) encodeTermio() []byte {
	b := make([]byte, termioSize)
	binary.LittleEndian.PutUint16(b[0:], uint16(t.Iflag))
	binary.LittleEndian.PutUint16(b[2:], uint16(t.Oflag))
	binary.LittleEndian.PutUint16(b[4:], uint16(t.Cflag))
	binary.LittleEndian.PutUint16(b[6:], uint16(t.Lflag))
	b[8] = t.Line
	copy(b[9:], t.Cc[:termioNCC])
	return b
}

// withTermio is t changed by struct termio b (TCSETA): as Linux's
// set_termio, the low 16 bits of each flag word and the first 8 control
// characters are replaced, the rest kept.
func (t Termios) withTermio(b []byte) Termios {
	lo := func(old uint32, off int) uint32 {
		return old&0xffff0000 | uint32(binary.LittleEndian.Uint16(b[off:]))
	}
	t.Iflag, t.Oflag, t.Cflag, t.Lflag = lo(t.Iflag, 0), lo(t.Oflag, 2), lo(t.Cflag, 4), lo(t.Lflag, 6)
	t.Line = b[8]
	copy(t.Cc[:termioNCC], b[9:termioSize])
	return t
}

// FromUnix converts the termios of golang.org/x/sys/unix (as the host's
// TCGETS returns it).
func FromUnix(u *unix.Termios) Termios {
	t := Termios{Iflag: u.Iflag, Oflag: u.Oflag, Cflag: u.Cflag, Lflag: u.Lflag, Line: u.Line}
	copy(t.Cc[:], u.Cc[:nccs])
	return t
}

func (t *Termios) iflag(f uint32) bool { return t.Iflag&f != 0 }
func (t *Termios) oflag(f uint32) bool { return t.Oflag&f != 0 }
func (t *Termios) lflag(f uint32) bool { return t.Lflag&f != 0 }

// is reports whether c is control character i (and i is not disabled).
func (t *Termios) is(c byte, i int) bool { return t.Cc[i] != disabled && c == t.Cc[i] }
