package tests

// Pods: the containers of a Kubernetes pod run in one sandbox. The tests
// drive `runsc create/start/exec/kill/wait/delete` with bundles whose
// config.json carries the annotations containerd's CRI plugin sets
// (io.kubernetes.cri.container-type, io.kubernetes.cri.sandbox-id, the
// pod's name, namespace and uid) and the ones gVisor reads for a pod's
// shared emptyDir (dev.gvisor.spec.mount.NAME.*).

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// pod is a pod sandbox of a runtime and what its containers share.
type pod struct {
	rt       *ociRuntime
	sandbox  *ociContainer
	volume   string // host path CRI would give the emptyDir (never written: the tmpfs is in the Sentry)
	hostPath string // a hostPath volume every container binds at /hp
}

// newPod writes the bundle of a pod sandbox whose process (standing in
// for the pause container) sleeps, and creates and starts it.
func newPod(t *testing.T, rt *ociRuntime) *pod {
	t.Helper()
	p := &pod{rt: rt, volume: filepath.Join(rt.dir, "emptydir"), hostPath: filepath.Join(rt.dir, "hostpath")}
	for _, d := range []string{p.volume, p.hostPath} {
		if err := os.MkdirAll(d, 0o777); err != nil {
			t.Fatal(err)
		}
		os.Chmod(d, 0o777)
	}
	p.sandbox = rt.newContainer(t, nil, "pod")
	p.sandbox.b = rt.newBundle(t, bundleOpts{noOut: true, edit: func(s *specs.Spec) {
		s.Annotations = p.annotations("sandbox")
		s.Hostname = "web-pod"
		s.Annotations["dev.gvisor.spec.mount.cache.source"] = p.volume
		s.Annotations["dev.gvisor.spec.mount.cache.type"] = "tmpfs"
		s.Annotations["dev.gvisor.spec.mount.cache.share"] = "pod"
	}}, "sleep", "1000000")
	p.sandbox.createStart(t)
	return p
}

func (p *pod) annotations(kind string) map[string]string {
	return map[string]string{
		ociAnnotation:                         "pod",
		"io.kubernetes.cri.container-type":    kind,
		"io.kubernetes.cri.sandbox-id":        p.sandbox.id,
		"io.kubernetes.cri.sandbox-name":      "web",
		"io.kubernetes.cri.sandbox-namespace": "default",
		"io.kubernetes.cri.sandbox-uid":       "6b1f2c3d-0000-4000-8000-000000000001",
	}
}

// container writes the bundle of a container of the pod, with a root
// filesystem of its own holding /whoami (its name) and /bin/podshm, the
// pod's emptyDir at /shared and the hostPath volume at /hp.
func (p *pod) container(t *testing.T, name string, args ...string) *ociContainer {
	t.Helper()
	c := p.rt.newContainer(t, nil, name)
	// The files the CRI plugin binds into every container.
	files := filepath.Join(p.rt.dir, "files-"+name)
	if err := os.MkdirAll(files, 0o755); err != nil {
		t.Fatal(err)
	}
	for f, data := range map[string]string{"hosts": "127.0.0.1 localhost\n10.1.2.3 " + name + "\n", "resolv.conf": "nameserver 10.96.0.10\n", "termination-log": ""} {
		if err := os.WriteFile(filepath.Join(files, f), []byte(data), 0o666); err != nil {
			t.Fatal(err)
		}
	}
	// Writable roots, as CRI makes them unless readonly_rootfs.
	c.b = p.rt.newBundle(t, bundleOpts{writable: true, edit: func(s *specs.Spec) {
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/etc/hosts", Type: "bind", Source: filepath.Join(files, "hosts"), Options: []string{"rbind", "rprivate", "ro"}},
			specs.Mount{Destination: "/etc/resolv.conf", Type: "bind", Source: filepath.Join(files, "resolv.conf"), Options: []string{"rbind", "rprivate", "ro"}},
			specs.Mount{Destination: "/dev/termination-log", Type: "bind", Source: filepath.Join(files, "termination-log"), Options: []string{"rbind", "rprivate", "rw"}})
		s.Annotations = p.annotations("container")
		s.Annotations["io.kubernetes.cri.container-name"] = name
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/shared", Type: "bind", Source: p.volume, Options: []string{"rbind", "rw"}},
			specs.Mount{Destination: "/hp", Type: "bind", Source: p.hostPath, Options: []string{"rbind", "rw"}})
	}}, args...)
	if err := os.WriteFile(filepath.Join(c.b.rootfs, "whoami"), []byte(name+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	copyFile(t, prog("podshm"), filepath.Join(c.b.rootfs, "bin", "podshm"), 0o755)
	return c
}

// sentryPIDs returns the Sentry processes of this run's runsc: the
// runsc-sandbox processes whose parent is not one (the stub processes a
// Sentry forks inherit its command line).
func sentryPIDs() map[int]bool {
	all := map[int]bool{}
	for _, p := range runscProcesses() {
		pid, _ := strconv.Atoi(strings.SplitN(p, ":", 2)[0])
		if strings.HasPrefix(strings.TrimSpace(strings.SplitN(p, ":", 2)[1]), "runsc-sandbox ") {
			all[pid] = true
		}
	}
	out := map[int]bool{}
	for pid := range all {
		if !all[parentPID(pid)] {
			out[pid] = true
		}
	}
	return out
}

// goferPIDs returns the gofer processes of this run's runsc.
func goferPIDs() map[int]bool {
	out := map[int]bool{}
	for _, p := range runscProcesses() {
		f := strings.SplitN(p, ":", 2)
		if strings.HasPrefix(strings.TrimSpace(f[1]), "runsc-gofer ") {
			pid, _ := strconv.Atoi(f[0])
			out[pid] = true
		}
	}
	return out
}

func parentPID(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

// withPIDPath gives the pid namespace of nss the path p.
func withPIDPath(nss []specs.LinuxNamespace, p string) []specs.LinuxNamespace {
	out := []specs.LinuxNamespace{{Type: specs.PIDNamespace, Path: p}}
	for _, ns := range nss {
		if ns.Type != specs.PIDNamespace {
			out = append(out, ns)
		}
	}
	return out
}

func newKeys(after, before map[int]bool) []int {
	var out []int
	for p := range after {
		if !before[p] {
			out = append(out, p)
		}
	}
	return out
}

// execOut runs argv in c and returns its stdout; a failure is fatal.
func execOut(t *testing.T, c *ociContainer, argv ...string) string {
	t.Helper()
	r := c.exec(t, ociOpts{}, nil, argv...)
	if r.code != 0 || r.timedOut {
		t.Fatalf("exec %q in %s failed%s\n%s", argv, c.id, r, c.rt.logTail())
	}
	return r.stdout
}

// TestPodContainers runs a pod sandbox and two containers with roots of
// their own in it and checks what a pod promises: one Sentry, a root and
// a pid 1 per container, a shared emptyDir, hostPath writes seen across
// containers, shared System V IPC, exit codes, and that one container
// goes without the other, and the pod without a trace.
func TestPodContainers(t *testing.T) {
	rt := newOCIRuntime(t, "runsc")
	sentriesBefore, gofersBefore := sentryPIDs(), goferPIDs()
	p := newPod(t, rt)
	a := p.container(t, "a", "sh", "-c", "echo $$ > /out/pid; exec sleep 1000001")
	b := p.container(t, "b", "sh", "-c", "echo $$ > /out/pid; exec sleep 1000002")
	// a may set the pod's hostname.
	if c := a.b.spec.Process.Capabilities; c != nil {
		c.Bounding = append(c.Bounding, "CAP_SYS_ADMIN")
		c.Effective = append(c.Effective, "CAP_SYS_ADMIN")
		c.Permitted = append(c.Permitted, "CAP_SYS_ADMIN")
	}
	writeJSON(t, filepath.Join(a.b.dir, "config.json"), a.b.spec)
	a.createStart(t)
	b.createStart(t)

	// One Sentry for the pod, the one the sandbox's state names.
	podPID := p.sandbox.state(t).Pid
	if s := newKeys(sentryPIDs(), sentriesBefore); len(s) != 1 || s[0] != podPID {
		t.Fatalf("want exactly one new Sentry process (the pod's, pid %d); new Sentry processes: %v", podPID, s)
	}

	// A gofer per container: the sandbox's, a's and b's.
	podGofers := newKeys(goferPIDs(), gofersBefore)
	if len(podGofers) != 3 {
		t.Errorf("the pod has %d gofer processes, want 3 (one per container)", len(podGofers))
	}

	// Each container is pid 1 in its own pid namespace, in its own root.
	for _, c := range []*ociContainer{a, b} {
		c.waitFile(t, "pid", "the init's pid", func(s string) bool { return s != "" })
		if got := c.b.readOut("pid"); got != "1\n" {
			t.Errorf("container %s: its first process has pid %q, want 1", c.id, got)
		}
	}
	if got := execOut(t, a, "cat", "/whoami"); got != "a\n" {
		t.Errorf("container a sees /whoami %q, want its own root's \"a\"", got)
	}
	if got := execOut(t, b, "cat", "/whoami"); got != "b\n" {
		t.Errorf("exec in container b sees /whoami %q, want its own root's \"b\"", got)
	}
	if got := execOut(t, b, "cat", "/proc/1/cmdline"); !strings.Contains(got, "1000002") {
		t.Errorf("container b's /proc/1 is %q, want its own init (sleep 1000002)", got)
	}
	// The files CRI binds: /etc/hosts, /etc/resolv.conf, and the
	// termination log the container writes for the kubelet.
	if got := execOut(t, b, "cat", "/etc/hosts", "/etc/resolv.conf"); got != "127.0.0.1 localhost\n10.1.2.3 b\nnameserver 10.96.0.10\n" {
		t.Errorf("container b reads /etc/hosts and /etc/resolv.conf as %q, want the files CRI bound", got)
	}
	execOut(t, b, "sh", "-c", "echo finished > /dev/termination-log")
	if got, _ := os.ReadFile(filepath.Join(p.rt.dir, "files-b", "termination-log")); string(got) != "finished\n" {
		t.Errorf("the host's termination log of b holds %q, want \"finished\"", got)
	}
	if pids := b.psPids(t); len(pids) == 0 || pids[0] != 1 {
		t.Errorf("runsc ps b lists pids %v, want its own processes starting with its pid 1", pids)
	}

	// The emptyDir is one tmpfs for the pod, in Sentry memory.
	execOut(t, a, "sh", "-c", "echo from-a > /shared/note")
	if got := execOut(t, b, "cat", "/shared/note"); got != "from-a\n" {
		t.Errorf("container b reads %q from the pod's emptyDir, want what a wrote (\"from-a\")", got)
	}
	if ents, _ := os.ReadDir(p.volume); len(ents) != 0 {
		t.Errorf("the emptyDir's host directory %s has %d entries: the pod's tmpfs should live in the Sentry", p.volume, len(ents))
	}

	// A hostPath volume is served by each container's gofer: neither
	// sees stale names after the other changed them.
	if r := b.exec(t, ociOpts{}, nil, "cat", "/hp/f"); r.code == 0 {
		t.Fatalf("/hp/f exists before anyone wrote it%s", r)
	}
	execOut(t, a, "sh", "-c", "echo one > /hp/f")
	if got := execOut(t, b, "cat", "/hp/f"); got != "one\n" {
		t.Errorf("container b reads %q from the hostPath volume, want \"one\" that a wrote", got)
	}
	execOut(t, a, "sh", "-c", "rm /hp/f && echo two > /hp/f")
	if got := execOut(t, b, "cat", "/hp/f"); got != "two\n" {
		t.Errorf("container b reads %q after a replaced /hp/f, want \"two\"", got)
	}
	if h, _ := os.ReadFile(filepath.Join(p.hostPath, "f")); string(h) != "two\n" {
		t.Errorf("the host sees %q in the hostPath volume, want \"two\"", h)
	}

	// UTS is the pod's: its hostname, and a change made in one container
	// shows in the other.
	if got := execOut(t, b, "hostname"); got != "web-pod\n" {
		t.Errorf("container b's hostname is %q, want the pod's \"web-pod\"", got)
	}
	execOut(t, a, "hostname", "renamed-pod")
	if got := execOut(t, b, "hostname"); got != "renamed-pod\n" {
		t.Errorf("container b's hostname is %q after a set it to \"renamed-pod\"", got)
	}

	// System V IPC is the pod's.
	execOut(t, a, "podshm", "put", "0x5eed", "shm-from-a")
	if got := execOut(t, b, "podshm", "get", "0x5eed"); got != "shm-from-a\n" {
		t.Errorf("container b reads %q from the shared memory segment a made, want \"shm-from-a\"", got)
	}

	// An exec'd process's exit code comes back.
	if r := b.exec(t, ociOpts{}, nil, "sh", "-c", "exit 5"); r.code != 5 {
		t.Errorf("exec of `exit 5` in b exited %d, want 5%s", r.code, r)
	}

	// A container given the pod's pid namespace by path (CRI's shared
	// process namespace) is not pid 1 and sees the pod's processes.
	d := p.container(t, "d", "sh", "-c", "echo $$ > /out/pid; exec sleep 1000004")
	d.b.spec.Linux.Namespaces = withPIDPath(d.b.spec.Linux.Namespaces, "/proc/"+strconv.Itoa(podPID)+"/ns/pid")
	writeJSON(t, filepath.Join(d.b.dir, "config.json"), d.b.spec)
	d.createStart(t)
	d.waitFile(t, "pid", "the init's pid", func(s string) bool { return s != "" })
	if got := d.b.readOut("pid"); got == "1\n" {
		t.Errorf("container d shares the pod's pid namespace but its init is pid 1")
	}
	if got := execOut(t, d, "cat", "/proc/1/cmdline"); !strings.Contains(got, "1000000") {
		t.Errorf("container d's /proc/1 is %q, want the pod's first process (sleep 1000000)", got)
	}
	if pids := d.psPids(t); len(pids) != 1 {
		t.Errorf("runsc ps d lists %v, want only its own process", pids)
	}
	rt.ok(t, "delete", "--force", d.id)
	if st := b.state(t); st.Status != "running" {
		t.Errorf("container b is %q after d was deleted, want running", st.Status)
	}

	// A container whose process exits 3 is stopped with 3.
	c := p.container(t, "c", "sh", "-c", "exit 3")
	c.create(t)
	rt.ok(t, "start", c.id)
	c.waitStatus(t, "stopped")
	if out := rt.ok(t, "wait", c.id); !strings.Contains(out, `"exitStatus":3`) {
		t.Errorf("runsc wait of a container that exited 3 printed %q", out)
	}
	rt.ok(t, "delete", c.id)

	// Killing and deleting a leaves b running, and takes a's gofer.
	gofers := goferPIDs()
	// --all: every process of a, none of b's or the pod's.
	rt.ok(t, "kill", "--all", a.id, "KILL")
	a.waitStatus(t, "stopped")
	rt.ok(t, "delete", a.id)
	a.gone(t)
	if left := newKeys(gofers, goferPIDs()); len(left) != 1 {
		t.Errorf("deleting container a ended %d gofer processes, want 1 (its own)", len(left))
	}
	if st := b.state(t); st.Status != "running" {
		t.Errorf("container b is %q after a was deleted, want running", st.Status)
	}
	if got := execOut(t, b, "cat", "/whoami"); got != "b\n" {
		t.Errorf("exec in b after a was deleted: %q", got)
	}

	// delete -f of the sandbox ends the pod: no process, state or cgroup.
	rt.ok(t, "delete", "--force", p.sandbox.id)
	p.sandbox.gone(t)
	b.gone(t)
	p.sandbox.hostProcsGone(t)
	p.sandbox.cgroupsGone(t)
	if left := newKeys(sentryPIDs(), sentriesBefore); len(left) != 0 {
		t.Errorf("Sentry processes left after delete -f of the pod: %v", left)
	}
	var procs []procID
	for _, pid := range podGofers {
		if id, ok := newProcID(pid); ok {
			procs = append(procs, id)
		}
	}
	if !waitGone(procs, 5*time.Second) {
		t.Errorf("gofer processes of the pod outlived delete -f of its sandbox: %v", newKeys(goferPIDs(), gofersBefore))
	}
	if ents, _ := os.ReadDir(rt.root); len(ents) != 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("state left in %s after the pod was deleted: %v", rt.root, names)
	}
	if mi, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mi), rt.dir) {
		t.Errorf("mounts under %s left on the host", rt.dir)
	}
}

// TestPodSentryKilled kills a pod's Sentry: every container of the pod
// then reads as stopped, and deleting them leaves nothing behind.
func TestPodSentryKilled(t *testing.T) {
	rt := newOCIRuntime(t, "runsc")
	p := newPod(t, rt)
	a := p.container(t, "a", "sleep", "1000000")
	a.createStart(t)
	sentry := p.sandbox.state(t).Pid
	if err := syscall.Kill(sentry, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.sandbox.waitStatus(t, "stopped")
	a.waitStatus(t, "stopped")
	rt.ok(t, "delete", a.id)
	rt.ok(t, "delete", p.sandbox.id)
	a.gone(t)
	p.sandbox.gone(t)
	p.sandbox.cgroupsGone(t)
}

// TestPodCreateKilledMidway kills `runsc create` of a container of a pod
// after the Sentry built the container but before runsc committed it
// (in its createRuntime hook): the container then reads as stopped, the
// Sentry has let go of it, delete removes its gofer and state, and the
// pod runs on.
func TestPodCreateKilledMidway(t *testing.T) {
	rt := newOCIRuntime(t, "runsc")
	p := newPod(t, rt)
	e := p.container(t, "e", "sleep", "1000000")
	marker := filepath.Join(rt.dir, "in-hook")
	e.b.spec.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{
		Path: "/bin/sh", Args: []string{"sh", "-c", "touch " + marker + "; exec sleep 100"},
	}}}
	writeJSON(t, filepath.Join(e.b.dir, "config.json"), e.b.spec)
	gofersBefore := goferPIDs()
	g := rt.startCLI(t, ociOpts{}, "create", "--bundle", e.b.dir, e.id)
	for deadline := time.Now().Add(ociStopTimeout); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(marker); err == nil {
			break
		}
		if time.Now().After(deadline) || !g.running() {
			t.Fatalf("runsc create never reached its createRuntime hook%s\n%s", g.wait(t, time.Second), rt.logTail())
		}
	}
	gofer := newKeys(goferPIDs(), gofersBefore)
	if len(gofer) != 1 {
		t.Fatalf("while creating e: %d new gofer processes, want 1", len(gofer))
	}
	syscall.Kill(-g.r.pid, syscall.SIGKILL)
	g.wait(t, 5*time.Second)

	e.waitStatus(t, "stopped")
	rt.ok(t, "delete", e.id)
	e.gone(t)
	if id, ok := newProcID(gofer[0]); ok && !waitGone([]procID{id}, 5*time.Second) {
		t.Errorf("the gofer of the half-created container outlived its delete")
	}
	// The Sentry forgot it: the id can be created again.
	e.b.spec.Hooks = nil
	writeJSON(t, filepath.Join(e.b.dir, "config.json"), e.b.spec)
	e.createStart(t)
	if st := p.sandbox.state(t); st.Status != "running" {
		t.Errorf("the pod sandbox is %q, want running", st.Status)
	}
	rt.ok(t, "delete", "--force", p.sandbox.id)
	e.gone(t)
}

// TestPodBadContainer: a container of a pod that cannot be built fails
// its create with one line and no trace, the pod untouched; so does one
// naming a pod sandbox that does not exist.
func TestPodBadContainer(t *testing.T) {
	rt := newOCIRuntime(t, "runsc")
	p := newPod(t, rt)
	gofersBefore := goferPIDs()
	for _, bad := range []struct {
		name string
		edit func(s *specs.Spec)
		want string
	}{
		{"missing", func(s *specs.Spec) { s.Process.Args = []string{"/no/such/program"} }, "no such file"},
		{"mount", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Type: "ext4", Source: "/dev/sda"})
		}, "ext4"},
		{"nopod", func(s *specs.Spec) { s.Annotations["io.kubernetes.cri.sandbox-id"] = "no-such-pod" }, "no-such-pod"},
	} {
		c := p.container(t, bad.name, "true")
		bad.edit(c.b.spec)
		writeJSON(t, filepath.Join(c.b.dir, "config.json"), c.b.spec)
		r := rt.cli(t, ociOpts{}, "create", "--bundle", c.b.dir, c.id)
		if line := checkCLIError(t, rt, r, "create of a bad pod container ("+bad.name+")"); !strings.Contains(line, bad.want) {
			sentryOut, _ := os.ReadFile(p.sandbox.stderr)
			t.Errorf("create (%s) said %q, want it to name %q; the pod's stderr:\n%s", bad.name, line, bad.want, indent(string(sentryOut)))
		}
		c.gone(t)
		if st := p.sandbox.state(t); st.Status != "running" {
			t.Fatalf("the pod is %q after a failed create (%s), want running", st.Status, bad.name)
		}
	}
	if left := newKeys(goferPIDs(), gofersBefore); len(left) != 0 {
		time.Sleep(time.Second)
		if left = newKeys(goferPIDs(), gofersBefore); len(left) != 0 {
			t.Errorf("failed creates left gofer processes: %v", left)
		}
	}
	ok := p.container(t, "missing", "sleep", "1000000")
	ok.createStart(t)
	if got := execOut(t, ok, "cat", "/whoami"); got != "missing\n" {
		t.Errorf("a good container after the failed ones reads /whoami %q", got)
	}
}
