package hostinfo

import (
	"os"
	"reflect"
	"testing"
	"testing/fstest"
)

const twoCPUs = `processor	: 0
vendor_id	: AuthenticAMD
model name	: AMD EPYC
physical id	: 0
core id		: 0
flags		: fpu sse2 avx2
power management:

processor	: 1
vendor_id	: AuthenticAMD
model name	: AMD EPYC
physical id	: 0
core id		: 1
flags		: fpu sse2 avx2
power management:

`

func TestParseRenumbersTheAffinity(t *testing.T) {
	sys := fstest.MapFS{
		"cpu1/topology/core_id":                   {Data: []byte("7\n")},
		"cpu1/topology/physical_package_id":       {Data: []byte("0\n")},
		"cpu1/cache/index0/level":                 {Data: []byte("1\n")},
		"cpu1/cache/index0/type":                  {Data: []byte("Data\n")},
		"cpu1/cache/index0/size":                  {Data: []byte("32K\n")},
		"cpu1/cache/index0/shared_cpu_list":       {Data: []byte("0-1\n")},
		"cpu1/cache/index3/level":                 {Data: []byte("3\n")},
		"cpu1/cache/index3/type":                  {Data: []byte("Unified\n")},
		"cpu1/cache/index3/size":                  {Data: []byte("32768K\n")},
		"cpu1/cache/index3/shared_cpu_list":       {Data: []byte("0-1\n")},
		"cpu1/cache/index3/ways_of_associativity": {Data: []byte("16\n")},
		"vulnerabilities/meltdown":                {Data: []byte("Not affected\n")},
	}
	// The sandbox may only run on host CPU 1: it becomes CPU 0.
	info := Parse(twoCPUs, sys, []int{1})
	if len(info.CPUs) != 1 {
		t.Fatalf("%d CPUs, want 1", len(info.CPUs))
	}
	c := info.CPUs[0]
	if c.Host != 1 || c.CoreID != 7 || c.Value("model name") != "AMD EPYC" || c.Value("flags") != "fpu sse2 avx2" {
		t.Errorf("cpu = %+v", c)
	}
	if c.Value("processor") != "" {
		t.Error("the processor line is kept; it must be renumbered")
	}
	if len(c.Caches) != 2 || c.Caches[1].Level != 3 || c.Caches[1].WaysOfAssociativity != 16 || !reflect.DeepEqual(c.Caches[0].Shared, []int{0}) {
		t.Errorf("caches = %+v", c.Caches)
	}
	if info.Vulnerabilities["meltdown"] != "Not affected" {
		t.Errorf("vulnerabilities = %v", info.Vulnerabilities)
	}
}

func TestParseWithoutHostFiles(t *testing.T) {
	info := Synthetic(3)
	if len(info.CPUs) != 3 || info.CPUs[2].CoreID != 2 || info.CPUs[0].Value("flags") == "" {
		t.Fatalf("synthetic = %+v", info)
	}
}

func TestLists(t *testing.T) {
	for _, s := range []string{"0", "0-3", "0-1,4,6-7"} {
		if got := FormatList(ParseList(s)); got != s {
			t.Errorf("FormatList(ParseList(%q)) = %q", s, got)
		}
	}
	if got := ParseList("3-1,x,2"); !reflect.DeepEqual(got, []int{2}) {
		t.Errorf("ParseList of bad parts = %v", got)
	}
	for _, tc := range []struct {
		ids  []int
		n    int
		want string
	}{
		{[]int{0, 1}, 2, "3"},
		{[]int{0}, 8, "01"},
		{[]int{0, 33}, 40, "02,00000001"},
		{[]int{4}, 64, "00000000,00000010"},
	} {
		if got := FormatMask(tc.ids, tc.n); got != tc.want {
			t.Errorf("FormatMask(%v, %d) = %q, want %q", tc.ids, tc.n, got, tc.want)
		}
	}
}

// Read's raw sysfs reader gives what os.DirFS gives, on this host.
func TestReadMatchesDirFS(t *testing.T) {
	text, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Skipf("no /proc/cpuinfo: %v", err)
	}
	// One /proc/cpuinfo text for both: its "cpu MHz" may change.
	aff := Affinity()
	got := Parse(string(text), newSysFS(sysCPUDir), aff)
	want := Parse(string(text), os.DirFS(sysCPUDir), aff)
	if len(want.CPUs) == 0 || len(want.CPUs[0].Caches) == 0 {
		t.Skip("the host's sysfs describes no caches")
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Read:\n%+v\nParse with os.DirFS:\n%+v", got, want)
	}
	if _, err := newSysFS("/").ReadFile("../etc"); err == nil {
		t.Error("sysFS read a path outside its root")
	}
}
