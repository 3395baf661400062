// Package mqueue implements POSIX message queues (mq_overview(7)): one
// mqueue filesystem per IPC namespace, holding the queues mq_open(2)
// creates. Mounting it (mount -t mqueue, or config.json's mqueue mount at
// /dev/mqueue) shows the queues as files: reading one gives its QSIZE
// line, unlink removes it, open(2) with O_CREAT creates one with the
// default attributes.
//
// The syscall layer (syscalls/sys_mqueue.go) uses Of to find a namespace's
// filesystem, Open and Unlink for names, and the *Queue behind a
// descriptor (QueueOf) for sending, receiving, notification and
// attributes.
package mqueue

import (
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/waiter"
	"golang.org/x/sys/unix"
)

// Limits (Linux's defaults; /proc/sys/fs/mqueue shows them).
const (
	MsgDefault     = 10
	MsgMax         = 10
	MsgsizeDefault = 8192
	MsgsizeMax     = 8192
	QueuesMax      = 256
	// HardMsgMax and HardMsgsizeMax bound what CAP_SYS_RESOURCE allows.
	HardMsgMax     = 65536
	HardMsgsizeMax = 16 << 20
	// PrioMax bounds message priorities (MQ_PRIO_MAX).
	PrioMax = 32768

	// fileSize is a queue file's st_size, Linux's FILENT_SIZE.
	fileSize = 80
	// msgOverhead and nodeOverhead are what Linux charges per message
	// slot and per priority level to RLIMIT_MSGQUEUE besides the message
	// bytes (sizeof(struct msg_msg) and of struct posix_msg_tree_node).
	msgOverhead  = 48
	nodeOverhead = 48
)

// FS is one IPC namespace's mqueue filesystem.
type FS struct {
	k   *kernel.Kernel
	dev uint64
	dir *dir
}

// Of returns the mqueue filesystem of IPC namespace ns, made on first
// use.
func Of(k *kernel.Kernel, ns *kernel.IPCNamespace) *FS {
	return ns.Mqueue(func() any {
		fs := &FS{k: k, dev: vfs.NewAnonDev()}
		now := unix.NsecToTimespec(time.Now().UnixNano())
		fs.dir = &dir{fs: fs, ino: vfs.NextAnonIno(), queues: make(map[string]*Queue),
			mode: unix.S_IFDIR | unix.S_ISVTX | 0o777, time: now}
		return fs
	}).(*FS)
}

// Root returns the filesystem's root directory, to mount.
func (fs *FS) Root() vfs.Inode { return fs.dir }

// usage is what each kernel user's queues charge to RLIMIT_MSGQUEUE
// (Linux keeps it per user, across namespaces).
var usage = struct {
	sync.Mutex
	bytes map[usageKey]uint64
}{bytes: make(map[usageKey]uint64)}

type usageKey struct {
	k   *kernel.Kernel
	uid uint32
}

// struct sigevent's sigev_notify values (sigevent(7)).
const (
	SigevSignal = 0
	SigevNone   = 1
	SigevThread = 2
)

// Attr is struct mq_attr.
type Attr struct {
	Flags, MaxMsg, MsgSize, CurMsgs int64
}

// dir is the root directory, the only directory.
type dir struct {
	vfs.InodeDefaults
	fs   *FS
	ino  uint64
	time unix.Timespec

	mu     sync.Mutex
	mode   uint32
	uid    uint32
	gid    uint32
	queues map[string]*Queue
}

// Stat implements vfs.Inode.
func (d *dir) Stat(vfs.Context) (vfs.Stat, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	// Linux counts DIRENT_SIZE (20) per entry, "." and ".." included.
	return vfs.Stat{Dev: d.fs.dev, Ino: d.ino, Mode: d.mode, Nlink: 2, UID: d.uid, GID: d.gid,
		Size: int64(20 * (2 + len(d.queues))), Blksize: 4096, Atime: d.time, Mtime: d.time, Ctime: d.time}, nil
}

// SetStat implements vfs.Inode (chmod/chown of the mount point).
func (d *dir) SetStat(_ vfs.Context, s vfs.SetStat) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := vfs.Stat{Mode: d.mode, UID: d.uid, GID: d.gid}
	vfs.ApplySetStat(&st, s)
	d.mode, d.uid, d.gid = st.Mode, st.UID, st.GID
	return nil
}

// FileType implements vfs.TypeReporter.
func (d *dir) FileType() uint32 { return unix.S_IFDIR }

// DynamicLookup implements vfs.DynamicDirectory: mq_unlink and mq_open
// change the directory behind the VFS's back.
func (d *dir) DynamicLookup() bool { return true }

// Open implements vfs.Inode (ls opens the directory).
func (d *dir) Open(vfs.Context, uint32) (vfs.FileImpl, error) { return &dirFile{}, nil }

// Lookup implements vfs.Inode.
func (d *dir) Lookup(_ vfs.Context, name string) (vfs.Inode, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if q := d.queues[name]; q != nil {
		return q, nil
	}
	return nil, unix.ENOENT
}

// Getdents implements vfs.Inode.
func (d *dir) Getdents(vfs.Context) ([]vfs.Dirent, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]vfs.Dirent, 0, len(d.queues))
	for name, q := range d.queues {
		out = append(out, vfs.Dirent{Name: name, Ino: q.ino, Type: unix.DT_REG})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Create implements vfs.Inode: open(2) with O_CREAT in the mounted
// filesystem makes a queue with the default attributes.
func (d *dir) Create(ctx vfs.Context, name string, flags uint32, mode uint32) (vfs.Inode, vfs.FileImpl, error) {
	q, err := d.create(ctx, name, mode, nil)
	if err != nil {
		return nil, nil, err
	}
	q.mu.Lock()
	q.opens++
	q.mu.Unlock()
	return q, &File{q: q}, nil
}

// Unlink implements vfs.Inode (the VFS checked the sticky bit).
func (d *dir) Unlink(_ vfs.Context, name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	q := d.queues[name]
	if q == nil {
		return unix.ENOENT
	}
	delete(d.queues, name)
	q.unlinked()
	return nil
}

// Mkdir implements vfs.Inode: the filesystem has no subdirectories.
func (d *dir) Mkdir(vfs.Context, string, uint32) (vfs.Inode, error) { return nil, unix.EPERM }

// Mknod implements vfs.Inode.
func (d *dir) Mknod(vfs.Context, string, uint32, uint64) (vfs.Inode, error) { return nil, unix.EPERM }

// Symlink implements vfs.Inode.
func (d *dir) Symlink(vfs.Context, string, string) (vfs.Inode, error) { return nil, unix.EPERM }

// Link implements vfs.Inode.
func (d *dir) Link(vfs.Context, string, vfs.Inode) error { return unix.EPERM }

// Rename implements vfs.Inode.
func (d *dir) Rename(vfs.Context, string, vfs.Inode, string) error { return unix.EPERM }

// Rmdir implements vfs.Inode.
func (d *dir) Rmdir(vfs.Context, string) error { return unix.ENOTDIR }

// StatFS implements vfs.StatFSer.
func (d *dir) StatFS(vfs.Context) (vfs.StatFS, error) {
	return vfs.StatFS{Type: 0x19800202 /* MQUEUE_MAGIC */, Bsize: 4096, Frsize: 4096, Namelen: 255}, nil
}

// dirFile is the open root directory (the VFS lists it).
type dirFile struct {
	vfs.NoIoctl
	vfs.AlwaysReady
	vfs.NoRelease
}

func (*dirFile) Read(vfs.Context, []byte, int64, bool) (int, error)  { return 0, unix.EISDIR }
func (*dirFile) Write(vfs.Context, []byte, int64, bool) (int, error) { return 0, unix.EISDIR }

// creator is the task creating a queue: its kernel ids, capabilities and
// RLIMIT_MSGQUEUE.
func creator(ctx vfs.Context) (uid uint32, capable bool, limit uint64) {
	uid, limit = ctx.FSUID(), ^uint64(0)
	if t, ok := ctx.(*kernel.Task); ok {
		c := t.Credentials()
		uid = c.EUID
		capable = t.HasCapability(unix.CAP_SYS_RESOURCE)
		if l, err := t.ThreadGroup().Limits().Get(unix.RLIMIT_MSGQUEUE); err == nil {
			limit = l.Cur
		}
	} else {
		capable = uid == 0
	}
	return uid, capable, limit
}

// create makes queue name with attr (nil: the defaults), checking the
// limits of mq_open(2): attributes within msg_max and msgsize_max (or the
// hard limits with CAP_SYS_RESOURCE; EINVAL), at most queues_max queues
// without CAP_SYS_RESOURCE (ENOSPC), and the queue's memory within the
// creator's RLIMIT_MSGQUEUE (EMFILE).
func (d *dir) create(ctx vfs.Context, name string, mode uint32, attr *Attr) (*Queue, error) {
	uid, capable, limit := creator(ctx)
	a := Attr{MaxMsg: MsgDefault, MsgSize: MsgsizeDefault}
	if attr != nil {
		if attr.MaxMsg <= 0 || attr.MsgSize <= 0 {
			return nil, unix.EINVAL
		}
		if capable {
			if attr.MaxMsg > HardMsgMax || attr.MsgSize > HardMsgsizeMax {
				return nil, unix.EINVAL
			}
		} else if attr.MaxMsg > MsgMax || attr.MsgSize > MsgsizeMax {
			return nil, unix.EINVAL
		}
		a.MaxMsg, a.MsgSize = attr.MaxMsg, attr.MsgSize
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.queues[name] != nil {
		return nil, unix.EEXIST
	}
	if len(d.queues) >= QueuesMax && !capable {
		return nil, unix.ENOSPC
	}
	cost := uint64(a.MaxMsg)*msgOverhead + uint64(min(a.MaxMsg, PrioMax))*nodeOverhead + uint64(a.MaxMsg)*uint64(a.MsgSize)
	key := usageKey{d.fs.k, uid}
	usage.Lock()
	if usage.bytes[key]+cost > limit {
		usage.Unlock()
		return nil, unix.EMFILE
	}
	usage.bytes[key] += cost
	usage.Unlock()
	now := unix.NsecToTimespec(time.Now().UnixNano())
	q := &Queue{fs: d.fs, ino: vfs.NextAnonIno(), attr: a, uid: uid, gid: ctx.FSGID(),
		mode: unix.S_IFREG | mode&0o777, atime: now, mtime: now, ctime: now,
		charged: key, cost: cost, links: 1}
	d.queues[name] = q
	d.time = now
	return q, nil
}

// Open implements mq_open(2) of name (the name without its leading
// slash, as glibc passes it): EACCES for a name with a slash, ENOENT for
// an empty one; O_CREAT makes a missing queue (attr nil: the defaults),
// O_EXCL fails on an existing one (EEXIST), and opening an existing queue
// checks read or write permission for the access mode (EACCES). The
// descriptor is always close-on-exec, as Linux makes it.
func (fs *FS) Open(ctx vfs.Context, name string, flags uint32, mode uint32, attr *Attr) (*vfs.FileDescription, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	acc := flags & unix.O_ACCMODE
	if acc == unix.O_ACCMODE {
		return nil, unix.EINVAL
	}
	d := fs.dir
	d.mu.Lock()
	q := d.queues[name]
	d.mu.Unlock()
	if q != nil {
		if flags&(unix.O_CREAT|unix.O_EXCL) == unix.O_CREAT|unix.O_EXCL {
			return nil, unix.EEXIST
		}
		want := uint32(0)
		if acc == unix.O_RDONLY || acc == unix.O_RDWR {
			want |= vfs.MayRead
		}
		if acc == unix.O_WRONLY || acc == unix.O_RDWR {
			want |= vfs.MayWrite
		}
		st, _ := q.Stat(ctx)
		if err := vfs.CheckPermission(ctx, &st, want); err != nil {
			return nil, err
		}
	} else {
		if flags&unix.O_CREAT == 0 {
			return nil, unix.ENOENT
		}
		// Creating needs write and search permission on the directory.
		st, _ := d.Stat(ctx)
		if err := vfs.CheckPermission(ctx, &st, vfs.MayWrite|vfs.MayExec); err != nil {
			return nil, err
		}
		var err error
		if q, err = d.create(ctx, name, mode, attr); err != nil {
			return nil, err
		}
	}
	q.mu.Lock()
	q.opens++
	q.mu.Unlock()
	f := vfs.NewFileDescription(&File{q: q}, flags&(unix.O_ACCMODE|unix.O_NONBLOCK), q, "/"+name)
	return f, nil
}

// Unlink implements mq_unlink(2): write and search permission on the
// directory and the sticky bit rule (the queue's or the directory's owner,
// or CAP_FOWNER); the queue lives on while it is open.
func (fs *FS) Unlink(ctx vfs.Context, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	d := fs.dir
	d.mu.Lock()
	q := d.queues[name]
	d.mu.Unlock()
	if q == nil {
		return unix.ENOENT
	}
	st, _ := d.Stat(ctx)
	if err := vfs.CheckPermission(ctx, &st, vfs.MayWrite|vfs.MayExec); err != nil {
		return err
	}
	qst, _ := q.Stat(ctx)
	if ctx.FSUID() != qst.UID && ctx.FSUID() != st.UID && !hasCap(ctx, unix.CAP_FOWNER) {
		return unix.EPERM
	}
	return d.Unlink(ctx, name)
}

func hasCap(ctx vfs.Context, cp int) bool {
	if c, ok := ctx.(vfs.Capable); ok {
		return c.HasCapability(cp)
	}
	return ctx.FSUID() == 0
}

func checkName(name string) error {
	if name == "" {
		return unix.ENOENT
	}
	if len(name) > vfs.NameMax {
		return unix.ENAMETOOLONG
	}
	for i := 0; i < len(name); i++ {
		if name[i] == '/' {
			return unix.EACCES
		}
	}
	if name == "." || name == ".." {
		return unix.EINVAL
	}
	return nil
}

// Queue is one message queue: an inode of the filesystem.
type Queue struct {
	vfs.InodeDefaults
	fs  *FS
	ino uint64

	mu                  sync.Mutex
	attr                Attr
	msgs                []message // by priority, highest first, FIFO within
	bytes               int64
	uid, gid, mode      uint32
	atime, mtime, ctime unix.Timespec
	// changed is closed (and replaced) when a message comes or goes.
	changed chan struct{}
	events  waiter.Queue
	// receivers counts mq_receive calls asleep on the queue: a message
	// for a waiting receiver notifies no one (mq_notify(3)).
	receivers int
	notify    *notification
	opens     int
	links     int
	charged   usageKey
	cost      uint64
	released  atomic.Bool
}

type message struct {
	prio uint32
	data []byte
}

type notification struct {
	owner  *kernel.ThreadGroup
	notify int32 // SIGEV_SIGNAL or SIGEV_NONE
	signo  int32
	value  uint64
}

// Stat implements vfs.Inode.
func (q *Queue) Stat(vfs.Context) (vfs.Stat, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return vfs.Stat{Dev: q.fs.dev, Ino: q.ino, Mode: q.mode, Nlink: uint32(q.links), UID: q.uid, GID: q.gid,
		Size: fileSize, Blksize: 4096, Atime: q.atime, Mtime: q.mtime, Ctime: q.ctime}, nil
}

// SetStat implements vfs.Inode (chmod, chown of /dev/mqueue/NAME).
func (q *Queue) SetStat(_ vfs.Context, s vfs.SetStat) error {
	if s.Valid&vfs.AttrSize != 0 {
		return unix.EINVAL
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	st := vfs.Stat{Mode: q.mode, UID: q.uid, GID: q.gid, Atime: q.atime, Mtime: q.mtime}
	vfs.ApplySetStat(&st, s)
	q.mode, q.uid, q.gid, q.atime, q.mtime = st.Mode, st.UID, st.GID, st.Atime, st.Mtime
	q.ctime = unix.NsecToTimespec(time.Now().UnixNano())
	return nil
}

// FileType implements vfs.TypeReporter.
func (q *Queue) FileType() uint32 { return unix.S_IFREG }

// Open implements vfs.Inode: open(2) of a queue file gives a descriptor
// mq_* calls accept, whose read(2) gives the QSIZE line.
func (q *Queue) Open(_ vfs.Context, flags uint32) (vfs.FileImpl, error) {
	q.mu.Lock()
	q.opens++
	q.mu.Unlock()
	return &File{q: q}, nil
}

func (q *Queue) unlinked() {
	q.mu.Lock()
	q.links = 0
	q.mu.Unlock()
	q.maybeRelease()
}

// maybeRelease gives back the queue's RLIMIT_MSGQUEUE charge once it is
// unlinked and closed.
func (q *Queue) maybeRelease() {
	q.mu.Lock()
	gone := q.links == 0 && q.opens == 0
	q.mu.Unlock()
	if gone && !q.released.Swap(true) {
		usage.Lock()
		if usage.bytes[q.charged] -= q.cost; usage.bytes[q.charged] == 0 {
			delete(usage.bytes, q.charged)
		}
		usage.Unlock()
	}
}

func (q *Queue) wakeLocked() {
	if q.changed != nil {
		close(q.changed)
	}
	q.changed = make(chan struct{})
	q.events.Notify(waiter.EventIn | waiter.EventOut | waiter.EventRdNorm | waiter.EventWrNorm)
}

func (q *Queue) waitChanLocked() chan struct{} {
	if q.changed == nil {
		q.changed = make(chan struct{})
	}
	return q.changed
}

// QSize is the queue file's text (mqueue_read_file) for reader: the bytes
// queued and the notification registered, with the owner's pid as the
// reader's pid namespace sees it.
func (q *Queue) QSize(reader vfs.Context) string {
	q.mu.Lock()
	defer q.mu.Unlock()
	var notify, signo, pid int32
	if n := q.notify; n != nil {
		notify, pid = n.notify, int32(n.owner.ID())
		if t, ok := reader.(*kernel.Task); ok {
			pid = int32(t.ViewOf(n.owner))
		}
		if n.notify == SigevSignal {
			signo = n.signo
		}
	}
	return fmt.Sprintf("QSIZE:%-10d NOTIFY:%-5d SIGNO:%-5d NOTIFY_PID:%-6d\n", q.bytes, notify, signo, pid)
}

// GetAttr returns the queue's attributes (mq_flags is the descriptor's,
// which the caller fills in).
func (q *Queue) GetAttr() Attr {
	q.mu.Lock()
	defer q.mu.Unlock()
	a := q.attr
	a.CurMsgs = int64(len(q.msgs))
	return a
}

// deadlineWait sleeps until ch or deadline (nil: forever): ETIMEDOUT, or
// syserr.ErrInterrupted for a signal (mq_timedsend and mq_timedreceive
// restart under SA_RESTART, as in Linux).
func deadlineWait(ctx vfs.Context, ch <-chan struct{}, deadline *time.Time) error {
	if deadline == nil {
		return ctx.Block(ch)
	}
	d := time.Until(*deadline)
	if d < 0 {
		d = 0
	}
	return ctx.BlockTimeout(ch, d)
}

// Send implements mq_timedsend(2): a message of at most mq_msgsize bytes
// (EMSGSIZE) with priority below MQ_PRIO_MAX (EINVAL, checked by the
// caller) joins the queue after the messages of higher or equal priority;
// a full queue makes the call sleep until deadline (ETIMEDOUT), or fail
// with EAGAIN when nonblock. A message reaching an empty queue that no
// receiver waits on fires the registered notification.
func (q *Queue) Send(ctx vfs.Context, data []byte, prio uint32, nonblock bool, deadline *time.Time, sender *kernel.Task) error {
	q.mu.Lock()
	if int64(len(data)) > q.attr.MsgSize {
		q.mu.Unlock()
		return unix.EMSGSIZE
	}
	for int64(len(q.msgs)) >= q.attr.MaxMsg {
		if nonblock {
			q.mu.Unlock()
			return unix.EAGAIN
		}
		ch := q.waitChanLocked()
		q.mu.Unlock()
		if err := deadlineWait(ctx, ch, deadline); err != nil {
			return err
		}
		q.mu.Lock()
	}
	i := sort.Search(len(q.msgs), func(i int) bool { return q.msgs[i].prio < prio })
	q.msgs = append(q.msgs, message{})
	copy(q.msgs[i+1:], q.msgs[i:])
	q.msgs[i] = message{prio: prio, data: append([]byte(nil), data...)}
	q.bytes += int64(len(data))
	now := unix.NsecToTimespec(time.Now().UnixNano())
	q.mtime, q.ctime = now, now
	var n *notification
	if len(q.msgs) == 1 && q.receivers == 0 && q.notify != nil {
		n, q.notify = q.notify, nil
	}
	q.wakeLocked()
	q.mu.Unlock()
	if n != nil && n.notify == SigevSignal {
		info := &arch.SignalInfo{Signo: n.signo, Code: -3 /* SI_MESGQ */}
		info.SetValue(n.value)
		if sender != nil {
			info.SetPID(int32(n.owner.PIDNamespace().IDOfThreadGroup(sender.ThreadGroup())))
			info.SetUID(sender.UserNamespace().ViewUID(sender.Credentials().UID))
		}
		q.fs.k.SendSignal(n.owner, info)
	}
	return nil
}

// Receive implements mq_timedreceive(2): the oldest message of the
// highest priority, into a buffer of at least mq_msgsize bytes (EMSGSIZE
// otherwise); an empty queue makes the call sleep until deadline
// (ETIMEDOUT), or fail with EAGAIN when nonblock.
func (q *Queue) Receive(ctx vfs.Context, size int64, nonblock bool, deadline *time.Time) ([]byte, uint32, error) {
	q.mu.Lock()
	if size < q.attr.MsgSize {
		q.mu.Unlock()
		return nil, 0, unix.EMSGSIZE
	}
	for len(q.msgs) == 0 {
		if nonblock {
			q.mu.Unlock()
			return nil, 0, unix.EAGAIN
		}
		ch := q.waitChanLocked()
		q.receivers++
		q.mu.Unlock()
		err := deadlineWait(ctx, ch, deadline)
		q.mu.Lock()
		q.receivers--
		if err != nil {
			q.mu.Unlock()
			return nil, 0, err
		}
	}
	m := q.msgs[0]
	q.msgs = append(q.msgs[:0:0], q.msgs[1:]...)
	q.bytes -= int64(len(m.data))
	now := unix.NsecToTimespec(time.Now().UnixNano())
	q.atime, q.ctime = now, now
	q.wakeLocked()
	q.mu.Unlock()
	return m.data, m.prio, nil
}

// Notify implements mq_notify(2) for process owner: with sev nil, it
// removes owner's registration; else it registers one, EBUSY if another
// live process holds the registration. kind is SIGEV_SIGNAL or
// SIGEV_NONE (the caller refuses SIGEV_THREAD).
func (q *Queue) Notify(owner *kernel.ThreadGroup, remove bool, kind, signo int32, value uint64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if n := q.notify; n != nil {
		select {
		case <-n.owner.Exited():
			// The owner is gone; Linux drops its registration when it
			// closes the descriptor.
			q.notify = nil
		default:
		}
	}
	if remove {
		if q.notify != nil && q.notify.owner == owner {
			q.notify = nil
		}
		return nil
	}
	if q.notify != nil {
		return unix.EBUSY
	}
	q.notify = &notification{owner: owner, notify: kind, signo: signo, value: value}
	return nil
}

// File is an open queue.
type File struct {
	vfs.NoIoctl
	q *Queue

	mu   sync.Mutex
	read bool
}

// QueueOf returns the queue behind f, or nil if f is no message queue
// descriptor (mq_* calls give EBADF then).
func QueueOf(f *vfs.FileDescription) *Queue {
	if mf, ok := f.Impl().(*File); ok {
		return mf.q
	}
	return nil
}

// Read implements vfs.FileImpl: the QSIZE line, from off.
func (f *File) Read(ctx vfs.Context, dst []byte, off int64, _ bool) (int, error) {
	s := f.q.QSize(ctx)
	if off < 0 {
		off = 0
	}
	if off >= int64(len(s)) {
		return 0, nil
	}
	return copy(dst, s[off:]), nil
}

// Write implements vfs.FileImpl: Linux's queue files have no write
// method, so write(2) fails with EINVAL.
func (f *File) Write(vfs.Context, []byte, int64, bool) (int, error) { return 0, unix.EINVAL }

// Seekable implements vfs.Seeker (the QSIZE text can be read again).
func (f *File) Seekable() bool { return true }

// Readiness implements waiter.Waitable: readable with a message, writable
// with room.
func (f *File) Readiness(mask waiter.EventMask) waiter.EventMask {
	q := f.q
	q.mu.Lock()
	defer q.mu.Unlock()
	var r waiter.EventMask
	if len(q.msgs) > 0 {
		r |= waiter.EventIn | waiter.EventRdNorm
	}
	if int64(len(q.msgs)) < q.attr.MaxMsg {
		r |= waiter.EventOut | waiter.EventWrNorm
	}
	return r & mask
}

// EventRegister implements waiter.Waitable.
func (f *File) EventRegister(e *waiter.Entry) { f.q.events.EventRegister(e) }

// EventUnregister implements waiter.Waitable.
func (f *File) EventUnregister(e *waiter.Entry) { f.q.events.EventUnregister(e) }

// Release implements vfs.FileImpl.
func (f *File) Release() {
	q := f.q
	q.mu.Lock()
	q.opens--
	q.mu.Unlock()
	q.maybeRelease()
}

var (
	_ vfs.Inode            = (*dir)(nil)
	_ vfs.DynamicDirectory = (*dir)(nil)
	_ vfs.Inode            = (*Queue)(nil)
	_ vfs.FileImpl         = (*File)(nil)
)
