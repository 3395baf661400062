package kernel

import (
	"sort"

	"github.com/veil-sandbox/veil/sentry/arch"
	"golang.org/x/sys/unix"
)

// PIDNamespace is a pid namespace (pid_namespaces(7)). Every task has an
// id in its own (active) namespace and in each ancestor; the kernel's own
// ids (Task.tid, ThreadGroup.tgid, the keys of Kernel.tasks and
// Kernel.tgs) are those of the initial namespace, and the system call
// layer and /proc translate through the caller's or the mount's
// namespace. The first process made in a namespace is its pid 1: its init
// adopts the namespace's orphans, is spared signals it has no handler for
// from inside, and takes every process of the namespace with it when it
// exits.
//
// All fields but the constant ones are guarded by the kernel's mu.
type PIDNamespace struct {
	k      *Kernel
	parent *PIDNamespace
	level  int
	owner  *UserNamespace
	ino    uint64

	// Ids in this namespace, for namespaces other than the initial
	// one (whose ids are the kernel's).
	tids  map[*Task]ThreadID
	tasks map[ThreadID]*Task
	tgids map[*ThreadGroup]ThreadID
	tgs   map[ThreadID]*ThreadGroup
	last  ThreadID
	// init is the namespace's pid 1, once made; initGone is set when it
	// exits: the namespace takes no more processes (fork: ENOMEM).
	init     *ThreadGroup
	initGone bool
}

// maxPIDNSLevel is Linux's MAX_PID_NS_LEVEL.
const maxPIDNSLevel = 32

// Type implements Namespace.
func (p *PIDNamespace) Type() int { return unix.CLONE_NEWPID }

// Inode implements Namespace.
func (p *PIDNamespace) Inode() uint64 { return p.ino }

// Owner implements Namespace.
func (p *PIDNamespace) Owner() *UserNamespace { return p.owner }

// IsRoot reports whether p is the sandbox's initial pid namespace.
func (p *PIDNamespace) IsRoot() bool { return p.parent == nil }

// IsAncestorOf reports whether p is o or an ancestor of o.
func (p *PIDNamespace) IsAncestorOf(o *PIDNamespace) bool {
	for ; o != nil; o = o.parent {
		if o == p {
			return true
		}
	}
	return false
}

func (k *Kernel) newPIDNamespace(parent *PIDNamespace, owner *UserNamespace) (*PIDNamespace, error) {
	if parent.level >= maxPIDNSLevel {
		return nil, unix.ENOSPC
	}
	return &PIDNamespace{k: k, parent: parent, level: parent.level + 1, owner: owner, ino: newNSIno(),
		tids: make(map[*Task]ThreadID), tasks: make(map[ThreadID]*Task),
		tgids: make(map[*ThreadGroup]ThreadID), tgs: make(map[ThreadID]*ThreadGroup)}, nil
}

// taskIDLocked is t's id in p, 0 if t is not in p.
func (p *PIDNamespace) taskIDLocked(t *Task) ThreadID {
	if p.parent == nil {
		return t.tid
	}
	return p.tids[t]
}

// tgIDLocked is tg's id in p, 0 if tg is not in p.
func (p *PIDNamespace) tgIDLocked(tg *ThreadGroup) ThreadID {
	if tg == nil {
		return 0
	}
	if p.parent == nil {
		return tg.tgid
	}
	return p.tgids[tg]
}

func (p *PIDNamespace) taskLocked(id ThreadID) *Task {
	if p.parent == nil {
		return p.k.tasks[id]
	}
	return p.tasks[id]
}

func (p *PIDNamespace) tgLocked(id ThreadID) *ThreadGroup {
	if p.parent == nil {
		return p.k.tgs[id]
	}
	return p.tgs[id]
}

// IDOfTask returns t's thread id in p (0 if p cannot see it).
func (p *PIDNamespace) IDOfTask(t *Task) ThreadID {
	p.k.mu.Lock()
	defer p.k.mu.Unlock()
	return p.taskIDLocked(t)
}

// IDOfThreadGroup returns tg's process id in p (0 if p cannot see it).
func (p *PIDNamespace) IDOfThreadGroup(tg *ThreadGroup) ThreadID {
	if p.parent == nil {
		return tg.tgid // immutable: no lock on getpid's path
	}
	p.k.mu.Lock()
	defer p.k.mu.Unlock()
	return p.tgIDLocked(tg)
}

// TaskWithID returns the live task with thread id id in p.
func (p *PIDNamespace) TaskWithID(id ThreadID) *Task {
	p.k.mu.Lock()
	defer p.k.mu.Unlock()
	return p.taskLocked(id)
}

// ThreadGroupWithID returns the (possibly zombie) process with id id in p.
func (p *PIDNamespace) ThreadGroupWithID(id ThreadID) *ThreadGroup {
	p.k.mu.Lock()
	defer p.k.mu.Unlock()
	return p.tgLocked(id)
}

// ThreadGroupIDs returns the ids in p of p's live processes, sorted.
func (p *PIDNamespace) ThreadGroupIDs() []ThreadID {
	if p.parent == nil {
		return p.k.ThreadGroupIDs()
	}
	p.k.mu.Lock()
	defer p.k.mu.Unlock()
	var ids []ThreadID
	for id, tg := range p.tgs {
		if len(tg.tasks) > 0 {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// viewLocked returns how p sees the kernel id id of a process or process
// group (its leader's id): the id itself in the initial namespace, else
// the id of the process with that kernel id, 0 if p cannot see it.
func (p *PIDNamespace) viewLocked(id ThreadID) ThreadID {
	if p.parent == nil || id == 0 {
		return id
	}
	return p.tgids[p.k.tgs[id]]
}

// kernelIDLocked is the reverse of viewLocked: the kernel id of the
// process p calls id (-1 if none).
func (p *PIDNamespace) kernelIDLocked(id ThreadID) ThreadID {
	if p.parent == nil {
		return id
	}
	if tg := p.tgs[id]; tg != nil {
		return tg.tgid
	}
	return -1
}

// allocLocked hands out the next free id of a namespace other than the
// initial one (cyclic from 1, as Linux's alloc_pid).
func (p *PIDNamespace) allocLocked() ThreadID {
	for {
		p.last++
		if p.last >= 1<<22 {
			p.last = 2
		}
		if p.tasks[p.last] == nil && p.tgs[p.last] == nil {
			return p.last
		}
	}
}

// addTaskLocked gives t (and, for a new process, its thread group) ids in
// p and its ancestors below the initial namespace: want[i], if given, in
// the i-th namespace from p outwards (clone3's set_tid), else the next
// free one. A namespace whose init is gone takes no one (ENOMEM).
func (p *PIDNamespace) addTaskLocked(t *Task, newProcess bool, want []ThreadID) error {
	for n := p; n.parent != nil; n = n.parent {
		if n.initGone {
			return unix.ENOMEM
		}
	}
	i := 0
	for n := p; n.parent != nil; n, i = n.parent, i+1 {
		var id ThreadID
		if i < len(want) {
			id = want[i] // checked by checkSetTIDLocked
		} else {
			id = n.allocLocked()
		}
		n.tasks[id], n.tids[t] = t, id
		if newProcess {
			n.tgs[id], n.tgids[t.tg] = t.tg, id
			if n == p && n.init == nil {
				n.init = t.tg
			}
		}
	}
	return nil
}

// checkSetTIDLocked checks clone3's set_tid for a child whose pid
// namespace is p, as alloc_pid does: no more ids than p has levels
// (EINVAL); ids below 1<<22, and other than 1 only in a namespace that
// has its init (EINVAL); CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN over
// each namespace an id is chosen in (EPERM); no id in use (EEXIST).
// ids[0] is the id in p, ids[1] in its parent, and so on.
func (t *Task) checkSetTIDLocked(p *PIDNamespace, ids []ThreadID) error {
	if len(ids) == 0 {
		return nil
	}
	if len(ids) > p.level+1 {
		return unix.EINVAL
	}
	c := t.Credentials()
	n := p
	for _, id := range ids {
		hasInit := n.parent == nil || n.init != nil
		if id < 1 || id >= 1<<22 || (id != 1 && !hasInit) {
			return unix.EINVAL
		}
		if !c.HasCapabilityIn(unix.CAP_CHECKPOINT_RESTORE, n.owner) && !c.HasCapabilityIn(unix.CAP_SYS_ADMIN, n.owner) {
			return unix.EPERM
		}
		if n.taskLocked(id) != nil || n.tgLocked(id) != nil {
			return unix.EEXIST
		}
		n = n.parent
	}
	return nil
}

// removeTaskLocked frees t's thread ids (at its exit).
func (p *PIDNamespace) removeTaskLocked(t *Task) {
	for n := p; n.parent != nil; n = n.parent {
		if id, ok := n.tids[t]; ok {
			delete(n.tids, t)
			if n.tasks[id] == t {
				delete(n.tasks, id)
			}
		}
	}
}

// removeTGLocked frees tg's process ids (when it is reaped).
func (p *PIDNamespace) removeTGLocked(tg *ThreadGroup) {
	for n := p; n.parent != nil; n = n.parent {
		if id, ok := n.tgids[tg]; ok {
			delete(n.tgids, tg)
			if n.tgs[id] == tg {
				delete(n.tgs, id)
			}
		}
	}
}

// moveTaskIDLocked gives t the ids of its process's leader in every
// namespace (a non-leader thread that execs takes over the process id).
func (p *PIDNamespace) takeLeaderIDsLocked(t *Task, leader *Task) {
	for n := p; n.parent != nil; n = n.parent {
		if id, ok := n.tids[t]; ok && n.tasks[id] == t {
			delete(n.tasks, id)
		}
		if id, ok := n.tgids[t.tg]; ok {
			n.tids[t] = id
			n.tasks[id] = t
		}
		if leader != nil {
			delete(n.tids, leader)
		}
	}
}

// PIDNamespace returns the process's pid namespace.
func (tg *ThreadGroup) PIDNamespace() *PIDNamespace { return tg.pidns }

// PIDNamespace returns t's active pid namespace (the one it has its own
// pid in).
func (t *Task) PIDNamespace() *PIDNamespace { return t.tg.pidns }

// PID is getpid(2): t's process id in its namespace.
func (t *Task) PID() ThreadID { return t.tg.pidns.IDOfThreadGroup(t.tg) }

// TID is gettid(2): t's thread id in its namespace.
func (t *Task) TID() ThreadID { return t.tg.pidns.IDOfTask(t) }

// PPID is getppid(2): the parent's id in t's namespace, 0 for a parent
// outside it (the init of a namespace, or a process from outside).
func (t *Task) PPID() ThreadID {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if t.tg.parent == nil {
		return 0
	}
	return t.tg.pidns.tgIDLocked(t.tg.parent)
}

// LookupTask returns the live task t calls tid (ESRCH if none).
func (t *Task) LookupTask(tid ThreadID) (*Task, error) {
	if tid <= 0 {
		return nil, unix.ESRCH
	}
	if o := t.tg.pidns.TaskWithID(tid); o != nil {
		return o, nil
	}
	return nil, unix.ESRCH
}

// LookupProcess returns the (possibly zombie) process t calls pid (ESRCH
// if none); 0 is t's own.
func (t *Task) LookupProcess(pid ThreadID) (*ThreadGroup, error) {
	if pid == 0 {
		return t.tg, nil
	}
	if pid < 0 {
		return nil, unix.ESRCH
	}
	if tg := t.tg.pidns.ThreadGroupWithID(pid); tg != nil {
		return tg, nil
	}
	return nil, unix.ESRCH
}

// ViewOf returns how t sees tg's process id (0 if it cannot).
func (t *Task) ViewOf(tg *ThreadGroup) ThreadID { return t.tg.pidns.IDOfThreadGroup(tg) }

// ViewTask returns how t sees o's thread id (0 if it cannot).
func (t *Task) ViewTask(o *Task) ThreadID { return t.tg.pidns.IDOfTask(o) }

// ViewGroup returns how t sees a process group or session id (a kernel
// id, as ThreadGroup.ProcessGroup and Session return).
func (t *Task) ViewGroup(id ThreadID) ThreadID {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	return t.tg.pidns.viewLocked(id)
}

// KernelGroupID returns the kernel id of the process group or session t
// calls id (-1 if it names none).
func (t *Task) KernelGroupID(id ThreadID) ThreadID {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	return t.tg.pidns.kernelIDLocked(id)
}

// ViewPID returns how t sees the process whose kernel id is pid (pid_vnr),
// 0 if it cannot (SysV IPC records kernel ids).
func (t *Task) ViewPID(pid int32) int32 {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	return int32(t.tg.pidns.viewLocked(ThreadID(pid)))
}

// nsInitDropsLocked reports whether a signal from sender (nil: from the
// kernel or outside) to tg is dropped because tg is the init of a pid
// namespace other than the initial one and has no handler for it: from
// inside the namespace always, from an ancestor namespace unless it is
// SIGKILL or SIGSTOP (pid_namespaces(7)).
func nsInitDropsLocked(tg *ThreadGroup, sender *Task, sig int) bool {
	ns := tg.pidns
	if ns == nil || ns.parent == nil || ns.init != tg || tg.handlers.acts[sig].Handler != sigDFL {
		return false
	}
	if sender != nil && ns.IsAncestorOf(sender.tg.pidns) {
		return true
	}
	return sig != int(unix.SIGKILL) && sig != int(unix.SIGSTOP)
}

// SignalProcess sends info from t to process tg (kill(2),
// rt_sigqueueinfo(2)); with setPID, si_pid becomes t's id as tg's
// namespace sees it (0 from an ancestor namespace), as Linux fills it in.
func (t *Task) SignalProcess(tg *ThreadGroup, info *arch.SignalInfo, setPID bool) error {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if setPID {
		info.SetPID(int32(tg.pidns.tgIDLocked(t.tg)))
	}
	return k.sendFromLocked(tg, nil, info, t)
}

// SignalThread is SignalProcess for a thread-directed signal (tgkill(2)).
func (t *Task) SignalThread(target *Task, info *arch.SignalInfo, setPID bool) error {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if setPID {
		info.SetPID(int32(target.tg.pidns.tgIDLocked(t.tg)))
	}
	return k.sendFromLocked(target.tg, target, info, t)
}

// ViewID returns how p sees the kernel id of a process, process group or
// session (0 if it cannot).
func (p *PIDNamespace) ViewID(id ThreadID) ThreadID {
	p.k.mu.Lock()
	defer p.k.mu.Unlock()
	return p.viewLocked(id)
}

// RootPIDNamespace returns the sandbox's initial pid namespace.
func (k *Kernel) RootPIDNamespace() *PIDNamespace { return k.pidNS }

// populated reports whether p's first process was made.
func (p *PIDNamespace) populated() bool {
	p.k.mu.Lock()
	defer p.k.mu.Unlock()
	return p.parent == nil || p.init != nil
}
