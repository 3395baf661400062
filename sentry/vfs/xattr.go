package vfs

import (
	"encoding/binary"
	"strings"

	"golang.org/x/sys/unix"
)

// Extended attributes (xattr(7)), after Linux's fs/xattr.c and, as Linux
// without a security module, security/commoncap.c. The VFS validates names
// and sizes and makes the permission checks; filesystems store values
// (XattrInode) and decide which namespaces they support.

// Limits of Linux's include/uapi/linux/limits.h.
const (
	XattrNameMax = 255     // XATTR_NAME_MAX
	XattrSizeMax = 1 << 16 // XATTR_SIZE_MAX
	XattrListMax = 1 << 16 // XATTR_LIST_MAX
)

// Namespace prefixes.
const (
	XattrUserPrefix     = "user."
	XattrTrustedPrefix  = "trusted."
	XattrSecurityPrefix = "security."
	XattrSystemPrefix   = "system."
	// XattrCapability is the file capability attribute, security.capability.
	XattrCapability = "security.capability"
	// XattrACLAccess and XattrACLDefault are the POSIX ACLs.
	XattrACLAccess  = "system.posix_acl_access"
	XattrACLDefault = "system.posix_acl_default"
)

// XattrInode is implemented by inodes with extended attributes. Names are
// full names ("user.foo") already validated by the VFS, which has also
// checked permissions; value sizes are at most XattrSizeMax.
type XattrInode interface {
	// Getxattr returns the value of name: ENODATA if it has none,
	// EOPNOTSUPP for a namespace the filesystem does not support.
	Getxattr(ctx Context, name string) (string, error)
	// Setxattr sets name to value. flags is 0, XATTR_CREATE (EEXIST if
	// set) or XATTR_REPLACE (ENODATA if not).
	Setxattr(ctx Context, name, value string, flags uint32) error
	// Listxattr returns the names the inode has (the VFS hides the
	// trusted.* names from callers without CAP_SYS_ADMIN).
	Listxattr(ctx Context) ([]string, error)
	// Removexattr removes name (ENODATA if not set).
	Removexattr(ctx Context, name string) error
}

// checkXattrName validates a name as Linux's import_xattr_name and
// xattr_resolve_name do: ERANGE if empty or longer than XattrNameMax
// (checked first), EINVAL for a bare namespace prefix, EOPNOTSUPP for an
// unknown namespace (checked after the permission).
func checkXattrName(name string) error {
	if err := checkXattrLen(name); err != nil {
		return err
	}
	for _, p := range []string{XattrUserPrefix, XattrTrustedPrefix, XattrSecurityPrefix, XattrSystemPrefix} {
		if strings.HasPrefix(name, p) {
			if name == p {
				return unix.EINVAL
			}
			return nil
		}
	}
	return unix.EOPNOTSUPP
}

// xattrPermission is Linux's xattr_permission (and cap_inode_setxattr /
// cap_inode_removexattr for writes): write says whether the attribute is
// being changed.
func xattrPermission(ctx Context, inode Inode, name string, write bool) error {
	switch {
	case strings.HasPrefix(name, XattrSecurityPrefix):
		if !write {
			return nil
		}
		// commoncap: security.capability needs CAP_SETFCAP, the rest
		// of security.* CAP_SYS_ADMIN.
		if name == XattrCapability {
			if !hasCap(ctx, unix.CAP_SETFCAP) {
				return unix.EPERM
			}
		} else if !hasCap(ctx, unix.CAP_SYS_ADMIN) {
			return unix.EPERM
		}
		return nil
	case strings.HasPrefix(name, XattrSystemPrefix):
		return nil
	case strings.HasPrefix(name, XattrTrustedPrefix):
		if !hasCap(ctx, unix.CAP_SYS_ADMIN) {
			if write {
				return unix.EPERM
			}
			return unix.ENODATA
		}
		return nil
	}
	st, err := inode.Stat(ctx)
	if err != nil {
		return err
	}
	if strings.HasPrefix(name, XattrUserPrefix) {
		// Only regular files and directories have user attributes;
		// in a sticky directory only its owner may change them.
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
		case unix.S_IFDIR:
			if st.Mode&unix.S_ISVTX != 0 && write && !isOwnerOrCapable(ctx, &st) {
				return unix.EPERM
			}
		default:
			if write {
				return unix.EPERM
			}
			return unix.ENODATA
		}
	}
	want := uint32(MayRead)
	if write {
		want = MayWrite
	}
	return CheckPermission(ctx, &st, want)
}

func checkXattrLen(name string) error {
	if name == "" || len(name) > XattrNameMax {
		return unix.ERANGE
	}
	return nil
}

func xattrInode(inode Inode) (XattrInode, error) {
	if x, ok := inode.(XattrInode); ok {
		return x, nil
	}
	return nil, unix.EOPNOTSUPP
}

// Getxattr implements getxattr(2) on a resolved location (lgetxattr
// resolves without following): it returns the value of name.
func (v *VirtualFilesystem) Getxattr(ctx Context, vd VirtualDentry, name string) (string, error) {
	return getxattr(ctx, vd.Dentry.inode, name)
}

// Getxattr implements fgetxattr(2).
func (fd *FileDescription) Getxattr(ctx Context, name string) (string, error) {
	if fd.IsPath() {
		return "", unix.EBADF
	}
	return getxattr(ctx, fd.inode, name)
}

func getxattr(ctx Context, inode Inode, name string) (string, error) {
	if err := checkXattrLen(name); err != nil {
		return "", err
	}
	if err := xattrPermission(ctx, inode, name, false); err != nil {
		return "", err
	}
	if err := checkXattrName(name); err != nil {
		return "", err
	}
	x, err := xattrInode(inode)
	if err != nil {
		return "", err
	}
	return x.Getxattr(ctx, name)
}

// Setxattr implements setxattr(2) on a resolved location. flags is 0,
// XATTR_CREATE or XATTR_REPLACE (others: EINVAL); a value larger than
// XattrSizeMax gives E2BIG, a read-only mount EROFS. A security.capability
// value must be a version 2 or 3 vfs_cap_data (EINVAL); the Sentry stores
// it but never grants file capabilities on execve.
func (v *VirtualFilesystem) Setxattr(ctx Context, vd VirtualDentry, name, value string, flags uint32) error {
	if err := setxattr(ctx, vd.Dentry.inode, vd.Mount.ReadOnly(), name, value, flags); err != nil {
		return err
	}
	v.inodeEvent(vd.Dentry, InAttrib)
	return nil
}

// Setxattr implements fsetxattr(2).
func (fd *FileDescription) Setxattr(ctx Context, name, value string, flags uint32) error {
	if fd.IsPath() {
		return unix.EBADF
	}
	ro := fd.vd.Ok() && fd.vd.Mount.ReadOnly()
	if err := setxattr(ctx, fd.inode, ro, name, value, flags); err != nil {
		return err
	}
	if fd.v != nil && fd.vd.Ok() {
		fd.v.inodeEvent(fd.vd.Dentry, InAttrib)
	}
	return nil
}

func setxattr(ctx Context, inode Inode, readOnly bool, name, value string, flags uint32) error {
	if flags&^(unix.XATTR_CREATE|unix.XATTR_REPLACE) != 0 {
		return unix.EINVAL
	}
	if err := checkXattrLen(name); err != nil {
		return err
	}
	if len(value) > XattrSizeMax {
		return unix.E2BIG
	}
	if readOnly {
		return unix.EROFS
	}
	if err := xattrPermission(ctx, inode, name, true); err != nil {
		return err
	}
	if err := checkXattrName(name); err != nil {
		return err
	}
	if name == XattrCapability && !validCapData(value) {
		return unix.EINVAL
	}
	x, err := xattrInode(inode)
	if err != nil {
		return err
	}
	return x.Setxattr(ctx, name, value, flags)
}

// validCapData is Linux's validheader (security/commoncap.c): a version 2
// (20 bytes) or version 3 (24 bytes) struct vfs_cap_data.
func validCapData(v string) bool {
	if len(v) < 4 {
		return false
	}
	rev := binary.LittleEndian.Uint32([]byte(v[:4])) & vfsCapRevisionMask
	return (len(v) == xattrCapsSz2 && rev == vfsCapRevision2) ||
		(len(v) == xattrCapsSz3 && rev == vfsCapRevision3)
}

// Listxattr implements listxattr(2) on a resolved location: the names,
// without the trusted.* ones unless the caller has CAP_SYS_ADMIN.
func (v *VirtualFilesystem) Listxattr(ctx Context, vd VirtualDentry) ([]string, error) {
	return listxattr(ctx, vd.Dentry.inode)
}

// Listxattr implements flistxattr(2).
func (fd *FileDescription) Listxattr(ctx Context) ([]string, error) {
	if fd.IsPath() {
		return nil, unix.EBADF
	}
	return listxattr(ctx, fd.inode)
}

func listxattr(ctx Context, inode Inode) ([]string, error) {
	x, ok := inode.(XattrInode)
	if !ok {
		return nil, nil
	}
	names, err := x.Listxattr(ctx)
	if err != nil {
		return nil, err
	}
	if hasCap(ctx, unix.CAP_SYS_ADMIN) {
		return names, nil
	}
	out := names[:0:0]
	for _, n := range names {
		if !strings.HasPrefix(n, XattrTrustedPrefix) {
			out = append(out, n)
		}
	}
	return out, nil
}

// Removexattr implements removexattr(2) on a resolved location.
func (v *VirtualFilesystem) Removexattr(ctx Context, vd VirtualDentry, name string) error {
	if err := removexattr(ctx, vd.Dentry.inode, vd.Mount.ReadOnly(), name); err != nil {
		return err
	}
	v.inodeEvent(vd.Dentry, InAttrib)
	return nil
}

// Removexattr implements fremovexattr(2).
func (fd *FileDescription) Removexattr(ctx Context, name string) error {
	if fd.IsPath() {
		return unix.EBADF
	}
	ro := fd.vd.Ok() && fd.vd.Mount.ReadOnly()
	if err := removexattr(ctx, fd.inode, ro, name); err != nil {
		return err
	}
	if fd.v != nil && fd.vd.Ok() {
		fd.v.inodeEvent(fd.vd.Dentry, InAttrib)
	}
	return nil
}

func removexattr(ctx Context, inode Inode, readOnly bool, name string) error {
	if err := checkXattrLen(name); err != nil {
		return err
	}
	if readOnly {
		return unix.EROFS
	}
	if err := xattrPermission(ctx, inode, name, true); err != nil {
		return err
	}
	if err := checkXattrName(name); err != nil {
		return err
	}
	x, err := xattrInode(inode)
	if err != nil {
		return err
	}
	return x.Removexattr(ctx, name)
}

// XattrStore is an in-memory set of extended attributes for filesystems
// that keep them themselves (tmpfs): user.*, trusted.* and security.*
// values; system.* (POSIX ACLs: the Sentry's filesystems have none) gives
// ENODATA on get and EOPNOTSUPP on set. The zero value is empty; the
// caller serializes access.
type XattrStore struct {
	m    map[string]string
	size int // bytes of names and values
}

// MaxXattrBytes bounds the names and values an XattrStore keeps (ENOSPC
// past it), as Linux bounds a tmpfs inode's.
const MaxXattrBytes = 1 << 20

// Get implements XattrInode.Getxattr.
func (s *XattrStore) Get(name string) (string, error) {
	if strings.HasPrefix(name, XattrSystemPrefix) {
		if name == XattrACLAccess || name == XattrACLDefault {
			return "", unix.ENODATA
		}
		return "", unix.EOPNOTSUPP
	}
	v, ok := s.m[name]
	if !ok {
		return "", unix.ENODATA
	}
	return v, nil
}

// Set implements XattrInode.Setxattr.
func (s *XattrStore) Set(name, value string, flags uint32) error {
	if strings.HasPrefix(name, XattrSystemPrefix) {
		return unix.EOPNOTSUPP
	}
	old, ok := s.m[name]
	switch {
	case ok && flags&unix.XATTR_CREATE != 0:
		return unix.EEXIST
	case !ok && flags&unix.XATTR_REPLACE != 0:
		return unix.ENODATA
	}
	n := s.size + len(value)
	if ok {
		n -= len(old)
	} else {
		n += len(name)
	}
	if n > MaxXattrBytes {
		return unix.ENOSPC
	}
	if s.m == nil {
		s.m = make(map[string]string)
	}
	s.m[name] = value
	s.size = n
	return nil
}

// List implements XattrInode.Listxattr.
func (s *XattrStore) List() []string {
	out := make([]string, 0, len(s.m))
	for n := range s.m {
		out = append(out, n)
	}
	return out
}

// Remove implements XattrInode.Removexattr.
func (s *XattrStore) Remove(name string) error {
	if strings.HasPrefix(name, XattrSystemPrefix) {
		return unix.EOPNOTSUPP
	}
	v, ok := s.m[name]
	if !ok {
		return unix.ENODATA
	}
	delete(s.m, name)
	s.size -= len(name) + len(v)
	return nil
}
