package proc

// System V IPC and POSIX message queue files: /proc/sysvipc/{shm,sem,msg}
// (proc(5)) and the IPC limits under /proc/sys/kernel and
// /proc/sys/fs/mqueue, all of the reader's IPC namespace, with ids as
// the reader's user namespace sees them.

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/kernel/ipc"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// readerIPC returns the reader's IPC and user namespaces (the initial
// ones for a reader that is not a task).
func (fs *filesystem) readerIPC(ctx vfs.Context) (*kernel.IPCNamespace, *kernel.UserNamespace) {
	if t, ok := ctx.(*kernel.Task); ok {
		return t.IPCNamespace(), t.UserNamespace()
	}
	return fs.k.RootNamespaces().IPC, kernel.RootUserNamespace
}

func (fs *filesystem) ipcFile(gen func(ns *kernel.IPCNamespace, users *kernel.UserNamespace) string) *file {
	return fs.NewFile(0o444, nil, func(ctx vfs.Context) ([]byte, error) {
		ns, users := fs.readerIPC(ctx)
		return []byte(gen(ns, users)), nil
	})
}

// ids formats uid, gid, cuid, cgid as "%5u %5u %5u %5u".
func ids(users *kernel.UserNamespace, p ipc.Perm) string {
	return fmt.Sprintf("%5d %5d %5d %5d", users.ViewUID(p.UID), users.ViewGID(p.GID), users.ViewUID(p.CUID), users.ViewGID(p.CGID))
}

// sysvipcShm is /proc/sysvipc/shm, in Linux's sysvipc_shm_proc_show
// format.
func sysvipcShm(ns *kernel.IPCNamespace, users *kernel.UserNamespace) string {
	var b strings.Builder
	b.WriteString("       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap\n")
	for _, s := range ns.Segments() {
		fmt.Fprintf(&b, "%10d %10d  %4o %21d %5d %5d  %5d %s %10d %10d %10d %21d %21d\n",
			s.Perm.Key, s.Perm.ID, s.Perm.Mode, s.Size, s.CPID, s.LPID, s.Nattch, ids(users, s.Perm),
			s.Atime, s.Dtime, s.Ctime, s.RSS*pageSize, 0)
	}
	return b.String()
}

// sysvipcSem is /proc/sysvipc/sem (sysvipc_sem_proc_show).
func sysvipcSem(ns *kernel.IPCNamespace, users *kernel.UserNamespace) string {
	var b strings.Builder
	b.WriteString("       key      semid perms      nsems   uid   gid  cuid  cgid      otime      ctime\n")
	for _, s := range ns.SemSets() {
		fmt.Fprintf(&b, "%10d %10d  %4o %10d %s %10d %10d\n",
			s.Perm.Key, s.Perm.ID, s.Perm.Mode, s.Nsems, ids(users, s.Perm), s.Otime, s.Ctime)
	}
	return b.String()
}

// sysvipcMsg is /proc/sysvipc/msg (sysvipc_msg_proc_show).
func sysvipcMsg(ns *kernel.IPCNamespace, users *kernel.UserNamespace) string {
	var b strings.Builder
	b.WriteString("       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  cgid      stime      rtime      ctime\n")
	for _, q := range ns.Queues() {
		fmt.Fprintf(&b, "%10d %10d  %4o  %10d %10d %5d %5d %s %10d %10d %10d\n",
			q.Perm.Key, q.Perm.ID, q.Perm.Mode, q.Cbytes, q.Qnum, q.LSPID, q.LRPID, ids(users, q.Perm),
			q.Stime, q.Rtime, q.Ctime)
	}
	return b.String()
}

// sysvipcDir is /proc/sysvipc.
func (fs *filesystem) sysvipcDir() *staticDir {
	return fs.newDir(nil, []dirEntry{
		{"msg", fs.ipcFile(sysvipcMsg)},
		{"sem", fs.ipcFile(sysvipcSem)},
		{"shm", fs.ipcFile(sysvipcShm)},
	})
}

// ipcSysctls are the IPC entries of /proc/sys/kernel, the tunables of
// the reader's IPC namespace. A writer needs CAP_SYS_RESOURCE in the user
// namespace owning it (Linux's ipc_permissions); values out of range are
// EINVAL.
func (fs *filesystem) ipcSysctls() []dirEntry {
	ro := func(s string) *file { return fs.Text(func() string { return s + "\n" }) }
	tunable := func(show func(l ipc.Limits) string, set func(l *ipc.Limits, v []uint64), n int) *file {
		f := fs.NewFile(0o644, nil, func(ctx vfs.Context) ([]byte, error) {
			ns, _ := fs.readerIPC(ctx)
			return []byte(show(ns.Limits()) + "\n"), nil
		})
		f.WriteFn = func(ctx vfs.Context, data []byte) error {
			t, ok := ctx.(*kernel.Task)
			if !ok {
				return unix.EPERM
			}
			ns := t.IPCNamespace()
			if !t.Credentials().HasCapabilityIn(unix.CAP_SYS_RESOURCE, ns.Owner()) {
				return unix.EPERM
			}
			fields := strings.Fields(string(data))
			if len(fields) != n {
				return unix.EINVAL
			}
			vals := make([]uint64, n)
			for i, f := range fields {
				v, err := strconv.ParseUint(f, 10, 64)
				if err != nil {
					return unix.EINVAL
				}
				vals[i] = v
			}
			return ns.SetLimits(func(l *ipc.Limits) { set(l, vals) })
		}
		return f
	}
	num := func(get func(l ipc.Limits) uint64, set func(l *ipc.Limits, v uint64)) *file {
		return tunable(func(l ipc.Limits) string { return strconv.FormatUint(get(l), 10) },
			func(l *ipc.Limits, v []uint64) { set(l, v[0]) }, 1)
	}
	small := func(v uint64) int { return int(min(v, 1<<31-1)) }
	return []dirEntry{
		{"msg_next_id", ro("-1")},
		{"msgmax", num(func(l ipc.Limits) uint64 { return uint64(l.MsgMax) }, func(l *ipc.Limits, v uint64) { l.MsgMax = small(v) })},
		{"msgmnb", num(func(l ipc.Limits) uint64 { return uint64(l.MsgMnb) }, func(l *ipc.Limits, v uint64) { l.MsgMnb = small(v) })},
		{"msgmni", num(func(l ipc.Limits) uint64 { return uint64(l.MsgMni) }, func(l *ipc.Limits, v uint64) { l.MsgMni = small(v) })},
		{"sem", tunable(func(l ipc.Limits) string {
			return fmt.Sprintf("%d\t%d\t%d\t%d", l.SemMsl, l.SemMns, l.SemOpm, l.SemMni)
		}, func(l *ipc.Limits, v []uint64) {
			l.SemMsl, l.SemMns, l.SemOpm, l.SemMni = small(v[0]), small(v[1]), small(v[2]), small(v[3])
		}, 4)},
		{"sem_next_id", ro("-1")},
		{"shm_next_id", ro("-1")},
		{"shm_rmid_forced", ro("0")},
		{"shmall", num(func(l ipc.Limits) uint64 { return l.ShmAll }, func(l *ipc.Limits, v uint64) { l.ShmAll = v })},
		{"shmmax", num(func(l ipc.Limits) uint64 { return l.ShmMax }, func(l *ipc.Limits, v uint64) { l.ShmMax = v })},
		{"shmmni", num(func(l ipc.Limits) uint64 { return uint64(l.ShmMni) }, func(l *ipc.Limits, v uint64) { l.ShmMni = small(v) })},
	}
}

// mqueueSysctls is /proc/sys/fs/mqueue (mq_overview(7)).
func (fs *filesystem) mqueueSysctls() *staticDir {
	ro := func(v int) *file { return fs.Text(func() string { return strconv.Itoa(v) + "\n" }) }
	return fs.newDir(nil, []dirEntry{
		{"msg_default", ro(MqMsgDefault)},
		{"msg_max", ro(MqMsgMax)},
		{"msgsize_default", ro(MqMsgsizeDefault)},
		{"msgsize_max", ro(MqMsgsizeMax)},
		{"queues_max", ro(MqQueuesMax)},
	})
}

// POSIX message queue limits (Linux's defaults, mq_overview(7)), which
// sentry/fs/mqueue enforces.
const (
	MqMsgDefault     = 10
	MqMsgMax         = 10
	MqMsgsizeDefault = 8192
	MqMsgsizeMax     = 8192
	MqQueuesMax      = 256
)

// utsFile is /proc/sys/kernel/hostname or domainname of the reader's UTS
// namespace.
func (fs *filesystem) utsFile(domain bool) *file {
	return fs.NewFile(0o444, nil, func(ctx vfs.Context) ([]byte, error) {
		uts := fs.k.RootNamespaces().UTS
		if t, ok := ctx.(*kernel.Task); ok {
			uts = t.UTSNamespace()
		}
		h, d := uts.Names()
		if domain {
			return []byte(d + "\n"), nil
		}
		return []byte(h + "\n"), nil
	})
}

// sortedEntries sorts directory entries by name and returns them.
func sortedEntries(e []dirEntry) []dirEntry {
	sortEntries(e)
	return e
}
