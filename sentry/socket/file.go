package socket

import (
	"bytes"
	"encoding/binary"
	"strconv"

	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/waiter"
	"golang.org/x/sys/unix"
)

// File is the open file description of a socket: read(2), write(2),
// ioctl(2), poll and close go through it to its Endpoint; the socket
// system calls reach the Endpoint with FromFile.
type File struct {
	ep Endpoint
	st *Stack
}

var _ vfs.FileImpl = (*File)(nil)

// NewFile returns a new open file description (one reference) for ep: an
// S_IFSOCK inode with mode 0777 owned by the caller, shown as
// "socket:[ino]" in /proc/PID/fd, read-write, O_NONBLOCK if nonblock.
func NewFile(ctx vfs.Context, st *Stack, ep Endpoint, nonblock bool) *vfs.FileDescription {
	ino := vfs.NewAnonInode(ctx, unix.S_IFSOCK|0o777)
	s, _ := ino.Stat(ctx)
	if is, ok := ep.(InodeSetter); ok {
		is.SetInode(ino, s.Ino)
	}
	flags := uint32(unix.O_RDWR)
	if nonblock {
		flags |= unix.O_NONBLOCK
	}
	return vfs.NewFileDescription(&File{ep: ep, st: st}, flags, ino,
		"socket:["+strconv.FormatUint(s.Ino, 10)+"]")
}

// InodeSetter endpoints learn the inode of their file when NewFile makes
// it: its number is what /proc/net files show, its mode what a unix
// socket's bound file gets (fchmod before bind changes it).
type InodeSetter interface {
	SetInode(ino vfs.Inode, number uint64)
}

// FromFile returns the socket behind an open file, or ENOTSOCK.
func FromFile(f *vfs.FileDescription) (*File, error) {
	if s, ok := f.Impl().(*File); ok {
		return s, nil
	}
	return nil, unix.ENOTSOCK
}

// Endpoint returns the socket's endpoint.
func (f *File) Endpoint() Endpoint { return f.ep }

// Stack returns the stack the socket belongs to.
func (f *File) Stack() *Stack { return f.st }

// Read implements vfs.FileImpl: recv(2) without flags. Descriptors sent
// with the data are closed, as a recvmsg without room for them would.
func (f *File) Read(ctx vfs.Context, dst []byte, _ int64, nonblock bool) (int, error) {
	if len(dst) == 0 {
		// sock_read_iter: a zero-length read returns at once.
		return 0, nil
	}
	m := &RecvMsg{Data: Bytes(dst)}
	n, err := f.ep.RecvMsg(ctx, m, f.ep.Sock().RecvWait(nonblock))
	for _, r := range m.Rights {
		r.DecRef()
	}
	return n, err
}

// Write implements vfs.FileImpl: send(2) without flags. Endpoints send
// SIGPIPE themselves when Linux's protocol code does (a stream whose peer
// is gone; not datagram or seqpacket sockets), so the write path of the
// syscall layer must not add one for sockets.
func (f *File) Write(ctx vfs.Context, src []byte, _ int64, nonblock bool) (int, error) {
	flags := 0
	if f.ep.Sock().Type == unix.SOCK_SEQPACKET {
		flags = unix.MSG_EOR
	}
	m := &SendMsg{Data: Bytes(src), Flags: flags}
	n, err := f.ep.SendMsg(ctx, m, f.ep.Sock().SendWait(nonblock))
	return n, err
}

// Ioctl implements vfs.FileImpl: the family's ioctls (FIONREAD,
// TIOCOUTQ, ...) and the interface queries every socket answers
// (SIOCGIFNAME, SIOCGIFINDEX, SIOCGIFFLAGS, SIOCGIFMTU, SIOCGIFTXQLEN,
// SIOCGIFHWADDR, SIOCGIFMETRIC, SIOCGIFCONF; netdevice(7)).
func (f *File) Ioctl(ctx vfs.Context, io vfs.UserMemory, cmd uint32, arg uint64) (uint64, error) {
	switch cmd {
	case unix.SIOCGIFNAME, unix.SIOCGIFINDEX, unix.SIOCGIFFLAGS, unix.SIOCGIFMTU,
		unix.SIOCGIFTXQLEN, unix.SIOCGIFHWADDR, unix.SIOCGIFMETRIC:
		return 0, ifreqIoctl(f.st.Network(), io, cmd, uintptr(arg))
	case unix.SIOCGIFCONF:
		return 0, ifconf(f.st.Network(), io, uintptr(arg))
	}
	return f.ep.Ioctl(ctx, io, cmd, arg)
}

// sizeofIfreq is sizeof(struct ifreq): a 16-byte name and a 24-byte union.
const sizeofIfreq = 40

func findInterface(n Network, match func(*Interface) bool) *Interface {
	for _, ifc := range n.Interfaces() {
		if match(&ifc) {
			return &ifc
		}
	}
	return nil
}

func ifreqIoctl(n Network, io vfs.UserMemory, cmd uint32, addr uintptr) error {
	var req [sizeofIfreq]byte
	if err := io.CopyIn(addr, req[:]); err != nil {
		return unix.EFAULT
	}
	var ifc *Interface
	if cmd == unix.SIOCGIFNAME {
		idx := int32(binary.LittleEndian.Uint32(req[16:]))
		ifc = findInterface(n, func(i *Interface) bool { return i.Index == idx })
	} else {
		name := req[:unix.IFNAMSIZ-1]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		ifc = findInterface(n, func(i *Interface) bool { return i.Name == string(name) })
	}
	if ifc == nil {
		return unix.ENODEV
	}
	u := req[16:]
	switch cmd {
	case unix.SIOCGIFNAME:
		clear(req[:16])
		copy(req[:unix.IFNAMSIZ-1], ifc.Name)
	case unix.SIOCGIFINDEX:
		binary.LittleEndian.PutUint32(u, uint32(ifc.Index))
	case unix.SIOCGIFFLAGS:
		binary.LittleEndian.PutUint16(u, uint16(ifc.Flags))
	case unix.SIOCGIFMTU:
		binary.LittleEndian.PutUint32(u, ifc.MTU)
	case unix.SIOCGIFTXQLEN:
		binary.LittleEndian.PutUint32(u, ifc.TxQueueLen)
	case unix.SIOCGIFMETRIC:
		binary.LittleEndian.PutUint32(u, 0)
	case unix.SIOCGIFHWADDR:
		clear(u)
		binary.LittleEndian.PutUint16(u, ifc.Type)
		copy(u[2:16], ifc.HWAddr)
	}
	return io.CopyOut(addr, req[:])
}

// ifconf implements SIOCGIFCONF: one struct ifreq per IPv4 address
// (name and sockaddr_in), or with a null buffer the length needed.
func ifconf(n Network, io vfs.UserMemory, addr uintptr) error {
	var hdr [16]byte // struct ifconf: int ifc_len, padding, pointer
	if err := io.CopyIn(addr, hdr[:]); err != nil {
		return unix.EFAULT
	}
	room := int(int32(binary.LittleEndian.Uint32(hdr[:])))
	buf := uintptr(binary.LittleEndian.Uint64(hdr[8:]))
	done := 0
	for _, ifc := range n.Interfaces() {
		for _, a := range ifc.Addrs {
			if a.Family != unix.AF_INET {
				continue
			}
			if buf == 0 {
				done += sizeofIfreq
				continue
			}
			if room-done < sizeofIfreq {
				break
			}
			var req [sizeofIfreq]byte
			name := a.Label
			if name == "" {
				name = ifc.Name
			}
			copy(req[:unix.IFNAMSIZ-1], name)
			binary.LittleEndian.PutUint16(req[16:], unix.AF_INET)
			copy(req[20:24], a.Addr)
			if err := io.CopyOut(buf+uintptr(done), req[:]); err != nil {
				return unix.EFAULT
			}
			done += sizeofIfreq
		}
	}
	binary.LittleEndian.PutUint32(hdr[:], uint32(done))
	return io.CopyOut(addr, hdr[:4])
}

// Readiness implements waiter.Waitable.
func (f *File) Readiness(mask waiter.EventMask) waiter.EventMask { return f.ep.Readiness(mask) }

// EventRegister implements waiter.Waitable.
func (f *File) EventRegister(e *waiter.Entry) { f.ep.EventRegister(e) }

// EventUnregister implements waiter.Waitable.
func (f *File) EventUnregister(e *waiter.Entry) { f.ep.EventUnregister(e) }

// Release implements vfs.FileImpl.
func (f *File) Release() { f.ep.Release() }
