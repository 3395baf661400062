package sys

// The cgroup view: what a container sees at /sys/fs/cgroup with a private
// cgroup namespace on a cgroup v2 host, whatever the host's cgroup version.
//
// v2 because it is one hierarchy whose root is the container's cgroup
// (/proc/self/cgroup reads "0::/"), which is what current runtimes give
// containers (docker and podman on cgroup v2 hosts, Kubernetes) and what
// current readers look for first: Go's runtime (GOMAXPROCS from cpu.max),
// the JVM, .NET, Python's os.process_cpu_count and systemd all read v2
// and fall back to v1. A v1 view would need one mount per controller and
// a /proc/self/cgroup line per hierarchy to say the same thing.
//
// The files are read-only: limits are the host cgroup's (runsc sets them
// there, so writing them here could not change them), and no controller
// can be delegated below the sandbox.

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/veil-sandbox/veil/sentry/fs/pseudo"
	"github.com/veil-sandbox/veil/sentry/hostinfo"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// defaultCPUPeriod is cpu.max's period when none is set (µs).
const defaultCPUPeriod = 100000

// NewCgroup returns the root of the cgroup view: the sandbox's cgroup,
// with the cpu, cpuset, memory and pids controllers.
func NewCgroup(opts Options) vfs.Inode {
	t := tree{pseudo.NewFS(pseudo.Options{Magic: unix.CGROUP2_SUPER_MAGIC})}
	l := opts.Limits
	src := opts.Source
	if src == nil {
		src = noSource{}
	}
	all := make([]int, len(opts.cpus().CPUs))
	for i := range all {
		all[i] = i
	}
	text := func(fn func() string) *pseudo.File { return t.Text(fn) }
	return t.dir(
		entry{"cgroup.controllers", t.line("cpuset cpu memory pids")},
		entry{"cgroup.events", text(func() string {
			return fmt.Sprintf("populated %d\nfrozen 0\n", min(len(src.Processes()), 1))
		})},
		entry{"cgroup.freeze", t.line("0")},
		entry{"cgroup.max.depth", t.line("max")},
		entry{"cgroup.max.descendants", t.line("max")},
		entry{"cgroup.procs", text(func() string { return joinLines(src.Processes()) })},
		entry{"cgroup.stat", t.line("nr_descendants 0\nnr_dying_descendants 0")},
		entry{"cgroup.subtree_control", t.line("")},
		entry{"cgroup.threads", text(func() string { return joinLines(src.Threads()) })},
		entry{"cgroup.type", t.line("domain")},
		entry{"cpu.max", t.line(cpuMax(l))},
		entry{"cpu.stat", text(func() string {
			user, system := src.CPUUsage()
			u, s := user.Microseconds(), system.Microseconds()
			return fmt.Sprintf("usage_usec %d\nuser_usec %d\nsystem_usec %d\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\nnr_bursts 0\nburst_usec 0\n", u+s, u, s)
		})},
		entry{"cpu.weight", t.line(strconv.FormatUint(orDefault(l.CPUWeight, 100), 10))},
		entry{"cpu.weight.nice", t.line(strconv.Itoa(weightToNice(orDefault(l.CPUWeight, 100))))},
		entry{"cpuset.cpus", t.line("")},
		entry{"cpuset.cpus.effective", t.line(hostinfo.FormatList(all))},
		entry{"cpuset.mems", t.line("")},
		entry{"cpuset.mems.effective", t.line("0")},
		entry{"memory.current", text(func() string { return fmt.Sprintf("%d\n", src.MemoryUsage()) })},
		entry{"memory.events", t.line("low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0")},
		entry{"memory.high", t.line(maxOr(l.MemoryHigh))},
		entry{"memory.low", t.line(strconv.FormatInt(l.MemoryLow, 10))},
		entry{"memory.max", t.line(maxOr(l.MemoryMax))},
		entry{"memory.min", t.line(strconv.FormatInt(l.MemoryMin, 10))},
		entry{"memory.oom.group", t.line("0")},
		entry{"memory.stat", text(func() string { return memoryStat(src.MemoryUsage()) })},
		entry{"memory.swap.current", t.line("0")},
		entry{"memory.swap.max", t.line(swapMax(l.SwapMax))},
		entry{"pids.current", text(func() string { return fmt.Sprintf("%d\n", len(src.Threads())) })},
		entry{"pids.max", t.line(maxOr(l.PidsMax))},
	)
}

// cpuMax renders cpu.max: "$QUOTA $PERIOD", the quota "max" without one.
func cpuMax(l Limits) string {
	period := orDefault(l.CPUPeriod, defaultCPUPeriod)
	if l.CPUQuota <= 0 {
		return fmt.Sprintf("max %d", period)
	}
	return fmt.Sprintf("%d %d", l.CPUQuota, period)
}

func maxOr(v int64) string {
	if v <= 0 {
		return "max"
	}
	return strconv.FormatInt(v, 10)
}

func swapMax(v int64) string {
	switch {
	case v < 0:
		return "0"
	case v == 0:
		return "max"
	}
	return strconv.FormatInt(v, 10)
}

func orDefault(v, def uint64) uint64 {
	if v == 0 {
		return def
	}
	return v
}

// weightToNice inverts Linux's nice-to-weight table the way
// cpu.weight.nice reads (the nice value whose weight is closest).
func weightToNice(w uint64) int {
	// sched_prio_to_weight scaled to cgroup weights (1024 -> 100).
	weights := []uint64{88761, 71755, 56483, 46273, 36291, 29154, 23254, 18705, 14949, 11916,
		9548, 7620, 6100, 4904, 3906, 3121, 2501, 1991, 1586, 1277,
		1024, 820, 655, 526, 423, 335, 272, 215, 172, 137,
		110, 87, 70, 56, 45, 36, 29, 23, 18, 15}
	target := w * 1024 / 100
	best, bestDiff := 0, ^uint64(0)
	for i, x := range weights {
		d := x - target
		if target > x {
			d = target - x
		}
		if d < bestDiff {
			best, bestDiff = i, d
		}
	}
	return best - 20
}

// memoryStat renders memory.stat: all of the sandbox's memory counts as
// anonymous (the memory file does not tell page cache from process
// memory).
func memoryStat(anon uint64) string {
	var b strings.Builder
	for _, kv := range []struct {
		k string
		v uint64
	}{
		{"anon", anon}, {"file", 0}, {"kernel", 0}, {"kernel_stack", 0}, {"pagetables", 0},
		{"sec_pagetables", 0}, {"percpu", 0}, {"sock", 0}, {"vmalloc", 0}, {"shmem", 0},
		{"file_mapped", 0}, {"file_dirty", 0}, {"file_writeback", 0}, {"swapcached", 0},
		{"anon_thp", 0}, {"file_thp", 0}, {"shmem_thp", 0}, {"inactive_anon", 0}, {"active_anon", anon},
		{"inactive_file", 0}, {"active_file", 0}, {"unevictable", 0}, {"slab_reclaimable", 0},
		{"slab_unreclaimable", 0}, {"slab", 0}, {"pgfault", 0}, {"pgmajfault", 0},
	} {
		fmt.Fprintf(&b, "%s %d\n", kv.k, kv.v)
	}
	return b.String()
}

// noSource is the Source of a view without a sandbox behind it.
type noSource struct{}

func (noSource) MemoryUsage() uint64 { return 0 }
func (noSource) Processes() []int32  { return nil }
func (noSource) Threads() []int32    { return nil }
func (noSource) CPUUsage() (user, system time.Duration) {
	return 0, 0
}
