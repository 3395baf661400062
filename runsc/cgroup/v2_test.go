package cgroup

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const v2ChildEnv = "VEIL_CGROUP_TEST_V2_CHILD"

// TestV2InNamespace runs TestV2Child on a cgroup v1 (hybrid) host, where
// the fs2 manager is otherwise never used: in a new mount and cgroup
// namespace, rooted at a fresh cgroup of the host's v2 hierarchy
// (/sys/fs/cgroup/unified), with that hierarchy mounted on /sys/fs/cgroup.
// The namespace root has no controllers, so this covers what v2 does without
// them (create, join, unified core files, freeze and kill, errors), not the
// limits themselves; and the host's v2 root is never written.
func TestV2InNamespace(t *testing.T) {
	if os.Getenv(v2ChildEnv) != "" {
		t.Skip("in the child")
	}
	needCgroups(t)
	if cgroups.IsCgroup2UnifiedMode() {
		t.Skip("the host is cgroup v2: the other tests use fs2 directly")
	}
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup/unified", &st) != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
		t.Skip("no cgroup v2 hierarchy at /sys/fs/cgroup/unified")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("no unshare(1)")
	}
	host := filepath.Join("/sys/fs/cgroup/unified", uniqueName(t))
	if err := os.Mkdir(host, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// If the child failed half way, kill what it left behind.
		for range 100 {
			pids, _ := cgroups.GetAllPids(host)
			if len(pids) == 0 {
				break
			}
			for _, p := range pids {
				_ = unix.Kill(p, unix.SIGKILL)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err := cgroups.RemovePath(host); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	// The shell joins the new cgroup first, so that the cgroup namespace
	// unshare(1) makes is rooted there.
	cmd := exec.Command("/bin/sh", "-c", `echo $$ > "$1/cgroup.procs" && exec "$2" --mount --cgroup "$3" -test.run='^TestV2Child$' -test.v -test.count=1 -test.timeout=60s`,
		"sh", host, unshare, os.Args[0])
	cmd.Env = append(os.Environ(), v2ChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestV2Child") {
		t.Fatalf("child: %v\n%s", err, out)
	}
	t.Logf("child:\n%s", out)
}

func TestV2Child(t *testing.T) {
	if os.Getenv(v2ChildEnv) == "" {
		t.Skip("run by TestV2InNamespace")
	}
	if err := unix.Mount("cgroup2", "/sys/fs/cgroup", "cgroup2", 0, ""); err != nil {
		t.Fatalf("mount cgroup2: %v", err)
	}
	if !cgroups.IsCgroup2UnifiedMode() {
		t.Fatal("not cgroup v2 after mounting it")
	}

	name := "/" + uniqueName(t)
	c := newCgroup(t, name, "x", &specs.LinuxResources{
		Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
		Unified: map[string]string{"cgroup.max.descendants": "3"},
	})
	dir := "/sys/fs/cgroup" + name
	if len(c.paths) != 1 || c.paths[""] != dir {
		t.Fatalf("paths = %v, want only %s", c.paths, dir)
	}
	if got := knob(t, dir, "cgroup.max.descendants"); got != "3" {
		t.Errorf("cgroup.max.descendants = %s, want 3", got)
	}

	ch := startChild(t)
	pid := ch.cmd.Process.Pid
	if err := c.Add(pid); err != nil {
		t.Fatal(err)
	}
	// (The host's v1 hierarchies are still there, rooted at "/" here.)
	if got := procCgroup(t, pid); got[""] != name {
		t.Errorf("/proc/%d/cgroup = %v, want 0::%s", pid, got, name)
	}
	ch.proceed(t)
	waitPids(t, c, 3)
	st, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Pids.Current < 3 || st.CPU.Usage.Total == 0 {
		t.Errorf("stats: pids %+v, cpu %+v; want >= 3 pids and some CPU time", st.Pids, st.CPU.Usage)
	}

	for _, tc := range []struct {
		r    *specs.LinuxResources
		want string
	}{
		{&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](1 << 30)}}, "memory.limit: not available on this host: no memory.max in " + dir},
		{&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](10)}}, "pids.limit: not available on this host"},
		{&specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: ptr[int64](10)}}, "cpu.realtimeRuntime: not supported on cgroup v2"},
		{&specs.LinuxResources{Unified: map[string]string{"memory.high": "1000000"}}, `unified[memory.high]: unified resource "memory.high" can't be set: controller "memory" not available`},
	} {
		err := c.Update(tc.r)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Update: %v, want an error with %q", err, tc.want)
		}
	}

	l, err := Load(c.Path())
	if err != nil {
		t.Fatal(err)
	}
	if pids, err := l.Pids(); err != nil || !slices.Contains(pids, pid) {
		t.Errorf("loaded: Pids() = %v, %v; want %d in it", pids, err, pid)
	}
	if err := l.Destroy(); err != nil {
		t.Fatal(err)
	}
	err = ch.wait(t)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("shell ended with %v, want SIGKILL", err)
	}
	if cgroups.PathExists(dir) {
		t.Errorf("%s still there after Destroy", dir)
	}
	if err := l.Destroy(); err != nil {
		t.Errorf("second Destroy: %v", err)
	}

	// Relative: next to the caller's cgroup, which is this namespace's root.
	rel := uniqueName(t)
	r := newCgroup(t, rel, "x", nil)
	if want := "/sys/fs/cgroup/" + rel; r.paths[""] != want {
		t.Errorf("relative %q: %s, want %s", rel, r.paths[""], want)
	}
}
