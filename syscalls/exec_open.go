package syscalls

import (
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/mm"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// execFile adapts an open file to what the loader reads and maps.
type execFile struct {
	ctx vfs.Context
	fd  *vfs.FileDescription
	m   mm.Mappable
}

func (e *execFile) ReadAt(p []byte, off int64) (int, error) { return e.fd.PRead(e.ctx, p, off) }
func (e *execFile) Mappable() mm.Mappable                   { return e.m }
func (e *execFile) Path() string                            { return e.fd.PathName() }
func (e *execFile) Release()                                { e.fd.DecRef() }

// MapIdentity implements loader.Identified.
func (e *execFile) MapIdentity() (string, uint64, uint64) {
	var dev, ino uint64
	if st, err := e.fd.Stat(e.ctx); err == nil {
		dev, ino = st.Dev, st.Ino
	}
	return e.fd.PathName(), dev, ino
}

// OpenExecutable resolves path relative to t's root and working directory
// and opens it for execution: the kernel's execve and the first process
// use it.
func OpenExecutable(t *kernel.Task, path string) (kernel.Executable, error) {
	if path == "" {
		return nil, unix.ENOENT
	}
	fs := t.FSContext()
	return openExecutablePop(t, vfs.PathOperation{Root: fs.Root(), Start: fs.Cwd(), Path: path, FollowFinal: true})
}

// openExecutablePop opens the program pop names (execveat relative to a
// descriptor, or with AT_SYMLINK_NOFOLLOW).
func openExecutablePop(t *kernel.Task, pop vfs.PathOperation) (kernel.Executable, error) {
	fd, err := t.Kernel().VFS().OpenExecutable(t, pop)
	if err != nil {
		return nil, err
	}
	return newExecFile(t, fd)
}

// openExecutableFD opens the program open as descriptor dirfd (fexecve(3),
// also of an O_PATH descriptor) and says whether the descriptor is
// close-on-exec.
func openExecutableFD(t *kernel.Task, dirfd int32) (kernel.Executable, bool, error) {
	f, cloexec, err := t.FDTable().Get(dirfd)
	if err != nil {
		return nil, false, err
	}
	defer f.DecRef()
	vd := f.VirtualDentry()
	if !vd.Ok() {
		// An anonymous file (memfd_create): run it as it is.
		st, err := f.Stat(t)
		if err != nil {
			return nil, false, err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Mode&0o111 == 0 || f.IsPath() {
			return nil, false, unix.EACCES
		}
		f.IncRef()
		e, err := newExecFile(t, f)
		return e, cloexec, err
	}
	fd, err := t.Kernel().VFS().OpenExecutableDentry(t, vd)
	if err != nil {
		return nil, false, err
	}
	e, err := newExecFile(t, fd)
	return e, cloexec, err
}

// newExecFile wraps an open file for the loader; it takes fd's reference.
func newExecFile(t *kernel.Task, fd *vfs.FileDescription) (kernel.Executable, error) {
	m, err := fd.Mappable()
	if err != nil {
		fd.DecRef()
		return nil, err
	}
	countSetID(t, fd)
	return &execFile{ctx: t, fd: fd, m: m}, nil
}

// countSetID reports a set-user-ID or set-group-ID program: the Sentry
// runs it without changing ids or capabilities, as on a nosuid mount
// (execve(2); a set-group-ID bit without group execute is no such bit).
// File capabilities (security.capability) are not supported either.
func countSetID(t *kernel.Task, fd *vfs.FileDescription) {
	st, err := fd.Stat(t)
	if err != nil {
		return
	}
	if st.Mode&unix.S_ISUID != 0 || st.Mode&(unix.S_ISGID|unix.S_IXGRP) == unix.S_ISGID|unix.S_IXGRP {
		t.Kernel().CountUnimplemented("execve of a set-user-ID or set-group-ID file (ids unchanged)")
	}
}
