package pipe

import (
	"strconv"

	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

func init() {
	// Named pipes created by mknod(S_IFIFO)/mkfifo in any filesystem.
	vfs.SetFIFOFactory(func() vfs.FIFO { return NewPipe(true) })
}

// Inode is the inode of an anonymous pipe: what fstat(2), fchmod(2)... act
// on for either end. Opening it (a reopen through /proc/<pid>/fd/N, e.g.
// /dev/stdin, which vfs.AnonymousDentry makes possible) gives a new file
// description on the same pipe with the requested access mode, whichever
// end was named: Linux's fifo_open, which for a pipefs inode never waits
// for a partner nor gives ENXIO (so reading with every writer gone sees
// EOF at once, writing with every reader gone gets EPIPE).
type Inode struct {
	*vfs.AnonInode
	p *Pipe
}

var (
	_ vfs.Inode        = (*Inode)(nil)
	_ vfs.TypeReporter = (*Inode)(nil)
)

// NewInode returns the inode of the anonymous pipe p (mode S_IFIFO|0600,
// owned by the caller).
func NewInode(ctx vfs.Context, p *Pipe) *Inode {
	return &Inode{AnonInode: vfs.NewAnonInode(ctx, unix.S_IFIFO|0o600), p: p}
}

// Pipe returns the pipe of the inode.
func (i *Inode) Pipe() *Pipe { return i.p }

// Open implements vfs.Inode.Open.
func (i *Inode) Open(ctx vfs.Context, flags uint32) (vfs.FileImpl, error) {
	return i.p.Open(ctx, flags)
}

// NewFiles makes a new anonymous pipe as two open file descriptions, the
// read end and the write end, for pipe2(2). flags may hold O_NONBLOCK (and
// O_DIRECT, accepted as a no-op: packet mode is not implemented). The
// caller owns one reference on each.
func NewFiles(ctx vfs.Context, flags uint32) (r, w *vfs.FileDescription) {
	rf, wf := NewAnonymous()
	ino := NewInode(ctx, rf.p)
	st, _ := ino.Stat(ctx)
	name := "pipe:[" + strconv.FormatUint(st.Ino, 10) + "]"
	status := flags & unix.O_NONBLOCK
	r = vfs.NewFileDescription(rf, unix.O_RDONLY|status, ino, name)
	w = vfs.NewFileDescription(wf, unix.O_WRONLY|status, ino, name)
	return r, w
}
