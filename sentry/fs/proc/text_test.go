package proc

import (
	"strings"
	"testing"
	"time"

	"github.com/veil-sandbox/veil/sentry/hostinfo"
	"github.com/veil-sandbox/veil/sentry/mm"
	"golang.org/x/sys/unix"
)

func TestTaskStatText(t *testing.T) {
	ti := &taskInfo{pid: 7, ppid: 1, pgrp: 7, sid: 1, comm: "a b) c", state: 'S', threads: 3, tpgid: -1,
		mem: memStats{size: 8192, rss: 4096, startCode: 0x400000, endCode: 0x401000, startStack: 0x7ff0}}
	s := taskStatText(ti)
	if !strings.HasPrefix(s, "7 (a b) c) S 1 7 1 0 -1 ") || !strings.HasSuffix(s, "\n") {
		t.Fatalf("stat = %q", s)
	}
	// Fields after the comm: the last ')' ends it.
	rest := strings.Fields(s[strings.LastIndex(s, ")")+2:])
	if len(rest) != 50 {
		t.Fatalf("%d fields after comm, want 50: %q", len(rest), s)
	}
	if rest[17] != "3" { // num_threads is field 20
		t.Fatalf("num_threads = %s", rest[17])
	}
	if rest[20] != "8192" || rest[21] != "1" { // vsize, rss (pages)
		t.Fatalf("vsize/rss = %s %s", rest[20], rest[21])
	}
	if rest[23] != "4194304" || rest[24] != "4198400" || rest[25] != "32752" { // startcode endcode startstack
		t.Fatalf("code/stack = %v", rest[23:26])
	}
	ti.tid = 9
	if s := taskStatText(ti); !strings.HasPrefix(s, "9 (") {
		t.Fatalf("thread stat = %q", s)
	}
}

func TestTaskStatusText(t *testing.T) {
	ti := &taskInfo{pid: 5, ppid: 1, comm: "sh", state: 'R', threads: 2, umask: 0o22,
		uid: [4]uint32{1000, 1000, 1000, 1000}, gid: [4]uint32{100, 100, 100, 100}, fdSize: 64, ncpu: 2,
		mem:    memStats{rss: 3 << 20, hwm: 4 << 20, size: 8 << 20, peak: 9 << 20, exe: 8192, lib: 3 << 20},
		sigPnd: 0x3, sigQueueMax: 1000, voluntarySwitches: 12,
		sigBlk: 0x10000, capInh: 0x400, capPrm: 0xa80425fb, capEff: 0x20, capBnd: 0xa80425fb, capAmb: 0x400,
		noNewPrivs: true}
	s := taskStatusText(ti)
	for _, want := range []string{
		"Name:\tsh\n", "Umask:\t0022\n", "State:\tR (running)\n", "Tgid:\t5\n", "Pid:\t5\n", "PPid:\t1\n",
		"Uid:\t1000\t1000\t1000\t1000\n", "Gid:\t100\t100\t100\t100\n", "Threads:\t2\n",
		"VmPeak:\t    9216 kB\nVmSize:\t    8192 kB\n", "VmHWM:\t    4096 kB\nVmRSS:\t    3072 kB\n",
		"VmExe:\t       8 kB\nVmLib:\t    3072 kB\n", "SigQ:\t2/1000\n", "SigBlk:\t0000000000010000\n",
		"Cpus_allowed:\t3\nCpus_allowed_list:\t0-1\n", "Mems_allowed_list:\t0\n", "voluntary_ctxt_switches:\t12\n",
		// In Linux's order, after SigCgt (fs/proc/array.c).
		"SigCgt:\t0000000000000000\nCapInh:\t0000000000000400\nCapPrm:\t00000000a80425fb\nCapEff:\t0000000000000020\n" +
			"CapBnd:\t00000000a80425fb\nCapAmb:\t0000000000000400\nNoNewPrivs:\t1\nSeccomp:\t0\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("status lacks %q:\n%s", want, s)
		}
	}
}

func TestCpuinfoText(t *testing.T) {
	cpuinfo := "processor\t: 0\nmodel name\t: Test CPU\nsiblings\t: 8\ncore id\t\t: 0\ncpu cores\t: 4\nflags\t\t: fpu sse2 avx2\npower management:\n\n" +
		"processor\t: 1\nmodel name\t: Test CPU\nsiblings\t: 8\ncore id\t\t: 1\ncpu cores\t: 4\nflags\t\t: fpu sse2 avx2\npower management:\n\n"
	// The sandbox runs on host CPU 1 only.
	s := cpuinfoText(hostinfo.Parse(cpuinfo, nil, []int{1}))
	want := "processor\t: 0\nmodel name\t: Test CPU\nsiblings\t: 1\ncore id\t\t: 1\ncpu cores\t: 1\nflags\t\t: fpu sse2 avx2\npower management:\n\n"
	if s != want {
		t.Fatalf("cpuinfo = %q, want %q", s, want)
	}
	if s := cpuinfoText(hostinfo.Synthetic(2)); strings.Count(s, "processor\t: ") != 2 || !strings.Contains(s, " sse2") {
		t.Fatalf("synthetic cpuinfo:\n%s", s)
	}
}

func TestMeminfoText(t *testing.T) {
	s := meminfoText(memInfo{total: 8 << 30, free: 4 << 30, available: 5 << 30})
	if !strings.HasPrefix(s, "MemTotal:        8388608 kB\nMemFree:         4194304 kB\nMemAvailable:    5242880 kB\n") {
		t.Fatalf("meminfo:\n%s", s)
	}
	if !strings.Contains(s, "\nHugePages_Total:       0\nHugePages_Free:        0\n") {
		t.Fatalf("HugePages lines have no unit:\n%s", s)
	}
}

func TestMeminfoParse(t *testing.T) {
	var m memInfo
	parseMeminfo("MemTotal:       1000 kB\nMemAvailable:    600 kB\nCached:  100 kB\nHugePages_Total:  0\n", &m)
	if m.total != 1000<<10 || m.available != 600<<10 || m.cached != 100<<10 {
		t.Fatalf("parsed %+v", m)
	}
}

func TestStatText(t *testing.T) {
	s := statText(2, 10*time.Second, 1700000000, 3, 1)
	for _, want := range []string{"cpu  0 0 0 2000 ", "cpu0 0 0 0 1000 ", "cpu1 ", "btime 1700000000\n", "processes 3\n", "procs_running 1\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("stat lacks %q:\n%s", want, s)
		}
	}
}

func TestMountsText(t *testing.T) {
	ms := []mountEntry{
		{id: 1, parent: 1, dev: unix.Mkdev(0, 24), path: "/", fstype: "9p", source: "rootfs", readOnly: true},
		{id: 2, parent: 1, dev: unix.Mkdev(0, 25), path: "/my dir", fstype: "tmpfs", noSuid: true, noDev: true},
	}
	if got, want := mountsText(ms), "rootfs / 9p ro,relatime 0 0\nnone /my\\040dir tmpfs rw,nosuid,nodev,relatime 0 0\n"; got != want {
		t.Fatalf("mounts = %q, want %q", got, want)
	}
	if got, want := mountinfoText(ms), "1 1 0:24 / / ro,relatime - 9p rootfs ro\n2 1 0:25 / /my\\040dir rw,nosuid,nodev,relatime - tmpfs none rw\n"; got != want {
		t.Fatalf("mountinfo = %q, want %q", got, want)
	}
	if got := mountstatsText(ms); !strings.HasPrefix(got, "device rootfs mounted on / with fstype 9p\n") {
		t.Fatalf("mountstats = %q", got)
	}
}

func TestSmapsText(t *testing.T) {
	maps := []mm.Mapping{
		{Start: 0x400000, End: 0x402000, Prot: unix.PROT_READ | unix.PROT_EXEC, MaxProt: 7, Dev: unix.Mkdev(0, 30), Ino: 5,
			Name: "/bin/x", File: true, Usage: mm.Usage{Rss: 8192, Pss: 4096, SharedClean: 8192, PssFile: 4096}},
		{Start: 0x7ff000, End: 0x800000, Prot: unix.PROT_READ | unix.PROT_WRITE, MaxProt: 7, Name: "[stack]", Stack: true,
			Usage: mm.Usage{Rss: 4096, Pss: 4096, PrivateDirty: 4096, Anonymous: 4096, PssAnon: 4096, PssDirty: 4096}},
	}
	s := smapsText(maps, false)
	for _, want := range []string{
		"00400000-00402000 r-xp 00000000 00:1e 5", "/bin/x\nSize:                  8 kB\nKernelPageSize:        4 kB\nMMUPageSize:           4 kB\nRss:                   8 kB\nPss:                   4 kB\n",
		"Shared_Clean:          8 kB\n", "THPeligible:           0\nVmFlags: rd ex mr mw me sd \n",
		"[stack]\nSize:                  4 kB\n", "Private_Dirty:         4 kB\n", "Anonymous:             4 kB\n", "VmFlags: rd wr mr mw me gd ac \n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("smaps lacks %q:\n%s", want, s)
		}
	}
	r := smapsRollupText(maps)
	if !strings.HasPrefix(r, "00400000-00800000 ---p 00000000 00:00 0 ") || !strings.Contains(r, "[rollup]\nRss:                  12 kB\nPss:                   8 kB\nPss_Dirty:             4 kB\nPss_Anon:              4 kB\nPss_File:              4 kB\n") {
		t.Errorf("smaps_rollup:\n%s", r)
	}
	if strings.Contains(r, "VmFlags") || strings.Contains(r, "Size:") {
		t.Errorf("smaps_rollup has per-mapping lines:\n%s", r)
	}
}

func TestOOMScore(t *testing.T) {
	for _, c := range []struct {
		rss, total uint64
		adj, want  int
	}{
		{0, 1000, 0, 666}, {500, 1000, 0, 1000}, {0, 1000, 1000, 1333}, {0, 1000, -1000, 0}, {0, 1000, -500, 333},
	} {
		if got := oomScore(c.rss, c.total, c.adj); got != c.want {
			t.Errorf("oomScore(%d, %d, %d) = %d, want %d", c.rss, c.total, c.adj, got, c.want)
		}
	}
}

func TestLimitsText(t *testing.T) {
	s := limitsText(func(i int) (uint64, uint64) {
		if i == 7 {
			return 1024, 4096
		}
		return ^uint64(0), ^uint64(0)
	})
	lines := strings.Split(s, "\n")
	if !strings.HasPrefix(lines[0], "Limit ") || !strings.Contains(lines[8], "Max open files") ||
		!strings.Contains(lines[8], "1024") || !strings.Contains(lines[1], "unlimited") {
		t.Fatalf("limits:\n%s", s)
	}
}
