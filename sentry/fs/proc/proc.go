// Package proc implements a read-only procfs for the Sentry: /proc/self,
// /proc/<pid>/... for every live process, and the system-wide files
// programs commonly read (meminfo, cpuinfo, stat, uptime, mounts, a few
// /proc/sys knobs).
//
// Every file's content is generated from the kernel's state when it is
// opened and again whenever it is read from offset 0, so it is never
// stale by more than one read. Directories whose entries come and go
// (/proc, /proc/<pid>/fd, /proc/<pid>/task) implement
// vfs.DynamicDirectory; their Lookup returns the same Inode for the same
// process, fd or thread so that cached dentries stay valid.
//
// Mount it with
//
//	root := proc.New(k, proc.Options{})
//	k.VFS().MountAt(ctx, "/proc", root, vfs.MountOptions{FSType: "proc", Source: "proc"})
package proc

import (
	"runtime"

	"github.com/veil-sandbox/veil/sentry/fs/pseudo"
	"github.com/veil-sandbox/veil/sentry/hostinfo"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/vfs"
)

// Options configure a procfs instance.
type Options struct {
	// Release is /proc/sys/kernel/osrelease; it should match uname's
	// (syscalls.Release). Default "6.1.0-veil".
	Release string
	// Sysctls are the values config.json's linux.sysctl gave the
	// /proc/sys entries that take one (see Sysctls), by dotted name.
	Sysctls map[string]string
	// CPUs are the sandbox's processors (/proc/cpuinfo, /proc/stat);
	// nil means as many as the Sentry may use, described from CPUID.
	CPUs *hostinfo.Info
	// MemoryLimit, if not 0, is the sandbox's memory limit in bytes
	// (its host cgroup's): /proc/meminfo then shows that much memory,
	// used as much as the sandbox uses, as in a machine of that size.
	// Without a limit it shows the host's memory.
	MemoryLimit int64
	// HostMeminfo, if set, reads the host's /proc/meminfo, shown as it
	// is when there is no MemoryLimit (as a container sees it under
	// runc); without it the figures come from sysinfo(2).
	HostMeminfo func() ([]byte, error)
	// OOMScoreAdj is every process's initial oom_score_adj
	// (process.oomScoreAdj of config.json).
	OOMScoreAdj int
	// PIDNamespace is the pid namespace whose processes the instance
	// shows, by their ids there (that of the process that mounted it);
	// nil means the sandbox's initial one.
	PIDNamespace *kernel.PIDNamespace
}

// Sysctls are the /proc/sys entries a container's configuration may set,
// with their defaults: Linux's, except ping_group_range, which is
// systemd's (sentry/netstack's). The network ones are the initial
// network namespace's, whose stack applies them (runsc/boot).
var Sysctls = map[string]string{
	"net.ipv4.ip_unprivileged_port_start": "1024",
	"net.ipv4.ping_group_range":           "0\t2147483647",
}

// filesystem is one procfs instance.
type filesystem struct {
	*pseudo.FS
	k      *kernel.Kernel
	pidns  *kernel.PIDNamespace
	opts   Options
	bootID string
}

// New returns the root directory of a procfs showing k's processes.
func New(k *kernel.Kernel, opts Options) vfs.Inode {
	if opts.Release == "" {
		opts.Release = "6.1.0-veil"
	}
	if opts.PIDNamespace == nil {
		opts.PIDNamespace = k.RootPIDNamespace()
	}
	if opts.CPUs == nil || len(opts.CPUs.CPUs) == 0 {
		opts.CPUs = hostinfo.Synthetic(runtime.NumCPU())
	}
	fs := &filesystem{
		FS:     pseudo.NewFS(pseudo.Options{Magic: vfs.ProcMagic, Blksize: 1024}),
		k:      k,
		pidns:  opts.PIDNamespace,
		opts:   opts,
		bootID: newUUID(),
	}
	return fs.newRoot()
}

// cpus returns the sandbox's processors.
func (fs *filesystem) cpus() *hostinfo.Info { return fs.opts.CPUs }

// Shorter names for the pseudo types procfs uses everywhere.
type (
	staticDir = pseudo.Dir
	file      = pseudo.File
	generator = pseudo.Generator
)

// dirEntry is one entry of a static directory.
type dirEntry struct {
	name  string
	inode vfs.Inode
}

// newDir returns a static directory (mode 0555) of entries.
func (fs *filesystem) newDir(owner pseudo.Owner, entries []dirEntry) *staticDir {
	es := make([]pseudo.Entry, len(entries))
	for i, e := range entries {
		es[i] = pseudo.Entry{Name: e.name, Inode: e.inode}
	}
	return fs.NewDir(owner, es)
}

var (
	direntOf      = pseudo.Dirent
	sortedDirents = pseudo.SortDirents
)

// Compile-time checks.
var (
	_ vfs.DynamicDirectory = (*rootDir)(nil)
	_ vfs.DynamicDirectory = (*fdDir)(nil)
	_ vfs.DynamicDirectory = (*taskListDir)(nil)
)
