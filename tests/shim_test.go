package tests

// End-to-end tests of containerd-shim-runsc-v1, Veil's containerd shim v2:
// a private containerd (Debian's 1.6) finds the shim under test first in
// its PATH and runs containers of runtime type io.containerd.runsc.v1
// through it, configured by a TOML file as gVisor's shim is (ctr passes
// it as the runtime options' ConfigPath).

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const shimRuntime = "io.containerd.runsc.v1"

// shimEngine is the containerd that runs the shim, and the shim's
// configuration.
type shimEngine struct {
	*containerd
	config string // the TOML file
	root   string // runsc's state directory, from the config
}

var shimEngineOnce lazy[*shimEngine]

func startShimContainerd(t *testing.T) *shimEngine {
	t.Helper()
	needRunsc(t)
	return shimEngineOnce.get(t, "starting containerd for the shim", func() (*shimEngine, error) {
		shimDir := filepath.Join(workDir, "shimbin")
		if out, err := command(repoRoot, []string{"CGO_ENABLED=0"}, "go", "build", "-o",
			filepath.Join(shimDir, "containerd-shim-runsc-v1"), "./shim/cmd/containerd-shim-runsc-v1"); err != nil {
			return nil, fmt.Errorf("building the shim: %v\n%s", err, out)
		}
		dir := filepath.Join(workDir, "shimctr")
		e := &shimEngine{config: filepath.Join(workDir, "runsc-shim.toml"), root: filepath.Join(dir, "runsc")}
		conf := fmt.Sprintf("binary_name = %q\nroot = %q\nlog_level = \"debug\"\n\n[runsc_config]\n", runscPath, e.root)
		if p := os.Getenv("VEIL_E2E_PLATFORM"); p != "" {
			conf += fmt.Sprintf("platform = %q\n", p)
		}
		if err := os.WriteFile(e.config, []byte(conf), 0o644); err != nil {
			return nil, err
		}
		c, err := newContainerdPath(dir, shimDir)
		if c != nil {
			atExit(c.stop)
		}
		if err == nil {
			err = c.importImage()
		}
		if err != nil && c != nil {
			err = fmt.Errorf("%v\n--- containerd log (%s) ---\n%s", err, c.d.logPath, logTail(c.d.logPath, 0, 60))
		}
		e.containerd = c
		return e, err
	})
}

// runFlags are the `ctr run` flags for container id under the shim.
func (e *shimEngine) runFlags(id string, flags ...string) []string {
	return append([]string{"run", "--runtime", shimRuntime, "--runtime-config-path", e.config,
		"--fifo-dir", filepath.Join(e.dir, "fifo"), "--cgroup", e.cgroupParent() + "/" + id}, flags...)
}

// leftovers adds, to containerd's, the containers runsc still has state of.
func (e *shimEngine) leftovers(t *testing.T) []string {
	left := e.containerd.leftovers(t)
	ents, _ := filepath.Glob(filepath.Join(e.root, "*", "*"))
	for _, p := range ents {
		left = append(left, "runsc state "+p)
	}
	return left
}

func (e *shimEngine) sweep(t *testing.T) {
	e.containerd.sweep(t)
	ents, _ := filepath.Glob(filepath.Join(e.root, "*", "*"))
	for _, p := range ents {
		run(opts{timeout: engineTimeout}, runscPath, "--root", filepath.Dir(p), "delete", "--force", filepath.Base(p))
	}
}

// taskStatus returns the status ctr tasks ls shows for id ("" if none).
func (e *shimEngine) taskStatus(id string) (pid int, status string) {
	r := run(opts{timeout: engineTimeout}, ctrBin, "-a", e.sock, "-n", e.ns, "tasks", "ls")
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(id) + `\s+(\d+)\s+(\w+)$`).FindStringSubmatch(r.stdout)
	if m == nil {
		return 0, ""
	}
	pid, _ = strconv.Atoi(m[1])
	return pid, m[2]
}

// waitStatus waits until ctr shows the task in one of the statuses.
func (e *shimEngine) waitStatus(t *testing.T, id string, want ...string) string {
	t.Helper()
	for deadline := time.Now().Add(engineTimeout); ; time.Sleep(100 * time.Millisecond) {
		_, st := e.taskStatus(id)
		if contains(want, st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s is %q, not %v, after %v", id, st, want, engineTimeout)
		}
	}
}

func TestShimContainerd(t *testing.T) {
	e := startShimContainerd(t)
	rt := engineRuntime{name: "runsc-shim", path: runscPath}
	test := func(name string, f func(t *testing.T, id string)) {
		engineTest(t, e, rt, name, func(t *testing.T) {
			id := containerName(t)
			t.Cleanup(func() {
				for _, args := range [][]string{{"tasks", "kill", "-s", "SIGKILL", id}, {"tasks", "delete", "-f", id}, {"containers", "delete", id}} {
					run(opts{timeout: engineTimeout}, append([]string{ctrBin, "-a", e.sock, "-n", e.ns}, args...)...)
				}
			})
			f(t, id)
		})
	}
	fifo := filepath.Join(e.dir, "fifo")
	// A container that runs until it gets SIGTERM, then exits 7.
	sleeper := []string{"sh", "-c", `trap "exit 7" TERM; echo ready; sleep 1000 & wait`}
	runDetached := func(t *testing.T, id string, argv ...string) int {
		t.Helper()
		wantOK(t, e.ctr(t, opts{}, append(append(e.runFlags(id, "-d"), imageRef, id), argv...)...), "ctr run -d")
		pid, _ := e.taskStatus(id)
		if e.waitStatus(t, id, "RUNNING"); pid <= 0 {
			t.Fatalf("ctr tasks ls shows no pid for %s", id)
		}
		return pid
	}
	// deleteTask deletes the stopped task and its container; ctr tasks
	// delete warns of a non-zero exit status.
	deleteTask := func(t *testing.T, id string, wantCode int) {
		t.Helper()
		r := e.ctr(t, opts{}, "tasks", "delete", id)
		wantOK(t, r, "ctr tasks delete")
		code := 0
		if m := regexp.MustCompile(`exit with non-zero exit code (\d+)`).FindStringSubmatch(r.stderr); m != nil {
			code, _ = strconv.Atoi(m[1])
		}
		if code != wantCode {
			t.Errorf("the task's exit status is %d, want %d:%s", code, wantCode, r)
		}
		wantOK(t, e.ctr(t, opts{}, "containers", "delete", id), "ctr containers delete")
	}

	test("echo", func(t *testing.T, id string) {
		wantRun(t, e.ctr(t, opts{}, append(e.runFlags(id, "--rm"), imageRef, id, "echo", "hi")...), 0, "hi\n")
	})

	test("stdin", func(t *testing.T, id string) {
		r := e.ctr(t, opts{stdin: "piped\nlines\n"}, append(e.runFlags(id, "--rm"), imageRef, id, "sh", "-c", "cat; echo err >&2")...)
		wantRun(t, r, 0, "piped\nlines\n")
		if r.stderr != "err\n" {
			t.Errorf("stderr %q, want %q", r.stderr, "err\n")
		}
	})

	test("exit-code", func(t *testing.T, id string) {
		wantRun(t, e.ctr(t, opts{}, append(e.runFlags(id, "--rm"), imageRef, id, "sh", "-c", "exit 3")...), 3, "")
	})

	test("interactive", func(t *testing.T, id string) {
		argv := append([]string{ctrBin, "-a", e.sock, "-n", e.ns}, e.runFlags(id, "--rm", "-t", "--env", "PS1="+prompt)...)
		interactiveShell(t, startPty(t, 40, 120, append(argv, imageRef, id, "sh")...))
	})

	test("exec-ps-metrics-pause-term", func(t *testing.T, id string) {
		runDetached(t, id, sleeper...)
		r := e.ctr(t, opts{}, "tasks", "exec", "--fifo-dir", fifo, "--exec-id", "exec1", id, "sh", "-c", "echo from-exec")
		wantRun(t, r, 0, "from-exec\n")
		r = e.ctr(t, opts{}, "tasks", "exec", "--fifo-dir", fifo, "--exec-id", "exec2", id, "sh", "-c", "exit 4")
		wantRun(t, r, 4, "")
		// exec --tty: the process's stdin is a terminal, which gets the
		// size of ctr's (ctr sets it once the process runs: wait for it).
		argv := []string{ctrBin, "-a", e.sock, "-n", e.ns, "tasks", "exec", "-t", "--fifo-dir", fifo, "--exec-id", "exec3", id,
			"sh", "-c", `test -t 0 && echo tty-yes; for i in $(seq 30); do stty size; sleep 0.1; done`}
		p := startPty(t, 30, 100, argv...)
		p.expect(regexp.MustCompile(`tty-yes`), ptyTimeout)
		p.expect(regexp.MustCompile(`\n30 100\r*\n`), ptyTimeout)
		if code := p.wait(ptyTimeout); code != 0 {
			t.Errorf("ctr tasks exec -t exited %d%s", code, p.transcript())
		}

		// ps: sh, sleep (pids of the sandbox).
		r = e.ctr(t, opts{}, "tasks", "ps", id)
		wantOK(t, r, "ctr tasks ps")
		if rows := regexp.MustCompile(`(?m)^\d+\s`).FindAllString(r.stdout, -1); len(rows) < 2 {
			t.Errorf("ctr tasks ps lists %d processes, want sh and sleep:%s", len(rows), r)
		}

		r = e.ctr(t, opts{}, "tasks", "metrics", id)
		wantOK(t, r, "ctr tasks metrics")
		m := regexp.MustCompile(`(?m)^memory\.usage_in_bytes\s+(\d+)`).FindStringSubmatch(r.stdout)
		if m2 := regexp.MustCompile(`(?m)^memory\.usage\s+(\d+)`).FindStringSubmatch(r.stdout); m == nil {
			m = m2 // cgroup v2
		}
		if m == nil {
			t.Errorf("ctr tasks metrics shows no memory usage:%s", r)
		} else if n, _ := strconv.ParseUint(m[1], 10, 64); n == 0 {
			t.Errorf("ctr tasks metrics: memory usage 0:%s", r)
		}
		if !regexp.MustCompile(`(?m)^pids\.current\s+[1-9]`).MatchString(r.stdout) {
			t.Errorf("ctr tasks metrics: no pids.current:%s", r)
		}

		wantOK(t, e.ctr(t, opts{}, "tasks", "pause", id), "ctr tasks pause")
		e.waitStatus(t, id, "PAUSED")
		wantOK(t, e.ctr(t, opts{}, "tasks", "resume", id), "ctr tasks resume")
		e.waitStatus(t, id, "RUNNING")
		r = e.ctr(t, opts{}, "tasks", "exec", "--fifo-dir", fifo, "--exec-id", "exec4", id, "echo", "resumed")
		wantRun(t, r, 0, "resumed\n")

		wantOK(t, e.ctr(t, opts{}, "tasks", "kill", id), "ctr tasks kill (SIGTERM)")
		e.waitStatus(t, id, "STOPPED")
		deleteTask(t, id, 7)
	})

	test("sigkill", func(t *testing.T, id string) {
		runDetached(t, id, "sh", "-c", `trap "" TERM; sleep 1000 & wait`)
		wantOK(t, e.ctr(t, opts{}, "tasks", "kill", "-s", "SIGKILL", id), "ctr tasks kill -s SIGKILL")
		e.waitStatus(t, id, "STOPPED")
		deleteTask(t, id, 137)
	})

	test("sentry-killed", func(t *testing.T, id string) {
		pid := runDetached(t, id, sleeper...)
		if p := procOf(pid); !p.isRunsc() {
			t.Fatalf("the task's pid %d is not the sandbox (%v)", pid, p)
		}
		syscall.Kill(pid, syscall.SIGKILL)
		e.waitStatus(t, id, "STOPPED")
		deleteTask(t, id, 137)
	})

	test("shim-killed", func(t *testing.T, id string) {
		sandboxPid := runDetached(t, id, sleeper...)
		var shim procInfo
		for _, p := range listProcs() {
			if filepath.Base(p.exe) == "containerd-shim-runsc-v1" && contains(p.cmdline, id) {
				shim = p
			}
		}
		if shim.pid == 0 {
			t.Fatalf("no shim process for %s", id)
		}
		syscall.Kill(shim.pid, syscall.SIGKILL)
		// containerd sees its shim gone, runs the shim's delete and
		// reports the task stopped (or drops it).
		e.waitStatus(t, id, "STOPPED", "")
		for deadline := time.Now().Add(engineTimeout); alive(sandboxPid); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the sandbox %d still runs %v after its shim was killed", sandboxPid, engineTimeout)
			}
		}
		run(opts{timeout: engineTimeout}, ctrBin, "-a", e.sock, "-n", e.ns, "tasks", "delete", id)
		wantOK(t, e.ctr(t, opts{}, "containers", "delete", id), "ctr containers delete")
	})

	test("checkpoint-not-supported", func(t *testing.T, id string) {
		runDetached(t, id, sleeper...)
		r := e.ctr(t, opts{}, "tasks", "checkpoint", id)
		if r.code == 0 || !strings.Contains(r.stderr, "not supported") {
			t.Errorf("ctr tasks checkpoint: want a 'not supported' failure:%s", r)
		}
		wantOK(t, e.ctr(t, opts{}, "tasks", "kill", "-s", "SIGKILL", id), "ctr tasks kill")
		e.waitStatus(t, id, "STOPPED")
		deleteTask(t, id, 137)
	})

	test("events", func(t *testing.T, id string) {
		ev := e.watchEvents(t)
		runDetached(t, id, sleeper...)
		r := e.ctr(t, opts{}, "tasks", "exec", "--fifo-dir", fifo, "--exec-id", "exec1", id, "true")
		wantRun(t, r, 0, "")
		wantOK(t, e.ctr(t, opts{}, "tasks", "kill", id), "ctr tasks kill")
		e.waitStatus(t, id, "STOPPED")
		deleteTask(t, id, 7)
		// In the order the shim publishes them.
		ev.want(t, id, "/tasks/create", "/tasks/start", "/tasks/exec-added", "/tasks/exec-started",
			`/tasks/exit .*"id":"exec1"`, `/tasks/exit .*"exit_status":7`, "/tasks/delete")
	})

	test("oom", func(t *testing.T, id string) {
		ev := e.watchEvents(t)
		// tail keeps the whole newline-free input: far more than 64 MiB.
		r := e.ctr(t, opts{}, append(e.runFlags(id, "--rm", "--memory-limit", strconv.Itoa(64<<20)), imageRef, id,
			"sh", "-c", "head -c 400m /dev/zero | tail | wc -c")...)
		if r.code == 0 {
			t.Fatalf("a container that needs 400 MiB ran under a 64 MiB limit:%s", r)
		}
		ev.want(t, id, "/tasks/oom", `/tasks/exit .*"exit_status":137`)
	})

	// Two containers with the annotations of containerd's CRI plugin
	// (set here with ctr): one shim serves the pod, both run in the pod
	// sandbox's Sentry, and the member goes without taking the pod.
	test("pod", func(t *testing.T, pod string) {
		member := pod + "-c"
		t.Cleanup(func() {
			for _, args := range [][]string{{"tasks", "kill", "-s", "SIGKILL", member}, {"tasks", "delete", "-f", member}, {"containers", "delete", member}} {
				run(opts{timeout: engineTimeout}, append([]string{ctrBin, "-a", e.sock, "-n", e.ns}, args...)...)
			}
		})
		ann := func(role string) []string {
			return []string{"--annotation", "io.kubernetes.cri.container-type=" + role, "--annotation", "io.kubernetes.cri.sandbox-id=" + pod}
		}
		wantOK(t, e.ctr(t, opts{}, append(append(e.runFlags(pod, "-d"), ann("sandbox")...), imageRef, pod, "sleep", "1000")...), "ctr run -d (pod sandbox)")
		e.waitStatus(t, pod, "RUNNING")
		wantOK(t, e.ctr(t, opts{}, append(append(append(e.runFlags(member, "-d"), ann("container")...), imageRef, member), sleeper...)...), "ctr run -d (pod member)")
		e.waitStatus(t, member, "RUNNING")
		podPid, _ := e.taskStatus(pod)
		memberPid, _ := e.taskStatus(member)
		if podPid != memberPid || !procOf(podPid).isRunsc() {
			t.Errorf("the pod's containers run in sandboxes %d and %d, want one Sentry", podPid, memberPid)
		}
		var shims []procInfo
		for _, p := range listProcs() {
			if filepath.Base(p.exe) == "containerd-shim-runsc-v1" && p.refersTo(e.dir) {
				shims = append(shims, p)
			}
		}
		if len(shims) != 1 {
			t.Errorf("%d shims serve the pod, want 1: %v", len(shims), shims)
		}
		r := e.ctr(t, opts{}, "tasks", "exec", "--fifo-dir", fifo, "--exec-id", "exec1", member, "sh", "-c", "echo in-member")
		wantRun(t, r, 0, "in-member\n")
		wantOK(t, e.ctr(t, opts{}, "tasks", "kill", member), "ctr tasks kill (member)")
		e.waitStatus(t, member, "STOPPED")
		deleteTask(t, member, 7)
		if _, st := e.taskStatus(pod); st != "RUNNING" {
			t.Errorf("the pod sandbox is %q after its member was deleted, want RUNNING", st)
		}
		wantOK(t, e.ctr(t, opts{}, "tasks", "kill", "-s", "SIGKILL", pod), "ctr tasks kill (pod)")
		e.waitStatus(t, pod, "STOPPED")
		deleteTask(t, pod, 137)
	})

	// 20 runs leave nothing behind (engineTest checks). The times, beside
	// runc's through containerd's own runc shim, are logged, not judged.
	test("bad-input", func(t *testing.T, id string) {
		bad := filepath.Join(t.TempDir(), "bad.toml")
		if err := os.WriteFile(bad, []byte(fmt.Sprintf("binary_name = %q\n[runsc_config]\nplatform = \"nonesuch\"\n", runscPath)), 0o644); err != nil {
			t.Fatal(err)
		}
		flags := e.runFlags(id, "--rm")
		for i, f := range flags {
			if f == e.config {
				flags[i] = bad
			}
		}
		r := e.ctr(t, opts{}, append(flags, imageRef, id, "true")...)
		if r.code == 0 || !strings.Contains(r.stderr, `unknown platform "nonesuch"`) {
			t.Errorf("ctr run with platform = \"nonesuch\": want a failure naming it:%s", r)
		}
		run(opts{timeout: engineTimeout}, ctrBin, "-a", e.sock, "-n", e.ns, "containers", "delete", id)
		// A program that is not there: the task fails to start, no sandbox stays.
		r = e.ctr(t, opts{}, append(e.runFlags(id, "--rm"), imageRef, id, "/no/such/program")...)
		if r.code == 0 || !strings.Contains(r.stderr, "/no/such/program") {
			t.Errorf("ctr run of a missing program: want a failure naming it:%s", r)
		}
	})

	test("loop", func(t *testing.T, id string) {
		var times []time.Duration
		for i := 0; i < 20; i++ {
			n := fmt.Sprintf("%s-%d", id, i)
			r := e.ctr(t, opts{}, append(e.runFlags(n, "--rm"), imageRef, n, "true")...)
			wantRun(t, r, 0, "")
			times = append(times, r.elapsed)
		}
		var runc []time.Duration
		for i := 0; i < 5; i++ {
			n := fmt.Sprintf("%s-runc-%d", id, i)
			r := e.ctr(t, opts{}, append(append([]string{"run", "--rm"}, e.containerd.runFlags(engineRuntime{engineDefault: true}, n)...), imageRef, n, "true")...)
			wantRun(t, r, 0, "")
			runc = append(runc, r.elapsed)
		}
		t.Logf("ctr run --rm true, median: runsc shim %v (20 runs), runc shim %v (5 runs)", median(times), median(runc))
	})
}

// procOf describes host process pid.
func procOf(pid int) procInfo {
	for _, p := range listProcs() {
		if p.pid == pid {
			return p
		}
	}
	return procInfo{pid: pid}
}

// eventLog is the output of a `ctr events` running during a test.
type eventLog struct {
	cmd *exec.Cmd
	out *bytes.Buffer
	mu  *sync.Mutex
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// watchEvents runs `ctr events` until the test ends.
func (e *shimEngine) watchEvents(t *testing.T) *eventLog {
	t.Helper()
	ev := &eventLog{out: &bytes.Buffer{}, mu: &sync.Mutex{}}
	ev.cmd = exec.Command(ctrBin, "-a", e.sock, "-n", e.ns, "events")
	ev.cmd.Stdout = lockedWriter{ev.mu, ev.out}
	ev.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := ev.cmd.Start(); err != nil {
		t.Fatalf("ctr events: %v", err)
	}
	t.Cleanup(func() { ev.cmd.Process.Kill(); ev.cmd.Wait() })
	time.Sleep(300 * time.Millisecond) // subscribed before anything happens
	return ev
}

// want waits until the events of container id match the patterns, in
// order.
func (ev *eventLog) want(t *testing.T, id string, patterns ...string) {
	t.Helper()
	var lines []string
	for deadline := time.Now().Add(engineTimeout); ; time.Sleep(100 * time.Millisecond) {
		ev.mu.Lock()
		all := ev.out.String()
		ev.mu.Unlock()
		lines = nil
		for _, l := range strings.Split(all, "\n") {
			if strings.Contains(l, id) {
				lines = append(lines, l)
			}
		}
		i := 0
		for _, l := range lines {
			if i < len(patterns) && regexp.MustCompile(patterns[i]).MatchString(l) {
				i++
			}
		}
		if i == len(patterns) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ctr events did not show %q (in this order); got:\n%s", patterns, strings.Join(lines, "\n"))
		}
	}
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2].Round(time.Millisecond)
}
