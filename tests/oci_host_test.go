package tests

// Host-side helpers of the OCI tests: what the runtime left on the host
// (processes, mounts, cgroups), and the engine's end of a console socket.

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ---- host snapshots: processes, mounts, cgroups ----

// runtimeProcesses lists the host processes of the runtime binary: for
// runsc every process of the runsc under test (Sentry, gofer, stubs, CLI);
// for runc the CLI and `runc init`.
func (rt *ociRuntime) runtimeProcesses() []string {
	if rt.name == "runsc" {
		return runscProcesses()
	}
	// Other people run runc on this machine too: only count the CLI
	// working on this root and a `runc init` in the cgroup of one of this
	// test's containers (runc names the cgroup after the id).
	var found []string
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		argv := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if filepath.Base(argv[0]) != "runc" && !strings.HasPrefix(argv[0], "runc:") {
			continue
		}
		ours := slices.Contains(argv, rt.root)
		if cg, err := os.ReadFile(filepath.Join(d, "cgroup")); err == nil && !ours {
			for _, id := range rt.ids {
				if strings.Contains(string(cg), id) {
					ours = true
					break
				}
			}
		}
		if ours {
			found = append(found, filepath.Base(d)+": "+strings.Join(argv, " "))
		}
	}
	return found
}

// mountPoints lists the mount points of the test's mount namespace.
func mountPoints() []string {
	var mps []string
	for _, m := range mountInfo() {
		mps = append(mps, m.point)
	}
	return mps
}

type mountEntry struct {
	point, fstype, source, super, root string
}

func (m mountEntry) String() string {
	return fmt.Sprintf("%s (%s from %s, root %s)", m.point, m.fstype, m.source, m.root)
}

func mountInfo() []mountEntry {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var ms []mountEntry
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		sep := -1
		for i, x := range f {
			if x == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || len(f) < sep+4 {
			continue
		}
		ms = append(ms, mountEntry{root: unescapeMount(f[3]), point: unescapeMount(f[4]),
			fstype: f[sep+1], source: unescapeMount(f[sep+2]), super: f[sep+3]})
	}
	return ms
}

// mountCounts counts the mounts by what they are (not by mount id).
func mountCounts() map[string]int {
	n := map[string]int{}
	for _, m := range mountInfo() {
		n[m.String()]++
	}
	return n
}

// newMounts returns the mounts in after that are not in before, and apart
// those that belong to other runs of these e2e tests (other work dirs
// under /var/tmp: other worktrees run docker, containerd... there, in the
// host's mount namespace too).
func newMounts(before, after map[string]int) (ours, others []string) {
	for m, n := range after {
		if n <= before[m] {
			continue
		}
		e := fmt.Sprintf("%s (x%d)", m, n-before[m])
		other := strings.HasPrefix(m, filepath.Join(workParent, workPrefix)) &&
			!strings.HasPrefix(m, workDir+"/") && !strings.HasPrefix(m, workDir+" ")
		if other {
			others = append(others, e)
		} else {
			ours = append(ours, e)
		}
	}
	sort.Strings(ours)
	sort.Strings(others)
	return ours, others
}

// cgroupMounts maps "ctrl1,ctrl2" (v1, as in /proc/PID/cgroup) or "" (v2)
// to the hierarchy's mount point.
func cgroupMounts() map[string]string {
	res := map[string]string{}
	for _, m := range mountInfo() {
		switch m.fstype {
		case "cgroup2":
			if _, ok := res[""]; !ok {
				res[""] = m.point
			}
		case "cgroup":
			var ctrls []string
			for _, o := range strings.Split(m.super, ",") {
				if o != "rw" && o != "ro" && !strings.HasPrefix(o, "release_agent=") &&
					o != "clone_children" && o != "noprefix" && o != "xattr" && o != "cpuset_v2_mode" {
					ctrls = append(ctrls, o)
				}
			}
			sort.Strings(ctrls)
			res[strings.Join(ctrls, ",")] = m.point
		}
	}
	return res
}

// procCgroupDirs returns the cgroup directories (one per hierarchy) a
// host process is in.
func procCgroupDirs(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return nil
	}
	mounts := cgroupMounts()
	var dirs []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		ctrls := strings.Split(f[1], ",")
		sort.Strings(ctrls)
		mp, ok := mounts[strings.Join(ctrls, ",")]
		if !ok {
			continue
		}
		dirs = append(dirs, filepath.Join(mp, f[2]))
	}
	return dirs
}

// cgroupDirSet lists the cgroup directories of all hierarchies, down to a
// few levels.
func cgroupDirSet() map[string]bool {
	set := map[string]bool{}
	for _, mp := range cgroupMounts() {
		base := strings.Count(mp, "/")
		filepath.WalkDir(mp, func(p string, e os.DirEntry, err error) error {
			if err != nil || !e.IsDir() {
				return nil
			}
			set[p] = true
			if strings.Count(p, "/")-base >= 6 {
				return filepath.SkipDir
			}
			return nil
		})
	}
	return set
}

// cgroupDirsNaming lists the cgroup directories below a hierarchy's root
// whose path contains s.
func cgroupDirsNaming(s string) []string {
	var found []string
	mps := map[string]bool{}
	for _, mp := range cgroupMounts() {
		mps[mp] = true
	}
	for p := range cgroupDirSet() {
		if !mps[p] && strings.Contains(p, s) {
			found = append(found, p)
		}
	}
	sort.Strings(found)
	return found
}

// ---- console socket ----

// consoleSocket is the engine's end of --console-socket: a unix socket on
// which the runtime sends the pty master (SCM_RIGHTS).
type consoleSocket struct {
	path string
	ln   *net.UnixListener
	got  chan consoleMsg
}

type consoleMsg struct {
	master *os.File
	name   string
	err    error
}

func newConsoleSocket(t *testing.T, dir string) *consoleSocket {
	t.Helper()
	path := filepath.Join(dir, "cs-"+nonce(t)[:6]+".sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	cs := &consoleSocket{path: path, ln: ln, got: make(chan consoleMsg, 1)}
	t.Cleanup(func() { ln.Close() })
	go cs.accept()
	return cs
}

func (cs *consoleSocket) accept() {
	cs.ln.SetDeadline(time.Now().Add(2 * defaultTimeout))
	conn, err := cs.ln.AcceptUnix()
	if err != nil {
		cs.got <- consoleMsg{err: fmt.Errorf("no connection on the console socket: %v", err)}
		return
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(defaultTimeout))
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		cs.got <- consoleMsg{err: fmt.Errorf("reading the console socket: %v", err)}
		return
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) == 0 {
		cs.got <- consoleMsg{err: fmt.Errorf("console socket message carries no control message (%d data bytes %q): %v", n, buf[:n], err)}
		return
	}
	var fds []int
	for _, m := range msgs {
		if f, err := unix.ParseUnixRights(&m); err == nil {
			fds = append(fds, f...)
		}
	}
	if len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		cs.got <- consoleMsg{err: fmt.Errorf("console socket message carries %d file descriptors, want 1 (the pty master)", len(fds))}
		return
	}
	cs.got <- consoleMsg{master: os.NewFile(uintptr(fds[0]), "pty-master"), name: string(buf[:n])}
}

// master waits for the pty master the runtime sent.
func (cs *consoleSocket) master(t *testing.T) *os.File {
	t.Helper()
	select {
	case m := <-cs.got:
		if m.err != nil {
			t.Fatal(m.err)
		}
		t.Logf("console socket: got the pty master (message %q)", m.name)
		t.Cleanup(func() { m.master.Close() })
		return m.master
	case <-time.After(2 * defaultTimeout):
		t.Fatal("no pty master on the console socket")
	}
	return nil
}

// ptyReader collects everything read from a pty master.
type ptyReader struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	done chan struct{}
}

func readPty(f *os.File) *ptyReader {
	p := &ptyReader{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		b := make([]byte, 4096)
		for {
			n, err := f.Read(b)
			p.mu.Lock()
			p.buf.Write(b[:n])
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return p
}

func (p *ptyReader) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.String()
}

// waitFor polls until the terminal output after offset from contains s;
// it returns the offset just past it.
func (p *ptyReader) waitFor(t *testing.T, from int, s string, d time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		out := p.String()
		if from > len(out) {
			from = len(out)
		}
		if i := strings.Index(out[from:], s); i >= 0 {
			return from + i + len(s)
		}
		if time.Now().After(deadline) {
			t.Fatalf("terminal did not show %q within %v; terminal output since offset %d:\n%s", s, d, from, indent(strconv.Quote(out[from:])))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
