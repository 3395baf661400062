package cgroup

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
)

func ptr[T any](v T) *T { return &v }

// needCgroups skips unless the test can create cgroups: root, and cgroupfs
// mounted at /sys/fs/cgroup.
func needCgroups(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create cgroups")
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.procs"); err != nil && !cgroups.PathExists("/sys/fs/cgroup/memory") {
		t.Skip("no cgroupfs at /sys/fs/cgroup")
	}
}

// uniqueName returns "veil-test-<random>".
func uniqueName(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "veil-test-" + hex.EncodeToString(b)
}

// newCgroup is New plus cleanup: Destroy at the end of the test, and then a
// safety net that removes whatever directories are left.
func newCgroup(t *testing.T, path, id string, r *specs.LinuxResources) *Cgroup {
	t.Helper()
	c, err := New(path, id, r, false)
	if err != nil {
		t.Fatalf("New(%q): %v", path, err)
	}
	dirs := c.dirs()
	t.Cleanup(func() {
		for _, d := range dirs {
			if strings.Contains(d, "veil-test-") {
				_ = cgroups.RemovePath(d)
			}
		}
	})
	t.Cleanup(func() {
		if err := c.Destroy(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return c
}

// child is a shell that waits for a line on stdin, then burns a little CPU,
// starts two sleeps and waits. It is killed and reaped at the end of the test.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan error
}

func startChild(t *testing.T) *child {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", `read x; i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done; sleep 1000 & sleep 1000 & wait`)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ch := &child{cmd: cmd, stdin: stdin, done: make(chan error, 1)}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = ch.wait(t)
	})
	return ch
}

// proceed lets the shell run on, now that it is in the cgroup.
func (ch *child) proceed(t *testing.T) {
	t.Helper()
	if _, err := io.WriteString(ch.stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
}

// wait reaps the shell (once) and returns how it ended.
func (ch *child) wait(t *testing.T) error {
	select {
	case err := <-ch.done:
		ch.done <- err
		return err
	default:
	}
	err := ch.cmd.Wait()
	ch.done <- err
	return err
}

// waitPids polls until the cgroup holds at least n processes.
func waitPids(t *testing.T, c *Cgroup, n int) []int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids, err := c.Pids()
		if err != nil {
			t.Fatal(err)
		}
		if len(pids) >= n {
			return pids
		}
		if time.Now().After(deadline) {
			t.Fatalf("cgroup has processes %v, want at least %d", pids, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// procCgroup parses /proc/PID/cgroup into controllers -> path ("" for the
// v2 line).
func procCgroup(t *testing.T, pid int) map[string]string {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) == 3 {
			m[parts[1]] = parts[2]
		}
	}
	return m
}

// alive reports whether process pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// "pid (comm) S ...": the state follows the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func knob(t *testing.T, dir, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// dir returns the cgroup's directory for v1 subsystem ctrl (the unified one on v2).
func (c *Cgroup) dir(ctrl string) string {
	if c.v2 {
		return c.paths[""]
	}
	return c.paths[ctrl]
}

func TestLifecycle(t *testing.T) {
	needCgroups(t)
	v2 := cgroups.IsCgroup2UnifiedMode()
	name := "/" + uniqueName(t)
	const mib = 1 << 20
	r := &specs.LinuxResources{
		Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}, {Allow: true, Type: "c", Major: ptr[int64](1), Minor: ptr[int64](3), Access: "rwm"}},
		Memory: &specs.LinuxMemory{
			Limit:       ptr[int64](64 * mib),
			Reservation: ptr[int64](32 * mib),
			Swap:        ptr[int64](128 * mib),
			Kernel:      ptr[int64](16 * mib), // ignored
		},
		CPU: &specs.LinuxCPU{
			Shares: ptr[uint64](512),
			Quota:  ptr[int64](50000),
			Period: ptr[uint64](100000),
			Cpus:   "0",
			Mems:   "0",
		},
		Pids:    &specs.LinuxPids{Limit: ptr[int64](100)},
		BlockIO: &specs.LinuxBlockIO{Weight: ptr[uint16](200)},
	}
	if !v2 {
		r.Memory.Swappiness = ptr[uint64](10)
	}
	c := newCgroup(t, name, "ignored", r)

	// The limits landed.
	type want struct{ ctrl, file, value string }
	wants := []want{
		{"memory", "memory.limit_in_bytes", "67108864"},
		{"memory", "memory.soft_limit_in_bytes", "33554432"},
		{"memory", "memory.memsw.limit_in_bytes", "134217728"},
		{"memory", "memory.swappiness", "10"},
		{"cpu", "cpu.shares", "512"},
		{"cpu", "cpu.cfs_quota_us", "50000"},
		{"cpu", "cpu.cfs_period_us", "100000"},
		{"cpuset", "cpuset.cpus", "0"},
		{"cpuset", "cpuset.mems", "0"},
		{"pids", "pids.max", "100"},
	}
	if v2 {
		wants = []want{
			{"", "memory.max", "67108864"},
			{"", "memory.low", "33554432"},
			{"", "cpu.weight", fmt.Sprint(cgroups.ConvertCPUSharesToCgroupV2Value(512))},
			{"", "cpu.max", "50000 100000"},
			{"", "cpuset.cpus", "0"},
			{"", "cpuset.mems", "0"},
			{"", "pids.max", "100"},
		}
		if cgroups.PathExists(filepath.Join(c.dir(""), "memory.swap.max")) {
			wants = append(wants, want{"", "memory.swap.max", "67108864"})
		}
	}
	for _, w := range wants {
		if got := knob(t, c.dir(w.ctrl), w.file); got != w.value {
			t.Errorf("%s = %q, want %q", w.file, got, w.value)
		}
	}
	// Best effort: only where the kernel has a weight knob.
	for _, f := range []string{"blkio.bfq.weight", "blkio.weight", "io.bfq.weight"} {
		if p := filepath.Join(c.dir("blkio"), f); cgroups.PathExists(p) {
			if got := knob(t, c.dir("blkio"), f); !strings.Contains(got, "200") {
				t.Errorf("%s = %q, want 200", f, got)
			}
			break
		}
	}

	// A process moved in is in the cgroup in every hierarchy, and so are
	// the processes it starts.
	ch := startChild(t)
	pid := ch.cmd.Process.Pid
	if err := c.Add(pid); err != nil {
		t.Fatal(err)
	}
	for ctrls, p := range procCgroup(t, pid) {
		if p != name {
			t.Errorf("/proc/%d/cgroup: %q: %s, want %s", pid, ctrls, p, name)
		}
	}
	ch.proceed(t)
	pids := waitPids(t, c, 3)
	if !slices.Contains(pids, pid) {
		t.Errorf("Pids() = %v, want it to contain %d", pids, pid)
	}

	// Stats are sane.
	st, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Pids.Current < 3 || st.Pids.Limit != 100 {
		t.Errorf("pids stats = %+v, want current >= 3, limit 100", st.Pids)
	}
	if st.Memory.Usage.Limit != 64*mib || st.Memory.Usage.Usage == 0 {
		t.Errorf("memory usage = %+v, want limit %d and some usage", st.Memory.Usage, 64*mib)
	}
	if st.CPU.Usage.Total == 0 {
		t.Errorf("cpu usage = %+v, want some", st.CPU.Usage)
	}
	js, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var generic map[string]any
	if err := json.Unmarshal(js, &generic); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"cpu", "memory", "pids", "blkio", "hugetlb"} {
		if _, ok := generic[k]; !ok {
			t.Errorf("stats JSON has no %q: %s", k, js)
		}
	}
	if !strings.Contains(string(js), `"usage":{"total":`) || !strings.Contains(string(js), `"current":`) {
		t.Errorf("stats JSON does not look like runc's: %s", js)
	}

	// Update changes what it names and leaves the rest.
	if err := c.Update(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](50)}, Memory: &specs.LinuxMemory{Limit: ptr[int64](96 * mib), Swap: ptr[int64](192 * mib)}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Update(nil); err != nil {
		t.Fatal(err)
	}
	if got := knob(t, c.dir("pids"), "pids.max"); got != "50" {
		t.Errorf("after Update: pids.max = %s, want 50", got)
	}
	memFile := map[bool]string{false: "memory.limit_in_bytes", true: "memory.max"}[v2]
	if got := knob(t, c.dir("memory"), memFile); got != fmt.Sprint(96*mib) {
		t.Errorf("after Update: %s = %s, want %d", memFile, got, 96*mib)
	}
	if got := knob(t, c.dir("cpuset"), "cpuset.cpus"); got != "0" {
		t.Errorf("after Update: cpuset.cpus = %s, want it unchanged (0)", got)
	}

	// Destroy kills everything in it (before the shell is reaped, as runsc
	// would) and removes every directory.
	if err := c.Destroy(); err != nil {
		t.Fatal(err)
	}
	err = ch.wait(t)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("shell ended with %v, want SIGKILL", err)
	}
	for _, p := range pids {
		if alive(p) {
			t.Errorf("process %d still alive after Destroy", p)
		}
	}
	for _, d := range c.dirs() {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s still there after Destroy (%v)", d, err)
		}
	}
	if err := c.Destroy(); err != nil {
		t.Errorf("second Destroy: %v", err)
	}
}

func TestLoad(t *testing.T) {
	needCgroups(t)
	name := "/" + uniqueName(t)
	c := newCgroup(t, name, "x", &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](20)}})
	saved := c.Path()
	l, err := Load(saved)
	if err != nil {
		t.Fatalf("Load(%s): %v", saved, err)
	}
	if l.Path() != saved {
		t.Errorf("Load(Path()).Path() = %s, want %s", l.Path(), saved)
	}
	ch := startChild(t)
	if err := l.Add(ch.cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if pids, err := c.Pids(); err != nil || !slices.Contains(pids, ch.cmd.Process.Pid) {
		t.Errorf("Pids() = %v, %v; want %d in it", pids, err, ch.cmd.Process.Pid)
	}
	if err := l.Update(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](30)}}); err != nil {
		t.Fatal(err)
	}
	if got := knob(t, l.dir("pids"), "pids.max"); got != "30" {
		t.Errorf("pids.max = %s, want 30", got)
	}
	if err := l.Destroy(); err != nil {
		t.Fatal(err)
	}
	for _, d := range c.dirs() {
		if cgroups.PathExists(d) {
			t.Errorf("%s still there", d)
		}
	}

	root := "/sys/fs/cgroup"
	if !cgroups.IsCgroup2UnifiedMode() {
		root = "/sys/fs/cgroup/memory"
	}
	for _, bad := range []string{
		"",
		"garbage",
		`{"name":"/x","paths":{}}`,
		`{"name":"/x","paths":{"memory":"/etc"}}`,
		`{"name":"/x","paths":{"memory":"/sys/fs/cgroup/memory/../../../etc"}}`,
		fmt.Sprintf(`{"name":"/x","paths":{"memory":%q,"":%q}}`, root, root),
	} {
		_, err := Load(bad)
		if err == nil {
			t.Errorf("Load(%s) succeeded, want an error", bad)
		}
		t.Log(err)
	}
}

func TestRelativeAndDefaultPath(t *testing.T) {
	needCgroups(t)
	rel := uniqueName(t)
	c := newCgroup(t, rel, "x", nil)
	own := procCgroup(t, os.Getpid())
	if c.v2 {
		want := filepath.Join("/sys/fs/cgroup", filepath.Dir(own[""]), rel)
		if c.paths[""] != want {
			t.Errorf("relative path %q: %s, want %s", rel, c.paths[""], want)
		}
	} else {
		want := filepath.Join("/sys/fs/cgroup/memory", own["memory"], rel)
		if c.paths["memory"] != want {
			t.Errorf("relative path %q: memory at %s, want %s", rel, c.paths["memory"], want)
		}
	}

	// The default, /veil/<id>. Afterwards (so registered first) remove
	// /veil if it is empty: other sandboxes may be using it.
	id := uniqueName(t)
	var made []string
	t.Cleanup(func() {
		for _, p := range made {
			_ = os.Remove(p)
		}
	})
	d := newCgroup(t, "", id, nil)
	if d.name != DefaultParent+"/"+id {
		t.Errorf("default path = %s, want %s/%s", d.name, DefaultParent, id)
	}
	for _, dir := range d.dirs() {
		if filepath.Base(filepath.Dir(dir)) != "veil" {
			t.Errorf("default cgroup at %s, want it under .../veil/", dir)
		}
		made = append(made, filepath.Dir(dir))
	}
}
