package proc_test

import (
	"strings"
	"testing"
	"time"

	"github.com/veil-sandbox/veil/sentry/fs/host"
	"github.com/veil-sandbox/veil/sentry/fs/pipe"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/syscalls"
	"golang.org/x/sys/unix"
)

// TestFDReopen: opening /proc/<pid>/fd/N of a file without a path reopens
// its inode (what /dev/stdin, /dev/stdout... rely on).
func TestFDReopen(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx
	fdt := vfs.NewFDTable()
	r, w := pipe.NewFiles(ctx, 0)
	fdt.NewFD(3, r, false)
	fdt.NewFD(4, w, false)
	r.DecRef()
	w.DecRef()
	var hp [2]int
	if err := unix.Pipe2(hp[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(hp[0])
	hw, err := host.NewFile(ctx, hp[1], true)
	if err != nil {
		t.Fatal(err)
	}
	fdt.NewFD(5, hw, false)
	hw.DecRef()
	ev := vfs.NewFileDescription(pipeless{}, unix.O_RDWR, vfs.NewAnonInode(ctx, 0o600), "anon_inode:[eventfd]")
	fdt.NewFD(6, ev, false)
	ev.DecRef()

	err = e.k.CreateProcess(kernel.CreateProcessArgs{
		Path: "/bin/prog", Argv: []string{"prog"},
		Open: syscalls.OpenExecutable, FDTable: fdt, FS: vfs.NewFSContext(e.v.Root(), e.v.Root(), 0o022),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		e.k.TaskByTID(1).ExitGroup(0)
		done := make(chan struct{})
		go func() { e.k.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("process did not die")
		}
	}()

	pipeName := e.readlink("/proc/1/fd/3")
	if !strings.HasPrefix(pipeName, "pipe:[") {
		t.Fatalf("fd/3 -> %q", pipeName)
	}
	// `echo x > /proc/self/fd/4` then `cat /proc/self/fd/3`.
	wf, err := e.v.Open(ctx, e.pop("/proc/self/fd/4", true), unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC, 0o666)
	if err != nil {
		t.Fatalf("reopen pipe write end: %v", err)
	}
	if _, err := wf.Write(ctx, []byte("piped\n")); err != nil {
		t.Fatal(err)
	}
	rf, err := e.v.Open(ctx, e.pop("/proc/1/fd/3", true), unix.O_RDONLY, 0)
	if err != nil {
		t.Fatalf("reopen pipe read end: %v", err)
	}
	buf := make([]byte, 64)
	if n, err := rf.Read(ctx, buf); err != nil || string(buf[:n]) != "piped\n" {
		t.Errorf("read %q %v", buf[:n], err)
	}
	if rf.PathName() != pipeName {
		t.Errorf("reopened pipe shows %q, want %q", rf.PathName(), pipeName)
	}
	wf.DecRef()
	rf.DecRef()

	// The host's stdout: a dup of the host descriptor, for writing only.
	hf, err := e.v.Open(ctx, e.pop("/proc/self/fd/5", true), unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC, 0o666)
	if err != nil {
		t.Fatalf("reopen host write end: %v", err)
	}
	if _, err := hf.Write(ctx, []byte("out\n")); err != nil {
		t.Fatal(err)
	}
	hf.DecRef()
	if n, err := unix.Read(hp[0], buf); err != nil || string(buf[:n]) != "out\n" {
		t.Errorf("host read %q %v", buf[:n], err)
	}
	_, err = e.v.Open(ctx, e.pop("/proc/self/fd/5", true), unix.O_RDONLY, 0)
	if err != unix.EACCES {
		t.Errorf("reading a write-only host descriptor: %v, want EACCES", err)
	}

	_, err = e.v.Open(ctx, e.pop("/proc/self/fd/6", true), unix.O_RDWR, 0)
	if err != unix.ENXIO {
		t.Errorf("reopening an eventfd: %v, want ENXIO", err)
	}
	if st, err := e.v.Stat(ctx, e.pop("/proc/self/fd/3", true)); err != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
		t.Errorf("stat fd/3: %o %v", st.Mode, err)
	}

	if mounts := e.read("/proc/self/mounts"); strings.Count(mounts, "\n") != 2 {
		t.Errorf("mounts:\n%s", mounts)
	}
}

type pipeless struct {
	vfs.NoIoctl
	vfs.AlwaysReady
	vfs.NoRelease
}

func (pipeless) Read(vfs.Context, []byte, int64, bool) (int, error)  { return 0, nil }
func (pipeless) Write(vfs.Context, []byte, int64, bool) (int, error) { return 0, nil }
