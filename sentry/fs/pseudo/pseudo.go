// Package pseudo holds the building blocks of the Sentry's synthetic
// filesystems (procfs, sysfs, the cgroup view): directories with a fixed
// set of entries, files whose content is generated from kernel state, and
// symbolic links whose target is computed.
//
// A generated file takes a snapshot of its content when it is opened and
// again whenever it is read from offset 0, so a program that rereads a
// file from the start (top, watch, a polling loop) sees fresh values while
// one that reads it in small pieces sees one consistent snapshot.
package pseudo

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/waiter"
	"golang.org/x/sys/unix"
)

// Options describe a filesystem instance as stat(2) and statfs(2) show it.
type Options struct {
	// Magic is statfs's f_type (PROC_SUPER_MAGIC, SYSFS_MAGIC, ...).
	Magic uint64
	// FileSize is st_size of regular files: 0 on procfs, 4096 (a page) on
	// sysfs and cgroupfs, as Linux reports them without knowing the
	// content's length.
	FileSize int64
	// Blksize is st_blksize (procfs reports 1024, sysfs 4096); 0 means
	// 4096.
	Blksize int64
}

// FS is one filesystem instance: its device number, inode numbers and
// creation time (every inode's timestamps).
type FS struct {
	opts    Options
	dev     uint64
	nextIno atomic.Uint64
	created unix.Timespec
}

// NewFS returns a filesystem instance with a fresh anonymous device number.
func NewFS(o Options) *FS {
	if o.Blksize == 0 {
		o.Blksize = 4096
	}
	return &FS{opts: o, dev: vfs.NewAnonDev(), created: unix.NsecToTimespec(time.Now().UnixNano())}
}

// Dev returns the filesystem's st_dev.
func (fs *FS) Dev() uint64 { return fs.dev }

// Owner returns a file's uid and gid; a nil Owner means root.
type Owner func() (uid, gid uint32)

// Node holds what every inode has: a number, a mode and an owner. The
// types of this package embed it; filesystems embed it in their own inode
// types for directories whose entries change.
type Node struct {
	fs    *FS
	ino   uint64
	mode  uint32
	owner Owner
	// nlink is the link count of a directory (2 + its subdirectories);
	// 0 means the default (1 for files, 2 for directories).
	nlink uint32
}

// NewNode returns a node with the next inode number. mode includes the
// file type.
func (fs *FS) NewNode(mode uint32, owner Owner) Node {
	return Node{fs: fs, ino: fs.nextIno.Add(1), mode: mode, owner: owner}
}

// Stat implements vfs.Inode.Stat.
func (n *Node) Stat(vfs.Context) (vfs.Stat, error) {
	var uid, gid uint32
	if n.owner != nil {
		uid, gid = n.owner()
	}
	nlink := n.nlink
	if nlink == 0 {
		nlink = 1
		if n.mode&unix.S_IFMT == unix.S_IFDIR {
			nlink = 2
		}
	}
	var size int64
	if n.mode&unix.S_IFMT == unix.S_IFREG {
		size = n.fs.opts.FileSize
	}
	t := n.fs.created
	return vfs.Stat{
		Dev: n.fs.dev, Ino: n.ino, Mode: n.mode, Nlink: nlink, UID: uid, GID: gid, Size: size,
		Blksize: n.fs.opts.Blksize, Atime: t, Mtime: t, Ctime: t,
	}, nil
}

// FileType implements vfs.TypeReporter.
func (n *Node) FileType() uint32 { return n.mode & unix.S_IFMT }

// StatFS implements vfs.StatFSer.
func (n *Node) StatFS(vfs.Context) (vfs.StatFS, error) {
	return vfs.StatFS{Type: n.fs.opts.Magic, Bsize: 4096, Namelen: 255, Frsize: 4096}, nil
}

// Ino returns the inode number.
func (n *Node) Ino() uint64 { return n.ino }

// Entry is one entry of a static directory.
type Entry struct {
	Name  string
	Inode vfs.Inode
}

// Dir is a read-only directory with a fixed set of entries, listed in the
// order given.
type Dir struct {
	Node
	vfs.ReadOnlyDirDefaults
	entries []Entry
	byName  map[string]vfs.Inode
}

// NewDir returns a directory of mode 0555 holding entries.
func (fs *FS) NewDir(owner Owner, entries []Entry) *Dir {
	return fs.NewDirMode(0o555, owner, entries)
}

// NewDirMode returns a directory with the given permission bits.
func (fs *FS) NewDirMode(perm uint32, owner Owner, entries []Entry) *Dir {
	d := &Dir{Node: fs.NewNode(unix.S_IFDIR|perm, owner), entries: entries, byName: make(map[string]vfs.Inode, len(entries))}
	d.nlink = 2
	for _, e := range entries {
		d.byName[e.Name] = e.Inode
		if t, ok := e.Inode.(vfs.TypeReporter); ok && t.FileType() == unix.S_IFDIR {
			d.nlink++
		}
	}
	return d
}

// Lookup implements vfs.Inode.Lookup.
func (d *Dir) Lookup(_ vfs.Context, name string) (vfs.Inode, error) {
	if i, ok := d.byName[name]; ok {
		return i, nil
	}
	return nil, unix.ENOENT
}

// Getdents implements vfs.Inode.Getdents.
func (d *Dir) Getdents(vfs.Context) ([]vfs.Dirent, error) {
	out := make([]vfs.Dirent, 0, len(d.entries))
	for _, e := range d.entries {
		out = append(out, Dirent(e.Name, e.Inode))
	}
	return out, nil
}

// Dirent makes the directory entry of an inode of this package (or of a
// type embedding Node).
func Dirent(name string, i vfs.Inode) vfs.Dirent {
	var ino uint64
	var typ uint8
	if n, ok := i.(interface {
		Ino() uint64
		FileType() uint32
	}); ok {
		ino, typ = n.Ino(), uint8(n.FileType()>>12)
	}
	return vfs.Dirent{Name: name, Ino: ino, Type: typ}
}

// SortDirents sorts entries by name (for directories built from maps).
func SortDirents(ents []vfs.Dirent) []vfs.Dirent {
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name < ents[j].Name })
	return ents
}

// Generator produces a file's content for the caller ctx.
type Generator func(ctx vfs.Context) ([]byte, error)

// File is a regular file with generated content.
type File struct {
	Node
	vfs.InodeDefaults
	gen Generator
	// WriteFn, if set, accepts writes (each write(2) call separately);
	// without it the file cannot be opened for writing.
	WriteFn func(ctx vfs.Context, data []byte) error
}

// NewFile returns a file with the given permission bits whose content gen
// produces.
func (fs *FS) NewFile(perm uint32, owner Owner, gen Generator) *File {
	return &File{Node: fs.NewNode(unix.S_IFREG|perm, owner), gen: gen}
}

// Text returns a read-only (0444) file whose text fn produces.
func (fs *FS) Text(fn func() string) *File {
	return fs.NewFile(0o444, nil, func(vfs.Context) ([]byte, error) { return []byte(fn()), nil })
}

// Const returns a read-only (0444) file holding s.
func (fs *FS) Const(s string) *File {
	b := []byte(s)
	return fs.NewFile(0o444, nil, func(vfs.Context) ([]byte, error) { return b, nil })
}

// Open implements vfs.Inode.Open.
func (f *File) Open(ctx vfs.Context, flags uint32) (vfs.FileImpl, error) {
	acc := flags & unix.O_ACCMODE
	if (acc == unix.O_WRONLY || acc == unix.O_RDWR || flags&unix.O_TRUNC != 0) && f.WriteFn == nil {
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

// openFile is an open generated file: a snapshot of the content, refreshed
// by reads at offset 0 after the first.
type openFile struct {
	vfs.NoIoctl
	vfs.AlwaysReady
	vfs.NoRelease
	f *File

	mu   sync.Mutex
	data []byte
	read bool // a read happened since the snapshot was taken
}

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
	if o.f.WriteFn == nil {
		return 0, unix.EINVAL
	}
	if err := o.f.WriteFn(ctx, src); err != nil {
		return 0, err
	}
	return len(src), nil
}

// SymlinkInode is a symbolic link whose target is computed when read.
type SymlinkInode struct {
	Node
	vfs.InodeDefaults
	target func(ctx vfs.Context) (string, error)
}

// NewSymlink returns a symlink with the given permission bits.
func (fs *FS) NewSymlink(perm uint32, owner Owner, target func(vfs.Context) (string, error)) *SymlinkInode {
	return &SymlinkInode{Node: fs.NewNode(unix.S_IFLNK|perm, owner), target: target}
}

// FixedLink returns a symlink (0777, root's) to a fixed target.
func (fs *FS) FixedLink(target string) *SymlinkInode {
	return fs.NewSymlink(0o777, nil, func(vfs.Context) (string, error) { return target, nil })
}

// Readlink implements vfs.Inode.Readlink.
func (s *SymlinkInode) Readlink(ctx vfs.Context) (string, error) { return s.target(ctx) }

// MagicLink is a symlink that leads to a location chosen by the
// filesystem rather than by its text (/proc/PID/{exe,cwd,root,fd/N}).
type MagicLink struct {
	SymlinkInode
	follow func(ctx vfs.Context) (vfs.VirtualDentry, error)
}

// NewMagicLink returns a magic link: readlink shows target's text, a walk
// goes where follow says.
func (fs *FS) NewMagicLink(perm uint32, owner Owner, target func(vfs.Context) (string, error), follow func(vfs.Context) (vfs.VirtualDentry, error)) *MagicLink {
	return &MagicLink{SymlinkInode: *fs.NewSymlink(perm, owner, target), follow: follow}
}

// FollowMagicLink implements vfs.MagicLinker.
func (m *MagicLink) FollowMagicLink(ctx vfs.Context) (vfs.VirtualDentry, error) {
	return m.follow(ctx)
}

// Compile-time checks.
var (
	_ vfs.Inode        = (*Dir)(nil)
	_ vfs.Inode        = (*File)(nil)
	_ vfs.Inode        = (*SymlinkInode)(nil)
	_ vfs.Inode        = (*MagicLink)(nil)
	_ vfs.TypeReporter = (*File)(nil)
	_ vfs.StatFSer     = (*Dir)(nil)
	_ vfs.FileImpl     = (*openFile)(nil)
	_ vfs.Seeker       = (*openFile)(nil)
	_ waiter.Waitable  = (*openFile)(nil)
	_ vfs.MagicLinker  = (*MagicLink)(nil)
)
