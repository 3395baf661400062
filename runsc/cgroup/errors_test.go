package cgroup

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// captureWarnings collects what Warnf reports during the test.
func captureWarnings(t *testing.T) *[]string {
	var got []string
	old := Warnf
	Warnf = func(format string, args ...any) { got = append(got, fmt.Sprintf(format, args...)) }
	t.Cleanup(func() { Warnf = old })
	return &got
}

func TestSystemdPath(t *testing.T) {
	old := systemdRunDir
	t.Cleanup(func() { systemdRunDir = old })

	systemdRunDir = filepath.Join(t.TempDir(), "no-such-dir")
	_, err := New("system.slice:veil:abc", "abc", nil, true)
	if err == nil || !strings.Contains(err.Error(), "systemd, which is not running") || strings.Contains(err.Error(), "\n") {
		t.Errorf("systemd path without systemd: got %v, want a one-line error saying systemd is not running", err)
	}

	systemdRunDir = t.TempDir()
	_, err = New("system.slice:veil:abc", "abc", nil, true)
	if err == nil || !strings.Contains(err.Error(), "not supported yet") {
		t.Errorf("systemd path with systemd: got %v, want \"not supported yet\"", err)
	}
}

func TestBadPaths(t *testing.T) {
	for _, tc := range []struct{ path, id string }{
		{"../../x", "x"},
		{"/a/../../x", "x"},
		{"a/../b", "x"},
		{"..", "x"},
		{"/", "x"},
		{"//", "x"},
		{".", "x"},
		{"./", "x"},
		{"", ""},
		{"", "a/b"},
		{"", ".."},
	} {
		if _, err := New(tc.path, tc.id, nil, false); err == nil {
			t.Errorf("New(%q, %q) succeeded, want an error", tc.path, tc.id)
		}
	}
	for path, want := range map[string]string{
		"/a//b/":   "/a/b",
		"a/./b":    "a/b",
		"/veil/id": "/veil/id",
	} {
		if got, err := cleanPath(path, "x"); err != nil || got != want {
			t.Errorf("cleanPath(%q) = %q, %v; want %q", path, got, err, want)
		}
	}
}

// TestApplyErrors checks that what cannot be applied fails New with the spec
// field in the message, and leaves no cgroup behind.
func TestApplyErrors(t *testing.T) {
	needCgroups(t)
	v2 := cgroups.IsCgroup2UnifiedMode()
	cases := map[string]struct {
		r    *specs.LinuxResources
		want string
	}{
		"no such page size": {&specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "3MB", Limit: 1 << 30}}}, "hugepageLimits[3MB]: not available"},
		"useHierarchy":      {&specs.LinuxResources{Memory: &specs.LinuxMemory{UseHierarchy: ptr(false)}}, "memory.useHierarchy"},
	}
	if v2 {
		cases["realtime"] = struct {
			r    *specs.LinuxResources
			want string
		}{&specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: ptr[int64](1000)}}, "cpu.realtimeRuntime: not supported on cgroup v2"}
	} else {
		cases["unified on v1"] = struct {
			r    *specs.LinuxResources
			want string
		}{&specs.LinuxResources{Unified: map[string]string{"memory.high": "1000000"}}, "unified: only supported on cgroup v2"}
		// The library's own check, wrapped with the field.
		cases["shares too big"] = struct {
			r    *specs.LinuxResources
			want string
		}{&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](5)}, CPU: &specs.LinuxCPU{Shares: ptr[uint64](1 << 30)}}, "cpu.shares: the maximum allowed cpu-shares is"}
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			path := "/" + uniqueName(t)
			c, err := New(path, "x", tc.r, false)
			if err == nil {
				c.Destroy()
				t.Fatalf("New succeeded, want an error with %q", tc.want)
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "cgroup "+path+": ") {
				t.Errorf("error %q, want it to start with \"cgroup %s: \" and contain %q", err, path, tc.want)
			}
			for _, root := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids", "/sys/fs/cgroup/unified"} {
				if d := filepath.Join(root, path); cgroups.PathExists(d) {
					t.Errorf("%s left behind", d)
					cgroups.RemovePath(d)
				}
			}
		})
	}
}

// TestBestEffort checks that a blockIO weight the kernel has no knob for is a
// warning, not an error, and that ignored fields are not errors.
func TestBestEffort(t *testing.T) {
	needCgroups(t)
	if cgroups.IsCgroup2UnifiedMode() {
		t.Skip("leafWeight is never applied on v2; see TestConvert")
	}
	warnings := captureWarnings(t)
	c := newCgroup(t, "/"+uniqueName(t), "x", &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{LeafWeight: ptr[uint16](300)}})
	if cgroups.PathExists(filepath.Join(c.dir("blkio"), "blkio.leaf_weight")) {
		t.Skip("this kernel has CFQ's blkio.leaf_weight")
	}
	if len(*warnings) != 1 || !strings.Contains((*warnings)[0], "blockIO.leafWeight ignored") {
		t.Errorf("warnings = %q, want one about blockIO.leafWeight", *warnings)
	}
}

func TestConvert(t *testing.T) {
	warnings := captureWarnings(t)
	for _, v2 := range []bool{false, true} {
		s, err := convert(nil, v2)
		if s != nil || err != nil {
			t.Errorf("convert(nil) = %v, %v", s, err)
		}
		// Devices are accepted and ignored; kernel memory is ignored with a warning.
		s, err = convert(&specs.LinuxResources{
			Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
			Memory:  &specs.LinuxMemory{Kernel: ptr[int64](1), KernelTCP: ptr[int64](1)},
		}, v2)
		if len(s) != 0 || err != nil {
			t.Errorf("v2=%t: devices and kernel memory: %v, %v; want nothing to do", v2, s, err)
		}
		// Limit and swap go together, so the library can order the writes.
		s, err = convert(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](1 << 20), Swap: ptr[int64](2 << 20)}}, v2)
		if err != nil || len(s) != 1 || s[0].field != "memory.limit, memory.swap" || s[0].res.Memory != 1<<20 || s[0].res.MemorySwap != 2<<20 {
			t.Errorf("v2=%t: memory limit and swap: %+v, %v", v2, s, err)
		}
	}
	if len(*warnings) != 4 {
		t.Errorf("warnings = %q, want 2 per version (kernel, kernelTCP)", *warnings)
	}

	// v2: shares become a weight; v1-only settings are errors naming the field.
	s, err := convert(&specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: ptr[uint64](1024)}}, true)
	if err != nil || len(s) != 1 || s[0].res.CpuWeight != 100 || s[0].res.CpuShares != 0 || s[0].knobs[0] != "cpu.weight" {
		t.Errorf("v2 shares: %+v, %v; want cpu.weight 100", s, err)
	}
	_, err = convert(&specs.LinuxResources{
		Memory:  &specs.LinuxMemory{Swappiness: ptr[uint64](10), DisableOOMKiller: ptr(true)},
		CPU:     &specs.LinuxCPU{RealtimeRuntime: ptr[int64](10), RealtimePeriod: ptr[uint64](100)},
		Network: &specs.LinuxNetwork{ClassID: ptr[uint32](1)},
	}, true)
	for _, f := range []string{"memory.swappiness", "memory.disableOOMKiller", "cpu.realtimeRuntime, cpu.realtimePeriod", "network.classID"} {
		if err == nil || !strings.Contains(err.Error(), f+": not supported on cgroup v2") {
			t.Errorf("v2: got %v, want an error naming %s", err, f)
		}
	}
	_, err = convert(&specs.LinuxResources{Unified: map[string]string{"pids.max": "5"}}, false)
	if err == nil || !strings.Contains(err.Error(), "unified") {
		t.Errorf("v1 unified: got %v, want an error", err)
	}
	s, err = convert(&specs.LinuxResources{Unified: map[string]string{"pids.max": "5", "cgroup.max.depth": "2"}}, true)
	if err != nil || len(s) != 2 || s[0].field != "unified[cgroup.max.depth]" {
		t.Errorf("v2 unified: %+v, %v", s, err)
	}
}
