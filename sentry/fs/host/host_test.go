package host_test

import (
	"testing"
	"time"

	"github.com/veil-sandbox/veil/sentry/fs/host"
	"github.com/veil-sandbox/veil/sentry/syserr"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/vfs/vfstest"
	"github.com/veil-sandbox/veil/sentry/waiter"
	"golang.org/x/sys/unix"
)

func TestHostPipe(t *testing.T) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[1])
	ctx := vfstest.Root()
	f, err := host.NewFile(ctx, p[0], true)
	if err != nil {
		t.Fatal(err)
	}
	defer f.DecRef()
	if f.IsWritable() || !f.IsReadable() {
		t.Errorf("access mode")
	}
	st, _ := f.Stat(ctx)
	if st.Mode&unix.S_IFMT != unix.S_IFIFO {
		t.Errorf("mode %o", st.Mode)
	}
	f.SetNonblocking(true)
	if _, err := f.Read(ctx, make([]byte, 1)); err != unix.EAGAIN {
		t.Errorf("nonblocking read: %v", err)
	}
	f.SetNonblocking(false)

	// Blocking read woken by data.
	go func() {
		time.Sleep(20 * time.Millisecond)
		unix.Write(p[1], []byte("hi"))
	}()
	buf := make([]byte, 8)
	n, err := f.Read(ctx, buf)
	if err != nil || string(buf[:n]) != "hi" {
		t.Errorf("read %q %v", buf[:n], err)
	}

	// Blocking read interrupted by a "signal".
	ictx := &vfstest.Context{Interrupt: make(chan struct{})}
	go func() {
		time.Sleep(20 * time.Millisecond)
		close(ictx.Interrupt)
	}()
	if _, err := f.Read(ictx, buf); err != syserr.ErrInterrupted {
		t.Errorf("interrupted read: %v", err)
	}

	// epoll-style notification.
	e, ch := waiter.NewChannelEntry(waiter.EventIn)
	f.EventRegister(e)
	unix.Write(p[1], []byte("x"))
	select {
	case <-ch:
	case <-time.After(2 * time.Second):
		t.Errorf("no notification")
	}
	f.EventUnregister(e)
	if f.Readiness(waiter.EventIn) == 0 {
		t.Errorf("not readable")
	}
	mem := &vfstest.Memory{Base: 0x1000, Data: make([]byte, 64)}
	if _, err := f.Ioctl(ctx, mem, unix.TCGETS, 0x1000); err != unix.ENOTTY {
		t.Errorf("TCGETS on pipe: %v", err)
	}
	if _, err := f.Ioctl(ctx, mem, vfs.FIONREAD, 0x1000); err != nil || mem.Data[0] != 1 {
		t.Errorf("FIONREAD: %v %v", err, mem.Data[:4])
	}
	if _, err := f.Ioctl(ctx, mem, 0x1234, 0); err != unix.ENOTTY {
		t.Errorf("unknown ioctl: %v", err)
	}
	if _, err := f.Seek(ctx, 0, unix.SEEK_CUR); err != unix.ESPIPE {
		t.Errorf("seek pipe: %v", err)
	}
	if f.PathName() == "" {
		t.Errorf("no name")
	}
}
