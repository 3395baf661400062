package gofer

import (
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// Extended attributes are the host file's, read and written by the gofer
// (gofer.Client.Getxattr...): the host answers, so a host filesystem
// without them gives ENOTSUP and attributes the gofer may not touch
// (trusted.*, security.* without its capabilities) EPERM. The VFS has
// already checked the application's own permissions.

var _ vfs.XattrInode = (*inode)(nil)

// Getxattr implements vfs.XattrInode.
func (i *inode) Getxattr(_ vfs.Context, name string) (string, error) {
	v, err := i.fs.c.Getxattr(i.fid, name)
	return v, errno(err)
}

// Setxattr implements vfs.XattrInode.
func (i *inode) Setxattr(_ vfs.Context, name, value string, flags uint32) error {
	if i.fs.opts.ReadOnly {
		return unix.EROFS
	}
	return errno(i.fs.c.Setxattr(i.fid, name, value, int(flags)))
}

// Listxattr implements vfs.XattrInode.
func (i *inode) Listxattr(vfs.Context) ([]string, error) {
	names, err := i.fs.c.Listxattr(i.fid)
	return names, errno(err)
}

// Removexattr implements vfs.XattrInode.
func (i *inode) Removexattr(_ vfs.Context, name string) error {
	if i.fs.opts.ReadOnly {
		return unix.EROFS
	}
	return errno(i.fs.c.Removexattr(i.fid, name))
}
