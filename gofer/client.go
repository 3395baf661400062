package gofer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"

	"golang.org/x/sys/unix"
)

// ErrClientClosed is the cause of the errors returned by calls made after
// Client.Close.
var ErrClientClosed = errors.New("gofer: client closed")

// connError reports that the connection to the gofer is unusable. It
// matches unix.EIO under errors.Is, as well as its cause.
type connError struct {
	cause error
}

func (e *connError) Error() string   { return "connection to gofer lost: " + e.cause.Error() }
func (e *connError) Unwrap() []error { return []error{unix.EIO, e.cause} }

// protocolError reports a malformed reply; it matches unix.EIO.
type protocolError struct {
	msg string
}

func (e *protocolError) Error() string { return "gofer protocol error: " + e.msg }
func (e *protocolError) Unwrap() error { return unix.EIO }

// Client is a connection to a gofer. It is safe for concurrent use by many
// goroutines: a call takes an idle direct lane if there is one (its thread
// blocks in recvmsg there, see callLane); otherwise it goes on the main
// connection, where calls are multiplexed by tag and a single reader
// goroutine dispatches replies, so a slow call does not hold up the
// others (as long as the server handles requests concurrently).
//
// Errors reported by the server are returned as a bare unix.Errno (compare
// with err == unix.ENOENT). Transport failures (the gofer died, the client
// was closed, a malformed reply) are wrapped with the operation as context
// and match unix.EIO under errors.Is; once the connection is lost every call
// fails immediately.
type Client struct {
	conn *net.UnixConn
	root FID

	mu      sync.Mutex
	pending map[uint32]chan response
	nextTag uint32
	err     error         // set once the connection is lost
	dead    chan struct{} // closed when err is set

	// Direct lanes (server.lane): idle ones wait in idle; all are in
	// lanes, so that fail can shut them down. asked counts lanes
	// requested, at most clientLanes.
	idle   chan *lane
	laneMu sync.Mutex
	lanes  []*lane
	asked  int
}

// clientLanes is how many direct lanes a client opens, one at a time as
// calls find none idle: enough for the few tasks of a sandbox that touch
// files at once; the others share the main connection.
const clientLanes = 4

// lane is one direct lane to the server, used by one call at a time.
type lane struct {
	fd       int
	buf, oob []byte
}

type response struct {
	typ  uint8
	body []byte
	fds  []int
	err  error
}

// NewClient connects to the gofer serving on conn, which must be one end of
// a unix SOCK_SEQPACKET socketpair. NewClient takes ownership of conn (it is
// closed by Client.Close, or on error). It performs the attach handshake;
// the root directory is then Root() (always RootFID).
func NewClient(conn *os.File) (*Client, error) {
	uc, err := seqpacketConn(conn)
	if err != nil {
		return nil, fmt.Errorf("gofer: new client: %w", err)
	}
	c := &Client{
		conn:    uc,
		pending: make(map[uint32]chan response),
		dead:    make(chan struct{}),
		idle:    make(chan *lane, clientLanes),
	}
	go c.readLoop()

	e := newMessage(0, tAttach)
	e.u32(Version)
	d, _, err := c.rpcMain(e, 0)
	if err != nil {
		c.Close()
		return nil, wrap(err, "attach")
	}
	version := d.u32()
	root := FID(d.u32())
	d.stat()
	if !d.ok() || version != Version {
		c.Close()
		return nil, wrap(&protocolError{"bad attach reply"}, "attach")
	}
	c.root = root
	return c, nil
}

// Root returns the FID of the root directory.
func (c *Client) Root() FID { return c.root }

// Lost is closed when the connection is unusable (the gofer died, or
// Close); Err then says why.
func (c *Client) Lost() <-chan struct{} { return c.dead }

// Err returns why the connection was lost, or nil.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close closes the connection. Calls in progress and later calls fail with
// an error wrapping ErrClientClosed. Host descriptors already received stay
// valid.
func (c *Client) Close() error {
	c.fail(ErrClientClosed)
	return nil
}

// fail marks the connection lost and closes it. Only the first cause is
// kept.
func (c *Client) fail(cause error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = &connError{cause}
		close(c.dead)
	}
	c.mu.Unlock()
	c.conn.Close()
	// Wake calls blocked on a lane; the last user of each closes it.
	c.laneMu.Lock()
	for _, l := range c.lanes {
		unix.Shutdown(l.fd, unix.SHUT_RDWR)
	}
	c.laneMu.Unlock()
	for drained := false; !drained; {
		select {
		case l := <-c.idle:
			c.dropLane(l)
		default:
			drained = true
		}
	}
}

func (c *Client) readLoop() {
	buf := make([]byte, MaxMessageSize)
	oob := make([]byte, unix.CmsgSpace(4*4))
	for {
		n, oobn, flags, _, err := c.conn.ReadMsgUnix(buf, oob)
		if err != nil {
			if oobn > 0 {
				closeFDs(controlFDs(oob[:oobn]))
			}
			if errors.Is(err, io.EOF) {
				err = errors.New("gofer closed the connection")
			}
			c.fail(err)
			return
		}
		var fds []int
		if oobn > 0 {
			fds = controlFDs(oob[:oobn])
		}
		if n == 0 {
			closeFDs(fds)
			c.fail(errors.New("gofer closed the connection"))
			return
		}
		if n < headerSize {
			closeFDs(fds)
			c.fail(&protocolError{"short message"})
			return
		}
		tag := binary.LittleEndian.Uint32(buf)
		r := response{
			typ:  buf[4],
			body: append([]byte(nil), buf[headerSize:n]...),
			fds:  fds,
		}
		if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
			closeFDs(r.fds)
			r.fds = nil
			r.err = &protocolError{"truncated reply"}
		}
		c.mu.Lock()
		ch := c.pending[tag]
		delete(c.pending, tag)
		c.mu.Unlock()
		if ch == nil {
			closeFDs(r.fds) // nobody is waiting for this tag
			continue
		}
		ch <- r
	}
}

func controlFDs(oob []byte) []int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for i := range msgs {
		if f, err := unix.ParseUnixRights(&msgs[i]); err == nil {
			fds = append(fds, f...)
		}
	}
	return fds
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// rpc sends the request in e (whose tag is filled in here) and waits for its
// reply. wantFDs is the number of descriptors a successful reply carries.
// Server errors are returned as unix.Errno; anything else is a transport or
// protocol error.
func (c *Client) rpc(e *encoder, wantFDs int) (*decoder, []int, error) {
	if len(e.b) > MaxMessageSize {
		return nil, nil, unix.ENAMETOOLONG
	}
	if l := c.takeLane(); l != nil {
		r, err := c.callLane(l, e)
		if err != nil {
			return nil, nil, err
		}
		return check(r, e.b[4], wantFDs)
	}
	return c.rpcMain(e, wantFDs)
}

// rpcMain is rpc on the main connection (e is small enough: rpc checked,
// or it is one of the client's own fixed-size requests).
func (c *Client) rpcMain(e *encoder, wantFDs int) (*decoder, []int, error) {
	typ := e.b[4]
	ch := make(chan response, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, nil, err
	}
	for {
		c.nextTag++
		if _, busy := c.pending[c.nextTag]; !busy && c.nextTag != noReplyTag {
			break
		}
	}
	tag := c.nextTag
	c.pending[tag] = ch
	c.mu.Unlock()

	binary.LittleEndian.PutUint32(e.b, tag)
	if _, _, err := c.conn.WriteMsgUnix(e.b, nil, nil); err != nil {
		c.mu.Lock()
		delete(c.pending, tag)
		c.mu.Unlock()
		c.fail(err)
		c.mu.Lock()
		err := c.err
		c.mu.Unlock()
		return nil, nil, err
	}

	var r response
	select {
	case r = <-ch:
	case <-c.dead:
		c.mu.Lock()
		_, waiting := c.pending[tag]
		delete(c.pending, tag)
		err := c.err
		c.mu.Unlock()
		if waiting {
			// A reply still to come finds nobody waiting, and the
			// read loop closes the descriptors it carries.
			return nil, nil, err
		}
		r = <-ch // the read loop took the tag: its reply is on the way
	}
	return check(r, typ, wantFDs)
}

// check turns the reply r to a request of type typ into the call's
// result.
func check(r response, typ uint8, wantFDs int) (*decoder, []int, error) {
	if r.err != nil {
		return nil, nil, r.err
	}
	switch {
	case r.typ == rError:
		closeFDs(r.fds)
		d := decoder{b: r.body}
		errno := d.u32()
		if !d.ok() || errno == 0 {
			return nil, nil, &protocolError{"bad error reply"}
		}
		return nil, nil, unix.Errno(errno)
	case r.typ != typ|replyBit:
		closeFDs(r.fds)
		return nil, nil, &protocolError{fmt.Sprintf("reply type %#x to request type %#x", r.typ, typ)}
	case len(r.fds) != wantFDs:
		closeFDs(r.fds)
		return nil, nil, &protocolError{fmt.Sprintf("got %d descriptors, want %d", len(r.fds), wantFDs)}
	}
	return &decoder{b: r.body}, r.fds, nil
}

// takeLane returns an idle direct lane, or nil; a call that finds none
// has one more opened in the background, up to clientLanes.
func (c *Client) takeLane() *lane {
	if c.Err() != nil {
		return nil
	}
	select {
	case l := <-c.idle:
		return l
	default:
	}
	c.laneMu.Lock()
	more := c.asked < clientLanes
	if more {
		c.asked++
	}
	c.laneMu.Unlock()
	if more {
		go c.openLane()
	}
	return nil
}

// openLane asks the server for a direct lane and makes it idle.
func (c *Client) openLane() {
	_, fds, err := c.rpcMain(newMessage(0, tLane), 1)
	if err != nil {
		return // the main connection carries on alone (asked stays up)
	}
	l := &lane{fd: fds[0], buf: make([]byte, MaxMessageSize), oob: make([]byte, unix.CmsgSpace(4*4))}
	c.laneMu.Lock()
	c.lanes = append(c.lanes, l)
	c.laneMu.Unlock()
	c.putLane(l)
}

// putLane makes l idle again, or closes it if the connection is lost.
func (c *Client) putLane(l *lane) {
	if c.Err() != nil {
		c.dropLane(l)
		return
	}
	c.idle <- l // never blocks: at most clientLanes exist
	if c.Err() != nil {
		// fail may have drained idle before l went in.
		select {
		case l := <-c.idle:
			c.dropLane(l)
		default:
		}
	}
}

// dropLane closes l for good; while the connection lives, a later call
// may open another.
func (c *Client) dropLane(l *lane) {
	lost := c.Err() != nil
	c.laneMu.Lock()
	c.lanes = slices.DeleteFunc(c.lanes, func(o *lane) bool { return o == l })
	if !lost {
		c.asked--
	}
	c.laneMu.Unlock()
	unix.Close(l.fd)
}

// callLane sends the request e on lane l and reads its reply there: the
// calling thread blocks in recvmsg, and the server's thread that answers
// wakes it directly. A lane that fails is dropped and the call fails as
// a lost connection would (the request may have been carried out).
func (c *Client) callLane(l *lane, e *encoder) (response, error) {
	binary.LittleEndian.PutUint32(e.b, laneTag)
	var n, oobn, flags int
	err := sendPacket(l.fd, e.b, nil)
	if err == nil {
		n, oobn, flags, err = recvPacket(l.fd, l.buf, l.oob)
	}
	var fds []int
	if oobn > 0 {
		fds = controlFDs(l.oob[:oobn])
	}
	switch {
	case err == nil && n == 0:
		err = errors.New("gofer closed a lane")
	case err == nil && (n < headerSize || binary.LittleEndian.Uint32(l.buf) != laneTag):
		err = &protocolError{"bad reply on a lane"}
	}
	if err != nil {
		closeFDs(fds)
		c.dropLane(l)
		if lost := c.Err(); lost != nil {
			return response{}, lost
		}
		return response{}, &connError{fmt.Errorf("lane: %w", err)}
	}
	r := response{typ: l.buf[4], body: append([]byte(nil), l.buf[headerSize:n]...), fds: fds}
	if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
		closeFDs(r.fds)
		r.fds = nil
		r.err = &protocolError{"truncated reply"}
	}
	c.putLane(l)
	return r, nil
}

// laneTag is the tag of every request on a lane, which carries one at a
// time.
const laneTag = 1

// wrap adds context to transport errors; server errnos are returned bare.
func wrap(err error, format string, args ...any) error {
	if errno, ok := err.(unix.Errno); ok {
		return errno
	}
	return fmt.Errorf("gofer: %s: %w", fmt.Sprintf(format, args...), err)
}

var errBadReply = &protocolError{"malformed reply"}

// Walk looks up one path component, name, in directory dir and returns a new
// FID for it together with its attributes. Symlinks are not followed; name
// must not be empty, ".", ".." or contain '/' (EINVAL).
func (c *Client) Walk(dir FID, name string) (FID, Stat, error) {
	e := newMessage(0, tWalk)
	e.u32(uint32(dir))
	e.str(name)
	d, _, err := c.rpc(e, 0)
	if err != nil {
		return 0, Stat{}, wrap(err, "walk %q", name)
	}
	fid := FID(d.u32())
	st := d.stat()
	if !d.ok() {
		return 0, Stat{}, wrap(errBadReply, "walk %q", name)
	}
	return fid, st, nil
}

// Stat returns the attributes of fid (never following a symlink).
func (c *Client) Stat(fid FID) (Stat, error) {
	e := newMessage(0, tStat)
	e.u32(uint32(fid))
	d, _, err := c.rpc(e, 0)
	if err != nil {
		return Stat{}, wrap(err, "stat fid %d", fid)
	}
	st := d.stat()
	if !d.ok() {
		return Stat{}, wrap(errBadReply, "stat fid %d", fid)
	}
	return st, nil
}

// Open opens fid and returns a host file descriptor for it, owned by the
// caller (close-on-exec is set). flags are Linux open flags: an access mode
// plus any of O_TRUNC, O_APPEND, O_DIRECTORY, O_NONBLOCK, O_DSYNC, O_SYNC,
// O_NOATIME; other bits are ignored. Only regular files and directories can
// be opened: a symlink gives ELOOP, a socket ENXIO, other types EACCES.
func (c *Client) Open(fid FID, flags int) (int, error) {
	e := newMessage(0, tOpen)
	e.u32(uint32(fid))
	e.u32(uint32(flags))
	d, fds, err := c.rpc(e, 1)
	if err != nil {
		return -1, wrap(err, "open fid %d", fid)
	}
	if !d.ok() {
		closeFDs(fds)
		return -1, wrap(errBadReply, "open fid %d", fid)
	}
	return fds[0], nil
}

// Getdents returns all entries of directory dir except "." and "..",
// fetching them in as many round trips as needed.
func (c *Client) Getdents(dir FID) ([]Dirent, error) {
	var all []Dirent
	off := uint64(0)
	for {
		e := newMessage(0, tGetdents)
		e.u32(uint32(dir))
		e.u64(off)
		d, _, err := c.rpc(e, 0)
		if err != nil {
			return nil, wrap(err, "getdents fid %d", dir)
		}
		count := d.u32()
		if uint64(count) > uint64(len(d.b))/11 {
			return nil, wrap(errBadReply, "getdents fid %d", dir)
		}
		for i := uint32(0); i < count; i++ {
			var de Dirent
			de.Ino = d.u64()
			de.Type = d.u8()
			de.Name = string(d.take(int(d.u16())))
			all = append(all, de)
		}
		next := d.u64()
		eof := d.u8()
		if !d.ok() || (eof == 0 && count == 0 && next == off) {
			return nil, wrap(errBadReply, "getdents fid %d", dir)
		}
		if eof != 0 {
			return all, nil
		}
		off = next
	}
}

// Readlink returns the target of symlink fid (EINVAL if fid is not one).
func (c *Client) Readlink(fid FID) (string, error) {
	e := newMessage(0, tReadlink)
	e.u32(uint32(fid))
	d, _, err := c.rpc(e, 0)
	if err != nil {
		return "", wrap(err, "readlink fid %d", fid)
	}
	target := d.str()
	if !d.ok() {
		return "", wrap(errBadReply, "readlink fid %d", fid)
	}
	return target, nil
}

// Create creates (or, without O_EXCL in flags, opens an existing) regular
// file name in dir and opens it with flags (an access mode plus O_EXCL,
// O_TRUNC, O_APPEND, ...). A new file gets exactly mode&07777 (no umask is
// applied by the gofer) and, if the gofer runs as root, owner uid:gid. It
// returns the file's FID, its attributes, and a host descriptor owned by the
// caller.
func (c *Client) Create(dir FID, name string, flags int, mode uint32, uid, gid uint32) (FID, Stat, int, error) {
	e := newMessage(0, tCreate)
	e.u32(uint32(dir))
	e.str(name)
	e.u32(uint32(flags))
	e.u32(mode)
	e.u32(uid)
	e.u32(gid)
	d, fds, err := c.rpc(e, 1)
	if err != nil {
		return 0, Stat{}, -1, wrap(err, "create %q", name)
	}
	fid := FID(d.u32())
	st := d.stat()
	if !d.ok() {
		closeFDs(fds)
		return 0, Stat{}, -1, wrap(errBadReply, "create %q", name)
	}
	return fid, st, fds[0], nil
}

// Mkdir creates directory name in dir with permissions mode&07777 (no umask
// applied) and, if the gofer runs as root, owner uid:gid.
func (c *Client) Mkdir(dir FID, name string, mode uint32, uid, gid uint32) (FID, Stat, error) {
	e := newMessage(0, tMkdir)
	e.u32(uint32(dir))
	e.str(name)
	e.u32(mode)
	e.u32(uid)
	e.u32(gid)
	return c.newFile(e, "mkdir %q", name)
}

// MknodSocket creates a socket node name in dir with permissions
// mode&0777 (no umask applied) and, if the gofer runs as root, owner
// uid:gid: the filesystem name of a unix socket bound in the Sentry.
func (c *Client) MknodSocket(dir FID, name string, mode uint32, uid, gid uint32) (FID, Stat, error) {
	e := newMessage(0, tMknodSocket)
	e.u32(uint32(dir))
	e.str(name)
	e.u32(mode)
	e.u32(uid)
	e.u32(gid)
	return c.newFile(e, "mknod socket %q", name)
}

// Symlink creates symlink name in dir pointing to target, owned by uid:gid
// if the gofer runs as root.
func (c *Client) Symlink(dir FID, name, target string, uid, gid uint32) (FID, Stat, error) {
	e := newMessage(0, tSymlink)
	e.u32(uint32(dir))
	e.str(name)
	e.str(target)
	e.u32(uid)
	e.u32(gid)
	return c.newFile(e, "symlink %q", name)
}

func (c *Client) newFile(e *encoder, format, name string) (FID, Stat, error) {
	d, _, err := c.rpc(e, 0)
	if err != nil {
		return 0, Stat{}, wrap(err, format, name)
	}
	fid := FID(d.u32())
	st := d.stat()
	if !d.ok() {
		return 0, Stat{}, wrap(errBadReply, format, name)
	}
	return fid, st, nil
}

// Link creates a hard link name in dir to the file target.
func (c *Client) Link(dir FID, name string, target FID) error {
	e := newMessage(0, tLink)
	e.u32(uint32(dir))
	e.str(name)
	e.u32(uint32(target))
	return c.simple(e, "link %q", name)
}

// Unlink removes name from dir; flags is 0 or unix.AT_REMOVEDIR.
func (c *Client) Unlink(dir FID, name string, flags int) error {
	e := newMessage(0, tUnlink)
	e.u32(uint32(dir))
	e.str(name)
	e.u32(uint32(flags))
	return c.simple(e, "unlink %q", name)
}

// Rename renames oldName in oldDir to newName in newDir (renameat(2)
// semantics).
func (c *Client) Rename(oldDir FID, oldName string, newDir FID, newName string) error {
	e := newMessage(0, tRename)
	e.u32(uint32(oldDir))
	e.str(oldName)
	e.u32(uint32(newDir))
	e.str(newName)
	return c.simple(e, "rename %q to %q", oldName, newName)
}

// SetAttr changes the attributes of fid selected by a.Mask. Size is applied
// first, then owner, then mode, then times.
func (c *Client) SetAttr(fid FID, a Attr) error {
	e := newMessage(0, tSetattr)
	e.u32(uint32(fid))
	e.u32(uint32(a.Mask))
	e.u32(a.Mode)
	e.u32(a.UID)
	e.u32(a.GID)
	e.u64(a.Size)
	e.ts(a.Atime)
	e.ts(a.Mtime)
	return c.simple(e, "setattr fid %d", fid)
}

// noReplyTag is the tag of requests whose reply nobody waits for: the
// reader drops replies to it (no call is pending on it).
const noReplyTag = 0

// Clunk forgets fid; the server closes its descriptor. Clunking RootFID is a
// no-op.
func (c *Client) Clunk(fid FID) error {
	e := newMessage(0, tClunk)
	e.u32(uint32(fid))
	return c.simple(e, "clunk fid %d", fid)
}

// ClunkNoWait is Clunk without waiting for the reply: the dentry cache
// clunks every FID it evicts, and a clunk cannot fail in a way the caller
// could act on. The caller must not use fid afterwards. Only transport
// errors are returned.
func (c *Client) ClunkNoWait(fid FID) error {
	e := newMessage(noReplyTag, tClunk)
	e.u32(uint32(fid))
	c.mu.Lock()
	err := c.err
	c.mu.Unlock()
	if err != nil {
		return wrap(err, "clunk fid %d", fid)
	}
	if _, _, err := c.conn.WriteMsgUnix(e.b, nil, nil); err != nil {
		c.fail(err)
		return wrap(err, "clunk fid %d", fid)
	}
	return nil
}

func (c *Client) simple(e *encoder, format string, args ...any) error {
	d, _, err := c.rpc(e, 0)
	if err != nil {
		return wrap(err, format, args...)
	}
	if !d.ok() {
		return wrap(errBadReply, format, args...)
	}
	return nil
}
