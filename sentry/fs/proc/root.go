package proc

import (
	"crypto/rand"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// rootDir is /proc: the system-wide entries plus one directory per live
// process.
type rootDir struct {
	*staticDir
	fs *filesystem

	mu    sync.Mutex
	procs map[kernel.ThreadID]*taskDir
}

func (fs *filesystem) newRoot() *rootDir {
	self := fs.NewSymlink(0o777, nil, func(ctx vfs.Context) (string, error) {
		pid := ctx.ProcessID()
		if t, ok := ctx.(*kernel.Task); ok {
			pid = int32(fs.pidns.IDOfThreadGroup(t.ThreadGroup()))
		}
		if pid <= 0 {
			return "", unix.ENOENT
		}
		return strconv.Itoa(int(pid)), nil
	})
	threadSelf := fs.NewSymlink(0o777, nil, func(ctx vfs.Context) (string, error) {
		t, ok := ctx.(*kernel.Task)
		if !ok {
			return "", unix.ENOENT
		}
		pid, tid := fs.pidns.IDOfThreadGroup(t.ThreadGroup()), fs.pidns.IDOfTask(t)
		if pid == 0 || tid == 0 {
			return "", unix.ENOENT
		}
		return fmt.Sprintf("%d/task/%d", pid, tid), nil
	})
	ro := func(s string) *file { return fs.Text(func() string { return s }) }
	sysctl := func(name string) *file {
		v, ok := fs.opts.Sysctls[name]
		if !ok {
			v = strings.ReplaceAll(Sysctls[name], "\\t", "\t")
		}
		return ro(v + "\n")
	}
	sysKernel := fs.newDir(nil, sortedEntries(append([]dirEntry{
		{"cap_last_cap", ro("40\n")},
		{"core_pattern", ro("core\n")},
		{"domainname", fs.utsFile(true)},
		{"hostname", fs.utsFile(false)},
		{"ngroups_max", ro("65536\n")},
		{"osrelease", ro(fs.opts.Release + "\n")},
		{"ostype", ro("Linux\n")},
		{"overflowgid", ro("65534\n")},
		{"overflowuid", ro("65534\n")},
		{"panic", ro("0\n")},
		{"perf_event_paranoid", ro("2\n")},
		{"pid_max", ro("4194304\n")},
		{"random", fs.newDir(nil, []dirEntry{
			{"boot_id", ro(fs.bootID + "\n")},
			{"entropy_avail", ro("256\n")},
			{"poolsize", ro("256\n")},
			{"uuid", fs.Text(func() string { return newUUID() + "\n" })},
		})},
		// The Sentry lays out address spaces without randomisation.
		{"randomize_va_space", ro("0\n")},
		{"tainted", ro("0\n")},
		{"threads-max", ro("4194304\n")},
		{"version", ro("#1 SMP Veil\n")},
		// Classic ptrace permissions: a process may trace what it could
		// signal (ptrace(2)).
		{"yama", fs.newDir(nil, []dirEntry{
			{"ptrace_scope", ro("0\n")},
		})},
	}, fs.ipcSysctls()...)))
	sys := fs.newDir(nil, []dirEntry{
		{"fs", fs.newDir(nil, []dirEntry{
			{"file-max", ro("9223372036854775807\n")},
			{"file-nr", fs.Text(fs.fileNr)},
			// inotify(7)'s default limits.
			{"inotify", fs.newDir(nil, []dirEntry{
				{"max_queued_events", ro("16384\n")},
				{"max_user_instances", ro("128\n")},
				{"max_user_watches", ro("65536\n")},
			})},
			{"mqueue", fs.mqueueSysctls()},
			{"nr_open", ro(strconv.Itoa(vfs.MaxFDLimit) + "\n")},
			{"pipe-max-size", ro("1048576\n")},
			{"pipe-user-pages-hard", ro("0\n")},
			{"pipe-user-pages-soft", ro("16384\n")},
		})},
		{"kernel", sysKernel},
		{"net", fs.newDir(nil, []dirEntry{
			{"core", fs.newDir(nil, []dirEntry{
				{"somaxconn", ro("4096\n")},
			})},
			{"ipv4", fs.newDir(nil, []dirEntry{
				{"ip_unprivileged_port_start", sysctl("net.ipv4.ip_unprivileged_port_start")},
				{"ping_group_range", sysctl("net.ipv4.ping_group_range")},
			})},
		})},
		{"vm", fs.newDir(nil, []dirEntry{
			{"max_map_count", ro("65530\n")},
			{"mmap_min_addr", ro("65536\n")},
			{"nr_hugepages", ro("0\n")},
			{"overcommit_memory", ro("0\n")},
			{"overcommit_ratio", ro("50\n")},
			{"swappiness", ro("60\n")},
		})},
	})
	entries := []dirEntry{
		// Controllers of the cgroup v2 view (hierarchy 0).
		{"cgroups", ro("#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpuset\t0\t1\t1\ncpu\t0\t1\t1\nmemory\t0\t1\t1\npids\t0\t1\t1\n")},
		{"cpuinfo", ro(cpuinfoText(fs.cpus()))},
		{"filesystems", ro(filesystemsText)},
		{"loadavg", fs.Text(fs.loadavg)},
		{"meminfo", fs.Text(func() string { return meminfoText(fs.memInfo()) })},
		{"mounts", fs.NewSymlink(0o777, nil, func(vfs.Context) (string, error) { return "self/mounts", nil })},
		{"net", fs.newNetDir()},
		{"self", self},
		{"stat", fs.Text(fs.stat)},
		{"swaps", ro("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n")},
		{"sys", sys},
		{"sysvipc", fs.sysvipcDir()},
		{"thread-self", threadSelf},
		{"uptime", fs.Text(fs.uptime)},
		{"version", ro("Linux version " + fs.opts.Release + " (veil) #1 SMP Veil\n")},
		{"vmstat", fs.Text(func() string { return vmstatText(fs.memInfo()) })},
	}
	return &rootDir{staticDir: fs.newDir(nil, entries), fs: fs, procs: make(map[kernel.ThreadID]*taskDir)}
}

// DynamicLookup implements vfs.DynamicDirectory.
func (r *rootDir) DynamicLookup() bool { return true }

// liveGroup returns the live process with id id in ns, or nil.
func liveGroup(ns *kernel.PIDNamespace, id kernel.ThreadID) *kernel.ThreadGroup {
	tg := ns.ThreadGroupWithID(id)
	if tg == nil || len(tg.TaskIDs()) == 0 {
		return nil
	}
	return tg
}

// procDir returns the (cached) directory of process tg.
func (r *rootDir) procDir(tg *kernel.ThreadGroup) *taskDir {
	r.mu.Lock()
	defer r.mu.Unlock()
	if d := r.procs[tg.ID()]; d != nil && d.tg == tg {
		return d
	}
	d := r.fs.newTaskDir(tg, 0, nil)
	r.procs[tg.ID()] = d
	return d
}

// prune forgets the directories of processes that are gone.
func (r *rootDir) prune(live map[kernel.ThreadID]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id := range r.procs {
		if !live[id] {
			delete(r.procs, id)
		}
	}
}

// Lookup implements vfs.Inode.Lookup.
func (r *rootDir) Lookup(ctx vfs.Context, name string) (vfs.Inode, error) {
	if i, err := r.staticDir.Lookup(ctx, name); err == nil {
		return i, nil
	}
	id, err := strconv.ParseInt(name, 10, 32)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != name {
		return nil, unix.ENOENT
	}
	tg := liveGroup(r.fs.pidns, kernel.ThreadID(id))
	if tg == nil {
		return nil, unix.ENOENT
	}
	return r.procDir(tg), nil
}

// Getdents implements vfs.Inode.Getdents.
func (r *rootDir) Getdents(ctx vfs.Context) ([]vfs.Dirent, error) {
	ents, _ := r.staticDir.Getdents(ctx)
	live := make(map[kernel.ThreadID]bool)
	for _, id := range r.fs.pidns.ThreadGroupIDs() {
		tg := liveGroup(r.fs.pidns, id)
		if tg == nil {
			continue
		}
		live[tg.ID()] = true
		ents = append(ents, direntOf(strconv.Itoa(int(id)), r.procDir(tg)))
	}
	r.prune(live)
	return ents, nil
}

// newUUID returns a random version 4 UUID.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// memInfo gathers /proc/meminfo's figures: the sandbox's own within its
// memory limit, else the host's.
func (fs *filesystem) memInfo() memInfo {
	var si unix.Sysinfo_t
	unix.Sysinfo(&si)
	unit := uint64(max(si.Unit, 1))
	host := memInfo{
		total: si.Totalram * unit, free: si.Freeram * unit, buffers: si.Bufferram * unit,
		shmem: si.Sharedram * unit, swapTotal: si.Totalswap * unit, swapFree: si.Freeswap * unit,
	}
	host.available = host.free + host.buffers
	host.anon = host.total - host.free - host.buffers
	if limit := uint64(fs.opts.MemoryLimit); limit > 0 && (limit < host.total || host.total == 0) {
		used := min(uint64(fs.k.MF.InUse()), limit)
		return memInfo{total: limit, free: limit - used, available: limit - used, anon: used}
	}
	if fs.opts.HostMeminfo != nil {
		if text, err := fs.opts.HostMeminfo(); err == nil {
			parseMeminfo(string(text), &host)
		}
	}
	return host
}

// parseMeminfo takes the host's figures from its /proc/meminfo text.
func parseMeminfo(text string, m *memInfo) {
	for _, line := range strings.Split(text, "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			continue
		}
		n *= 1024
		switch name {
		case "MemTotal":
			m.total = n
		case "MemFree":
			m.free = n
		case "MemAvailable":
			m.available = n
		case "Buffers":
			m.buffers = n
		case "Cached":
			m.cached = n
		case "Shmem":
			m.shmem = n
		case "AnonPages":
			m.anon = n
		case "SwapTotal":
			m.swapTotal = n
		case "SwapFree":
			m.swapFree = n
		}
	}
}

func (fs *filesystem) uptime() string {
	up := fs.k.Uptime().Seconds()
	return fmt.Sprintf("%.2f %.2f\n", up, up*float64(len(fs.cpus().CPUs)))
}

// threads counts the live threads and finds the highest thread id.
func (fs *filesystem) threads() (n int, last kernel.ThreadID) {
	k := fs.k
	for _, id := range k.ThreadGroupIDs() {
		if tg := k.ThreadGroupByID(id); tg != nil {
			for _, tid := range tg.TaskIDs() {
				n++
				last = max(last, tid)
			}
		}
	}
	return n, last
}

// loadavg shows no load (the Sentry keeps no run queue averages), the
// thread count and the last pid handed out.
func (fs *filesystem) loadavg() string {
	n, last := fs.threads()
	return fmt.Sprintf("0.00 0.00 0.00 1/%d %d\n", max(n, 1), last)
}

// fileNr is /proc/sys/fs/file-nr: descriptors open, unused (always 0
// since Linux 2.6), and the maximum.
func (fs *filesystem) fileNr() string {
	open := 0
	for _, id := range fs.k.ThreadGroupIDs() {
		if t := fs.k.TaskByTID(id); t != nil {
			if fdt := t.FDTable(); fdt != nil {
				open += fdt.Count()
			}
		}
	}
	return fmt.Sprintf("%d\t0\t9223372036854775807\n", open)
}

func (fs *filesystem) stat() string {
	k := fs.k
	// Thread ids are handed out in order, so the last one counts the
	// forks since boot.
	_, last := fs.threads()
	return statText(len(fs.cpus().CPUs), k.Uptime(), k.BootTime().Unix(), int(last), 1)
}
