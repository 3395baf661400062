package ptrace

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/veil-sandbox/veil/platform"
	"github.com/veil-sandbox/veil/sentry/arch"
)

var (
	errReleased = errors.New("ptrace: address space released")
	errStubDied = errors.New("ptrace: stub thread died")
	// errStubSeccomp is errStubDied for a stub killed by SIGSYS: a host
	// system call from outside the stub's injection sites, stopped by its
	// seccomp filter (see seccomp.go). It means a platform bug.
	errStubSeccomp = fmt.Errorf("%w: killed by SIGSYS (a host system call stopped by the stub's seccomp filter)", errStubDied)
)

// stubGone returns the error for a stub thread that exited with status ws.
func stubGone(ws unix.WaitStatus) error {
	if ws.Signaled() && ws.Signal() == unix.SIGSYS {
		return errStubSeccomp
	}
	return errStubDied
}

// cloneFlags create a stub thread sharing everything with the control
// thread. Deliberately no CLONE_PTRACE: the thread is seized by the
// Context that asked for it, not by the control thread's tracer.
const cloneFlags = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND |
	unix.CLONE_THREAD | unix.CLONE_SYSVSEM

// stubFile is a host file installed in a stub.
type stubFile struct {
	fd       int    // the stub's fd number
	dev, ino uint64 // identity of the host file, to detect host fd reuse
}

// addressSpace is one stub process. All ptrace requests on its control
// thread come from the control goroutine (see control), which is locked to
// the OS thread that forked the stub and is therefore its tracer.
type addressSpace struct {
	p    *Platform
	pid  int // stub process = control thread
	sock int // Sentry end of the fd passing socketpair

	// base holds valid control thread registers (segments, flags) as a
	// template for injected calls. Written before the address space is
	// returned, read-only afterwards, so contexts may read it too.
	base arch.Registers

	reqs chan func()   // work for the control goroutine; nil means stop
	stop chan struct{} // closed when the control goroutine stops serving
	done chan struct{} // closed once the stub process is reaped

	// Owned by the control goroutine: scratch registers and CPU binding
	// (see cpu.go) of the control thread.
	regs arch.Registers
	cpu  int

	// fdMu serialises installing fds in the stub: a sendmsg on sock and
	// the recvmsg injected to take it must pair up.
	fdMu sync.Mutex
	fds  map[int]stubFile // by host fd

	mu       sync.Mutex
	released bool
	// spare, if not 0, is a stub thread cloned at start-up (see setup)
	// and not yet handed to a context by newThread: the first Switch into
	// the address space takes it without a hand-off to the control
	// goroutine. Untraced, it dies with the stub.
	spare   int
	threads int // stub threads traced by contexts and not yet reaped
	// [mappedLo, mappedHi) covers every range MapFile was ever asked to
	// map (empty if mappedLo >= mappedHi): Unmap has nothing to do
	// outside it.
	mappedLo, mappedHi uintptr
	// tracers maps the OS thread id of a context's tracer to the context,
	// for contexts whose stub thread lives here (see run).
	tracers map[int]*context
}

// injector is a stopped stub thread traced by the calling OS thread, on
// which stub sequences can be run: the control thread from the control
// goroutine, or a context's own thread from the context's goroutine.
type injector struct {
	tid  int
	regs *arch.Registers // scratch
	cpu  *int            // CPU binding of tid
	// resumes, if not nil, counts the resumes of a context's thread
	// (see cpuClock).
	resumes *atomic.Uint64
}

var _ platform.AddressSpace = (*addressSpace)(nil)

func (p *Platform) newAddressSpace() (*addressSpace, error) {
	as := &addressSpace{
		p:       p,
		sock:    -1,
		cpu:     cpuUnknown,
		reqs:    make(chan func()),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		fds:     make(map[int]stubFile),
		tracers: make(map[int]*context),
	}
	ready := make(chan error)
	go as.control(ready)
	if err := <-ready; err != nil {
		return nil, err
	}
	return as, nil
}

// control is the control goroutine: it starts the stub, serves requests
// until Release, then reaps the stub. Its OS thread stays locked for good:
// it is the stub's parent (Pdeathsig) and tracer, and a thread that had
// tracees is best thrown away rather than returned to the Go scheduler.
func (as *addressSpace) control(ready chan<- error) {
	runtime.LockOSThread()
	defer close(as.done)
	if err := as.start(); err != nil {
		if as.pid > 0 {
			unix.Kill(as.pid, unix.SIGKILL)
			as.reap()
		}
		if as.sock >= 0 {
			unix.Close(as.sock)
		}
		ready <- err
		return
	}
	ready <- nil

	for f := range as.reqs {
		if f == nil {
			break
		}
		f()
	}
	close(as.stop)
	unix.Close(as.sock)
	// Release sent SIGKILL. The leader becomes reapable only after the
	// contexts have reaped their threads; Release and threadGone arrange
	// to wait for done only when that has happened.
	as.reap()
}

// reap waits for the stub process to be gone.
func (as *addressSpace) reap() {
	for {
		ws, err := as.p.wait(as.pid)
		if err != nil || exited(ws) {
			return
		}
	}
}

// start creates the stub process and empties its address space.
func (as *addressSpace) start() error {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socketpair: %w", err)
	}
	as.sock = fds[0]
	defer unix.Close(fds[1])

	// The exec can fail after its point of no return if the kernel put
	// the randomised initial stack where the stub wants to be loaded (a
	// ~1e-5 chance; the stack may land anywhere in the top 16 GiB); the
	// child then dies instead of stopping. Retry in that case.
	for attempt := 0; ; attempt++ {
		pid, err := syscall.ForkExec(as.p.stubPath, []string{"veil-ptrace-stub"}, &syscall.ProcAttr{
			Env:   []string{},
			Files: []uintptr{uintptr(fds[1])}, // the stub's fd 0
			Sys: &syscall.SysProcAttr{
				Ptrace:    true,
				Setsid:    true,
				Pdeathsig: syscall.SIGKILL,
			},
		})
		if err != nil {
			if err == syscall.ETXTBSY && attempt < 5 {
				// A concurrent fork elsewhere may briefly hold a
				// writable copy of the memfd; only at New time.
				continue
			}
			return fmt.Errorf("starting stub: %w", err)
		}
		ws, err := as.p.wait(pid)
		if err == nil && ws.Stopped() && ws.StopSignal() == unix.SIGTRAP {
			as.pid = pid
			break
		}
		unix.Kill(pid, unix.SIGKILL)
		for err == nil && !exited(ws) {
			ws, err = as.p.wait(pid)
		}
		if attempt >= 3 {
			return fmt.Errorf("stub did not start (wait status %#x, %v)", uint32(ws), err)
		}
	}

	if err := as.p.ptraceData(unix.PTRACE_SETOPTIONS, as.pid, 0, unix.PTRACE_O_EXITKILL); err != nil {
		return fmt.Errorf("PTRACE_SETOPTIONS: %w", err)
	}
	if err := as.p.captureFP(as.pid); err != nil {
		return err
	}
	// If the seccomp filter ever kills the stub, no core dump: it would
	// hold application memory. (A core_pattern pipe helper is still
	// started by the kernel, but is told the limit is 0.)
	if err := unix.Prlimit(as.pid, unix.RLIMIT_CORE, &unix.Rlimit{}, nil); err != nil {
		return fmt.Errorf("prlimit(RLIMIT_CORE) on stub: %w", err)
	}
	return as.setup()
}

// setupSteps name the steps of the stub's setup sequence, by r12.
var setupSteps = [...]string{
	1: "munmap below",
	2: "munmap above",
	3: "close_range",
	4: "prctl(PR_SET_NO_NEW_PRIVS)",
	5: "seccomp(SECCOMP_SET_MODE_FILTER)",
	6: "clone",
}

// setup resumes the stub from its exec stop through its setup sequence
// (see buildStubCode): in one round trip it unmaps everything but the stub
// pages (exec'd stack, vdso, vvar), drops any fd the Sentry leaked without
// O_CLOEXEC (keeping the socket), installs the seccomp filter, and clones
// the spare thread. From here on only the injection sites can make host
// system calls. The registers it stops with become the template for
// injected calls.
func (as *addressSpace) setup() error {
	r := &as.base
	for {
		if err := as.p.ptraceData(unix.PTRACE_CONT, as.pid, 0, 0); err != nil {
			return fmt.Errorf("stub PTRACE_CONT: %w", err)
		}
		ws, err := as.p.wait(as.pid)
		if err != nil {
			return fmt.Errorf("stub wait4: %w", err)
		}
		if !ws.Stopped() {
			return fmt.Errorf("stub setup: %w", stubGone(ws))
		}
		// Any other stop is a signal, discarded by resuming with 0.
		if ws.StopSignal() == unix.SIGTRAP {
			break
		}
	}
	if err := as.p.getRegs(as.pid, r); err != nil {
		return fmt.Errorf("PTRACE_GETREGS: %w", err)
	}
	rax := int64(r.Rax)
	switch {
	case r.Rip == uint64(stubCloneOK) && rax > 0:
		as.spare = int(rax)
		return nil
	case r.Rip == uint64(stubCloneOK):
		return fmt.Errorf("stub setup: clone: %w", unix.Errno(-rax))
	case r.Rip == uint64(stubSetupFailOK) && r.R12 < uint64(len(setupSteps)) && rax < 0:
		return fmt.Errorf("stub setup: %s: %w", setupSteps[r.R12], unix.Errno(-rax))
	default:
		return fmt.Errorf("stub setup stopped at %#x (r12 %d, rax %#x)", r.Rip, r.R12, r.Rax)
	}
}

// controlThread is the injector for the control thread. Only for the
// control goroutine.
func (as *addressSpace) controlThread() injector {
	return injector{tid: as.pid, regs: &as.regs, cpu: &as.cpu}
}

// syscall injects system call nr into thread in. nr must be one of
// stubSyscallNrs: the stub's seccomp filter would kill the stub for any
// other.
func (as *addressSpace) syscall(in injector, nr uintptr, args ...uintptr) (uintptr, error) {
	if !slices.Contains(stubSyscallNrs, nr) {
		return 0, fmt.Errorf("ptrace: system call %d is not allowed in the stub", nr)
	}
	return as.syscallUnchecked(in, nr, args...)
}

// syscallUnchecked is syscall without the check that the stub's filter
// allows nr.
func (as *addressSpace) syscallUnchecked(in injector, nr uintptr, args ...uintptr) (uintptr, error) {
	r, err := as.inject(in, stubSyscall, stubSyscallOK, nr, args...)
	if err != nil {
		return 0, err
	}
	if r < 0 && r > -4096 {
		return 0, unix.Errno(-r)
	}
	return uintptr(r), nil
}

// inject runs the stub sequence at site on thread in, with rax=nr and the
// syscall argument registers set to args, and returns rax once the thread
// traps with rip == okRip. One SETREGS + CONT + wait4 + GETREGS. The thread
// runs natively (PTRACE_CONT), but only ever stub code.
func (as *addressSpace) inject(in injector, site, okRip, nr uintptr, args ...uintptr) (int64, error) {
	as.p.injections.Add(1)
	r := in.regs
	*r = as.base
	r.Rip = uint64(site)
	r.Rax = uint64(nr)
	r.Orig_rax = ^uint64(0) // not in a syscall: no restart fix-ups
	argRegs := [...]*uint64{&r.Rdi, &r.Rsi, &r.Rdx, &r.R10, &r.R8, &r.R9}
	for i, a := range args {
		*argRegs[i] = uint64(a)
	}
	if err := as.p.setRegs(in.tid, r); err != nil {
		return 0, fmt.Errorf("stub PTRACE_SETREGS: %w", err)
	}
	if cpu := currentCPU(); cpu != *in.cpu {
		bindCPU(in.tid, cpu, &as.p.cpus)
		*in.cpu = cpu
	}
	for {
		if in.resumes != nil {
			in.resumes.Add(1)
		}
		if err := as.p.ptraceData(unix.PTRACE_CONT, in.tid, 0, 0); err != nil {
			return 0, fmt.Errorf("stub PTRACE_CONT: %w", err)
		}
		ws, err := as.p.wait(in.tid)
		if err != nil {
			return 0, fmt.Errorf("stub wait4: %w", err)
		}
		if !ws.Stopped() {
			return 0, stubGone(ws)
		}
		// Any other stop is a signal: resuming with signal 0 discards
		// it. (A pending Interrupt is not lost: its flag is still set.)
		if ws.StopSignal() != unix.SIGTRAP {
			continue
		}
		if err := as.p.getRegs(in.tid, r); err != nil {
			return 0, fmt.Errorf("stub PTRACE_GETREGS: %w", err)
		}
		if r.Rip == uint64(okRip) {
			return int64(r.Rax), nil
		}
	}
}

// run runs f with an injector. If the caller is the goroutine of a context
// whose stub thread lives in this address space (typically: the Sentry
// handling that thread's page fault), f runs right here on that thread,
// which saves two goroutine hand-offs between OS threads (measured: ~15us
// instead of ~200us for a MapFile). Otherwise f runs on the control
// goroutine.
func (as *addressSpace) run(f func(in injector) error) error {
	as.mu.Lock()
	released := as.released
	c := as.tracers[unix.Gettid()]
	as.mu.Unlock()
	if released {
		return errReleased
	}
	if c != nil {
		err := f(injector{tid: c.tid, regs: &c.regs, cpu: &c.cpu, resumes: &c.clock.resumes})
		if errors.Is(err, errStubDied) {
			// The wait consumed the thread's exit: it is reaped.
			c.forgetThread()
		}
		return err
	}
	var err error
	if derr := as.do(func() { err = f(as.controlThread()) }); derr != nil {
		return derr
	}
	return err
}

// do runs f on the control goroutine and waits for it.
func (as *addressSpace) do(f func()) error {
	done := make(chan struct{})
	select {
	case as.reqs <- func() { f(); close(done) }:
	case <-as.stop:
		return errReleased
	}
	<-done
	return nil
}

// MapFile implements platform.AddressSpace.MapFile.
func (as *addressSpace) MapFile(addr uintptr, fd int, off int64, length uintptr, at platform.AccessType) error {
	if addr%pageSize != 0 || length%pageSize != 0 || off%pageSize != 0 || off < 0 {
		return unix.EINVAL
	}
	if length == 0 {
		return nil
	}
	if addr+length < addr || addr+length > maxUserAddress {
		return unix.EINVAL
	}
	prot := at.Prot()
	as.mu.Lock()
	if as.mappedLo >= as.mappedHi {
		as.mappedLo, as.mappedHi = addr, addr+length
	} else {
		as.mappedLo, as.mappedHi = min(as.mappedLo, addr), max(as.mappedHi, addr+length)
	}
	as.mu.Unlock()
	err := as.run(func(in injector) error {
		sfd, err := as.stubFD(in, fd)
		if err != nil {
			return err
		}
		r, err := as.syscall(in, unix.SYS_MMAP, addr, length, uintptr(prot),
			unix.MAP_SHARED|unix.MAP_FIXED, uintptr(sfd), uintptr(off))
		if err == nil && r != addr {
			err = fmt.Errorf("stub mmap returned %#x, want %#x", r, addr)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("ptrace: MapFile(%#x, fd %d, %#x, %#x): %w", addr, fd, off, length, err)
	}
	return nil
}

// stubFD returns the stub's fd for host fd hostFD, installing it (through
// thread in) if needed.
func (as *addressSpace) stubFD(in injector, hostFD int) (int, error) {
	var st unix.Stat_t
	if err := unix.Fstat(hostFD, &st); err != nil {
		return -1, err
	}
	as.fdMu.Lock()
	defer as.fdMu.Unlock()
	if f, ok := as.fds[hostFD]; ok {
		if f.dev == st.Dev && f.ino == st.Ino {
			return f.fd, nil
		}
		// The host fd number now names another file. The stub's
		// mappings keep the old file alive; its fd is not needed.
		as.syscall(in, unix.SYS_CLOSE, uintptr(f.fd))
		delete(as.fds, hostFD)
	}
	if err := unix.Sendmsg(as.sock, []byte{0}, unix.UnixRights(hostFD), nil, 0); err != nil {
		return -1, fmt.Errorf("sending fd to stub: %w", err)
	}
	r, err := as.inject(in, stubRecv, stubRecvOK, unix.SYS_RECVMSG,
		0, recvMsghdr, 0, recvCmsg, recvIovec, recvBuf)
	if err != nil {
		return -1, err
	}
	if r < 0 {
		if r == -1 {
			return -1, fmt.Errorf("stub received no fd")
		}
		return -1, fmt.Errorf("stub recvmsg: %w", unix.Errno(-r))
	}
	// The fd number passed through the data page, which application
	// threads running concurrently could scribble on. Check what the
	// stub's fd really is before trusting it: a wrong translation would
	// map some other file into the application.
	var sst unix.Stat_t
	if err := unix.Stat(fmt.Sprintf("/proc/%d/fd/%d", as.pid, r), &sst); err != nil ||
		sst.Dev != st.Dev || sst.Ino != st.Ino {
		return -1, fmt.Errorf("stub fd %d is not host fd %d (%v)", r, hostFD, err)
	}
	as.fds[hostFD] = stubFile{fd: int(r), dev: st.Dev, ino: st.Ino}
	if h := as.p.hot.Load(); h == nil || h.fd != hostFD || h.dev != st.Dev || h.ino != st.Ino {
		as.p.hot.Store(&hotFile{fd: hostFD, dev: st.Dev, ino: st.Ino})
	}
	return int(r), nil
}

// Unmap implements platform.AddressSpace.Unmap. Only [0, MaxUserAddress)
// can be unmapped; the stub pages are out of reach.
func (as *addressSpace) Unmap(addr, length uintptr) {
	end := addr + length
	if end < addr || end > maxUserAddress {
		end = maxUserAddress
	}
	addr &^= pageSize - 1
	// Nothing to do outside what MapFile ever covered (e.g. the loader
	// clearing the ranges it maps in a new address space).
	as.mu.Lock()
	addr, end = max(addr, as.mappedLo), min(end, as.mappedHi)
	as.mu.Unlock()
	if addr >= end {
		return
	}
	as.run(func(in injector) error {
		_, err := as.syscall(in, unix.SYS_MUNMAP, addr, end-addr)
		return err
	})
}

// Release implements platform.AddressSpace.Release: it kills the stub. If
// contexts still have threads in it (e.g. a task that exec'd and has not
// switched to its new address space yet), reaping completes when the last
// of them drops its thread.
func (as *addressSpace) Release() {
	as.mu.Lock()
	if as.released {
		as.mu.Unlock()
		return
	}
	as.released = true
	wait := as.threads == 0
	as.mu.Unlock()

	unix.Kill(as.pid, unix.SIGKILL)
	select {
	case as.reqs <- nil:
	case <-as.stop:
	}
	if wait {
		<-as.done
	}
}

// isReleased reports whether Release was called (the stub is being killed).
func (as *addressSpace) isReleased() bool {
	as.mu.Lock()
	defer as.mu.Unlock()
	return as.released
}

// newThread returns the tid of a new stub thread: the spare one cloned at
// start-up if it is still there, else one cloned now. The thread idles in
// the stub's pause loop, untraced.
func (as *addressSpace) newThread() (int, error) {
	as.mu.Lock()
	tid := as.spare
	as.spare = 0
	as.mu.Unlock()
	if tid != 0 {
		return tid, nil
	}
	var err error
	if derr := as.do(func() { tid, err = as.cloneThread() }); derr != nil {
		return 0, derr
	}
	if err != nil {
		return 0, fmt.Errorf("ptrace: stub clone: %w", err)
	}
	return tid, nil
}

// cloneThread injects a clone into the control thread and returns the new
// thread's tid. Only for the control goroutine.
func (as *addressSpace) cloneThread() (int, error) {
	// The clone site, where the child branches off to the pause loop
	// instead of reaching the parent's int3.
	r, err := as.inject(as.controlThread(), stubClone, stubCloneOK, unix.SYS_CLONE, cloneFlags, 0, 0, 0, 0)
	if err == nil && r <= 0 {
		err = unix.Errno(-r)
	}
	return int(r), err
}

// threadAdded records a stub thread context c now traces (and must reap)
// from OS thread tracer.
func (as *addressSpace) threadAdded(c *context, tracer int) {
	as.mu.Lock()
	as.threads++
	if as.tracers[tracer] == nil {
		// One goroutine may own several contexts; any of their threads
		// will do for run.
		as.tracers[tracer] = c
	}
	as.mu.Unlock()
}

// threadGone records that context c, traced from OS thread tracer, reaped
// its stub thread. The last one after Release waits for the stub to be
// reaped, so that once every Release has returned no child process is
// left.
func (as *addressSpace) threadGone(c *context, tracer int) {
	as.mu.Lock()
	as.threads--
	if as.tracers[tracer] == c {
		delete(as.tracers, tracer)
	}
	last := as.released && as.threads == 0
	as.mu.Unlock()
	if last {
		<-as.done
	}
}
