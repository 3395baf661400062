package tests

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ociLeakCycles is the number of create/kill/delete cycles of
// TestOCILeaks (VEIL_OCI_LEAK_CYCLES overrides it).
func ociLeakCycles(t *testing.T) int {
	if v := os.Getenv("VEIL_OCI_LEAK_CYCLES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("VEIL_OCI_LEAK_CYCLES=%q is not a positive number", v)
		}
		return n
	}
	return 200
}

// newRuntimeProcs returns the runtime's host processes that were not in
// before.
func (rt *ociRuntime) newRuntimeProcs(before []string) []string {
	var out []string
	for _, p := range rt.runtimeProcesses() {
		if !slices.Contains(before, p) {
			out = append(out, p)
		}
	}
	return out
}

// adopt records the runtime processes that appeared since before as the
// container's (runsc: its Sentry, gofer and stubs).
func (c *ociContainer) adopt(before []string) []procID {
	var got []procID
	for _, p := range c.rt.newRuntimeProcs(before) {
		pid, _ := strconv.Atoi(strings.SplitN(p, ":", 2)[0])
		if id, ok := newProcID(pid); ok {
			c.seen[id] = true
			got = append(got, id)
		}
	}
	return got
}

// TestOCILeaks: many create/start/kill/delete cycles leave nothing on the
// host: no runtime process, no mount, no cgroup, no state. The brief asks
// it of runsc; it runs against runc too, which validates the checks.
func TestOCILeaks(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, rt *ociRuntime) {
		cycles := ociLeakCycles(t)
		const budget = 150 * time.Second // never hang; not a timing assertion
		b := rt.newBundle(t, bundleOpts{}, "sleep", "1000")
		prefix := "lk" + nonce(t)[:6]
		procsBefore := rt.runtimeProcesses()
		mountsBefore := mountCounts()
		if pre := cgroupDirsNaming(prefix); len(pre) != 0 {
			t.Fatalf("cgroups naming the fresh prefix %s exist already: %q", prefix, pre)
		}
		var all []*ociContainer
		start := time.Now()
		done := 0
		for i := 0; i < cycles; i++ {
			if time.Since(start) > budget {
				t.Logf("%s: stopping after %d of %d cycles: %v budget used up", rt.name, done, cycles, budget)
				break
			}
			c0 := time.Now()
			c := rt.newContainer(t, b, prefix+"-"+strconv.Itoa(i))
			all = append(all, c)
			if i%2 == 0 {
				rt.must(t, c.launch(t, ociOpts{quiet: true}, "run", "-d", "--bundle", b.dir, c.id), "run -d (cycle "+strconv.Itoa(i)+")")
			} else {
				rt.must(t, c.launch(t, ociOpts{quiet: true}, "create", "--bundle", b.dir, c.id), "create (cycle "+strconv.Itoa(i)+")")
				rt.must(t, rt.cli(t, ociOpts{quiet: true}, "start", c.id), "start (cycle "+strconv.Itoa(i)+")")
			}
			c.waitStatus(t, "running")
			if i < 3 {
				c.adopt(procsBefore)
			}
			rt.must(t, rt.cli(t, ociOpts{quiet: true}, "kill", c.id, "KILL"), "kill (cycle "+strconv.Itoa(i)+")")
			c.waitStatus(t, "stopped")
			rt.must(t, rt.cli(t, ociOpts{quiet: true}, "delete", c.id), "delete (cycle "+strconv.Itoa(i)+")")
			done++
			if i < 3 || (i+1)%50 == 0 {
				t.Logf("%s: cycle %d took %v", rt.name, i, time.Since(c0).Round(time.Millisecond))
			}
		}
		elapsed := time.Since(start)
		t.Logf("%s: %d cycles in %v, %v per cycle", rt.name, done, elapsed.Round(time.Millisecond), (elapsed / time.Duration(max(done, 1))).Round(time.Millisecond))

		// Processes: those seen must go, and no new runtime process stay.
		var seen []procID
		for _, c := range all {
			for p := range c.seen {
				seen = append(seen, p)
			}
		}
		if !waitGone(seen, 5*time.Second) {
			n := 0
			for _, p := range seen {
				if p.alive() {
					n++
					if n <= 10 {
						t.Errorf("%s: host process %d (%s) of a deleted container is alive", rt.name, p.pid, p.cmdline())
					}
				}
			}
			t.Errorf("%s: %d host processes of deleted containers are alive", rt.name, n)
		}
		var left []string
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			left = rt.newRuntimeProcs(procsBefore)
			if len(left) == 0 || time.Now().After(deadline) {
				break
			}
		}
		if len(left) > 0 {
			t.Errorf("%s: runtime processes left after %d cycles: %q", rt.name, done, left)
		}
		m, others := newMounts(mountsBefore, mountCounts())
		if len(m) > 0 {
			t.Errorf("%s: new mounts in the test's mount namespace after %d cycles:\n  %s", rt.name, done, strings.Join(m, "\n  "))
		}
		if len(others) > 0 {
			t.Logf("%s: new mounts of other e2e runs (other work dirs), ignored:\n  %s", rt.name, strings.Join(others, "\n  "))
		}
		if cg := cgroupDirsNaming(prefix); len(cg) > 0 {
			t.Errorf("%s: cgroups of deleted containers left: %q", rt.name, cg)
		}
		own := map[string]bool{}
		for _, c := range all {
			for _, d := range c.ownCgroups() {
				own[d] = true
				if _, err := os.Stat(d); err == nil {
					t.Errorf("%s: cgroup %s of deleted container %s still exists", rt.name, d, c.id)
				}
			}
		}
		t.Logf("%s: the containers' host processes were in %d cgroups made for them; all checked", rt.name, len(own))
		ents, err := os.ReadDir(rt.root)
		if err != nil {
			t.Errorf("%s: reading the state root: %v", rt.name, err)
		}
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		if len(names) > 0 {
			t.Errorf("%s: state root %s not empty after every container was deleted: %q", rt.name, rt.root, names)
		}
		if ids := rt.listIDs(t); len(ids) > 0 {
			t.Errorf("%s: list shows %q after every container was deleted", rt.name, ids)
		}
	})
}

// TestOCIFaults: the sandbox's host processes die under it, or the CLI
// does: state stays consistent and delete cleans up.
func TestOCIFaults(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, rt *ociRuntime) {
		// afterDeath: the container reads as stopped, delete (without
		// --force) succeeds, and nothing of it is left.
		afterDeath := func(t *testing.T, c *ociContainer, what string) {
			t.Helper()
			c.waitStatus(t, "stopped")
			rt.must(t, rt.cli(t, ociOpts{}, "delete", c.id), "delete after "+what)
			c.gone(t)
			c.hostProcsGone(t)
			c.cgroupsGone(t)
		}

		// runsc: the Sentry; runc: the container's init. Both are state.pid.
		t.Run("sigkill-state-pid", func(t *testing.T) {
			before := rt.runtimeProcesses()
			c := rt.newContainer(t, rt.newBundle(t, bundleOpts{}, "sleep", "1000"), "fs")
			st := c.createStart(t)
			procs := c.adopt(before)
			t.Logf("%s: state pid %d (%s); new runtime processes: %d", rt.name, st.Pid, procID{pid: st.Pid}.cmdline(), len(procs))
			if err := syscall.Kill(st.Pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			afterDeath(t, c, "SIGKILL of state.pid")
		})

		t.Run("sigkill-gofer", func(t *testing.T) {
			if rt.name != "runsc" {
				t.Skipf("%s has no gofer process (runsc only)", rt.name)
			}
			before := rt.runtimeProcesses()
			c := rt.newContainer(t, rt.newBundle(t, bundleOpts{}, "sleep", "1000"), "fg")
			c.createStart(t)
			var gofer []procID
			var all []string
			for _, p := range c.adopt(before) {
				cl := p.cmdline()
				all = append(all, strconv.Itoa(p.pid)+": "+cl)
				if slices.Contains(strings.Fields(cl), "gofer") {
					gofer = append(gofer, p)
				}
			}
			if len(gofer) != 1 {
				t.Fatalf("runsc: want exactly one gofer (a new runsc process with a `gofer` argument) for container %s, found %d among the new runsc processes %q",
					c.id, len(gofer), all)
			}
			if cl := gofer[0].cmdline(); !strings.Contains(cl, c.id) && !strings.Contains(cl, c.b.dir) {
				t.Logf("runsc: the gofer's command line names neither the id nor the bundle: %s", cl)
			}
			if err := syscall.Kill(gofer[0].pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			afterDeath(t, c, "SIGKILL of the gofer")
		})

		// SIGKILL of a foreground `run`: whatever the runtime makes of it,
		// state always parses (never a half-written state file) and says
		// running or stopped; delete --force then cleans up.
		t.Run("sigkill-foreground-cli", func(t *testing.T) {
			before := rt.runtimeProcesses()
			b := rt.newBundle(t, bundleOpts{}, "sleep", "1000")
			c := rt.newContainer(t, b, "fc")
			g := rt.startCLI(t, ociOpts{}, "run", "--bundle", b.dir, c.id)
			c.fg = g
			c.waitStatus(t, "running")
			c.adopt(before)
			cli, _ := newProcID(g.r.pid)
			delete(c.seen, cli)
			if err := syscall.Kill(g.r.pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			if r := g.wait(t, ociStopTimeout); r.signal != syscall.SIGKILL {
				t.Errorf("%s: the foreground run did not die of SIGKILL%s", rt.name, r)
			}
			statuses := map[string]int{}
			for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
				st := c.state(t) // fails the test if state fails or does not parse
				statuses[st.Status]++
				if st.Status != "running" && st.Status != "stopped" {
					t.Fatalf("%s: after SIGKILL of the foreground run, state is %q, want running or stopped", rt.name, st.Status)
				}
			}
			t.Logf("%s: states seen after SIGKILL of the foreground CLI: %v", rt.name, statuses)
			rt.must(t, rt.cli(t, ociOpts{}, "delete", "--force", c.id), "delete --force")
			c.gone(t)
			c.hostProcsGone(t)
			c.cgroupsGone(t)
		})
	})
}
