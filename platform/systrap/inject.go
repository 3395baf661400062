package systrap

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/veil-sandbox/veil/sentry/arch"
)

// Injection: running stub code on a thread the Sentry traces.
//
// The zygote, each stub's control thread and each context's mapper thread
// are stopped under ptrace whenever they are not running a sequence the
// Sentry asked for. An injection is one SETREGS + CONT + wait4 + GETREGS:
// the thread runs natively from a stub site, with registers the Sentry
// chose, and traps back at the site's int3. None of these threads ever
// runs application code, and the application cannot change their
// registers, so the stub filter may let them make the calls their sites
// are for.

var (
	errReleased = errors.New("systrap: address space released")
	errStubDied = errors.New("systrap: stub thread died")
	// errStubSeccomp is errStubDied for a stub killed by SIGSYS: a host
	// system call the stub's filters refused. For an application thread
	// it means the application jumped into stub code; for any other, a
	// platform bug.
	errStubSeccomp = fmt.Errorf("%w: killed by SIGSYS (a system call stopped by the stub's seccomp filter)", errStubDied)
)

// stubGone returns the error for a stub thread that exited with status ws.
func stubGone(ws unix.WaitStatus) error {
	if ws.Signaled() && ws.Signal() == unix.SIGSYS {
		return errStubSeccomp
	}
	return errStubDied
}

// injector is a stopped stub thread traced by the calling OS thread.
type injector struct {
	tid  int
	base *arch.Registers // valid registers (segments, flags) to start from
	regs *arch.Registers // scratch
	cpu  *int            // CPU binding of tid (see cpu.go)
}

// inject runs the stub sequence at site on in, with rax = nr and the
// syscall argument registers set to args, after set (if not nil) had its
// way with the registers, and returns rax once the thread traps with rip
// == okRip.
func (p *Platform) inject(in injector, site, okRip uintptr, set func(*arch.Registers), nr uintptr, args ...uintptr) (int64, error) {
	p.injections.Add(1)
	r := in.regs
	*r = *in.base
	r.Rip = uint64(site)
	r.Rax = uint64(nr)
	r.Orig_rax = ^uint64(0) // not in a syscall: no restart fix-ups
	argRegs := [...]*uint64{&r.Rdi, &r.Rsi, &r.Rdx, &r.R10, &r.R8, &r.R9}
	for i, a := range args {
		*argRegs[i] = uint64(a)
	}
	if set != nil {
		set(r)
	}
	if err := p.setRegs(in.tid, r); err != nil {
		return 0, fmt.Errorf("stub PTRACE_SETREGS: %w", err)
	}
	if cpu := currentCPU(); cpu != *in.cpu {
		bindCPU(in.tid, cpu, &p.cpus)
		*in.cpu = cpu
	}
	for {
		if err := p.ptraceData(unix.PTRACE_CONT, in.tid, 0, 0); err != nil {
			return 0, fmt.Errorf("stub PTRACE_CONT: %w", err)
		}
		ws, err := p.wait(in.tid)
		if err != nil {
			return 0, fmt.Errorf("stub wait4: %w", err)
		}
		if !ws.Stopped() {
			return 0, stubGone(ws)
		}
		// Any other stop is a signal: resuming with signal 0 discards
		// it.
		if ws.StopSignal() != unix.SIGTRAP {
			continue
		}
		if err := p.getRegs(in.tid, r); err != nil {
			return 0, fmt.Errorf("stub PTRACE_GETREGS: %w", err)
		}
		if r.Rip == uint64(okRip) {
			return int64(r.Rax), nil
		}
	}
}

// syscall injects system call nr at the generic site.
func (p *Platform) syscall(in injector, nr uintptr, args ...uintptr) (uintptr, error) {
	switch nr {
	case unix.SYS_MMAP, unix.SYS_MUNMAP, unix.SYS_CLOSE, unix.SYS_EXIT:
	default:
		// The stub filter would kill the stub.
		return 0, fmt.Errorf("systrap: system call %d is not allowed in the stub", nr)
	}
	r, err := p.inject(in, p.stub.syscall, p.stub.syscallOK, nil, nr, args...)
	if err != nil {
		return 0, err
	}
	if r < 0 && r > -4096 {
		return 0, unix.Errno(-r)
	}
	return uintptr(r), nil
}

// request is one system call of a batch.
type request struct {
	nr   uintptr
	args [6]uintptr
	want uintptr // what it must return
}

// batch runs reqs (at most reqMax) at the batch site of thread in, through
// page, the Sentry's mapping of the stub's request page.
func (p *Platform) batch(in injector, page []byte, reqs []request) error {
	for i, r := range reqs {
		e := page[i*reqSize : (i+1)*reqSize]
		le.PutUint64(e[reqNr:], uint64(r.nr))
		for j, a := range r.args {
			le.PutUint64(e[reqArgs+8*j:], uint64(a))
		}
		le.PutUint64(e[reqWant:], uint64(r.want))
	}
	n := len(reqs)
	got, err := p.inject(in, p.stub.batch, p.stub.batchOK,
		func(r *arch.Registers) { r.R12, r.R13 = reqPage, uint64(n) }, 0)
	if err != nil {
		return err
	}
	if left := int(in.regs.R13); left != 0 {
		if left < 0 || left > n {
			return fmt.Errorf("batch stopped with %d of %d requests left", left, n)
		}
		r := reqs[n-left]
		if got < 0 && got > -4096 {
			return fmt.Errorf("system call %d of a batch: %w", r.nr, unix.Errno(-got))
		}
		return fmt.Errorf("system call %d of a batch returned %#x, want %#x", r.nr, got, r.want)
	}
	return nil
}

// seize attaches to a stub thread idling in the pause loop (a spare
// thread, a mapper thread or a forked stub) and waits until it is stopped.
func (p *Platform) seize(tid int) error {
	if err := p.ptraceData(unix.PTRACE_SEIZE, tid, 0, unix.PTRACE_O_EXITKILL); err != nil {
		return fmt.Errorf("PTRACE_SEIZE %d: %w", tid, err)
	}
	if err := p.ptraceData(unix.PTRACE_INTERRUPT, tid, 0, 0); err != nil {
		return fmt.Errorf("PTRACE_INTERRUPT %d: %w", tid, err)
	}
	for {
		ws, err := p.wait(tid)
		if err != nil {
			return fmt.Errorf("wait4 %d: %w", tid, err)
		}
		if exited(ws) {
			return stubGone(ws)
		}
		if isEventStop(ws) {
			return nil
		}
		// A signal-delivery-stop: discard the signal; the interrupt stop
		// is still pending.
		if err := p.ptraceData(unix.PTRACE_CONT, tid, 0, 0); err != nil {
			return fmt.Errorf("PTRACE_CONT %d: %w", tid, err)
		}
	}
}

// exitThread makes traced thread in exit natively, at the generic site,
// and reaps it. It also does for a thread that is dying because its stub
// was killed: the register write then fails and only the wait remains.
// It returns the thread's exit status (0 if it could not be waited for).
func (p *Platform) exitThread(in injector) unix.WaitStatus {
	r := in.regs
	for {
		*r = *in.base
		r.Rip = uint64(p.stub.syscall)
		r.Rax = unix.SYS_EXIT
		r.Rdi = 0
		r.Orig_rax = ^uint64(0)
		if p.setRegs(in.tid, r) == nil {
			p.ptraceData(unix.PTRACE_CONT, in.tid, 0, 0)
		}
		ws, err := p.wait(in.tid)
		if err != nil {
			return 0
		}
		if exited(ws) {
			return ws
		}
		// Stopped again before reaching exit (a pending signal, which
		// the next PTRACE_CONT discards): go round.
	}
}

// parkThread lets traced thread in go, untraced, into the pause loop: the
// state of a freshly cloned mapper thread, which a later context can seize
// again. It reports false if the thread is not parked (it is dying with its
// stub, or the detach failed): the caller then still traces it and must
// reap it. Two system calls and no wait, against an injected exit and the
// wait for the thread's death.
func (p *Platform) parkThread(in injector) bool {
	r := in.regs
	*r = *in.base
	r.Rip = uint64(p.stub.pause)
	r.Orig_rax = ^uint64(0)
	if p.setRegs(in.tid, r) != nil {
		return false
	}
	return p.ptraceData(unix.PTRACE_DETACH, in.tid, 0, 0) == nil
}

// recvFD passes host fd hostFD to the stub of thread in, which receives it
// on its fd 0, and returns the stub's fd number. The socket is shared by
// the zygote and every stub (they inherit it), so passing is serialised
// platform-wide: the sendmsg and the recvmsg injected to take it pair up.
// A stub killed between the two leaves its message queued; the next
// receiver takes it first, sees that it is not the file it expects,
// closes it and takes the next one.
//
// The number transits the data page, which application threads can
// write, so what the stub holds is checked against /proc/<pid>/fd/<n>
// before use: a wrong translation would map another file into the
// application.
func (p *Platform) recvFD(in injector, pid, hostFD int) (stubFile, error) {
	var st unix.Stat_t
	if err := unix.Fstat(hostFD, &st); err != nil {
		return stubFile{}, err
	}
	p.fdMu.Lock()
	defer p.fdMu.Unlock()
	if err := unix.Sendmsg(p.zygote.sock, []byte{0}, unix.UnixRights(hostFD), nil, 0); err != nil {
		return stubFile{}, fmt.Errorf("sending fd to stub: %w", err)
	}
	d := uintptr(p.stub.dataPage)
	for tries := 0; ; tries++ {
		r, err := p.inject(in, p.stub.recv, p.stub.recvOK, nil, unix.SYS_RECVMSG,
			0, d+recvMsghdr, unix.MSG_DONTWAIT, d+recvCmsg, d+recvIovec, d+recvBuf)
		if err != nil {
			return stubFile{}, err
		}
		if r < 0 {
			if r == -1 {
				return stubFile{}, fmt.Errorf("stub received no fd")
			}
			return stubFile{}, fmt.Errorf("stub recvmsg: %w", unix.Errno(-r))
		}
		var sst unix.Stat_t
		err = unix.Stat(fmt.Sprintf("/proc/%d/fd/%d", pid, r), &sst)
		if err == nil && sst.Dev == st.Dev && sst.Ino == st.Ino {
			return stubFile{fd: int(r), dev: st.Dev, ino: st.Ino}, nil
		}
		// Someone else's message, or a number the application changed
		// under us: drop what the stub got and look again.
		p.syscall(in, unix.SYS_CLOSE, uintptr(r))
		if tries > 8 {
			return stubFile{}, fmt.Errorf("stub fd %d is not host fd %d (%v)", r, hostFD, err)
		}
	}
}

// stubFile is a host file installed in a stub.
type stubFile struct {
	fd       int    // the stub's fd number
	dev, ino uint64 // identity of the host file, to detect host fd reuse
}

// tgkillAlive reports whether thread tid of process pid still exists.
func tgkillAlive(pid, tid int) bool {
	return unix.Tgkill(pid, tid, 0) != unix.ESRCH
}
