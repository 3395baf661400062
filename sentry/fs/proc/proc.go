// Package proc implements a read-only procfs for the Sentry: /proc/self,
// /proc/<pid>/... for every live process, and the system-wide files
// programs commonly read (meminfo, cpuinfo, stat, uptime, mounts, a few
// /proc/sys knobs).
//
// Every file's content is generated from the kernel's state when it is
// opened and again whenever it is read from offset 0, so it is never
// stale by more than one read. Directories whose entries come and go
// (/proc, /proc/<pid>/fd, /proc/<pid>/task) implement
// vfs.DynamicDirectory; their Lookup returns the same Inode for the same
// process, fd or thread so that cached dentries stay valid.
//
// Mount it with
//
//	root := proc.New(k, proc.Options{})
//	k.VFS().MountAt(ctx, "/proc", root, vfs.MountOptions{FSType: "proc", Source: "proc"})
package proc

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/waiter"
	"golang.org/x/sys/unix"
)

// Options configure a procfs instance.
type Options struct {
	// Release is /proc/sys/kernel/osrelease; it should match uname's
	// (syscalls.Release). Default "6.1.0-veil".
	Release string
	// Sysctls are the values config.json's linux.sysctl gave the
	// /proc/sys entries that take one (see Sysctls), by dotted name.
	Sysctls map[string]string
	// PIDNamespace is the pid namespace whose processes the instance
	// shows, by their ids there (that of the process that mounted it);
	// nil means the sandbox's initial one.
	PIDNamespace *kernel.PIDNamespace
}

// Sysctls are the /proc/sys entries a container's configuration may set,
// with their Linux defaults. (The network ones take effect with the
// sandbox's network stack.)
var Sysctls = map[string]string{
	"net.ipv4.ip_unprivileged_port_start": "1024",
	"net.ipv4.ping_group_range":           "1\t0",
}

// filesystem is one procfs instance.
type filesystem struct {
	k       *kernel.Kernel
	pidns   *kernel.PIDNamespace
	opts    Options
	dev     uint64
	nextIno atomic.Uint64
	created unix.Timespec
	bootID  string
}

// New returns the root directory of a procfs showing k's processes.
func New(k *kernel.Kernel, opts Options) vfs.Inode {
	if opts.Release == "" {
		opts.Release = "6.1.0-veil"
	}
	if opts.PIDNamespace == nil {
		opts.PIDNamespace = k.RootPIDNamespace()
	}
	fs := &filesystem{
		k:       k,
		pidns:   opts.PIDNamespace,
		opts:    opts,
		dev:     vfs.NewAnonDev(),
		created: unix.NsecToTimespec(time.Now().UnixNano()),
		bootID:  newUUID(),
	}
	return fs.newRoot()
}

// node holds what every procfs inode has: a number, a mode and an owner.
type node struct {
	fs   *filesystem
	ino  uint64
	mode uint32
	// owner returns the file's uid and gid; nil means root.
	owner func() (uint32, uint32)
}

func (fs *filesystem) newNode(mode uint32, owner func() (uint32, uint32)) node {
	return node{fs: fs, ino: fs.nextIno.Add(1), mode: mode, owner: owner}
}

// Stat implements vfs.Inode.Stat.
func (n *node) Stat(vfs.Context) (vfs.Stat, error) {
	var uid, gid uint32
	if n.owner != nil {
		uid, gid = n.owner()
	}
	nlink := uint32(1)
	if n.mode&unix.S_IFMT == unix.S_IFDIR {
		nlink = 2
	}
	t := n.fs.created
	return vfs.Stat{
		Dev: n.fs.dev, Ino: n.ino, Mode: n.mode, Nlink: nlink, UID: uid, GID: gid,
		Blksize: 1024, Atime: t, Mtime: t, Ctime: t,
	}, nil
}

// FileType implements vfs.TypeReporter.
func (n *node) FileType() uint32 { return n.mode & unix.S_IFMT }

// StatFS implements vfs.StatFSer.
func (n *node) StatFS(vfs.Context) (vfs.StatFS, error) {
	return vfs.StatFS{Type: vfs.ProcMagic, Bsize: 4096, Namelen: 255, Frsize: 4096}, nil
}

// ino returns the inode number of n (for Dirent).
func (n *node) inode() uint64 { return n.ino }

// dirEntry is one entry of a static directory.
type dirEntry struct {
	name  string
	inode vfs.Inode
}

// staticDir is a directory with a fixed set of entries.
type staticDir struct {
	node
	vfs.ReadOnlyDirDefaults
	entries []dirEntry
	byName  map[string]vfs.Inode
}

func (fs *filesystem) newStaticDir(owner func() (uint32, uint32), entries []dirEntry) *staticDir {
	d := &staticDir{node: fs.newNode(unix.S_IFDIR|0o555, owner), entries: entries, byName: make(map[string]vfs.Inode)}
	for _, e := range entries {
		d.byName[e.name] = e.inode
	}
	return d
}

// Lookup implements vfs.Inode.Lookup.
func (d *staticDir) Lookup(_ vfs.Context, name string) (vfs.Inode, error) {
	if i, ok := d.byName[name]; ok {
		return i, nil
	}
	return nil, unix.ENOENT
}

// Getdents implements vfs.Inode.Getdents.
func (d *staticDir) Getdents(vfs.Context) ([]vfs.Dirent, error) {
	out := make([]vfs.Dirent, 0, len(d.entries))
	for _, e := range d.entries {
		out = append(out, direntOf(e.name, e.inode))
	}
	return out, nil
}

// direntOf makes the directory entry of a procfs inode.
func direntOf(name string, i vfs.Inode) vfs.Dirent {
	var ino uint64
	var typ uint8
	if n, ok := i.(interface {
		inode() uint64
		FileType() uint32
	}); ok {
		ino, typ = n.inode(), uint8(n.FileType()>>12)
	}
	return vfs.Dirent{Name: name, Ino: ino, Type: typ}
}

// sortedDirents sorts entries by name (for dynamic directories built from
// maps).
func sortedDirents(ents []vfs.Dirent) []vfs.Dirent {
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name < ents[j].Name })
	return ents
}

// generator produces a file's content for the caller ctx.
type generator func(ctx vfs.Context) ([]byte, error)

// file is a regular procfs file with generated content. write, if set,
// accepts writes (which most such files ignore).
type file struct {
	node
	vfs.InodeDefaults
	gen   generator
	write func(ctx vfs.Context, data []byte) error
}

func (fs *filesystem) newFile(mode uint32, owner func() (uint32, uint32), gen generator) *file {
	return &file{node: fs.newNode(unix.S_IFREG|mode, owner), gen: gen}
}

// textFile returns a read-only file of constant-per-read text.
func (fs *filesystem) textFile(fn func() string) *file {
	return fs.newFile(0o444, nil, func(vfs.Context) ([]byte, error) { return []byte(fn()), nil })
}

// Open implements vfs.Inode.Open.
func (f *file) Open(ctx vfs.Context, flags uint32) (vfs.FileImpl, error) {
	acc := flags & unix.O_ACCMODE
	if (acc == unix.O_WRONLY || acc == unix.O_RDWR || flags&unix.O_TRUNC != 0) && f.write == nil {
		return nil, unix.EACCES
	}
	of := &openFile{f: f}
	if acc != unix.O_WRONLY {
		data, err := f.gen(ctx)
		if err != nil {
			return nil, err
		}
		of.data = data
	}
	return of, nil
}

// openFile is an open procfs file: a snapshot of the content, refreshed by
// reads at offset 0.
type openFile struct {
	vfs.NoIoctl
	vfs.AlwaysReady
	vfs.NoRelease
	f *file

	mu   sync.Mutex
	data []byte
	read bool // a read happened since the snapshot was taken
}

var _ vfs.Seeker = (*openFile)(nil)

// Seekable implements vfs.Seeker.
func (o *openFile) Seekable() bool { return true }

// Read implements vfs.FileImpl.Read.
func (o *openFile) Read(ctx vfs.Context, dst []byte, off int64, _ bool) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if off == 0 && o.read {
		data, err := o.f.gen(ctx)
		if err != nil {
			return 0, err
		}
		o.data = data
	}
	o.read = true
	if off < 0 || off >= int64(len(o.data)) {
		return 0, nil
	}
	return copy(dst, o.data[off:]), nil
}

// Write implements vfs.FileImpl.Write.
func (o *openFile) Write(ctx vfs.Context, src []byte, _ int64, _ bool) (int, error) {
	if o.f.write == nil {
		return 0, unix.EINVAL
	}
	if err := o.f.write(ctx, src); err != nil {
		return 0, err
	}
	return len(src), nil
}

// symlink is a procfs symbolic link whose target is computed.
type symlink struct {
	node
	vfs.InodeDefaults
	target func(ctx vfs.Context) (string, error)
}

func (fs *filesystem) newSymlink(mode uint32, owner func() (uint32, uint32), target func(vfs.Context) (string, error)) *symlink {
	return &symlink{node: fs.newNode(unix.S_IFLNK|mode, owner), target: target}
}

// Readlink implements vfs.Inode.Readlink.
func (s *symlink) Readlink(ctx vfs.Context) (string, error) { return s.target(ctx) }

// magicLink is a symlink that jumps to a location rather than following
// its text: /proc/<pid>/{exe,cwd,root,fd/N}.
type magicLink struct {
	symlink
	follow func(ctx vfs.Context) (vfs.VirtualDentry, error)
}

var _ vfs.MagicLinker = (*magicLink)(nil)

func (fs *filesystem) newMagicLink(mode uint32, owner func() (uint32, uint32), target func(vfs.Context) (string, error), follow func(vfs.Context) (vfs.VirtualDentry, error)) *magicLink {
	return &magicLink{symlink: *fs.newSymlink(mode, owner, target), follow: follow}
}

// FollowMagicLink implements vfs.MagicLinker.
func (m *magicLink) FollowMagicLink(ctx vfs.Context) (vfs.VirtualDentry, error) {
	return m.follow(ctx)
}

// Compile-time checks.
var (
	_ vfs.Inode            = (*staticDir)(nil)
	_ vfs.Inode            = (*file)(nil)
	_ vfs.Inode            = (*symlink)(nil)
	_ vfs.TypeReporter     = (*file)(nil)
	_ vfs.StatFSer         = (*staticDir)(nil)
	_ vfs.FileImpl         = (*openFile)(nil)
	_ waiter.Waitable      = (*openFile)(nil)
	_ vfs.DynamicDirectory = (*rootDir)(nil)
)
