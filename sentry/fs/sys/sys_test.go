package sys_test

import (
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/veil-sandbox/veil/sentry/fs/sys"
	"github.com/veil-sandbox/veil/sentry/fs/tmpfs"
	"github.com/veil-sandbox/veil/sentry/hostinfo"
	"github.com/veil-sandbox/veil/sentry/memfile"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/vfs/vfstest"
	"golang.org/x/sys/unix"
)

type env struct {
	t   *testing.T
	ctx *vfstest.Context
	v   *vfs.VirtualFilesystem
	fs  *vfs.FSContext
}

func (e *env) pop(path string, follow bool) vfs.PathOperation {
	return e.fs.PathOp(vfs.VirtualDentry{}, path, follow)
}

func (e *env) read(path string) string {
	e.t.Helper()
	f, err := e.v.Open(e.ctx, e.pop(path, true), unix.O_RDONLY, 0)
	if err != nil {
		e.t.Fatalf("open %s: %v", path, err)
	}
	defer f.DecRef()
	buf := make([]byte, 8192)
	n, err := f.Read(e.ctx, buf)
	if err != nil {
		e.t.Fatalf("read %s: %v", path, err)
	}
	return string(buf[:n])
}

func (e *env) list(path string) []string {
	e.t.Helper()
	f, err := e.v.Open(e.ctx, e.pop(path, true), unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		e.t.Fatalf("open %s: %v", path, err)
	}
	defer f.DecRef()
	var names []string
	f.Getdents(e.ctx, func(d vfs.Dirent, _ int64) bool {
		if d.Name != "." && d.Name != ".." {
			names = append(names, d.Name)
		}
		return true
	})
	return names
}

type fakeSource struct{}

func (fakeSource) MemoryUsage() uint64                      { return 12 << 20 }
func (fakeSource) Processes() []int32                       { return []int32{1, 5} }
func (fakeSource) Threads() []int32                         { return []int32{1, 5, 6} }
func (fakeSource) CPUUsage() (time.Duration, time.Duration) { return 3 * time.Second, time.Second }

// hostCPUs is a host with two cores of two threads each, the sandbox
// allowed on host CPUs 1 to 3.
func hostCPUs() *hostinfo.Info {
	var cpuinfo strings.Builder
	sysfs := fstest.MapFS{}
	for i := 0; i < 4; i++ {
		cpuinfo.WriteString("processor\t: " + string(rune('0'+i)) + "\nmodel name\t: Test CPU\nflags\t\t: fpu sse2\n\n")
		dir := "cpu" + string(rune('0'+i))
		sysfs[dir+"/topology/core_id"] = &fstest.MapFile{Data: []byte(string(rune('0'+i/2)) + "\n")}
		sysfs[dir+"/topology/physical_package_id"] = &fstest.MapFile{Data: []byte("0\n")}
		sysfs[dir+"/cache/index0/level"] = &fstest.MapFile{Data: []byte("1\n")}
		sysfs[dir+"/cache/index0/type"] = &fstest.MapFile{Data: []byte("Data\n")}
		sysfs[dir+"/cache/index0/size"] = &fstest.MapFile{Data: []byte("48K\n")}
		sysfs[dir+"/cache/index0/shared_cpu_list"] = &fstest.MapFile{Data: []byte("0-3\n")}
	}
	return hostinfo.Parse(cpuinfo.String(), sysfs, []int{1, 2, 3})
}

func newEnv(t *testing.T, opts sys.Options) *env {
	mf, err := memfile.New()
	if err != nil {
		t.Fatal(err)
	}
	ctx := vfstest.Root()
	v := vfs.New(mf)
	if err := v.MountRoot(ctx, tmpfs.New(mf, tmpfs.Options{Mode: 0o755}).Root(), vfs.MountOptions{FSType: "tmpfs"}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.MountAt(ctx, "/sys", sys.New(opts), vfs.MountOptions{FSType: "sysfs", ReadOnly: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.MountAt(ctx, "/sys/fs/cgroup", sys.NewCgroup(opts), vfs.MountOptions{FSType: "cgroup2", ReadOnly: true}); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, ctx: ctx, v: v, fs: vfs.NewFSContext(v.Root(), v.Root(), 0o022)}
}

func TestCPUs(t *testing.T) {
	e := newEnv(t, sys.Options{CPUs: hostCPUs()})
	for path, want := range map[string]string{
		"/sys/devices/system/cpu/online":                             "0-2\n",
		"/sys/devices/system/cpu/possible":                           "0-2\n",
		"/sys/devices/system/cpu/present":                            "0-2\n",
		"/sys/devices/system/cpu/kernel_max":                         "8191\n",
		"/sys/devices/system/cpu/cpu2/online":                        "1\n",
		"/sys/devices/system/cpu/cpu0/topology/core_id":              "0\n",
		"/sys/devices/system/cpu/cpu1/topology/core_id":              "1\n",
		"/sys/devices/system/cpu/cpu1/topology/thread_siblings_list": "1-2\n",
		"/sys/devices/system/cpu/cpu1/topology/thread_siblings":      "6\n",
		"/sys/devices/system/cpu/cpu1/topology/core_siblings_list":   "0-2\n",
		"/sys/devices/system/cpu/cpu0/cache/index0/size":             "48K\n",
		"/sys/devices/system/cpu/cpu0/cache/index0/shared_cpu_list":  "0-2\n",
		"/sys/devices/system/cpu/smt/active":                         "1\n",
		"/sys/devices/system/node/node0/cpulist":                     "0-2\n",
		"/sys/kernel/mm/transparent_hugepage/enabled":                "always madvise [never]\n",
		"/sys/class/net/lo/mtu":                                      "65536\n",
		"/sys/class/net/lo/address":                                  "00:00:00:00:00:00\n",
	} {
		if got := e.read(path); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	if got := e.list("/sys/devices/system/cpu"); !reflect.DeepEqual(got[len(got)-3:], []string{"cpu0", "cpu1", "cpu2"}) {
		t.Errorf("cpu dir lists %v", got)
	}
	for _, absent := range []string{"/sys/firmware", "/sys/devices/system/cpu/cpufreq", "/sys/devices/system/cpu/cpu3"} {
		if _, err := e.v.Stat(e.ctx, e.pop(absent, true)); err != unix.ENOENT {
			t.Errorf("stat %s: %v, want ENOENT", absent, err)
		}
	}
	st, err := e.v.Stat(e.ctx, e.pop("/sys/devices/system/cpu/online", true))
	if err != nil || st.Size != 4096 || st.Mode != unix.S_IFREG|0o444 {
		t.Errorf("stat online = %+v, %v (sysfs files are 4096 bytes)", st, err)
	}
	if sfs, err := e.v.StatFS(e.ctx, e.pop("/sys/block", true)); err != nil || sfs.Type != unix.SYSFS_MAGIC {
		t.Errorf("statfs = %+v, %v", sfs, err)
	}
	if _, err := e.v.Open(e.ctx, e.pop("/sys/kernel/mm/transparent_hugepage/enabled", true), unix.O_WRONLY, 0); err == nil {
		t.Error("sysfs file opened for writing")
	}
}

func TestCgroupLimitsAndUsage(t *testing.T) {
	e := newEnv(t, sys.Options{
		CPUs:   hostinfo.Synthetic(2),
		Limits: sys.Limits{MemoryMax: 64 << 20, CPUQuota: 50000, CPUPeriod: 100000, PidsMax: 100},
		Source: fakeSource{},
	})
	for path, want := range map[string]string{
		"/sys/fs/cgroup/memory.max":            "67108864\n",
		"/sys/fs/cgroup/memory.high":           "max\n",
		"/sys/fs/cgroup/memory.current":        "12582912\n",
		"/sys/fs/cgroup/memory.swap.max":       "max\n",
		"/sys/fs/cgroup/cpu.max":               "50000 100000\n",
		"/sys/fs/cgroup/cpu.weight":            "100\n",
		"/sys/fs/cgroup/cpu.weight.nice":       "0\n",
		"/sys/fs/cgroup/pids.max":              "100\n",
		"/sys/fs/cgroup/pids.current":          "3\n",
		"/sys/fs/cgroup/cgroup.procs":          "1\n5\n",
		"/sys/fs/cgroup/cgroup.threads":        "1\n5\n6\n",
		"/sys/fs/cgroup/cpuset.cpus.effective": "0-1\n",
		"/sys/fs/cgroup/cgroup.controllers":    "cpuset cpu memory pids\n",
	} {
		if got := e.read(path); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	if got := e.read("/sys/fs/cgroup/cpu.stat"); !strings.HasPrefix(got, "usage_usec 4000000\nuser_usec 3000000\nsystem_usec 1000000\n") {
		t.Errorf("cpu.stat = %q", got)
	}
	if got := e.read("/sys/fs/cgroup/memory.stat"); !strings.HasPrefix(got, "anon 12582912\n") {
		t.Errorf("memory.stat = %q", got)
	}
	if sfs, err := e.v.StatFS(e.ctx, e.pop("/sys/fs/cgroup", true)); err != nil || sfs.Type != unix.CGROUP2_SUPER_MAGIC {
		t.Errorf("statfs = %+v, %v", sfs, err)
	}
}

func TestCgroupWithoutLimits(t *testing.T) {
	e := newEnv(t, sys.Options{})
	for path, want := range map[string]string{
		"/sys/fs/cgroup/memory.max":     "max\n",
		"/sys/fs/cgroup/cpu.max":        "max 100000\n",
		"/sys/fs/cgroup/pids.max":       "max\n",
		"/sys/fs/cgroup/memory.current": "0\n",
		"/sys/fs/cgroup/cgroup.procs":   "",
	} {
		if got := e.read(path); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
}
