package gofer

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// ServerOptions configures Serve.
type ServerOptions struct {
	// ReadOnly makes every mutating operation (Create, Mkdir, Symlink,
	// Link, Unlink, Rename, SetAttr, and Open for writing or with O_TRUNC)
	// fail with EROFS.
	ReadOnly bool
}

// maxInflight bounds the number of requests handled concurrently.
const maxInflight = 128

// node is the server's state for one FID: an O_PATH, O_NOFOLLOW descriptor.
// refs counts the fid table's reference plus one per in-flight operation, so
// that a concurrent Clunk never closes a descriptor that is still in use.
type node struct {
	fd   int
	mode uint32 // S_IFMT bits; the type of an inode never changes
	refs atomic.Int32
}

func (n *node) put() {
	if n.refs.Add(-1) == 0 {
		unix.Close(n.fd)
	}
}

type server struct {
	conn   *net.UnixConn
	opts   ServerOptions
	procFD int // O_PATH fd of /proc/self/fd, used to reopen O_PATH fds
	isRoot bool

	mu   sync.RWMutex
	fids map[FID]*node
	next FID

	sem chan struct{}
	wg  sync.WaitGroup

	// lanes are the server ends of the client's direct lanes (see
	// lane), shut down when the main connection ends.
	laneMu sync.Mutex
	lanes  []int
	closed bool
}

// Serve serves the directory tree at root on conn, which must be one end of
// a unix SOCK_SEQPACKET socket (pair). Serve takes ownership of conn and
// closes it before returning. It returns nil when the peer closes its end, or
// an error if the connection or root cannot be used.
//
// Requests are handled concurrently, each in its own goroutine (at most
// maxInflight at a time); replies may be sent out of order.
//
// Serve needs procfs to reopen O_PATH descriptors: it uses the /proc/self/fd
// directory saved by Confine if Confine was called, and otherwise opens
// /proc/self/fd itself.
func Serve(conn *os.File, root string, opts ServerOptions) error {
	c, err := seqpacketConn(conn)
	if err != nil {
		return fmt.Errorf("gofer: serve: %w", err)
	}
	defer c.Close()

	procFD, err := serverProcFD()
	if err != nil {
		return fmt.Errorf("gofer: serve: %w", err)
	}
	defer unix.Close(procFD)

	rootFD, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("gofer: serve: open root %q: %w", root, err)
	}
	rootNode := &node{fd: rootFD, mode: unix.S_IFDIR}
	rootNode.refs.Store(1)

	s := &server{
		conn:   c,
		opts:   opts,
		procFD: procFD,
		isRoot: unix.Geteuid() == 0,
		fids:   map[FID]*node{RootFID: rootNode},
		sem:    make(chan struct{}, maxInflight),
	}
	err = s.loop()
	s.closeLanes()
	s.wg.Wait()
	s.mu.Lock()
	for fid, n := range s.fids {
		delete(s.fids, fid)
		n.put()
	}
	s.mu.Unlock()
	return err
}

// seqpacketConn turns f into a *net.UnixConn (a dup of f, with f closed), so
// that reads can be interrupted by Close and SCM_RIGHTS can be used. It
// checks that f is a SOCK_SEQPACKET socket.
func seqpacketConn(f *os.File) (*net.UnixConn, error) {
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var typ int
	var serr error
	if err := rc.Control(func(fd uintptr) {
		typ, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TYPE)
	}); err != nil {
		return nil, err
	}
	if serr != nil {
		return nil, fmt.Errorf("not a socket: %w", serr)
	}
	if typ != unix.SOCK_SEQPACKET {
		return nil, fmt.Errorf("socket type %d is not SOCK_SEQPACKET", typ)
	}
	nc, err := net.FileConn(f)
	if err != nil {
		return nil, err
	}
	uc, ok := nc.(*net.UnixConn)
	if !ok {
		nc.Close()
		return nil, fmt.Errorf("not a unix socket")
	}
	return uc, nil
}

// serverProcFD returns a new O_PATH descriptor for /proc/self/fd, verified to
// be on procfs.
func serverProcFD() (int, error) {
	confined.Lock()
	saved := confined.procFD
	confined.Unlock()
	if saved >= 0 {
		fd, err := unix.FcntlInt(uintptr(saved), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return -1, fmt.Errorf("dup /proc/self/fd: %w", err)
		}
		return fd, nil
	}
	return openProcFD()
}

func openProcFD() (int, error) {
	fd, err := unix.Open("/proc/self/fd", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open /proc/self/fd: %w", err)
	}
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(fd, &sfs); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("statfs /proc/self/fd: %w", err)
	}
	if sfs.Type != unix.PROC_SUPER_MAGIC {
		unix.Close(fd)
		return -1, errors.New("/proc/self/fd is not on procfs")
	}
	return fd, nil
}

func (s *server) loop() error {
	buf := make([]byte, MaxMessageSize)
	oob := make([]byte, unix.CmsgSpace(16*4))
	for {
		n, oobn, flags, _, err := s.conn.ReadMsgUnix(buf, oob)
		if err != nil {
			if oobn > 0 {
				closeControlFDs(oob[:oobn])
			}
			if errors.Is(err, io.EOF) || errors.Is(err, unix.ECONNRESET) {
				return nil // peer closed its end
			}
			return fmt.Errorf("gofer: serve: read: %w", err)
		}
		if oobn > 0 {
			// Clients never send descriptors; drop any.
			closeControlFDs(oob[:oobn])
		}
		if n == 0 {
			return nil // peer closed its end
		}
		if n < headerSize {
			continue // cannot even reply; ignore
		}
		d := decoder{b: buf[:headerSize]}
		tag := d.u32()
		typ := d.u8()
		if flags&unix.MSG_TRUNC != 0 {
			s.sendError(tag, unix.EMSGSIZE)
			continue
		}
		body := append([]byte(nil), buf[headerSize:n]...)
		s.sem <- struct{}{}
		s.wg.Add(1)
		go func() {
			defer func() {
				<-s.sem
				s.wg.Done()
			}()
			s.handle(tag, typ, body)
		}()
	}
}

func closeControlFDs(oob []byte) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return
	}
	for i := range msgs {
		fds, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			continue
		}
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
}

func (s *server) sendError(tag uint32, errno unix.Errno) {
	s.conn.WriteMsgUnix(errorReply(tag, errno), nil, nil)
}

// errorReply is the Rerror message for errno.
func errorReply(tag uint32, errno unix.Errno) []byte {
	e := newMessage(tag, rError)
	e.u32(uint32(errno))
	return e.b
}

type handler func(s *server, d *decoder, e *encoder) (fd int, errno unix.Errno)

var handlers = map[uint8]handler{
	tAttach:   (*server).attach,
	tWalk:     (*server).walk,
	tStat:     (*server).stat,
	tOpen:     (*server).open,
	tGetdents: (*server).getdents,
	tReadlink: (*server).readlink,
	tCreate:   (*server).create,
	tMkdir:    (*server).mkdir,
	tSymlink:  (*server).symlink,
	tLink:     (*server).link,
	tUnlink:   (*server).unlink,
	tRename:   (*server).rename,
	tSetattr:  (*server).setattr,
	tClunk:    (*server).clunk,

	tGetxattr:    (*server).getxattr,
	tSetxattr:    (*server).setxattr,
	tListxattr:   (*server).listxattr,
	tRemovexattr: (*server).removexattr,
	tMknodSocket: (*server).mknodSocket,
}

func (s *server) handle(tag uint32, typ uint8, body []byte) {
	msg, fd := s.answer(tag, typ, body)
	// A send error means the peer is gone; the read loop will notice.
	s.conn.WriteMsgUnix(msg, rights(fd), nil)
	if fd >= 0 {
		unix.Close(fd)
	}
}

// answer carries out a request and returns its reply and the descriptor
// the reply carries (-1: none), which the caller closes once it is sent.
func (s *server) answer(tag uint32, typ uint8, body []byte) ([]byte, int) {
	h, ok := handlers[typ]
	if !ok {
		return errorReply(tag, unix.ENOSYS), -1
	}
	e := newMessage(tag, typ|replyBit)
	fd, errno := h(s, &decoder{b: body}, e)
	if errno != 0 {
		if fd >= 0 {
			unix.Close(fd)
		}
		return errorReply(tag, errno), -1
	}
	return e.b, fd
}

// rights is the control message passing fd, or none for -1.
func rights(fd int) []byte {
	if fd < 0 {
		return nil
	}
	return unix.UnixRights(fd)
}

// lane's handler is added at run time: lanes answer requests through
// handlers, which would otherwise be an initialization cycle.
func init() { handlers[tLane] = (*server).lane }

// maxLanes bounds the direct lanes a client may open.
const maxLanes = 8

// lane opens a direct lane: a new SOCK_SEQPACKET connection whose
// requests this server carries out one at a time on a thread of its own,
// blocked in recvmsg, and answers on the same connection. A round trip on
// the main connection wakes the server's network poller, then a goroutine
// per request, and on the client the reader goroutine, then the caller:
// in a VM each wake-up across CPUs costs tens of microseconds. On a lane
// the kernel wakes the two threads that wait, and nothing else.
func (s *server) lane(d *decoder, e *encoder) (int, unix.Errno) {
	if !d.ok() {
		return -1, unix.EINVAL
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, errnoOf(err)
	}
	s.laneMu.Lock()
	if s.closed || len(s.lanes) >= maxLanes {
		s.laneMu.Unlock()
		unix.Close(fds[0])
		unix.Close(fds[1])
		return -1, unix.EAGAIN
	}
	s.lanes = append(s.lanes, fds[0])
	s.wg.Add(1)
	s.laneMu.Unlock()
	go s.serveLane(fds[0])
	return fds[1], 0
}

// serveLane answers the requests of one lane until the client closes it
// or the main connection ends.
func (s *server) serveLane(fd int) {
	defer s.wg.Done()
	defer func() {
		s.laneMu.Lock()
		s.lanes = slices.DeleteFunc(s.lanes, func(l int) bool { return l == fd })
		s.laneMu.Unlock()
		unix.Close(fd)
	}()
	buf := make([]byte, MaxMessageSize)
	oob := make([]byte, unix.CmsgSpace(16*4))
	for {
		n, oobn, flags, err := recvPacket(fd, buf, oob)
		if oobn > 0 {
			closeControlFDs(oob[:oobn]) // clients never send descriptors
		}
		if err != nil || n == 0 {
			return
		}
		if n < headerSize {
			continue
		}
		d := decoder{b: buf[:headerSize]}
		tag, typ := d.u32(), d.u8()
		msg, rfd := errorReply(tag, unix.EMSGSIZE), -1
		if flags&unix.MSG_TRUNC == 0 {
			msg, rfd = s.answer(tag, typ, buf[headerSize:n])
		}
		err = sendPacket(fd, msg, rights(rfd))
		if rfd >= 0 {
			unix.Close(rfd)
		}
		if err != nil {
			return
		}
	}
}

// closeLanes shuts every lane down, which ends its serveLane.
func (s *server) closeLanes() {
	s.laneMu.Lock()
	defer s.laneMu.Unlock()
	s.closed = true
	for _, fd := range s.lanes {
		unix.Shutdown(fd, unix.SHUT_RDWR)
	}
}

// errnoOf converts a syscall error to an errno.
func errnoOf(err error) unix.Errno {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return unix.EIO
}

// get looks up fid and takes a reference on it; the caller must put it.
func (s *server) get(fid FID) (*node, unix.Errno) {
	s.mu.RLock()
	n := s.fids[fid]
	if n != nil {
		n.refs.Add(1)
	}
	s.mu.RUnlock()
	if n == nil {
		return nil, unix.EBADF
	}
	return n, 0
}

// add installs an O_PATH descriptor as a new fid.
func (s *server) add(fd int, mode uint32) FID {
	n := &node{fd: fd, mode: mode & unix.S_IFMT}
	n.refs.Store(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		s.next++
		if s.next == RootFID {
			continue
		}
		if _, busy := s.fids[s.next]; !busy {
			break
		}
	}
	s.fids[s.next] = n
	return s.next
}

// procName is the name of fd in /proc/self/fd.
func procName(fd int) string { return strconv.Itoa(fd) }

// reopen opens the inode behind an O_PATH descriptor with real open flags.
// The magic link in /proc/self/fd is followed, but it designates the inode
// itself, never a path that could be redirected.
func (s *server) reopen(fd int, flags int) (int, error) {
	return unix.Openat(s.procFD, procName(fd), flags|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
}

func fstat(fd int) (unix.Stat_t, error) {
	var st unix.Stat_t
	err := unix.Fstatat(fd, "", &st, unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW)
	return st, err
}

// walkOne opens name in dir as an O_PATH descriptor without following
// symlinks and returns it with its attributes.
func walkOne(dirFD int, name string, extra int) (int, unix.Stat_t, error) {
	fd, err := unix.Openat(dirFD, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC|extra, 0)
	if err != nil {
		return -1, unix.Stat_t{}, err
	}
	st, err := fstat(fd)
	if err != nil {
		unix.Close(fd)
		return -1, unix.Stat_t{}, err
	}
	return fd, st, nil
}

func (s *server) attach(d *decoder, e *encoder) (int, unix.Errno) {
	version := d.u32()
	if !d.ok() {
		return -1, unix.EINVAL
	}
	if version != Version {
		return -1, unix.EPROTONOSUPPORT
	}
	n, errno := s.get(RootFID)
	if errno != 0 {
		return -1, errno
	}
	defer n.put()
	st, err := fstat(n.fd)
	if err != nil {
		return -1, errnoOf(err)
	}
	e.u32(Version)
	e.u32(uint32(RootFID))
	ss := StatFromUnix(&st)
	e.stat(&ss)
	return -1, 0
}

func (s *server) walk(d *decoder, e *encoder) (int, unix.Errno) {
	dir := FID(d.u32())
	name := d.str()
	if !d.ok() {
		return -1, unix.EINVAL
	}
	n, errno := s.get(dir)
	if errno != 0 {
		return -1, errno
	}
	defer n.put()
	if !validName(name) {
		return -1, unix.EINVAL
	}
	fd, st, err := walkOne(n.fd, name, 0)
	if err != nil {
		return -1, errnoOf(err)
	}
	fid := s.add(fd, st.Mode)
	e.u32(uint32(fid))
	ss := StatFromUnix(&st)
	e.stat(&ss)
	return -1, 0
}

func (s *server) stat(d *decoder, e *encoder) (int, unix.Errno) {
	fid := FID(d.u32())
	if !d.ok() {
		return -1, unix.EINVAL
	}
	n, errno := s.get(fid)
	if errno != 0 {
		return -1, errno
	}
	defer n.put()
	st, err := fstat(n.fd)
	if err != nil {
		return -1, errnoOf(err)
	}
	ss := StatFromUnix(&st)
	e.stat(&ss)
	return -1, 0
}

// openableErrno returns the error for opening a file of the given type, or 0
// for the types the gofer hands out descriptors for (regular files and
// directories). Device nodes, FIFOs and sockets are emulated by the Sentry;
// the gofer never opens them on the host.
func openableErrno(mode uint32) unix.Errno {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG, unix.S_IFDIR:
		return 0
	case unix.S_IFLNK:
		return unix.ELOOP
	case unix.S_IFSOCK:
		return unix.ENXIO
	default:
		return unix.EACCES
	}
}

// Open flags a client may pass; anything else is ignored.
const openFlagsMask = unix.O_ACCMODE | unix.O_TRUNC | unix.O_APPEND | unix.O_DIRECTORY |
	unix.O_NONBLOCK | unix.O_DSYNC | unix.O_SYNC | unix.O_NOATIME

func checkOpenFlags(flags int, readOnly bool) unix.Errno {
	acc := flags & unix.O_ACCMODE
	if acc == unix.O_ACCMODE {
		return unix.EINVAL
	}
	if readOnly && (acc != unix.O_RDONLY || flags&unix.O_TRUNC != 0) {
		return unix.EROFS
	}
	return 0
}

func (s *server) open(d *decoder, e *encoder) (int, unix.Errno) {
	fid := FID(d.u32())
	flags := int(d.u32())
	if !d.ok() {
		return -1, unix.EINVAL
	}
	n, errno := s.get(fid)
	if errno != 0 {
		return -1, errno
	}
	defer n.put()
	if errno := checkOpenFlags(flags, s.opts.ReadOnly); errno != 0 {
		return -1, errno
	}
	if errno := openableErrno(n.mode); errno != 0 {
		return -1, errno
	}
	fd, err := s.reopen(n.fd, flags&openFlagsMask)
	if err != nil {
		return -1, errnoOf(err)
	}
	return fd, 0
}

func (s *server) getdents(d *decoder, e *encoder) (int, unix.Errno) {
	fid := FID(d.u32())
	off := d.u64()
	if !d.ok() {
		return -1, unix.EINVAL
	}
	n, errno := s.get(fid)
	if errno != 0 {
		return -1, errno
	}
	defer n.put()
	if n.mode != unix.S_IFDIR {
		return -1, unix.ENOTDIR
	}
	dfd, err := s.reopen(n.fd, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return -1, errnoOf(err)
	}
	defer unix.Close(dfd)
	if off != 0 {
		if _, err := unix.Seek(dfd, int64(off), 0); err != nil {
			return -1, errnoOf(err)
		}
	}

	var (
		entries = &encoder{}
		count   uint32
		next    = off
		eof     = false
		buf     = make([]byte, 32<<10)
		size    = 4 + 8 + 1
	)
fill:
	for {
		nb, err := unix.Getdents(dfd, buf)
		if err != nil {
			return -1, errnoOf(err)
		}
		if nb == 0 {
			eof = true
			break
		}
		for b := buf[:nb]; len(b) > 0; {
			// struct linux_dirent64 { u64 ino; s64 off; u16 reclen; u8 type; char name[]; }
			if len(b) < 19 {
				return -1, unix.EIO
			}
			dd := decoder{b: b[:19]}
			ino := dd.u64()
			doff := dd.u64()
			reclen := int(dd.u16())
			typ := dd.u8()
			if reclen < 19 || reclen > len(b) {
				return -1, unix.EIO
			}
			name := b[19:reclen]
			for i, c := range name {
				if c == 0 {
					name = name[:i]
					break
				}
			}
			b = b[reclen:]
			if string(name) == "." || string(name) == ".." {
				next = doff
				continue
			}
			esize := 8 + 1 + 2 + len(name)
			if size+esize > getdentsBudget {
				break fill
			}
			size += esize
			entries.u64(ino)
			entries.u8(typ)
			entries.u16(uint16(len(name)))
			entries.b = append(entries.b, name...)
			count++
			next = doff
		}
	}
	e.u32(count)
	e.b = append(e.b, entries.b...)
	e.u64(next)
	if eof {
		e.u8(1)
	} else {
		e.u8(0)
	}
	return -1, 0
}

func (s *server) readlink(d *decoder, e *encoder) (int, unix.Errno) {
	fid := FID(d.u32())
	if !d.ok() {
		return -1, unix.EINVAL
	}
	n, errno := s.get(fid)
	if errno != 0 {
		return -1, errno
	}
	defer n.put()
	if n.mode != unix.S_IFLNK {
		return -1, unix.EINVAL
	}
	buf := make([]byte, unix.PathMax+1)
	nb, err := unix.Readlinkat(n.fd, "", buf)
	if err != nil {
		return -1, errnoOf(err)
	}
	if nb > unix.PathMax {
		return -1, unix.ENAMETOOLONG
	}
	e.str(string(buf[:nb]))
	return -1, 0
}

// chown sets the owner of a newly created file if the server runs as root.
// Refusals by the host (EPERM, or EINVAL for unmapped ids) are ignored.
func (s *server) chown(fd int, uid, gid uint32) unix.Errno {
	if !s.isRoot {
		return 0
	}
	err := unix.Fchownat(fd, "", int(uid), int(gid), unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW)
	if err != nil && err != unix.EPERM && err != unix.EINVAL {
		return errnoOf(err)
	}
	return 0
}

// writableDir returns the node of the directory a request creates name in,
// after checking the name and that the tree may be written.
func (s *server) writableDir(dir FID, name string) (*node, unix.Errno) {
	n, errno := s.get(dir)
	if errno != 0 {
		return nil, errno
	}
	if !validName(name) {
		n.put()
		return nil, unix.EINVAL
	}
	if s.opts.ReadOnly {
		n.put()
		return nil, unix.EROFS
	}
	return n, 0
}

// adopt takes a node the gofer has just made (fd, its O_PATH descriptor,
// and st, its attributes), gives it the owner and the permission bits perm
// the Sentry asked for (perm < 0: leave them), installs it as a new fid and
// answers with the fid and the node's attributes. It consumes fd.
func (s *server) adopt(fd int, st *unix.Stat_t, uid, gid uint32, perm int64, e *encoder) (int, unix.Errno) {
	if errno := s.chown(fd, uid, gid); errno != 0 {
		unix.Close(fd)
		return -1, errno
	}
	// Undo the gofer's umask: the Sentry has applied the application's.
	if perm >= 0 && int64(st.Mode&0o7777) != perm {
		if err := unix.Fchmodat(s.procFD, procName(fd), uint32(perm), 0); err != nil {
			unix.Close(fd)
			return -1, errnoOf(err)
		}
	}
	now, err := fstat(fd)
	if err != nil {
		unix.Close(fd)
		return -1, errnoOf(err)
	}
	fid := s.add(fd, now.Mode)
	e.u32(uint32(fid))
	ss := StatFromUnix(&now)
	e.stat(&ss)
	return -1, 0
}

func (s *server) create(d *decoder, e *encoder) (int, unix.Errno) {
	dir := FID(d.u32())
	name := d.str()
	flags := int(d.u32())
	mode := d.u32() & 0o7777
	uid := d.u32()
	gid := d.u32()
	if !d.ok() {
		return -1, unix.EINVAL
	}
	n, errno := s.writableDir(dir, name)
	if errno != 0 {
		return -1, errno
	}
	defer n.put()
	if errno := checkOpenFlags(flags, false); errno != 0 {
		return -1, errno
	}
	oflags := flags&(openFlagsMask&^unix.O_DIRECTORY) | unix.O_CLOEXEC | unix.O_NOCTTY | unix.O_NOFOLLOW

	fd, created := -1, false
	for attempt := 0; ; attempt++ {
		var err error
		fd, err = unix.Openat(n.fd, name, oflags|unix.O_CREAT|unix.O_EXCL, mode)
		if err == nil {
			created = true
			break
		}
		if err != unix.EEXIST || flags&unix.O_EXCL != 0 || attempt >= 8 {
			return -1, errnoOf(err)
		}
		// The file exists: open it like Open would, checking its type
		// through an O_PATH descriptor first (never open a FIFO or a
		// device on the host).
		pfd, st, err := walkOne(n.fd, name, 0)
		if err == unix.ENOENT {
			continue // raced with an unlink; try creating again
		}
		if err != nil {
			return -1, errnoOf(err)
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			unix.Close(pfd)
			return -1, unix.EISDIR
		}
		if errno := openableErrno(st.Mode); errno != 0 {
			unix.Close(pfd)
			return -1, errno
		}
		fd, err = s.reopen(pfd, oflags&^unix.O_NOFOLLOW)
		unix.Close(pfd)
		if err != nil {
			return -1, errnoOf(err)
		}
		break
	}

	if created {
		if errno := s.chown(fd, uid, gid); errno != 0 {
			unix.Close(fd)
			return -1, errno
		}
		// Apply the mode exactly (the Sentry has already applied the
		// application's umask; the gofer's own umask must not matter).
		if err := unix.Fchmod(fd, mode); err != nil {
			unix.Close(fd)
			return -1, errnoOf(err)
		}
	}
	st, err := fstat(fd)
	if err != nil {
		unix.Close(fd)
		return -1, errnoOf(err)
	}
	pfd, err := unix.Openat(s.procFD, procName(fd), unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(fd)
		return -1, errnoOf(err)
	}
	fid := s.add(pfd, st.Mode)
	e.u32(uint32(fid))
	ss := StatFromUnix(&st)
	e.stat(&ss)
	return fd, 0
}

func (s *server) mkdir(d *decoder, e *encoder) (int, unix.Errno) {
	dir := FID(d.u32())
	name := d.str()
	mode := d.u32() & 0o7777
	uid := d.u32()
	gid := d.u32()
	if !d.ok() {
		return -1, unix.EINVAL
	}
	n, errno := s.writableDir(dir, name)
	if errno != 0 {
		return -1, errno
	}
	defer n.put()
	if err := unix.Mkdirat(n.fd, name, mode); err != nil {
		return -1, errnoOf(err)
	}
	fd, st, err := walkOne(n.fd, name, unix.O_DIRECTORY)
	if err != nil {
		return -1, errnoOf(err)
	}
	// Keep a setgid bit inherited from the parent.
	return s.adopt(fd, &st, uid, gid, int64(mode|st.Mode&unix.S_ISGID), e)
}

// mknodSocket makes a socket node with mknodat(2) (the only node type the
// gofer makes that way; its seccomp filter allows nothing else). Nothing
// on the host ever listens on it: it is the name of a unix socket the
// Sentry bound, visible to stat(2) and ls.
func (s *server) mknodSocket(d *decoder, e *encoder) (int, unix.Errno) {
	dir := FID(d.u32())
	name := d.str()
	mode := d.u32() & 0o777
	uid := d.u32()
	gid := d.u32()
	if !d.ok() {
		return -1, unix.EINVAL
	}
	n, errno := s.writableDir(dir, name)
	if errno != 0 {
		return -1, errno
	}
	defer n.put()
	if err := unix.Mknodat(n.fd, name, unix.S_IFSOCK|mode, 0); err != nil {
		return -1, errnoOf(err)
	}
	fd, st, err := walkOne(n.fd, name, 0)
	if err != nil {
		return -1, errnoOf(err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		// Replaced by someone else between the two calls.
		unix.Close(fd)
		return -1, unix.EEXIST
	}
	return s.adopt(fd, &st, uid, gid, int64(mode), e)
}

func (s *server) symlink(d *decoder, e *encoder) (int, unix.Errno) {
	dir := FID(d.u32())
	name := d.str()
	target := d.str()
	uid := d.u32()
	gid := d.u32()
	if !d.ok() {
		return -1, unix.EINVAL
	}
	n, errno := s.writableDir(dir, name)
	if errno != 0 {
		return -1, errno
	}
	defer n.put()
	if err := unix.Symlinkat(target, n.fd, name); err != nil {
		return -1, errnoOf(err)
	}
	fd, st, err := walkOne(n.fd, name, 0)
	if err != nil {
		return -1, errnoOf(err)
	}
	return s.adopt(fd, &st, uid, gid, -1, e) // a symlink has no mode
}

func (s *server) link(d *decoder, e *encoder) (int, unix.Errno) {
	dir := FID(d.u32())
	name := d.str()
	target := FID(d.u32())
	if !d.ok() {
		return -1, unix.EINVAL
	}
	n, errno := s.get(dir)
	if errno != 0 {
		return -1, errno
	}
	defer n.put()
	t, errno := s.get(target)
	if errno != 0 {
		return -1, errno
	}
	defer t.put()
	if !validName(name) {
		return -1, unix.EINVAL
	}
	if s.opts.ReadOnly {
		return -1, unix.EROFS
	}
	if t.mode == unix.S_IFDIR {
		return -1, unix.EPERM
	}
	err := unix.Linkat(t.fd, "", n.fd, name, unix.AT_EMPTY_PATH)
	if err == unix.ENOENT || err == unix.EPERM {
		// AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; go through procfs.
		err = unix.Linkat(s.procFD, procName(t.fd), n.fd, name, unix.AT_SYMLINK_FOLLOW)
	}
	return -1, errnoOf0(err)
}

func errnoOf0(err error) unix.Errno {
	if err == nil {
		return 0
	}
	return errnoOf(err)
}

func (s *server) unlink(d *decoder, e *encoder) (int, unix.Errno) {
	dir := FID(d.u32())
	name := d.str()
	flags := int(d.u32())
	if !d.ok() {
		return -1, unix.EINVAL
	}
	n, errno := s.get(dir)
	if errno != 0 {
		return -1, errno
	}
	defer n.put()
	if !validName(name) || flags&^unix.AT_REMOVEDIR != 0 {
		return -1, unix.EINVAL
	}
	if s.opts.ReadOnly {
		return -1, unix.EROFS
	}
	return -1, errnoOf0(unix.Unlinkat(n.fd, name, flags))
}

func (s *server) rename(d *decoder, e *encoder) (int, unix.Errno) {
	oldDir := FID(d.u32())
	oldName := d.str()
	newDir := FID(d.u32())
	newName := d.str()
	if !d.ok() {
		return -1, unix.EINVAL
	}
	o, errno := s.get(oldDir)
	if errno != 0 {
		return -1, errno
	}
	defer o.put()
	n, errno := s.get(newDir)
	if errno != 0 {
		return -1, errno
	}
	defer n.put()
	if !validName(oldName) || !validName(newName) {
		return -1, unix.EINVAL
	}
	if s.opts.ReadOnly {
		return -1, unix.EROFS
	}
	return -1, errnoOf0(unix.Renameat(o.fd, oldName, n.fd, newName))
}

func (s *server) setattr(d *decoder, e *encoder) (int, unix.Errno) {
	fid := FID(d.u32())
	mask := AttrMask(d.u32())
	mode := d.u32()
	uid := d.u32()
	gid := d.u32()
	size := d.u64()
	atime := d.ts()
	mtime := d.ts()
	if !d.ok() {
		return -1, unix.EINVAL
	}
	n, errno := s.get(fid)
	if errno != 0 {
		return -1, errno
	}
	defer n.put()
	if mask&^attrAll != 0 {
		return -1, unix.EINVAL
	}
	if s.opts.ReadOnly {
		return -1, unix.EROFS
	}
	// Order: size, owner, mode, times. chown clears set-id bits, so it
	// comes before chmod; truncate updates mtime, so it comes before times.
	if mask&AttrSize != 0 {
		switch {
		case n.mode == unix.S_IFDIR:
			return -1, unix.EISDIR
		case n.mode != unix.S_IFREG:
			return -1, unix.EINVAL
		case size > math.MaxInt64:
			return -1, unix.EFBIG
		}
		fd, err := s.reopen(n.fd, unix.O_WRONLY)
		if err != nil {
			return -1, errnoOf(err)
		}
		err = unix.Ftruncate(fd, int64(size))
		unix.Close(fd)
		if err != nil {
			return -1, errnoOf(err)
		}
	}
	if mask&(AttrUID|AttrGID) != 0 {
		u, g := -1, -1
		if mask&AttrUID != 0 {
			u = int(uid)
		}
		if mask&AttrGID != 0 {
			g = int(gid)
		}
		if err := unix.Fchownat(n.fd, "", u, g, unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return -1, errnoOf(err)
		}
	}
	if mask&AttrMode != 0 {
		if n.mode == unix.S_IFLNK {
			return -1, unix.EOPNOTSUPP
		}
		if err := unix.Fchmodat(s.procFD, procName(n.fd), mode&0o7777, 0); err != nil {
			return -1, errnoOf(err)
		}
	}
	if mask&(AttrAtime|AttrMtime) != 0 {
		ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, {Nsec: unix.UTIME_OMIT}}
		if mask&AttrAtime != 0 {
			ts[0] = unix.Timespec{Sec: atime.Sec, Nsec: atime.Nsec}
		}
		if mask&AttrMtime != 0 {
			ts[1] = unix.Timespec{Sec: mtime.Sec, Nsec: mtime.Nsec}
		}
		if err := unix.UtimesNanoAt(n.fd, "", ts, unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return -1, errnoOf(err)
		}
	}
	return -1, 0
}

func (s *server) clunk(d *decoder, e *encoder) (int, unix.Errno) {
	fid := FID(d.u32())
	if !d.ok() {
		return -1, unix.EINVAL
	}
	if fid == RootFID {
		return -1, 0 // the root lives as long as the server
	}
	s.mu.Lock()
	n := s.fids[fid]
	delete(s.fids, fid)
	s.mu.Unlock()
	if n == nil {
		return -1, unix.EBADF
	}
	n.put()
	return -1, 0
}
