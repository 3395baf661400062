package vfs

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// tfs is a read-only tree whose Lookup returns a fresh Inode each time and
// counts the inodes the dentry cache holds (as gofer FIDs are), to check
// that eviction bounds them.
type tfs struct {
	dirs, files int // a root with dirs directories of files files each
	live        atomic.Int64
	lookups     atomic.Int64
}

type tnode struct {
	InodeDefaults
	fs    *tfs
	path  string // "" for the root, "dN", "dN/fM"
	dir   bool
	gone  atomic.Bool
	count atomic.Int32
}

func (n *tnode) Cached() {
	n.count.Add(1)
	n.fs.live.Add(1)
}

func (n *tnode) Uncached() {
	if n.count.Add(-1) < 0 {
		panic("Uncached without Cached")
	}
	n.gone.Store(true)
	n.fs.live.Add(-1)
}

func (n *tnode) FileType() uint32 {
	if n.dir {
		return unix.S_IFDIR
	}
	return unix.S_IFREG
}

func (n *tnode) Stat(Context) (Stat, error) {
	if n.gone.Load() && n.count.Load() == 0 {
		// A clunked FID.
		return Stat{}, unix.EBADF
	}
	mode := uint32(unix.S_IFREG | 0o644)
	if n.dir {
		mode = unix.S_IFDIR | 0o755
	}
	return Stat{Mode: mode, Nlink: 1, Size: int64(len(n.path))}, nil
}

func (n *tnode) Lookup(_ Context, name string) (Inode, error) {
	if n.gone.Load() && n.count.Load() == 0 {
		return nil, unix.EBADF
	}
	if !n.dir {
		return nil, unix.ENOTDIR
	}
	n.fs.lookups.Add(1)
	var i int
	if n.path == "" {
		if _, err := fmt.Sscanf(name, "d%d", &i); err != nil || i >= n.fs.dirs || name != fmt.Sprintf("d%d", i) {
			return nil, unix.ENOENT
		}
		return &tnode{fs: n.fs, path: name, dir: true}, nil
	}
	if _, err := fmt.Sscanf(name, "f%d", &i); err != nil || i >= n.fs.files || name != fmt.Sprintf("f%d", i) {
		return nil, unix.ENOENT
	}
	return &tnode{fs: n.fs, path: n.path + "/" + name}, nil
}

type tfile struct {
	NoIoctl
	AlwaysReady
	NoRelease
}

func (tfile) Read(Context, []byte, int64, bool) (int, error)  { return 0, nil }
func (tfile) Write(Context, []byte, int64, bool) (int, error) { return 0, unix.EBADF }

func (n *tnode) Open(Context, uint32) (FileImpl, error) { return tfile{}, nil }

func (n *tnode) Getdents(Context) ([]Dirent, error) {
	var out []Dirent
	if n.path == "" {
		for i := 0; i < n.fs.dirs; i++ {
			out = append(out, Dirent{Name: fmt.Sprintf("d%d", i), Type: unix.DT_DIR})
		}
		return out, nil
	}
	for i := 0; i < n.fs.files; i++ {
		out = append(out, Dirent{Name: fmt.Sprintf("f%d", i), Type: unix.DT_REG})
	}
	return out, nil
}

type rootCtx struct{ vfsContext }

func newTreeVFS(t *testing.T, dirs, files, max int) (*VirtualFilesystem, *tfs) {
	t.Helper()
	fs := &tfs{dirs: dirs, files: files}
	v := New(nil)
	v.SetMaxUnusedDentries(max)
	if err := v.MountRoot(rootCtx{}, &tnode{fs: fs, dir: true}, MountOptions{}); err != nil {
		t.Fatal(err)
	}
	return v, fs
}

// TestEvictionBoundsTheCache walks a tree of 20,000 files with a bound of
// 100 unused dentries: every stat must succeed and return the file's own
// attributes, and the cache must never hold much more than the bound.
func TestEvictionBoundsTheCache(t *testing.T) {
	const dirs, files, max = 40, 500, 100
	v, fs := newTreeVFS(t, dirs, files, max)
	root := v.Root()
	fsc := NewFSContext(root, root, 0)
	peak := int64(0)
	for d := 0; d < dirs; d++ {
		for f := 0; f < files; f++ {
			p := fmt.Sprintf("/d%d/f%d", d, f)
			st, err := v.Stat(rootCtx{}, fsc.PathOp(VirtualDentry{}, p, true))
			if err != nil {
				t.Fatalf("stat %s: %v", p, err)
			}
			if st.Size != int64(len(p)-1) {
				t.Fatalf("stat %s: size %d, another file's", p, st.Size)
			}
			// Eviction runs on its own goroutine; run it here to
			// see the bound it keeps.
			v.shrink()
			peak = max64(peak, fs.live.Load())
		}
	}
	if peak > max+dirs+2 {
		t.Errorf("the cache held up to %d inodes, bound %d", peak, max)
	}
	if n := v.UnusedDentries(); n > max {
		t.Errorf("%d unused dentries, bound %d", n, max)
	}
	// Everything is unused now: a bound of 0 empties the cache.
	// (The root stays, as the root of its mount.) A background shrink
	// may still hold a dentry it took off the list, so wait for it.
	waitShrinker(v)
	v.SetMaxUnusedDentries(0)
	if n := fs.live.Load(); n != 1 {
		t.Errorf("%d inodes still cached with a bound of 0, want 1", n-1)
	}
}

// waitShrinker waits until no background shrink runs.
func waitShrinker(v *VirtualFilesystem) {
	for {
		v.lruMu.Lock()
		busy := v.shrinking
		v.lruMu.Unlock()
		if !busy {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// TestPinnedDentriesStay checks that open files, working directories and
// mount points are not evicted, and that what is evicted is looked up again.
func TestPinnedDentriesStay(t *testing.T) {
	v, fs := newTreeVFS(t, 3, 3, 0)
	root := v.Root()
	fsc := NewFSContext(root, root, 0)
	ctx := rootCtx{}
	f, err := v.Open(ctx, fsc.PathOp(VirtualDentry{}, "/d0/f0", true), unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	cwd, err := v.GetDirectory(ctx, fsc.PathOp(VirtualDentry{}, "/d1", true))
	if err != nil {
		t.Fatal(err)
	}
	fsc.SetCwd(cwd)
	cwd.DecRef()
	if _, err := v.MountAt(ctx, "/d2", &tnode{fs: fs, dir: true}, MountOptions{}); err != nil {
		t.Fatal(err)
	}
	// d0/f0 (and d0), d1 and d2 (the mount point) stay, with the two
	// mount roots; nothing else.
	waitShrinker(v)
	v.shrink()
	if n := fs.live.Load(); n != 6 {
		t.Errorf("%d inodes cached, want 6 (two roots, d0, d0/f0, d1, d2)", n)
	}
	before := fs.lookups.Load()
	if _, err := v.Stat(ctx, fsc.PathOp(VirtualDentry{}, "f1", true)); err != nil {
		t.Fatal(err)
	}
	waitShrinker(v)
	v.shrink()
	if _, err := v.Stat(ctx, fsc.PathOp(VirtualDentry{}, "f1", true)); err != nil {
		t.Fatal(err)
	}
	if got := fs.lookups.Load() - before; got != 2 {
		t.Errorf("%d lookups for two stats of an evicted name, want 2", got)
	}
	if st, err := f.Stat(ctx); err != nil || st.Size != 5 {
		t.Errorf("open file: %v %v", st, err)
	}
	if got := f.PathName(); got != "/d0/f0" {
		t.Errorf("open file's path %q", got)
	}
	// The mount is still there: /d2 is its root (the tree again).
	if _, err := v.Stat(ctx, fsc.PathOp(VirtualDentry{}, "/d2/d1", true)); err != nil {
		t.Errorf("walk into the mount: %v", err)
	}
	f.DecRef()
	fsc.DecRef()
	waitShrinker(v)
	v.shrink()
	if n := fs.live.Load(); n != 3 {
		t.Errorf("%d inodes cached after closing, want 3 (two roots and the mount point)", n)
	}
}

// TestConcurrentEviction walks, opens and chdirs from several goroutines
// with a tiny bound (run with -race): results must stay right.
func TestConcurrentEviction(t *testing.T) {
	v, _ := newTreeVFS(t, 8, 50, 3)
	root := v.Root()
	var wg sync.WaitGroup
	var failed atomic.Value
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			ctx := rootCtx{}
			fsc := NewFSContext(root, root, 0)
			defer fsc.DecRef()
			for i := 0; i < 2000; i++ {
				d, f := (i*7+g)%8, (i*13+g)%50
				p := fmt.Sprintf("/d%d/f%d", d, f)
				switch i % 4 {
				case 0, 1:
					st, err := v.Stat(ctx, fsc.PathOp(VirtualDentry{}, p, true))
					if err != nil || st.Size != int64(len(p)-1) {
						failed.Store(fmt.Sprintf("stat %s: %v %v", p, st.Size, err))
					}
				case 2:
					fd, err := v.Open(ctx, fsc.PathOp(VirtualDentry{}, p, true), unix.O_RDONLY, 0)
					if err != nil {
						failed.Store(fmt.Sprintf("open %s: %v", p, err))
						continue
					}
					if st, err := fd.Stat(ctx); err != nil || st.Size != int64(len(p)-1) {
						failed.Store(fmt.Sprintf("fstat %s: %v", p, err))
					}
					fd.DecRef()
				case 3:
					cwd, err := v.GetDirectory(ctx, fsc.PathOp(VirtualDentry{}, fmt.Sprintf("/d%d", d), true))
					if err != nil {
						failed.Store(fmt.Sprintf("chdir: %v", err))
						continue
					}
					fsc.SetCwd(cwd)
					cwd.DecRef()
					rel := fmt.Sprintf("../d%d/f%d", d, f)
					if _, err := v.Stat(ctx, fsc.PathOp(VirtualDentry{}, rel, true)); err != nil {
						failed.Store(fmt.Sprintf("stat %s: %v", rel, err))
					}
				}
			}
		}(g)
	}
	wg.Wait()
	if msg := failed.Load(); msg != nil {
		t.Fatal(msg)
	}
	if !strings.HasPrefix(v.PathName(root), "/") {
		t.Fatal("root lost")
	}
	// The background eviction gets the list within its bound.
	for i := 0; v.UnusedDentries() > 3; i++ {
		if i > 1000 {
			t.Fatalf("%d unused dentries left, bound 3", v.UnusedDentries())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// snode is a tnode that knows its attributes from its lookup.
type snode struct {
	tnode
	stats, taken *atomic.Int32
	fresh        atomic.Bool
}

func (n *snode) Stat(ctx Context) (Stat, error) {
	n.stats.Add(1)
	return n.tnode.Stat(ctx)
}

func (n *snode) TakeLookupStat() (Stat, bool) {
	if !n.fresh.Swap(false) {
		return Stat{}, false
	}
	n.taken.Add(1)
	st, _ := n.tnode.Stat(nil)
	return st, true
}

type sdir struct {
	tnode
	stats, taken atomic.Int32
}

func (d *sdir) Lookup(ctx Context, name string) (Inode, error) {
	i, err := d.tnode.Lookup(ctx, name)
	if err != nil {
		return nil, err
	}
	n := &snode{tnode: tnode{fs: d.fs, path: i.(*tnode).path, dir: i.(*tnode).dir}, stats: &d.stats, taken: &d.taken}
	n.fresh.Store(true)
	return n, nil
}

// TestStatAfterLookup checks that a stat whose own walk looked the file up
// uses the lookup's attributes, and only then.
func TestStatAfterLookup(t *testing.T) {
	fs := &tfs{dirs: 1, files: 1}
	v := New(nil)
	root := &sdir{tnode: tnode{fs: fs, dir: true}}
	if err := v.MountRoot(rootCtx{}, root, MountOptions{}); err != nil {
		t.Fatal(err)
	}
	fsc := NewFSContext(v.Root(), v.Root(), 0)
	pop := fsc.PathOp(VirtualDentry{}, "/d0", true)
	if _, err := v.Stat(rootCtx{}, pop); err != nil {
		t.Fatal(err)
	}
	if root.taken.Load() != 1 || root.stats.Load() != 0 {
		t.Errorf("first stat: %d taken, %d asked; want 1, 0", root.taken.Load(), root.stats.Load())
	}
	if _, err := v.Stat(rootCtx{}, pop); err != nil {
		t.Fatal(err)
	}
	if root.taken.Load() != 1 || root.stats.Load() != 1 {
		t.Errorf("second stat: %d taken, %d asked; want 1, 1", root.taken.Load(), root.stats.Load())
	}
}
