package boot

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestMemparse(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    uint64
		rest string
	}{
		{"0", 0, ""}, {"65536k", 64 << 20, ""}, {"1m", 1 << 20, ""}, {"2G", 2 << 30, ""}, {"1t", 1 << 40, ""},
		{"0x10", 16, ""}, {"010", 8, ""}, {"0x", 0, "x"}, {"50%", 50, "%"}, {"3kb", 3 << 10, "b"},
	} {
		n, rest, err := memparse(c.in)
		if err != nil || n != c.n || rest != c.rest {
			t.Errorf("memparse(%q) = %d, %q, %v; want %d, %q", c.in, n, rest, err, c.n, c.rest)
		}
	}
	for _, in := range []string{"", "k", "-1", "99999999999999999999", "16777216T"} {
		if _, _, err := memparse(in); err == nil {
			t.Errorf("memparse(%q) did not fail", in)
		}
	}
}

func TestTmpfsOptions(t *testing.T) {
	mount := func(opts ...string) specs.Mount {
		return specs.Mount{Destination: "/t", Type: "tmpfs", Source: "tmpfs", Options: opts}
	}
	o, err := tmpfsOptions(mount("nosuid", "nodev", "noexec", "strictatime", "rprivate", "mode=755", "uid=1000", "gid=100", "size=65536k", "nr_inodes=4k"))
	if err != nil {
		t.Fatal(err)
	}
	if o.Mode != 0o755 || o.UID != 1000 || o.GID != 100 || o.MaxSize != 64<<20 || o.MaxInodes != 4096 {
		t.Errorf("options %+v", o)
	}
	if o, err := tmpfsOptions(mount("nr_blocks=10")); err != nil || o.MaxSize != 10*4096 {
		t.Errorf("nr_blocks: %+v, %v", o, err)
	}
	if o, err := tmpfsOptions(mount()); err != nil || o.Mode != 0o1777 || o.MaxSize != 0 || o.MaxInodes != 0 {
		t.Errorf("defaults: %+v, %v", o, err)
	}
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		t.Fatal(err)
	}
	ram := int64(si.Totalram) * int64(si.Unit)
	if o, err := tmpfsOptions(mount("size=50%")); err != nil || o.MaxSize != ram/2 {
		t.Errorf("size=50%%: %d, %v; want %d", o.MaxSize, err, ram/2)
	}
	for opt, want := range map[string]string{
		"size=1x":     `tmpfs option "size=1x"`,
		"nr_inodes=%": `tmpfs option "nr_inodes=%"`,
		"mode=8":      `tmpfs option "mode=8"`,
		"uid=-1":      `tmpfs option "uid=-1"`,
	} {
		if _, err := tmpfsOptions(mount(opt)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", opt, err)
		}
	}
	_, err = tmpfsOptions(mount("nosuid", "tmpcopyup", "size=1m", "huge=always", "mpol=local"))
	if err == nil || err.Error() != "tmpfs options not supported: tmpcopyup, huge=always, mpol=local" {
		t.Errorf("unknown options: %v", err)
	}
	if _, err := ClassifyMount(mount("bogus"), false); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("ClassifyMount with a bad option: %v", err)
	}
	// /dev is the Sentry's own, and a bind of /dev/shm has bind options.
	if k, err := ClassifyMount(specs.Mount{Destination: "/dev", Type: "tmpfs", Options: []string{"size=65536k", "x"}}, false); err != nil || k != MountSentryDefault {
		t.Errorf("/dev: %v, %v", k, err)
	}
	if k, err := ClassifyMount(specs.Mount{Destination: "/dev/shm", Type: "bind", Options: []string{"rbind", "rprivate"}}, true); err != nil || k != MountTmpfs {
		t.Errorf("/dev/shm bind: %v, %v", k, err)
	}
}

func TestClassifyPseudoFilesystems(t *testing.T) {
	for typ, want := range map[string]MountKind{
		"sysfs": MountSysfs, "cgroup": MountCgroup, "cgroup2": MountCgroup, "mqueue": MountMqueue,
	} {
		if k, err := ClassifyMount(specs.Mount{Destination: "/x", Type: typ}, false); err != nil || k != want {
			t.Errorf("%s: %v, %v; want %v", typ, k, err, want)
		}
	}
	// A tmpfs at /dev/shm (docker's --shm-size) is one of the Sentry's.
	if k, err := ClassifyMount(specs.Mount{Destination: "/dev/shm", Type: "tmpfs", Options: []string{"size=65536k"}}, false); err != nil || k != MountTmpfs {
		t.Errorf("/dev/shm tmpfs: %v, %v", k, err)
	}
}
