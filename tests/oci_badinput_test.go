package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestOCIBadInput: each bad request fails cleanly — exactly one line on
// stderr, a non-zero exit, the same error in the --log file in the format
// asked for (text and json) — and leaves the state dir as it was: `list`
// shows exactly what it showed before.
func TestOCIBadInput(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, rt *ociRuntime) {
		// Fixtures, made before any snapshot of `list`: a running witness,
		// a created container (for the duplicate id) and a stopped one.
		sleeper := rt.newBundle(t, bundleOpts{}, "sleep", "1000")
		w := rt.newContainer(t, sleeper, "w")
		w.createStart(t)
		dup := rt.newContainer(t, sleeper, "dup")
		dup.create(t)
		st := rt.newContainer(t, rt.newBundle(t, bundleOpts{}, "true"), "st")
		st.create(t)
		rt.must(t, rt.cli(t, ociOpts{}, "start", st.id), "start")
		st.waitStatus(t, "stopped")

		missingSrc := filepath.Join(rt.dir, "no-such-source-"+nonce(t)[:6])
		notJSON := rt.newBundle(t, bundleOpts{}, "true")
		if err := os.WriteFile(filepath.Join(notJSON.dir, "config.json"), []byte(`{"ociVersion": "1.0.2", "process": {`), 0o644); err != nil {
			t.Fatal(err)
		}
		badMount := rt.newBundle(t, bundleOpts{edit: func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Type: "bind", Source: missingSrc, Options: []string{"rbind"}})
		}}, "true")
		// A profile that exists nowhere: it cannot be honoured, so it must
		// be refused (runc: "unable to apply apparmor profile").
		apparmor := rt.newBundle(t, bundleOpts{edit: func(s *specs.Spec) {
			s.Process.ApparmorProfile = "veil-no-such-profile"
		}}, "true")
		// Intel RDT on a host without resctrl cannot be honoured either
		// (runc: "Intel RDT/CAT is not enabled").
		rdt := rt.newBundle(t, bundleOpts{edit: func(s *specs.Spec) {
			s.Linux.IntelRdt = &specs.LinuxIntelRdt{L3CacheSchema: "L3:0=ff"}
		}}, "true")
		_, resctrlErr := os.Stat("/sys/fs/resctrl/schemata")

		type badCase struct {
			name    string
			args    func() []string // the command, made anew per try
			mention string          // stderr must contain this (case-insensitive), if set
			after   func(t *testing.T)
			skip    string
		}
		fresh := func(prefix string) string { return prefix + "-" + nonce(t)[:8] }
		cases := []badCase{
			{name: "missing-bundle", args: func() []string {
				return []string{"create", "--bundle", filepath.Join(rt.dir, "no-such-bundle"), fresh("mb")}
			}},
			{name: "config-not-json", args: func() []string {
				return []string{"create", "--bundle", notJSON.dir, fresh("nj")}
			}},
			{name: "duplicate-id", args: func() []string {
				return []string{"create", "--bundle", sleeper.dir, dup.id}
			}, mention: "exist"},
			{name: "duplicate-id-running", args: func() []string {
				return []string{"create", "--bundle", sleeper.dir, w.id}
			}, mention: "exist"},
			{name: "unknown-signal", args: func() []string {
				return []string{"kill", w.id, "FOO"}
			}, mention: "FOO"},
			{name: "bind-mount-missing-source", args: func() []string {
				return []string{"create", "--bundle", badMount.dir, fresh("bm")}
			}, mention: missingSrc},
			{name: "apparmor-profile-unavailable", args: func() []string {
				return []string{"create", "--bundle", apparmor.dir, fresh("aa")}
			}, mention: "apparmor", skip: func() string {
				if rt.name == "runsc" {
					return "runsc accepts an AppArmor profile with a warning (TestOCIApparmorNotApplied)"
				}
				return ""
			}()},
			{name: "intel-rdt-unavailable", args: func() []string {
				return []string{"create", "--bundle", rdt.dir, fresh("rd")}
			}, mention: "rdt", skip: func() string {
				if resctrlErr == nil {
					return "this host has resctrl: Intel RDT can be honoured here"
				}
				return ""
			}()},
			{name: "start-stopped", args: func() []string { return []string{"start", st.id} }},
			{name: "exec-stopped", args: func() []string { return []string{"exec", st.id, "true"} }},
			{name: "exec-missing-binary", args: func() []string { return []string{"exec", w.id, "/no/such/binary"} }},
			{name: "delete-running", args: func() []string { return []string{"delete", w.id} }},
			{name: "state-unknown-id", args: func() []string { return []string{"state", fresh("nx")} }, mention: "does not exist"},
			{name: "kill-unknown-id", args: func() []string { return []string{"kill", fresh("nx"), "KILL"} }, mention: "does not exist"},
		}
		for _, bc := range cases {
			t.Run(bc.name, func(t *testing.T) {
				if bc.skip != "" {
					t.Skip(bc.skip)
				}
				for _, format := range []string{"text", "json"} {
					before := rt.listJSON(t)
					logFile := filepath.Join(rt.dir, fmt.Sprintf("bad-%s.%s.log", bc.name, format))
					args := bc.args()
					r := rt.cli(t, ociOpts{logFile: logFile, logFormat: format}, args...)
					what := fmt.Sprintf("`%s` (--log-format %s)", shellQuote(args), format)
					line := checkCLIError(t, rt, r, what)
					if bc.mention != "" && !strings.Contains(strings.ToLower(line), strings.ToLower(bc.mention)) {
						t.Errorf("%s: %s: the error %q does not mention %q", rt.name, what, line, bc.mention)
					}
					checkLoggedError(t, rt, logFile, format, line, what)
					if after := rt.listJSON(t); !slices.Equal(after, before) {
						t.Errorf("%s: %s changed the list:\n  before: %+v\n  after:  %+v", rt.name, what, before, after)
					}
				}
			})
		}

		// What the failures must not have broken.
		t.Run("survivors", func(t *testing.T) {
			if s := w.state(t); s.Status != "running" {
				t.Errorf("%s: witness is %s, want running", rt.name, s.Status)
			}
			if r := w.exec(t, ociOpts{}, nil, "true"); r.code != 0 {
				t.Errorf("%s: exec into the witness fails after the bad requests%s", rt.name, r)
			}
			rt.must(t, rt.cli(t, ociOpts{}, "start", dup.id), "start of the first container after a duplicate create")
			dup.waitStatus(t, "running")
			if s := st.state(t); s.Status != "stopped" {
				t.Errorf("%s: the stopped container is %s after start/exec on it", rt.name, s.Status)
			}
		})

		t.Run("delete-force-running", func(t *testing.T) {
			w.state(t) // records the host process
			rt.must(t, rt.cli(t, ociOpts{}, "delete", "--force", w.id), "delete --force of a running container")
			w.gone(t)
			w.hostProcsGone(t)
			w.cgroupsGone(t)
		})
	})
}

// TestOCISeccompHonoured: linux.seccomp in config.json is either refused
// with a clear error or enforced — never silently dropped. (runc enforces
// it.) The filter makes chdir(2) fail with EPERM; /tmp exists.
func TestOCISeccompHonoured(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, rt *ociRuntime) {
		eperm := uint(1)
		b := rt.newBundle(t, bundleOpts{edit: func(s *specs.Spec) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{
				DefaultAction: specs.ActAllow,
				Syscalls: []specs.LinuxSyscall{{
					Names: []string{"chdir"}, Action: specs.ActErrno, ErrnoRet: &eperm,
				}},
			}
		}}, "sh", "-c", "cd /tmp; echo cd=$?")
		c := rt.newContainer(t, b, "sc")
		r := c.launch(t, ociOpts{}, "run", "--bundle", b.dir, c.id)
		switch {
		case r.code == 0 && regexp.MustCompile(`^cd=[1-9][0-9]*\n$`).MatchString(r.stdout) &&
			strings.Contains(r.stderr, "not permitted"):
			// enforced: chdir(2) failed with EPERM (/tmp exists)
		case r.code != 0 && r.stdout == "":
			line := checkCLIError(t, rt, r, "run with linux.seccomp")
			if !strings.Contains(strings.ToLower(line), "seccomp") {
				t.Errorf("%s: refusing linux.seccomp, the error %q should name it", rt.name, line)
			}
		case r.stdout == "cd=0\n":
			t.Errorf("%s: linux.seccomp denies chdir, yet cd worked: the filter was silently dropped%s", rt.name, r)
		default:
			t.Errorf("%s: want either a failed cd with EPERM (seccomp enforced) or a clean one-line error%s\n%s", rt.name, r, rt.logTail())
		}
	})
}

// TestOCIApparmorNotApplied: runsc does not apply host AppArmor profiles
// (the application never makes host system calls; docker asks for
// "docker-default" on every AppArmor host), and says so in the log
// instead of dropping it silently. runc refuses a profile it cannot load
// (TestOCIBadInput).
func TestOCIApparmorNotApplied(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, rt *ociRuntime) {
		if rt.name != "runsc" {
			t.Skip("runsc behaviour")
		}
		b := rt.newBundle(t, bundleOpts{edit: func(s *specs.Spec) {
			s.Process.ApparmorProfile = "veil-no-such-profile"
		}}, "sh", "-c", "echo ran")
		c := rt.newContainer(t, b, "aa")
		logFile := filepath.Join(rt.dir, "apparmor-"+c.id+".log")
		r := c.launch(t, ociOpts{logFile: logFile, logFormat: "json"}, "run", "--bundle", b.dir, c.id)
		if r.code != 0 || r.stdout != "ran\n" {
			t.Fatalf("run with an AppArmor profile: want it to run%s", r)
		}
		log, _ := os.ReadFile(logFile)
		found := false
		for _, line := range strings.Split(string(log), "\n") {
			var e struct{ Level, Msg string }
			if json.Unmarshal([]byte(line), &e) == nil && e.Level == "warning" &&
				strings.Contains(e.Msg, "apparmorProfile") && strings.Contains(e.Msg, "not applied") {
				found = true
			}
		}
		if !found {
			t.Errorf("no warning about the AppArmor profile in the --log file:\n%s", log)
		}
	})
}
