package tests

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// stdPath is the PATH of the Debian-program tests: the distribution's
// programs only (no pyenv or cargo shims in front of them).
const stdPath = "PATH=/usr/sbin:/usr/bin:/sbin:/bin"

// TestProcfsStructure runs testdata/procfs/structure.sh natively and
// under runsc do: what programs parse in /proc and /sys (field names and
// counts, the CPUs' description, the headers of free, ps, top, vmstat,
// lscpu, df and findmnt, the consistency of maps with stat, smaps with
// smaps_rollup) must be the same.
func TestProcfsStructure(t *testing.T) {
	for _, p := range []string{"/usr/bin/lscpu", "/usr/bin/free", "/usr/bin/findmnt", "/usr/bin/python3"} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s is not installed (.ci/run installs procps, util-linux and python3): %v", p, err)
		}
	}
	script := filepath.Join(testsDir, "testdata", "procfs", "structure.sh")
	o := withEnv(opts{timeout: 60 * time.Second}, stdPath)
	nat := native(t, o, "/bin/bash", script)
	if nat.code != 0 {
		t.Fatalf("BUG IN THE TEST: the native run failed%s", nat)
	}
	sb := sandbox(t, o, "/bin/bash", script)
	checkNoCrash(t, sb)
	if sb.stdout != nat.stdout {
		t.Errorf("/proc and /sys differ from the native ones in section %q; %s\nsandboxed run:%s",
			section(sb.stdout, nat.stdout), firstDiff(nat.stdout, sb.stdout), sb)
	}
}

// section names the "== name" section of the first line where got
// differs from want.
func section(got, want string) string {
	gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
	name := "(before any section)"
	for i := 0; i < len(gl) && i < len(wl); i++ {
		if strings.HasPrefix(wl[i], "== ") {
			name = strings.TrimPrefix(wl[i], "== ")
		}
		if gl[i] != wl[i] {
			break
		}
	}
	return name
}

// TestProcfsSandbox checks what a native run cannot show the same way.
func TestProcfsSandbox(t *testing.T) {
	o := withEnv(opts{timeout: 60 * time.Second}, stdPath)
	t.Run("no-kmsg", func(t *testing.T) {
		// The kernel log is the host's business.
		r := sandbox(t, o, "/bin/sh", "-c", "test -e /proc/kmsg && echo present; test -e /sys/firmware && echo firmware; echo done")
		expect(t, r, 0, "done\n")
	})
	t.Run("anon-vma-name", func(t *testing.T) {
		// prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME) on part of an anonymous
		// mapping (the host kernel may lack CONFIG_ANON_VMA_NAME, so only
		// the sandbox is checked).
		r := sandbox(t, o, "/usr/bin/python3", "-c", `
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
addr = libc.mmap(None, 3 * 4096, 3, 0x22, -1, 0)
r = libc.prctl(0x53564d41, 0, ctypes.c_ulong(addr), ctypes.c_ulong(2 * 4096), b"veil-test")
print("prctl", r, ctypes.get_errno())
r = libc.prctl(0x53564d41, 0, ctypes.c_ulong(addr), ctypes.c_ulong(4096), b"bad[name]")
print("bad name", r, ctypes.get_errno())
for l in open("/proc/self/maps"):
    f = l.split()
    lo, hi = (int(x, 16) for x in f[0].split("-"))
    if lo <= addr < hi or lo == addr + 2 * 4096:
        print(hi - lo, f[5] if len(f) > 5 else "(unnamed)")
`)
		expect(t, r, 0, "prctl 0 0\nbad name -1 22\n8192 [anon:veil-test]\n4096 (unnamed)\n")
	})
	t.Run("mounts", func(t *testing.T) {
		// runsc do mounts the Sentry's sysfs and cgroup view; /dev/shm
		// shows once; device numbers in mountinfo are those stat shows.
		r := sandbox(t, o, "/bin/bash", "-c", `
grep -c ' /dev/shm ' /proc/self/mounts
findmnt -n -o FSTYPE,OPTIONS /sys/fs/cgroup
cat /proc/self/cgroup
awk '$5 == "/tmp" {print $3}' /proc/self/mountinfo
printf '%d:%d\n' $(stat -c '%Hd %Ld' /tmp)
grep -c ' - ' /proc/self/mountinfo | grep -qx "$(wc -l < /proc/self/mountinfo)" && echo "every line has its separator"`)
		checkNoCrash(t, r)
		lines := strings.Split(r.stdout, "\n")
		if r.code != 0 || len(lines) < 7 || lines[0] != "1" || lines[1] != "cgroup2 ro,nosuid,nodev,noexec,relatime" ||
			lines[2] != "0::/" || lines[3] != lines[4] || lines[5] != "every line has its separator" {
			t.Errorf("want /dev/shm once, the cgroup2 view, 0::/, /tmp's device as stat shows it%s", r)
		}
	})
}

// TestProcfsBundleLimits runs a bundle with a memory and pids limit and
// docker's mounts (sysfs, cgroup, a /dev/shm tmpfs): the application sees
// the limits in /proc/meminfo and /sys/fs/cgroup, and /dev/shm once.
func TestProcfsBundleLimits(t *testing.T) {
	type linux struct {
		Resources map[string]any `json:"resources"`
	}
	type spec struct {
		ociSpec
		Linux linux `json:"linux"`
	}
	s := spec{ociSpec: newSpec("/", "/bin/busybox", "sh", "-c", `
grep MemTotal /proc/meminfo
cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max /sys/fs/cgroup/cpu.max
grep -c ' /dev/shm ' /proc/mounts
grep ' /sys' /proc/mounts
cat /sys/devices/system/cpu/online`)}
	s.Mounts = []ociMount{
		{Destination: "/proc", Type: "proc", Source: "proc"},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
	}
	s.Linux.Resources = map[string]any{
		"memory": map[string]any{"limit": 128 << 20},
		"pids":   map[string]any{"limit": 200},
		"cpu":    map[string]any{"quota": 50000, "period": 100000},
	}
	dir := makeBundle(t, s.ociSpec)
	writeJSON(t, filepath.Join(dir, "config.json"), s)
	r := runBundle(t, opts{timeout: 60 * time.Second}, dir)
	online := strings.TrimSpace(native(t, opts{}, "/bin/cat", "/sys/devices/system/cpu/online").stdout)
	expect(t, r, 0, "MemTotal:         131072 kB\n134217728\n200\n50000 100000\n1\n"+
		"sysfs /sys sysfs ro,nosuid,nodev,noexec,relatime 0 0\ncgroup2 /sys/fs/cgroup cgroup2 ro,nosuid,nodev,noexec,relatime 0 0\n"+
		online+"\n")
}

// TestProcfsTerminal runs runsc do on a terminal: /proc/PID/stat shows the
// process's controlling terminal as its tty_nr, so ps names it as tty(1)
// does, and the foreground process group as tpgid.
func TestProcfsTerminal(t *testing.T) {
	needRunsc(t)
	_, slave, _ := openPTY(t)
	script := `t=$(tty)
[ "/dev/$(ps -o tty= -p $$)" = "$t" ] && echo "ps names the terminal"
maj=$((0x$(stat -c %t "$t"))); min=$((0x$(stat -c %T "$t")))
set -- $(cut -d' ' -f7,8 /proc/$$/stat)
[ "$1" = $(( (min & 0xff) | (maj << 8) | ((min & ~0xff) << 12) )) ] && echo "tty_nr is its device number"
[ "$2" -gt 0 ] && echo "tpgid is set"`
	cmd := exec.Command(runscPath, "do", "/bin/bash", "-c", script)
	cmd.Env = append(os.Environ(), stdPath)
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("runsc: %v (stderr %q)", err, stderr.String())
		}
	case <-time.After(defaultTimeout):
		cmd.Process.Kill()
		<-done
		t.Fatal("timed out")
	}
	if want := "ps names the terminal\ntty_nr is its device number\ntpgid is set\n"; stdout.String() != want {
		t.Errorf("stdout %q, want %q (stderr %q)", stdout.String(), want, stderr.String())
	}
}
