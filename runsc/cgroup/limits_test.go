package cgroup

import (
	"os"
	"path/filepath"
	"testing"
)

// writeTree writes files (path relative to root: content).
func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLimitsV2TakeTheTightestAncestor(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		// The parent is tighter on memory, the child on CPU.
		"slice/memory.max":          "67108864",
		"slice/cpu.max":             "200000 100000",
		"slice/pids.max":            "max",
		"slice/memory.swap.max":     "max",
		"slice/box/memory.max":      "134217728",
		"slice/box/memory.high":     "max",
		"slice/box/memory.low":      "4096",
		"slice/box/memory.min":      "0",
		"slice/box/memory.swap.max": "0",
		"slice/box/cpu.max":         "50000 100000",
		"slice/box/cpu.weight":      "200",
		"slice/box/pids.max":        "64",
	})
	l := readLimits(map[string]string{"": filepath.Join(root, "slice/box")}, true)
	want := Limits{MemoryMax: 64 << 20, MemoryLow: 4096, SwapMax: -1, CPUQuota: 50000, CPUPeriod: 100000, CPUWeight: 200, PidsMax: 64}
	if l != want {
		t.Errorf("limits %+v, want %+v", l, want)
	}
}

func TestLimitsV1(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"memory/memory.limit_in_bytes":           "9223372036854771712",
		"memory/box/memory.limit_in_bytes":       "33554432",
		"memory/box/memory.memsw.limit_in_bytes": "67108864",
		"cpu/box/cpu.cfs_quota_us":               "-1",
		"cpu/box/cpu.cfs_period_us":              "100000",
		"cpu/box/cpu.shares":                     "1024",
		"pids/box/pids.max":                      "max",
	})
	l := readLimits(map[string]string{
		"memory": filepath.Join(root, "memory/box"),
		"cpu":    filepath.Join(root, "cpu/box"),
		"pids":   filepath.Join(root, "pids/box"),
	}, false)
	if l.MemoryMax != 32<<20 || l.SwapMax != 32<<20 || l.CPUQuota != 0 || l.PidsMax != 0 || l.CPUWeight == 0 {
		t.Errorf("limits %+v", l)
	}
	if l := readLimits(map[string]string{}, false); l != (Limits{}) {
		t.Errorf("no cgroup: %+v", l)
	}
}
