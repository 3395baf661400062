package vfs

import (
	"time"

	"golang.org/x/sys/unix"
)

// AnonymousDentry returns a location for fd that opening reopens its
// inode: what /proc/<pid>/fd/N leads to. A file opened by path has one
// already (where it was opened) and gets it back. A file without a path
// (a pipe, the host's stdio, a memfd, an eventfd...) gets a fresh dentry
// of its inode on a hidden mount of the VFS, as Linux's pipefs or
// anon_inodefs dentries:
//
//   - opening it runs the usual open checks (permissions on the inode's
//     mode, O_DIRECTORY, O_PATH...) and then Inode.Open with the new
//     flags, so the inode decides what a reopen is: a pipe opens a new end
//     of the same pipe, a host file a new description on a dup of its host
//     descriptor, and inodes without Open (InodeDefaults: eventfd, epoll,
//     sockets) give ENXIO as on Linux;
//   - the new description shows the original's name (PathName
//     "pipe:[42]");
//   - nothing else can be done through it: it is no directory, it is in
//     no directory (IsDead reports true), linking it elsewhere gives EXDEV
//     (ENOENT with AT_EMPTY_PATH), and its mount is listed nowhere
//     (Mounts, /proc/mounts).
//
// The zero VirtualDentry is returned if fd has no inode. The dentry is not
// cached: it lives as long as something (a description opened through it)
// refers to it. The caller owns a reference on the result (DecRef).
func (v *VirtualFilesystem) AnonymousDentry(fd *FileDescription) VirtualDentry {
	if fd.vd.Ok() {
		fd.vd.IncRef()
		return fd.vd
	}
	if fd.inode == nil {
		return VirtualDentry{}
	}
	m := v.anonymousMount()
	d := v.newDentry(m.root, fd.name, fd.inode, anonFileType(fd.inode))
	// It is in no directory: like an unlinked file, it cannot be linked
	// back anywhere (linkat(AT_EMPTY_PATH) gives ENOENT).
	d.dead.Store(true)
	return VirtualDentry{m, d}
}

// anonymousMount returns the hidden mount holding anonymous dentries.
func (v *VirtualFilesystem) anonymousMount() *Mount {
	v.anonOnce.Do(func() {
		v.anonMount = &Mount{
			id:   v.nextID.Add(1),
			root: v.newDentry(nil, "/", NewSyntheticDir(), unix.S_IFDIR),
			opts: MountOptions{FSType: "anon_inodefs", Source: "anon_inodefs"},
			anon: true,
		}
	})
	return v.anonMount
}

// anonFileType is fileType for the VFS's own use, without a caller: a
// failing Stat makes the file a regular one (it is only used to refuse
// symlink and directory walks; Open still goes to the inode).
func anonFileType(inode Inode) uint32 {
	t, err := fileType(vfsContext{}, inode)
	if err != nil {
		return unix.S_IFREG
	}
	return t
}

// vfsContext is the Context of calls the VFS makes on its own: root
// credentials, process 0, and it never waits.
type vfsContext struct{}

func (vfsContext) Block(<-chan struct{}) error { return unix.EAGAIN }
func (vfsContext) BlockTimeout(<-chan struct{}, time.Duration) error {
	return unix.EAGAIN
}
func (vfsContext) FSUID() uint32    { return 0 }
func (vfsContext) FSGID() uint32    { return 0 }
func (vfsContext) ProcessID() int32 { return 0 }
