// Package host wraps host file descriptors given to the Sentry (the
// sandbox's stdin, stdout and stderr) as files.
//
// Reads and writes go to the host descriptor with read(2)/write(2) (the
// host file's own offset and O_APPEND apply; lseek passes through). The
// host descriptor is left in whatever blocking mode it is in (making it
// non-blocking would affect the other processes sharing the host file
// description, e.g. the user's shell): before a read or write the Sentry
// polls it, and waits for readiness through a host epoll instance, so a
// blocked read or write can be interrupted by a signal. If another host
// process consumes the input between the poll and the read, that read may
// block the task uninterruptibly until more input arrives.
//
// Ioctls: if the descriptor is a terminal, TCGETS, TCSETS, TCSETSW,
// TCSETSF, TIOCGWINSZ, TIOCSWINSZ and TCFLSH are passed to it (with their
// argument structures copied through the Sentry). Job control is the
// Sentry's (host process groups mean nothing inside the sandbox): each
// host terminal device has one kernel.TTY, whatever the number of
// descriptors, which TIOCSCTTY, TIOCNOTTY, TIOCGPGRP, TIOCSPGRP and
// TIOCGSID act on, and reads, TOSTOP writes and settings changes from a
// background process group get SIGTTIN/SIGTTOU as on Linux. The host's
// line discipline still does echo, line editing and turns ^C, ^Z and ^\
// into signals for the host process holding the terminal; runsc forwards
// those to the foreground group (TTY.SignalForeground). FIONREAD is
// passed through for terminals, pipes and sockets. Everything else is
// ENOTTY; no other ioctl ever reaches the host.
//
// Reopening: opening the file again through /proc/<pid>/fd/N (and so
// /dev/stdin, /dev/stdout, /dev/stderr, /dev/fd/N) gives a new open file
// description on a dup(2) of the host descriptor, never a new host open:
// the sandbox gets no more access to the host file than the descriptor it
// was given. So, unlike Linux, which opens the underlying file again:
//
//   - the requested access mode must be within the host descriptor's
//     (reading needs it open for reading, writing for writing), else
//     EACCES; Linux would open the other end of a pipe, or the terminal
//     or file with the new mode;
//   - the new description shares the host file offset and status flags
//     (O_APPEND) with the original, and O_TRUNC is ignored: on Linux,
//     `echo x > /dev/stdout` with stdout redirected to a regular file
//     truncates it and writes at offset 0, here the output is appended
//     where the original descriptor is;
//   - sockets cannot be reopened (ENXIO, as on Linux).
//
// The terminal's foreground process group (TIOCGPGRP/TIOCSPGRP) is shared
// by the reopened descriptions.
//
// Terminals: each host terminal device given to the sandbox is a
// Terminal, which sentry/fs/devpts shows as /dev/pts/N for a pseudo-terminal
// (N its host number), and which /dev/tty and /dev/console reopen
// (kernel.TTYDevice). /proc/<pid>/fd/N of a host pseudo-terminal reads
// /dev/pts/N, which stats like the descriptor, as ttyname(3) checks. A
// terminal can only be reopened while the sandbox has a descriptor of
// it: once the last one is closed it leaves /dev/pts and /dev/tty gives
// ENXIO (Linux would open the device again). Opening a terminal without
// O_NOCTTY makes it the controlling terminal of a session leader that
// has none, if no session has it, as on Linux.
package host

import (
	"encoding/binary"
	"fmt"
	"github.com/veil-sandbox/veil/sentry/fdnotify"
	"sync"

	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/waiter"
	"golang.org/x/sys/unix"
)

// File is the FileImpl of a host descriptor.
type File struct {
	fd int
	// closeFD says that fd is the File's own (a reopen's dup) and is
	// closed on release; the original descriptor belongs to the inode.
	closeFD bool
	ino     *inode
	tty     bool
	ftype   uint32
	// pollable is false for files epoll refuses (regular files): they
	// are always ready.
	pollable bool

	q       waiter.Queue
	release sync.Once
}

var (
	_ vfs.FileImpl    = (*File)(nil)
	_ vfs.SeekHandler = (*File)(nil)
	_ vfs.Syncer      = (*File)(nil)
)

// NewFile returns an open file description for host descriptor fd. If own
// is true, fd is closed when the description and every description
// reopened from it (through /proc/<pid>/fd/N) are released (pass a dup to
// keep the original); if false the caller keeps fd open at least that
// long. The access mode comes from the host (F_GETFL).
func NewFile(ctx vfs.Context, fd int, own bool) (*vfs.FileDescription, error) {
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return nil, fmt.Errorf("host: fcntl(%d, F_GETFL): %w", fd, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("host: fstat(%d): %w", fd, err)
	}
	ino := &inode{fd: fd, own: own, ftype: st.Mode & unix.S_IFMT, acc: uint32(fl) & unix.O_ACCMODE, refs: 1}
	var term *Terminal
	if _, err := unix.IoctlGetTermios(fd, unix.TCGETS); err == nil {
		term = terminalOf(st.Dev, st.Rdev)
		ino.tty = true
		ino.term = term
		ino.jc = term.jc
		term.add(ino)
	}
	f := newFile(fd, false, ino)
	var name string
	switch {
	case term != nil && term.pts >= 0:
		// What ttyname(3) reads: a path that stats like the descriptor.
		name = fmt.Sprintf("/dev/pts/%d", term.pts)
	case ino.ftype == unix.S_IFIFO:
		name = fmt.Sprintf("pipe:[%d]", st.Ino)
	case ino.ftype == unix.S_IFSOCK:
		name = fmt.Sprintf("socket:[%d]", st.Ino)
	default:
		name = fmt.Sprintf("host:[%d]", fd)
	}
	flags := uint32(fl) & (unix.O_ACCMODE | unix.O_APPEND)
	return vfs.NewFileDescription(f, flags, ino, name), nil
}

// newFile makes the FileImpl doing I/O on fd, one of ino's files (the
// caller has counted it in ino.refs).
func newFile(fd int, closeFD bool, ino *inode) *File {
	f := &File{fd: fd, closeFD: closeFD, ino: ino, tty: ino.tty, ftype: ino.ftype}
	f.pollable = fdnotify.Add(fd, &f.q) == nil
	return f
}

// IsTTY reports whether the host descriptor is a terminal.
func (f *File) IsTTY() bool { return f.tty }

// ttys holds each host terminal device the Sentry was given, so that
// stdin, stdout and stderr on one terminal (and their reopens) share its
// job-control state, and /dev/pts, /dev/tty and /dev/console can reach
// it. Terminals are never forgotten (their job-control state must
// outlive any one descriptor); there are few.
var ttys = struct {
	sync.Mutex
	m map[ttyKey]*Terminal
}{m: make(map[ttyKey]*Terminal)}

// ttyKey identifies a terminal device: its number, within the host
// filesystem (devpts instance) holding it.
type ttyKey struct{ dev, rdev uint64 }

// Pseudo-terminal slaves have majors 136 to 143 (UNIX98_PTY_SLAVE_MAJOR
// and the next 7); the pts number is the minor (20 bits, so in practice
// all are on 136).
const (
	ptsMajor      = 136
	ptsMajorCount = 8
)

// Terminal is a host terminal the sandbox has descriptors of. It is also
// the Inode of its /dev/pts entry (for pseudo-terminals): it stats like
// the descriptors (the host's fstat, so ttyname(3) recognizes it) and
// opening it reopens one of them, never opening anything on the host. It
// implements kernel.TTYDevice for /dev/tty and /dev/console.
type Terminal struct {
	vfs.InodeDefaults
	jc   *kernel.TTY
	pts  int64  // pts number, -1 if not a pseudo-terminal
	rdev uint64 // the host's device number (ps's TTY column)

	mu sync.Mutex
	// inodes are the live inodes of host descriptors of the terminal,
	// oldest first: reopening needs one.
	inodes []*inode
}

var (
	_ vfs.Inode        = (*Terminal)(nil)
	_ vfs.TypeReporter = (*Terminal)(nil)
	_ kernel.TTYDevice = (*Terminal)(nil)
)

func terminalOf(dev, rdev uint64) *Terminal {
	ttys.Lock()
	defer ttys.Unlock()
	k := ttyKey{dev, rdev}
	t := ttys.m[k]
	if t == nil {
		t = &Terminal{pts: -1, rdev: rdev}
		if major := vfs.DevMajor(rdev); major >= ptsMajor && major < ptsMajor+ptsMajorCount {
			t.pts = int64(major-ptsMajor)<<20 | int64(vfs.DevMinor(rdev))
		}
		t.jc = kernel.NewTTY(t)
		ttys.m[k] = t
	}
	return t
}

func (t *Terminal) add(i *inode) {
	t.mu.Lock()
	t.inodes = append(t.inodes, i)
	t.mu.Unlock()
}

func (t *Terminal) remove(i *inode) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for n, o := range t.inodes {
		if o == i {
			t.inodes = append(t.inodes[:n], t.inodes[n+1:]...)
			return
		}
	}
}

func (t *Terminal) live() []*inode {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]*inode(nil), t.inodes...)
}

// PseudoTerminals returns the host pseudo-terminals the sandbox has a
// descriptor of, by pts number: /dev/pts.
func PseudoTerminals() map[int64]*Terminal {
	ttys.Lock()
	all := make([]*Terminal, 0, len(ttys.m))
	for _, t := range ttys.m {
		all = append(all, t)
	}
	ttys.Unlock()
	out := make(map[int64]*Terminal)
	for _, t := range all {
		if t.pts < 0 || len(t.live()) == 0 {
			continue
		}
		// Two devpts instances may have the same numbers: keep one.
		if o := out[t.pts]; o == nil || len(o.live()) == 0 {
			out[t.pts] = t
		}
	}
	return out
}

// Rdev returns the terminal's device number, which /proc/PID/stat shows
// as tty_nr.
func (t *Terminal) Rdev() uint64 { return t.rdev }

// Live reports whether the sandbox still has a descriptor of t (else it
// cannot be reopened, and has no /dev/pts entry).
func (t *Terminal) Live() bool { return len(t.live()) > 0 }

// Reopen implements kernel.TTYDevice: a new File on a dup of one of the
// terminal's host descriptors whose access mode allows flags (see
// inode.Open); ENXIO once the sandbox has none left.
func (t *Terminal) Reopen(_ vfs.Context, flags uint32) (vfs.FileImpl, error) {
	err := error(unix.ENXIO)
	for _, i := range t.live() {
		var f *File
		if f, err = i.reopen(flags); err == nil {
			return f, nil
		}
	}
	return nil, err
}

// FileType implements vfs.TypeReporter.
func (t *Terminal) FileType() uint32 { return unix.S_IFCHR }

// Stat implements vfs.Inode: that of the host descriptors.
func (t *Terminal) Stat(ctx vfs.Context) (vfs.Stat, error) {
	for _, i := range t.live() {
		if st, err := i.Stat(ctx); err == nil {
			return st, nil
		}
	}
	return vfs.Stat{}, unix.ENOENT
}

// Open implements vfs.Inode: Reopen, and the terminal may become the
// caller's controlling terminal, as opening a terminal does on Linux.
func (t *Terminal) Open(ctx vfs.Context, flags uint32) (vfs.FileImpl, error) {
	f, err := t.Reopen(ctx, flags)
	if err == nil {
		openedTTY(ctx, t.jc, flags)
	}
	return f, err
}

// openedTTY gives the terminal to the opening session leader if it
// lacks one, unless O_NOCTTY.
func openedTTY(ctx vfs.Context, jc *kernel.TTY, flags uint32) {
	if task, ok := ctx.(*kernel.Task); ok && flags&unix.O_NOCTTY == 0 {
		task.OpenedTTY(jc)
	}
}

// TTYOf returns the job-control state of fd's terminal, or nil if fd is
// not a host terminal.
func TTYOf(fd *vfs.FileDescription) *kernel.TTY {
	if f, ok := fd.Impl().(*File); ok && f.tty {
		return f.ino.jc
	}
	return nil
}

// tostop reports whether the terminal stops background writers.
func (f *File) tostop() bool {
	t, err := unix.IoctlGetTermios(f.fd, unix.TCGETS)
	return err == nil && t.Lflag&unix.TOSTOP != 0
}

// FD returns the host descriptor.
func (f *File) FD() int { return f.fd }

// waitReady waits until the host descriptor has one of the events in mask
// (or an error/hangup), interruptibly.
func (f *File) waitReady(ctx vfs.Context, mask waiter.EventMask, nonblock bool) error {
	if !f.pollable {
		return nil
	}
	if f.Readiness(mask|waiter.EventErr|waiter.EventHUp) != 0 {
		return nil
	}
	if nonblock {
		return unix.EAGAIN
	}
	e, ch := waiter.NewChannelEntry(mask | waiter.EventErr | waiter.EventHUp)
	f.q.EventRegister(e)
	defer f.q.EventUnregister(e)
	for f.Readiness(mask|waiter.EventErr|waiter.EventHUp) == 0 {
		if err := ctx.Block(ch); err != nil {
			return err
		}
	}
	return nil
}

// Read implements vfs.FileImpl.
func (f *File) Read(ctx vfs.Context, dst []byte, _ int64, nonblock bool) (int, error) {
	if len(dst) == 0 {
		return 0, nil
	}
	if t, ok := ctx.(*kernel.Task); ok && f.tty {
		if err := t.CheckTTYRead(f.ino.jc); err != nil {
			return 0, err
		}
	}
	for {
		if err := f.waitReady(ctx, waiter.EventIn, nonblock); err != nil {
			return 0, err
		}
		n, err := unix.Read(f.fd, dst)
		switch err {
		case nil:
			return n, nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			if nonblock {
				return 0, unix.EAGAIN
			}
			continue
		default:
			return 0, err
		}
	}
}

// Write implements vfs.FileImpl.
func (f *File) Write(ctx vfs.Context, src []byte, _ int64, nonblock bool) (int, error) {
	if t, ok := ctx.(*kernel.Task); ok && f.tty && t.InTTYBackground(f.ino.jc) && f.tostop() {
		if err := t.CheckTTYChange(f.ino.jc); err != nil {
			return 0, err
		}
	}
	done := 0
	for done < len(src) {
		if err := f.waitReady(ctx, waiter.EventOut, nonblock); err != nil {
			if done > 0 {
				return done, nil
			}
			return 0, err
		}
		n, err := unix.Write(f.fd, src[done:])
		switch err {
		case nil:
			done += n
			if nonblock {
				return done, nil
			}
		case unix.EINTR:
		case unix.EAGAIN:
			if nonblock {
				if done > 0 {
					return done, nil
				}
				return 0, unix.EAGAIN
			}
		default:
			if done > 0 {
				return done, nil
			}
			return 0, err
		}
	}
	return done, nil
}

// Seek implements vfs.SeekHandler.
func (f *File) Seek(_ vfs.Context, off int64, whence int) (int64, error) {
	return unix.Seek(f.fd, off, whence)
}

// Sync implements vfs.Syncer.
func (f *File) Sync() error {
	if err := unix.Fsync(f.fd); err != nil && err != unix.EINVAL && err != unix.EROFS {
		return err
	}
	return nil
}

// Readiness implements waiter.Waitable.
func (f *File) Readiness(mask waiter.EventMask) waiter.EventMask {
	if !f.pollable {
		return mask & (waiter.EventIn | waiter.EventOut | waiter.EventRdNorm | waiter.EventWrNorm)
	}
	fds := []unix.PollFd{{Fd: int32(f.fd), Events: int16(mask)}}
	for {
		n, err := unix.Poll(fds, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			return 0
		}
		return waiter.EventMask(uint16(fds[0].Revents)) & (mask | waiter.EventErr | waiter.EventHUp)
	}
}

// EventRegister implements waiter.Waitable.
func (f *File) EventRegister(e *waiter.Entry) { f.q.EventRegister(e) }

// EventUnregister implements waiter.Waitable.
func (f *File) EventUnregister(e *waiter.Entry) { f.q.EventUnregister(e) }

// Ioctl implements vfs.FileImpl.
func (f *File) Ioctl(ctx vfs.Context, io vfs.UserMemory, cmd uint32, arg uint64) (uint64, error) {
	addr := uintptr(arg)
	switch cmd {
	case vfs.FIONREAD:
		if !f.tty && f.ftype != unix.S_IFIFO && f.ftype != unix.S_IFSOCK {
			return 0, unix.ENOTTY
		}
		n, err := unix.IoctlGetInt(f.fd, unix.TIOCINQ)
		if err != nil {
			return 0, err
		}
		return 0, putU32(io, addr, uint32(n))
	}
	if !f.tty {
		return 0, unix.ENOTTY
	}
	t, _ := ctx.(*kernel.Task)
	switch cmd {
	case unix.TCSETS, unix.TCSETSW, unix.TCSETSF, unix.TCFLSH, unix.TIOCSPGRP:
		if t != nil {
			if err := t.CheckTTYChange(f.ino.jc); err != nil {
				return 0, err
			}
		}
	}
	switch cmd {
	case unix.TCGETS:
		t, err := unix.IoctlGetTermios(f.fd, unix.TCGETS)
		if err != nil {
			return 0, err
		}
		return 0, io.CopyOut(addr, encodeTermios(t))
	case unix.TCSETS, unix.TCSETSW, unix.TCSETSF:
		buf := make([]byte, termiosSize)
		if err := io.CopyIn(addr, buf); err != nil {
			return 0, err
		}
		return 0, unix.IoctlSetTermios(f.fd, uint(cmd), decodeTermios(buf))
	case unix.TIOCGWINSZ:
		ws, err := unix.IoctlGetWinsize(f.fd, unix.TIOCGWINSZ)
		if err != nil {
			return 0, err
		}
		b := make([]byte, 8)
		binary.LittleEndian.PutUint16(b[0:], ws.Row)
		binary.LittleEndian.PutUint16(b[2:], ws.Col)
		binary.LittleEndian.PutUint16(b[4:], ws.Xpixel)
		binary.LittleEndian.PutUint16(b[6:], ws.Ypixel)
		return 0, io.CopyOut(addr, b)
	case unix.TIOCSWINSZ:
		b := make([]byte, 8)
		if err := io.CopyIn(addr, b); err != nil {
			return 0, err
		}
		ws := unix.Winsize{
			Row: binary.LittleEndian.Uint16(b[0:]), Col: binary.LittleEndian.Uint16(b[2:]),
			Xpixel: binary.LittleEndian.Uint16(b[4:]), Ypixel: binary.LittleEndian.Uint16(b[6:]),
		}
		return 0, unix.IoctlSetWinsize(f.fd, unix.TIOCSWINSZ, &ws)
	case unix.TCFLSH:
		if arg > 2 {
			return 0, unix.EINVAL
		}
		return 0, unix.IoctlSetInt(f.fd, unix.TCFLSH, int(arg))
	}
	if t == nil {
		return 0, unix.ENOTTY
	}
	return f.jobControlIoctl(t, io, cmd, addr, arg)
}

// jobControlIoctl implements the terminal ioctls that are about sessions
// and process groups, which the Sentry keeps (tty_ioctl(4)).
func (f *File) jobControlIoctl(t *kernel.Task, io vfs.UserMemory, cmd uint32, addr uintptr, arg uint64) (uint64, error) {
	tty := f.ino.jc
	switch cmd {
	case unix.TIOCGPGRP:
		pg, err := t.ForegroundProcessGroup(tty)
		if err != nil {
			return 0, err
		}
		return 0, putU32(io, addr, uint32(pg))
	case unix.TIOCSPGRP:
		b := make([]byte, 4)
		if err := io.CopyIn(addr, b); err != nil {
			return 0, err
		}
		return 0, t.SetForegroundProcessGroup(tty, kernel.ThreadID(int32(binary.LittleEndian.Uint32(b))))
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

func putU32(io vfs.UserMemory, addr uintptr, v uint32) error {
	b := make([]byte, 4)
	binary.LittleEndian.PutUint32(b, v)
	return io.CopyOut(addr, b)
}

// termiosSize is sizeof(struct termios) of the kernel ioctl ABI (not
// glibc's larger struct).
const termiosSize = 36

func encodeTermios(t *unix.Termios) []byte {
	b := make([]byte, termiosSize)
	binary.LittleEndian.PutUint32(b[0:], t.Iflag)
	binary.LittleEndian.PutUint32(b[4:], t.Oflag)
	binary.LittleEndian.PutUint32(b[8:], t.Cflag)
	binary.LittleEndian.PutUint32(b[12:], t.Lflag)
	b[16] = t.Line
	copy(b[17:36], t.Cc[:19])
	return b
}

func decodeTermios(b []byte) *unix.Termios {
	t := &unix.Termios{
		Iflag: binary.LittleEndian.Uint32(b[0:]), Oflag: binary.LittleEndian.Uint32(b[4:]),
		Cflag: binary.LittleEndian.Uint32(b[8:]), Lflag: binary.LittleEndian.Uint32(b[12:]),
		Line: b[16],
	}
	copy(t.Cc[:19], b[17:36])
	// Keep the host's speeds.
	return t
}

// Release implements vfs.FileImpl.
func (f *File) Release() {
	f.release.Do(func() {
		if f.pollable {
			fdnotify.Remove(f.fd)
		}
		if f.closeFD {
			unix.Close(f.fd)
		}
		f.ino.decRef()
	})
}

// inode is the Inode of a host file: Stat is the host's fstat (with the
// device remapped); attributes cannot be changed (EPERM). Open reopens
// the file on a dup of the host descriptor (see the package comment).
type inode struct {
	vfs.InodeDefaults
	ftype uint32
	acc   uint32 // access mode of the host descriptor (O_ACCMODE bits)
	tty   bool
	// jc is the terminal's job-control state, and term the terminal (a
	// terminal only).
	jc   *kernel.TTY
	term *Terminal

	mu sync.Mutex
	// fd is the host descriptor given to NewFile, -1 once every File of
	// the inode is released (so that a reused descriptor number is
	// never touched).
	fd   int
	own  bool // fd is closed when refs drops to 0
	refs int  // Files of the inode: the original and its reopens
}

var (
	_ vfs.Inode        = (*inode)(nil)
	_ vfs.TypeReporter = (*inode)(nil)
)

var hostDev = vfs.NewAnonDev()

func (i *inode) decRef() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.refs--
	if i.refs > 0 || i.fd < 0 {
		return
	}
	if i.own {
		unix.Close(i.fd)
	}
	i.fd = -1
	if i.term != nil {
		i.term.remove(i)
	}
}

// FileType implements vfs.TypeReporter.
func (i *inode) FileType() uint32 { return i.ftype }

// Stat implements vfs.Inode.Stat.
func (i *inode) Stat(vfs.Context) (vfs.Stat, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.fd < 0 {
		return vfs.Stat{}, unix.EBADF
	}
	var st unix.Stat_t
	if err := unix.Fstat(i.fd, &st); err != nil {
		return vfs.Stat{}, err
	}
	return vfs.Stat{
		Dev: hostDev, Ino: st.Ino, Mode: st.Mode, Nlink: uint32(st.Nlink), UID: st.Uid, GID: st.Gid,
		Rdev: st.Rdev, Size: st.Size, Blksize: st.Blksize, Blocks: st.Blocks,
		Atime: st.Atim, Mtime: st.Mtim, Ctime: st.Ctim,
	}, nil
}

// Open implements vfs.Inode.Open: a reopen through /proc/<pid>/fd/N gets a
// new File on a dup of the host descriptor, if the host descriptor's
// access mode allows the requested one (EACCES otherwise). Sockets give
// ENXIO. O_TRUNC and O_APPEND do not reach the host. A terminal may become
// the caller's controlling terminal.
func (i *inode) Open(ctx vfs.Context, flags uint32) (vfs.FileImpl, error) {
	f, err := i.reopen(flags)
	if err != nil {
		return nil, err
	}
	if i.tty {
		openedTTY(ctx, i.jc, flags)
	}
	return f, nil
}

// reopen makes the File of a reopen (see Open).
func (i *inode) reopen(flags uint32) (*File, error) {
	switch i.ftype {
	case unix.S_IFSOCK:
		return nil, unix.ENXIO
	case unix.S_IFDIR:
		return nil, unix.EISDIR
	}
	hostRead := i.acc == unix.O_RDONLY || i.acc == unix.O_RDWR
	hostWrite := i.acc == unix.O_WRONLY || i.acc == unix.O_RDWR
	acc := flags & unix.O_ACCMODE
	if (acc != unix.O_WRONLY && !hostRead) || (acc != unix.O_RDONLY && !hostWrite) {
		return nil, unix.EACCES
	}
	i.mu.Lock()
	if i.fd < 0 {
		// Every description of the file went away meanwhile.
		i.mu.Unlock()
		return nil, unix.ENXIO
	}
	nfd, err := unix.FcntlInt(uintptr(i.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		i.mu.Unlock()
		return nil, err
	}
	i.refs++
	i.mu.Unlock()
	return newFile(nfd, true, i), nil
}
