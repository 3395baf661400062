package gofer

import (
	"bytes"

	"golang.org/x/sys/unix"
)

// Extended attributes: the server reads and writes them through a
// descriptor it opens on the FID's inode (f*xattr(2)), so the host applies
// its own rules (ENOTSUP where the host filesystem has none, EPERM for
// trusted.* and security.* the gofer's capabilities do not allow). Only
// regular files and directories are opened that way; other types (never
// opened on the host) have no attributes the gofer can reach: Getxattr
// gives ENODATA, Listxattr nothing and changes EPERM, which is also what
// Linux answers for user.* attributes on them.

// xattrMax bounds a value and a name list, as Linux's XATTR_SIZE_MAX and
// XATTR_LIST_MAX; both fit a message.
const xattrMax = 1 << 16

// xattrFD opens n for f*xattr, or returns errno for types the gofer does
// not open (the caller maps it).
func (s *server) xattrFD(n *node) (int, unix.Errno) {
	var flags int
	switch n.mode {
	case unix.S_IFREG:
		flags = unix.O_RDONLY
	case unix.S_IFDIR:
		flags = unix.O_RDONLY | unix.O_DIRECTORY
	default:
		return -1, unix.ENODATA
	}
	fd, err := s.reopen(n.fd, flags|unix.O_NOATIME)
	if err == unix.EPERM {
		// O_NOATIME needs the owner or CAP_FOWNER.
		fd, err = s.reopen(n.fd, flags)
	}
	if err != nil {
		return -1, errnoOf(err)
	}
	return fd, 0
}

// xattrOpen opens the node fid names for f*xattr. A change (write) is
// EROFS in a read-only tree and EPERM on the types xattrFD does not open.
// The caller closes the descriptor.
func (s *server) xattrOpen(fid FID, write bool) (int, unix.Errno) {
	n, errno := s.get(fid)
	if errno != 0 {
		return -1, errno
	}
	defer n.put()
	if write && s.opts.ReadOnly {
		return -1, unix.EROFS
	}
	fd, errno := s.xattrFD(n)
	if write && errno == unix.ENODATA {
		return -1, unix.EPERM
	}
	return fd, errno
}

func (s *server) getxattr(d *decoder, e *encoder) (int, unix.Errno) {
	fid := FID(d.u32())
	name := d.str()
	if !d.ok() {
		return -1, unix.EINVAL
	}
	fd, errno := s.xattrOpen(fid, false)
	if errno != 0 {
		return -1, errno
	}
	defer unix.Close(fd)
	buf := make([]byte, xattrMax)
	nb, err := unix.Fgetxattr(fd, name, buf)
	if err != nil {
		return -1, errnoOf(err)
	}
	e.str(string(buf[:nb]))
	return -1, 0
}

func (s *server) setxattr(d *decoder, e *encoder) (int, unix.Errno) {
	fid := FID(d.u32())
	name := d.str()
	value := d.str()
	flags := int(d.u32())
	if !d.ok() {
		return -1, unix.EINVAL
	}
	fd, errno := s.xattrOpen(fid, true)
	if errno != 0 {
		return -1, errno
	}
	defer unix.Close(fd)
	return -1, errnoOf0(unix.Fsetxattr(fd, name, []byte(value), flags))
}

func (s *server) listxattr(d *decoder, e *encoder) (int, unix.Errno) {
	fid := FID(d.u32())
	if !d.ok() {
		return -1, unix.EINVAL
	}
	fd, errno := s.xattrOpen(fid, false)
	if errno == unix.ENODATA {
		e.u32(0)
		return -1, 0
	}
	if errno != 0 {
		return -1, errno
	}
	defer unix.Close(fd)
	buf := make([]byte, xattrMax)
	nb, err := unix.Flistxattr(fd, buf)
	if err != nil {
		return -1, errnoOf(err)
	}
	names := bytes.Split(bytes.TrimSuffix(buf[:nb], []byte{0}), []byte{0})
	if nb == 0 {
		names = nil
	}
	e.u32(uint32(len(names)))
	for _, nm := range names {
		e.str(string(nm))
	}
	return -1, 0
}

func (s *server) removexattr(d *decoder, e *encoder) (int, unix.Errno) {
	fid := FID(d.u32())
	name := d.str()
	if !d.ok() {
		return -1, unix.EINVAL
	}
	fd, errno := s.xattrOpen(fid, true)
	if errno != 0 {
		return -1, errno
	}
	defer unix.Close(fd)
	return -1, errnoOf0(unix.Fremovexattr(fd, name))
}

// Getxattr returns the value of attribute name of fid (ENODATA if it has
// none, the host's ENOTSUP where its filesystem has no attributes).
func (c *Client) Getxattr(fid FID, name string) (string, error) {
	e := newMessage(0, tGetxattr)
	e.u32(uint32(fid))
	e.str(name)
	d, _, err := c.rpc(e, 0)
	if err != nil {
		return "", wrap(xattrErr(err), "getxattr fid %d", fid)
	}
	v := d.str()
	if !d.ok() {
		return "", wrap(errBadReply, "getxattr fid %d", fid)
	}
	return v, nil
}

// Setxattr sets attribute name of fid to value; flags is 0,
// XATTR_CREATE or XATTR_REPLACE.
func (c *Client) Setxattr(fid FID, name, value string, flags int) error {
	e := newMessage(0, tSetxattr)
	e.u32(uint32(fid))
	e.str(name)
	e.str(value)
	e.u32(uint32(flags))
	d, _, err := c.rpc(e, 0)
	if err != nil {
		return wrap(xattrErr(err), "setxattr fid %d", fid)
	}
	if !d.ok() {
		return wrap(errBadReply, "setxattr fid %d", fid)
	}
	return nil
}

// Listxattr returns the attribute names of fid.
func (c *Client) Listxattr(fid FID) ([]string, error) {
	e := newMessage(0, tListxattr)
	e.u32(uint32(fid))
	d, _, err := c.rpc(e, 0)
	if err != nil {
		return nil, wrap(xattrErr(err), "listxattr fid %d", fid)
	}
	count := d.u32()
	if uint64(count) > uint64(len(d.b))/4 {
		return nil, wrap(errBadReply, "listxattr fid %d", fid)
	}
	names := make([]string, 0, count)
	for i := uint32(0); i < count; i++ {
		names = append(names, d.str())
	}
	if !d.ok() {
		return nil, wrap(errBadReply, "listxattr fid %d", fid)
	}
	return names, nil
}

// Removexattr removes attribute name of fid.
func (c *Client) Removexattr(fid FID, name string) error {
	e := newMessage(0, tRemovexattr)
	e.u32(uint32(fid))
	e.str(name)
	d, _, err := c.rpc(e, 0)
	if err != nil {
		return wrap(xattrErr(err), "removexattr fid %d", fid)
	}
	if !d.ok() {
		return wrap(errBadReply, "removexattr fid %d", fid)
	}
	return nil
}

// xattrErr maps a server without the attribute messages (ENOSYS) to
// EOPNOTSUPP, what an application expects from a filesystem without
// attributes.
func xattrErr(err error) error {
	if err == unix.ENOSYS {
		return unix.EOPNOTSUPP
	}
	return err
}
