package tmpfs_test

import (
	"bytes"
	"testing"

	"github.com/veil-sandbox/veil/sentry/fs/tmpfs"
	"github.com/veil-sandbox/veil/sentry/memfile"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/vfs/vfstest"
	"golang.org/x/sys/unix"
)

func TestUnlinkFreesDataAtLastClose(t *testing.T) {
	mf, err := memfile.New()
	if err != nil {
		t.Fatal(err)
	}
	ctx := vfstest.Root()
	root := tmpfs.New(mf, tmpfs.Options{}).Root()
	ino, impl, err := root.Create(ctx, "f", unix.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("z"), 1<<20)
	if n, err := impl.Write(ctx, data, 0, false); n != len(data) || err != nil {
		t.Fatalf("write %d %v", n, err)
	}
	used := mf.InUse()
	if used < 1<<20 {
		t.Fatalf("InUse %d after 1 MiB write", used)
	}
	if err := root.Unlink(ctx, "f"); err != nil {
		t.Fatal(err)
	}
	st, _ := ino.Stat(ctx)
	if st.Nlink != 0 || st.Size != 1<<20 {
		t.Errorf("after unlink: %+v", st)
	}
	buf := make([]byte, 10)
	if n, _ := impl.Read(ctx, buf, 1<<20-5, false); n != 5 || buf[0] != 'z' {
		t.Errorf("read unlinked %d %q", n, buf[:n])
	}
	impl.Release()
	if got := mf.InUse(); got != 0 {
		t.Errorf("InUse %d after last close, want 0", got)
	}
	if _, err := root.Lookup(ctx, "f"); err != unix.ENOENT {
		t.Errorf("lookup: %v", err)
	}
}

func TestDirectoryOps(t *testing.T) {
	ctx := vfstest.User(1000, 100)
	fs := tmpfs.New(nil, tmpfs.Options{Mode: 0o2775, GID: 50})
	root := fs.Root()
	d, err := root.Mkdir(ctx, "d", 0o755)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := d.Stat(ctx)
	if st.GID != 50 || st.Mode&unix.S_ISGID == 0 || st.UID != 1000 {
		t.Errorf("setgid inheritance: %+v", st)
	}
	if _, err := root.Mkdir(ctx, "d", 0o755); err != unix.EEXIST {
		t.Errorf("mkdir twice: %v", err)
	}
	if _, err := d.Symlink(ctx, "l", "target"); err != nil {
		t.Fatal(err)
	}
	if err := root.Rename(ctx, "d", d, "x"); err != unix.EINVAL {
		t.Errorf("rename into itself: %v", err)
	}
	if err := root.Rmdir(ctx, "d"); err != unix.ENOTEMPTY {
		t.Errorf("rmdir: %v", err)
	}
	ents, _ := d.Getdents(ctx)
	if len(ents) != 1 || ents[0].Name != "l" || ents[0].Type != unix.DT_LNK {
		t.Errorf("getdents %+v", ents)
	}
	if _, err := d.Mknod(ctx, "p", unix.S_IFIFO|0o600, 0); err != unix.EPERM && vfs.NewFIFO() == nil {
		t.Errorf("fifo without pipes: %v", err)
	}
	if _, err := root.Lookup(ctx, "d"); err != nil {
		t.Errorf("lookup: %v", err)
	}
	sf, _ := root.(vfs.StatFSer).StatFS(ctx)
	if sf.Type != vfs.TmpfsMagic {
		t.Errorf("statfs type %x", sf.Type)
	}
}
