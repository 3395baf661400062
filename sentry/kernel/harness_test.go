package kernel

import (
	"bytes"
	"encoding/binary"
	"errors"
	"github.com/veil-sandbox/veil/platform/platformtest"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/veil-sandbox/veil/platform"
	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/memfile"
	"github.com/veil-sandbox/veil/sentry/mm"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// The fake platform runs no application code. A task's Switch blocks until
// the task is interrupted, or until the test hands the task a call to make:
// then Switch reports a system call (number fakeSyscallNr) and the kernel's
// syscall function runs the call on the task's own goroutine, exactly where
// a real system call handler would run.

const fakeSyscallNr = 0xfff0

type call struct {
	fn   func(t *Task)
	done chan struct{}
}

// fakePlatform is platformtest's platform with contexts that run the
// calls a test queues for them.
type fakePlatform struct {
	platformtest.Platform
	mu     sync.Mutex
	queues map[*arch.Registers]chan *call // per task, by its register set
}

func (p *fakePlatform) queue(regs *arch.Registers) chan *call {
	p.mu.Lock()
	defer p.mu.Unlock()
	q, ok := p.queues[regs]
	if !ok {
		q = make(chan *call, 16)
		p.queues[regs] = q
	}
	return q
}

func (p *fakePlatform) NewContext() (platform.Context, error) {
	return &fakeContext{p: p, intr: make(chan struct{}, 1)}, nil
}

type fakeContext struct {
	p    *fakePlatform
	intr chan struct{}
	cur  *call // the call being made; only touched by the task goroutine
	// user is the CPU time the "application" used (CPUUsage), set by
	// tests of CPU accounting.
	user atomic.Int64
}

// CPUUsage implements platform.CPUClock.
func (c *fakeContext) CPUUsage() platform.CPUUsage {
	return platform.CPUUsage{Time: time.Duration(c.user.Load())}
}

func (c *fakeContext) Switch(_ platform.AddressSpace, regs *arch.Registers) (platform.Trap, error) {
	select {
	case <-c.intr:
		return platform.Trap{}, platform.ErrInterrupted
	case cl := <-c.p.queue(regs):
		c.cur = cl
		regs.Orig_rax = fakeSyscallNr
		return platform.Trap{}, nil
	}
}

func (c *fakeContext) Interrupt() {
	select {
	case c.intr <- struct{}{}:
	default:
	}
}

func (c *fakeContext) FPState() (arch.FPState, error) { return make(arch.FPState, 512), nil }
func (c *fakeContext) SetFPState(arch.FPState) error  { return nil }
func (c *fakeContext) Release()                       {}

// fakeSyscall is the kernel's SyscallFunc: it runs the test's call.
func fakeSyscall(t *Task, nr uint64, _ arch.SyscallArgs) (uintptr, error) {
	if nr != fakeSyscallNr {
		return 0, unix.ENOSYS
	}
	c := t.ctx.(*fakeContext)
	cl := c.cur
	c.cur = nil
	defer close(cl.done)
	cl.fn(t)
	return 0, nil
}

var (
	mfOnce   sync.Once
	sharedMF *memfile.File
	mfErr    error
)

func memFile(t *testing.T) *memfile.File {
	t.Helper()
	mfOnce.Do(func() { sharedMF, mfErr = memfile.New() })
	if mfErr != nil {
		t.Fatal(mfErr)
	}
	return sharedMF
}

// Executables.

// tinyProgram is a static x86-64 executable: one R|X PT_LOAD of 0x200
// bytes at 0x400000 (headers, then "code"), entry 0x400100. It never runs.
func tinyProgram() []byte {
	const base = 0x400000
	b := make([]byte, 0x200)
	copy(b, elfMagic)
	b[4], b[5], b[6] = 2, 1, 1 // ELFCLASS64, little endian, EV_CURRENT
	le := binary.LittleEndian
	le.PutUint16(b[16:], 2)  // ET_EXEC
	le.PutUint16(b[18:], 62) // EM_X86_64
	le.PutUint32(b[20:], 1)
	le.PutUint64(b[24:], tinyEntry)
	le.PutUint64(b[32:], 64) // e_phoff
	le.PutUint16(b[52:], 64)
	le.PutUint16(b[54:], 56)
	le.PutUint16(b[56:], 1)
	ph := b[64:]
	le.PutUint32(ph[0:], 1) // PT_LOAD
	le.PutUint32(ph[4:], 5) // R|X
	le.PutUint64(ph[16:], base)
	le.PutUint64(ph[24:], base)
	le.PutUint64(ph[32:], uint64(len(b)))
	le.PutUint64(ph[40:], uint64(len(b)))
	le.PutUint64(ph[48:], 0x1000)
	for i := 0x100; i < len(b); i++ {
		b[i] = 0x90
	}
	return b
}

const tinyEntry = 0x400100

var elfMagic = []byte{0x7f, 'E', 'L', 'F'}

type testExe struct {
	path string
	data []byte
	pc   *mm.PageCache
}

func (e *testExe) ReadAt(p []byte, off int64) (int, error) {
	return bytes.NewReader(e.data).ReadAt(p, off)
}
func (e *testExe) Mappable() mm.Mappable { return e.pc }
func (e *testExe) Path() string          { return e.path }
func (e *testExe) Release()              {}

// harness is a kernel on the fake platform with a few files to execute.
type harness struct {
	t     *testing.T
	k     *Kernel
	p     *fakePlatform
	mf    *memfile.File
	files map[string][]byte
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	p := &fakePlatform{queues: make(map[*arch.Registers]chan *call)}
	mf := memFile(t)
	k, err := New(p, mf, nil, fakeSyscall)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, k: k, p: p, mf: mf, files: map[string][]byte{
		"/sbin/init":  tinyProgram(),
		"/bin/prog":   tinyProgram(),
		"/bin/sh":     []byte("echo neither ELF nor a script\n"),
		"/bin/script": []byte("#!/bin/prog -x y\n"),
		"/bin/nested": []byte("#! /bin/script\n"),
		"/bin/loop":   []byte("#!/bin/loop\n"),
		"/bin/broken": []byte("#!/bin/missing\n"),
	}}
	t.Cleanup(h.shutdown)
	return h
}

func (h *harness) open(_ *Task, path string) (Executable, error) {
	data, ok := h.files[path]
	if !ok {
		return nil, unix.ENOENT
	}
	return &testExe{path: path, data: data, pc: &mm.PageCache{
		MF:   h.mf,
		Size: func() int64 { return int64(len(data)) },
		Fill: func(dst []byte, off int64) (int, error) {
			if off >= int64(len(data)) {
				return 0, nil
			}
			return copy(dst, data[off:]), nil
		},
	}}, nil
}

func (h *harness) createProcess(path string, argv, envv []string) error {
	return h.k.CreateProcess(CreateProcessArgs{
		Path: path, Argv: argv, Envv: envv, Open: h.open,
		FDTable: vfs.NewFDTable(),
		FS:      vfs.NewFSContext(vfs.VirtualDentry{}, vfs.VirtualDentry{}, 0o022),
	})
}

// startInit creates pid 1 running /sbin/init.
func (h *harness) startInit() *Task {
	h.t.Helper()
	if err := h.createProcess("/sbin/init", []string{"init"}, []string{"HOME=/"}); err != nil {
		h.t.Fatal(err)
	}
	it := h.k.TaskByTID(1)
	if it == nil {
		h.t.Fatal("no task 1 after CreateProcess")
	}
	return it
}

// shutdown kills the sandbox (as the Sentry forwards a host SIGKILL) and
// waits for every task goroutine to end.
func (h *harness) shutdown() {
	h.k.mu.Lock()
	init := h.k.init
	h.k.mu.Unlock()
	if init == nil {
		return
	}
	h.k.SendSignal(init, hostSig(unix.SIGKILL))
	select {
	case <-h.k.done:
	case <-time.After(5 * time.Second):
		h.t.Error("tasks still alive 5s after pid 1 was killed")
	}
}

const (
	siUser   = 0
	siQueue  = -1
	siKernel = 0x80
)

// sig is a signal sent from inside the sandbox (by pid 1).
func sig(s unix.Signal, code int32) *arch.SignalInfo {
	info := &arch.SignalInfo{Signo: int32(s), Code: code}
	info.SetPID(1)
	return info
}

// hostSig is a signal from outside the sandbox, as runsc forwards it:
// SI_USER from pid 0.
func hostSig(s unix.Signal) *arch.SignalInfo {
	return &arch.SignalInfo{Signo: int32(s), Code: siUser}
}

const timeout = 5 * time.Second

// start hands fn to task, to run on its goroutine as a system call, and
// returns a channel closed when fn has returned.
func (h *harness) start(task *Task, fn func(t *Task)) <-chan struct{} {
	cl := &call{fn: fn, done: make(chan struct{})}
	select {
	case h.p.queue(&task.regs) <- cl:
	default:
		h.t.Fatalf("task %d: too many calls queued", task.tid)
	}
	return cl.done
}

// do runs fn on task's goroutine and waits for it.
func (h *harness) do(task *Task, fn func(t *Task)) {
	h.t.Helper()
	h.await(h.start(task, fn), "call in task")
}

func (h *harness) await(ch <-chan struct{}, what string) {
	h.t.Helper()
	select {
	case <-ch:
	case <-time.After(timeout):
		h.t.Fatalf("%s did not finish within %v", what, timeout)
	}
}

// notDone checks that ch stays open for d: something that must block does.
func (h *harness) notDone(ch <-chan struct{}, d time.Duration, what string) {
	h.t.Helper()
	select {
	case <-ch:
		h.t.Fatalf("%s returned; it should block", what)
	case <-time.After(d):
	}
}

// eventually polls cond until it holds.
func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// fork makes parent clone a new process (fork(2): exit signal SIGCHLD).
func (h *harness) fork(parent *Task) *Task {
	h.t.Helper()
	var tid ThreadID
	var err error
	h.do(parent, func(t *Task) { tid, err = t.Clone(CloneArgs{ExitSignal: unix.SIGCHLD}) })
	if err != nil {
		h.t.Fatalf("fork: %v", err)
	}
	c := h.k.TaskByTID(tid)
	if c == nil {
		h.t.Fatalf("no task %d after fork", tid)
	}
	return c
}

// newThread makes t clone a thread (pthread_create's flags).
func (h *harness) newThread(t *Task) *Task {
	h.t.Helper()
	var tid ThreadID
	var err error
	h.do(t, func(t *Task) {
		tid, err = t.Clone(CloneArgs{Flags: unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES |
			unix.CLONE_SIGHAND | unix.CLONE_THREAD | unix.CLONE_SYSVSEM})
	})
	if err != nil {
		h.t.Fatalf("clone thread: %v", err)
	}
	nt := h.k.TaskByTID(tid)
	if nt == nil {
		h.t.Fatalf("no task %d after clone", tid)
	}
	return nt
}

type waitOut struct {
	r   *WaitResult
	err error
}

// wait runs Wait in t and returns its result.
func (h *harness) wait(t *Task, o WaitOptions) (*WaitResult, error) {
	h.t.Helper()
	var out waitOut
	h.do(t, func(t *Task) { out.r, out.err = t.Wait(o) })
	return out.r, out.err
}

// startWait runs Wait in t without waiting for it.
func (h *harness) startWait(t *Task, o WaitOptions) (*waitOut, <-chan struct{}) {
	out := &waitOut{}
	done := h.start(t, func(t *Task) { out.r, out.err = t.Wait(o) })
	return out, done
}

// gone waits until task tid has exited.
func (h *harness) gone(tid ThreadID) {
	h.t.Helper()
	h.eventually("task exits", func() bool { return h.k.TaskByTID(tid) == nil })
}

func (h *harness) children(tg *ThreadGroup) []ThreadID {
	h.k.mu.Lock()
	defer h.k.mu.Unlock()
	var ids []ThreadID
	for c := range tg.children {
		ids = append(ids, c.tgid)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

func sortedIDs(ids []ThreadID) []ThreadID {
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// mapPage maps an anonymous read-write page in t's address space.
func mapPage(tt *testing.T, t *Task) uintptr {
	tt.Helper()
	addr, err := t.MemoryManager().MMap(mm.MMapOpts{Length: memfile.PageSize, Prot: unix.PROT_READ | unix.PROT_WRITE})
	if err != nil {
		tt.Fatal(err)
	}
	return addr
}

func putU32(tt *testing.T, t *Task, addr uintptr, v uint32) {
	tt.Helper()
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	if err := t.CopyOut(addr, b[:]); err != nil {
		tt.Fatal(err)
	}
}

func isErrno(err error, e unix.Errno) bool { return errors.Is(err, e) }
