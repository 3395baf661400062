package kernel

// seccomp(2) for the application: each task's seccomp mode and filters,
// and their enforcement on every system call before it is dispatched.
// Filters are inherited by clone and fork and kept across execve; the
// vDSO's functions are not system calls and are not filtered, as on
// Linux.

import (
	"fmt"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/seccomp"
	"golang.org/x/sys/unix"
)

// Seccomp modes, as PR_GET_SECCOMP and /proc/PID/status report them.
const (
	SeccompModeDisabled = unix.SECCOMP_MODE_DISABLED
	SeccompModeStrict   = unix.SECCOMP_MODE_STRICT
	SeccompModeFilter   = unix.SECCOMP_MODE_FILTER
)

// maxSeccompPathInsns is MAX_INSNS_PER_PATH: a task's filters may hold at
// most this many instructions, counting 4 more for each filter
// (seccomp_attach_filter).
const maxSeccompPathInsns = (1 << 18) / 8

// siSysSeccomp is SIGSYS's si_code for a seccomp trap (SYS_SECCOMP).
const siSysSeccomp = 1

// seccompState is a task's seccomp mode and filters: strict mode, or the
// newest filter and, through prev, the older ones. It is immutable: a new
// filter makes a new state whose prev is the old one, so forked tasks and
// threads synchronised by TSYNC share filters as Linux's filter trees do,
// and a task reads its state with one atomic load.
type seccompState struct {
	strict bool
	filter *seccomp.Filter
	prev   *seccompState
	count  int // filters in the chain
	insns  int // their instructions, with the 4-instruction penalty each
}

// isAncestor reports whether s is st or one of its older states; nil is
// everyone's ancestor (seccomp's is_ancestor).
func (s *seccompState) isAncestor(st *seccompState) bool {
	for ; st != nil; st = st.prev {
		if st == s {
			return true
		}
	}
	return s == nil
}

// evaluate runs every filter, newest first, and returns the first of the
// most restrictive results (seccomp_run_filters).
func (s *seccompState) evaluate(d *seccomp.Data) uint32 {
	ret := uint32(seccomp.ActionAllow)
	for ; s != nil; s = s.prev {
		if r := s.filter.Run(d); seccomp.MoreRestrictive(r, ret) {
			ret = r
		}
	}
	return ret
}

// push returns s with f added as the newest filter; s may be nil.
func (s *seccompState) push(f *seccomp.Filter) *seccompState {
	n := &seccompState{filter: f, prev: s, count: 1, insns: f.Len()}
	if s != nil {
		n.count, n.insns = s.count+1, s.insns+4+f.Len()
	}
	return n
}

// seccompChain returns the state of a task that installed filters,
// oldest first; nil for none.
func seccompChain(filters []*seccomp.Filter) *seccompState {
	var s *seccompState
	for _, f := range filters {
		s = s.push(f)
	}
	return s
}

// SeccompMode returns t's seccomp mode (SeccompMode*).
func (t *Task) SeccompMode() int {
	switch s := t.seccomp.Load(); {
	case s == nil:
		return SeccompModeDisabled
	case s.strict:
		return SeccompModeStrict
	}
	return SeccompModeFilter
}

// SeccompFilterCount returns the number of filters attached to t.
func (t *Task) SeccompFilterCount() int {
	if s := t.seccomp.Load(); s != nil {
		return s.count
	}
	return 0
}

// SetSeccompStrict puts t in strict mode (SECCOMP_SET_MODE_STRICT): from
// now on only read, write, exit and rt_sigreturn are allowed. It fails
// with EINVAL if t has filters.
func (t *Task) SetSeccompStrict() error {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	if s := t.seccomp.Load(); s != nil && !s.strict {
		return unix.EINVAL
	}
	t.seccomp.Store(&seccompState{strict: true})
	return nil
}

// AddSeccompFilter attaches f to t (SECCOMP_SET_MODE_FILTER); with tsync,
// every other thread of t's process gets t's filters too
// (SECCOMP_FILTER_FLAG_TSYNC). Errors: EINVAL in strict mode, ENOMEM past
// MAX_INSNS_PER_PATH instructions. If a thread cannot be synchronised
// (strict mode, or filters that are not an ancestor of t's), nothing
// changes and its id is returned.
func (t *Task) AddSeccompFilter(f *seccomp.Filter, tsync bool) (failed ThreadID, err error) {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	old := t.seccomp.Load()
	if old != nil && old.strict {
		return 0, unix.EINVAL
	}
	s := old.push(f)
	if s.insns > maxSeccompPathInsns {
		return 0, unix.ENOMEM
	}
	if tsync {
		if o := t.unsyncableThreadLocked(old); o != nil {
			return t.tg.pidns.taskIDLocked(o), nil // in the caller's namespace
		}
		// As seccomp_sync_threads does, the threads also get the
		// caller's no_new_privs.
		nnp := t.Credentials().NoNewPrivs
		for o := range t.tg.tasks {
			if o != t && !o.exiting {
				o.seccomp.Store(s)
				if nnp && !o.Credentials().NoNewPrivs {
					o.setCredentials(o.Credentials().WithNoNewPrivs())
				}
			}
		}
	}
	t.seccomp.Store(s)
	return 0, nil
}

// unsyncableThreadLocked returns a live thread of t's process, other than
// t, whose filters are not cur or older ones of cur (seccomp_can_sync_threads).
func (t *Task) unsyncableThreadLocked(cur *seccompState) *Task {
	for o := range t.tg.tasks {
		if o == t || o.exiting {
			continue
		}
		if s := o.seccomp.Load(); s != nil && (s.strict || !s.isAncestor(cur)) {
			return o
		}
	}
	return nil
}

// seccompAllows applies t's seccomp state s to the system call t is
// making (seccomp(2)): it returns true if the call may run; otherwise it
// has done what the filters said (a return value, a signal, an exit).
func (t *Task) seccompAllows(s *seccompState, int80 bool) bool {
	d := seccomp.Data{
		Nr:                 int32(t.regs.Orig_rax),
		Arch:               unix.AUDIT_ARCH_X86_64,
		InstructionPointer: t.regs.Rip,
		Args:               arch.Args(&t.regs),
	}
	if int80 {
		// The i386 ABI: its arguments are 32-bit ebx, ecx, edx, esi,
		// edi and ebp.
		r := &t.regs
		d.Arch = unix.AUDIT_ARCH_I386
		d.Args = [6]uint64{uint64(uint32(r.Rbx)), uint64(uint32(r.Rcx)), uint64(uint32(r.Rdx)),
			uint64(uint32(r.Rsi)), uint64(uint32(r.Rdi)), uint64(uint32(r.Rbp))}
	}
	if s.strict {
		return t.seccompStrict(d.Nr, int80)
	}
	ret := s.evaluate(&d)
	action, data := seccomp.Action(ret), seccomp.ActionData(ret)
	if action == seccomp.ActionAllow {
		return true
	}
	// The Sentry has no audit log: --strace is where LOG logs, and
	// where the calls the filters stop show up.
	if t.k.Strace != nil {
		fmt.Fprintf(t.k.Strace, "[%4d] syscall %d: seccomp %s\n", t.tid, d.Nr, seccomp.ActionString(ret))
	}
	switch action {
	case seccomp.ActionLog:
		return true
	case seccomp.ActionErrno:
		// The errno is capped at MAX_ERRNO; ERRNO(0) makes the call
		// return 0 without running.
		t.syscallReturn = true
		arch.SetReturn(&t.regs, uint64(-int64(min(data, 4095))))
	case seccomp.ActionTrap:
		t.seccompTrap(&d, data)
	case seccomp.ActionTrace:
		// A tracer with PTRACE_O_TRACESECCOMP gets a
		// PTRACE_EVENT_SECCOMP stop and the call then runs as the
		// tracer left it (orig_rax -1 skips it); without one it fails
		// with ENOSYS, as on Linux.
		if t.ptraceSeccompTrace(data) {
			if int64(t.regs.Orig_rax) == -1 {
				t.syscallReturn = true
				return false
			}
			return true
		}
		t.syscallReturn = true
		arch.SetReturn(&t.regs, negErrno(unix.ENOSYS))
	case seccomp.ActionUserNotif:
		// No listener can exist in the sandbox: the call fails with
		// ENOSYS, as it does on Linux without one.
		t.syscallReturn = true
		arch.SetReturn(&t.regs, negErrno(unix.ENOSYS))
	case seccomp.ActionKillThread:
		t.seccompKill(unix.SIGSYS, false)
	default:
		// KILL_PROCESS, and any unknown action.
		t.seccompKill(unix.SIGSYS, true)
	}
	return false
}

// seccompStrict allows the system calls of strict mode and kills the
// thread with SIGKILL for any other (__secure_computing_strict).
func (t *Task) seccompStrict(nr int32, int80 bool) bool {
	allowed := [4]int32{unix.SYS_READ, unix.SYS_WRITE, unix.SYS_EXIT, unix.SYS_RT_SIGRETURN}
	if int80 {
		allowed = [4]int32{3, 4, 1, 119} // i386 read, write, exit, sigreturn
	}
	for _, a := range allowed {
		if nr == a {
			return true
		}
	}
	if t.k.Strace != nil {
		fmt.Fprintf(t.k.Strace, "[%4d] syscall %d: seccomp strict mode: SIGKILL\n", t.tid, nr)
	}
	t.seccompKill(unix.SIGKILL, false)
	return false
}

// seccompTrap skips the system call and sends t SIGSYS with si_code
// SYS_SECCOMP, the call's address, number and arch, and the filter's data
// as si_errno. rax is restored to the system call number, as Linux's
// syscall_rollback does, so a handler that returns makes the call seem to
// return its own number unless the handler changes the saved rax.
func (t *Task) seccompTrap(d *seccomp.Data, data uint16) {
	info := &arch.SignalInfo{Signo: int32(unix.SIGSYS), Code: siSysSeccomp, Errno: int32(data)}
	info.SetCallAddr(d.InstructionPointer)
	info.SetSyscall(d.Nr)
	info.SetArch(d.Arch)
	t.regs.Rax = t.regs.Orig_rax
	t.forceSignalInfo(info)
}

// seccompKill ends t by signal sig: its whole process if process is set or
// t is the last live thread (which Linux makes dump core, so the process
// dies of sig whatever its handlers), else t alone (do_exit).
func (t *Task) seccompKill(sig unix.Signal, process bool) {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	live := 0
	for o := range t.tg.tasks {
		if !o.exiting {
			live++
		}
	}
	if process || live <= 1 {
		t.tg.groupExitLocked(WaitStatusSignaled(sig))
		return
	}
	t.exiting = true
}
