package tmpfs_test

import (
	"bytes"
	"testing"

	"github.com/veil-sandbox/veil/platform/platformtest"
	"github.com/veil-sandbox/veil/sentry/fs/tmpfs"
	"github.com/veil-sandbox/veil/sentry/memfile"
	"github.com/veil-sandbox/veil/sentry/mm"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/vfs/vfstest"
	"golang.org/x/sys/unix"
)

const page = memfile.PageSize

func newLimited(t *testing.T, opts tmpfs.Options) (*memfile.File, vfs.Inode) {
	t.Helper()
	mf, err := memfile.New()
	if err != nil {
		t.Fatal(err)
	}
	return mf, tmpfs.New(mf, opts).Root()
}

func statfs(t *testing.T, root vfs.Inode) vfs.StatFS {
	t.Helper()
	st, err := root.(vfs.StatFSer).StatFS(vfstest.Root())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func blocks(t *testing.T, i vfs.Inode) int64 {
	t.Helper()
	st, err := i.Stat(vfstest.Root())
	if err != nil {
		t.Fatal(err)
	}
	return st.Blocks
}

func TestSizeLimitWrite(t *testing.T) {
	ctx := vfstest.Root()
	_, root := newLimited(t, tmpfs.Options{MaxSize: 10*page - 100}) // rounds up to 10 pages
	if st := statfs(t, root); st.Blocks != 10 || st.Bfree != 10 || st.Bavail != 10 {
		t.Fatalf("empty: %+v", st)
	}
	ino, f, err := root.Create(ctx, "f", unix.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Release()
	// A write that does not fit writes what fits, the next one fails.
	data := bytes.Repeat([]byte("x"), 12*page)
	if n, err := f.Write(ctx, data, 0, false); n != 10*page || err != nil {
		t.Fatalf("write: %d, %v; want %d, nil", n, err, 10*page)
	}
	if n, err := f.Write(ctx, data[:1], 10*page, false); n != 0 || err != unix.ENOSPC {
		t.Fatalf("write when full: %d, %v; want ENOSPC", n, err)
	}
	st, _ := ino.Stat(ctx)
	if st.Size != 10*page || st.Blocks != 10*page/512 {
		t.Errorf("full file: size %d blocks %d", st.Size, st.Blocks)
	}
	if st := statfs(t, root); st.Bfree != 0 || st.Bavail != 0 {
		t.Errorf("full: %+v", st)
	}
	// Overwriting allocated pages needs no space.
	if n, err := f.Write(ctx, []byte("over"), 5*page, false); n != 4 || err != nil {
		t.Errorf("overwrite: %d, %v", n, err)
	}
	// Writes into a hole of a full filesystem fail too, and leave the
	// size alone.
	tr := f.(vfs.Truncater)
	if err := tr.Truncate(ctx, 3*page+10); err != nil {
		t.Fatal(err)
	}
	if st := statfs(t, root); st.Bfree != 6 {
		t.Errorf("after truncate to 3 pages: bfree %d, want 6", st.Bfree)
	}
	// Truncating up allocates nothing, so it may go past the limit.
	if err := tr.Truncate(ctx, 1<<30); err != nil {
		t.Fatalf("truncate up past the limit: %v", err)
	}
	if st, _ := ino.Stat(ctx); st.Size != 1<<30 || st.Blocks != 4*page/512 {
		t.Errorf("sparse file: size %d blocks %d", st.Size, st.Blocks)
	}
	if n, err := f.Write(ctx, data, 100*page, false); n != 6*page || err != nil {
		t.Errorf("write into the hole: %d, %v; want %d", n, err, 6*page)
	}
	if n, err := f.Write(ctx, data[:1], 200*page, false); err != unix.ENOSPC {
		t.Errorf("write into the hole when full: %d, %v", n, err)
	}
	if st, _ := ino.Stat(ctx); st.Size != 1<<30 {
		t.Errorf("failed write changed the size to %d", st.Size)
	}
	// Removing the file gives the space back.
	f.Release()
	if err := root.Unlink(ctx, "f"); err != nil {
		t.Fatal(err)
	}
	if st := statfs(t, root); st.Bfree != 10 {
		t.Errorf("after unlink: bfree %d, want 10", st.Bfree)
	}
}

func TestSizeLimitEndOfFileGrowth(t *testing.T) {
	ctx := vfstest.Root()
	_, root := newLimited(t, tmpfs.Options{MaxSize: 2 * page})
	ino, f, _ := root.Create(ctx, "f", unix.O_RDWR, 0o644)
	defer f.Release()
	// A write starting past the end that fails leaves no hole behind.
	if n, err := f.Write(ctx, bytes.Repeat([]byte("y"), 3*page), page, false); n != 2*page || err != nil {
		t.Fatalf("write: %d, %v", n, err)
	}
	if st, _ := ino.Stat(ctx); st.Size != 3*page {
		t.Errorf("size %d, want %d (end of what was written)", st.Size, 3*page)
	}
	if _, err := f.Write(ctx, []byte{1}, 10*page, false); err != unix.ENOSPC {
		t.Errorf("write past the end when full: %v", err)
	}
	if st, _ := ino.Stat(ctx); st.Size != 3*page {
		t.Errorf("failed write past the end made the size %d", st.Size)
	}
}

func TestSizeLimitFallocate(t *testing.T) {
	ctx := vfstest.Root()
	_, root := newLimited(t, tmpfs.Options{MaxSize: 8 * page})
	ino, f, _ := root.Create(ctx, "f", unix.O_RDWR, 0o644)
	defer f.Release()
	al := f.(vfs.Allocator)
	if err := al.Allocate(ctx, 0, 0, 9*page); err != unix.ENOSPC {
		t.Fatalf("fallocate past the limit: %v, want ENOSPC", err)
	}
	if st, _ := ino.Stat(ctx); st.Size != 0 || st.Blocks != 0 || statfs(t, root).Bfree != 8 {
		t.Fatalf("failed fallocate left size %d blocks %d", st.Size, st.Blocks)
	}
	if err := al.Allocate(ctx, 0, 0, 3*page); err != nil {
		t.Fatal(err)
	}
	if err := al.Allocate(ctx, unix.FALLOC_FL_KEEP_SIZE, 3*page, 2*page+1); err != nil {
		t.Fatal(err)
	}
	st, _ := ino.Stat(ctx)
	if st.Size != 3*page || st.Blocks != 6*page/512 {
		t.Errorf("after fallocate: size %d blocks %d, want %d and %d", st.Size, st.Blocks, 3*page, 6*page/512)
	}
	if free := statfs(t, root).Bfree; free != 2 {
		t.Errorf("bfree %d, want 2", free)
	}
	// Pages past the end of file from KEEP_SIZE survive growing the
	// file.
	tr := f.(vfs.Truncater)
	if err := tr.Truncate(ctx, 4*page); err != nil {
		t.Fatal(err)
	}
	if b := blocks(t, ino); b != 6*page/512 {
		t.Errorf("after growing: %d blocks, want %d", b, 6*page/512)
	}
	// Of a range overlapping allocated pages only the missing ones
	// count.
	if err := al.Allocate(ctx, 0, 0, 8*page); err != nil {
		t.Errorf("fallocate of the rest: %v", err)
	}
	// Shrinking frees the pages past the new end.
	if err := tr.Truncate(ctx, page); err != nil {
		t.Fatal(err)
	}
	if free := statfs(t, root).Bfree; free != 7 {
		t.Errorf("after truncate: bfree %d, want 7", free)
	}
}

func TestInodeLimit(t *testing.T) {
	ctx := vfstest.Root()
	_, root := newLimited(t, tmpfs.Options{MaxInodes: 4})
	if st := statfs(t, root); st.Files != 4 || st.Ffree != 3 {
		t.Fatalf("empty: files %d ffree %d, want 4 and 3", st.Files, st.Ffree)
	}
	a, f, err := root.Create(ctx, "a", unix.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.Release()
	if _, err := root.Mkdir(ctx, "d", 0o755); err != nil {
		t.Fatal(err)
	}
	// A hard link takes a slot as well.
	if err := root.Link(ctx, "b", a); err != nil {
		t.Fatal(err)
	}
	if st := statfs(t, root); st.Ffree != 0 {
		t.Errorf("ffree %d, want 0", st.Ffree)
	}
	if _, _, err := root.Create(ctx, "c", unix.O_RDWR, 0o644); err != unix.ENOSPC {
		t.Errorf("create: %v, want ENOSPC", err)
	}
	if _, err := root.Mkdir(ctx, "e", 0o755); err != unix.ENOSPC {
		t.Errorf("mkdir: %v, want ENOSPC", err)
	}
	if _, err := root.Mknod(ctx, "n", unix.S_IFCHR|0o600, 0); err != unix.ENOSPC {
		t.Errorf("mknod: %v, want ENOSPC", err)
	}
	if _, err := root.Symlink(ctx, "l", "a"); err != unix.ENOSPC {
		t.Errorf("symlink: %v, want ENOSPC", err)
	}
	if err := root.Link(ctx, "b2", a); err != unix.ENOSPC {
		t.Errorf("link: %v, want ENOSPC", err)
	}
	if _, err := root.Lookup(ctx, "c"); err != unix.ENOENT {
		t.Errorf("failed create left an entry: %v", err)
	}
	// Unlinking one of two links frees the link's slot.
	if err := root.Unlink(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Symlink(ctx, "l", "b"); err != nil {
		t.Fatalf("symlink after unlink: %v", err)
	}
	for _, op := range []func() error{
		func() error { return root.Unlink(ctx, "b") },
		func() error { return root.Unlink(ctx, "l") },
		func() error { return root.Rmdir(ctx, "d") },
	} {
		if err := op(); err != nil {
			t.Fatal(err)
		}
	}
	if st := statfs(t, root); st.Ffree != 3 {
		t.Errorf("after removing everything: ffree %d, want 3", st.Ffree)
	}
	// Renaming over a file frees the slot of the one replaced.
	for _, n := range []string{"x", "y"} {
		_, f, err := root.Create(ctx, n, unix.O_RDWR, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		f.Release()
	}
	if err := root.Rename(ctx, "x", root, "y"); err != nil {
		t.Fatal(err)
	}
	if st := statfs(t, root); st.Ffree != 2 {
		t.Errorf("after rename over: ffree %d, want 2", st.Ffree)
	}
}

func TestUnlinkedOpenFileKeepsItsSlotAndPages(t *testing.T) {
	ctx := vfstest.Root()
	_, root := newLimited(t, tmpfs.Options{MaxSize: 4 * page, MaxInodes: 2})
	_, f, _ := root.Create(ctx, "f", unix.O_RDWR, 0o644)
	f.Write(ctx, make([]byte, page), 0, false)
	root.Unlink(ctx, "f")
	if st := statfs(t, root); st.Ffree != 0 || st.Bfree != 3 {
		t.Errorf("unlinked but open: ffree %d bfree %d, want 0 and 3", st.Ffree, st.Bfree)
	}
	f.Release()
	if st := statfs(t, root); st.Ffree != 1 || st.Bfree != 4 {
		t.Errorf("closed: ffree %d bfree %d, want 1 and 4", st.Ffree, st.Bfree)
	}
}

func TestLongSymlinkTakesAPage(t *testing.T) {
	ctx := vfstest.Root()
	_, root := newLimited(t, tmpfs.Options{MaxSize: page})
	short, err := root.Symlink(ctx, "short", string(bytes.Repeat([]byte("s"), 127)))
	if err != nil {
		t.Fatal(err)
	}
	if b := blocks(t, short); b != 0 {
		t.Errorf("short symlink: %d blocks", b)
	}
	long, err := root.Symlink(ctx, "long", string(bytes.Repeat([]byte("l"), 128)))
	if err != nil {
		t.Fatal(err)
	}
	if b := blocks(t, long); b != page/512 {
		t.Errorf("long symlink: %d blocks, want %d", b, page/512)
	}
	if _, err := root.Symlink(ctx, "long2", string(bytes.Repeat([]byte("l"), 200))); err != unix.ENOSPC {
		t.Errorf("second long symlink in a one-page tmpfs: %v, want ENOSPC", err)
	}
	if err := root.Unlink(ctx, "long"); err != nil {
		t.Fatal(err)
	}
	if st := statfs(t, root); st.Bfree != 1 {
		t.Errorf("after unlink: bfree %d", st.Bfree)
	}
}

// A fault through a shared mapping allocates the holes of its window when
// they all fit in the filesystem, else the faulting page only; past the
// limit it is a SIGBUS.
func TestSizeLimitSharedMappingFault(t *testing.T) {
	ctx := vfstest.Root()
	mf, root := newLimited(t, tmpfs.Options{MaxSize: 20 * page})
	m, err := mm.New(&platformtest.Platform{}, mf)
	if err != nil {
		t.Fatal(err)
	}
	defer m.DecUsers()
	mapFile := func(name string, at uintptr) (vfs.Inode, vfs.FileImpl, uintptr) {
		t.Helper()
		ino, f, err := root.Create(ctx, name, unix.O_RDWR, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(f.Release)
		if err := f.(vfs.Truncater).Truncate(ctx, 16*page); err != nil {
			t.Fatal(err)
		}
		// At a fault window boundary, so a window covers the file.
		addr, err := m.MMap(mm.MMapOpts{Addr: at, Fixed: true, Length: 16 * page, Prot: unix.PROT_READ | unix.PROT_WRITE,
			Shared: true, Mappable: f.(vfs.Mapper).Mappable()})
		if err != nil {
			t.Fatal(err)
		}
		return ino, f, addr
	}
	a, af, aAddr := mapFile("a", 0x10000000)
	if fr := m.HandleFault(mm.Fault{Addr: aAddr}); fr != nil {
		t.Fatalf("fault: %+v", fr)
	}
	if b := blocks(t, a); b != 16*page/512 {
		t.Errorf("after a fault with room for the window: %d blocks, want %d", b, 16*page/512)
	}
	b, bf, bAddr := mapFile("b", 0x20000000)
	if fr := m.HandleFault(mm.Fault{Addr: bAddr + 5*page}); fr != nil {
		t.Fatalf("fault: %+v", fr)
	}
	if n := blocks(t, b); n != page/512 {
		t.Errorf("after a fault without room for the window: %d blocks, want %d", n, page/512)
	}
	if _, err := bf.Write(ctx, make([]byte, 3*page), 0, false); err != nil {
		t.Fatal(err)
	}
	if free := statfs(t, root).Bfree; free != 0 {
		t.Fatalf("bfree %d, want 0", free)
	}
	fr := m.HandleFault(mm.Fault{Addr: bAddr + 9*page})
	if fr == nil || fr.Signo != int(unix.SIGBUS) {
		t.Fatalf("fault past the limit: %+v, want SIGBUS", fr)
	}
	// The Sentry's own access to that memory (read(2) into it) is EFAULT.
	if _, err := m.CopyOut(bAddr+9*page, []byte{1}); err != unix.EFAULT {
		t.Errorf("copy out: %v, want EFAULT", err)
	}
	// Pages that exist are still reachable: what is written through the
	// mapping is the file's.
	if fr := m.HandleFault(mm.Fault{Addr: bAddr + page}); fr != nil {
		t.Fatalf("fault on an allocated page: %+v", fr)
	}
	if _, err := m.CopyOut(aAddr+page+7, []byte("mapped")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 6)
	if n, _ := af.Read(ctx, got, page+7, false); n != 6 || string(got) != "mapped" {
		t.Errorf("read %q", got[:n])
	}
}
