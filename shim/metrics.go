package shim

import (
	v1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	v2 "github.com/containerd/cgroups/v3/cgroup2/stats"
	"github.com/veil-sandbox/veil/runsc/cgroup"
	"golang.org/x/sys/unix"
)

// unifiedCgroups reports whether the host runs cgroup v2 only, which
// decides the metrics type containerd expects (ctr task metrics prints
// either).
func unifiedCgroups() bool {
	var st unix.Statfs_t
	return unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// metricsV1 converts the sandbox cgroup's stats to containerd's cgroup v1
// metrics. The whole sandbox is accounted: the Sentry's memory is the
// container's.
func metricsV1(s *cgroup.Stats) *v1.Metrics {
	raw := s.Memory.Raw
	entry := func(e cgroup.MemoryEntry) *v1.MemoryEntry {
		return &v1.MemoryEntry{Limit: e.Limit, Usage: e.Usage, Max: e.Max, Failcnt: e.Failcnt}
	}
	return &v1.Metrics{
		Pids: &v1.PidsStat{Current: s.Pids.Current, Limit: s.Pids.Limit},
		CPU: &v1.CPUStat{
			Usage: &v1.CPUUsage{Total: s.CPU.Usage.Total, Kernel: s.CPU.Usage.Kernel, User: s.CPU.Usage.User, PerCPU: s.CPU.Usage.Percpu},
			Throttling: &v1.Throttle{Periods: s.CPU.Throttling.Periods, ThrottledPeriods: s.CPU.Throttling.ThrottledPeriods,
				ThrottledTime: s.CPU.Throttling.ThrottledTime},
		},
		Memory: &v1.MemoryStat{
			Cache: s.Memory.Cache, RSS: raw["rss"], RSSHuge: raw["rss_huge"], MappedFile: raw["mapped_file"],
			Dirty: raw["dirty"], Writeback: raw["writeback"], PgPgIn: raw["pgpgin"], PgPgOut: raw["pgpgout"],
			PgFault: raw["pgfault"], PgMajFault: raw["pgmajfault"], InactiveAnon: raw["inactive_anon"],
			ActiveAnon: raw["active_anon"], InactiveFile: raw["inactive_file"], ActiveFile: raw["active_file"],
			Unevictable: raw["unevictable"], HierarchicalMemoryLimit: raw["hierarchical_memory_limit"],
			HierarchicalSwapLimit: raw["hierarchical_memsw_limit"], TotalCache: raw["total_cache"],
			TotalRSS: raw["total_rss"], TotalRSSHuge: raw["total_rss_huge"], TotalMappedFile: raw["total_mapped_file"],
			TotalDirty: raw["total_dirty"], TotalWriteback: raw["total_writeback"], TotalPgPgIn: raw["total_pgpgin"],
			TotalPgPgOut: raw["total_pgpgout"], TotalPgFault: raw["total_pgfault"], TotalPgMajFault: raw["total_pgmajfault"],
			TotalInactiveAnon: raw["total_inactive_anon"], TotalActiveAnon: raw["total_active_anon"],
			TotalInactiveFile: raw["total_inactive_file"], TotalActiveFile: raw["total_active_file"],
			TotalUnevictable: raw["total_unevictable"],
			Usage:            entry(s.Memory.Usage), Swap: entry(s.Memory.Swap), Kernel: entry(s.Memory.Kernel), KernelTCP: entry(s.Memory.KernelTCP),
		},
	}
}

// metricsV2 converts them to containerd's cgroup v2 metrics.
func metricsV2(s *cgroup.Stats) *v2.Metrics {
	raw := s.Memory.Raw
	return &v2.Metrics{
		Pids: &v2.PidsStat{Current: s.Pids.Current, Limit: s.Pids.Limit},
		CPU: &v2.CPUStat{
			UsageUsec: s.CPU.Usage.Total / 1000, UserUsec: s.CPU.Usage.User / 1000, SystemUsec: s.CPU.Usage.Kernel / 1000,
			NrPeriods: s.CPU.Throttling.Periods, NrThrottled: s.CPU.Throttling.ThrottledPeriods,
			ThrottledUsec: s.CPU.Throttling.ThrottledTime / 1000,
		},
		Memory: &v2.MemoryStat{
			Anon: raw["anon"], File: raw["file"], KernelStack: raw["kernel_stack"], Slab: raw["slab"],
			Sock: raw["sock"], Shmem: raw["shmem"], FileMapped: raw["file_mapped"], FileDirty: raw["file_dirty"],
			Usage: s.Memory.Usage.Usage, UsageLimit: s.Memory.Usage.Limit,
			SwapUsage: s.Memory.Swap.Usage, SwapLimit: s.Memory.Swap.Limit, MaxUsage: s.Memory.Usage.Max,
		},
	}
}
