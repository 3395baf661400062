package pseudo

import (
	"testing"

	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/vfs/vfstest"
	"golang.org/x/sys/unix"
)

func TestGeneratedFileSnapshots(t *testing.T) {
	fs := NewFS(Options{Magic: 0x1234, FileSize: 4096})
	n := 0
	f := fs.Text(func() string { n++; return string(rune('0' + n)) })
	ctx := vfstest.Root()
	impl, err := f.Open(ctx, unix.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	// The snapshot taken at open is what the first read sees; a later
	// read at offset 0 regenerates, one at another offset does not.
	if k, _ := impl.Read(ctx, buf, 0, false); string(buf[:k]) != "1" {
		t.Errorf("first read %q", buf[:k])
	}
	if k, _ := impl.Read(ctx, buf, 1, false); k != 0 || n != 1 {
		t.Errorf("read at end: %d bytes, %d generations", k, n)
	}
	if k, _ := impl.Read(ctx, buf, 0, false); string(buf[:k]) != "2" {
		t.Errorf("reread %q", buf[:k])
	}
	if _, err := f.Open(ctx, unix.O_WRONLY); err != unix.EACCES {
		t.Errorf("open for writing: %v, want EACCES", err)
	}
	st, _ := f.Stat(ctx)
	if st.Size != 4096 || st.Mode != unix.S_IFREG|0o444 || st.Dev != fs.Dev() {
		t.Errorf("stat %+v", st)
	}
}

func TestDir(t *testing.T) {
	fs := NewFS(Options{})
	sub := fs.NewDir(nil, nil)
	d := fs.NewDir(nil, []Entry{{"b", sub}, {"a", fs.Const("x")}, {"l", fs.FixedLink("b")}})
	ctx := vfstest.Root()
	ents, _ := d.Getdents(ctx)
	if len(ents) != 3 || ents[0].Name != "b" || ents[0].Type != unix.DT_DIR || ents[2].Type != unix.DT_LNK || ents[0].Ino != sub.Ino() {
		t.Errorf("entries %+v", ents)
	}
	if st, _ := d.Stat(ctx); st.Nlink != 3 {
		t.Errorf("nlink %d, want 3 (2 + one subdirectory)", st.Nlink)
	}
	if _, err := d.Lookup(ctx, "zz"); err != unix.ENOENT {
		t.Errorf("lookup of a missing name: %v", err)
	}
	if i, _ := d.Lookup(ctx, "l"); i == nil {
		t.Error("no symlink")
	} else if s, _ := i.Readlink(ctx); s != "b" {
		t.Errorf("readlink %q", s)
	}
	if _, err := d.Mkdir(ctx, "x", 0o755); err == nil {
		t.Error("mkdir succeeded")
	}
	var _ vfs.Inode = d
}
