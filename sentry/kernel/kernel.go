// Package kernel implements tasks, thread groups, process relationships,
// signals, futexes and the task run loop: the part of Linux that makes
// processes.
//
// Locking: k.mu (the "task set" lock) protects the process tree, thread
// group membership, signal state (masks, pending queues, handlers) and exit
// state. It is never held while calling into the platform or while
// blocking.
package kernel

import (
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/veil-sandbox/veil/platform"
	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/loader"
	"github.com/veil-sandbox/veil/sentry/memfile"
	"github.com/veil-sandbox/veil/sentry/vfs"
)

// SyscallFunc executes one system call for t. It is provided by the
// syscalls package (which imports this one).
type SyscallFunc func(t *Task, nr uint64, args arch.SyscallArgs) (uintptr, error)

// Kernel is one sandbox's kernel.
type Kernel struct {
	Platform platform.Platform
	MF       *memfile.File
	VFSys    *vfs.VirtualFilesystem
	Syscall  SyscallFunc

	// Strace, when non-nil, receives one line per system call.
	Strace io.Writer

	// HostSignalsActOnInit makes signals from outside the sandbox take
	// their default action on the first process (see initTakesLocked).
	// Set before the first process starts.
	HostSignalsActOnInit bool

	// rootNS are the sandbox's initial namespaces (namespaces.go); pidNS
	// is the initial pid namespace (pidns.go).
	rootNS *Namespaces
	pidNS  *PIDNamespace
	// nsUsers counts the tasks of the mount and IPC namespaces made
	// inside (useNamespacesLocked), under mu.
	nsUsers map[any]int

	// NewNetworkStack, if set by the socket layer, makes the network
	// stack of a new network namespace (only a loopback interface, as
	// network_namespaces(7) says); without it CLONE_NEWNET is EINVAL.
	NewNetworkStack func(ns *NetNamespace) (any, error)

	// VDSO, if not nil, is mapped into every program execve loads
	// (sentry/vdso keeps its clock data current). (veil: vdso)
	VDSO loader.VDSO

	futexes futexManager
	initFP  arch.FPState
	boot    time.Time

	mu      sync.Mutex
	nextTID ThreadID
	tasks   map[ThreadID]*Task
	tgs     map[ThreadID]*ThreadGroup
	init    *ThreadGroup
	done    chan struct{} // closed when every task has exited
	live    int           // tasks alive
	initWS  WaitStatus
	// thaw is non-nil while the sandbox is frozen (Freeze) and closed
	// by Thaw.
	thaw chan struct{}
	// cttys maps a session id to its controlling terminal.
	cttys map[ThreadID]*TTY
	// console is the first process's terminal (/dev/console).
	console *TTY

	// PtraceScope is Yama's kernel.yama.ptrace_scope (ptrace.go): 0 by
	// default. Set before the first process starts.
	PtraceScope int
	// ptraceCount is how many tasks are traced, so the syscall path of
	// a sandbox without tracers never takes k.mu for ptrace.
	ptraceCount atomic.Int32
	// ptraceSeq numbers ptrace-stops (k.mu).
	ptraceSeq uint64

	unimplMu sync.Mutex
	unimpl   map[string]int

	// timerSignals maps the queued signals of POSIX timers to their
	// timers (posixtimer.go); cpuTimed are the processes with CPU-time
	// timers or limits the CPU timer tick checks (cputimer.go). Under mu.
	timerSignals map[*arch.SignalInfo]*PosixTimer
	cpuTimed     map[*ThreadGroup]struct{}
	cpuTicking   bool
	cpuKick      chan struct{}
}

// New creates a kernel.
func New(p platform.Platform, mf *memfile.File, v *vfs.VirtualFilesystem, sys SyscallFunc) (*Kernel, error) {
	k := &Kernel{
		Platform: p, MF: mf, VFSys: v, Syscall: sys,
		HostSignalsActOnInit: true,
		boot:                 time.Now(),
		tasks:                make(map[ThreadID]*Task),
		tgs:                  make(map[ThreadID]*ThreadGroup),
		cttys:                make(map[ThreadID]*TTY),
		done:                 make(chan struct{}),
		unimpl:               make(map[string]int),
	}
	k.futexes.init()
	k.initNamespaces()
	ctx, err := p.NewContext()
	if err != nil {
		return nil, fmt.Errorf("kernel: platform context: %w", err)
	}
	k.initFP, err = ctx.FPState()
	ctx.Release()
	if err != nil {
		return nil, fmt.Errorf("kernel: initial FPU state: %w", err)
	}
	return k, nil
}

// VFS returns the sandbox's filesystem tree.
func (k *Kernel) VFS() *vfs.VirtualFilesystem { return k.VFSys }

// Wait blocks until every task has exited and returns the wait status of
// the first process (pid 1).
func (k *Kernel) Wait() WaitStatus {
	<-k.done
	return k.initWS
}

// CountUnimplemented records a call to a missing syscall or an
// unsupported flag of one.
func (k *Kernel) CountUnimplemented(what string) {
	k.unimplMu.Lock()
	k.unimpl[what]++
	k.unimplMu.Unlock()
}

// Unimplemented returns what was counted, sorted, as "name: count" lines.
func (k *Kernel) Unimplemented() []string {
	k.unimplMu.Lock()
	defer k.unimplMu.Unlock()
	var out []string
	for n, c := range k.unimpl {
		out = append(out, fmt.Sprintf("%s: %d", n, c))
	}
	sort.Strings(out)
	return out
}

// Uptime is the time since boot (CLOCK_MONOTONIC's and CLOCK_BOOTTIME's
// origin inside the sandbox is the host's, this is for sysinfo).
func (k *Kernel) Uptime() time.Duration { return time.Since(k.boot) }

// allocTID returns a free thread id; k.mu must be held.
func (k *Kernel) allocTID() ThreadID {
	for {
		k.nextTID++
		if k.nextTID >= 1<<22 {
			k.nextTID = 2
		}
		if _, used := k.tasks[k.nextTID]; !used {
			if _, zombie := k.tgs[k.nextTID]; !zombie {
				return k.nextTID
			}
		}
	}
}

// TaskByTID returns the live task with id tid.
func (k *Kernel) TaskByTID(tid ThreadID) *Task {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.tasks[tid]
}

// ThreadGroupByID returns the (possibly zombie) thread group with id tgid.
func (k *Kernel) ThreadGroupByID(tgid ThreadID) *ThreadGroup {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.tgs[tgid]
}

// ThreadGroupIDs returns the ids of all live thread groups, for /proc.
func (k *Kernel) ThreadGroupIDs() []ThreadID {
	k.mu.Lock()
	defer k.mu.Unlock()
	var ids []ThreadID
	for id, tg := range k.tgs {
		if len(tg.tasks) > 0 {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// UTSName returns the host and domain names of the sandbox's initial UTS
// namespace.
func (k *Kernel) UTSName() (hostname, domainname string) {
	return k.rootNS.UTS.Names()
}

// SetHostname sets the host name of the sandbox's initial UTS namespace
// (never the host's).
func (k *Kernel) SetHostname(name string) { k.rootNS.UTS.SetHostname(name) }

// SetDomainname sets the domain name of the initial UTS namespace.
func (k *Kernel) SetDomainname(name string) { k.rootNS.UTS.SetDomainname(name) }
