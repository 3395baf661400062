package proc

import (
	"strings"
	"testing"
	"time"
)

func TestTaskStatText(t *testing.T) {
	ti := &taskInfo{pid: 7, ppid: 1, pgrp: 7, sid: 1, comm: "a b) c", state: 'S', threads: 3, vsize: 8192, rss: 4096}
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
	ti.tid = 9
	if s := taskStatText(ti); !strings.HasPrefix(s, "9 (") {
		t.Fatalf("thread stat = %q", s)
	}
}

func TestTaskStatusText(t *testing.T) {
	ti := &taskInfo{pid: 5, ppid: 1, comm: "sh", state: 'R', threads: 2, umask: 0o22,
		uid: [4]uint32{1000, 1000, 1000, 1000}, gid: [4]uint32{100, 100, 100, 100}, rss: 3 << 20, fdSize: 64,
		sigBlk: 0x10000, capInh: 0x400, capPrm: 0xa80425fb, capEff: 0x20, capBnd: 0xa80425fb, capAmb: 0x400,
		noNewPrivs: true}
	s := taskStatusText(ti)
	for _, want := range []string{
		"Name:\tsh\n", "Umask:\t0022\n", "State:\tR (running)\n", "Tgid:\t5\n", "Pid:\t5\n", "PPid:\t1\n",
		"Uid:\t1000\t1000\t1000\t1000\n", "Gid:\t100\t100\t100\t100\n", "Threads:\t2\n",
		"VmRSS:\t    3072 kB\n", "SigBlk:\t0000000000010000\n",
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
	s := cpuinfoText(2, cpuFlags())
	if strings.Count(s, "processor\t: ") != 2 || !strings.Contains(s, "processor\t: 1\n") {
		t.Fatalf("cpuinfo:\n%s", s)
	}
	if !strings.Contains(s, " sse2") {
		t.Fatal("no sse2 flag")
	}
}

func TestMeminfoText(t *testing.T) {
	s := meminfoText(8<<30, 4<<30, 0, 0, 0)
	if !strings.HasPrefix(s, "MemTotal:        8388608 kB\nMemFree:         4194304 kB\n") {
		t.Fatalf("meminfo:\n%s", s)
	}
}

func TestStatText(t *testing.T) {
	s := statText(2, 10*time.Second, 1700000000, 3)
	for _, want := range []string{"cpu  0 0 0 2000 ", "cpu0 0 0 0 1000 ", "cpu1 ", "btime 1700000000\n", "processes 3\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("stat lacks %q:\n%s", want, s)
		}
	}
}

func TestMountsText(t *testing.T) {
	ms := []mountEntry{
		{id: 1, parent: 1, path: "/", fstype: "9p", source: "rootfs", readOnly: true},
		{id: 2, parent: 1, path: "/my dir", fstype: "tmpfs"},
	}
	if got, want := mountsText(ms), "rootfs / 9p ro,relatime 0 0\nnone /my\\040dir tmpfs rw,relatime 0 0\n"; got != want {
		t.Fatalf("mounts = %q, want %q", got, want)
	}
	if got := mountinfoText(ms); !strings.HasPrefix(got, "1 1 0:1 / / ro,relatime - 9p rootfs ro\n2 1 0:2 / /my\\040dir rw,relatime - tmpfs none rw\n") {
		t.Fatalf("mountinfo = %q", got)
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
