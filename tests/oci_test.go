package tests

// OCI CLI conformance: the runc command-line contract, checked against
// every runtime of VEIL_OCI_RUNTIMES (see oci_harness_test.go).

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestOCILifecycle: create, state, start, kill, delete, with the state
// JSON checked field by field.
func TestOCILifecycle(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, rt *ociRuntime) {
		if ids := rt.listIDs(t); len(ids) != 0 {
			t.Fatalf("%s: a fresh root lists containers: %q", rt.name, ids)
		}
		b := rt.newBundle(t, bundleOpts{}, "sleep", "1000")
		c := rt.newContainer(t, b, "lc")
		c.gone(t)

		// A relative --bundle, as an engine in the bundle's parent might
		// pass it: state must report it absolute.
		pidFile := filepath.Join(rt.dir, "lc.pid")
		r := c.launch(t, ociOpts{dir: filepath.Dir(b.dir)}, "create", "--bundle", filepath.Base(b.dir), "--pid-file", pidFile, c.id)
		rt.must(t, r, "create")
		if strings.TrimSpace(r.stdout) != "" {
			t.Errorf("%s: create printed to stdout%s", rt.name, r)
		}
		st := c.state(t)
		if st.Status != "created" {
			t.Fatalf("%s: status %q after create, want \"created\"", rt.name, st.Status)
		}
		if st.Bundle != b.dir {
			t.Errorf("%s: state bundle %q, want the absolute bundle path %q", rt.name, st.Bundle, b.dir)
		}
		if want := b.spec.Annotations[ociAnnotation]; st.Annotations[ociAnnotation] != want {
			t.Errorf("%s: state annotations %v, want %s=%q from config.json", rt.name, st.Annotations, ociAnnotation, want)
		}
		p, ok := newProcID(st.Pid)
		if !ok || !p.alive() {
			t.Fatalf("%s: state pid %d is not a live host process", rt.name, st.Pid)
		}
		t.Logf("%s: created, pid %d: %s", rt.name, st.Pid, p.cmdline())
		pf, err := os.ReadFile(pidFile)
		if err != nil {
			t.Errorf("%s: --pid-file: %v", rt.name, err)
		} else if strings.TrimSpace(string(pf)) != strconv.Itoa(st.Pid) {
			t.Errorf("%s: --pid-file holds %q, state pid is %d", rt.name, pf, st.Pid)
		}
		if l := rt.listJSON(t); len(l) != 1 || l[0].ID != c.id || l[0].Status != "created" {
			t.Errorf("%s: list after create: %+v, want just %s (created)", rt.name, l, c.id)
		}

		rt.must(t, rt.cli(t, ociOpts{}, "start", c.id), "start")
		st2 := c.waitStatus(t, "running")
		if st2.Pid != st.Pid {
			t.Errorf("%s: pid changed from %d (created) to %d (running)", rt.name, st.Pid, st2.Pid)
		}
		if st2.Bundle != b.dir {
			t.Errorf("%s: running state bundle %q, want %q", rt.name, st2.Bundle, b.dir)
		}

		rt.must(t, rt.cli(t, ociOpts{}, "kill", c.id, "KILL"), "kill KILL")
		c.waitStatus(t, "stopped")

		rt.must(t, rt.cli(t, ociOpts{}, "delete", c.id), "delete")
		c.gone(t)
		if ids := rt.listIDs(t); slices.Contains(ids, c.id) {
			t.Errorf("%s: list still shows deleted container %s: %q", rt.name, c.id, ids)
		}
		c.hostProcsGone(t)
		c.cgroupsGone(t)
	})
}

// TestOCIExec: exec in a running container: exit codes, ps, --env,
// --cwd, --user, --process, -d --pid-file.
func TestOCIExec(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, rt *ociRuntime) {
		b := rt.newBundle(t, bundleOpts{}, "sleep", "1000")
		c := rt.newContainer(t, b, "ex")
		c.createStart(t)

		t.Run("exit-code", func(t *testing.T) {
			r := c.exec(t, ociOpts{}, nil, "sh", "-c", "echo $$ ; exit 7")
			if r.code != 7 || r.timedOut {
				t.Fatalf("%s: exec exit code %d, want 7%s", rt.name, r.code, r)
			}
			if !regexp.MustCompile(`^[1-9][0-9]*\n$`).MatchString(r.stdout) {
				t.Errorf("%s: exec stdout %q, want the shell's pid and a newline", rt.name, r.stdout)
			}
		})
		t.Run("env-cwd-user", func(t *testing.T) {
			r := c.exec(t, ociOpts{}, []string{"--env", "FOO=bar"}, "sh", "-c", `echo "$FOO"`)
			if r.code != 0 || r.stdout != "bar\n" {
				t.Errorf("%s: exec --env FOO=bar: want \"bar\"%s", rt.name, r)
			}
			r = c.exec(t, ociOpts{}, []string{"--cwd", "/tmp"}, "pwd")
			if r.code != 0 || r.stdout != "/tmp\n" {
				t.Errorf("%s: exec --cwd /tmp pwd: want \"/tmp\"%s", rt.name, r)
			}
			r = c.exec(t, ociOpts{}, []string{"--user", "1000:1000"}, "sh", "-c", "id -u; id -g")
			if r.code != 0 || r.stdout != "1000\n1000\n" {
				t.Errorf("%s: exec --user 1000:1000: want uid and gid 1000%s", rt.name, r)
			}
			r = c.exec(t, ociOpts{}, nil, "hostname")
			if r.code != 0 || r.stdout != "veil-oci\n" {
				t.Errorf("%s: hostname in the container: want the config's \"veil-oci\"%s", rt.name, r)
			}
		})
		t.Run("process-file", func(t *testing.T) {
			proc := specs.Process{
				Args: []string{"sh", "-c", `echo "from-process $PFOO"; pwd; id -u; exit 4`},
				Env:  []string{"PATH=/bin", "PFOO=pv"},
				Cwd:  "/etc",
				User: specs.User{UID: 0, GID: 0},
			}
			f := filepath.Join(rt.dir, "process.json")
			writeJSON(t, f, &proc)
			r := c.exec(t, ociOpts{}, []string{"--process", f})
			if r.code != 4 || r.stdout != "from-process pv\n/etc\n0\n" {
				t.Errorf("%s: exec --process: want exit 4 and the process's env/cwd/user%s", rt.name, r)
			}
		})
		t.Run("detach-ps-pidfile", func(t *testing.T) {
			n0 := len(c.psPids(t))
			if n0 < 1 {
				t.Fatalf("%s: ps lists no process in a running container", rt.name)
			}
			pidFile := filepath.Join(rt.dir, "exec.pid")
			r := c.exec(t, ociOpts{}, []string{"-d", "--pid-file", pidFile}, "sh", "-c", "echo $$ > /out/exec-pid; exec sleep 333")
			rt.must(t, r, "exec -d")
			pf, err := os.ReadFile(pidFile)
			if err != nil {
				t.Fatalf("%s: exec --pid-file: %v", rt.name, err)
			}
			pid, err := strconv.Atoi(strings.TrimSpace(string(pf)))
			if err != nil || pid <= 0 {
				t.Fatalf("%s: exec --pid-file holds %q, want a pid", rt.name, pf)
			}
			p, ok := newProcID(pid)
			if !ok || !p.alive() {
				t.Fatalf("%s: exec --pid-file pid %d is not a live host process", rt.name, pid)
			}
			c.seen[p] = true
			t.Logf("%s: exec'd process: host pid %d: %s", rt.name, pid, p.cmdline())
			pollPs(t, c, n0+1, "with the exec'd sleep running")

			// Kill it from inside: the host process must go with it.
			c.waitFile(t, "exec-pid", "the exec'd shell's pid", func(s string) bool { return strings.HasSuffix(s, "\n") })
			r = c.exec(t, ociOpts{}, nil, "sh", "-c", "kill $(cat /out/exec-pid)")
			rt.must(t, r, "exec kill")
			if !waitGone([]procID{p}, ociStopTimeout) {
				t.Errorf("%s: host pid %d of the exec'd process is still alive %v after the process was killed", rt.name, pid, ociStopTimeout)
			}
			pollPs(t, c, n0, "after the exec'd sleep was killed")
			if st := c.state(t); st.Status != "running" {
				t.Errorf("%s: container %s after its exec'd process died, want running", rt.name, st.Status)
			}
		})
	})
}

// pollPs waits until ps lists n processes.
func pollPs(t *testing.T, c *ociContainer, n int, when string) {
	t.Helper()
	deadline := time.Now().Add(ociStopTimeout)
	for {
		pids := c.psPids(t)
		if len(pids) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: ps lists %v (%d pids) %s, want %d pids", c.rt.name, pids, len(pids), when, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestOCIRun: the foreground run: stdio, exit codes, signals, stdin;
// and run -d.
func TestOCIRun(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, rt *ociRuntime) {
		runIt := func(t *testing.T, name string, o ociOpts, args ...string) (*ociContainer, *result) {
			t.Helper()
			b := rt.newBundle(t, bundleOpts{}, args...)
			c := rt.newContainer(t, b, name)
			return c, c.launch(t, o, "run", "--bundle", b.dir, c.id)
		}
		t.Run("stdio-exit-code", func(t *testing.T) {
			c, r := runIt(t, "rn", ociOpts{}, "sh", "-c", "echo out; echo err >&2; exit 3")
			if r.code != 3 || r.stdout != "out\n" || r.stderr != "err\n" || r.timedOut {
				t.Errorf("%s: want exit 3, stdout \"out\\n\", stderr \"err\\n\"%s\n%s", rt.name, r, rt.logTail())
			}
			// A foreground run deletes its container at the end.
			c.gone(t)
		})
		t.Run("child-killed-by-signal", func(t *testing.T) {
			// The child dies of SIGKILL, the shell (pid 1) reports 128+9.
			_, r := runIt(t, "rk", ociOpts{}, "sh", "-c", `sh -c 'kill -9 $$'; exit $?`)
			if r.code != 137 || r.timedOut {
				t.Errorf("%s: want exit 137 (128+SIGKILL)%s", rt.name, r)
			}
		})
		t.Run("pid1-ignores-own-kill", func(t *testing.T) {
			// pid 1 of a pid namespace ignores signals it has no handler
			// for, even SIGKILL, when they come from inside.
			_, r := runIt(t, "r1", ociOpts{}, "sh", "-c", `kill -9 $$; echo survived`)
			if r.code != 0 || r.stdout != "survived\n" {
				t.Errorf("%s: pid 1 should survive its own kill -9%s", rt.name, r)
			}
		})
		t.Run("init-killed-from-host", func(t *testing.T) {
			b := rt.newBundle(t, bundleOpts{}, "sleep", "1000")
			c := rt.newContainer(t, b, "rh")
			g := rt.startCLI(t, ociOpts{}, "run", "--bundle", b.dir, c.id)
			c.fg = g
			c.waitStatus(t, "running")
			rt.must(t, rt.cli(t, ociOpts{}, "kill", c.id, "KILL"), "kill KILL")
			r := g.wait(t, ociStopTimeout)
			if r.code != 137 || r.timedOut {
				t.Errorf("%s: foreground run whose init died of SIGKILL: want exit 137%s", rt.name, r)
			}
		})
		t.Run("stdin", func(t *testing.T) {
			in := "line one\nline two\n"
			_, r := runIt(t, "ri", ociOpts{stdin: in}, "cat")
			if r.code != 0 || r.stdout != in {
				t.Errorf("%s: cat should copy stdin %q to stdout%s", rt.name, in, r)
			}
		})
		t.Run("detach", func(t *testing.T) {
			b := rt.newBundle(t, bundleOpts{}, "sleep", "1000")
			c := rt.newContainer(t, b, "rd")
			r := c.launch(t, ociOpts{}, "run", "-d", "--bundle", b.dir, c.id)
			rt.must(t, r, "run -d")
			st := c.waitStatus(t, "running")
			if p, ok := newProcID(st.Pid); !ok || !p.alive() {
				t.Errorf("%s: state pid %d of a detached run is not a live host process", rt.name, st.Pid)
			}
			rt.must(t, rt.cli(t, ociOpts{}, "kill", c.id, "KILL"), "kill")
			c.waitStatus(t, "stopped")
			rt.must(t, rt.cli(t, ociOpts{}, "delete", c.id), "delete")
			c.gone(t)
			c.hostProcsGone(t)
		})
	})
}

// TestOCIList: list in table, json and -q forms.
func TestOCIList(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, rt *ociRuntime) {
		if l := rt.listJSON(t); len(l) != 0 {
			t.Fatalf("%s: fresh root: list --format json = %+v, want empty", rt.name, l)
		}
		if ids := rt.listIDs(t); len(ids) != 0 {
			t.Fatalf("%s: fresh root: list -q = %q, want nothing", rt.name, ids)
		}
		c1 := rt.newContainer(t, rt.newBundle(t, bundleOpts{}, "sleep", "1000"), "la")
		c1.create(t)
		c2 := rt.newContainer(t, rt.newBundle(t, bundleOpts{}, "sleep", "1000"), "lb")
		c2.createStart(t)
		s1, s2 := c1.state(t), c2.state(t)

		want := []string{c1.id, c2.id}
		slices.Sort(want)
		if ids := rt.listIDs(t); !slices.Equal(ids, want) {
			t.Errorf("%s: list -q = %q, want %q", rt.name, ids, want)
		}

		l := rt.listJSON(t)
		got := map[string]ociListEntry{}
		for _, e := range l {
			got[e.ID] = e
		}
		for _, x := range []struct {
			c  *ociContainer
			st ociState
		}{{c1, s1}, {c2, s2}} {
			e, ok := got[x.c.id]
			switch {
			case !ok:
				t.Errorf("%s: list --format json has no %s: %+v", rt.name, x.c.id, l)
			case e.Status != x.st.Status || e.Pid != x.st.Pid || e.Bundle != x.c.b.dir:
				t.Errorf("%s: list --format json entry %+v, want status %s pid %d bundle %s", rt.name, e, x.st.Status, x.st.Pid, x.c.b.dir)
			}
		}
		if len(l) != 2 {
			t.Errorf("%s: list --format json has %d entries, want 2: %+v", rt.name, len(l), l)
		}

		// --debug (engines pass it when they debug) goes to the log, not
		// into the output engines parse.
		if dbg := rt.ok(t, "--debug", "list", "--format", "json"); !json.Valid([]byte(dbg)) {
			t.Errorf("%s: `--debug list --format json` does not print JSON:\n%s", rt.name, indent(dbg))
		}

		table := rt.ok(t, "list")
		lines := strings.Split(strings.TrimRight(table, "\n"), "\n")
		if len(lines) != 3 {
			t.Fatalf("%s: list (table) should have a header and 2 rows:\n%s", rt.name, indent(table))
		}
		hdr := strings.Fields(lines[0])
		if len(hdr) < 4 || !slices.Equal(hdr[:4], []string{"ID", "PID", "STATUS", "BUNDLE"}) {
			t.Errorf("%s: list header %q, want it to start with ID PID STATUS BUNDLE", rt.name, lines[0])
		}
		for _, x := range []struct {
			c  *ociContainer
			st ociState
		}{{c1, s1}, {c2, s2}} {
			found := false
			for _, row := range lines[1:] {
				f := strings.Fields(row)
				if len(f) >= 4 && f[0] == x.c.id {
					found = true
					if f[1] != strconv.Itoa(x.st.Pid) || f[2] != x.st.Status || f[3] != x.c.b.dir {
						t.Errorf("%s: list row %q, want %s %d %s %s", rt.name, row, x.c.id, x.st.Pid, x.st.Status, x.c.b.dir)
					}
				}
			}
			if !found {
				t.Errorf("%s: list (table) has no row for %s:\n%s", rt.name, x.c.id, indent(table))
			}
		}
	})
}

// TestOCIPauseResume: a paused container makes no progress.
func TestOCIPauseResume(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, rt *ociRuntime) {
		b := rt.newBundle(t, bundleOpts{}, "sh", "-c", `while :; do echo $(date +%s%N) >> /out/ticks; sleep 0.05; done`)
		c := rt.newContainer(t, b, "pz")
		c.createStart(t)
		lines := func() int { return strings.Count(b.readOut("ticks"), "\n") }
		c.waitFile(t, "ticks", "3 ticks", func(s string) bool { return strings.Count(s, "\n") >= 3 })

		rt.must(t, rt.cli(t, ociOpts{}, "pause", c.id), "pause")
		if st := c.state(t); st.Status != "paused" {
			t.Fatalf("%s: status %q after pause, want \"paused\"", rt.name, st.Status)
		}
		n1 := lines()
		// The loop ticks every ~50ms: 1.5s without a tick is no progress.
		deadline := time.Now().Add(1500 * time.Millisecond)
		for time.Now().Before(deadline) {
			if n := lines(); n != n1 {
				t.Fatalf("%s: the paused container still writes: %d ticks at pause, %d later", rt.name, n1, n)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if st := c.state(t); st.Status != "paused" {
			t.Errorf("%s: status %q while paused", rt.name, st.Status)
		}

		rt.must(t, rt.cli(t, ociOpts{}, "resume", c.id), "resume")
		if st := c.state(t); st.Status != "running" {
			t.Errorf("%s: status %q after resume, want \"running\"", rt.name, st.Status)
		}
		c.waitFile(t, "ticks", "new ticks after resume", func(s string) bool { return strings.Count(s, "\n") >= n1+3 })
	})
}

// TestOCIEvents: events --stats prints one stats object with memory usage.
func TestOCIEvents(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, rt *ociRuntime) {
		c := rt.newContainer(t, rt.newBundle(t, bundleOpts{}, "sleep", "1000"), "ev")
		c.createStart(t)
		// Stats come from a host cgroup of the container's own.
		if own := c.ownCgroups(); len(own) == 0 {
			t.Errorf("%s: the container's host process (state pid) is in no cgroup made for it: %q",
				rt.name, procCgroupDirs(c.state(t).Pid))
		}
		out := rt.ok(t, "events", "--stats", c.id)
		d := json.NewDecoder(strings.NewReader(out))
		var ev struct {
			Type string `json:"type"`
			ID   string `json:"id"`
			Data struct {
				Memory struct {
					Usage struct {
						Usage uint64 `json:"usage"`
					} `json:"usage"`
				} `json:"memory"`
			} `json:"data"`
		}
		if err := d.Decode(&ev); err != nil {
			t.Fatalf("%s: events --stats is not a JSON object: %v\n%s", rt.name, err, indent(out))
		}
		if d.More() {
			t.Errorf("%s: events --stats printed more than one object:\n%s", rt.name, indent(out))
		}
		if ev.Type != "stats" || ev.ID != c.id {
			t.Errorf("%s: events --stats: type %q id %q, want \"stats\" and %q", rt.name, ev.Type, ev.ID, c.id)
		}
		if ev.Data.Memory.Usage.Usage == 0 {
			t.Errorf("%s: events --stats: data.memory.usage.usage is 0 or missing, want the container's memory use:\n%s", rt.name, indent(out))
		}
	})
}

// TestOCIWait: `wait ID` (a runsc extension) blocks until init exits and
// prints its exit status.
func TestOCIWait(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, rt *ociRuntime) {
		if rt.name != "runsc" {
			t.Skipf("%s has no `wait` command (runsc only)", rt.name)
		}
		b := rt.newBundle(t, bundleOpts{}, "sh", "-c", `while [ ! -e /out/go ]; do sleep 0.05; done; exit 5`)
		c := rt.newContainer(t, b, "wt")
		c.createStart(t)
		g := rt.startCLI(t, ociOpts{}, "wait", c.id)
		// wait must not return while init runs: check the moment before
		// letting it go.
		st := c.state(t)
		if !g.running() {
			r := g.wait(t, time.Second)
			t.Fatalf("runsc: wait returned while the container was %s%s", st.Status, r)
		}
		if err := os.WriteFile(filepath.Join(b.out, "go"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		r := g.wait(t, ociStopTimeout)
		if r.code != 0 || r.timedOut {
			t.Fatalf("runsc: wait failed%s\n%s", r, rt.logTail())
		}
		var raw map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil {
			t.Fatalf("runsc: wait output is not a JSON object: %v%s", err, r)
		}
		if raw["id"] != c.id || raw["exitStatus"] != float64(5) || len(raw) != 2 {
			t.Errorf("runsc: wait printed %v, want {\"id\":%q,\"exitStatus\":5}", raw, c.id)
		}
		c.waitStatus(t, "stopped")
	})
}

// TestOCIKill: signals by name and number, defaults, unknown signals,
// --all.
func TestOCIKill(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, rt *ociRuntime) {
		// A shell (pid 1) that logs the signals it traps to /out/sig.
		trapper := func(t *testing.T, name string) *ociContainer {
			b := rt.newBundle(t, bundleOpts{}, "sh", "-c",
				`trap 'echo usr1 >> /out/sig' USR1; trap 'echo term >> /out/sig; exit 0' TERM; echo ready >> /out/sig; while :; do sleep 0.05; done`)
			c := rt.newContainer(t, b, name)
			c.createStart(t)
			c.waitFile(t, "sig", "ready", func(s string) bool { return s == "ready\n" })
			return c
		}
		t.Run("by-name-and-number", func(t *testing.T) {
			c := trapper(t, "ks")
			want := "ready\n"
			for _, sig := range []string{"USR1", "SIGUSR1", strconv.Itoa(int(syscall.SIGUSR1))} {
				rt.must(t, rt.cli(t, ociOpts{}, "kill", c.id, sig), "kill "+sig)
				want += "usr1\n"
				c.waitFile(t, "sig", strconv.Quote(want), func(s string) bool { return s == want })
			}
			if st := c.state(t); st.Status != "running" {
				t.Fatalf("%s: container %s after trapped SIGUSR1s, want running", rt.name, st.Status)
			}
			rt.must(t, rt.cli(t, ociOpts{}, "kill", c.id, "TERM"), "kill TERM")
			want += "term\n"
			c.waitFile(t, "sig", strconv.Quote(want), func(s string) bool { return s == want })
			c.waitStatus(t, "stopped")
		})
		t.Run("default-is-TERM", func(t *testing.T) {
			c := trapper(t, "kd")
			rt.must(t, rt.cli(t, ociOpts{}, "kill", c.id), "kill (no signal)")
			c.waitFile(t, "sig", "term", func(s string) bool { return s == "ready\nterm\n" })
			c.waitStatus(t, "stopped")
		})
		t.Run("number-9", func(t *testing.T) {
			c := rt.newContainer(t, rt.newBundle(t, bundleOpts{}, "sleep", "1000"), "k9")
			c.createStart(t)
			rt.must(t, rt.cli(t, ociOpts{}, "kill", c.id, "9"), "kill 9")
			c.waitStatus(t, "stopped")
		})
		t.Run("unknown-signal", func(t *testing.T) {
			c := rt.newContainer(t, rt.newBundle(t, bundleOpts{}, "sleep", "1000"), "ku")
			c.createStart(t)
			r := rt.cli(t, ociOpts{}, "kill", c.id, "FOO")
			checkCLIError(t, rt, r, "kill ID FOO")
			if st := c.state(t); st.Status != "running" {
				t.Errorf("%s: container %s after a kill with an unknown signal, want running", rt.name, st.Status)
			}
		})
		t.Run("all", func(t *testing.T) {
			b := rt.newBundle(t, bundleOpts{}, "sh", "-c", "sleep 1000 & sleep 1000 & wait")
			c := rt.newContainer(t, b, "ka")
			c.createStart(t)
			pidFile := filepath.Join(rt.dir, "ka-exec.pid")
			rt.must(t, c.exec(t, ociOpts{}, []string{"-d", "--pid-file", pidFile}, "sleep", "333"), "exec -d")
			pf, _ := os.ReadFile(pidFile)
			pid, _ := strconv.Atoi(strings.TrimSpace(string(pf)))
			ep, ok := newProcID(pid)
			if !ok {
				t.Fatalf("%s: exec --pid-file %q is not a live process", rt.name, pf)
			}
			c.seen[ep] = true
			pollPs(t, c, 4, "(sh, two sleeps, an exec'd sleep)")
			rt.must(t, rt.cli(t, ociOpts{}, "kill", "--all", c.id, "KILL"), "kill --all KILL")
			c.waitStatus(t, "stopped")
			if !waitGone([]procID{ep}, ociStopTimeout) {
				t.Errorf("%s: the exec'd process (host pid %d) survived kill --all", rt.name, pid)
			}
			rt.must(t, rt.cli(t, ociOpts{}, "delete", c.id), "delete")
			c.hostProcsGone(t)
		})
	})
}

// TestOCIPreserveFds: --preserve-fds 1 hands fd 3 to the container.
func TestOCIPreserveFds(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, rt *ociRuntime) {
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer pr.Close()
		b := rt.newBundle(t, bundleOpts{}, "sh", "-c", "echo via-fd3 >&3")
		c := rt.newContainer(t, b, "pf")
		g := rt.startCLI(t, ociOpts{extraFiles: []*os.File{pw}}, "run", "--preserve-fds", "1", "--bundle", b.dir, c.id)
		pw.Close()
		pr.SetReadDeadline(time.Now().Add(defaultTimeout))
		got := make(chan string, 1)
		go func() {
			var all []byte
			buf := make([]byte, 512)
			for {
				n, err := pr.Read(buf)
				all = append(all, buf[:n]...)
				if err != nil {
					break
				}
			}
			got <- string(all)
		}()
		r := g.wait(t, defaultTimeout)
		if r.code != 0 || r.timedOut {
			t.Errorf("%s: run --preserve-fds 1 failed%s\n%s", rt.name, r, rt.logTail())
		}
		if s := <-got; s != "via-fd3\n" {
			t.Errorf("%s: read %q from the pipe passed as fd 3, want \"via-fd3\\n\"", rt.name, s)
		}
	})
}

// TestOCISpecFeatures: spec writes a default config; features describes
// the runtime.
func TestOCISpecFeatures(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, rt *ociRuntime) {
		check := func(path string) {
			t.Helper()
			b, err := os.ReadFile(path)
			if err != nil {
				t.Errorf("%s: spec did not write %s: %v", rt.name, path, err)
				return
			}
			var s specs.Spec
			if err := json.Unmarshal(b, &s); err != nil {
				t.Errorf("%s: %s is not a spec: %v", rt.name, path, err)
				return
			}
			if s.Version == "" || s.Process == nil || len(s.Process.Args) == 0 || s.Root == nil || s.Root.Path == "" || s.Linux == nil {
				t.Errorf("%s: default spec lacks ociVersion, process.args, root.path or linux:\n%s", rt.name, indent(string(b)))
				return
			}
			var ns []string
			for _, n := range s.Linux.Namespaces {
				ns = append(ns, string(n.Type))
			}
			for _, want := range []string{"pid", "mount"} {
				if !slices.Contains(ns, want) {
					t.Errorf("%s: default spec has no %s namespace (namespaces: %q)", rt.name, want, ns)
				}
			}
		}
		d1 := filepath.Join(rt.dir, "spec-bundle")
		d2 := filepath.Join(rt.dir, "spec-cwd")
		for _, d := range []string{d1, d2} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		rt.must(t, rt.cli(t, ociOpts{}, "spec", "--bundle", d1), "spec --bundle")
		check(filepath.Join(d1, "config.json"))
		rt.must(t, rt.cli(t, ociOpts{dir: d2}, "spec"), "spec (in the current directory)")
		check(filepath.Join(d2, "config.json"))

		out := rt.ok(t, "features")
		var f map[string]any
		if err := json.Unmarshal([]byte(out), &f); err != nil {
			t.Fatalf("%s: features is not a JSON object: %v\n%s", rt.name, err, indent(out))
		}
		for _, k := range []string{"ociVersionMin", "ociVersionMax"} {
			if s, _ := f[k].(string); s == "" {
				t.Errorf("%s: features has no %s string:\n%s", rt.name, k, indent(out))
			}
		}
	})
}
