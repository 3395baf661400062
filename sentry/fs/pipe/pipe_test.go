package pipe

import (
	"bytes"
	"encoding/binary"
	"github.com/veil-sandbox/veil/sentry/vfs/vfstest"
	"sync"
	"testing"
	"time"

	"github.com/veil-sandbox/veil/sentry/syserr"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/waiter"
	"golang.org/x/sys/unix"
)

// newCtx returns a root context whose Interrupt channel, when closed,
// simulates a signal.
func newCtx() *vfstest.Context { return &vfstest.Context{PID: 1, Interrupt: make(chan struct{})} }

// mem is a vfs.UserMemory over a map of addresses.
type mem map[uintptr][]byte

func (m mem) CopyIn(addr uintptr, dst []byte) error { copy(dst, m[addr]); return nil }
func (m mem) CopyOut(addr uintptr, src []byte) error {
	m[addr] = append([]byte(nil), src...)
	return nil
}

// finishes runs fn in a goroutine and returns a channel closed when it
// returns.
func finishes(fn func()) chan struct{} {
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	return done
}

func mustNotFinish(t *testing.T, done chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
		t.Fatalf("%s finished, want it blocked", what)
	case <-time.After(50 * time.Millisecond):
	}
}

func mustFinish(t *testing.T, done chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s still blocked", what)
	}
}

func TestReadWrite(t *testing.T) {
	ctx := newCtx()
	r, w := NewAnonymous()
	if n, err := w.Write(ctx, []byte("hello"), -1, false); n != 5 || err != nil {
		t.Fatalf("write = %d, %v", n, err)
	}
	buf := make([]byte, 3)
	if n, err := r.Read(ctx, buf, -1, false); n != 3 || err != nil || string(buf) != "hel" {
		t.Fatalf("read = %d, %v, %q", n, err, buf[:n])
	}
	buf = make([]byte, 100)
	if n, err := r.Read(ctx, buf, -1, false); n != 2 || err != nil || string(buf[:n]) != "lo" {
		t.Fatalf("read = %d, %v, %q", n, err, buf[:n])
	}
	if n, err := r.Read(ctx, nil, -1, false); n != 0 || err != nil {
		t.Fatalf("empty read = %d, %v", n, err)
	}
	if _, err := r.Write(ctx, []byte("x"), -1, false); err != unix.EBADF {
		t.Fatalf("write on read end: %v", err)
	}
	if _, err := w.Read(ctx, buf, -1, false); err != unix.EBADF {
		t.Fatalf("read on write end: %v", err)
	}
}

func TestNonblocking(t *testing.T) {
	ctx := newCtx()
	r, w := NewAnonymous()
	buf := make([]byte, 10)
	if _, err := r.Read(ctx, buf, -1, true); err != unix.EAGAIN {
		t.Fatalf("read on empty pipe: %v, want EAGAIN", err)
	}
	big := make([]byte, DefaultSize+1000)
	n, err := w.Write(ctx, big, -1, true)
	if n != DefaultSize || err != nil {
		t.Fatalf("nonblocking big write = %d, %v; want partial %d", n, err, DefaultSize)
	}
	if _, err := w.Write(ctx, []byte("x"), -1, true); err != unix.EAGAIN {
		t.Fatalf("write on full pipe: %v, want EAGAIN", err)
	}
	// Free less than PIPE_BUF: an atomic write still doesn't fit.
	r.Read(ctx, make([]byte, 100), -1, true)
	if _, err := w.Write(ctx, make([]byte, 200), -1, true); err != unix.EAGAIN {
		t.Fatalf("200-byte write with 100 free: %v, want EAGAIN (atomic)", err)
	}
	if n, err := w.Write(ctx, make([]byte, 100), -1, true); n != 100 || err != nil {
		t.Fatalf("100-byte write with 100 free = %d, %v", n, err)
	}
	// A non-atomic write takes what fits.
	r.Read(ctx, make([]byte, 100), -1, true)
	if n, err := w.Write(ctx, make([]byte, 5000), -1, true); n != 100 || err != nil {
		t.Fatalf("5000-byte write with 100 free = %d, %v", n, err)
	}
}

func TestBlockingRead(t *testing.T) {
	ctx := newCtx()
	r, w := NewAnonymous()
	var got []byte
	done := finishes(func() {
		buf := make([]byte, 10)
		n, err := r.Read(ctx, buf, -1, false)
		if err != nil {
			t.Errorf("read: %v", err)
		}
		got = buf[:n]
	})
	mustNotFinish(t, done, "read on empty pipe")
	w.Write(ctx, []byte("abc"), -1, false)
	mustFinish(t, done, "read")
	if string(got) != "abc" {
		t.Fatalf("read %q", got)
	}
}

func TestBlockingWrite(t *testing.T) {
	ctx := newCtx()
	r, w := NewAnonymous()
	data := make([]byte, 3*DefaultSize)
	for i := range data {
		data[i] = byte(i * 7)
	}
	var n int
	var werr error
	done := finishes(func() { n, werr = w.Write(ctx, data, -1, false) })
	mustNotFinish(t, done, "write bigger than the pipe")
	var got []byte
	buf := make([]byte, 1000)
	for len(got) < len(data) {
		m, err := r.Read(ctx, buf, -1, false)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:m]...)
	}
	mustFinish(t, done, "write")
	if n != len(data) || werr != nil {
		t.Fatalf("write = %d, %v", n, werr)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("data corrupted")
	}
}

func TestEOF(t *testing.T) {
	ctx := newCtx()
	r, w := NewAnonymous()
	w.Write(ctx, []byte("xy"), -1, false)
	done := finishes(func() {
		buf := make([]byte, 10)
		if n, err := r.Read(ctx, buf, -1, false); n != 2 || err != nil {
			t.Errorf("read = %d, %v", n, err)
		}
		if n, err := r.Read(ctx, buf, -1, false); n != 0 || err != nil {
			t.Errorf("read at EOF = %d, %v", n, err)
		}
	})
	mustNotFinish(t, done, "second read before close")
	w.Release()
	mustFinish(t, done, "read at EOF")
	if n, err := r.Read(ctx, make([]byte, 1), -1, true); n != 0 || err != nil {
		t.Fatalf("nonblocking read at EOF = %d, %v", n, err)
	}
	if r.Readiness(waiter.EventIn|waiter.EventHUp) != waiter.EventHUp {
		t.Fatalf("readiness at EOF = %#x", r.Readiness(^waiter.EventMask(0)))
	}
}

func TestEPIPE(t *testing.T) {
	ctx := newCtx()
	r, w := NewAnonymous()
	r.Release()
	if _, err := w.Write(ctx, []byte("x"), -1, false); err != unix.EPIPE {
		t.Fatalf("write without reader: %v", err)
	}
	if w.Readiness(waiter.EventErr) != waiter.EventErr {
		t.Fatal("no EventErr without reader")
	}

	// A writer blocked on a full pipe gets EPIPE when the reader goes.
	r, w = NewAnonymous()
	w.Write(ctx, make([]byte, DefaultSize), -1, false)
	var err error
	done := finishes(func() { _, err = w.Write(ctx, []byte("x"), -1, false) })
	mustNotFinish(t, done, "write to full pipe")
	r.Release()
	mustFinish(t, done, "write")
	if err != unix.EPIPE {
		t.Fatalf("blocked write after reader close: %v", err)
	}
}

func TestInterrupt(t *testing.T) {
	ctx := newCtx()
	r, w := NewAnonymous()
	var err error
	done := finishes(func() { _, err = r.Read(ctx, make([]byte, 1), -1, false) })
	mustNotFinish(t, done, "read")
	close(ctx.Interrupt)
	mustFinish(t, done, "interrupted read")
	if err != syserr.ErrInterrupted {
		t.Fatalf("interrupted read: %v", err)
	}
	// A partially done write returns its count.
	ctx2 := newCtx()
	var n int
	done = finishes(func() { n, err = w.Write(ctx2, make([]byte, DefaultSize+10), -1, false) })
	mustNotFinish(t, done, "big write")
	close(ctx2.Interrupt)
	mustFinish(t, done, "interrupted write")
	if n != DefaultSize || err != nil {
		t.Fatalf("interrupted partial write = %d, %v", n, err)
	}
}

// TestAtomicWrites checks that writes of PIPE_BUF bytes from concurrent
// writers never interleave.
func TestAtomicWrites(t *testing.T) {
	ctx := newCtx()
	r, w := NewAnonymous()
	const writers, each = 8, 40
	var wg sync.WaitGroup
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func(b byte) {
			defer wg.Done()
			chunk := bytes.Repeat([]byte{b}, PipeBuf)
			for j := 0; j < each; j++ {
				if n, err := w.Write(ctx, chunk, -1, false); n != PipeBuf || err != nil {
					t.Errorf("write = %d, %v", n, err)
					return
				}
			}
		}(byte('a' + i))
	}
	go func() { wg.Wait(); w.Release() }()
	var got []byte
	buf := make([]byte, 3001) // odd size: reads split chunks
	for {
		n, err := r.Read(ctx, buf, -1, false)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		got = append(got, buf[:n]...)
	}
	if len(got) != writers*each*PipeBuf {
		t.Fatalf("read %d bytes, want %d", len(got), writers*each*PipeBuf)
	}
	for off := 0; off < len(got); off += PipeBuf {
		c := got[off : off+PipeBuf]
		if !bytes.Equal(c, bytes.Repeat(c[:1], PipeBuf)) {
			t.Fatalf("chunk at %d interleaved", off)
		}
	}
}

func TestReadiness(t *testing.T) {
	ctx := newCtx()
	r, w := NewAnonymous()
	all := ^waiter.EventMask(0)
	if got := r.Readiness(all); got != 0 {
		t.Fatalf("empty pipe read end readiness %#x", got)
	}
	if got := w.Readiness(all); got != waiter.EventOut|waiter.EventWrNorm {
		t.Fatalf("empty pipe write end readiness %#x", got)
	}
	e, ch := waiter.NewChannelEntry(waiter.EventIn)
	r.EventRegister(e)
	w.Write(ctx, []byte("x"), -1, false)
	select {
	case <-ch:
	default:
		t.Fatal("no EventIn notification after write")
	}
	r.EventUnregister(e)
	if got := r.Readiness(waiter.EventIn); got != waiter.EventIn {
		t.Fatalf("readiness after write %#x", got)
	}
	// Full pipe: not writable.
	w.Write(ctx, make([]byte, DefaultSize-1), -1, true)
	if got := w.Readiness(waiter.EventOut); got != 0 {
		t.Fatalf("full pipe writable: %#x", got)
	}
	e, ch = waiter.NewChannelEntry(waiter.EventOut)
	w.EventRegister(e)
	r.Read(ctx, make([]byte, PipeBuf), -1, false)
	select {
	case <-ch:
	default:
		t.Fatal("no EventOut notification after read")
	}
	if got := w.Readiness(waiter.EventOut); got != waiter.EventOut {
		t.Fatalf("readiness after read %#x", got)
	}
	// Hang-up notifications.
	e2, ch2 := waiter.NewChannelEntry(waiter.EventHUp)
	r.EventRegister(e2)
	w.Release()
	select {
	case <-ch2:
	default:
		t.Fatal("no EventHUp notification after writer close")
	}
}

func TestFIONREAD(t *testing.T) {
	ctx := newCtx()
	r, w := NewAnonymous()
	w.Write(ctx, []byte("12345"), -1, false)
	m := mem{}
	if _, err := r.Ioctl(ctx, m, vfs.FIONREAD, 0x1000); err != nil {
		t.Fatal(err)
	}
	if v := binary.LittleEndian.Uint32(m[0x1000]); v != 5 {
		t.Fatalf("FIONREAD = %d", v)
	}
	if _, err := r.Ioctl(ctx, m, 0x1234, 0); err != unix.ENOTTY {
		t.Fatalf("unknown ioctl: %v", err)
	}
}

func TestSetCapacity(t *testing.T) {
	ctx := newCtx()
	r, w := NewAnonymous()
	if n, err := w.SetPipeSize(1); n != MinSize || err != nil {
		t.Fatalf("F_SETPIPE_SZ 1 = %d, %v", n, err)
	}
	if n, err := w.SetPipeSize(5000); n != 8192 || err != nil {
		t.Fatalf("F_SETPIPE_SZ 5000 = %d, %v", n, err)
	}
	if n, err := w.Write(ctx, make([]byte, 10000), -1, true); n != 8192 || err != nil {
		t.Fatalf("write = %d, %v", n, err)
	}
	if _, err := w.SetPipeSize(4096); err != unix.EBUSY {
		t.Fatalf("shrinking below content: %v", err)
	}
	if _, err := w.SetPipeSize(MaxSize * 2); err != unix.EPERM {
		t.Fatalf("above max: %v", err)
	}
	if n, err := w.SetPipeSize(1 << 16); n != 1<<16 || err != nil {
		t.Fatalf("grow = %d, %v", n, err)
	}
	buf := make([]byte, 20000)
	if n, _ := r.Read(ctx, buf, -1, true); n != 8192 {
		t.Fatalf("read after resize = %d", n)
	}
	if w.PipeSize() != 1<<16 {
		t.Fatalf("F_GETPIPE_SZ = %d", w.PipeSize())
	}
}

func TestRingWraparound(t *testing.T) {
	ctx := newCtx()
	r, w := NewAnonymous()
	var want, got []byte
	buf := make([]byte, 7000)
	for i := 0; i < 200; i++ {
		chunk := bytes.Repeat([]byte{byte(i)}, 1+(i*997)%9000)
		n, _ := w.Write(ctx, chunk, -1, true)
		want = append(want, chunk[:n]...)
		m, _ := r.Read(ctx, buf[:1+(i*613)%7000], -1, true)
		got = append(got, buf[:m]...)
	}
	for {
		m, err := r.Read(ctx, buf, -1, true)
		if err != nil {
			break
		}
		got = append(got, buf[:m]...)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("ring corrupted data (%d vs %d bytes)", len(got), len(want))
	}
}

func TestFIFOOpen(t *testing.T) {
	ctx := newCtx()
	p := NewPipe(true)
	// O_WRONLY|O_NONBLOCK without a reader: ENXIO.
	if _, err := p.Open(ctx, unix.O_WRONLY|unix.O_NONBLOCK); err != unix.ENXIO {
		t.Fatalf("nonblocking write open without reader: %v", err)
	}
	// O_RDONLY blocks until a writer opens.
	var rf vfs.FileImpl
	done := finishes(func() {
		var err error
		if rf, err = p.Open(ctx, unix.O_RDONLY); err != nil {
			t.Errorf("reader open: %v", err)
		}
	})
	mustNotFinish(t, done, "reader open without writer")
	wf, err := p.Open(ctx, unix.O_WRONLY)
	if err != nil {
		t.Fatal(err)
	}
	mustFinish(t, done, "reader open")
	wf.Write(ctx, []byte("fifo"), -1, false)
	buf := make([]byte, 10)
	if n, _ := rf.Read(ctx, buf, -1, false); string(buf[:n]) != "fifo" {
		t.Fatalf("read %q", buf[:n])
	}
	wf.Release()
	rf.Release()

	// O_RDONLY|O_NONBLOCK doesn't block and sees no hangup yet.
	rf, err = p.Open(ctx, unix.O_RDONLY|unix.O_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	if got := rf.Readiness(^waiter.EventMask(0)); got != 0 {
		t.Fatalf("fresh nonblocking reader readiness %#x", got)
	}
	// Writer open doesn't block now.
	wf, err = p.Open(ctx, unix.O_WRONLY)
	if err != nil {
		t.Fatal(err)
	}
	wf.Release()
	if got := rf.Readiness(^waiter.EventMask(0)); got != waiter.EventHUp {
		t.Fatalf("reader readiness after writer left %#x", got)
	}
	rf.Release()

	// O_RDWR never blocks.
	rw, err := p.Open(ctx, unix.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	rw.Write(ctx, []byte("self"), -1, false)
	if n, _ := rw.Read(ctx, buf, -1, false); string(buf[:n]) != "self" {
		t.Fatalf("read %q", buf[:n])
	}
	rw.Release()

	// An interrupted open leaves no reader behind.
	ictx := newCtx()
	done = finishes(func() {
		if _, err := p.Open(ictx, unix.O_RDONLY); err != syserr.ErrInterrupted {
			t.Errorf("interrupted open: %v", err)
		}
	})
	mustNotFinish(t, done, "reader open")
	close(ictx.Interrupt)
	mustFinish(t, done, "interrupted open")
	if _, err := p.Open(ctx, unix.O_WRONLY|unix.O_NONBLOCK); err != unix.ENXIO {
		t.Fatalf("reader count leaked: %v", err)
	}
}

func TestFIFOFactory(t *testing.T) {
	if _, ok := vfs.NewFIFO().(*Pipe); !ok {
		t.Fatal("vfs.NewFIFO does not make pipes")
	}
}

func TestNewFiles(t *testing.T) {
	ctx := newCtx()
	r, w := NewFiles(ctx, unix.O_NONBLOCK)
	defer r.DecRef()
	defer w.DecRef()
	if _, err := r.Read(ctx, make([]byte, 1)); err != unix.EAGAIN {
		t.Fatalf("O_NONBLOCK read: %v", err)
	}
	st, err := w.Stat(ctx)
	if err != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
		t.Fatalf("fstat = %+v, %v", st, err)
	}
	if name := r.PathName(); name == "" || name[:6] != "pipe:[" {
		t.Fatalf("name %q", name)
	}
	if _, err := w.Write(ctx, []byte("z")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.PRead(ctx, make([]byte, 1), 0); err != unix.ESPIPE {
		t.Fatalf("pread on pipe: %v", err)
	}
}
