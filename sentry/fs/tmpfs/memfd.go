package tmpfs

import (
	"sync"

	"github.com/veil-sandbox/veil/sentry/memfile"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

var memfdFS struct {
	mu sync.Mutex
	m  map[*memfile.File]*Filesystem
}

// memfdFilesystem returns the (unmounted) tmpfs that holds the memfds and
// other unlinked files of memory file mf.
func memfdFilesystem(mf *memfile.File) *Filesystem {
	memfdFS.mu.Lock()
	defer memfdFS.mu.Unlock()
	if memfdFS.m == nil {
		memfdFS.m = make(map[*memfile.File]*Filesystem)
	}
	fs := memfdFS.m[mf]
	if fs == nil {
		fs = New(mf, Options{})
		memfdFS.m[mf] = fs
	}
	return fs
}

// NewMemfd implements memfd_create(2): a regular file, linked nowhere, open
// O_RDWR, owned by the caller with mode 0777, shown in /proc/self/fd as
// "/memfd:NAME (deleted)". The caller installs it in the FD table (with
// MFD_CLOEXEC as FD_CLOEXEC) and drops its reference.
//
// sealing allows F_ADD_SEALS (MFD_ALLOW_SEALING); noexec is
// MFD_NOEXEC_SEAL: mode 0666 and F_SEAL_EXEC already set.
func NewMemfd(ctx vfs.Context, mf *memfile.File, name string, sealing, noexec bool) *vfs.FileDescription {
	mode := uint32(0o777)
	if noexec {
		mode = 0o666
	}
	fd := NewUnlinkedFile(ctx, mf, unix.S_IFREG|mode, "/memfd:"+name+" (deleted)")
	i := fd.Inode().(*inode)
	i.sealable = sealing || noexec
	if noexec {
		i.seals = unix.F_SEAL_EXEC
	}
	return fd
}

// NewUnlinkedFile returns an O_RDWR description of a new unlinked regular
// tmpfs file with mode (e.g. for shared anonymous memory: name
// "/dev/zero (deleted)").
func NewUnlinkedFile(ctx vfs.Context, mf *memfile.File, mode uint32, name string) *vfs.FileDescription {
	fs := memfdFilesystem(mf)
	fs.inodes.used.Add(1) // this filesystem has no inode limit
	i := fs.newInode(unix.S_IFREG|mode&0o7777, ctx.FSUID(), ctx.FSGID())
	i.nlink = 0
	return vfs.NewFileDescription(i.openReg(), unix.O_RDWR, i, name)
}
