package vfs

import (
	"sync"
	"sync/atomic"
)

// FSContext is a task's root directory, working directory and umask.
// Tasks created with CLONE_FS share one (the same pointer, IncRef); others
// get a copy (Fork). It holds references on its root and working directory
// (dcache.go), dropped by the last DecRef (a task's exit).
type FSContext struct {
	mu    sync.Mutex
	root  VirtualDentry
	cwd   VirtualDentry
	umask uint32
	refs  atomic.Int64
}

// NewFSContext returns a context with the given root, working directory
// and umask (usually v.Root(), v.Root(), 022), with one reference.
func NewFSContext(root, cwd VirtualDentry, umask uint32) *FSContext {
	root.IncRef()
	cwd.IncRef()
	f := &FSContext{root: root, cwd: cwd, umask: umask & 0o777}
	f.refs.Store(1)
	return f
}

// IncRef takes a reference (CLONE_FS).
func (f *FSContext) IncRef() { f.refs.Add(1) }

// DecRef drops a reference; the last one releases the root and working
// directory.
func (f *FSContext) DecRef() {
	if f.refs.Add(-1) != 0 {
		return
	}
	f.mu.Lock()
	root, cwd := f.root, f.cwd
	f.root, f.cwd = VirtualDentry{}, VirtualDentry{}
	f.mu.Unlock()
	root.DecRef()
	cwd.DecRef()
}

// Fork returns an independent copy.
func (f *FSContext) Fork() *FSContext {
	f.mu.Lock()
	defer f.mu.Unlock()
	return NewFSContext(f.root, f.cwd, f.umask)
}

// Root returns the root directory. The reference is the context's: hold
// one of your own (VirtualDentry.IncRef) to keep it past a concurrent
// chroot.
func (f *FSContext) Root() VirtualDentry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.root
}

// Cwd returns the working directory, borrowed as Root's.
func (f *FSContext) Cwd() VirtualDentry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cwd
}

// RootRef and CwdRef are Root and Cwd with a reference the caller owns.
func (f *FSContext) RootRef() VirtualDentry {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.root.IncRef()
	return f.root
}

// CwdRef is Cwd with a reference the caller owns.
func (f *FSContext) CwdRef() VirtualDentry {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cwd.IncRef()
	return f.cwd
}

// SetRoot changes the root directory (chroot); the context takes its own
// reference on vd.
func (f *FSContext) SetRoot(vd VirtualDentry) {
	vd.IncRef()
	f.mu.Lock()
	old := f.root
	f.root = vd
	f.mu.Unlock()
	old.DecRef()
}

// SetCwd changes the working directory (chdir, fchdir); the context takes
// its own reference on vd.
func (f *FSContext) SetCwd(vd VirtualDentry) {
	vd.IncRef()
	f.mu.Lock()
	old := f.cwd
	f.cwd = vd
	f.mu.Unlock()
	old.DecRef()
}

// Umask returns the umask.
func (f *FSContext) Umask() uint32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.umask
}

// SwapUmask sets the umask and returns the old one (umask(2)).
func (f *FSContext) SwapUmask(mask uint32) uint32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	old := f.umask
	f.umask = mask & 0o777
	return old
}

// PathOp builds a PathOperation for path from this context: start is the
// directory relative paths start from (zero means the working directory).
// Its Root and Start are borrowed from the context (or the caller's start):
// path walks take their own references from them at once.
func (f *FSContext) PathOp(start VirtualDentry, path string, follow bool) PathOperation {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !start.Ok() {
		start = f.cwd
	}
	return PathOperation{Root: f.root, Start: start, Path: path, FollowFinal: follow, Umask: f.umask}
}
