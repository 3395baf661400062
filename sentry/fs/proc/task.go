package proc

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/veil-sandbox/veil/sentry/fs/pseudo"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/mm"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

func sortEntries(es []dirEntry) {
	sort.Slice(es, func(i, j int) bool { return es[i].name < es[j].name })
}

// maxArgBytes bounds what cmdline and environ read from a process.
const maxArgBytes = 2 << 20

// taskDir is /proc/<pid> (tid == 0) or /proc/<pid>/task/<tid>.
type taskDir struct {
	*staticDir
	fs  *filesystem
	tg  *kernel.ThreadGroup
	tid kernel.ThreadID
	// proc is the directory of the process (d itself for /proc/<pid>):
	// what is per process lives there.
	proc *taskDir

	// oomScoreAdj is the process's oom_score_adj, and oomScoreAdjMin the
	// lowest it has been set to (raising it back needs no privilege).
	// TODO(processes): keep it on the thread group so that children
	// inherit a value written here (they start from Options.OOMScoreAdj).
	oomMu          sync.Mutex
	oomScoreAdj    int
	oomScoreAdjMin int
}

// newTaskDir builds the directory of process tg (proc nil), or of its
// thread tid (proc the process's directory).
func (fs *filesystem) newTaskDir(tg *kernel.ThreadGroup, tid kernel.ThreadID, proc *taskDir) *taskDir {
	d := &taskDir{fs: fs, tg: tg, tid: tid, proc: proc, oomScoreAdj: fs.opts.OOMScoreAdj, oomScoreAdjMin: fs.opts.OOMScoreAdj}
	if proc == nil {
		d.proc = d
	}
	owner := d.owner
	gen := func(mode uint32, g generator) *file { return fs.NewFile(mode, owner, g) }
	text := func(s string) *file {
		return gen(0o444, func(vfs.Context) ([]byte, error) { return []byte(s), nil })
	}
	entries := []dirEntry{
		{"auxv", gen(0o400, d.auxv)},
		// The sandbox is the root of its cgroup namespace, the cgroup v2
		// view at /sys/fs/cgroup.
		{"cgroup", text("0::/\n")},
		{"cmdline", gen(0o444, d.cmdline)},
		{"comm", d.commFile()},
		{"coredump_filter", text("00000033\n")},
		{"cpuset", text("/\n")},
		{"cwd", fs.NewMagicLink(0o777, owner, d.cwdText, d.cwd)},
		{"environ", gen(0o400, d.environ)},
		{"exe", fs.NewMagicLink(0o777, owner, d.exeText, d.exe)},
		{"fd", d.newFDDir(false)},
		{"fdinfo", d.newFDDir(true)},
		// No I/O accounting: every counter is zero.
		{"io", gen(0o400, func(vfs.Context) ([]byte, error) {
			return []byte("rchar: 0\nwchar: 0\nsyscr: 0\nsyscw: 0\nread_bytes: 0\nwrite_bytes: 0\ncancelled_write_bytes: 0\n"), nil
		})},
		{"limits", gen(0o444, d.limits)},
		// Nothing logged in, as in a container: (uid_t)-1 and
		// AUDIT_SID_UNSET, without a newline as Linux prints them.
		{"loginuid", text("4294967295")},
		{"maps", gen(0o444, d.maps)},
		{"mountinfo", gen(0o444, d.mountinfo)},
		{"mounts", gen(0o444, d.mounts)},
		{"mountstats", gen(0o400, d.mountstats)},
		{"oom_adj", d.oomAdjFile()},
		{"oom_score", gen(0o444, d.oomScore)},
		{"oom_score_adj", d.oomScoreAdjFile()},
		// Only PER_LINUX exists (see personality(2) in syscalls).
		{"personality", gen(0o400, func(vfs.Context) ([]byte, error) { return []byte("00000000\n"), nil })},
		{"root", fs.NewMagicLink(0o777, owner, d.rootText, d.root)},
		{"sessionid", text("4294967295")},
		{"smaps", gen(0o444, d.smaps)},
		{"smaps_rollup", gen(0o444, d.smapsRollup)},
		{"stat", gen(0o444, d.stat)},
		{"statm", gen(0o444, d.statm)},
		{"status", gen(0o444, d.status)},
		// Tasks wait in the Sentry's Go code, which has no kernel
		// symbol to show.
		{"wchan", text("0")},
	}
	if tid == 0 {
		entries = append(entries, dirEntry{"task", d.newTaskListDir()})
	} else {
		entries = append(entries, dirEntry{"children", gen(0o444, d.children)})
	}
	entries = append(entries, d.nsEntries()...)
	sortEntries(entries)
	d.staticDir = fs.newDir(owner, entries)
	return d
}

// task returns the task the directory shows: the thread, or for a process
// its leader (or any live thread once the leader is gone). nil if dead.
func (d *taskDir) task() *kernel.Task {
	k := d.fs.k
	if d.tid != 0 {
		if t := k.TaskByTID(d.tid); t != nil && t.ThreadGroup() == d.tg {
			return t
		}
		return nil
	}
	if t := k.TaskByTID(d.tg.ID()); t != nil && t.ThreadGroup() == d.tg {
		return t
	}
	for _, id := range d.tg.TaskIDs() {
		if t := k.TaskByTID(id); t != nil && t.ThreadGroup() == d.tg {
			return t
		}
	}
	return nil
}

func (d *taskDir) liveTask() (*kernel.Task, error) {
	if t := d.task(); t != nil {
		return t, nil
	}
	return nil, unix.ESRCH
}

// owner returns the effective ids of the task, as Linux shows them on a
// (dumpable) process's /proc entries.
func (d *taskDir) owner() (uint32, uint32) {
	t := d.task()
	if t == nil {
		return 0, 0
	}
	c := t.Credentials()
	return c.EUID, c.EGID
}

// callerRoot returns the caller's root directory, from which paths are
// shown.
func (fs *filesystem) callerRoot(ctx vfs.Context) vfs.VirtualDentry {
	if t, ok := ctx.(*kernel.Task); ok {
		if f := t.FSContext(); f != nil {
			return f.Root()
		}
	}
	return fs.k.VFS().Root()
}

// readMem reads [start, end) of m, stopping at the first fault.
func readMem(m *mm.MemoryManager, start, end uintptr) []byte {
	if m == nil || end <= start {
		return nil
	}
	buf := make([]byte, min(end-start, maxArgBytes))
	n, _ := m.CopyIn(start, buf)
	return buf[:n]
}

// memory returns the task's address space (nil, nil for one without).
func (d *taskDir) memory() (*mm.MemoryManager, error) {
	t, err := d.liveTask()
	if err != nil {
		return nil, err
	}
	return t.MemoryManager(), nil
}

func (d *taskDir) cmdline(vfs.Context) ([]byte, error) {
	m, err := d.memory()
	if m == nil {
		return nil, err
	}
	return readMem(m, m.ArgvStart, m.ArgvEnd), nil
}

func (d *taskDir) environ(vfs.Context) ([]byte, error) {
	m, err := d.memory()
	if m == nil {
		return nil, err
	}
	return readMem(m, m.EnvStart, m.EnvEnd), nil
}

func (d *taskDir) auxv(vfs.Context) ([]byte, error) {
	m, err := d.memory()
	if m == nil {
		return nil, err
	}
	b := make([]byte, 8*len(m.Auxv))
	for i, v := range m.Auxv {
		binary.LittleEndian.PutUint64(b[8*i:], v)
	}
	return b, nil
}

func (d *taskDir) maps(vfs.Context) ([]byte, error) {
	m, err := d.memory()
	if m == nil {
		return nil, err
	}
	return []byte(m.MapsText()), nil
}

func (d *taskDir) smaps(vfs.Context) ([]byte, error) {
	m, err := d.memory()
	if m == nil {
		return nil, err
	}
	return []byte(smapsText(m.Mappings(), d.fs.cpus().HasFlag("ospke"))), nil
}

func (d *taskDir) smapsRollup(vfs.Context) ([]byte, error) {
	m, err := d.memory()
	if m == nil {
		return nil, err
	}
	return []byte(smapsRollupText(m.Mappings())), nil
}

// children lists the process's children (/proc/<pid>/task/<tid>/children;
// Linux lists those of the thread, here those of its process).
func (d *taskDir) children(vfs.Context) ([]byte, error) {
	if _, err := d.liveTask(); err != nil {
		return nil, err
	}
	var b strings.Builder
	ns := d.fs.pidns
	for _, p := range d.fs.k.Processes() {
		if p.PPID == d.tg.ID() {
			if id := ns.ViewID(p.PID); id != 0 {
				fmt.Fprintf(&b, "%d ", id)
			}
		}
	}
	return []byte(b.String()), nil
}

// commFile is /proc/<pid>/comm: writable by the process itself (like
// prctl(PR_SET_NAME), used by pthread_setname_np for other threads).
func (d *taskDir) commFile() *file {
	f := d.fs.NewFile(0o644, d.owner, func(vfs.Context) ([]byte, error) {
		t, err := d.liveTask()
		if err != nil {
			return nil, err
		}
		return []byte(t.Name() + "\n"), nil
	})
	f.WriteFn = func(ctx vfs.Context, data []byte) error {
		t, err := d.liveTask()
		if err != nil {
			return err
		}
		if caller, ok := ctx.(*kernel.Task); !ok || caller.ThreadGroup() != d.tg {
			return unix.EINVAL
		}
		t.SetName(strings.TrimSuffix(string(data), "\n"))
		return nil
	}
	return f
}

// OOM score adjustment limits (linux/oom.h).
const (
	oomScoreAdjMin = -1000
	oomScoreAdjMax = 1000
	oomAdjMin      = -17 // OOM_DISABLE
	oomAdjMax      = 15
)

// oomScoreAdjFile is /proc/<pid>/oom_score_adj. The Sentry has no OOM
// killer of its own (the host's acts on the whole sandbox), but programs
// set and read back the value, so it is kept and checked as Linux does:
// -1000 to 1000, and going below the lowest value set before needs
// CAP_SYS_RESOURCE.
func (d *taskDir) oomScoreAdjFile() *file {
	f := d.fs.NewFile(0o644, d.owner, func(vfs.Context) ([]byte, error) {
		return []byte(fmt.Sprintf("%d\n", d.proc.getOOMScoreAdj())), nil
	})
	f.WriteFn = func(ctx vfs.Context, data []byte) error {
		v, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil || v < oomScoreAdjMin || v > oomScoreAdjMax {
			return unix.EINVAL
		}
		return d.proc.setOOMScoreAdj(ctx, v)
	}
	return f
}

// oomAdjFile is the legacy /proc/<pid>/oom_adj (-17 to 15), a view of
// oom_score_adj scaled by 17/1000 as Linux scales it (15 stands for
// 1000).
func (d *taskDir) oomAdjFile() *file {
	f := d.fs.NewFile(0o644, d.owner, func(vfs.Context) ([]byte, error) {
		v := d.proc.getOOMScoreAdj() * -oomAdjMin / oomScoreAdjMax
		if d.proc.getOOMScoreAdj() == oomScoreAdjMax {
			v = oomAdjMax
		}
		return []byte(fmt.Sprintf("%d\n", v)), nil
	})
	f.WriteFn = func(ctx vfs.Context, data []byte) error {
		v, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil || v < oomAdjMin || v > oomAdjMax {
			return unix.EINVAL
		}
		adj := v * oomScoreAdjMax / -oomAdjMin
		if v == oomAdjMax {
			adj = oomScoreAdjMax
		}
		return d.proc.setOOMScoreAdj(ctx, adj)
	}
	return f
}

func (d *taskDir) getOOMScoreAdj() int {
	d.oomMu.Lock()
	defer d.oomMu.Unlock()
	return d.oomScoreAdj
}

func (d *taskDir) setOOMScoreAdj(ctx vfs.Context, v int) error {
	if _, err := d.liveTask(); err != nil {
		return err
	}
	d.oomMu.Lock()
	defer d.oomMu.Unlock()
	if v < d.oomScoreAdjMin {
		// Contexts without capabilities are privileged as root, as in
		// the VFS's own checks.
		c, capable := ctx.(vfs.Capable)
		if capable && !c.HasCapability(unix.CAP_SYS_RESOURCE) || !capable && ctx.FSUID() != 0 {
			return unix.EACCES
		}
		d.oomScoreAdjMin = v
	}
	d.oomScoreAdj = v
	return nil
}

func (d *taskDir) oomScore(vfs.Context) ([]byte, error) {
	m, err := d.memory()
	if err != nil {
		return nil, err
	}
	var rss uint64
	if m != nil {
		rss = uint64(m.ResidentBytes())
	}
	total := d.fs.memInfo().total
	return []byte(fmt.Sprintf("%d\n", oomScore(rss/pageSize, total/pageSize, d.proc.getOOMScoreAdj()))), nil
}

func (d *taskDir) exeText(vfs.Context) (string, error) {
	t, err := d.liveTask()
	if err != nil {
		return "", err
	}
	m := t.MemoryManager()
	if m == nil || m.Exe == "" {
		return "", unix.ENOENT
	}
	return m.Exe, nil
}

// exe resolves the program path from the root of the VFS (where the
// kernel's executable paths are relative to).
func (d *taskDir) exe(ctx vfs.Context) (vfs.VirtualDentry, error) {
	path, err := d.exeText(ctx)
	if err != nil {
		return vfs.VirtualDentry{}, err
	}
	v := d.fs.k.VFS()
	root := v.Root()
	return v.GetDentry(ctx, vfs.PathOperation{Root: root, Start: root, Path: path, FollowFinal: true})
}

func (d *taskDir) fsContext() (*vfs.FSContext, error) {
	t, err := d.liveTask()
	if err != nil {
		return nil, err
	}
	f := t.FSContext()
	if f == nil {
		return nil, unix.ENOENT
	}
	return f, nil
}

func (d *taskDir) cwd(vfs.Context) (vfs.VirtualDentry, error) {
	f, err := d.fsContext()
	if err != nil {
		return vfs.VirtualDentry{}, err
	}
	return f.CwdRef(), nil
}

func (d *taskDir) root(vfs.Context) (vfs.VirtualDentry, error) {
	f, err := d.fsContext()
	if err != nil {
		return vfs.VirtualDentry{}, err
	}
	return f.RootRef(), nil
}

func (d *taskDir) cwdText(ctx vfs.Context) (string, error) {
	vd, err := d.cwd(ctx)
	if err != nil {
		return "", err
	}
	defer vd.DecRef()
	return d.fs.k.VFS().PathNameFrom(d.fs.callerRoot(ctx), vd), nil
}

func (d *taskDir) rootText(ctx vfs.Context) (string, error) {
	vd, err := d.root(ctx)
	if err != nil {
		return "", err
	}
	defer vd.DecRef()
	return d.fs.k.VFS().PathNameFrom(d.fs.callerRoot(ctx), vd), nil
}

// info gathers what stat and status show.
func (d *taskDir) info(ctx vfs.Context) (*taskInfo, error) {
	t, err := d.liveTask()
	if err != nil {
		return nil, err
	}
	tg := d.tg
	k := d.fs.k
	ns := d.fs.pidns
	ti := &taskInfo{
		pid:               int32(ns.IDOfThreadGroup(tg)),
		comm:              t.Name(),
		state:             'S',
		threads:           len(tg.TaskIDs()),
		pgrp:              int32(ns.ViewID(tg.ProcessGroup())),
		sid:               int32(ns.ViewID(tg.Session())),
		tpgid:             -1,
		ncpu:              len(d.fs.cpus().CPUs),
		voluntarySwitches: t.VoluntarySwitches(),
	}
	if d.tid != 0 {
		ti.tid = int32(ns.IDOfTask(t))
	}
	if p := tg.Parent(); p != nil {
		ti.ppid = int32(ns.IDOfThreadGroup(p))
	}
	if since := tg.StartTime().Sub(k.BootTime()); since > 0 {
		ti.startTicks = uint64(since * clockTicks / time.Second)
	}
	for _, p := range k.Processes() {
		if p.PID == tg.ID() && p.Stopped {
			ti.state = 'T'
		}
	}
	if caller, ok := ctx.(*kernel.Task); ok && (caller == t || (d.tid == 0 && caller.ThreadGroup() == tg)) {
		ti.state = 'R'
	}
	if tty := t.ControllingTTY(); tty != nil {
		// Terminals that know their device number give ps its TTY
		// column.
		if n, ok := tty.Device().(interface{ Rdev() uint64 }); ok {
			dev := n.Rdev()
			ti.ttyNr = int32(unix.Minor(dev)&0xff | unix.Major(dev)<<8 | (unix.Minor(dev)&^0xff)<<12)
		}
		if fg, err := t.ForegroundProcessGroup(tty); err == nil {
			ti.tpgid = int32(ns.ViewID(fg))
		}
	}
	if f := t.FSContext(); f != nil {
		ti.umask = f.Umask()
	}
	// Ids as the reader's user namespace sees them (from_kuid_munged).
	c, users := t.Credentials(), readerUserNS(ctx)
	ti.uid = [4]uint32{users.ViewUID(c.UID), users.ViewUID(c.EUID), users.ViewUID(c.SUID), users.ViewUID(c.FSUID)}
	ti.gid = [4]uint32{users.ViewGID(c.GID), users.ViewGID(c.EGID), users.ViewGID(c.SGID), users.ViewGID(c.FSGID)}
	for _, g := range c.Groups {
		ti.groups = append(ti.groups, users.ViewGID(g))
	}
	ti.capInh, ti.capPrm, ti.capEff = uint64(c.Inheritable), uint64(c.Permitted), uint64(c.Effective)
	ti.capBnd, ti.capAmb = uint64(c.Bounding), uint64(c.Ambient)
	ti.noNewPrivs = c.NoNewPrivs
	if m := t.MemoryManager(); m != nil {
		ti.mem = memStatsOf(m.Mappings(), m)
	}
	limits := tg.Limits()
	ti.rssLimit, ti.sigQueueMax = kernel.Infinity, kernel.Infinity
	if l, err := limits.Get(unix.RLIMIT_RSS); err == nil {
		ti.rssLimit = l.Cur
	}
	if l, err := limits.Get(unix.RLIMIT_SIGPENDING); err == nil {
		ti.sigQueueMax = l.Cur
	}
	ti.sigPnd = t.PendingSignals()
	ti.sigBlk = t.SignalMask()
	for sig := unix.Signal(1); sig <= 64; sig++ {
		act, err := t.SignalAction(sig, nil)
		if err != nil {
			continue
		}
		switch {
		case act.Handler == 1: // SIG_IGN
			ti.sigIgn |= kernel.SigBit(sig)
		case act.Handler > 1:
			ti.sigCgt |= kernel.SigBit(sig)
		}
	}
	if fdt := t.FDTable(); fdt != nil {
		ti.fdSize = (fdt.Count() + 63) / 64 * 64
		ti.fdSize = max(ti.fdSize, 64)
	}
	ti.seccompMode, ti.seccompFilters = t.SeccompMode(), t.SeccompFilterCount()
	ti.priority, ti.nice = t.StatPriority(), t.Nice()
	ti.policy, ti.rtPriority = t.SchedPolicy()
	ti.tracerPid = int32(t.TracerPID(ns))
	if t.PtraceStopped() {
		ti.state = 't'
	}
	u := t.Usage()
	if d.tid == 0 {
		u = tg.Usage()
	}
	ti.utime, ti.stime, ti.minflt, ti.majflt = u.User, u.Sys, u.MinFlt, u.MajFlt
	ti.cutime, ti.cstime = tg.ChildrenCPUTime()
	return ti, nil
}

func (d *taskDir) stat(ctx vfs.Context) ([]byte, error) {
	ti, err := d.info(ctx)
	if err != nil {
		return nil, err
	}
	return []byte(taskStatText(ti)), nil
}

func (d *taskDir) statm(ctx vfs.Context) ([]byte, error) {
	ti, err := d.info(ctx)
	if err != nil {
		return nil, err
	}
	return []byte(taskStatmText(ti)), nil
}

func (d *taskDir) status(ctx vfs.Context) ([]byte, error) {
	ti, err := d.info(ctx)
	if err != nil {
		return nil, err
	}
	return []byte(taskStatusText(ti)), nil
}

func (d *taskDir) limits(vfs.Context) ([]byte, error) {
	if _, err := d.liveTask(); err != nil {
		return nil, err
	}
	l := d.tg.Limits()
	return []byte(limitsText(func(i int) (uint64, uint64) {
		v, err := l.Get(i)
		if err != nil {
			return kernel.Infinity, kernel.Infinity
		}
		return v.Cur, v.Max
	})), nil
}

// mountEntries lists the mounts visible from the task's root.
func (d *taskDir) mountEntries(ctx vfs.Context) ([]mountEntry, error) {
	f, err := d.fsContext()
	if err != nil {
		return nil, err
	}
	var out []mountEntry
	for _, m := range d.fs.k.VFS().Mounts(f.Root()) {
		e := mountEntry{
			id: m.ID, parent: m.ParentID, path: m.Path,
			fstype: m.Opts.FSType, source: m.Opts.Source,
			readOnly: m.Opts.ReadOnly, noSuid: m.Opts.NoSuid, noDev: m.Opts.NoDev, noExec: m.Opts.NoExec,
		}
		if st, err := m.Root.Stat(ctx); err == nil {
			e.dev = st.Dev
		}
		out = append(out, e)
	}
	return out, nil
}

func (d *taskDir) mounts(ctx vfs.Context) ([]byte, error) {
	ms, err := d.mountEntries(ctx)
	if err != nil {
		return nil, err
	}
	return []byte(mountsText(ms)), nil
}

func (d *taskDir) mountinfo(ctx vfs.Context) ([]byte, error) {
	ms, err := d.mountEntries(ctx)
	if err != nil {
		return nil, err
	}
	return []byte(mountinfoText(ms)), nil
}

func (d *taskDir) mountstats(ctx vfs.Context) ([]byte, error) {
	ms, err := d.mountEntries(ctx)
	if err != nil {
		return nil, err
	}
	return []byte(mountstatsText(ms)), nil
}

// fdDir is /proc/<pid>/fd (symlinks to the open files) or
// /proc/<pid>/fdinfo (their position and flags).
type fdDir struct {
	pseudo.Node
	vfs.ReadOnlyDirDefaults
	td   *taskDir
	info bool

	mu   sync.Mutex
	ents map[int32]vfs.Inode
}

var _ vfs.DynamicDirectory = (*fdDir)(nil)

func (d *taskDir) newFDDir(info bool) *fdDir {
	mode := uint32(0o500)
	if info {
		mode = 0o555
	}
	return &fdDir{Node: d.fs.NewNode(unix.S_IFDIR|mode, d.owner), td: d, info: info, ents: make(map[int32]vfs.Inode)}
}

// DynamicLookup implements vfs.DynamicDirectory.
func (d *fdDir) DynamicLookup() bool { return true }

func (d *fdDir) fdTable() (*vfs.FDTable, error) {
	t, err := d.td.liveTask()
	if err != nil {
		return nil, err
	}
	fdt := t.FDTable()
	if fdt == nil {
		return nil, unix.ENOENT
	}
	return fdt, nil
}

// entry returns the stable inode of descriptor fd.
func (d *fdDir) entry(fd int32) vfs.Inode {
	d.mu.Lock()
	defer d.mu.Unlock()
	if i := d.ents[fd]; i != nil {
		return i
	}
	var i vfs.Inode
	if d.info {
		i = d.td.fs.NewFile(0o444, d.td.owner, func(ctx vfs.Context) ([]byte, error) { return d.fdinfo(ctx, fd) })
	} else {
		i = d.td.fs.NewMagicLink(0o700, d.td.owner,
			func(ctx vfs.Context) (string, error) { return d.linkText(ctx, fd) },
			func(ctx vfs.Context) (vfs.VirtualDentry, error) { return d.follow(ctx, fd) })
	}
	d.ents[fd] = i
	return i
}

// Lookup implements vfs.Inode.Lookup.
func (d *fdDir) Lookup(_ vfs.Context, name string) (vfs.Inode, error) {
	n, err := strconv.ParseInt(name, 10, 32)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != name {
		return nil, unix.ENOENT
	}
	fdt, err := d.fdTable()
	if err != nil {
		return nil, unix.ENOENT
	}
	f, err := fdt.GetFile(int32(n))
	if err != nil {
		return nil, unix.ENOENT
	}
	f.DecRef()
	return d.entry(int32(n)), nil
}

// Getdents implements vfs.Inode.Getdents.
func (d *fdDir) Getdents(vfs.Context) ([]vfs.Dirent, error) {
	fdt, err := d.fdTable()
	if err != nil {
		return nil, err
	}
	var fds []int32
	fdt.ForEach(func(fd int32, _ *vfs.FileDescription, _ bool) { fds = append(fds, fd) })
	ents := make([]vfs.Dirent, 0, len(fds))
	live := make(map[int32]bool, len(fds))
	for _, fd := range fds {
		live[fd] = true
		ents = append(ents, direntOf(strconv.Itoa(int(fd)), d.entry(fd)))
	}
	d.mu.Lock()
	for fd := range d.ents {
		if !live[fd] {
			delete(d.ents, fd)
		}
	}
	d.mu.Unlock()
	return ents, nil
}

// file returns (a reference on) the description of fd, and its
// close-on-exec flag.
func (d *fdDir) file(fd int32) (*vfs.FileDescription, bool, error) {
	fdt, err := d.fdTable()
	if err != nil {
		return nil, false, err
	}
	f, cloexec, err := fdt.Get(fd)
	if err != nil {
		return nil, false, unix.ENOENT
	}
	return f, cloexec, nil
}

func (d *fdDir) linkText(ctx vfs.Context, fd int32) (string, error) {
	f, _, err := d.file(fd)
	if err != nil {
		return "", err
	}
	defer f.DecRef()
	return f.PathNameFrom(d.td.fs.callerRoot(ctx)), nil
}

func (d *fdDir) follow(ctx vfs.Context, fd int32) (vfs.VirtualDentry, error) {
	f, _, err := d.file(fd)
	if err != nil {
		return vfs.VirtualDentry{}, err
	}
	defer f.DecRef()
	// A file opened by path leads where it was opened; a file without a
	// path (a pipe, the host's stdio, a memfd...) to a hidden dentry of
	// its inode, so that opening fd/N (/dev/stdin, /dev/stdout...)
	// reopens the inode as on Linux (what that means is the inode's
	// Open: a new end of the pipe, a dup of the host descriptor, ENXIO
	// for eventfd, epoll and sockets).
	vd := d.td.fs.k.VFS().AnonymousDentry(f)
	if !vd.Ok() {
		return vfs.VirtualDentry{}, unix.ENXIO
	}
	return vd, nil
}

func (d *fdDir) fdinfo(ctx vfs.Context, fd int32) ([]byte, error) {
	f, cloexec, err := d.file(fd)
	if err != nil {
		return nil, err
	}
	defer f.DecRef()
	flags := f.StatusFlags()
	if cloexec {
		flags |= unix.O_CLOEXEC
	}
	var mnt uint64
	if vd := f.VirtualDentry(); vd.Ok() {
		mnt = vd.Mount.ID()
	}
	var ino uint64
	if st, err := f.Stat(ctx); err == nil {
		ino = st.Ino
	}
	return []byte(fmt.Sprintf("pos:\t%d\nflags:\t0%o\nmnt_id:\t%d\nino:\t%d\n", f.Offset(), flags, mnt, ino)), nil
}

// taskListDir is /proc/<pid>/task: one directory per thread.
type taskListDir struct {
	pseudo.Node
	vfs.ReadOnlyDirDefaults
	td *taskDir

	mu      sync.Mutex
	threads map[kernel.ThreadID]*taskDir
}

var _ vfs.DynamicDirectory = (*taskListDir)(nil)

func (d *taskDir) newTaskListDir() *taskListDir {
	return &taskListDir{Node: d.fs.NewNode(unix.S_IFDIR|0o555, d.owner), td: d, threads: make(map[kernel.ThreadID]*taskDir)}
}

// DynamicLookup implements vfs.DynamicDirectory.
func (d *taskListDir) DynamicLookup() bool { return true }

func (d *taskListDir) thread(tid kernel.ThreadID) *taskDir {
	d.mu.Lock()
	defer d.mu.Unlock()
	if td := d.threads[tid]; td != nil {
		return td
	}
	td := d.td.fs.newTaskDir(d.td.tg, tid, d.td)
	d.threads[tid] = td
	return td
}

// Lookup implements vfs.Inode.Lookup.
func (d *taskListDir) Lookup(_ vfs.Context, name string) (vfs.Inode, error) {
	n, err := strconv.ParseInt(name, 10, 32)
	if err != nil || n <= 0 || strconv.FormatInt(n, 10) != name {
		return nil, unix.ENOENT
	}
	t := d.td.fs.pidns.TaskWithID(kernel.ThreadID(n))
	if t == nil || t.ThreadGroup() != d.td.tg {
		return nil, unix.ENOENT
	}
	return d.thread(t.ThreadID()), nil
}

// Getdents implements vfs.Inode.Getdents.
func (d *taskListDir) Getdents(vfs.Context) ([]vfs.Dirent, error) {
	tids := d.td.tg.TaskIDs()
	live := make(map[kernel.ThreadID]bool, len(tids))
	var ents []vfs.Dirent
	k := d.td.fs.k
	for _, tid := range tids {
		t := k.TaskByTID(tid)
		if t == nil {
			continue
		}
		live[tid] = true
		ents = append(ents, direntOf(strconv.Itoa(int(d.td.fs.pidns.IDOfTask(t))), d.thread(tid)))
	}
	d.mu.Lock()
	for tid := range d.threads {
		if !live[tid] {
			delete(d.threads, tid)
		}
	}
	d.mu.Unlock()
	return sortedDirents(ents), nil
}
