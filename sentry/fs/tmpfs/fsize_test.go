package tmpfs_test

import (
	"testing"

	"github.com/veil-sandbox/veil/sentry/fs/tmpfs"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/vfs/vfstest"
	"golang.org/x/sys/unix"
)

// fsizeCtx is a caller with an RLIMIT_FSIZE (vfs.FileSizeLimited).
type fsizeCtx struct {
	*vfstest.Context
	limit    uint64
	exceeded int
}

func (c *fsizeCtx) FileSizeLimit() uint64 { return c.limit }
func (c *fsizeCtx) FileSizeExceeded()     { c.exceeded++ }

// TestFileSizeLimit checks RLIMIT_FSIZE through vfs.FileDescription on a
// tmpfs file: writes stop at the limit, EFBIG (and SIGXFSZ) at or past it,
// truncates and fallocates may not grow a file past it.
func TestFileSizeLimit(t *testing.T) {
	_, root := newLimited(t, tmpfs.Options{})
	ctx := &fsizeCtx{Context: vfstest.Root(), limit: 100}
	ino, impl, err := root.Create(ctx, "f", unix.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fd := vfs.NewFileDescription(impl, unix.O_RDWR, ino, "/f")
	defer fd.DecRef()
	buf := make([]byte, 150)
	if n, err := fd.Write(ctx, buf); n != 100 || err != nil || ctx.exceeded != 0 {
		t.Fatalf("write across the limit: %d, %v (exceeded %d); want a short write of 100", n, err, ctx.exceeded)
	}
	if n, err := fd.Write(ctx, buf); n != 0 || err != unix.EFBIG || ctx.exceeded != 1 {
		t.Fatalf("write at the limit: %d, %v (exceeded %d); want EFBIG and SIGXFSZ", n, err, ctx.exceeded)
	}
	if n, err := fd.PWrite(ctx, nil, 500); n != 0 || err != nil {
		t.Errorf("empty write past the limit: %d, %v", n, err)
	}
	if n, err := fd.PWrite(ctx, buf[:10], 95); n != 5 || err != nil {
		t.Errorf("pwrite across the limit: %d, %v", n, err)
	}
	if err := fd.Truncate(ctx, 200); err != unix.EFBIG || ctx.exceeded != 2 {
		t.Errorf("truncate past the limit: %v (exceeded %d)", err, ctx.exceeded)
	}
	if err := fd.Truncate(ctx, 50); err != nil {
		t.Errorf("truncate down: %v", err)
	}
	if err := fd.Allocate(ctx, 0, 0, 300); err != unix.EFBIG {
		t.Errorf("fallocate past the limit: %v", err)
	}
	if err := fd.Allocate(ctx, unix.FALLOC_FL_KEEP_SIZE, 0, 300); err != nil {
		t.Errorf("fallocate keeping the size: %v", err)
	}
	// No limit: nothing is checked.
	free := vfstest.Root()
	if n, err := fd.PWrite(free, buf, 1000); n != 150 || err != nil {
		t.Errorf("write without a limit: %d, %v", n, err)
	}
}
