package kernel

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/waiter"
	"golang.org/x/sys/unix"
)

// nsfs: the files /proc/PID/ns/* lead to. Each names a namespace; its
// inode number is the namespace's, on one anonymous device (Linux's
// nsfs), so `stat -L` and lsns identify namespaces by it, and a
// descriptor of one is what setns(2) takes.

// NetNamespace is a network namespace (network_namespaces(7)). The socket
// layer owns what it stands for: Stack is its network stack (nil for the
// initial namespace, whose stack is the sandbox's), made for a new
// namespace by Kernel.NewNetworkStack (runsc gives each a socket.Stack of
// its own). Without that hook CLONE_NEWNET is refused (EINVAL, as by a
// kernel without CONFIG_NET_NS): a namespace whose sockets would still
// reach the sandbox's network would pretend.
type NetNamespace struct {
	owner *UserNamespace
	ino   uint64
	Stack any
}

// Type implements Namespace.
func (n *NetNamespace) Type() int { return unix.CLONE_NEWNET }

// Inode implements Namespace.
func (n *NetNamespace) Inode() uint64 { return n.ino }

// Owner implements Namespace.
func (n *NetNamespace) Owner() *UserNamespace { return n.owner }

// IsRoot reports whether n is the sandbox's initial network namespace.
func (n *NetNamespace) IsRoot() bool { return n.Stack == nil }

// TimeNamespace is the one time namespace (CLONE_NEWTIME is refused).
type TimeNamespace struct{}

// Type implements Namespace.
func (TimeNamespace) Type() int { return unix.CLONE_NEWTIME }

// Inode implements Namespace (PROC_TIME_INIT_INO).
func (TimeNamespace) Inode() uint64 { return 0xEFFFFFFA }

// Owner implements Namespace.
func (TimeNamespace) Owner() *UserNamespace { return nil }

// MountNS is a mount namespace as a Namespace.
type MountNS struct{ *vfs.MountNamespace }

// Type implements Namespace.
func (m MountNS) Type() int { return unix.CLONE_NEWNS }

// Inode implements Namespace.
func (m MountNS) Inode() uint64 { return m.Ino }

// Owner implements Namespace.
func (m MountNS) Owner() *UserNamespace { return MountNamespaceOwner(m.MountNamespace) }

// Kinds of namespace in /proc/PID/ns, in Linux's order of that directory.
var NamespaceFiles = []string{"cgroup", "ipc", "mnt", "net", "pid", "pid_for_children", "time", "time_for_children", "user", "uts"}

// TaskNamespace returns t's namespace that /proc/PID/ns/name names.
func (t *Task) TaskNamespace(name string) Namespace {
	nsp := t.Namespaces()
	switch name {
	case "cgroup":
		return nsp.Cgroup
	case "ipc":
		return nsp.IPC
	case "mnt":
		if nsp.Mount == nil {
			return nil
		}
		return MountNS{nsp.Mount}
	case "net":
		return nsp.Net
	case "pid":
		return t.PIDNamespace()
	case "pid_for_children":
		// A namespace made by unshare(CLONE_NEWPID) shows once its
		// first process exists (pid_namespaces(7)).
		n := nsp.PIDForChildren
		if n != t.PIDNamespace() && !n.populated() {
			return nil
		}
		return n
	case "time", "time_for_children":
		return TimeNamespace{}
	case "user":
		return t.UserNamespace()
	case "uts":
		return nsp.UTS
	}
	return nil
}

// NamespaceLinkText is what an ns link reads: "type:[inode]".
func NamespaceLinkText(name string, ns Namespace) string {
	typ := name
	switch name {
	case "pid_for_children":
		typ = "pid"
	case "time_for_children":
		typ = "time"
	}
	return fmt.Sprintf("%s:[%d]", typ, ns.Inode())
}

var nsfsDev = sync.OnceValue(vfs.NewAnonDev)

// nsInode is an nsfs inode.
type nsInode struct {
	vfs.InodeDefaults
	ns Namespace
}

// Stat implements vfs.Inode: a read-only regular file, as stat -L of an
// ns link shows.
func (n *nsInode) Stat(vfs.Context) (vfs.Stat, error) {
	return vfs.Stat{Dev: nsfsDev(), Ino: n.ns.Inode(), Mode: unix.S_IFREG | 0o444, Nlink: 1, Blksize: 4096}, nil
}

// FileType implements vfs.TypeReporter.
func (n *nsInode) FileType() uint32 { return unix.S_IFREG }

// Open implements vfs.Inode: the descriptor setns(2) takes.
func (n *nsInode) Open(_ vfs.Context, flags uint32) (vfs.FileImpl, error) {
	return &nsFile{ns: n.ns}, nil
}

// nsFile is an open namespace file: nothing to read.
type nsFile struct {
	vfs.NoRelease
	ns Namespace
}

// ioctl(2) requests of namespace files (ioctl_ns(2)).
const (
	nsGetUserns   = 0xb701
	nsGetParent   = 0xb702
	nsGetNstype   = 0xb703
	nsGetOwnerUID = 0xb704
)

// Ioctl implements ioctl_ns(2): NS_GET_NSTYPE, NS_GET_OWNER_UID (of a
// user namespace, EINVAL otherwise), and NS_GET_USERNS and NS_GET_PARENT,
// which return a new close-on-exec descriptor of the owning user
// namespace or the parent (of a user or pid namespace: EINVAL for
// others), EPERM when that is outside the caller's user (or pid)
// namespace.
func (f *nsFile) Ioctl(ctx vfs.Context, io vfs.UserMemory, cmd uint32, arg uint64) (uint64, error) {
	t, ok := ctx.(*Task)
	if !ok {
		return 0, unix.ENOTTY
	}
	switch cmd {
	case nsGetNstype:
		return uint64(f.ns.Type()), nil
	case nsGetOwnerUID:
		u, ok := f.ns.(*UserNamespace)
		if !ok {
			return 0, unix.EINVAL
		}
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], t.UserNamespace().ViewUID(u.owner))
		return 0, io.CopyOut(uintptr(arg), b[:])
	case nsGetUserns, nsGetParent:
		var target Namespace
		if cmd == nsGetUserns {
			u := f.ns.Owner()
			if _, isUser := f.ns.(*UserNamespace); isUser {
				u = f.ns.(*UserNamespace).parent
			} else if u == nil {
				u = RootUserNamespace
			}
			if u == nil || !t.UserNamespace().IsAncestorOf(u) {
				return 0, unix.EPERM
			}
			target = u
		} else {
			switch n := f.ns.(type) {
			case *UserNamespace:
				if n.parent == nil || !t.UserNamespace().IsAncestorOf(n.parent) {
					return 0, unix.EPERM
				}
				target = n.parent
			case *PIDNamespace:
				if n.parent == nil || !t.PIDNamespace().IsAncestorOf(n.parent) {
					return 0, unix.EPERM
				}
				target = n.parent
			default:
				return 0, unix.EINVAL
			}
		}
		name := NamespaceName(target.Type())
		nf := vfs.NewFileDescription(&nsFile{ns: target}, unix.O_RDONLY, &nsInode{ns: target}, NamespaceLinkText(name, target))
		defer nf.DecRef()
		fd, err := t.FDTable().NewFD(0, nf, true)
		return uint64(fd), err
	}
	return 0, unix.ENOTTY
}

func (*nsFile) Read(vfs.Context, []byte, int64, bool) (int, error)  { return 0, unix.EINVAL }
func (*nsFile) Write(vfs.Context, []byte, int64, bool) (int, error) { return 0, unix.EINVAL }

// Readiness implements waiter.Waitable.
func (*nsFile) Readiness(mask waiter.EventMask) waiter.EventMask { return mask }

// EventRegister implements waiter.Waitable.
func (*nsFile) EventRegister(*waiter.Entry) {}

// EventUnregister implements waiter.Waitable.
func (*nsFile) EventUnregister(*waiter.Entry) {}

// NamespaceDentry returns the location an ns link of namespace ns leads
// to: a dentry of its nsfs inode, which opening gives a descriptor of.
func (k *Kernel) NamespaceDentry(name string, ns Namespace) vfs.VirtualDentry {
	f := vfs.NewFileDescription(&nsFile{ns: ns}, unix.O_RDONLY, &nsInode{ns: ns}, NamespaceLinkText(name, ns))
	defer f.DecRef()
	return k.VFSys.AnonymousDentry(f)
}

// NamespaceOfFile returns the namespace a descriptor of an nsfs file
// names, or nil.
func NamespaceOfFile(f *vfs.FileDescription) Namespace {
	if nf, ok := f.Impl().(*nsFile); ok {
		return nf.ns
	}
	return nil
}

// Setns implements setns(2) of t into ns (nstype 0 accepts any kind;
// another must match: EINVAL), with namespaces(7)'s rules: CAP_SYS_ADMIN
// in the user namespace owning ns and in t's own (EPERM); a user
// namespace only for a single-threaded process not already in it
// (EINVAL) and gives full capabilities there; a mount namespace also
// needs CAP_SYS_CHROOT and moves the root and working directory to its
// root; the pid and time namespaces (one each) can only be rejoined.
func (t *Task) Setns(ns Namespace, nstype int) error {
	if nstype != 0 && nstype != ns.Type() {
		return unix.EINVAL
	}
	c := t.Credentials()
	k := t.k
	switch n := ns.(type) {
	case *UserNamespace:
		if n == c.UserNamespace() {
			return unix.EINVAL
		}
		k.mu.Lock()
		alone := len(t.tg.tasks) == 1
		k.mu.Unlock()
		if !alone {
			return unix.EINVAL
		}
		if !c.HasCapabilityIn(unix.CAP_SYS_ADMIN, n) {
			return unix.EPERM
		}
		t.setCredentials(c.EnterUserNamespace(n))
		return nil
	case TimeNamespace:
		return nil
	}
	if !c.HasCapabilityIn(unix.CAP_SYS_ADMIN, ns.Owner()) || !c.HasCapability(unix.CAP_SYS_ADMIN) {
		return unix.EPERM
	}
	nsp := t.Namespaces().copy()
	switch n := ns.(type) {
	case *UTSNamespace:
		nsp.UTS = n
	case *IPCNamespace:
		if nsp.IPC != n {
			t.dropSemUndo()
		}
		nsp.IPC = n
	case *CgroupNamespace:
		nsp.Cgroup = n
	case *PIDNamespace:
		// Only the active namespace or one below it (pidns_install).
		if !t.PIDNamespace().IsAncestorOf(n) {
			return unix.EINVAL
		}
		nsp.PIDForChildren = n
	case *NetNamespace:
		nsp.Net = n
	case MountNS:
		if !c.HasCapability(unix.CAP_SYS_CHROOT) {
			return unix.EPERM
		}
		// A namespace whose last process is gone has had its mounts
		// detached (Kernel.releaseNamespaces): an nsfs descriptor does
		// not keep it alive here, unlike Linux.
		if n.Released(k.VFSys) {
			return unix.EINVAL
		}
		nsp.Mount = n.MountNamespace
		root := n.Root(k.VFSys)
		nfs := vfs.NewFSContext(root, root, t.fs.Umask())
		k.mu.Lock()
		old := t.fs
		t.fs = nfs
		k.mu.Unlock()
		old.DecRef()
	default:
		return unix.EINVAL
	}
	t.setNamespaces(nsp)
	return nil
}
