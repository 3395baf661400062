// Package devpts is the Sentry's /dev/pts: pseudo-terminals the sandbox
// makes itself (/dev/ptmx, /dev/pts/ptmx and /dev/pts/N, with the line
// discipline of ldisc.go), and, under their host numbers, the host
// pseudo-terminals the sandbox was given (sentry/fs/host).
//
// Opening /dev/ptmx (or /dev/pts/ptmx) makes a new pair: the master is the
// opened file, the slave appears as /dev/pts/N (the lowest free number)
// locked until unlockpt(3) (TIOCSPTLCK), and disappears when the master is
// closed; the number is free again once the slave's files are closed too.
// TIOCGPTN gives N, TIOCGPTPEER opens the slave from the master, so
// posix_openpt, grantpt, unlockpt, ptsname and openpty work as glibc
// expects. Slaves are owned by the opener's fsuid, with the mount's mode
// and gid options (Linux: mode=, gid=). The job-control state of each
// slave is a kernel.TTY, so sessions, TIOCSCTTY, foreground groups,
// SIGTTIN/SIGTTOU and /dev/tty work as for any terminal.
//
// Closing the master hangs the slave up: its session leader gets SIGHUP
// and SIGCONT, its reads return end of file, its writes EIO. Closing the
// last slave file makes the master's reads return EIO once it has read
// everything (and poll POLLHUP).
//
// Packet mode (TIOCPKT) reports flushes and flow control changes.
//
// Not supported: TIOCVHANGUP, TIOCSTI on the master, the
// legacy BSD pseudo-terminals.
package devpts

import (
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/veil-sandbox/veil/sentry/fs/host"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// Device numbers: /dev/ptmx is 5:2, slave N is UNIX98_PTY_SLAVE_MAJOR
// (136) + N>>20 : N&0xfffff.
const (
	PtmxMajor     = 5
	PtmxMinor     = 2
	slaveMajor    = 136
	maxPtys       = 4096 // /proc/sys/kernel/pty/max is larger; this is plenty
	ptmxInodeNum  = 2
	rootInodeNum  = 1
	slaveInodeOff = 3 // slave N has inode N+3, as on Linux
)

// Options are the devpts mount options (mount(8) "devpts").
type Options struct {
	// Mode is the permission of new slaves (mode=, Linux's default
	// 0600); PtmxMode that of /dev/pts/ptmx (ptmxmode=, default 0).
	Mode, PtmxMode uint32
	// GID, if SetGID, is the group of new slaves (gid=); otherwise the
	// opener's fsgid.
	GID    uint32
	SetGID bool
}

// ParseOptions parses devpts mount options ("mode=620", "gid=5", ...):
// mode= and ptmxmode= in octal, gid= through mapGID (the mounter's user
// namespace: EINVAL for an unmapped id). newinstance, uid= and max= are
// accepted and have no effect (every instance is new, as since Linux 4.7;
// slaves belong to their opener). Other options are EINVAL when strict
// (mount(2), as Linux's devpts), ignored otherwise (the generic mount
// options an OCI configuration lists with them).
func ParseOptions(opts []string, mapGID func(uint32) (uint32, bool), strict bool) (Options, error) {
	o := Options{Mode: 0o600}
	for _, opt := range opts {
		k, v, _ := strings.Cut(opt, "=")
		switch k {
		case "mode", "ptmxmode":
			n, err := strconv.ParseUint(v, 8, 32)
			if err != nil || n > 0o777 {
				return o, unix.EINVAL
			}
			if k == "mode" {
				o.Mode = uint32(n)
			} else {
				o.PtmxMode = uint32(n)
			}
		case "gid", "uid", "max":
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return o, unix.EINVAL
			}
			if k == "gid" {
				g, ok := mapGID(uint32(n))
				if !ok {
					return o, unix.EINVAL
				}
				o.GID, o.SetGID = g, true
			}
		case "newinstance", "":
		default:
			if strict {
				return o, unix.EINVAL
			}
		}
	}
	return o, nil
}

// HostDefaults are the options of a Debian host's /dev/pts (systemd
// mounts it gid=5,mode=620,ptmxmode=000), for a sandbox whose
// configuration mounts no devpts of its own (runsc do).
var HostDefaults = Options{Mode: 0o620, PtmxMode: 0, GID: 5, SetGID: true}

// Filesystem is one devpts instance.
type Filesystem struct {
	opts Options
	dev  uint64
	made unix.Timespec
	root *rootDir
	ptmx *ptmxInode

	mu    sync.Mutex
	ptys  map[uint32]*pty // by number, from ptmx open to release
	mount vfs.VirtualDentry
}

// New returns a new devpts instance.
func New(opts Options) *Filesystem {
	fs := &Filesystem{opts: opts, dev: vfs.NewAnonDev(), made: vfs.NowTimespec(), ptys: make(map[uint32]*pty)}
	fs.root = &rootDir{fs: fs}
	fs.ptmx = &ptmxInode{fs: fs, st: vfs.Stat{Dev: fs.dev, Ino: ptmxInodeNum, Mode: unix.S_IFCHR | opts.PtmxMode&0o7777,
		Nlink: 1, Rdev: vfs.MakeDev(PtmxMajor, PtmxMinor), Blksize: 1024, Atime: fs.made, Mtime: fs.made, Ctime: fs.made}}
	return fs
}

// Root returns the root directory (what is mounted at /dev/pts).
func (fs *Filesystem) Root() vfs.Inode { return fs.root }

// SetMount records where the instance is mounted: TIOCGPTPEER opens the
// slave there, as Linux opens it in the master's devpts mount.
func (fs *Filesystem) SetMount(vd vfs.VirtualDentry) {
	fs.mu.Lock()
	fs.mount = vd
	fs.mu.Unlock()
}

var defaultFS atomic.Pointer[Filesystem]

// SetDefault makes fs the instance /dev/ptmx (character device 5:2 of
// any filesystem) opens: Linux's ptmx device opens the devpts mounted at
// pts next to it, which in the Sentry is always /dev/pts.
func SetDefault(fs *Filesystem) { defaultFS.Store(fs) }

func init() {
	vfs.RegisterCharDevice(PtmxMajor, PtmxMinor, func(ctx vfs.Context, flags uint32) (vfs.FileImpl, error) {
		fs := defaultFS.Load()
		if fs == nil {
			return nil, unix.ENODEV
		}
		return fs.OpenMaster(ctx, flags)
	})
}

// OpenMaster makes a new pseudo-terminal pair and returns its master: the
// slave is /dev/pts/N, locked, with default settings and no window size.
func (fs *Filesystem) OpenMaster(ctx vfs.Context, flags uint32) (vfs.FileImpl, error) {
	return fs.NewMaster(ctx)
}

// NewMaster makes a new pseudo-terminal pair and returns its master, as
// opening /dev/ptmx does; the Sentry's console relay uses it directly.
func (fs *Filesystem) NewMaster(ctx vfs.Context) (*Master, error) {
	p, err := fs.newPair(ctx)
	if err != nil {
		return nil, err
	}
	return &Master{p: p}, nil
}

// newPair allocates a pseudo-terminal.
func (fs *Filesystem) newPair(ctx vfs.Context) (*pty, error) {
	hostNums := host.PseudoTerminals()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var n uint32
	for ; n < maxPtys; n++ {
		if _, used := fs.ptys[n]; used {
			continue
		}
		if _, used := hostNums[int64(n)]; used {
			continue
		}
		break
	}
	if n == maxPtys {
		return nil, unix.ENOSPC
	}
	now := vfs.NowTimespec()
	var uid, gid uint32
	if ctx != nil {
		uid, gid = ctx.FSUID(), ctx.FSGID()
	}
	if fs.opts.SetGID {
		gid = fs.opts.GID
	}
	p := &pty{fs: fs, index: n, ld: newLdisc(DefaultTermios()), locked: true}
	p.ino = &slaveInode{p: p, st: vfs.Stat{
		Dev: fs.dev, Ino: uint64(n) + slaveInodeOff, Mode: unix.S_IFCHR | fs.opts.Mode&0o7777, Nlink: 1,
		UID: uid, GID: gid, Rdev: vfs.MakeDev(slaveMajor+n>>20, n&0xfffff), Blksize: 1024,
		Atime: now, Mtime: now, Ctime: now,
	}}
	p.jc = kernel.NewTTY(p)
	fs.ptys[n] = p
	return p, nil
}

// remove takes the slave out of the directory (its master is gone).
func (fs *Filesystem) remove(p *pty) {
	fs.mu.Lock()
	p.ino.removed.Store(true)
	fs.mu.Unlock()
	fs.maybeFree(p)
}

// maybeFree frees the number of a pty whose master and slaves are all
// closed.
func (fs *Filesystem) maybeFree(p *pty) {
	p.mu.Lock()
	done := p.masterGone && p.slaves == 0
	p.mu.Unlock()
	if !done {
		return
	}
	fs.mu.Lock()
	if fs.ptys[p.index] == p {
		delete(fs.ptys, p.index)
	}
	fs.mu.Unlock()
}

// lookup returns the live slave N.
func (fs *Filesystem) lookup(n uint32) *pty {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if p := fs.ptys[n]; p != nil && !p.ino.removed.Load() {
		return p
	}
	return nil
}

// openPeer implements TIOCGPTPEER: the slave opened through the devpts
// mount, installed as a new descriptor of the caller.
func (fs *Filesystem) openPeer(ctx vfs.Context, p *pty, flags uint32) (uint64, error) {
	t, ok := ctx.(*kernel.Task)
	if !ok {
		return 0, unix.ENOTTY
	}
	if flags&^(unix.O_ACCMODE|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC) != 0 {
		return 0, unix.EINVAL
	}
	fs.mu.Lock()
	mnt := fs.mount
	fs.mu.Unlock()
	if !mnt.Ok() {
		return 0, unix.EIO
	}
	pop := vfs.PathOperation{Root: mnt, Start: mnt, Path: strconv.Itoa(int(p.index)), FollowFinal: false}
	f, err := t.Kernel().VFS().Open(t, pop, flags&^unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	fd, err := t.FDTable().NewFD(0, f, flags&unix.O_CLOEXEC != 0)
	if err != nil {
		return 0, err
	}
	return uint64(fd), nil
}

// rootDir is the root of a devpts instance: ptmx, the Sentry's slaves and
// the host's pseudo-terminals the sandbox has descriptors of.
type rootDir struct {
	vfs.ReadOnlyDirDefaults
	fs *Filesystem
}

var (
	_ vfs.Inode            = (*rootDir)(nil)
	_ vfs.DynamicDirectory = (*rootDir)(nil)
	_ vfs.StatFSer         = (*rootDir)(nil)
)

// DynamicLookup implements vfs.DynamicDirectory: terminals come and go.
func (*rootDir) DynamicLookup() bool { return true }

// FileType implements vfs.TypeReporter.
func (*rootDir) FileType() uint32 { return unix.S_IFDIR }

// Stat implements vfs.Inode.
func (d *rootDir) Stat(vfs.Context) (vfs.Stat, error) {
	return vfs.Stat{Dev: d.fs.dev, Ino: rootInodeNum, Mode: unix.S_IFDIR | 0o755, Nlink: 2, Blksize: 1024,
		Atime: d.fs.made, Mtime: d.fs.made, Ctime: d.fs.made}, nil
}

// Lookup implements vfs.Inode. Entries are stable Inodes for as long as
// their terminal is there.
func (d *rootDir) Lookup(_ vfs.Context, name string) (vfs.Inode, error) {
	if name == "ptmx" {
		return d.fs.ptmx, nil
	}
	n, err := strconv.ParseUint(name, 10, 32)
	if err != nil || strconv.FormatUint(n, 10) != name {
		return nil, unix.ENOENT
	}
	if p := d.fs.lookup(uint32(n)); p != nil {
		return p.ino, nil
	}
	if t := host.PseudoTerminals()[int64(n)]; t != nil {
		return t, nil
	}
	return nil, unix.ENOENT
}

// Getdents implements vfs.Inode: terminals in number order, then ptmx.
func (d *rootDir) Getdents(ctx vfs.Context) ([]vfs.Dirent, error) {
	ents := map[int64]vfs.Dirent{}
	for n, t := range host.PseudoTerminals() {
		if st, err := t.Stat(ctx); err == nil {
			ents[n] = vfs.Dirent{Name: strconv.FormatInt(n, 10), Ino: st.Ino, Type: unix.DT_CHR}
		}
	}
	d.fs.mu.Lock()
	for n, p := range d.fs.ptys {
		if !p.ino.removed.Load() {
			ents[int64(n)] = vfs.Dirent{Name: strconv.FormatUint(uint64(n), 10), Ino: uint64(n) + slaveInodeOff, Type: unix.DT_CHR}
		}
	}
	d.fs.mu.Unlock()
	nums := make([]int64, 0, len(ents))
	for n := range ents {
		nums = append(nums, n)
	}
	sort.Slice(nums, func(i, j int) bool { return nums[i] < nums[j] })
	out := make([]vfs.Dirent, 0, len(nums)+1)
	for _, n := range nums {
		out = append(out, ents[n])
	}
	return append(out, vfs.Dirent{Name: "ptmx", Ino: ptmxInodeNum, Type: unix.DT_CHR}), nil
}

// StatFS implements vfs.StatFSer.
func (d *rootDir) StatFS(vfs.Context) (vfs.StatFS, error) {
	return vfs.StatFS{Type: vfs.DevptsMagic, Bsize: 4096, Namelen: vfs.NameMax, Frsize: 4096,
		Fsid: [2]int32{int32(d.fs.dev), int32(d.fs.dev >> 32)}}, nil
}

// ptmxInode is /dev/pts/ptmx: each open makes a new pair.
type ptmxInode struct {
	vfs.InodeDefaults
	fs *Filesystem

	mu sync.Mutex
	st vfs.Stat
}

// FileType implements vfs.TypeReporter.
func (*ptmxInode) FileType() uint32 { return unix.S_IFCHR }

// Stat implements vfs.Inode.
func (i *ptmxInode) Stat(vfs.Context) (vfs.Stat, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.st, nil
}

// SetStat implements vfs.Inode (chmod and chown of ptmx, as Linux
// allows).
func (i *ptmxInode) SetStat(_ vfs.Context, s vfs.SetStat) error {
	if s.Valid&vfs.AttrSize != 0 {
		return unix.EINVAL
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	vfs.ApplySetStat(&i.st, s)
	return nil
}

// Open implements vfs.Inode.
func (i *ptmxInode) Open(ctx vfs.Context, flags uint32) (vfs.FileImpl, error) {
	return i.fs.OpenMaster(ctx, flags)
}

// slaveInode is /dev/pts/N of a Sentry pseudo-terminal.
type slaveInode struct {
	vfs.InodeDefaults
	p       *pty
	removed atomic.Bool

	mu sync.Mutex
	st vfs.Stat
}

// FileType implements vfs.TypeReporter.
func (*slaveInode) FileType() uint32 { return unix.S_IFCHR }

// Stat implements vfs.Inode.
func (i *slaveInode) Stat(vfs.Context) (vfs.Stat, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.st, nil
}

// SetStat implements vfs.Inode: chmod, chown and times (grantpt(3) and
// programs like script(1) change them).
func (i *slaveInode) SetStat(_ vfs.Context, s vfs.SetStat) error {
	if s.Valid&vfs.AttrSize != 0 {
		return unix.EINVAL
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	vfs.ApplySetStat(&i.st, s)
	return nil
}

// Open implements vfs.Inode: the slave, which becomes the controlling
// terminal of a session leader that has none unless O_NOCTTY. EIO while
// locked.
func (i *slaveInode) Open(ctx vfs.Context, flags uint32) (vfs.FileImpl, error) {
	f, err := i.p.openSlave()
	if err != nil {
		return nil, err
	}
	if t, ok := ctx.(*kernel.Task); ok && flags&unix.O_NOCTTY == 0 {
		t.OpenedTTY(i.p.jc)
	}
	return f, nil
}
