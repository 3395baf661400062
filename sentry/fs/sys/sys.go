// Package sys implements the Sentry's sysfs and the cgroup view mounted
// at /sys/fs/cgroup: read-only trees holding what programs read to size
// themselves (CPUs and their topology and caches, NUMA nodes, transparent
// huge pages, the loopback interface, the sandbox's resource limits and
// usage). Nothing here comes from the host's sysfs at run time: the CPUs
// are those of sentry/hostinfo (read at start-up), limits are what runsc
// found on the sandbox's host cgroup, usage is the Sentry's own
// accounting.
//
// What is left out on purpose: /sys/firmware (engines mask it anyway),
// cpufreq (a sandbox cannot change frequencies, and programs treat its
// absence as "unknown"), block devices (the sandbox has none) and every
// writable knob.
//
// Mount them with
//
//	v.MountAt(ctx, "/sys", sys.New(opts), vfs.MountOptions{FSType: "sysfs", Source: "sysfs", ReadOnly: true})
//	v.MountAt(ctx, "/sys/fs/cgroup", sys.NewCgroup(opts), vfs.MountOptions{FSType: "cgroup2", Source: "cgroup2", ReadOnly: true})
package sys

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/veil-sandbox/veil/sentry/fs/pseudo"
	"github.com/veil-sandbox/veil/sentry/hostinfo"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// Limits are the sandbox's resource limits: those of its host cgroup and
// the cgroups above it, as runsc read them before starting the Sentry
// (runsc/cgroup). Zero means no limit.
type Limits struct {
	// MemoryMax is the hard memory limit in bytes (memory.max,
	// memory.limit_in_bytes).
	MemoryMax int64 `json:"memoryMax,omitempty"`
	// MemoryHigh is the throttling limit (memory.high, v2 only).
	MemoryHigh int64 `json:"memoryHigh,omitempty"`
	// MemoryLow and MemoryMin are the protections (v2 only).
	MemoryLow int64 `json:"memoryLow,omitempty"`
	MemoryMin int64 `json:"memoryMin,omitempty"`
	// SwapMax is the swap the sandbox may use beyond MemoryMax; -1
	// means none (v1: memsw limit equal to the memory limit).
	SwapMax int64 `json:"swapMax,omitempty"`
	// CPUQuota is the CPU time in µs the sandbox may use per CPUPeriod
	// (cpu.max, cfs_quota_us).
	CPUQuota  int64  `json:"cpuQuota,omitempty"`
	CPUPeriod uint64 `json:"cpuPeriod,omitempty"`
	// CPUWeight is the v2 weight (1 to 10000, default 100).
	CPUWeight uint64 `json:"cpuWeight,omitempty"`
	// PidsMax is the limit on tasks (pids.max).
	PidsMax int64 `json:"pidsMax,omitempty"`
}

// Source is the sandbox state the cgroup view shows.
type Source interface {
	// MemoryUsage is the memory the sandbox's processes use, in bytes.
	MemoryUsage() uint64
	// Processes and Threads are the ids of the sandbox's live processes
	// and threads, sorted.
	Processes() []int32
	Threads() []int32
	// CPUUsage is the CPU time the sandbox's threads used.
	CPUUsage() (user, system time.Duration)
}

// Options configure a sysfs or cgroup view.
type Options struct {
	// CPUs are the sandbox's processors; nil means hostinfo.Synthetic
	// of one CPU.
	CPUs *hostinfo.Info
	// Limits are shown by the cgroup view.
	Limits Limits
	// Source, if set, gives the cgroup view the sandbox's usage; without
	// it every count is zero.
	Source Source
}

func (o *Options) cpus() *hostinfo.Info {
	if o.CPUs == nil || len(o.CPUs.CPUs) == 0 {
		o.CPUs = hostinfo.Synthetic(1)
	}
	return o.CPUs
}

// tree builds a filesystem's directories from entries.
type tree struct {
	*pseudo.FS
}

// entry is one entry of a sysfs directory.
type entry struct {
	name  string
	inode vfs.Inode
}

// dir returns a directory (0755, as sysfs shows them) of entries.
func (t tree) dir(entries ...entry) *pseudo.Dir {
	es := make([]pseudo.Entry, len(entries))
	for i, e := range entries {
		es[i] = pseudo.Entry{Name: e.name, Inode: e.inode}
	}
	return t.NewDirMode(0o755, nil, es)
}

// line returns a read-only file holding s and a newline.
func (t tree) line(s string) *pseudo.File { return t.Const(s + "\n") }

// New returns the root of a sysfs.
func New(opts Options) vfs.Inode {
	t := tree{pseudo.NewFS(pseudo.Options{Magic: unix.SYSFS_MAGIC, FileSize: 4096})}
	info := opts.cpus()
	return t.dir(
		entry{"block", t.dir()},
		entry{"bus", t.dir()},
		entry{"class", t.dir(
			entry{"net", t.dir(
				entry{"lo", t.FixedLink("../../devices/virtual/net/lo")},
			)},
		)},
		entry{"dev", t.dir(
			entry{"block", t.dir()},
			entry{"char", t.dir()},
		)},
		entry{"devices", t.dir(
			entry{"system", t.dir(
				entry{"cpu", t.cpuDir(info)},
				entry{"node", t.nodeDir(len(info.CPUs))},
			)},
			entry{"virtual", t.dir(
				entry{"net", t.dir(
					entry{"lo", t.loopback()},
				)},
			)},
		)},
		// The mount point of the cgroup view.
		entry{"fs", t.dir(
			entry{"cgroup", t.dir()},
		)},
		entry{"kernel", t.dir(
			entry{"mm", t.dir(
				entry{"transparent_hugepage", t.dir(
					// The Sentry backs application memory with small
					// pages only.
					entry{"defrag", t.line("always defer defer+madvise madvise [never]")},
					entry{"enabled", t.line("always madvise [never]")},
					entry{"hpage_pmd_size", t.line("2097152")},
					entry{"shmem_enabled", t.line("always within_size advise [never] deny force")},
					entry{"use_zero_page", t.line("0")},
				)},
			)},
		)},
		entry{"module", t.dir()},
		entry{"power", t.dir()},
	)
}

// cpuDir is /sys/devices/system/cpu.
func (t tree) cpuDir(info *hostinfo.Info) *pseudo.Dir {
	n := len(info.CPUs)
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	list := t.line(hostinfo.FormatList(all))
	ents := []entry{
		{"isolated", t.line("")},
		// Debian's kernels are built with NR_CPUS=8192.
		{"kernel_max", t.line("8191")},
		{"offline", t.line("")},
		{"online", list},
		{"possible", list},
		{"present", list},
		{"smt", t.dir(
			entry{"active", t.line(boolDigit(smtActive(info)))},
			entry{"control", t.line("notsupported")},
		)},
	}
	var vulns []entry
	names := make([]string, 0, len(info.Vulnerabilities))
	for name := range info.Vulnerabilities {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		vulns = append(vulns, entry{name, t.line(info.Vulnerabilities[name])})
	}
	ents = append(ents, entry{"vulnerabilities", t.dir(vulns...)})
	for i := range info.CPUs {
		ents = append(ents, entry{fmt.Sprintf("cpu%d", i), t.cpu(info, i)})
	}
	return t.dir(ents...)
}

// cpu is /sys/devices/system/cpu/cpuN.
func (t tree) cpu(info *hostinfo.Info, i int) *pseudo.Dir {
	c := &info.CPUs[i]
	n := len(info.CPUs)
	// The sandbox's CPUs that share a level of the topology with c.
	same := func(eq func(o *hostinfo.CPU) bool) []int {
		var ids []int
		for j := range info.CPUs {
			if eq(&info.CPUs[j]) {
				ids = append(ids, j)
			}
		}
		return ids
	}
	pkg := same(func(o *hostinfo.CPU) bool { return o.PackageID == c.PackageID })
	die := same(func(o *hostinfo.CPU) bool { return o.PackageID == c.PackageID && o.DieID == c.DieID })
	cluster := same(func(o *hostinfo.CPU) bool { return o.PackageID == c.PackageID && o.ClusterID == c.ClusterID })
	core := same(func(o *hostinfo.CPU) bool { return o.PackageID == c.PackageID && o.CoreID == c.CoreID })
	pair := func(name string, ids []int) []entry {
		return []entry{
			{name, t.line(hostinfo.FormatMask(ids, n))},
			{name + "_list", t.line(hostinfo.FormatList(ids))},
		}
	}
	topo := []entry{
		{"cluster_id", t.line(fmt.Sprint(c.ClusterID))},
		{"core_id", t.line(fmt.Sprint(c.CoreID))},
		{"die_id", t.line(fmt.Sprint(c.DieID))},
		{"physical_package_id", t.line(fmt.Sprint(c.PackageID))},
	}
	topo = append(topo, pair("cluster_cpus", cluster)...)
	topo = append(topo, pair("core_cpus", core)...)
	topo = append(topo, pair("core_siblings", pkg)...)
	topo = append(topo, pair("die_cpus", die)...)
	topo = append(topo, pair("package_cpus", pkg)...)
	topo = append(topo, pair("thread_siblings", core)...)
	sortEntries(topo)

	var caches []entry
	for k, ca := range c.Caches {
		shared := ca.Shared
		if len(shared) == 0 {
			shared = []int{i}
		}
		caches = append(caches, entry{fmt.Sprintf("index%d", k), t.dir(
			entry{"coherency_line_size", t.line(fmt.Sprint(ca.CoherencyLineSize))},
			entry{"id", t.line(fmt.Sprint(ca.ID))},
			entry{"level", t.line(fmt.Sprint(ca.Level))},
			entry{"number_of_sets", t.line(fmt.Sprint(ca.NumberOfSets))},
			entry{"physical_line_partition", t.line(fmt.Sprint(ca.PhysicalLinePartiton))},
			entry{"shared_cpu_list", t.line(hostinfo.FormatList(shared))},
			entry{"shared_cpu_map", t.line(hostinfo.FormatMask(shared, n))},
			entry{"size", t.line(ca.Size)},
			entry{"type", t.line(ca.Type)},
			entry{"ways_of_associativity", t.line(fmt.Sprint(ca.WaysOfAssociativity))},
		)})
	}
	return t.dir(
		entry{"cache", t.dir(caches...)},
		entry{"node0", t.FixedLink("../../node/node0")},
		entry{"online", t.line("1")},
		entry{"topology", t.dir(topo...)},
	)
}

// nodeDir is /sys/devices/system/node: one NUMA node with every CPU (the
// Sentry does not place memory per node).
func (t tree) nodeDir(n int) *pseudo.Dir {
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	var node0 []entry
	for i := 0; i < n; i++ {
		node0 = append(node0, entry{fmt.Sprintf("cpu%d", i), t.FixedLink(fmt.Sprintf("../../cpu/cpu%d", i))})
	}
	node0 = append(node0,
		entry{"cpulist", t.line(hostinfo.FormatList(all))},
		entry{"cpumap", t.line(hostinfo.FormatMask(all, n))},
		entry{"distance", t.line("10")},
	)
	sortEntries(node0)
	return t.dir(
		entry{"has_cpu", t.line("0")},
		entry{"has_memory", t.line("0")},
		entry{"has_normal_memory", t.line("0")},
		entry{"node0", t.dir(node0...)},
		entry{"online", t.line("0")},
		entry{"possible", t.line("0")},
	)
}

// loopback is /sys/devices/virtual/net/lo, the attributes of the
// sandbox's loopback interface (its only one without a network).
func (t tree) loopback() *pseudo.Dir {
	zeroMAC := "00:00:00:00:00:00"
	return t.dir(
		entry{"addr_assign_type", t.line("0")},
		entry{"addr_len", t.line("6")},
		entry{"address", t.line(zeroMAC)},
		entry{"broadcast", t.line(zeroMAC)},
		entry{"carrier", t.line("1")},
		entry{"dev_id", t.line("0x0")},
		entry{"dev_port", t.line("0")},
		entry{"flags", t.line("0x9")}, // IFF_UP|IFF_LOOPBACK
		entry{"ifindex", t.line("1")},
		entry{"iflink", t.line("1")},
		entry{"link_mode", t.line("0")},
		entry{"mtu", t.line("65536")},
		entry{"name_assign_type", t.line("0")},
		entry{"operstate", t.line("unknown")},
		entry{"tx_queue_len", t.line("1000")},
		entry{"type", t.line("772")}, // ARPHRD_LOOPBACK
		entry{"uevent", t.line("INTERFACE=lo\nIFINDEX=1")},
	)
}

func smtActive(info *hostinfo.Info) bool {
	seen := map[[2]int]bool{}
	for _, c := range info.CPUs {
		k := [2]int{c.PackageID, c.CoreID}
		if seen[k] {
			return true
		}
		seen[k] = true
	}
	return false
}

func boolDigit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func sortEntries(es []entry) {
	sort.Slice(es, func(i, j int) bool { return es[i].name < es[j].name })
}

// KernelSource is the Source of a sandbox's kernel.
func KernelSource(k *kernel.Kernel) Source { return kernelSource{k} }

type kernelSource struct{ k *kernel.Kernel }

// MemoryUsage is the memory file in use: all application memory (private
// pages, file caches, tmpfs contents).
func (s kernelSource) MemoryUsage() uint64 { return uint64(s.k.MF.InUse()) }

func (s kernelSource) Processes() []int32 {
	var out []int32
	for _, id := range s.k.ThreadGroupIDs() {
		if tg := s.k.ThreadGroupByID(id); tg != nil && len(tg.TaskIDs()) > 0 {
			out = append(out, int32(id))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func (s kernelSource) Threads() []int32 {
	var out []int32
	for _, id := range s.k.ThreadGroupIDs() {
		if tg := s.k.ThreadGroupByID(id); tg != nil {
			for _, tid := range tg.TaskIDs() {
				out = append(out, int32(tid))
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// CPUUsage is zero until the kernel accounts CPU time.
// TODO(time/limits): read the kernel's utime/stime accessors once they
// exist.
func (s kernelSource) CPUUsage() (time.Duration, time.Duration) { return 0, 0 }

// joinLines joins ids one per line, as cgroup.procs lists them.
func joinLines(ids []int32) string {
	var b strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&b, "%d\n", id)
	}
	return b.String()
}
