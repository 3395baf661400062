package proc

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/mm"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// maxArgBytes bounds what cmdline and environ read from a process.
const maxArgBytes = 2 << 20

// taskDir is /proc/<pid> (tid == 0) or /proc/<pid>/task/<tid>.
type taskDir struct {
	*staticDir
	fs  *filesystem
	tg  *kernel.ThreadGroup
	tid kernel.ThreadID
}

// newTaskDir builds the directory of process tg, or of its thread tid.
func (fs *filesystem) newTaskDir(tg *kernel.ThreadGroup, tid kernel.ThreadID) *taskDir {
	d := &taskDir{fs: fs, tg: tg, tid: tid}
	owner := d.owner
	gen := func(mode uint32, g generator) *file { return fs.newFile(mode, owner, g) }
	entries := []dirEntry{
		{"auxv", gen(0o400, d.auxv)},
		{"cgroup", gen(0o444, func(vfs.Context) ([]byte, error) { return []byte("0::/\n"), nil })},
		{"cmdline", gen(0o444, d.cmdline)},
		{"comm", d.commFile()},
		{"cwd", fs.newMagicLink(0o777, owner, d.cwdText, d.cwd)},
		{"environ", gen(0o400, d.environ)},
		{"exe", fs.newMagicLink(0o777, owner, d.exeText, d.exe)},
		{"fd", d.newFDDir(false)},
		{"fdinfo", d.newFDDir(true)},
		{"limits", gen(0o444, d.limits)},
		{"maps", gen(0o444, d.maps)},
		{"mountinfo", gen(0o444, d.mountinfo)},
		{"mounts", gen(0o444, d.mounts)},
		{"oom_score_adj", d.oomScoreAdjFile()},
		{"root", fs.newMagicLink(0o777, owner, d.rootText, d.root)},
		{"stat", gen(0o444, d.stat)},
		{"statm", gen(0o444, d.statm)},
		{"status", gen(0o444, d.status)},
	}
	if tid == 0 {
		entries = append(entries, dirEntry{"task", d.newTaskListDir()})
	}
	d.staticDir = fs.newStaticDir(owner, entries)
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
	t, err := d.liveTask()
	if err != nil {
		return nil, err
	}
	m := t.MemoryManager()
	if m == nil {
		return nil, nil
	}
	return []byte(m.MapsText()), nil
}

// commFile is /proc/<pid>/comm: writable by the process itself (like
// prctl(PR_SET_NAME), used by pthread_setname_np for other threads).
func (d *taskDir) commFile() *file {
	f := d.fs.newFile(0o644, d.owner, func(vfs.Context) ([]byte, error) {
		t, err := d.liveTask()
		if err != nil {
			return nil, err
		}
		return []byte(t.Name() + "\n"), nil
	})
	f.write = func(ctx vfs.Context, data []byte) error {
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

// oomScoreAdjFile accepts and ignores writes (there is no OOM killer).
func (d *taskDir) oomScoreAdjFile() *file {
	f := d.fs.newFile(0o644, d.owner, func(vfs.Context) ([]byte, error) { return []byte("0\n"), nil })
	f.write = func(vfs.Context, []byte) error { return nil }
	return f
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
	return f.Cwd(), nil
}

func (d *taskDir) root(vfs.Context) (vfs.VirtualDentry, error) {
	f, err := d.fsContext()
	if err != nil {
		return vfs.VirtualDentry{}, err
	}
	return f.Root(), nil
}

func (d *taskDir) cwdText(ctx vfs.Context) (string, error) {
	vd, err := d.cwd(ctx)
	if err != nil {
		return "", err
	}
	return d.fs.k.VFS().PathNameFrom(d.fs.callerRoot(ctx), vd), nil
}

func (d *taskDir) rootText(ctx vfs.Context) (string, error) {
	vd, err := d.root(ctx)
	if err != nil {
		return "", err
	}
	return d.fs.k.VFS().PathNameFrom(d.fs.callerRoot(ctx), vd), nil
}

// info gathers what stat and status show.
func (d *taskDir) info(ctx vfs.Context) (*taskInfo, error) {
	t, err := d.liveTask()
	if err != nil {
		return nil, err
	}
	tg := d.tg
	ti := &taskInfo{
		pid:     int32(tg.ID()),
		tid:     int32(d.tid),
		comm:    t.Name(),
		state:   'S',
		threads: len(tg.TaskIDs()),
		pgrp:    int32(tg.ProcessGroup()),
		sid:     int32(tg.Session()),
	}
	if p := tg.Parent(); p != nil {
		ti.ppid = int32(p.ID())
	}
	if caller, ok := ctx.(*kernel.Task); ok && (caller == t || (d.tid == 0 && caller.ThreadGroup() == tg)) {
		ti.state = 'R'
	}
	if f := t.FSContext(); f != nil {
		ti.umask = f.Umask()
	}
	c := t.Credentials()
	ti.uid = [4]uint32{c.UID, c.EUID, c.SUID, c.FSUID}
	ti.gid = [4]uint32{c.GID, c.EGID, c.SGID, c.FSGID}
	ti.groups = append([]uint32(nil), c.Groups...)
	ti.capInh, ti.capPrm, ti.capEff = uint64(c.Inheritable), uint64(c.Permitted), uint64(c.Effective)
	ti.capBnd, ti.capAmb = uint64(c.Bounding), uint64(c.Ambient)
	ti.noNewPrivs = c.NoNewPrivs
	if m := t.MemoryManager(); m != nil {
		ti.vsize = m.VirtualBytes()
		ti.rss = m.ResidentBytes()
		ti.argStart, ti.argEnd = m.ArgvStart, m.ArgvEnd
		ti.envStart, ti.envEnd = m.EnvStart, m.EnvEnd
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
	ti.tracerPid = int32(t.TracerPID())
	if t.PtraceStopped() {
		ti.state = 't'
	}
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
func (d *taskDir) mountEntries() ([]mountEntry, error) {
	f, err := d.fsContext()
	if err != nil {
		return nil, err
	}
	var out []mountEntry
	for _, m := range d.fs.k.VFS().Mounts(f.Root()) {
		out = append(out, mountEntry{
			id: m.ID, parent: m.ParentID, path: m.Path,
			fstype: m.Opts.FSType, source: m.Opts.Source,
			readOnly: m.Opts.ReadOnly, noExec: m.Opts.NoExec,
		})
	}
	return out, nil
}

func (d *taskDir) mounts(vfs.Context) ([]byte, error) {
	ms, err := d.mountEntries()
	if err != nil {
		return nil, err
	}
	return []byte(mountsText(ms)), nil
}

func (d *taskDir) mountinfo(vfs.Context) ([]byte, error) {
	ms, err := d.mountEntries()
	if err != nil {
		return nil, err
	}
	return []byte(mountinfoText(ms)), nil
}

// fdDir is /proc/<pid>/fd (symlinks to the open files) or
// /proc/<pid>/fdinfo (their position and flags).
type fdDir struct {
	node
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
	return &fdDir{node: d.fs.newNode(unix.S_IFDIR|mode, d.owner), td: d, info: info, ents: make(map[int32]vfs.Inode)}
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
		i = d.td.fs.newFile(0o444, d.td.owner, func(ctx vfs.Context) ([]byte, error) { return d.fdinfo(ctx, fd) })
	} else {
		i = d.td.fs.newMagicLink(0o700, d.td.owner,
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
	node
	vfs.ReadOnlyDirDefaults
	td *taskDir

	mu      sync.Mutex
	threads map[kernel.ThreadID]*taskDir
}

var _ vfs.DynamicDirectory = (*taskListDir)(nil)

func (d *taskDir) newTaskListDir() *taskListDir {
	return &taskListDir{node: d.fs.newNode(unix.S_IFDIR|0o555, d.owner), td: d, threads: make(map[kernel.ThreadID]*taskDir)}
}

// DynamicLookup implements vfs.DynamicDirectory.
func (d *taskListDir) DynamicLookup() bool { return true }

func (d *taskListDir) thread(tid kernel.ThreadID) *taskDir {
	d.mu.Lock()
	defer d.mu.Unlock()
	if td := d.threads[tid]; td != nil {
		return td
	}
	td := d.td.fs.newTaskDir(d.td.tg, tid)
	d.threads[tid] = td
	return td
}

// Lookup implements vfs.Inode.Lookup.
func (d *taskListDir) Lookup(_ vfs.Context, name string) (vfs.Inode, error) {
	n, err := strconv.ParseInt(name, 10, 32)
	if err != nil || n <= 0 || strconv.FormatInt(n, 10) != name {
		return nil, unix.ENOENT
	}
	for _, tid := range d.td.tg.TaskIDs() {
		if tid == kernel.ThreadID(n) {
			return d.thread(tid), nil
		}
	}
	return nil, unix.ENOENT
}

// Getdents implements vfs.Inode.Getdents.
func (d *taskListDir) Getdents(vfs.Context) ([]vfs.Dirent, error) {
	tids := d.td.tg.TaskIDs()
	live := make(map[kernel.ThreadID]bool, len(tids))
	var ents []vfs.Dirent
	for _, tid := range tids {
		live[tid] = true
		ents = append(ents, direntOf(strconv.Itoa(int(tid)), d.thread(tid)))
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
