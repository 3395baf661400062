package vfs

import "sync"

// FSContext is a task's root directory, working directory and umask.
// Tasks created with CLONE_FS share one (the same pointer); others get a
// copy (Fork).
type FSContext struct {
	mu    sync.Mutex
	root  VirtualDentry
	cwd   VirtualDentry
	umask uint32
}

// NewFSContext returns a context with the given root, working directory
// and umask (usually v.Root(), v.Root(), 022).
func NewFSContext(root, cwd VirtualDentry, umask uint32) *FSContext {
	return &FSContext{root: root, cwd: cwd, umask: umask & 0o777}
}

// Fork returns an independent copy.
func (f *FSContext) Fork() *FSContext {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &FSContext{root: f.root, cwd: f.cwd, umask: f.umask}
}

// Root returns the root directory.
func (f *FSContext) Root() VirtualDentry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.root
}

// Cwd returns the working directory.
func (f *FSContext) Cwd() VirtualDentry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cwd
}

// SetRoot changes the root directory (chroot).
func (f *FSContext) SetRoot(vd VirtualDentry) {
	f.mu.Lock()
	f.root = vd
	f.mu.Unlock()
}

// SetCwd changes the working directory (chdir, fchdir).
func (f *FSContext) SetCwd(vd VirtualDentry) {
	f.mu.Lock()
	f.cwd = vd
	f.mu.Unlock()
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
func (f *FSContext) PathOp(start VirtualDentry, path string, follow bool) PathOperation {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !start.Ok() {
		start = f.cwd
	}
	return PathOperation{Root: f.root, Start: start, Path: path, FollowFinal: follow, Umask: f.umask}
}
