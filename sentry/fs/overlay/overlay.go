// Package overlay is an overlay filesystem: a writable upper layer (a
// tmpfs in Sentry memory) over a lower layer that it never modifies (the
// gofer-backed container root, which may be read-only). runsc --overlay
// mounts it as the root, so a container's writes stay in the sandbox. It
// follows Linux overlayfs (Documentation/filesystems/overlayfs.rst):
//
//   - Lookup merges the layers: an upper entry hides the lower entry of the
//     same name, except that two directories merge. Removing (unlink, rmdir,
//     rename away) a name the lower layer has leaves a whiteout in the upper
//     directory, a character device 0:0 as in overlayfs. Whiteouts exist only
//     in the upper tmpfs, which nothing but the overlay can reach: lookup
//     gives ENOENT for them and getdents skips them. mknod of a 0:0
//     character device gives EPERM, so the application cannot forge one.
//   - A directory made where a whiteout was is opaque: the lower directory
//     of that name is not merged into it. The upper tmpfs has no xattrs, so
//     the overlay keeps opacity itself (keyed by the upper directory).
//   - Copy-up: a lower file is copied to the upper layer, after its parent
//     directories, when it is opened for writing or with O_TRUNC, truncated,
//     chmod'ed, chown'ed or utime'd, linked or renamed. The copy keeps data
//     (holes stay holes), mode, owner, atime and mtime, a symlink's target
//     and a device's number; the parent's times are restored afterwards, as
//     a copy-up is no change of the parent. Files only read are read from
//     the lower layer and never copied. A descriptor opened read-only before
//     a copy-up reads the copy from its next read on.
//   - getdents lists the upper entries first (whiteouts left out), then the
//     lower entries no upper entry or whiteout hides; the VFS snapshots the
//     list when reading starts at offset 0, so d_off values are stable.
//   - rename moves files anywhere (copying them up first) and directories
//     that exist only in the upper layer (or are opaque). Renaming a
//     directory with a lower layer gives EXDEV, as overlayfs without
//     redirect_dir does; mv then copies the tree and removes the original.
//     A directory moved onto a name the lower layer has becomes opaque.
//   - Inode numbers stay the same across copy-up, as with overlayfs' xino:
//     every file reports the overlay's st_dev; a file or directory with a
//     lower layer reports the lower inode number, with a small index of the
//     lower device in bits 56-62 (0 for the lower root's device, so most
//     numbers equal the host's); an upper-only file reports its upper inode
//     number with bit 63 set. getdents reports the same numbers (except for
//     lower mount points, which Linux gets wrong the same way).
//   - st_nlink: a lower file's own count until copy-up; a copied-up file
//     counts its upper links only (links made in the sandbox); a merged
//     directory reports 1, as overlayfs does, which tells find(1) not to
//     count subdirectories.
//   - mmap maps the lower file's pages for a file never copied up and the
//     upper (tmpfs) pages after copy-up. A MAP_SHARED writable mapping needs
//     a descriptor open for writing, whose open copied the file up, so
//     stores through it always land in the upper copy, never in the lower
//     file. As overlayfs documents, a mapping made before a copy-up keeps
//     showing the lower file.
//   - statfs reports the upper layer's numbers with f_type
//     OVERLAYFS_SUPER_MAGIC; mount with vfs.MountOptions{FSType: "overlay"}
//     so /proc/mounts shows "overlay".
//
// Limits, all shared with overlayfs in its default configuration: no
// redirect_dir (the EXDEV above); no index, so hard links between lower
// files break on copy-up (the copied name becomes a separate file); the
// lower layer must not change while mounted. Metadata changes through a
// descriptor of a lower file that has since been unlinked give ENOENT, as
// there is no name left to copy it up to. The overlay keeps a node per
// name it has seen for the life of the sandbox, as the VFS dentry cache
// does.
package overlay

import (
	"fmt"
	"sync"

	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// Inode number layout (see the package doc).
const (
	upperInoBit = 1 << 63
	devShift    = 56
	maxDevIndex = 1<<(63-devShift) - 1
	lowerInoMax = 1<<devShift - 1
)

// Filesystem is one overlay of an upper directory over a lower one.
type Filesystem struct {
	dev  uint64
	root *node

	// mu protects the maps below; it is a leaf lock.
	mu sync.Mutex
	// byUpper finds the node of an upper non-directory, so that every
	// hard link of it is the same Inode (the VFS compares them) with the
	// same identity.
	byUpper map[vfs.Inode]*node
	// opaque holds the upper directories that do not merge with the lower
	// directory of the same name.
	opaque map[vfs.Inode]bool
	// devIndex numbers the lower layer's devices for inode numbers.
	devIndex map[uint64]uint64
}

// New returns an overlay of upper over lower, both directories. upper is
// normally the root of a new tmpfs; it takes the lower root's mode, owner
// and times. The lower layer is only read.
func New(ctx vfs.Context, upper, lower vfs.Inode) (*Filesystem, error) {
	if fileType(ctx, upper) != unix.S_IFDIR || fileType(ctx, lower) != unix.S_IFDIR {
		return nil, fmt.Errorf("overlay: both layers must be directories")
	}
	st, err := lower.Stat(ctx)
	if err != nil {
		return nil, fmt.Errorf("overlay: stat of the lower root: %w", err)
	}
	if err := upper.SetStat(ctx, attrsOf(st, true)); err != nil {
		return nil, fmt.Errorf("overlay: setting the upper root's attributes: %w", err)
	}
	fs := &Filesystem{
		dev:      vfs.NewAnonDev(),
		byUpper:  make(map[vfs.Inode]*node),
		opaque:   make(map[vfs.Inode]bool),
		devIndex: make(map[uint64]uint64),
	}
	hold(lower)
	fs.root = &node{fs: fs, ftype: unix.S_IFDIR, upper: upper, lower: lower}
	fs.root.ino = fs.lowerIno(st.Dev, st.Ino)
	fs.root.lowerDev = st.Dev
	return fs, nil
}

// Root returns the root directory, to mount.
func (fs *Filesystem) Root() vfs.Inode { return fs.root }

// Dev returns the overlay's device number (st_dev of all its files).
func (fs *Filesystem) Dev() uint64 { return fs.dev }

// lowerIno is the inode number shown for lower inode ino of device dev.
// Numbers of 2^56 and above lose their top bits (and may collide).
func (fs *Filesystem) lowerIno(dev, ino uint64) uint64 {
	fs.mu.Lock()
	idx, ok := fs.devIndex[dev]
	if !ok {
		idx = uint64(len(fs.devIndex))
		if idx > maxDevIndex {
			idx = maxDevIndex // shared by the devices beyond: numbers may collide
		}
		fs.devIndex[dev] = idx
	}
	fs.mu.Unlock()
	return idx<<devShift | ino&lowerInoMax
}

// upperIno is the inode number shown for an upper-only inode.
func upperIno(ino uint64) uint64 { return upperInoBit | ino }

func (fs *Filesystem) nodeOfUpper(u vfs.Inode) *node {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.byUpper[u]
}

func (fs *Filesystem) setUpperNode(u vfs.Inode, n *node) {
	fs.mu.Lock()
	fs.byUpper[u] = n
	fs.mu.Unlock()
}

func (fs *Filesystem) forgetUpper(u vfs.Inode) {
	fs.mu.Lock()
	delete(fs.byUpper, u)
	delete(fs.opaque, u)
	fs.mu.Unlock()
}

func (fs *Filesystem) isOpaque(u vfs.Inode) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.opaque[u]
}

func (fs *Filesystem) setOpaque(u vfs.Inode) {
	fs.mu.Lock()
	fs.opaque[u] = true
	fs.mu.Unlock()
}

// node is an overlay file: the merge of an upper and a lower inode of the
// same path, either of which may be missing.
//
// Lock order: a node's copyMu, then directory dirMus (parent before
// child), then any node's mu and Filesystem.mu. Nothing takes a copyMu
// while holding a dirMu.
type node struct {
	fs    *Filesystem
	ftype uint32 // S_IFMT bits, immutable

	// copyMu serializes copy-up of this node with its removal.
	copyMu sync.Mutex

	// dirMu serializes the changes to this directory's upper entries
	// with merged views of it (Lookup, Getdents) and protects children.
	dirMu sync.Mutex
	// children caches the nodes of names looked up or created here, so
	// that a name keeps its node (and identity) while it exists.
	children map[string]*node

	mu sync.Mutex
	// upper is the upper inode, nil until copy-up.
	upper vfs.Inode
	// lower is the lower inode: for a directory, the one merged in (nil
	// when there is none or the directory is opaque); for others, where
	// the data is until copy-up (then nil).
	lower vfs.Inode
	// parent and name say where a copy-up puts the node. Only nodes with
	// an upper inode move (rename copies up first), so they are accurate
	// whenever a copy-up needs them.
	parent *node
	name   string
	// removed is set when the node's lower file lost its name before
	// being copied up.
	removed bool
	// ino is the inode number shown (0 until known); lowerDev is a
	// directory's lower st_dev, for getdents inode numbers.
	ino      uint64
	lowerDev uint64
}

func (n *node) isDir() bool { return n.ftype == unix.S_IFDIR }

func (n *node) layers() (upper, lower vfs.Inode) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.upper, n.lower
}

func (n *node) upperInode() vfs.Inode {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.upper
}

func (n *node) lowerInode() vfs.Inode {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.lower
}

// current is the inode holding n's data and attributes now: the upper one
// once there is one.
func (n *node) current() vfs.Inode {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.upper != nil {
		return n.upper
	}
	return n.lower
}

// withCurrent calls fn with n's current inode, again with the upper one if
// a copy-up replaced the lower one meanwhile (its FID may be gone).
func (n *node) withCurrent(fn func(vfs.Inode) error) error {
	i := n.current()
	err := fn(i)
	if err != nil {
		if j := n.current(); j != i {
			err = fn(j)
		}
	}
	return err
}

// identity returns n's inode number (and computes it on first use).
func (n *node) identity(ctx vfs.Context) (uint64, error) {
	n.mu.Lock()
	ino, upper, lower := n.ino, n.upper, n.lower
	n.mu.Unlock()
	if ino != 0 {
		return ino, nil
	}
	var dev uint64
	if lower != nil {
		st, err := lower.Stat(ctx)
		if err != nil {
			// A concurrent copy-up may have computed it and released
			// the lower inode.
			n.mu.Lock()
			ino = n.ino
			n.mu.Unlock()
			if ino != 0 {
				return ino, nil
			}
			return 0, err
		}
		ino, dev = n.fs.lowerIno(st.Dev, st.Ino), st.Dev
	} else if upper != nil {
		st, err := upper.Stat(ctx)
		if err != nil {
			return 0, err
		}
		ino = upperIno(st.Ino)
	} else {
		return 0, unix.ENOENT
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ino == 0 {
		n.ino, n.lowerDev = ino, dev
	}
	return n.ino, nil
}

// FileType implements vfs.TypeReporter.
func (n *node) FileType() uint32 { return n.ftype }

// Stat implements vfs.Inode.
func (n *node) Stat(ctx vfs.Context) (vfs.Stat, error) {
	var st vfs.Stat
	var from vfs.Inode
	if err := n.withCurrent(func(i vfs.Inode) (err error) { st, err = i.Stat(ctx); from = i; return err }); err != nil {
		return vfs.Stat{}, err
	}
	n.mu.Lock()
	ino := n.ino
	if ino == 0 && from == n.lower {
		// The first stat of a lower file gives its identity too,
		// saving a round trip to the gofer.
		n.ino, n.lowerDev = n.fs.lowerIno(st.Dev, st.Ino), st.Dev
		ino = n.ino
	}
	n.mu.Unlock()
	if ino == 0 {
		var err error
		if ino, err = n.identity(ctx); err != nil {
			return vfs.Stat{}, err
		}
	}
	st.Dev, st.Ino = n.fs.dev, ino
	if upper, lower := n.layers(); n.isDir() && upper != nil && lower != nil {
		st.Nlink = 1
	}
	return st, nil
}

// SetStat implements vfs.Inode: every change copies up first. Truncating
// copies only the data below the new size.
func (n *node) SetStat(ctx vfs.Context, s vfs.SetStat) error {
	limit := int64(-1)
	if s.Valid&vfs.AttrSize != 0 && n.ftype == unix.S_IFREG && s.Size >= 0 {
		limit = s.Size
	}
	if err := n.copyUp(ctx, limit); err != nil {
		return err
	}
	return n.upperInode().SetStat(ctx, s)
}

// Readlink implements vfs.Inode.
func (n *node) Readlink(ctx vfs.Context) (string, error) {
	if n.ftype != unix.S_IFLNK {
		return "", unix.EINVAL
	}
	var target string
	err := n.withCurrent(func(i vfs.Inode) (err error) { target, err = i.Readlink(ctx); return err })
	return target, err
}

// StatFS implements vfs.StatFSer: the upper layer's space, as overlayfs
// reports, with the overlay's type and id.
func (n *node) StatFS(ctx vfs.Context) (vfs.StatFS, error) {
	s := vfs.StatFS{Bsize: 4096, Namelen: vfs.NameMax, Frsize: 4096}
	if sf, ok := n.fs.root.upper.(vfs.StatFSer); ok {
		var err error
		if s, err = sf.StatFS(ctx); err != nil {
			return vfs.StatFS{}, err
		}
	}
	s.Type = unix.OVERLAYFS_SUPER_MAGIC
	s.Fsid = [2]int32{int32(n.fs.dev), int32(n.fs.dev >> 32)}
	return s, nil
}

// fileType returns the S_IFMT bits of i (S_IFMT itself if it cannot tell).
func fileType(ctx vfs.Context, i vfs.Inode) uint32 {
	if t, ok := i.(vfs.TypeReporter); ok {
		return t.FileType() & unix.S_IFMT
	}
	st, err := i.Stat(ctx)
	if err != nil {
		return unix.S_IFMT
	}
	return st.Mode & unix.S_IFMT
}

// isWhiteout reports whether upper inode i is a whiteout.
func isWhiteout(ctx vfs.Context, i vfs.Inode) bool {
	if fileType(ctx, i) != unix.S_IFCHR {
		return false
	}
	st, err := i.Stat(ctx)
	return err == nil && st.Rdev == 0
}

// hold and release tell an inode that holds resources only while named
// (a gofer FID, see vfs.CacheTracker) that the overlay keeps it or let it
// go.
func hold(i vfs.Inode) {
	if ct, ok := i.(vfs.CacheTracker); ok {
		ct.Cached()
	}
}

func release(i vfs.Inode) {
	if ct, ok := i.(vfs.CacheTracker); ok {
		ct.Uncached()
	}
}

// attrsOf is the SetStat that gives a copy st's mode (unless it is a
// symlink), owner and times.
func attrsOf(st vfs.Stat, withMode bool) vfs.SetStat {
	s := vfs.SetStat{
		Valid: vfs.AttrUID | vfs.AttrGID | vfs.AttrAtime | vfs.AttrMtime,
		UID:   st.UID, GID: st.GID, Atime: st.Atime, Mtime: st.Mtime,
	}
	if withMode {
		s.Valid |= vfs.AttrMode
		s.Mode = st.Mode & 0o7777
	}
	return s
}

var (
	_ vfs.Inode        = (*node)(nil)
	_ vfs.TypeReporter = (*node)(nil)
	_ vfs.StatFSer     = (*node)(nil)
)
