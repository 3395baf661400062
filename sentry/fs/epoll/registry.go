package epoll

import (
	"sync"
	"sync/atomic"

	"github.com/veil-sandbox/veil/sentry/vfs"
)

func init() {
	// Closing the last reference to a file removes it from every epoll
	// instance watching it (the key the syscall layer gives Add is the
	// *vfs.FileDescription).
	vfs.SetReleaseHook(func(fd *vfs.FileDescription) { FileReleased(fd) })
}

// registry finds the watches on a file when its last reference goes
// (Linux keeps that list in struct file's f_ep), and the epoll instances
// that watch an epoll instance (for the nesting depth check).
var registry struct {
	// watches counts the registered watches, so that FileReleased costs
	// nothing while no epoll instance watches anything.
	watches atomic.Int64

	mu      sync.Mutex
	files   map[any]map[*watch]struct{}
	parents map[*EventPoll]map[*watch]struct{}
}

func register(w *watch) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if registry.files == nil {
		registry.files = make(map[any]map[*watch]struct{})
		registry.parents = make(map[*EventPoll]map[*watch]struct{})
	}
	add := func(m map[*watch]struct{}) map[*watch]struct{} {
		if m == nil {
			m = make(map[*watch]struct{})
		}
		m[w] = struct{}{}
		return m
	}
	registry.files[w.key.file] = add(registry.files[w.key.file])
	registry.watches.Add(1)
	if inner, ok := w.target.(*EventPoll); ok {
		registry.parents[inner] = add(registry.parents[inner])
	}
}

func unregister(w *watch) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if m := registry.files[w.key.file]; m != nil {
		if _, ok := m[w]; ok {
			registry.watches.Add(-1)
		}
		delete(m, w)
		if len(m) == 0 {
			delete(registry.files, w.key.file)
		}
	}
	if inner, ok := w.target.(*EventPoll); ok {
		if m := registry.parents[inner]; m != nil {
			delete(m, w)
			if len(m) == 0 {
				delete(registry.parents, inner)
			}
		}
	}
}

// parentsOf returns the epoll instances watching ep.
func parentsOf(ep *EventPoll) []*EventPoll {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	var out []*EventPoll
	for w := range registry.parents[ep] {
		out = append(out, w.ep)
	}
	return out
}

// FileReleased removes file (the open file description given to Add) from
// every epoll instance watching it. The VFS calls it when the last
// reference to a file description goes, as Linux's eventpoll_release.
func FileReleased(file any) {
	if registry.watches.Load() == 0 {
		return
	}
	registry.mu.Lock()
	m := registry.files[file]
	var ws []*watch
	for w := range m {
		ws = append(ws, w)
	}
	registry.mu.Unlock()
	for _, w := range ws {
		ep := w.ep
		ep.ctlMu.Lock()
		ep.mu.Lock()
		if w.removed {
			ep.mu.Unlock()
			ep.ctlMu.Unlock()
			continue
		}
		ep.removeLocked(w)
		e := w.entry
		ep.mu.Unlock()
		w.target.EventUnregister(e)
		unregister(w)
		ep.ctlMu.Unlock()
	}
}

// Watched reports whether some epoll instance watches file.
func Watched(file any) bool {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	return len(registry.files[file]) > 0
}
