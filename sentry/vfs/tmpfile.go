package vfs

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// TmpfileCreator is implemented by directory inodes of filesystems that
// support O_TMPFILE (tmpfs): Tmpfile makes a regular file with no name in
// the directory (st_nlink 0) and opens it with flags. Directories without
// it give EOPNOTSUPP, as Linux does for filesystems without ->tmpfile.
type TmpfileCreator interface {
	Tmpfile(ctx Context, mode, flags uint32) (Inode, FileImpl, error)
}

// openTmpfile implements open(2) with O_TMPFILE: an unnamed regular file
// in the directory pop names, which linkat(2) can give a name later
// (LinkAt) unless O_EXCL was given. As Linux's build_open_flags and
// vfs_tmpfile: O_CREAT or no write access give EINVAL, a non-directory
// ENOTDIR, a read-only mount EROFS, and the directory needs write and
// search permission.
func (v *VirtualFilesystem) openTmpfile(ctx Context, pop PathOperation, flags, mode uint32) (*FileDescription, error) {
	if flags&unix.O_CREAT != 0 || flags&unix.O_ACCMODE == unix.O_RDONLY || flags&unix.O_PATH != 0 {
		return nil, unix.EINVAL
	}
	pop.FollowFinal = flags&unix.O_NOFOLLOW == 0
	dir, err := v.GetDentry(ctx, pop)
	if err != nil {
		return nil, err
	}
	defer dir.DecRef()
	d := dir.Dentry
	if !d.IsDir() {
		return nil, unix.ENOTDIR
	}
	if err := mayAccessDentry(ctx, d, MayWrite|MayExec); err != nil {
		return nil, err
	}
	if dir.Mount.ReadOnly() {
		return nil, unix.EROFS
	}
	tc, ok := d.inode.(TmpfileCreator)
	if !ok || d.synthetic {
		return nil, unix.EOPNOTSUPP
	}
	if d.dead.Load() {
		return nil, unix.ENOENT
	}
	inode, impl, err := tc.Tmpfile(ctx, (mode&0o7777)&^pop.Umask, flags&^unix.O_TMPFILE)
	if err != nil {
		return nil, err
	}
	name := "#"
	if st, err := inode.Stat(ctx); err == nil {
		name = fmt.Sprintf("#%d", st.Ino)
	}
	// A dentry in no directory, as Linux's d_tmpfile: it shows as
	// "dir/#ino (deleted)" in /proc/self/fd.
	td := v.newDentry(d, name, inode, unix.S_IFREG)
	td.dead.Store(true)
	td.tmpfile = flags&unix.O_EXCL == 0
	fd := v.newFileDescription(impl, flags&^unix.O_TMPFILE, VirtualDentry{dir.Mount, td})
	td.DecRef()
	v.opened(fd)
	return fd, nil
}
