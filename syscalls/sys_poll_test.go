package syscalls

// Tests of the pipe, eventfd, epoll and poll/select handlers, run against
// a real kernel whose only process never runs (a fake platform parks its
// thread): the handlers are called directly with that process's task.

import (
	"encoding/binary"
	"github.com/veil-sandbox/veil/platform/platformtest"
	"testing"
	"time"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/fs/epoll"
	"github.com/veil-sandbox/veil/sentry/fs/tmpfs"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/memfile"
	"github.com/veil-sandbox/veil/sentry/mm"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/vfs/vfstest"
	"golang.org/x/sys/unix"
)

// parkedELF is a minimal static executable (never run).
func parkedELF() []byte {
	const base = 0x400000
	b := make([]byte, 0x100)
	copy(b, []byte{0x7f, 'E', 'L', 'F', 2, 1, 1})
	le := binary.LittleEndian
	le.PutUint16(b[16:], 2)
	le.PutUint16(b[18:], 62)
	le.PutUint32(b[20:], 1)
	le.PutUint64(b[24:], base+0x100)
	le.PutUint64(b[32:], 64)
	le.PutUint16(b[52:], 64)
	le.PutUint16(b[54:], 56)
	le.PutUint16(b[56:], 1)
	ph := b[64:]
	le.PutUint32(ph[0:], 1)
	le.PutUint32(ph[4:], 5)
	le.PutUint64(ph[16:], base)
	le.PutUint64(ph[24:], base)
	le.PutUint64(ph[32:], uint64(len(b)))
	le.PutUint64(ph[40:], uint64(len(b)))
	le.PutUint64(ph[48:], 0x1000)
	return b
}

// pollEnv is a task and a scratch memory area in its address space.
type pollEnv struct {
	t       *testing.T
	k       *kernel.Kernel
	task    *kernel.Task
	scratch uintptr
}

func newPollEnv(t *testing.T) *pollEnv {
	mf, err := memfile.New()
	if err != nil {
		t.Fatal(err)
	}
	ctx := vfstest.Root()
	v := vfs.New(mf)
	if err := v.MountRoot(ctx, tmpfs.New(mf, tmpfs.Options{Mode: 0o755}).Root(), vfs.MountOptions{FSType: "tmpfs"}); err != nil {
		t.Fatal(err)
	}
	root := v.Root()
	f, err := v.Open(ctx, vfs.PathOperation{Root: root, Start: root, Path: "/prog"}, unix.O_WRONLY|unix.O_CREAT, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(ctx, parkedELF())
	f.DecRef()
	k, err := kernel.New(&platformtest.Platform{}, mf, v, Dispatch)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.CreateProcess(kernel.CreateProcessArgs{
		Path: "/prog", Argv: []string{"prog"}, Open: OpenExecutable,
		FDTable: vfs.NewFDTable(), FS: vfs.NewFSContext(root, root, 0o022),
	}); err != nil {
		t.Fatal(err)
	}
	e := &pollEnv{t: t, k: k, task: k.TaskByTID(1)}
	e.scratch, err = e.task.MemoryManager().MMap(mm.MMapOpts{Length: 1 << 16, Prot: unix.PROT_READ | unix.PROT_WRITE})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.task.ExitGroup(0)
		k.Wait()
	})
	return e
}

func (e *pollEnv) call(fn Handler, args ...uint64) (uintptr, error) {
	var a arch.SyscallArgs
	copy(a[:], args)
	return fn(e.task, a)
}

func (e *pollEnv) mustCall(fn Handler, args ...uint64) uintptr {
	e.t.Helper()
	rv, err := e.call(fn, args...)
	if err != nil {
		e.t.Fatalf("syscall: %v", err)
	}
	return rv
}

// addr returns the scratch address at offset off.
func (e *pollEnv) addr(off int) uint64 { return uint64(e.scratch) + uint64(off) }

func (e *pollEnv) put(off int, b []byte) {
	e.t.Helper()
	if err := e.task.CopyOut(uintptr(e.addr(off)), b); err != nil {
		e.t.Fatal(err)
	}
}

func (e *pollEnv) get(off, n int) []byte {
	e.t.Helper()
	b := make([]byte, n)
	if err := e.task.CopyIn(uintptr(e.addr(off)), b); err != nil {
		e.t.Fatal(err)
	}
	return b
}

func (e *pollEnv) file(fd int32) *vfs.FileDescription {
	e.t.Helper()
	f, err := e.task.FDTable().GetFile(fd)
	if err != nil {
		e.t.Fatalf("fd %d: %v", fd, err)
	}
	e.t.Cleanup(f.DecRef)
	return f
}

// pipe makes a pipe and returns its descriptors.
func (e *pollEnv) pipe(flags uint32) (int32, int32) {
	e.t.Helper()
	e.mustCall(sysPipe2, e.addr(0), uint64(flags))
	b := e.get(0, 8)
	return int32(binary.LittleEndian.Uint32(b)), int32(binary.LittleEndian.Uint32(b[4:]))
}

func (e *pollEnv) write(fd int32, s string) {
	e.t.Helper()
	if _, err := e.file(fd).Write(e.task, []byte(s)); err != nil {
		e.t.Fatal(err)
	}
}

func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

func TestPipe2Syscall(t *testing.T) {
	e := newPollEnv(t)
	r, w := e.pipe(unix.O_CLOEXEC | unix.O_NONBLOCK)
	if r != 0 || w != 1 {
		t.Fatalf("fds %d %d", r, w)
	}
	if _, cloexec, _ := e.task.FDTable().Get(r); !cloexec {
		t.Error("O_CLOEXEC not applied")
	}
	if _, err := e.file(r).Read(e.task, make([]byte, 1)); err != unix.EAGAIN {
		t.Errorf("nonblocking read: %v", err)
	}
	e.write(w, "hi")
	buf := make([]byte, 10)
	if n, _ := e.file(r).Read(e.task, buf); string(buf[:n]) != "hi" {
		t.Errorf("read %q", buf[:n])
	}
	if _, err := e.call(sysPipe2, e.addr(0), 0x4000000); err != unix.EINVAL {
		t.Errorf("bad flags: %v", err)
	}
	if _, err := e.call(sysPipe, 0x10); err != unix.EFAULT {
		t.Errorf("bad address: %v", err)
	}
	if n := e.task.FDTable().Count(); n != 2 {
		t.Errorf("%d fds open after EFAULT, want 2", n)
	}
	st, _ := e.file(w).Stat(e.task)
	if st.Mode&unix.S_IFMT != unix.S_IFIFO {
		t.Errorf("pipe mode %o", st.Mode)
	}
}

func TestEventfdSyscall(t *testing.T) {
	e := newPollEnv(t)
	fd := int32(e.mustCall(sysEventfd2, 3, unix.EFD_SEMAPHORE|unix.EFD_NONBLOCK))
	f := e.file(fd)
	buf := make([]byte, 8)
	for i := 0; i < 3; i++ {
		if n, err := f.Read(e.task, buf); n != 8 || err != nil || binary.NativeEndian.Uint64(buf) != 1 {
			t.Fatalf("read %d: %d %v %x", i, n, err, buf)
		}
	}
	if _, err := f.Read(e.task, buf); err != unix.EAGAIN {
		t.Errorf("read at 0: %v", err)
	}
	if _, err := e.call(sysEventfd2, 0, 0x100); err != unix.EINVAL {
		t.Errorf("bad flags: %v", err)
	}
	if f.PathName() != "anon_inode:[eventfd]" {
		t.Errorf("name %q", f.PathName())
	}
}

func TestEpollSyscalls(t *testing.T) {
	e := newPollEnv(t)
	r, w := e.pipe(0)
	ep := int32(e.mustCall(sysEpollCreate1, unix.EPOLL_CLOEXEC))
	if _, err := e.call(sysEpollCreate1, 1); err != unix.EINVAL {
		t.Errorf("epoll_create1(1): %v", err)
	}
	if _, err := e.call(sysEpollCreate, 0); err != unix.EINVAL {
		t.Errorf("epoll_create(0): %v", err)
	}
	ev := epoll.MarshalEvents([]epoll.Event{{Events: epoll.EPOLLIN, Data: 0x1122334455667788}})
	e.put(0, ev)
	e.mustCall(sysEpollCtl, uint64(ep), epoll.CtlAdd, uint64(r), e.addr(0))
	if _, err := e.call(sysEpollCtl, uint64(ep), epoll.CtlAdd, uint64(r), e.addr(0)); err != unix.EEXIST {
		t.Errorf("second add: %v", err)
	}
	if _, err := e.call(sysEpollCtl, uint64(ep), epoll.CtlAdd, uint64(ep), e.addr(0)); err != unix.EINVAL {
		t.Errorf("adding epfd to itself: %v", err)
	}
	if _, err := e.call(sysEpollCtl, uint64(r), epoll.CtlAdd, uint64(w), e.addr(0)); err != unix.EINVAL {
		t.Errorf("non-epoll epfd: %v", err)
	}
	if _, err := e.call(sysEpollCtl, uint64(ep), epoll.CtlDel, uint64(w), 0); err != unix.ENOENT {
		t.Errorf("deleting an unwatched fd: %v", err)
	}
	if _, err := e.call(sysEpollCtl, uint64(ep), epoll.CtlAdd, 99, e.addr(0)); err != unix.EBADF {
		t.Errorf("bad fd: %v", err)
	}
	// A regular file is not pollable.
	root := e.k.VFS().Root()
	reg, err := e.k.VFS().Open(e.task, vfs.PathOperation{Root: root, Start: root, Path: "/prog"}, unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	regfd, _ := e.task.FDTable().NewFD(0, reg, false)
	reg.DecRef()
	if _, err := e.call(sysEpollCtl, uint64(ep), epoll.CtlAdd, uint64(regfd), e.addr(0)); err != unix.EPERM {
		t.Errorf("regular file: %v", err)
	}

	if n := e.mustCall(sysEpollWait, uint64(ep), e.addr(100), 8, 0); n != 0 {
		t.Fatalf("epoll_wait on empty pipe = %d", n)
	}
	if _, err := e.call(sysEpollWait, uint64(ep), e.addr(100), 0, 0); err != unix.EINVAL {
		t.Errorf("maxevents 0: %v", err)
	}
	e.write(w, "x")
	if n := e.mustCall(sysEpollWait, uint64(ep), e.addr(100), 8, 0); n != 1 {
		t.Fatalf("epoll_wait after write = %d", n)
	}
	got := epoll.UnmarshalEvent(e.get(100, epoll.EventSize))
	if got.Events != epoll.EPOLLIN || got.Data != 0x1122334455667788 {
		t.Errorf("event %+v", got)
	}
	// Blocking wait, woken by a write.
	r2, w2 := e.pipe(0)
	e.put(0, epoll.MarshalEvents([]epoll.Event{{Events: epoll.EPOLLIN | epoll.EPOLLET, Data: 2}}))
	e.mustCall(sysEpollCtl, uint64(ep), epoll.CtlDel, uint64(r), 0)
	e.mustCall(sysEpollCtl, uint64(ep), epoll.CtlAdd, uint64(r2), e.addr(0))
	go func() {
		time.Sleep(30 * time.Millisecond)
		e.write(w2, "y")
	}()
	start := time.Now()
	if n := e.mustCall(sysEpollWait, uint64(ep), e.addr(100), 8, 5000); n != 1 {
		t.Fatalf("blocking epoll_wait = %d", n)
	}
	if time.Since(start) > 4*time.Second {
		t.Error("epoll_wait was not woken")
	}
	// Timeout.
	start = time.Now()
	if n := e.mustCall(sysEpollWait, uint64(ep), e.addr(100), 8, 40); n != 0 {
		t.Fatalf("edge-triggered watch reported twice: %d", n)
	}
	if time.Since(start) < 35*time.Millisecond {
		t.Error("epoll_wait timeout too short")
	}
	// epoll_pwait's mask is restored after the call.
	e.task.SetSignalMask(0)
	e.put(200, binary.LittleEndian.AppendUint64(nil, 1<<9))
	e.mustCall(sysEpollPwait, uint64(ep), e.addr(100), 8, 0, e.addr(200), 8)
	if m := e.task.SignalMask(); m != 0 {
		t.Errorf("mask after epoll_pwait = %#x", m)
	}
	// epoll_pwait2 with a timespec.
	e.put(300, append(binary.LittleEndian.AppendUint64(nil, 0), binary.LittleEndian.AppendUint64(nil, 10_000_000)...))
	if n := e.mustCall(sysEpollPwait2, uint64(ep), e.addr(100), 8, e.addr(300), 0, 8); n != 0 {
		t.Errorf("epoll_pwait2 = %d", n)
	}
	_ = r2
}

// pollfds encodes struct pollfd entries.
func pollfds(entries ...[2]int32) []byte {
	var b []byte
	for _, en := range entries {
		b = binary.LittleEndian.AppendUint32(b, uint32(en[0]))
		b = binary.LittleEndian.AppendUint16(b, uint16(en[1]))
		b = binary.LittleEndian.AppendUint16(b, 0)
	}
	return b
}

func revents(b []byte, i int) uint16 { return binary.LittleEndian.Uint16(b[i*8+6:]) }

func TestPollSyscall(t *testing.T) {
	e := newPollEnv(t)
	r, w := e.pipe(0)
	e.put(0, pollfds([2]int32{r, unix.POLLIN}, [2]int32{w, unix.POLLOUT}, [2]int32{-1, unix.POLLIN}, [2]int32{77, unix.POLLIN}))
	if n := e.mustCall(sysPoll, e.addr(0), 4, 0); n != 2 {
		t.Fatalf("poll = %d, want 2 (writable pipe, bad fd)", n)
	}
	b := e.get(0, 32)
	if revents(b, 0) != 0 || revents(b, 1) != unix.POLLOUT || revents(b, 2) != 0 || revents(b, 3) != unix.POLLNVAL {
		t.Fatalf("revents %x %x %x %x", revents(b, 0), revents(b, 1), revents(b, 2), revents(b, 3))
	}
	// Timeout with nothing ready.
	e.put(0, pollfds([2]int32{r, unix.POLLIN}))
	start := time.Now()
	if n := e.mustCall(sysPoll, e.addr(0), 1, 40); n != 0 {
		t.Fatalf("poll = %d", n)
	}
	if time.Since(start) < 35*time.Millisecond {
		t.Error("poll timeout too short")
	}
	// Woken by a write.
	go func() {
		time.Sleep(30 * time.Millisecond)
		e.write(w, "z")
	}()
	if n := e.mustCall(sysPoll, e.addr(0), 1, uint64(0xffffffff)); n != 1 || revents(e.get(0, 8), 0) != unix.POLLIN {
		t.Fatalf("blocking poll = %d, revents %x", n, revents(e.get(0, 8), 0))
	}
	// POLLRDNORM is reported like POLLIN; POLLHUP always.
	e.put(0, pollfds([2]int32{r, 0x40}))
	if n := e.mustCall(sysPoll, e.addr(0), 1, 0); n != 1 || revents(e.get(0, 8), 0) != 0x40 {
		t.Fatalf("POLLRDNORM: %d %x", n, revents(e.get(0, 8), 0))
	}
	r3, w3 := e.pipe(0)
	e.task.FDTable().Remove(w3)
	e.put(0, pollfds([2]int32{r3, unix.POLLIN}))
	if n := e.mustCall(sysPoll, e.addr(0), 1, 0); n != 1 || revents(e.get(0, 8), 0) != unix.POLLHUP {
		t.Fatalf("hangup: %d %x", n, revents(e.get(0, 8), 0))
	}
	// ppoll: sigmask restored, remaining time written back.
	r2, _ := e.pipe(0)
	e.put(0, pollfds([2]int32{r2, unix.POLLIN}))
	e.put(100, append(binary.LittleEndian.AppendUint64(nil, 0), binary.LittleEndian.AppendUint64(nil, 30_000_000)...))
	e.put(200, binary.LittleEndian.AppendUint64(nil, 1<<9))
	e.task.SetSignalMask(0)
	if n := e.mustCall(sysPpoll, e.addr(0), 1, e.addr(100), e.addr(200), 8); n != 0 {
		t.Fatalf("ppoll = %d", n)
	}
	if m := e.task.SignalMask(); m != 0 {
		t.Errorf("mask after ppoll = %#x", m)
	}
	if ts := e.get(100, 16); binary.LittleEndian.Uint64(ts) != 0 || binary.LittleEndian.Uint64(ts[8:]) >= 30_000_000 {
		t.Errorf("remaining time not written back: %x", ts)
	}
	if _, err := e.call(sysPpoll, e.addr(0), 1, e.addr(100), e.addr(200), 4); err != unix.EINVAL {
		t.Errorf("bad sigsetsize: %v", err)
	}
	if _, err := e.call(sysPoll, e.addr(0), 1<<30, 0); err != unix.EINVAL {
		t.Errorf("huge nfds: %v", err)
	}
}

func TestSelectSyscall(t *testing.T) {
	e := newPollEnv(t)
	r, w := e.pipe(0) // 0, 1
	set := func(off int, fds ...int32) {
		b := make([]byte, 8)
		for _, fd := range fds {
			b[fd/8] |= 1 << (fd % 8)
		}
		e.put(off, b)
	}
	set(0, r, w) // read set
	set(8, r, w) // write set
	set(16)      // except set
	e.put(24, make([]byte, 16))
	if n := e.mustCall(sysSelect, 2, e.addr(0), e.addr(8), e.addr(16), e.addr(24)); n != 1 {
		t.Fatalf("select = %d, want 1 (write end writable)", n)
	}
	if rs, ws := e.get(0, 8)[0], e.get(8, 8)[0]; rs != 0 || ws != 1<<w {
		t.Fatalf("sets %b %b", rs, ws)
	}
	e.write(w, "q")
	set(0, r, w)
	set(8, w)
	if n := e.mustCall(sysSelect, 2, e.addr(0), e.addr(8), 0, 0); n != 2 {
		t.Fatalf("select = %d, want 2", n)
	}
	if rs := e.get(0, 8)[0]; rs != 1<<r {
		t.Fatalf("read set %b", rs)
	}
	// Bad descriptor in a set.
	set(0, 40)
	if _, err := e.call(sysSelect, 41, e.addr(0), 0, 0, 0); err != unix.EBADF {
		t.Errorf("bad fd: %v", err)
	}
	// Timeout, with the remaining time written back.
	r2, _ := e.pipe(0)
	set(0, r2)
	e.put(24, append(binary.LittleEndian.AppendUint64(nil, 0), binary.LittleEndian.AppendUint64(nil, 30_000)...))
	start := time.Now()
	if n := e.mustCall(sysSelect, uint64(r2+1), e.addr(0), 0, 0, e.addr(24)); n != 0 {
		t.Fatalf("select = %d", n)
	}
	if time.Since(start) < 25*time.Millisecond {
		t.Error("select timeout too short")
	}
	if tv := e.get(24, 16); binary.LittleEndian.Uint64(tv) != 0 || binary.LittleEndian.Uint64(tv[8:]) != 0 {
		t.Errorf("timeval after timeout %x", tv)
	}
	if e.get(0, 8)[0] != 0 {
		t.Error("read set not cleared on timeout")
	}
	// Invalid timeout.
	e.put(24, append(binary.LittleEndian.AppendUint64(nil, 0), le64(^uint64(0))...))
	if _, err := e.call(sysSelect, 1, e.addr(0), 0, 0, e.addr(24)); err != unix.EINVAL {
		t.Errorf("bad timeval: %v", err)
	}
	// select(0, ...) with a timeout sleeps.
	e.put(24, append(binary.LittleEndian.AppendUint64(nil, 0), binary.LittleEndian.AppendUint64(nil, 20_000)...))
	start = time.Now()
	e.mustCall(sysSelect, 0, 0, 0, 0, e.addr(24))
	if time.Since(start) < 15*time.Millisecond {
		t.Error("select as sleep returned early")
	}
	// pselect6 with a mask and a timespec.
	set(0, r)
	e.put(100, make([]byte, 16))                            // zero timespec
	e.put(200, binary.LittleEndian.AppendUint64(nil, 1<<9)) // sigset
	e.put(300, append(le64(e.addr(200)), le64(8)...))       // {ss, ss_len}
	if n := e.mustCall(sysPselect6, 1, e.addr(0), 0, 0, e.addr(100), e.addr(300)); n != 1 {
		t.Fatalf("pselect6 = %d", n)
	}
	if m := e.task.SignalMask(); m != 0 {
		t.Errorf("mask after pselect6 = %#x", m)
	}
	e.put(300, append(le64(e.addr(200)), le64(16)...))
	if _, err := e.call(sysPselect6, 1, e.addr(0), 0, 0, e.addr(100), e.addr(300)); err != unix.EINVAL {
		t.Errorf("bad ss_len: %v", err)
	}
}

func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }
