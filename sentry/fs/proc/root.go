package proc

import (
	"crypto/rand"
	"fmt"
	"runtime"
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
	k := fs.k
	self := fs.newSymlink(0o777, nil, func(ctx vfs.Context) (string, error) {
		pid := ctx.ProcessID()
		if pid <= 0 {
			return "", unix.ENOENT
		}
		return strconv.Itoa(int(pid)), nil
	})
	threadSelf := fs.newSymlink(0o777, nil, func(ctx vfs.Context) (string, error) {
		t, ok := ctx.(*kernel.Task)
		if !ok {
			return "", unix.ENOENT
		}
		return fmt.Sprintf("%d/task/%d", t.ThreadGroup().ID(), t.ThreadID()), nil
	})
	ro := func(s string) *file { return fs.textFile(func() string { return s }) }
	sysctl := func(name string) *file {
		v, ok := fs.opts.Sysctls[name]
		if !ok {
			v = strings.ReplaceAll(Sysctls[name], "\\t", "\t")
		}
		return ro(v + "\n")
	}
	sysKernel := fs.newStaticDir(nil, []dirEntry{
		{"cap_last_cap", ro("40\n")},
		{"domainname", fs.textFile(func() string { _, d := k.UTSName(); return d + "\n" })},
		{"hostname", fs.textFile(func() string { h, _ := k.UTSName(); return h + "\n" })},
		{"ngroups_max", ro("65536\n")},
		{"osrelease", ro(fs.opts.Release + "\n")},
		{"ostype", ro("Linux\n")},
		{"overflowgid", ro("65534\n")},
		{"overflowuid", ro("65534\n")},
		{"pid_max", ro("4194304\n")},
		{"random", fs.newStaticDir(nil, []dirEntry{
			{"boot_id", ro(fs.bootID + "\n")},
			{"uuid", fs.textFile(func() string { return newUUID() + "\n" })},
		})},
		{"threads-max", ro("4194304\n")},
		{"version", ro("#1 SMP Veil\n")},
	})
	sys := fs.newStaticDir(nil, []dirEntry{
		{"fs", fs.newStaticDir(nil, []dirEntry{
			{"file-max", ro("9223372036854775807\n")},
			{"nr_open", ro(strconv.Itoa(vfs.MaxFDLimit) + "\n")},
			{"pipe-max-size", ro("1048576\n")},
		})},
		{"kernel", sysKernel},
		{"net", fs.newStaticDir(nil, []dirEntry{
			{"core", fs.newStaticDir(nil, []dirEntry{
				{"somaxconn", ro("4096\n")},
			})},
			{"ipv4", fs.newStaticDir(nil, []dirEntry{
				{"ip_unprivileged_port_start", sysctl("net.ipv4.ip_unprivileged_port_start")},
				{"ping_group_range", sysctl("net.ipv4.ping_group_range")},
			})},
		})},
		{"vm", fs.newStaticDir(nil, []dirEntry{
			{"max_map_count", ro("65530\n")},
			{"mmap_min_addr", ro("65536\n")},
			{"overcommit_memory", ro("0\n")},
		})},
	})
	entries := []dirEntry{
		{"cpuinfo", fs.textFile(func() string { return cpuinfoText(runtime.NumCPU(), cpuFlags()) })},
		{"filesystems", ro(filesystemsText)},
		{"loadavg", fs.textFile(fs.loadavg)},
		{"meminfo", fs.textFile(meminfo)},
		{"mounts", fs.newSymlink(0o777, nil, func(vfs.Context) (string, error) { return "self/mounts", nil })},
		{"net", fs.newNetDir()},
		{"self", self},
		{"stat", fs.textFile(fs.stat)},
		{"sys", sys},
		{"thread-self", threadSelf},
		{"uptime", fs.textFile(fs.uptime)},
		{"version", ro("Linux version " + fs.opts.Release + " (veil) #1 SMP Veil\n")},
	}
	return &rootDir{staticDir: fs.newStaticDir(nil, entries), fs: fs, procs: make(map[kernel.ThreadID]*taskDir)}
}

// DynamicLookup implements vfs.DynamicDirectory.
func (r *rootDir) DynamicLookup() bool { return true }

// liveGroup returns the live process id, or nil.
func liveGroup(k *kernel.Kernel, id kernel.ThreadID) *kernel.ThreadGroup {
	tg := k.ThreadGroupByID(id)
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
	d := r.fs.newTaskDir(tg, 0)
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
	tg := liveGroup(r.fs.k, kernel.ThreadID(id))
	if tg == nil {
		return nil, unix.ENOENT
	}
	return r.procDir(tg), nil
}

// Getdents implements vfs.Inode.Getdents.
func (r *rootDir) Getdents(ctx vfs.Context) ([]vfs.Dirent, error) {
	ents, _ := r.staticDir.Getdents(ctx)
	live := make(map[kernel.ThreadID]bool)
	for _, id := range r.fs.k.ThreadGroupIDs() {
		tg := liveGroup(r.fs.k, id)
		if tg == nil {
			continue
		}
		live[id] = true
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

func meminfo() string {
	var si unix.Sysinfo_t
	unix.Sysinfo(&si)
	unit := uint64(si.Unit)
	if unit == 0 {
		unit = 1
	}
	return meminfoText(si.Totalram*unit, si.Freeram*unit, si.Bufferram*unit, si.Totalswap*unit, si.Freeswap*unit)
}

func (fs *filesystem) uptime() string {
	up := fs.k.Uptime().Seconds()
	return fmt.Sprintf("%.2f %.2f\n", up, up*float64(runtime.NumCPU()))
}

func (fs *filesystem) loadavg() string {
	k := fs.k
	ids := k.ThreadGroupIDs()
	threads := 0
	var last kernel.ThreadID
	for _, id := range ids {
		if tg := k.ThreadGroupByID(id); tg != nil {
			for _, tid := range tg.TaskIDs() {
				threads++
				last = max(last, tid)
			}
		}
	}
	return fmt.Sprintf("0.00 0.00 0.00 1/%d %d\n", max(threads, 1), last)
}

func (fs *filesystem) stat() string {
	k := fs.k
	procs := 0
	for _, id := range k.ThreadGroupIDs() {
		if tg := k.ThreadGroupByID(id); tg != nil {
			procs += len(tg.TaskIDs())
		}
	}
	return statText(runtime.NumCPU(), k.Uptime(), k.BootTime().Unix(), procs)
}
