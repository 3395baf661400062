// Package inotify implements inotify(7) instances: the file of
// inotify_init1(2), inotify_add_watch(2) and inotify_rm_watch(2), on the
// VFS's change notification (sentry/vfs/notify.go).
//
// As in Linux (fs/notify/inotify): a watch is per instance and inode, and
// adding one for an inode already watched updates it (replacing the mask,
// or OR-ing with IN_MASK_ADD; EEXIST with IN_MASK_CREATE); watch
// descriptors are allocated cyclically from 1; an event equal to the last
// one queued and not yet read is merged into it; past MaxQueuedEvents
// events one IN_Q_OVERFLOW (wd -1) is queued and further events are lost;
// a watch removed by inotify_rm_watch, by IN_ONESHOT after its event or by
// the deletion of its inode queues IN_IGNORED; read(2) returns whole
// events (EINVAL if the buffer cannot hold the first), FIONREAD the bytes
// queued, and the file is readable for poll/epoll while events are queued.
//
// Events are those of changes made inside the sandbox: a host process
// changing a gofer-backed file makes none.
package inotify

import (
	"encoding/binary"
	"sync"

	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/waiter"
	"golang.org/x/sys/unix"
)

// Limits, as Linux's /proc/sys/fs/inotify defaults.
const (
	MaxQueuedEvents  = 16384
	MaxUserInstances = 128
	MaxUserWatches   = 65536
)

// Flag bits of a watch mask that are not events.
const (
	inMaskCreate = 0x10000000 // IN_MASK_CREATE (Linux 4.18)
	flagBits     = unix.IN_ONLYDIR | unix.IN_DONT_FOLLOW | unix.IN_EXCL_UNLINK | unix.IN_MASK_ADD | inMaskCreate | unix.IN_ISDIR | unix.IN_ONESHOT
	// AllBits is every bit inotify_add_watch accepts (ALL_INOTIFY_BITS).
	AllBits = unix.IN_ALL_EVENTS | flagBits
)

// eventSize is sizeof(struct inotify_event).
const eventSize = 16

type event struct {
	wd     int32
	mask   uint32
	cookie uint32
	name   string
}

// size is the event's size in a read: the header and the name padded with
// NULs to a multiple of the header size (Linux rounds up name+1).
func (e *event) size() int {
	if e.name == "" {
		return eventSize
	}
	return eventSize + roundUp(len(e.name)+1)
}

func roundUp(n int) int { return (n + eventSize - 1) &^ (eventSize - 1) }

// Instance is one inotify instance: the FileImpl of its file.
type Instance struct {
	vfs.NoIoctl
	v   *vfs.VirtualFilesystem
	uid uint32

	mu      sync.Mutex
	events  []event
	bytes   int
	over    bool // an IN_Q_OVERFLOW is queued
	lastWD  int32
	byWD    map[int32]*watch
	byInode map[vfs.Inode]*watch
	closed  bool

	queue waiter.Queue
}

type watch struct {
	in    *Instance
	wd    int32
	inode vfs.Inode
	mask  uint32 // under in.mu
	gone  bool   // under in.mu
}

var users struct {
	sync.Mutex
	instances map[uint32]int
	watches   map[uint32]int
}

// New returns a new instance for uid, or EMFILE when uid has
// MaxUserInstances already.
func New(v *vfs.VirtualFilesystem, uid uint32) (*Instance, error) {
	users.Lock()
	defer users.Unlock()
	if users.instances == nil {
		users.instances, users.watches = make(map[uint32]int), make(map[uint32]int)
	}
	if users.instances[uid] >= MaxUserInstances {
		return nil, unix.EMFILE
	}
	users.instances[uid]++
	return &Instance{v: v, uid: uid, byWD: make(map[int32]*watch), byInode: make(map[vfs.Inode]*watch)}, nil
}

// AddWatch implements inotify_add_watch(2) on vd (resolved by the caller
// with IN_DONT_FOLLOW and IN_ONLYDIR applied): it returns the watch
// descriptor. mask must hold at least one event or flag (EINVAL), not
// both IN_MASK_ADD and IN_MASK_CREATE (EINVAL).
func (in *Instance) AddWatch(vd vfs.VirtualDentry, mask uint32) (int32, error) {
	inode := vd.Inode()
	in.mu.Lock()
	if w := in.byInode[inode]; w != nil {
		defer in.mu.Unlock()
		if mask&inMaskCreate != 0 {
			return 0, unix.EEXIST
		}
		if mask&unix.IN_MASK_ADD != 0 {
			w.mask |= mask &^ (unix.IN_MASK_ADD | inMaskCreate)
		} else {
			w.mask = mask &^ inMaskCreate
		}
		return w.wd, nil
	}
	users.Lock()
	if users.watches[in.uid] >= MaxUserWatches {
		users.Unlock()
		in.mu.Unlock()
		return 0, unix.ENOSPC
	}
	users.watches[in.uid]++
	users.Unlock()
	wd := in.lastWD
	for {
		wd++
		if wd <= 0 {
			wd = 1
		}
		if in.byWD[wd] == nil {
			break
		}
	}
	in.lastWD = wd
	w := &watch{in: in, wd: wd, inode: inode, mask: mask &^ (unix.IN_MASK_ADD | inMaskCreate)}
	in.byWD[wd] = w
	in.byInode[inode] = w
	in.mu.Unlock()
	in.v.AddWatch(vd, w)
	return wd, nil
}

// RemoveWatch implements inotify_rm_watch(2): EINVAL for an unknown wd.
func (in *Instance) RemoveWatch(wd int32) error {
	in.mu.Lock()
	w := in.byWD[wd]
	if w == nil {
		in.mu.Unlock()
		return unix.EINVAL
	}
	in.dropLocked(w, true)
	in.mu.Unlock()
	in.notifyReaders()
	in.v.RemoveWatch(w.inode, w)
	return nil
}

// dropLocked forgets w, queueing IN_IGNORED if ignored.
func (in *Instance) dropLocked(w *watch, ignored bool) {
	if w.gone {
		return
	}
	w.gone = true
	delete(in.byWD, w.wd)
	delete(in.byInode, w.inode)
	users.Lock()
	users.watches[in.uid]--
	users.Unlock()
	if ignored {
		in.queueLocked(event{wd: w.wd, mask: unix.IN_IGNORED}, false)
	}
}

// queueLocked appends e, merging it into an identical last event if merge,
// or queues the overflow event when full.
func (in *Instance) queueLocked(e event, merge bool) {
	if in.closed {
		return
	}
	if n := len(in.events); merge && n > 0 && in.events[n-1] == e {
		return
	}
	if len(in.events) >= MaxQueuedEvents {
		if !in.over {
			in.over = true
			ov := event{wd: -1, mask: unix.IN_Q_OVERFLOW}
			in.events = append(in.events, ov)
			in.bytes += ov.size()
		}
		return
	}
	in.events = append(in.events, e)
	in.bytes += e.size()
}

func (in *Instance) notifyReaders() {
	in.mu.Lock()
	ready := len(in.events) > 0
	in.mu.Unlock()
	if ready {
		in.queue.Notify(waiter.EventIn | waiter.EventRdNorm)
	}
}

// Notify implements vfs.Watch.
func (w *watch) Notify(mask, cookie uint32, name string, unlinked bool) {
	in := w.in
	in.mu.Lock()
	if w.gone {
		in.mu.Unlock()
		return
	}
	wmask := w.mask
	remove := false
	if mask&wmask&unix.IN_ALL_EVENTS != 0 && !(unlinked && name != "" && wmask&unix.IN_EXCL_UNLINK != 0) {
		in.queueLocked(event{wd: w.wd, mask: mask, cookie: cookie, name: name}, true)
		remove = wmask&unix.IN_ONESHOT != 0
	}
	if mask&unix.IN_DELETE_SELF != 0 && name == "" {
		// The inode is gone: so is the watch.
		remove = true
	}
	if remove {
		in.dropLocked(w, true)
	}
	in.mu.Unlock()
	in.notifyReaders()
	if remove {
		in.v.RemoveWatch(w.inode, w)
	}
}

// Read implements vfs.FileImpl.Read: whole events, as many as fit.
func (in *Instance) Read(ctx vfs.Context, dst []byte, _ int64, nonblock bool) (int, error) {
	var ch chan struct{}
	for {
		in.mu.Lock()
		if len(in.events) > 0 {
			n := 0
			i := 0
			for ; i < len(in.events); i++ {
				e := &in.events[i]
				sz := e.size()
				if n+sz > len(dst) {
					break
				}
				b := dst[n : n+sz]
				binary.LittleEndian.PutUint32(b[0:], uint32(e.wd))
				binary.LittleEndian.PutUint32(b[4:], e.mask)
				binary.LittleEndian.PutUint32(b[8:], e.cookie)
				binary.LittleEndian.PutUint32(b[12:], uint32(sz-eventSize))
				clear(b[eventSize:])
				copy(b[eventSize:], e.name)
				n += sz
				if e.mask == unix.IN_Q_OVERFLOW && e.wd == -1 {
					in.over = false
				}
			}
			if i == 0 {
				in.mu.Unlock()
				return 0, unix.EINVAL
			}
			in.events = append(in.events[:0:0], in.events[i:]...)
			in.bytes -= n
			in.mu.Unlock()
			return n, nil
		}
		in.mu.Unlock()
		if nonblock {
			return 0, unix.EAGAIN
		}
		if ch == nil {
			var e *waiter.Entry
			e, ch = waiter.NewChannelEntry(waiter.EventIn)
			in.queue.EventRegister(e)
			defer in.queue.EventUnregister(e)
			continue
		}
		if err := ctx.Block(ch); err != nil {
			return 0, err
		}
	}
}

// Write implements vfs.FileImpl.Write (the file is read-only).
func (in *Instance) Write(vfs.Context, []byte, int64, bool) (int, error) { return 0, unix.EBADF }

// Ioctl implements vfs.FileImpl.Ioctl: FIONREAD.
func (in *Instance) Ioctl(ctx vfs.Context, io vfs.UserMemory, cmd uint32, arg uint64) (uint64, error) {
	if cmd != vfs.FIONREAD {
		return 0, unix.ENOTTY
	}
	in.mu.Lock()
	n := in.bytes
	in.mu.Unlock()
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], uint32(n))
	return 0, io.CopyOut(uintptr(arg), b[:])
}

// Readiness implements waiter.Waitable.
func (in *Instance) Readiness(mask waiter.EventMask) waiter.EventMask {
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.events) > 0 {
		return mask & (waiter.EventIn | waiter.EventRdNorm)
	}
	return 0
}

// EventRegister implements waiter.Waitable.
func (in *Instance) EventRegister(e *waiter.Entry) { in.queue.EventRegister(e) }

// EventUnregister implements waiter.Waitable.
func (in *Instance) EventUnregister(e *waiter.Entry) { in.queue.EventUnregister(e) }

// Release implements vfs.FileImpl.Release: every watch goes, silently.
func (in *Instance) Release() {
	in.mu.Lock()
	if in.closed {
		in.mu.Unlock()
		return
	}
	in.closed = true
	var ws []*watch
	for _, w := range in.byWD {
		in.dropLocked(w, false)
		ws = append(ws, w)
	}
	in.events = nil
	in.mu.Unlock()
	for _, w := range ws {
		in.v.RemoveWatch(w.inode, w)
	}
	users.Lock()
	users.instances[in.uid]--
	users.Unlock()
}

var _ vfs.FileImpl = (*Instance)(nil)
var _ vfs.Watch = (*watch)(nil)
