package kernel

import (
	"sync"
	"sync/atomic"

	"github.com/veil-sandbox/veil/sentry/kernel/ipc"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// Namespaces (namespaces(7)) inside the sandbox. A task's user namespace
// is part of its credentials (as in Linux); the others are in its
// Namespaces, shared by the tasks that neither unshared nor setns'd since
// they forked, and replaced as a whole when one of them changes (Linux's
// nsproxy).

// Inode numbers of namespaces, as /proc/PID/ns/* shows them: Linux's
// fixed numbers for the initial IPC, UTS, user, pid and cgroup namespaces
// (include/linux/proc_ns.h) and, for every other namespace, numbers
// handed out from where Linux's proc_inum_ida starts, so a sandbox's
// numbers look like a host's.
const (
	ipcInitIno    = 0xEFFFFFFF
	utsInitIno    = 0xEFFFFFFE
	userInitIno   = 0xEFFFFFFD
	pidInitIno    = 0xEFFFFFFC
	cgroupInitIno = 0xEFFFFFFB
	firstDynIno   = 0xF0000000
)

var nextNSIno atomic.Uint64

func init() { nextNSIno.Store(firstDynIno - 1) }

func newNSIno() uint64 { return nextNSIno.Add(1) }

// Namespace is what the /proc/PID/ns/* files and setns(2) deal with.
type Namespace interface {
	// Type is the namespace's CLONE_NEW* flag.
	Type() int
	// Inode is the namespace's inode number (ns/* links name it).
	Inode() uint64
	// Owner is the user namespace that owns it (itself for a user
	// namespace's own parent, nil for the initial user namespace).
	Owner() *UserNamespace
}

// NamespaceName returns the /proc/PID/ns name of a CLONE_NEW* type.
func NamespaceName(typ int) string {
	switch typ {
	case unix.CLONE_NEWIPC:
		return "ipc"
	case unix.CLONE_NEWUTS:
		return "uts"
	case unix.CLONE_NEWUSER:
		return "user"
	case unix.CLONE_NEWNS:
		return "mnt"
	case unix.CLONE_NEWPID:
		return "pid"
	case unix.CLONE_NEWNET:
		return "net"
	case unix.CLONE_NEWCGROUP:
		return "cgroup"
	}
	return "?"
}

// Namespaces is a task's set of non-user namespaces (struct nsproxy).
// It is immutable: changes make a new one.
type Namespaces struct {
	UTS    *UTSNamespace
	IPC    *IPCNamespace
	Cgroup *CgroupNamespace
	// Mount is the mount namespace: which mounts path resolution from
	// the task's root and working directory meets, and where mount(2)
	// acts.
	Mount *vfs.MountNamespace
	// PIDForChildren is the pid namespace of the processes the task
	// makes (unshare(CLONE_NEWPID) changes it, not the task's own).
	PIDForChildren *PIDNamespace
	// Net is the network namespace (its stack is the socket layer's).
	Net *NetNamespace
}

// NetNamespace returns t's network namespace.
func (t *Task) NetNamespace() *NetNamespace { return t.Namespaces().Net }

func (n *Namespaces) copy() *Namespaces {
	c := *n
	return &c
}

// UTSNamespace holds a host and a domain name (uts_namespaces(7)).
type UTSNamespace struct {
	owner *UserNamespace
	ino   uint64

	mu                   sync.Mutex
	hostname, domainname string
}

// Type implements Namespace.
func (u *UTSNamespace) Type() int { return unix.CLONE_NEWUTS }

// Inode implements Namespace.
func (u *UTSNamespace) Inode() uint64 { return u.ino }

// Owner implements Namespace.
func (u *UTSNamespace) Owner() *UserNamespace { return u.owner }

// Names returns the host and domain names.
func (u *UTSNamespace) Names() (hostname, domainname string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.hostname, u.domainname
}

// SetHostname sets the host name (sethostname(2)).
func (u *UTSNamespace) SetHostname(name string) {
	u.mu.Lock()
	u.hostname = name
	u.mu.Unlock()
}

// SetDomainname sets the domain name (setdomainname(2)).
func (u *UTSNamespace) SetDomainname(name string) {
	u.mu.Lock()
	u.domainname = name
	u.mu.Unlock()
}

// clone returns a new namespace with u's names (a new UTS namespace
// starts as a copy of its creator's).
func (u *UTSNamespace) clone(owner *UserNamespace) *UTSNamespace {
	h, d := u.Names()
	return &UTSNamespace{owner: owner, ino: newNSIno(), hostname: h, domainname: d}
}

// IPCNamespace is an IPC namespace (ipc_namespaces(7)): its System V
// objects and its POSIX message queues.
type IPCNamespace struct {
	*ipc.Namespace
	owner *UserNamespace
	ino   uint64

	mqOnce sync.Once
	mq     any
}

// Type implements Namespace.
func (i *IPCNamespace) Type() int { return unix.CLONE_NEWIPC }

// Inode implements Namespace.
func (i *IPCNamespace) Inode() uint64 { return i.ino }

// Owner implements Namespace.
func (i *IPCNamespace) Owner() *UserNamespace { return i.owner }

// Mqueue returns the namespace's POSIX message queue state, made by mk on
// first use (sentry/fs/mqueue keeps its filesystem there; the kernel
// cannot import it).
func (i *IPCNamespace) Mqueue(mk func() any) any {
	i.mqOnce.Do(func() { i.mq = mk() })
	return i.mq
}

func (k *Kernel) newIPCNamespace(owner *UserNamespace, ino uint64) *IPCNamespace {
	return &IPCNamespace{Namespace: ipc.NewNamespace(k.MF, owner), owner: owner, ino: ino}
}

// CgroupNamespace is a cgroup namespace (cgroup_namespaces(7)). The
// Sentry has one cgroup, the root, which every namespace's root is: so
// /proc/PID/cgroup reads "0::/" in all of them, as it does on Linux in a
// namespace made at the root.
type CgroupNamespace struct {
	owner *UserNamespace
	ino   uint64
}

// Type implements Namespace.
func (c *CgroupNamespace) Type() int { return unix.CLONE_NEWCGROUP }

// Inode implements Namespace.
func (c *CgroupNamespace) Inode() uint64 { return c.ino }

// Owner implements Namespace.
func (c *CgroupNamespace) Owner() *UserNamespace { return c.owner }

// initNamespaces makes the sandbox's initial namespaces.
func (k *Kernel) initNamespaces() {
	k.rootNS = &Namespaces{
		UTS:    &UTSNamespace{ino: utsInitIno, hostname: "veil", domainname: "(none)"},
		IPC:    k.newIPCNamespace(nil, ipcInitIno),
		Cgroup: &CgroupNamespace{ino: cgroupInitIno},
	}
	k.pidNS = &PIDNamespace{k: k, ino: pidInitIno}
	k.rootNS.PIDForChildren = k.pidNS
	k.rootNS.Net = &NetNamespace{ino: newNSIno()}
	if k.VFSys != nil {
		if m := k.VFSys.RootNamespace(); m != nil {
			m.Ino = newNSIno()
			k.rootNS.Mount = m
		}
	}
}

// RootNamespaces returns the sandbox's initial namespaces (those of the
// container's processes).
func (k *Kernel) RootNamespaces() *Namespaces { return k.rootNS }

// Namespaces returns t's namespaces.
func (t *Task) Namespaces() *Namespaces { return t.nsproxy.Load() }

// UTSNamespace returns t's UTS namespace.
func (t *Task) UTSNamespace() *UTSNamespace { return t.Namespaces().UTS }

// IPCNamespace returns t's IPC namespace.
func (t *Task) IPCNamespace() *IPCNamespace { return t.Namespaces().IPC }

// UserNamespace returns t's user namespace.
func (t *Task) UserNamespace() *UserNamespace { return t.Credentials().UserNamespace() }

// IPCCaller describes t for the ipc package, with capabilities checked in
// the user namespace that owns ns.
func (t *Task) IPCCaller(ns *IPCNamespace) *ipc.Caller {
	c := t.Credentials()
	return &ipc.Caller{
		EUID: c.EUID, EGID: c.EGID,
		InGroup: c.InGroup,
		Capable: func(cp int) bool { return c.HasCapabilityIn(cp, ns.owner) },
		PID:     int32(t.tg.tgid),
	}
}

// SemUndo returns t's semaphore undo list, made on first use (semop(2)
// SEM_UNDO). CLONE_SYSVSEM children share it.
func (t *Task) SemUndo() *ipc.UndoList {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	if t.semUndo == nil {
		t.semUndo = &semUndoRef{list: ipc.NewUndoList()}
		t.semUndo.refs.Store(1)
	}
	return t.semUndo.list
}

// semUndoRef counts the tasks sharing an undo list.
type semUndoRef struct {
	list *ipc.UndoList
	refs atomic.Int32
}

// dropSemUndo lets go of t's undo list; the last holder applies it
// (exit_sem), as exit, unshare(CLONE_SYSVSEM) and a change of IPC
// namespace do.
func (t *Task) dropSemUndo() {
	t.k.mu.Lock()
	u := t.semUndo
	t.semUndo = nil
	t.k.mu.Unlock()
	if u != nil && u.refs.Add(-1) == 0 {
		u.list.Exit(int32(t.tg.tgid))
	}
}

// shareSemUndo gives nt t's undo list (CLONE_SYSVSEM); k.mu held.
func (t *Task) shareSemUndoLocked(nt *Task) {
	if t.semUndo != nil {
		t.semUndo.refs.Add(1)
		nt.semUndo = t.semUndo
	}
}

// supportedNamespaceFlags are the CLONE_NEW* flags clone(2) and
// unshare(2) implement. CLONE_NEWTIME is refused with EINVAL, as by a
// kernel built without CONFIG_TIME_NS, and so is CLONE_NEWNET in a kernel
// whose socket layer makes no network stacks (Kernel.NewNetworkStack).
const supportedNamespaceFlags = unix.CLONE_NEWUSER | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC |
	unix.CLONE_NEWCGROUP | unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWNET

// checkNamespaceCloneFlags applies clone(2)'s rules for namespace flags
// (copy_process): no new user namespace for a thread or with a shared
// filesystem context, no new IPC namespace with a shared undo list.
func checkNamespaceCloneFlags(f uint64) error {
	if f&unix.CLONE_NEWUSER != 0 && f&(unix.CLONE_FS|unix.CLONE_THREAD|unix.CLONE_PARENT) != 0 {
		return unix.EINVAL
	}
	if f&unix.CLONE_NEWNS != 0 && f&unix.CLONE_FS != 0 {
		return unix.EINVAL
	}
	if f&unix.CLONE_NEWIPC != 0 && f&unix.CLONE_SYSVSEM != 0 {
		return unix.EINVAL
	}
	if f&unix.CLONE_NEWPID != 0 && f&(unix.CLONE_THREAD|unix.CLONE_PARENT) != 0 {
		return unix.EINVAL
	}
	return nil
}

// newNamespaces returns the credentials and namespaces of a task that t
// makes with clone flags f, or that t itself has after unshare(2) with
// them: a new user namespace first (so the others it makes belong to
// it), then one new namespace of each other kind asked for, which needs
// CAP_SYS_ADMIN in the (new) user namespace (EPERM).
//
// A new mount namespace is a copy of t's; move returns where a location
// in t's namespace is in the copy (nil without CLONE_NEWNS), so the task
// that gets it can move its root and working directory there. Making it
// commits the copy: callers check everything else first.
func (t *Task) newNamespaces(f uint64) (creds *Credentials, nsp *Namespaces, move func(vfs.VirtualDentry) vfs.VirtualDentry, err error) {
	creds = t.Credentials()
	nsp = t.Namespaces()
	if f&supportedNamespaceFlags == 0 {
		return creds, nsp, nil, nil
	}
	if f&unix.CLONE_NEWUSER != 0 {
		// Not from a chroot (user_namespaces(7): EPERM), which could
		// otherwise escape it with the new namespace's capabilities.
		if m := nsp.Mount; m != nil && t.fs != nil && t.fs.Root() != m.Root(t.k.VFSys) {
			return nil, nil, nil, unix.EPERM
		}
		if creds, err = creds.NewUserNamespace(); err != nil {
			return nil, nil, nil, err
		}
	}
	others := f & (supportedNamespaceFlags &^ unix.CLONE_NEWUSER)
	if others == 0 {
		return creds, nsp, nil, nil
	}
	owner := creds.UserNamespace()
	if !creds.HasCapabilityIn(unix.CAP_SYS_ADMIN, owner) {
		return nil, nil, nil, unix.EPERM
	}
	if owner.IsRoot() {
		owner = nil
	}
	nsp = nsp.copy()
	if f&unix.CLONE_NEWUTS != 0 {
		nsp.UTS = nsp.UTS.clone(owner)
	}
	if f&unix.CLONE_NEWIPC != 0 {
		nsp.IPC = t.k.newIPCNamespace(owner, newNSIno())
	}
	if f&unix.CLONE_NEWCGROUP != 0 {
		nsp.Cgroup = &CgroupNamespace{owner: owner, ino: newNSIno()}
	}
	if f&unix.CLONE_NEWNET != 0 {
		if t.k.NewNetworkStack == nil {
			return nil, nil, nil, ErrUnsupportedNamespace
		}
		n := &NetNamespace{owner: owner, ino: newNSIno()}
		if n.Stack, err = t.k.NewNetworkStack(n); err != nil {
			return nil, nil, nil, err
		}
		nsp.Net = n
	}
	if f&unix.CLONE_NEWPID != 0 {
		// Only while the children's namespace is the caller's own
		// (copy_pid_ns).
		if nsp.PIDForChildren != t.tg.pidns {
			return nil, nil, nil, unix.EINVAL
		}
		if nsp.PIDForChildren, err = t.k.newPIDNamespace(nsp.PIDForChildren, owner); err != nil {
			return nil, nil, nil, err
		}
	}
	if f&unix.CLONE_NEWNS != 0 && nsp.Mount != nil {
		var o any
		if owner != nil {
			o = owner
		}
		nsp.Mount, move = t.k.VFSys.CloneNamespace(nsp.Mount, o, newNSIno())
	}
	return creds, nsp, move, nil
}

// MountNamespaceOwner returns the user namespace owning mount namespace m
// (capabilities for mount(2) are checked there).
func MountNamespaceOwner(m *vfs.MountNamespace) *UserNamespace {
	if m == nil {
		return nil
	}
	u, _ := m.Owner.(*UserNamespace)
	return u
}

// discardMountNamespace releases the mount namespace newNamespaces made
// for a task that is not created after all (move is nil when it made
// none).
func discardMountNamespace(k *Kernel, nsp *Namespaces, move func(vfs.VirtualDentry) vfs.VirtualDentry) {
	if move != nil {
		k.VFSys.Release(nsp.Mount)
	}
}

// moveFS moves fs's root and working directory with move (a new mount
// namespace's translation).
func moveFS(fs *vfs.FSContext, move func(vfs.VirtualDentry) vfs.VirtualDentry) {
	if move == nil || fs == nil {
		return
	}
	fs.SetRoot(move(fs.Root()))
	fs.SetCwd(move(fs.Cwd()))
}

// unshareFlags are the flags unshare(2) accepts (EINVAL for others).
const unshareFlags = unix.CLONE_THREAD | unix.CLONE_FS | unix.CLONE_NEWNS | unix.CLONE_SIGHAND |
	unix.CLONE_VM | unix.CLONE_FILES | unix.CLONE_SYSVSEM | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC |
	unix.CLONE_NEWNET | unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWCGROUP | unix.CLONE_NEWTIME

// ErrUnsupportedNamespace is the answer for namespace kinds the Sentry
// does not implement (the syscall layer counts it).
var ErrUnsupportedNamespace = unix.EINVAL

// Unshare implements unshare(2): t leaves the shared parts of its context
// that flags name. A new user namespace implies CLONE_THREAD and
// CLONE_FS, CLONE_VM implies CLONE_SIGHAND, which implies CLONE_THREAD,
// and CLONE_NEWNS implies CLONE_FS; unsharing threads, signal handlers or
// memory is possible only for a single-threaded process that shares
// none (EINVAL otherwise, as Linux's check_unshare_flags).
func (t *Task) Unshare(flags uint64) error {
	if flags&^unshareFlags != 0 {
		return unix.EINVAL
	}
	if flags&unix.CLONE_NEWTIME != 0 {
		return ErrUnsupportedNamespace
	}
	if flags&unix.CLONE_NEWUSER != 0 {
		flags |= unix.CLONE_THREAD | unix.CLONE_FS
	}
	if flags&unix.CLONE_VM != 0 {
		flags |= unix.CLONE_SIGHAND
	}
	if flags&unix.CLONE_SIGHAND != 0 {
		flags |= unix.CLONE_THREAD
	}
	if flags&unix.CLONE_NEWNS != 0 {
		flags |= unix.CLONE_FS
	}
	k := t.k
	if flags&(unix.CLONE_THREAD|unix.CLONE_SIGHAND|unix.CLONE_VM) != 0 {
		k.mu.Lock()
		alone := len(t.tg.tasks) == 1
		k.mu.Unlock()
		if !alone {
			return unix.EINVAL
		}
	}
	creds, nsp, move, err := t.newNamespaces(flags)
	if err != nil {
		return err
	}
	if flags&unix.CLONE_FS != 0 {
		// A copy whether or not another task shares it (unshare_fs
		// copies only a shared one; a copy of an unshared one is the
		// same).
		nfs := t.fs.Fork()
		moveFS(nfs, move)
		k.mu.Lock()
		old := t.fs
		t.fs = nfs
		k.mu.Unlock()
		old.DecRef()
	}
	if flags&unix.CLONE_FILES != 0 {
		old := t.fdTable
		nt := old.Fork()
		k.mu.Lock()
		t.fdTable = nt
		k.mu.Unlock()
		old.DecRef()
	}
	if flags&(unix.CLONE_SYSVSEM|unix.CLONE_NEWIPC) != 0 {
		t.dropSemUndo()
	}
	t.setCredentials(creds)
	t.setNamespaces(nsp)
	return nil
}

// MoveRoots gives every task whose root or working directory is from the
// location to instead (pivot_root(2)'s chroot_fs_refs).
func (k *Kernel) MoveRoots(from, to vfs.VirtualDentry) {
	k.mu.Lock()
	seen := make(map[*vfs.FSContext]bool)
	var fss []*vfs.FSContext
	for _, t := range k.tasks {
		if t.fs != nil && !seen[t.fs] {
			seen[t.fs] = true
			fss = append(fss, t.fs)
		}
	}
	k.mu.Unlock()
	for _, fs := range fss {
		if fs.Root() == from {
			fs.SetRoot(to)
		}
		if fs.Cwd() == from {
			fs.SetCwd(to)
		}
	}
}

// useNamespacesLocked counts a task starting (delta 1) or ceasing
// (delta -1) to use the mount and IPC namespaces of n, and returns those
// no task uses any more (k.mu held; release them with
// releaseNamespaces, without it). The initial ones are never released.
func (k *Kernel) useNamespacesLocked(n *Namespaces, delta int) []any {
	if n == nil {
		return nil
	}
	if k.nsUsers == nil {
		k.nsUsers = make(map[any]int)
	}
	var gone []any
	for _, ns := range []any{n.Mount, n.IPC} {
		switch ns {
		case nil, any(k.rootNS.Mount), any(k.rootNS.IPC):
			continue
		}
		if m, ok := ns.(*vfs.MountNamespace); ok && m == nil {
			continue
		}
		k.nsUsers[ns] += delta
		if k.nsUsers[ns] <= 0 {
			delete(k.nsUsers, ns)
			gone = append(gone, ns)
		}
	}
	return gone
}

// releaseNamespaces ends namespaces no task uses: a mount namespace's
// mounts are detached, an IPC namespace's objects destroyed (Linux's
// put_mnt_ns, put_ipc_ns).
func (k *Kernel) releaseNamespaces(gone []any) {
	for _, ns := range gone {
		switch n := ns.(type) {
		case *vfs.MountNamespace:
			k.VFSys.Release(n)
		case *IPCNamespace:
			n.Namespace.Release()
		}
	}
}

// setNamespaces replaces t's namespaces (unshare, setns).
func (t *Task) setNamespaces(n *Namespaces) {
	k := t.k
	k.mu.Lock()
	old := t.nsproxy.Swap(n)
	k.useNamespacesLocked(n, 1)
	gone := k.useNamespacesLocked(old, -1)
	k.mu.Unlock()
	k.releaseNamespaces(gone)
}
