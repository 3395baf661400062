package tmpfs_test

import (
	"testing"

	"github.com/veil-sandbox/veil/sentry/fs/tmpfs"
	"github.com/veil-sandbox/veil/sentry/memfile"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/vfs/vfstest"
	"golang.org/x/sys/unix"
)

func TestSeals(t *testing.T) {
	mf, err := memfile.New()
	if err != nil {
		t.Fatal(err)
	}
	ctx := vfstest.Root()
	f := tmpfs.NewMemfd(ctx, mf, "s", true, false)
	defer f.DecRef()
	if s, err := tmpfs.Seals(f); s != 0 || err != nil {
		t.Fatalf("new sealable memfd: %#x %v", s, err)
	}
	f.PWrite(ctx, make([]byte, 5000), 0)
	if err := tmpfs.AddSeals(f, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW); err != nil {
		t.Fatal(err)
	}
	for _, size := range []int64{100, 9000} {
		if err := f.Truncate(ctx, size); err != unix.EPERM {
			t.Errorf("truncate to %d: %v, want EPERM", size, err)
		}
	}
	if _, err := f.PWrite(ctx, []byte("x"), 5000); err != unix.EPERM {
		t.Errorf("write at the end: %v, want EPERM", err)
	}
	// The chunk of [4096, 5096) crosses the end: only [100, 4096) goes.
	if n, err := f.PWrite(ctx, make([]byte, 4996), 100); n != 3996 || err != nil {
		t.Errorf("write across the end: %d %v, want 3996", n, err)
	}
	if err := tmpfs.AddSeals(f, unix.F_SEAL_WRITE|unix.F_SEAL_SEAL); err != nil {
		t.Fatal(err)
	}
	if _, err := f.PWrite(ctx, []byte("x"), 0); err != unix.EPERM {
		t.Errorf("write with F_SEAL_WRITE: %v", err)
	}
	if err := tmpfs.AddSeals(f, unix.F_SEAL_EXEC); err != unix.EPERM {
		t.Errorf("adding after F_SEAL_SEAL: %v", err)
	}
	if s, _ := tmpfs.Seals(f); s != unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE|unix.F_SEAL_SEAL {
		t.Errorf("seals %#x", s)
	}

	plain := tmpfs.NewMemfd(ctx, mf, "p", false, false)
	defer plain.DecRef()
	if s, _ := tmpfs.Seals(plain); s != unix.F_SEAL_SEAL {
		t.Errorf("memfd without MFD_ALLOW_SEALING: %#x, want F_SEAL_SEAL", s)
	}
	if err := tmpfs.AddSeals(plain, unix.F_SEAL_WRITE); err != unix.EPERM {
		t.Errorf("adding to it: %v", err)
	}
	// F_SEAL_EXEC on an executable memfd implies the write seals;
	// MFD_NOEXEC_SEAL makes it 0666 with F_SEAL_EXEC.
	x := tmpfs.NewMemfd(ctx, mf, "x", true, false)
	defer x.DecRef()
	tmpfs.AddSeals(x, unix.F_SEAL_EXEC)
	if s, _ := tmpfs.Seals(x); s != unix.F_SEAL_EXEC|unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE|unix.F_SEAL_FUTURE_WRITE {
		t.Errorf("F_SEAL_EXEC on 0777: %#x", s)
	}
	nx := tmpfs.NewMemfd(ctx, mf, "nx", false, true)
	defer nx.DecRef()
	if st, _ := nx.Stat(ctx); st.Mode&0o777 != 0o666 {
		t.Errorf("MFD_NOEXEC_SEAL mode %o", st.Mode&0o777)
	}
	if err := nx.SetStat(ctx, vfs.SetStat{Valid: vfs.AttrMode, Mode: 0o755}); err != unix.EPERM {
		t.Errorf("chmod +x under F_SEAL_EXEC: %v", err)
	}
	if err := nx.SetStat(ctx, vfs.SetStat{Valid: vfs.AttrMode, Mode: 0o644}); err != nil {
		t.Errorf("chmod keeping the x bits: %v", err)
	}
}
