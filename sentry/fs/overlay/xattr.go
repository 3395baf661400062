package overlay

import (
	"strings"

	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// Extended attributes: read from the upper file once copied up, else from
// the lower one; changing one copies the file up first, as overlayfs does.
// A copy-up copies the lower file's user.*, trusted.* and security.*
// attributes that the upper layer (tmpfs) takes.

var _ vfs.XattrInode = (*node)(nil)

func xattrsOf(i vfs.Inode) (vfs.XattrInode, error) {
	if x, ok := i.(vfs.XattrInode); ok {
		return x, nil
	}
	return nil, unix.EOPNOTSUPP
}

// Getxattr implements vfs.XattrInode.
func (n *node) Getxattr(ctx vfs.Context, name string) (string, error) {
	var v string
	err := n.withCurrent(func(i vfs.Inode) error {
		x, err := xattrsOf(i)
		if err == nil {
			v, err = x.Getxattr(ctx, name)
		}
		return err
	})
	return v, err
}

// Listxattr implements vfs.XattrInode.
func (n *node) Listxattr(ctx vfs.Context) ([]string, error) {
	var names []string
	err := n.withCurrent(func(i vfs.Inode) error {
		x, ok := i.(vfs.XattrInode)
		if !ok {
			return nil
		}
		var err error
		names, err = x.Listxattr(ctx)
		return err
	})
	return names, err
}

// Setxattr implements vfs.XattrInode.
func (n *node) Setxattr(ctx vfs.Context, name, value string, flags uint32) error {
	if err := n.copyUp(ctx, -1); err != nil {
		return err
	}
	x, err := xattrsOf(n.upperInode())
	if err != nil {
		return err
	}
	return x.Setxattr(ctx, name, value, flags)
}

// Removexattr implements vfs.XattrInode.
func (n *node) Removexattr(ctx vfs.Context, name string) error {
	if err := n.copyUp(ctx, -1); err != nil {
		return err
	}
	x, err := xattrsOf(n.upperInode())
	if err != nil {
		return err
	}
	return x.Removexattr(ctx, name)
}

// copyXattrs copies lower's attributes to its upper copy u, leaving out
// those the upper layer refuses (system.*: POSIX ACLs).
func copyXattrs(ctx vfs.Context, lower, u vfs.Inode) {
	lx, ok := lower.(vfs.XattrInode)
	if !ok {
		return
	}
	ux, ok := u.(vfs.XattrInode)
	if !ok {
		return
	}
	names, err := lx.Listxattr(ctx)
	if err != nil {
		return
	}
	for _, name := range names {
		if strings.HasPrefix(name, vfs.XattrSystemPrefix) {
			continue
		}
		if v, err := lx.Getxattr(ctx, name); err == nil {
			ux.Setxattr(ctx, name, v, 0)
		}
	}
}
