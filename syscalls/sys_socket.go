package syscalls

// Sockets: socket(2), socketpair(2), bind(2), listen(2), accept(2),
// accept4(2), connect(2), getsockname(2), getpeername(2), send(2) and
// recv(2) and their vectored and batched forms, shutdown(2),
// getsockopt(2), setsockopt(2). Handlers decode the arguments (addresses,
// msghdr, control messages, descriptor passing) and call the family's
// socket.Endpoint; sentry/socket/unix implements AF_UNIX and
// sentry/socket/netlink AF_NETLINK. Families without an implementation
// (AF_INET and AF_INET6 until the sandbox has a network stack, AF_PACKET,
// AF_VSOCK, ...) give EAFNOSUPPORT, as a kernel built without them: glibc
// and python then fall back or report the family as unavailable.

import (
	"encoding/binary"
	"strconv"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/socket"
	_ "github.com/veil-sandbox/veil/sentry/socket/inet"    // AF_INET, AF_INET6
	_ "github.com/veil-sandbox/veil/sentry/socket/netlink" // AF_NETLINK
	_ "github.com/veil-sandbox/veil/sentry/socket/unix"    // AF_UNIX
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

func init() {
	register(unix.SYS_SOCKET, "socket", sysSocket, Int, Hex, Int).partial("AF_UNIX, AF_NETLINK (NETLINK_ROUTE) and AF_INET/AF_INET6 (TCP, UDP, ICMP ping; served by the Sentry's TCP/IP stack, or by host sockets with --network=host; SOCK_RAW only with runsc --net-raw on the Sentry's stack, else EPERM); other families give EAFNOSUPPORT, other netlink protocols (sock_diag, audit, ...) EPROTONOSUPPORT")
	register(unix.SYS_SOCKETPAIR, "socketpair", sysSocketpair, Int, Hex, Int, Hex)
	register(unix.SYS_BIND, "bind", sysBind, FD, Hex, Int)
	register(unix.SYS_LISTEN, "listen", sysListen, FD, Int)
	register(unix.SYS_ACCEPT, "accept", sysAccept, FD, Hex, Hex)
	register(unix.SYS_ACCEPT4, "accept4", sysAccept4, FD, Hex, Hex, Hex)
	register(unix.SYS_CONNECT, "connect", sysConnect, FD, Hex, Int)
	register(unix.SYS_GETSOCKNAME, "getsockname", sysGetsockname, FD, Hex, Hex)
	register(unix.SYS_GETPEERNAME, "getpeername", sysGetpeername, FD, Hex, Hex)
	register(unix.SYS_SENDTO, "sendto", sysSendto, FD, Buf, Int, Hex, Hex, Int)
	register(unix.SYS_RECVFROM, "recvfrom", sysRecvfrom, FD, Hex, Int, Hex, Hex, Hex)
	register(unix.SYS_SENDMSG, "sendmsg", sysSendmsg, FD, Hex, Hex).partial("MSG_OOB: EOPNOTSUPP; SOL_SOCKET control messages other than SCM_RIGHTS and SCM_CREDENTIALS: EINVAL; IP sockets take IP_TTL, IPV6_HOPLIMIT and IPV6_PKTINFO; IP_PKTINFO, IP_TOS, IPV6_TCLASS and other IP-level ones: EINVAL")
	register(unix.SYS_RECVMSG, "recvmsg", sysRecvmsg, FD, Hex, Hex).partial("MSG_OOB: EOPNOTSUPP; no SCM_TIMESTAMP*, SCM_SECURITY or SCM_PIDFD; IP sockets give IP_PKTINFO, IP_TTL, IP_TOS, IPV6_PKTINFO, IPV6_HOPLIMIT, IPV6_TCLASS; MSG_ERRQUEUE: EAGAIN (no error queue)")
	register(unix.SYS_SENDMMSG, "sendmmsg", sysSendmmsg, FD, Hex, Int, Hex)
	register(unix.SYS_RECVMMSG, "recvmmsg", sysRecvmmsg, FD, Hex, Int, Hex, Hex)
	register(unix.SYS_SHUTDOWN, "shutdown", sysShutdown, FD, Int)
	register(unix.SYS_GETSOCKOPT, "getsockopt", sysGetsockopt, FD, Int, Int, Hex, Hex).partial("SOL_SOCKET options of sockets(7) (IP sockets act on SO_REUSEADDR/REUSEPORT, SO_KEEPALIVE, SO_LINGER, SO_RCVBUF/SNDBUF, SO_BROADCAST); SO_TIMESTAMP*, SO_BINDTODEVICE, SO_ATTACH_FILTER, SO_PEEK_OFF and similar: ENOPROTOOPT. SOL_TCP: NODELAY, CORK, QUICKACK, KEEPIDLE/INTVL/CNT, USER_TIMEOUT, MAXSEG, SYNCNT, WINDOW_CLAMP, DEFER_ACCEPT, LINGER2, CONGESTION, INFO; SOL_IP: TTL, TOS, MULTICAST_TTL/LOOP/IF, ADD/DROP_MEMBERSHIP, PKTINFO, RECVTTL, RECVTOS, RECVERR, MTU_DISCOVER, HDRINCL; SOL_IPV6: V6ONLY, UNICAST_HOPS, MULTICAST_HOPS/LOOP/IF, JOIN/LEAVE_GROUP, RECVPKTINFO, RECVHOPLIMIT, RECVTCLASS, TCLASS, RECVERR; other IP options: ENOPROTOOPT")
	register(unix.SYS_SETSOCKOPT, "setsockopt", sysSetsockopt, FD, Int, Int, Hex, Int).partial("as getsockopt")

	socket.SetHooks(socket.Hooks{
		Unsupported: func(ctx vfs.Context, what string) {
			if t, ok := ctx.(*kernel.Task); ok {
				t.Kernel().CountUnimplemented(what)
			}
		},
		Creds: func(ctx vfs.Context) (scm, peer socket.Creds) {
			t, ok := ctx.(*kernel.Task)
			if !ok {
				c := socket.Creds{PID: ctx.ProcessID(), UID: ctx.FSUID(), GID: ctx.FSGID()}
				return c, c
			}
			c := t.Credentials()
			pid := t.ProcessID()
			return socket.Creds{PID: pid, UID: c.UID, GID: c.GID}, socket.Creds{PID: pid, UID: c.EUID, GID: c.EGID}
		},
		SIGPIPE: func(ctx vfs.Context) {
			if t, ok := ctx.(*kernel.Task); ok {
				sendSIGPIPE(t)
			}
		},
		BindPath: func(ctx vfs.Context, path string, perm uint32) (vfs.Inode, error) {
			t := ctx.(*kernel.Task)
			return vfsOf(t).MknodSocket(t, t.FSContext().PathOp(vfs.VirtualDentry{}, path, false), perm)
		},
		UnlinkPath: func(ctx vfs.Context, path string) error {
			t := ctx.(*kernel.Task)
			return vfsOf(t).Unlink(t, t.FSContext().PathOp(vfs.VirtualDentry{}, path, false))
		},
		ConnectPath: func(ctx vfs.Context, path string) (vfs.Inode, error) {
			// unix_find_bsd: follow the path, need write permission,
			// and a socket node.
			t := ctx.(*kernel.Task)
			v := vfsOf(t)
			vd, err := v.GetDentry(t, t.FSContext().PathOp(vfs.VirtualDentry{}, path, true))
			if err != nil {
				return nil, err
			}
			if err := v.AccessAt(t, vd, unix.W_OK); err != nil {
				return nil, err
			}
			if vd.Dentry.FileType() != unix.S_IFSOCK {
				return nil, unix.ECONNREFUSED
			}
			return vd.Inode(), nil
		},
	})
}

// Linux ABI values for the socket calls.
const (
	// nproto is NPROTO (AF_MAX): families at or above it are
	// EAFNOSUPPORT.
	nproto = 46
	// uioMaxIOV is UIO_MAXIOV.
	uioMaxIOV = 1024
	// optmemMax is net.core.optmem_max: the largest control buffer
	// sendmsg accepts (ENOBUFS beyond).
	optmemMax = 131072
	// sizeofMsghdr and sizeofMmsghdr are sizeof(struct msghdr) and
	// sizeof(struct mmsghdr) on amd64.
	sizeofMsghdr  = 56
	sizeofMmsghdr = 64
	// sizeofCmsghdr is sizeof(struct cmsghdr).
	sizeofCmsghdr = 16
	// msgWaitForOne is MSG_WAITFORONE.
	msgWaitForOne = 0x10000
	// maxOptLen bounds the option values setsockopt copies in.
	maxOptLen = 64 << 10
)

// familyNames names the families socket(2) refuses, for --debug.
var familyNames = map[int]string{
	unix.AF_INET: "AF_INET", unix.AF_INET6: "AF_INET6", unix.AF_PACKET: "AF_PACKET",
	unix.AF_VSOCK: "AF_VSOCK", unix.AF_BLUETOOTH: "AF_BLUETOOTH", unix.AF_ALG: "AF_ALG",
	unix.AF_KEY: "AF_KEY", unix.AF_TIPC: "AF_TIPC", unix.AF_XDP: "AF_XDP", unix.AF_CAN: "AF_CAN",
	unix.AF_RDS: "AF_RDS", unix.AF_SMC: "AF_SMC", unix.AF_MPLS: "AF_MPLS", unix.AF_QIPCRTR: "AF_QIPCRTR",
}

func familyName(f int) string {
	if n, ok := familyNames[f]; ok {
		return n
	}
	return "family " + strconv.Itoa(f)
}

// stackOf is the socket stack of the task's sandbox.
func stackOf(t *kernel.Task) *socket.Stack {
	return socket.NamespaceStack(t.Kernel(), t.NetNamespace().Stack)
}

// isSocket reports whether f is a socket: sockets send SIGPIPE
// themselves, only when Linux's protocol code does.
func isSocket(f *vfs.FileDescription) bool {
	_, err := socket.FromFile(f)
	return err == nil
}

// sockOf returns the socket open as fd (EBADF, or ENOTSOCK for another
// file; O_PATH descriptors are EBADF as for sockfd_lookup). The caller
// DecRefs the file.
func sockOf(t *kernel.Task, fd int32) (*vfs.FileDescription, *socket.File, error) {
	f, err := ioFileOf(t, fd)
	if err != nil {
		return nil, nil, err
	}
	s, err := socket.FromFile(f)
	if err != nil {
		f.DecRef()
		return nil, nil, err
	}
	return f, s, nil
}

func nonblocking(f *vfs.FileDescription) bool { return f.StatusFlags()&unix.O_NONBLOCK != 0 }

// checkSocketType splits socket(2)'s type into the type and its flags
// (EINVAL for unknown flags or types).
func checkSocketType(typ int) (int, uint32, error) {
	flags := uint32(typ) &^ socket.SockTypeMask
	if flags&^(unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK) != 0 {
		return 0, 0, unix.EINVAL
	}
	typ &= socket.SockTypeMask
	if typ >= socket.SockMax {
		return 0, 0, unix.EINVAL
	}
	return typ, flags, nil
}

func lookupFamily(t *kernel.Task, family int) (socket.Family, error) {
	if family < 0 || family >= nproto {
		return nil, unix.EAFNOSUPPORT
	}
	f := stackOf(t).LookupFamily(family)
	if f == nil {
		return nil, unsupported(t, "socket("+familyName(family)+")", unix.EAFNOSUPPORT)
	}
	return f, nil
}

func installSocket(t *kernel.Task, ep socket.Endpoint, flags uint32) (int32, error) {
	file := socket.NewFile(t, stackOf(t), ep, flags&unix.SOCK_NONBLOCK != 0)
	defer file.DecRef()
	return t.FDTable().NewFD(0, file, flags&unix.SOCK_CLOEXEC != 0)
}

// sysSocket implements socket(2).
func sysSocket(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	domain, protocol := int(int32(a[0])), int(int32(a[2]))
	typ, flags, err := checkSocketType(int(int32(a[1])))
	if err != nil {
		return 0, err
	}
	fam, err := lookupFamily(t, domain)
	if err != nil {
		return 0, err
	}
	ep, err := fam.Socket(t, stackOf(t), typ, protocol)
	if err == unix.EPROTONOSUPPORT && domain == unix.AF_NETLINK {
		return 0, unsupported(t, "socket(AF_NETLINK, protocol "+strconv.Itoa(protocol)+")", err)
	}
	if err != nil {
		return 0, err
	}
	fd, err := installSocket(t, ep, flags)
	return uintptr(fd), err
}

// sysSocketpair implements socketpair(2).
func sysSocketpair(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	domain, protocol := int(int32(a[0])), int(int32(a[2]))
	typ, flags, err := checkSocketType(int(int32(a[1])))
	if err != nil {
		return 0, err
	}
	fam, err := lookupFamily(t, domain)
	if err != nil {
		return 0, err
	}
	ea, eb, err := fam.Pair(t, stackOf(t), typ, protocol)
	if err != nil {
		return 0, err
	}
	st := stackOf(t)
	nb := flags&unix.SOCK_NONBLOCK != 0
	fa, fb := socket.NewFile(t, st, ea, nb), socket.NewFile(t, st, eb, nb)
	defer fa.DecRef()
	defer fb.DecRef()
	fdt := t.FDTable()
	fds, err := fdt.NewFDs([]*vfs.FileDescription{fa, fb}, flags&unix.SOCK_CLOEXEC != 0)
	if err != nil {
		return 0, err
	}
	var b [8]byte
	binary.LittleEndian.PutUint32(b[0:], uint32(fds[0]))
	binary.LittleEndian.PutUint32(b[4:], uint32(fds[1]))
	if err := t.CopyOut(uintptr(a[3]), b[:]); err != nil {
		fdt.Remove(fds[0])
		fdt.Remove(fds[1])
		return 0, unix.EFAULT
	}
	return 0, nil
}

// copyInAddr reads a socket address (move_addr_to_kernel): EINVAL for a
// length below 0 or above sizeof(struct sockaddr_storage).
func copyInAddr(t *kernel.Task, addr uintptr, n int32) ([]byte, error) {
	if n < 0 || n > socket.SizeofSockaddrStorage {
		return nil, unix.EINVAL
	}
	b := make([]byte, n)
	if n > 0 {
		if err := t.CopyIn(addr, b); err != nil {
			return nil, unix.EFAULT
		}
	}
	return b, nil
}

// copyOutAddr writes an address back (move_addr_to_user): as much as the
// caller's *lenAddr allows, and the full length to *lenAddr.
func copyOutAddr(t *kernel.Task, addr, lenAddr uintptr, sa []byte) error {
	var lb [4]byte
	if err := t.CopyIn(lenAddr, lb[:]); err != nil {
		return unix.EFAULT
	}
	n := int32(binary.LittleEndian.Uint32(lb[:]))
	if n < 0 {
		return unix.EINVAL
	}
	if int(n) > len(sa) {
		n = int32(len(sa))
	}
	if n > 0 {
		if err := t.CopyOut(addr, sa[:n]); err != nil {
			return unix.EFAULT
		}
	}
	binary.LittleEndian.PutUint32(lb[:], uint32(len(sa)))
	if err := t.CopyOut(lenAddr, lb[:]); err != nil {
		return unix.EFAULT
	}
	return nil
}

// sysBind implements bind(2).
func sysBind(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	f, s, err := sockOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	addr, err := copyInAddr(t, uintptr(a[1]), int32(a[2]))
	if err != nil {
		return 0, err
	}
	return 0, s.Endpoint().Bind(t, addr)
}

// sysListen implements listen(2); backlogs above somaxconn (and negative
// ones, compared unsigned) are somaxconn.
func sysListen(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	f, s, err := sockOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	backlog := uint32(a[1])
	if backlog > socket.SoMaxConn {
		backlog = socket.SoMaxConn
	}
	return 0, s.Endpoint().Listen(t, int(backlog))
}

func sysAccept(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return accept(t, int32(a[0]), uintptr(a[1]), uintptr(a[2]), 0)
}

func sysAccept4(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return accept(t, int32(a[0]), uintptr(a[1]), uintptr(a[2]), int(int32(a[3])))
}

// accept implements accept4(2): the new socket gets a descriptor only once
// its peer's address was written (a fault loses the connection, as on
// Linux); EMFILE is checked before taking a connection.
func accept(t *kernel.Task, fd int32, addr, addrLen uintptr, flags int) (uintptr, error) {
	if flags&^(unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK) != 0 {
		return 0, unix.EINVAL
	}
	f, s, err := sockOf(t, fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	fdt := t.FDTable()
	if fdt.Count() >= int(fdt.Limit()) {
		return 0, unix.EMFILE
	}
	ep := s.Endpoint()
	n, err := ep.Accept(t, ep.Sock().RecvWait(nonblocking(f)))
	if err != nil {
		return 0, err
	}
	file := socket.NewFile(t, s.Stack(), n, flags&unix.SOCK_NONBLOCK != 0)
	defer file.DecRef()
	if addr != 0 {
		peer, err := n.PeerName()
		if err != nil {
			return 0, unix.ECONNABORTED
		}
		if err := copyOutAddr(t, addr, addrLen, peer); err != nil {
			return 0, err
		}
	}
	nfd, err := fdt.NewFD(0, file, flags&unix.SOCK_CLOEXEC != 0)
	return uintptr(nfd), err
}

// sysConnect implements connect(2); a blocking connect waits at most
// SO_SNDTIMEO.
func sysConnect(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	f, s, err := sockOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	addr, err := copyInAddr(t, uintptr(a[1]), int32(a[2]))
	if err != nil {
		return 0, err
	}
	ep := s.Endpoint()
	return 0, ep.Connect(t, addr, ep.Sock().SendWait(nonblocking(f)))
}

func sysGetsockname(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	f, s, err := sockOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	return 0, copyOutAddr(t, uintptr(a[1]), uintptr(a[2]), s.Endpoint().SockName())
}

func sysGetpeername(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	f, s, err := sockOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	peer, err := s.Endpoint().PeerName()
	if err != nil {
		return 0, err
	}
	return 0, copyOutAddr(t, uintptr(a[1]), uintptr(a[2]), peer)
}

// sysShutdown implements shutdown(2).
func sysShutdown(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	f, s, err := sockOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	how := int(int32(a[1]))
	if how < unix.SHUT_RD || how > unix.SHUT_RDWR {
		return 0, unix.EINVAL
	}
	return 0, s.Endpoint().Shutdown(t, how)
}

// sockIO is a socket.IO over the caller's iovecs.
type sockIO struct {
	t     *kernel.Task
	segs  []seg
	total int
}

func newSockIO(t *kernel.Task, segs []seg) *sockIO {
	return &sockIO{t: t, segs: segs, total: totalLen(segs)}
}

func (s *sockIO) Len() int { return s.total }

// each calls fn for the pieces of segments covering [off, off+n).
func (s *sockIO) each(off, n int, fn func(addr uintptr, lo, hi int) (int, error)) (int, error) {
	done := 0
	pos := 0
	for _, sg := range s.segs {
		if done == n {
			break
		}
		if off >= pos+sg.n {
			pos += sg.n
			continue
		}
		start := max(off+done-pos, 0)
		c := min(sg.n-start, n-done)
		got, err := fn(sg.addr+uintptr(start), done, done+c)
		done += got
		if err != nil || got < c {
			return done, unix.EFAULT
		}
		pos += sg.n
	}
	return done, nil
}

func (s *sockIO) CopyIn(off int, dst []byte) (int, error) {
	mm := s.t.MemoryManager()
	return s.each(off, min(len(dst), s.total-off), func(addr uintptr, lo, hi int) (int, error) {
		return mm.CopyIn(addr, dst[lo:hi])
	})
}

func (s *sockIO) CopyOut(off int, src []byte) (int, error) {
	mm := s.t.MemoryManager()
	return s.each(off, min(len(src), s.total-off), func(addr uintptr, lo, hi int) (int, error) {
		return mm.CopyOut(addr, src[lo:hi])
	})
}

// msghdr is a decoded struct msghdr.
type msghdr struct {
	name       uintptr
	namelen    int32
	iov        uintptr
	iovlen     uint64
	control    uintptr
	controllen uint64
}

func copyInMsghdr(t *kernel.Task, addr uintptr) (msghdr, error) {
	var b [sizeofMsghdr]byte
	if err := t.CopyIn(addr, b[:]); err != nil {
		return msghdr{}, unix.EFAULT
	}
	le := binary.LittleEndian
	h := msghdr{
		name:       uintptr(le.Uint64(b[0:])),
		namelen:    int32(le.Uint32(b[8:])),
		iov:        uintptr(le.Uint64(b[16:])),
		iovlen:     le.Uint64(b[24:]),
		control:    uintptr(le.Uint64(b[32:])),
		controllen: le.Uint64(b[40:]),
	}
	if h.iovlen > uioMaxIOV {
		return msghdr{}, unix.EMSGSIZE
	}
	return h, nil
}

// sendmsg sends one decoded message (____sys_sendmsg).
func sendmsg(t *kernel.Task, f *vfs.FileDescription, s *socket.File, h msghdr, flags int) (int, error) {
	var to []byte
	if h.name != 0 && h.namelen != 0 {
		if h.namelen < 0 {
			return 0, unix.EINVAL
		}
		var err error
		if to, err = copyInAddr(t, h.name, min(h.namelen, socket.SizeofSockaddrStorage)); err != nil {
			return 0, err
		}
	}
	segs, err := copyInIovecs(t, h.iov, h.iovlen)
	if err != nil {
		return 0, err
	}
	m := &socket.SendMsg{Data: newSockIO(t, segs), To: to, Flags: flags}
	if h.controllen > 0 {
		if h.controllen > optmemMax {
			return 0, unix.ENOBUFS
		}
		ctl := make([]byte, h.controllen)
		if err := t.CopyIn(h.control, ctl); err != nil {
			return 0, unix.EFAULT
		}
		rights, creds, other, err := parseControl(t, s, ctl)
		defer func() {
			for _, r := range rights {
				r.DecRef()
			}
		}()
		if err != nil {
			return 0, err
		}
		m.Rights, m.Creds, m.Control = rights, creds, other
	}
	ep := s.Endpoint()
	return ep.SendMsg(t, m, ep.Sock().SendWait(nonblocking(f) || flags&unix.MSG_DONTWAIT != 0))
}

// parseControl decodes sendmsg's control messages (__scm_send): files of
// SCM_RIGHTS (AF_UNIX only, at most SCM_MAX_FD, EBADF for a bad
// descriptor, O_PATH ones allowed), SCM_CREDENTIALS checked against the
// sender's identity; other SOL_SOCKET types are EINVAL and other levels
// are returned for the family (IP_TTL, ...). The caller releases the
// returned files.
func parseControl(t *kernel.Task, s *socket.File, ctl []byte) ([]*vfs.FileDescription, *socket.Creds, []socket.Cmsg, error) {
	var rights []*vfs.FileDescription
	var creds *socket.Creds
	var other []socket.Cmsg
	le := binary.LittleEndian
	for off := 0; len(ctl)-off >= sizeofCmsghdr; {
		clen := le.Uint64(ctl[off:])
		level := int32(le.Uint32(ctl[off+8:]))
		typ := int32(le.Uint32(ctl[off+12:]))
		if clen < sizeofCmsghdr || clen > uint64(len(ctl)-off) {
			return rights, nil, nil, unix.EINVAL
		}
		data := ctl[off+sizeofCmsghdr : off+int(clen)]
		off += cmsgAlign(int(clen))
		if level != unix.SOL_SOCKET {
			other = append(other, socket.Cmsg{Level: level, Type: typ, Data: data})
			continue
		}
		switch typ {
		case unix.SCM_RIGHTS:
			if s.Endpoint().Sock().Family != unix.AF_UNIX {
				return rights, nil, nil, unix.EINVAL
			}
			n := len(data) / 4
			if len(rights)+n > socket.SCMMaxFD {
				return rights, nil, nil, unix.EINVAL
			}
			for i := 0; i < n; i++ {
				fd := int32(le.Uint32(data[4*i:]))
				file, _, err := t.FDTable().Get(fd)
				if err != nil || file == nil {
					return rights, nil, nil, unix.EBADF
				}
				rights = append(rights, file)
			}
		case unix.SCM_CREDENTIALS:
			if clen != sizeofCmsghdr+socket.SizeofUcred {
				return rights, nil, nil, unix.EINVAL
			}
			c, err := checkCreds(t, socket.Creds{PID: int32(le.Uint32(data)), UID: le.Uint32(data[4:]), GID: le.Uint32(data[8:])})
			if err != nil {
				return rights, nil, nil, err
			}
			creds = &c
		default:
			return rights, nil, nil, unix.EINVAL
		}
	}
	return rights, creds, other, nil
}

func cmsgAlign(n int) int { return (n + 7) &^ 7 }

// checkCreds is scm_check_creds: a process may claim its own pid (or any,
// with CAP_SYS_ADMIN) and its real, effective or saved ids (or any, with
// CAP_SETUID and CAP_SETGID); the pid must exist. c is as the sender sees
// it (its pid and user namespaces: unmapped ids are EINVAL); the result
// has the kernel's ids, which the receiver sees through viewCreds.
func checkCreds(t *kernel.Task, c socket.Creds) (socket.Creds, error) {
	ns := t.UserNamespace()
	uid, uidMapped := ns.MapUID(c.UID)
	gid, gidMapped := ns.MapGID(c.GID)
	if c.UID == ^uint32(0) || c.GID == ^uint32(0) || !uidMapped || !gidMapped {
		return c, unix.EINVAL
	}
	cr := t.Credentials()
	pidOK := c.PID == int32(t.PID()) || cr.HasCapability(unix.CAP_SYS_ADMIN)
	uidOK := uid == cr.UID || uid == cr.EUID || uid == cr.SUID || cr.HasCapability(unix.CAP_SETUID)
	gidOK := gid == cr.GID || gid == cr.EGID || gid == cr.SGID || cr.HasCapability(unix.CAP_SETGID)
	if !pidOK || !uidOK || !gidOK {
		return c, unix.EPERM
	}
	tg, err := t.LookupProcess(kernel.ThreadID(c.PID))
	if err != nil {
		return c, unix.ESRCH
	}
	return socket.Creds{PID: int32(tg.ID()), UID: uid, GID: gid}, nil
}

// ucredBytes is c as a struct ucred.
func ucredBytes(c socket.Creds) []byte {
	b := make([]byte, socket.SizeofUcred)
	binary.LittleEndian.PutUint32(b, uint32(c.PID))
	binary.LittleEndian.PutUint32(b[4:], c.UID)
	binary.LittleEndian.PutUint32(b[8:], c.GID)
	return b
}

// viewCreds is what t sees of credentials the socket layer recorded with
// the kernel's ids (cred_to_ucred, scm_recv): the pid in t's pid
// namespace (0 outside it), the ids in its user namespace (the overflow
// ids where unmapped).
func viewCreds(t *kernel.Task, c socket.Creds) socket.Creds {
	ns := t.UserNamespace()
	return socket.Creds{PID: t.ViewPID(c.PID), UID: ns.ViewUID(c.UID), GID: ns.ViewGID(c.GID)}
}

// sysSendto implements sendto(2) and send(2).
func sysSendto(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	f, s, err := sockOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	flags := int(int32(a[3]))
	var to []byte
	if a[4] != 0 {
		if to, err = copyInAddr(t, uintptr(a[4]), int32(a[5])); err != nil {
			return 0, err
		}
	}
	m := &socket.SendMsg{Data: newSockIO(t, []seg{{uintptr(a[1]), clampCount(a[2])}}), To: to, Flags: flags}
	ep := s.Endpoint()
	n, err := ep.SendMsg(t, m, ep.Sock().SendWait(nonblocking(f) || flags&unix.MSG_DONTWAIT != 0))
	return uintptr(n), err
}

// sysSendmsg implements sendmsg(2).
func sysSendmsg(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	f, s, err := sockOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	h, err := copyInMsghdr(t, uintptr(a[1]))
	if err != nil {
		return 0, err
	}
	n, err := sendmsg(t, f, s, h, int(int32(a[2])))
	return uintptr(n), err
}

// sysSendmmsg implements sendmmsg(2): it stops at the first error,
// returning the count sent if any.
func sysSendmmsg(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	f, s, err := sockOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	vec, vlen, flags := uintptr(a[1]), min(uint32(a[2]), uioMaxIOV), int(int32(a[3]))
	sent := 0
	for i := uint32(0); i < vlen; i++ {
		addr := vec + uintptr(i)*sizeofMmsghdr
		h, err := copyInMsghdr(t, addr)
		var n int
		if err == nil {
			n, err = sendmsg(t, f, s, h, flags)
		}
		if err == nil {
			var b [4]byte
			binary.LittleEndian.PutUint32(b[:], uint32(n))
			if t.CopyOut(addr+sizeofMsghdr, b[:]) != nil {
				err = unix.EFAULT
			}
		}
		if err != nil {
			if sent > 0 {
				return uintptr(sent), nil
			}
			return 0, err
		}
		sent++
	}
	return uintptr(sent), nil
}

// recvResult is what recvmsg reports besides the byte count.
type recvResult struct {
	from       []byte
	flags      int
	controllen int
}

// recvmsg receives one message into h's buffers (____sys_recvmsg) and
// writes its control messages (put_cmsg, scm_detach_fds).
func recvmsg(t *kernel.Task, f *vfs.FileDescription, s *socket.File, h msghdr, flags int) (int, recvResult, error) {
	segs, err := copyInIovecs(t, h.iov, h.iovlen)
	if err != nil {
		return 0, recvResult{}, err
	}
	ep := s.Endpoint()
	m := &socket.RecvMsg{Data: newSockIO(t, segs), Flags: flags}
	n, err := ep.RecvMsg(t, m, ep.Sock().RecvWait(nonblocking(f) || flags&unix.MSG_DONTWAIT != 0))
	if err != nil {
		for _, r := range m.Rights {
			r.DecRef()
		}
		return 0, recvResult{}, err
	}
	res := recvResult{from: m.From, flags: m.OutFlags | flags&unix.MSG_CMSG_CLOEXEC}
	cw := cmsgWriter{t: t, addr: h.control, room: int(min(h.controllen, 1<<31-1))}
	for _, c := range m.Control {
		cw.put(c.Level, c.Type, c.Data)
	}
	if m.Creds != nil {
		cw.put(unix.SOL_SOCKET, unix.SCM_CREDENTIALS, ucredBytes(viewCreds(t, *m.Creds)))
	}
	if len(m.Rights) > 0 {
		cw.rights(m.Rights, flags&unix.MSG_CMSG_CLOEXEC != 0)
	}
	res.flags |= cw.flags
	res.controllen = cw.used
	if cw.err != nil {
		return 0, recvResult{}, cw.err
	}
	return n, res, nil
}

// cmsgWriter fills the caller's control buffer.
type cmsgWriter struct {
	t     *kernel.Task
	addr  uintptr
	room  int
	used  int
	flags int
	err   error
}

func (w *cmsgWriter) header(clen int, level, typ int32) []byte {
	b := make([]byte, sizeofCmsghdr)
	binary.LittleEndian.PutUint64(b, uint64(clen))
	binary.LittleEndian.PutUint32(b[8:], uint32(level))
	binary.LittleEndian.PutUint32(b[12:], uint32(typ))
	return b
}

// put is put_cmsg: a message that does not fit is cut (MSG_CTRUNC), one
// that has no room for its header is dropped (MSG_CTRUNC).
func (w *cmsgWriter) put(level, typ int32, data []byte) {
	if w.addr == 0 || w.room-w.used < sizeofCmsghdr {
		w.flags |= unix.MSG_CTRUNC
		return
	}
	clen := sizeofCmsghdr + len(data)
	if w.room-w.used < clen {
		w.flags |= unix.MSG_CTRUNC
		clen = w.room - w.used
	}
	b := append(w.header(clen, level, typ), data...)[:clen]
	if w.t.CopyOut(w.addr+uintptr(w.used), b) != nil {
		w.err = unix.EFAULT
		return
	}
	w.used += min(cmsgAlign(sizeofCmsghdr+len(data)), w.room-w.used)
}

// rights is scm_detach_fds: as many descriptors as fit are installed (the
// others are closed, MSG_CTRUNC); the references are the writer's to
// consume.
func (w *cmsgWriter) rights(files []*vfs.FileDescription, cloexec bool) {
	defer func() {
		for _, f := range files {
			f.DecRef()
		}
	}()
	max := 0
	if w.addr != 0 && w.room-w.used > sizeofCmsghdr {
		max = (w.room - w.used - sizeofCmsghdr) / 4
	}
	fdt := w.t.FDTable()
	var fds []int32
	for i := 0; i < min(max, len(files)); i++ {
		fd, err := fdt.NewFD(0, files[i], cloexec)
		if err != nil {
			break
		}
		fds = append(fds, fd)
	}
	if len(fds) < len(files) {
		w.flags |= unix.MSG_CTRUNC
	}
	if len(fds) == 0 {
		return
	}
	b := w.header(sizeofCmsghdr+4*len(fds), unix.SOL_SOCKET, unix.SCM_RIGHTS)
	for _, fd := range fds {
		b = binary.LittleEndian.AppendUint32(b, uint32(fd))
	}
	if w.t.CopyOut(w.addr+uintptr(w.used), b) != nil {
		w.err = unix.EFAULT
		return
	}
	w.used += min(cmsgAlign(len(b)), w.room-w.used)
}

// finishRecvmsg writes back msg_name/msg_namelen, msg_flags and
// msg_controllen of the msghdr at addr.
func finishRecvmsg(t *kernel.Task, addr uintptr, h msghdr, r recvResult) error {
	// Linux writes msg_namelen only with a name buffer.
	if h.name != 0 {
		if err := copyOutAddr(t, h.name, addr+8, r.from); err != nil {
			return err
		}
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(r.controllen))
	if err := t.CopyOut(addr+40, b[:]); err != nil {
		return unix.EFAULT
	}
	binary.LittleEndian.PutUint32(b[:4], uint32(r.flags))
	if err := t.CopyOut(addr+48, b[:4]); err != nil {
		return unix.EFAULT
	}
	return nil
}

// sysRecvfrom implements recvfrom(2) and recv(2).
func sysRecvfrom(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	f, s, err := sockOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	flags := int(int32(a[3]))
	ep := s.Endpoint()
	m := &socket.RecvMsg{Data: newSockIO(t, []seg{{uintptr(a[1]), clampCount(a[2])}}), Flags: flags}
	n, err := ep.RecvMsg(t, m, ep.Sock().RecvWait(nonblocking(f) || flags&unix.MSG_DONTWAIT != 0))
	for _, r := range m.Rights {
		r.DecRef()
	}
	if err != nil {
		return 0, err
	}
	if a[4] != 0 {
		if err := copyOutAddr(t, uintptr(a[4]), uintptr(a[5]), m.From); err != nil {
			return 0, err
		}
	}
	return uintptr(n), nil
}

// sysRecvmsg implements recvmsg(2).
func sysRecvmsg(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	f, s, err := sockOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	h, err := copyInMsghdr(t, uintptr(a[1]))
	if err != nil {
		return 0, err
	}
	n, r, err := recvmsg(t, f, s, h, int(int32(a[2])))
	if err != nil {
		return 0, err
	}
	if err := finishRecvmsg(t, uintptr(a[1]), h, r); err != nil {
		return 0, err
	}
	return uintptr(n), nil
}

// sysRecvmmsg implements recvmmsg(2): MSG_WAITFORONE makes every receive
// after the first non-blocking; the timeout is checked between messages
// (as Linux does, it does not bound a blocked receive) and the time left
// written back. An error after some messages becomes the socket's
// pending error (SO_ERROR), except EAGAIN.
func sysRecvmmsg(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	f, s, err := sockOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	vec, vlen, flags, tsAddr := uintptr(a[1]), min(uint32(a[2]), uioMaxIOV), int(int32(a[3])), uintptr(a[4])
	var pt pollTimeout
	if tsAddr != 0 {
		d, err := copyInPollTimespec(t, tsAddr)
		if err != nil {
			return 0, err
		}
		pt = newPollTimeout(d)
	}
	got := 0
	var rerr error
	for i := uint32(0); i < vlen; i++ {
		addr := vec + uintptr(i)*sizeofMmsghdr
		h, err := copyInMsghdr(t, addr)
		var n int
		var r recvResult
		if err == nil {
			n, r, err = recvmsg(t, f, s, h, flags)
		}
		if err == nil {
			err = finishRecvmsg(t, addr, h, r)
		}
		if err == nil {
			var b [4]byte
			binary.LittleEndian.PutUint32(b[:], uint32(n))
			if t.CopyOut(addr+sizeofMsghdr, b[:]) != nil {
				err = unix.EFAULT
			}
		}
		if err != nil {
			rerr = err
			break
		}
		got++
		if flags&msgWaitForOne != 0 {
			flags |= unix.MSG_DONTWAIT
		}
		if tsAddr != 0 && !pt.forever && (pt.zero || pt.remaining() == 0) {
			break
		}
	}
	if tsAddr != 0 {
		if err := pollFinish(t, tsAddr, false, pt, nil); err != nil && got == 0 {
			return 0, err
		}
	}
	if got == 0 {
		return 0, rerr
	}
	if rerr != nil && rerr != unix.EAGAIN {
		if e, ok := rerr.(unix.Errno); ok {
			s.Endpoint().Sock().SetError(e)
		}
	}
	return uintptr(got), nil
}

// sysSetsockopt implements setsockopt(2).
func sysSetsockopt(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	f, s, err := sockOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	level, name, optlen := int(int32(a[1])), int(int32(a[2])), int32(a[4])
	if optlen < 0 {
		return 0, unix.EINVAL
	}
	val := make([]byte, min(optlen, maxOptLen))
	if len(val) > 0 {
		if err := t.CopyIn(uintptr(a[3]), val); err != nil {
			return 0, unix.EFAULT
		}
	}
	ep := s.Endpoint()
	if level == unix.SOL_SOCKET {
		return 0, ep.Sock().SetSockOpt(t, ep, name, val, func(what string) { t.Kernel().CountUnimplemented(what) })
	}
	return 0, ep.SetSockOpt(t, level, name, val)
}

// sysGetsockopt implements getsockopt(2): the value is cut to the caller's
// optlen, which is set to the length written.
func sysGetsockopt(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	f, s, err := sockOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	level, name, valAddr, lenAddr := int(int32(a[1])), int(int32(a[2])), uintptr(a[3]), uintptr(a[4])
	var lb [4]byte
	if err := t.CopyIn(lenAddr, lb[:]); err != nil {
		return 0, unix.EFAULT
	}
	optlen := int32(binary.LittleEndian.Uint32(lb[:]))
	if optlen < 0 {
		return 0, unix.EINVAL
	}
	ep := s.Endpoint()
	var val []byte
	if level == unix.SOL_SOCKET {
		val, err = ep.Sock().GetSockOpt(ep, name, int(optlen), func(what string) { t.Kernel().CountUnimplemented(what) })
		if cr, ok := ep.Sock().PeerCred(); ok && err == nil && name == unix.SO_PEERCRED {
			// Recorded with the kernel's ids; the reader sees its own.
			val = ucredBytes(viewCreds(t, cr))
		}
	} else {
		val, err = ep.GetSockOpt(t, level, name, int(optlen))
	}
	if err != nil {
		return 0, err
	}
	n := min(int(optlen), len(val))
	if n > 0 {
		if err := t.CopyOut(valAddr, val[:n]); err != nil {
			return 0, unix.EFAULT
		}
	}
	binary.LittleEndian.PutUint32(lb[:], uint32(n))
	if err := t.CopyOut(lenAddr, lb[:]); err != nil {
		return 0, unix.EFAULT
	}
	return 0, nil
}
