package tmpfs

import (
	"github.com/veil-sandbox/veil/sentry/vfs"
)

// Extended attributes live in Sentry memory with the inode, as Linux's
// tmpfs keeps them (simple_xattr): user.*, trusted.* and security.* (the
// VFS checks who may read and write them); tmpfs has no POSIX ACLs, so
// system.posix_acl_* reads as absent and cannot be set (EOPNOTSUPP).
// Changing an attribute updates ctime.

var _ vfs.XattrInode = (*inode)(nil)

// Getxattr implements vfs.XattrInode.
func (i *inode) Getxattr(_ vfs.Context, name string) (string, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.xattrs.Get(name)
}

// Setxattr implements vfs.XattrInode.
func (i *inode) Setxattr(_ vfs.Context, name, value string, flags uint32) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if err := i.xattrs.Set(name, value, flags); err != nil {
		return err
	}
	i.ctime = vfs.NowTimespec()
	return nil
}

// Listxattr implements vfs.XattrInode.
func (i *inode) Listxattr(vfs.Context) ([]string, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.xattrs.List(), nil
}

// Removexattr implements vfs.XattrInode.
func (i *inode) Removexattr(_ vfs.Context, name string) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if err := i.xattrs.Remove(name); err != nil {
		return err
	}
	i.ctime = vfs.NowTimespec()
	return nil
}
