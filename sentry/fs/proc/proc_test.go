package proc_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"github.com/veil-sandbox/veil/platform/platformtest"
	"strings"
	"testing"
	"time"

	"github.com/veil-sandbox/veil/sentry/fs/proc"
	"github.com/veil-sandbox/veil/sentry/fs/tmpfs"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/memfile"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/vfs/vfstest"
	"github.com/veil-sandbox/veil/syscalls"
	"golang.org/x/sys/unix"
)

// tinyELF returns a minimal static x86-64 executable (one PT_LOAD segment,
// never run).
func tinyELF() []byte {
	const base = 0x400000
	b := make([]byte, 0x100)
	copy(b, []byte{0x7f, 'E', 'L', 'F', 2, 1, 1})
	le := binary.LittleEndian
	le.PutUint16(b[16:], 2)          // ET_EXEC
	le.PutUint16(b[18:], 62)         // EM_X86_64
	le.PutUint32(b[20:], 1)          // EV_CURRENT
	le.PutUint64(b[24:], base+0x100) // entry
	le.PutUint64(b[32:], 64)         // phoff
	le.PutUint16(b[52:], 64)         // ehsize
	le.PutUint16(b[54:], 56)         // phentsize
	le.PutUint16(b[56:], 1)          // phnum
	ph := b[64:]
	le.PutUint32(ph[0:], 1)     // PT_LOAD
	le.PutUint32(ph[4:], 5)     // R|X
	le.PutUint64(ph[16:], base) // vaddr
	le.PutUint64(ph[24:], base)
	le.PutUint64(ph[32:], uint64(len(b))) // filesz
	le.PutUint64(ph[40:], uint64(len(b))) // memsz
	le.PutUint64(ph[48:], 0x1000)
	return b
}

type env struct {
	t   *testing.T
	ctx *vfstest.Context
	v   *vfs.VirtualFilesystem
	k   *kernel.Kernel
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
	var out []byte
	buf := make([]byte, 100) // small reads: content must stay consistent
	for {
		n, err := f.Read(e.ctx, buf)
		if err != nil {
			e.t.Fatalf("read %s: %v", path, err)
		}
		if n == 0 {
			return string(out)
		}
		out = append(out, buf[:n]...)
	}
}

func (e *env) readlink(path string) string {
	e.t.Helper()
	s, err := e.v.Readlink(e.ctx, e.pop(path, false))
	if err != nil {
		e.t.Fatalf("readlink %s: %v", path, err)
	}
	return s
}

func (e *env) list(path string) []string {
	e.t.Helper()
	f, err := e.v.Open(e.ctx, e.pop(path, true), unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		e.t.Fatalf("open %s: %v", path, err)
	}
	defer f.DecRef()
	var names []string
	if err := f.Getdents(e.ctx, func(d vfs.Dirent, _ int64) bool {
		names = append(names, d.Name)
		return true
	}); err != nil {
		e.t.Fatalf("getdents %s: %v", path, err)
	}
	return names
}

func newEnv(t *testing.T) *env {
	mf, err := memfile.New()
	if err != nil {
		t.Fatal(err)
	}
	ctx := vfstest.Root()
	v := vfs.New(mf)
	if err := v.MountRoot(ctx, tmpfs.New(mf, tmpfs.Options{Mode: 0o755}).Root(), vfs.MountOptions{FSType: "tmpfs", Source: "none"}); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: ctx, v: v, fs: vfs.NewFSContext(v.Root(), v.Root(), 0o022)}
	if err := v.Mkdir(ctx, e.pop("/bin", false), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := v.Open(ctx, e.pop("/bin/prog", false), unix.O_WRONLY|unix.O_CREAT, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(ctx, tinyELF()); err != nil {
		t.Fatal(err)
	}
	f.DecRef()
	e.k, err = kernel.New(&platformtest.Platform{}, mf, v, syscalls.Dispatch)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.MountAt(ctx, "/proc", proc.New(e.k, proc.Options{}), vfs.MountOptions{FSType: "proc", Source: "proc"}); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestProcWithProcess(t *testing.T) {
	e := newEnv(t)
	fdt := vfs.NewFDTable()
	f, err := e.v.Open(e.ctx, e.pop("/bin/prog", true), unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fdt.NewFD(3, f, true)
	f.DecRef()
	err = e.k.CreateProcess(kernel.CreateProcessArgs{
		Path: "/bin/prog", Argv: []string{"prog", "-x", "arg"}, Envv: []string{"A=1", "B=2"},
		Open: syscalls.OpenExecutable, FDTable: fdt, FS: vfs.NewFSContext(e.v.Root(), e.v.Root(), 0o022),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		e.k.TaskByTID(1).ExitGroup(0)
		done := make(chan struct{})
		go func() { e.k.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("process did not die")
		}
	}()

	if got := e.readlink("/proc/self"); got != "1" {
		t.Errorf("/proc/self -> %q", got)
	}
	if got := e.readlink("/proc/self/exe"); got != "/bin/prog" {
		t.Errorf("/proc/self/exe -> %q", got)
	}
	// The most important file: execve("/proc/self/exe") must find the
	// program.
	exe, err := e.v.GetDentry(e.ctx, e.pop("/proc/self/exe", true))
	if err != nil {
		t.Fatalf("resolving /proc/self/exe: %v", err)
	}
	prog, _ := e.v.GetDentry(e.ctx, e.pop("/bin/prog", true))
	if exe.Inode() != prog.Inode() {
		t.Error("/proc/self/exe does not resolve to /bin/prog")
	}
	ef, err := e.v.OpenExecutable(e.ctx, e.pop("/proc/self/exe", true))
	if err != nil {
		t.Fatalf("OpenExecutable(/proc/self/exe): %v", err)
	}
	if ef.PathName() != "/bin/prog" {
		t.Errorf("opened exe path %q", ef.PathName())
	}
	ef.DecRef()

	if got := e.read("/proc/1/cmdline"); got != "prog\x00-x\x00arg\x00" {
		t.Errorf("cmdline = %q", got)
	}
	// (The loader's EnvEnd currently also covers AT_RANDOM and
	// AT_PLATFORM's bytes: check the prefix.)
	if got := e.read("/proc/self/environ"); !strings.HasPrefix(got, "A=1\x00B=2\x00") {
		t.Errorf("environ = %q", got)
	}
	if got := e.read("/proc/1/comm"); got != "prog\n" {
		t.Errorf("comm = %q", got)
	}
	status := e.read("/proc/1/status")
	// The default first process is root with every capability (41 of
	// them, as /proc/sys/kernel/cap_last_cap = 40 on Linux 5.9+).
	for _, want := range []string{"Name:\tprog\n", "Pid:\t1\n", "PPid:\t0\n", "Threads:\t1\n", "Uid:\t0\t0\t0\t0\n",
		"CapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\nCapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000000\nNoNewPrivs:\t0\n"} {
		if !strings.Contains(status, want) {
			t.Errorf("status lacks %q:\n%s", want, status)
		}
	}
	if stat := e.read("/proc/1/stat"); !strings.HasPrefix(stat, "1 (prog) ") {
		t.Errorf("stat = %q", stat)
	}
	if maps := e.read("/proc/1/maps"); !strings.Contains(maps, "00400000-00401000 r-xp") {
		t.Errorf("maps:\n%s", maps)
	}
	if got := e.list("/proc/1/fd"); len(got) != 3 || got[2] != "3" {
		t.Errorf("fd dir = %v", got)
	}
	if got := e.readlink("/proc/1/fd/3"); got != "/bin/prog" {
		t.Errorf("fd/3 -> %q", got)
	}
	if vd, err := e.v.GetDentry(e.ctx, e.pop("/proc/1/fd/3", true)); err != nil || vd.Inode() != prog.Inode() {
		t.Errorf("following fd/3: %v", err)
	}
	if info := e.read("/proc/1/fdinfo/3"); !strings.HasPrefix(info, "pos:\t0\nflags:\t02100000\n") {
		t.Errorf("fdinfo = %q", info)
	}
	if _, err := e.v.GetDentry(e.ctx, e.pop("/proc/1/fd/4", true)); err != unix.ENOENT {
		t.Errorf("fd/4: %v", err)
	}
	if got := e.readlink("/proc/1/cwd"); got != "/" {
		t.Errorf("cwd -> %q", got)
	}
	if got := e.list("/proc/1/task"); len(got) != 3 || got[2] != "1" {
		t.Errorf("task dir = %v", got)
	}
	if got := e.read("/proc/1/task/1/comm"); got != "prog\n" {
		t.Errorf("task comm = %q", got)
	}
	if !contains(e.list("/proc"), "1") {
		t.Error("/proc does not list pid 1")
	}
	mounts := e.read("/proc/mounts")
	if !strings.Contains(mounts, "none / tmpfs rw,relatime 0 0\n") || !strings.Contains(mounts, "proc /proc proc rw,relatime 0 0\n") {
		t.Errorf("mounts:\n%s", mounts)
	}
	if _, err := e.v.GetDentry(e.ctx, e.pop("/proc/2", true)); err != unix.ENOENT {
		t.Errorf("/proc/2: %v", err)
	}
	smaps := e.read("/proc/1/smaps")
	if !strings.HasPrefix(smaps, "00400000-00401000 r-xp 00000000 ") || !strings.Contains(smaps, "/bin/prog\nSize:                  4 kB\n") ||
		!strings.Contains(smaps, "\nVmFlags: rd ex mr mw me sd \n") {
		t.Errorf("smaps:\n%s", smaps)
	}
	if r := e.read("/proc/1/smaps_rollup"); !strings.Contains(r, "[rollup]\nRss:") {
		t.Errorf("smaps_rollup:\n%s", r)
	}
	st, _ := e.v.Stat(e.ctx, e.pop("/bin/prog", true))
	if maps := e.read("/proc/1/maps"); !strings.Contains(maps, fmt.Sprintf(" %02x:%02x %d ", unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino)) {
		t.Errorf("maps does not show /bin/prog's device and inode (%d, %d):\n%s", st.Dev, st.Ino, maps)
	}
	for _, c := range []struct {
		file, write string
		err         error
		adj, oomAdj string
	}{
		{"oom_score_adj", "500\n", nil, "500\n", "8\n"},
		{"oom_score_adj", "-1000", nil, "-1000\n", "-17\n"},
		{"oom_score_adj", "1001", unix.EINVAL, "-1000\n", "-17\n"},
		{"oom_adj", "15", nil, "1000\n", "15\n"},
		{"oom_adj", "-18", unix.EINVAL, "1000\n", "15\n"},
	} {
		f, err := e.v.Open(e.ctx, e.pop("/proc/1/"+c.file, true), unix.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(e.ctx, []byte(c.write)); err != c.err {
			t.Errorf("writing %q to %s: %v, want %v", c.write, c.file, err, c.err)
		}
		f.DecRef()
		if adj, oomAdj := e.read("/proc/1/oom_score_adj"), e.read("/proc/1/task/1/oom_adj"); adj != c.adj || oomAdj != c.oomAdj {
			t.Errorf("after writing %q to %s: oom_score_adj %q, oom_adj %q; want %q, %q", c.write, c.file, adj, oomAdj, c.adj, c.oomAdj)
		}
	}
	if got := e.read("/proc/1/oom_score"); got != "1333\n" {
		t.Errorf("oom_score at oom_score_adj 1000: %q", got)
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func TestProcSystemFiles(t *testing.T) {
	e := newEnv(t)
	names := e.list("/proc")
	for _, want := range []string{"self", "thread-self", "meminfo", "cpuinfo", "stat", "uptime", "sys", "mounts"} {
		if !contains(names, want) {
			t.Errorf("/proc lacks %s: %v", want, names)
		}
	}
	for path, want := range map[string]string{
		"/proc/sys/kernel/ostype":         "Linux\n",
		"/proc/sys/kernel/osrelease":      "6.1.0-veil\n",
		"/proc/sys/kernel/hostname":       "veil\n",
		"/proc/sys/kernel/pid_max":        "4194304\n",
		"/proc/sys/kernel/ngroups_max":    "65536\n",
		"/proc/sys/vm/overcommit_memory":  "0\n",
		"/proc/sys/fs/nr_open":            "1048576\n",
		"/proc/sys/net/core/somaxconn":    "4096\n",
		"/proc/filesystems":               "",
		"/proc/meminfo":                   "MemTotal:",
		"/proc/cpuinfo":                   "processor\t: 0\n",
		"/proc/stat":                      "cpu  ",
		"/proc/loadavg":                   "0.00 0.00 0.00 ",
		"/proc/sys/kernel/random/boot_id": "",
		"/proc/sys/kernel/random/uuid":    "",
		"/proc/uptime":                    "",
		"/proc/version":                   "Linux version 6.1.0-veil",
	} {
		got := e.read(path)
		if got == "" || !strings.HasPrefix(got, want) {
			t.Errorf("%s = %q, want prefix %q", path, got, want)
		}
	}
	if a, b := e.read("/proc/sys/kernel/random/boot_id"), e.read("/proc/sys/kernel/random/boot_id"); a != b {
		t.Error("boot_id changes")
	}
	if a, b := e.read("/proc/sys/kernel/random/uuid"), e.read("/proc/sys/kernel/random/uuid"); a == b {
		t.Error("uuid does not change")
	}
	// No process: /proc/self resolves to nothing for a pid-less caller.
	e.ctx.PID = 0
	if _, err := e.v.Readlink(e.ctx, e.pop("/proc/self", false)); err != unix.ENOENT {
		t.Errorf("/proc/self without a process: %v", err)
	}
	e.ctx.PID = 1
	// Read-only.
	if _, err := e.v.Open(e.ctx, e.pop("/proc/meminfo", true), unix.O_WRONLY, 0); err != unix.EACCES {
		t.Errorf("opening /proc/meminfo for writing: %v", err)
	}
	if err := e.v.Mkdir(e.ctx, e.pop("/proc/x", false), 0o755); err == nil {
		t.Error("mkdir in /proc succeeded")
	}
	st, err := e.v.StatFS(e.ctx, e.pop("/proc/stat", true))
	if err != nil || st.Type != vfs.ProcMagic {
		t.Errorf("statfs = %+v, %v", st, err)
	}
	// Rereading at offset 0 regenerates.
	f, err := e.v.Open(e.ctx, e.pop("/proc/sys/kernel/hostname", true), unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.DecRef()
	buf := make([]byte, 64)
	n, _ := f.PRead(e.ctx, buf, 0)
	e.k.SetHostname("other")
	n2, _ := f.PRead(e.ctx, buf[n:], 0)
	if !bytes.Equal(buf[:n], []byte("veil\n")) || string(buf[n:n+n2]) != "other\n" {
		t.Errorf("hostname reads %q then %q", buf[:n], buf[n:n+n2])
	}
}
