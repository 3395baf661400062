package cgroup

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/opencontainers/cgroups"
)

// Limits are the limits a cgroup's processes live under: the tightest of
// the cgroup's own and its ancestors' (a docker -m container under a
// memory-limited systemd slice gets the smaller). Zero means no limit.
// The Sentry shows them to the application (/sys/fs/cgroup,
// /proc/meminfo), so that programs sizing themselves from them (the Go
// runtime, the JVM, databases) see what the host will enforce.
type Limits struct {
	MemoryMax, MemoryHigh int64 // bytes
	MemoryLow, MemoryMin  int64 // the cgroup's own (protections)
	// SwapMax is the swap allowed beyond MemoryMax; -1 means none.
	SwapMax int64
	// CPUQuota µs of CPU time per CPUPeriod µs.
	CPUQuota  int64
	CPUPeriod uint64
	// CPUWeight is the cgroup's own v2 weight (v1 shares converted).
	CPUWeight uint64
	PidsMax   int64
}

// Limits reads the cgroup's effective limits. Files that cannot be read
// count as no limit.
func (c *Cgroup) Limits() Limits {
	return readLimits(c.paths, c.v2)
}

// OwnLimits reads the effective limits of the calling process's own
// cgroups (runsc do runs the sandbox in the caller's cgroup).
func OwnLimits() Limits {
	if cgroups.IsCgroup2UnifiedMode() {
		own, err := cgroups.ParseCgroupFile("/proc/self/cgroup")
		if err != nil {
			return Limits{}
		}
		return readLimits(map[string]string{"": filepath.Join(unifiedMountpoint, own[""])}, true)
	}
	paths := map[string]string{}
	for _, ctrl := range []string{"memory", "cpu", "pids"} {
		if p, err := cgroups.GetOwnCgroupPath(ctrl); err == nil {
			paths[ctrl] = p
		}
	}
	return readLimits(paths, false)
}

const unifiedMountpoint = "/sys/fs/cgroup"

// noLimit is where v1 memory limits mean none (PAGE_COUNTER_MAX pages
// rounded, as memory.limit_in_bytes shows it).
const noLimit = int64(1) << 62

func readLimits(paths map[string]string, v2 bool) Limits {
	var l Limits
	if v2 {
		dir := paths[""]
		if dir == "" {
			return l
		}
		l.MemoryMax = minAncestors(dir, "memory.max")
		l.MemoryHigh = minAncestors(dir, "memory.high")
		l.MemoryLow = readLimit(filepath.Join(dir, "memory.low"))
		l.MemoryMin = readLimit(filepath.Join(dir, "memory.min"))
		if swap, ok := readValue(filepath.Join(dir, "memory.swap.max")); ok && swap == 0 {
			l.SwapMax = -1
		} else {
			l.SwapMax = minAncestors(dir, "memory.swap.max")
		}
		l.CPUQuota, l.CPUPeriod = tightestCPU(dir, func(d string) (int64, uint64) {
			f := strings.Fields(readString(filepath.Join(d, "cpu.max")))
			if len(f) != 2 || f[0] == "max" {
				return 0, 0
			}
			q, _ := strconv.ParseInt(f[0], 10, 64)
			p, _ := strconv.ParseUint(f[1], 10, 64)
			return q, p
		})
		if w, ok := readValue(filepath.Join(dir, "cpu.weight")); ok && w > 0 {
			l.CPUWeight = uint64(w)
		}
		l.PidsMax = minAncestors(dir, "pids.max")
		return l
	}
	if dir := paths["memory"]; dir != "" {
		l.MemoryMax = minAncestors(dir, "memory.limit_in_bytes")
		if memsw := minAncestors(dir, "memory.memsw.limit_in_bytes"); memsw > 0 && l.MemoryMax > 0 {
			l.SwapMax = memsw - l.MemoryMax
			if l.SwapMax == 0 {
				l.SwapMax = -1
			}
		}
	}
	if dir := paths["cpu"]; dir != "" {
		l.CPUQuota, l.CPUPeriod = tightestCPU(dir, func(d string) (int64, uint64) {
			q, okq := readValue(filepath.Join(d, "cpu.cfs_quota_us"))
			p, okp := readValue(filepath.Join(d, "cpu.cfs_period_us"))
			if !okq || !okp || q <= 0 || p <= 0 {
				return 0, 0
			}
			return q, uint64(p)
		})
		if shares, ok := readValue(filepath.Join(dir, "cpu.shares")); ok && shares > 0 {
			l.CPUWeight = cgroups.ConvertCPUSharesToCgroupV2Value(uint64(shares))
		}
	}
	if dir := paths["pids"]; dir != "" {
		l.PidsMax = minAncestors(dir, "pids.max")
	}
	return l
}

// ancestors returns dir and the directories above it that are cgroups of
// the same hierarchy (those holding the controller file name).
func ancestors(dir, name string) []string {
	var out []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, name)); err != nil {
			break
		}
		out = append(out, d)
		if d == "/" {
			break
		}
	}
	return out
}

// minAncestors is the tightest limit in file name of dir and its
// ancestors, 0 if none has one.
func minAncestors(dir, name string) int64 {
	var best int64
	for _, d := range ancestors(dir, name) {
		if v := readLimit(filepath.Join(d, name)); v > 0 && (best == 0 || v < best) {
			best = v
		}
	}
	return best
}

// tightestCPU is the quota and period of dir or an ancestor that allows
// the least CPU time per second.
func tightestCPU(dir string, read func(d string) (int64, uint64)) (int64, uint64) {
	name := "cpu.max"
	if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
		name = "cpu.cfs_quota_us"
	}
	var bq int64
	var bp uint64
	for _, d := range ancestors(dir, name) {
		q, p := read(d)
		if q <= 0 || p == 0 {
			continue
		}
		if bq == 0 || float64(q)/float64(p) < float64(bq)/float64(bp) {
			bq, bp = q, p
		}
	}
	return bq, bp
}

// readLimit reads a limit file: a number, or "max" / a v1 value at or
// above noLimit for none (0).
func readLimit(path string) int64 {
	v, ok := readValue(path)
	if !ok || v >= noLimit || v < 0 {
		return 0
	}
	return v
}

func readValue(path string) (int64, bool) {
	s := readString(path)
	if s == "" || s == "max" {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}

func readString(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
