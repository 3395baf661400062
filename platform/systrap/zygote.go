package systrap

import (
	"fmt"
	"runtime"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/veil-sandbox/veil/sentry/arch"
)

// The zygote is the one stub process exec'd per platform; every address
// space is a fork of it (see stub.go for why). It is traced by its own
// goroutine, locked to the OS thread that started it, which serves fork
// requests and installs files that every later fork should inherit.
type zygote struct {
	p    *Platform
	pid  int
	sock int // the Sentry's end of the fd passing socket (fd 0 of every stub)

	base arch.Registers // registers at the end of set-up: a template
	regs arch.Registers // scratch
	cpu  int

	reqs chan func()
	done chan struct{}

	// fds are the files installed in the zygote, inherited by every stub
	// forked from now on. Only its goroutine changes them.
	mu  sync.Mutex
	fds map[int]stubFile
}

// startZygote execs the stub and returns once it has; its set-up
// sequence goes on on the zygote's goroutine, whose result setUp gives.
// The exec must happen before the Sentry installs its seccomp filter (it
// allows no execve); the rest is ptrace requests, allowed under it.
func (p *Platform) startZygote() (z *zygote, setUp <-chan error, err error) {
	z = &zygote{p: p, sock: -1, cpu: cpuUnknown, reqs: make(chan func()), done: make(chan struct{}), fds: map[int]stubFile{}}
	execed, set := make(chan error, 1), make(chan error, 1)
	go z.serve(execed, set)
	if err := <-execed; err != nil {
		return nil, nil, err
	}
	return z, set, nil
}

// serve starts the zygote and serves requests. Its OS thread stays locked
// for good: it is the zygote's parent (Pdeathsig) and tracer, and every
// stub's parent too (forks use CLONE_PARENT). If the exec or the set-up
// fails, serve cleans up and returns: nothing is served.
func (z *zygote) serve(execed, setUp chan<- error) {
	runtime.LockOSThread()
	defer close(z.done)
	fail := func(err error, to chan<- error) {
		if z.pid > 0 {
			unix.Kill(z.pid, unix.SIGKILL)
			for {
				ws, err := z.p.wait(z.pid)
				if err != nil || exited(ws) {
					break
				}
			}
		}
		if z.sock >= 0 {
			unix.Close(z.sock)
		}
		to <- err
	}
	if err := z.exec(); err != nil {
		fail(err, execed)
		return
	}
	execed <- nil
	if err := z.setUp(); err != nil {
		fail(err, setUp)
		return
	}
	setUp <- nil
	for f := range z.reqs {
		f()
	}
}

// exec starts the zygote, up to its stop at the exec.
func (z *zygote) exec() error {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socketpair: %w", err)
	}
	z.sock = fds[0]
	defer unix.Close(fds[1])
	p := z.p
	// The exec can fail after its point of no return if the kernel put
	// the randomised initial stack where the stub wants to be loaded
	// (the child then dies instead of stopping): retry.
	for attempt := 0; ; attempt++ {
		pid, err := syscall.ForkExec(p.stubPath, []string{"veil-systrap-stub"}, &syscall.ProcAttr{
			Env:   []string{},
			Files: []uintptr{uintptr(fds[1]), uintptr(p.slots.fd)}, // the stub's fds 0 and 1
			Sys: &syscall.SysProcAttr{
				Ptrace:    true,
				Setsid:    true,
				Pdeathsig: syscall.SIGKILL,
			},
		})
		if err != nil {
			if err == syscall.ETXTBSY && attempt < 5 {
				continue
			}
			return fmt.Errorf("starting the zygote: %w", err)
		}
		ws, err := p.wait(pid)
		if err == nil && ws.Stopped() && ws.StopSignal() == unix.SIGTRAP {
			z.pid = pid
			break
		}
		unix.Kill(pid, unix.SIGKILL)
		for err == nil && !exited(ws) {
			ws, err = p.wait(pid)
		}
		if attempt >= 3 {
			return fmt.Errorf("zygote did not start (wait status %#x, %v)", uint32(ws), err)
		}
	}
	if err := p.ptraceData(unix.PTRACE_SETOPTIONS, z.pid, 0, unix.PTRACE_O_EXITKILL); err != nil {
		return fmt.Errorf("PTRACE_SETOPTIONS: %w", err)
	}
	// If a filter ever kills a stub, no core dump: it would hold
	// application memory. Forks inherit the limit.
	if err := unix.Prlimit(z.pid, unix.RLIMIT_CORE, &unix.Rlimit{}, nil); err != nil {
		return fmt.Errorf("prlimit(RLIMIT_CORE) on the zygote: %w", err)
	}
	return nil
}

// setUp runs the zygote's set-up sequence, up to its final stop.
func (z *zygote) setUp() error {
	p := z.p
	r := &z.base
	for {
		if err := p.ptraceData(unix.PTRACE_CONT, z.pid, 0, 0); err != nil {
			return fmt.Errorf("zygote PTRACE_CONT: %w", err)
		}
		ws, err := p.wait(z.pid)
		if err != nil {
			return fmt.Errorf("zygote wait4: %w", err)
		}
		if !ws.Stopped() {
			return fmt.Errorf("zygote set-up: %w", stubGone(ws))
		}
		if ws.StopSignal() == unix.SIGTRAP {
			break
		}
	}
	if err := p.getRegs(z.pid, r); err != nil {
		return fmt.Errorf("PTRACE_GETREGS: %w", err)
	}
	switch {
	case r.Rip == uint64(p.stub.setupOK):
		return nil
	case r.Rip == uint64(p.stub.setupFail) && r.R12 < uint64(len(setupSteps)) && int64(r.Rax) < 0:
		return fmt.Errorf("zygote set-up: %s: %w", setupSteps[r.R12], unix.Errno(-int64(r.Rax)))
	default:
		return fmt.Errorf("zygote set-up stopped at %#x (r12 %d, rax %#x)", r.Rip, r.R12, r.Rax)
	}
}

func (z *zygote) injector() injector {
	return injector{tid: z.pid, base: &z.base, regs: &z.regs, cpu: &z.cpu}
}

// do runs f on the zygote's goroutine and waits for it.
func (z *zygote) do(f func()) error {
	done := make(chan struct{})
	select {
	case z.reqs <- func() { f(); close(done) }:
	case <-z.done:
		return fmt.Errorf("systrap: the zygote is gone")
	}
	<-done
	return nil
}

// fork makes a new stub process, idling in the pause loop, untraced, a
// child of the Sentry. It returns its pid and the files it inherited.
func (z *zygote) fork() (int, map[int]stubFile, error) {
	var pid int64
	var err error
	var fds map[int]stubFile
	if derr := z.do(func() {
		pid, err = z.p.inject(z.injector(), z.p.stub.fork, z.p.stub.forkOK, nil, unix.SYS_CLONE, forkFlags, 0, 0, 0, 0)
		z.mu.Lock()
		fds = make(map[int]stubFile, len(z.fds))
		for k, v := range z.fds {
			fds[k] = v
		}
		z.mu.Unlock()
	}); derr != nil {
		return 0, nil, derr
	}
	if err == nil && pid <= 0 {
		err = unix.Errno(-pid)
	}
	if err != nil {
		return 0, nil, fmt.Errorf("systrap: fork of the zygote: %w", err)
	}
	return int(pid), fds, nil
}

// install installs host file h in the zygote, so that stubs forked from
// now on have it without fd passing: in practice the memory file, which
// every address space maps. The zygote holds only that one file: the one
// installed before is closed there (stubs that inherited it keep theirs).
// Failures only cost the fd passing later.
func (z *zygote) install(h *hotFile) {
	z.do(func() {
		var st unix.Stat_t
		if unix.Fstat(h.fd, &st) != nil || st.Dev != h.dev || st.Ino != h.ino {
			return
		}
		z.mu.Lock()
		f, ok := z.fds[h.fd]
		old := z.fds
		z.mu.Unlock()
		if ok && f.dev == st.Dev && f.ino == st.Ino {
			return
		}
		for _, f := range old {
			z.p.syscall(z.injector(), unix.SYS_CLOSE, uintptr(f.fd))
		}
		z.mu.Lock()
		z.fds = map[int]stubFile{}
		z.mu.Unlock()
		sf, err := z.p.recvFD(z.injector(), z.pid, h.fd)
		if err != nil {
			return
		}
		z.mu.Lock()
		z.fds[h.fd] = sf
		z.mu.Unlock()
	})
}

// hotFile is the host file MapFile last installed in a stub.
type hotFile struct {
	fd       int
	dev, ino uint64
}
