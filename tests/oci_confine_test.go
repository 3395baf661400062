package tests

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestOCIContainerConfined: the long-lived Sentry of a created and started
// container is as confined as that of runsc do: seccomp filter, no
// capabilities, no_new_privs, its own namespaces, an empty root; and its
// control socket admits only root.
func TestOCIContainerConfined(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, rt *ociRuntime) {
		if rt.name != "runsc" {
			t.Skip("runsc's own processes")
		}
		b := rt.newBundle(t, bundleOpts{}, "sleep", "1000")
		c := rt.newContainer(t, b, "cf")
		st := c.createStart(t)
		status := procStatus(t, st.Pid)
		for _, f := range []string{"CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb"} {
			if v, err := strconv.ParseUint(status[f], 16, 64); err != nil || v != 0 {
				t.Errorf("sandbox process %s = %q, want 0", f, status[f])
			}
		}
		if status["Seccomp"] != "2" {
			t.Errorf("sandbox process Seccomp = %q, want 2 (filter)", status["Seccomp"])
		}
		if status["NoNewPrivs"] != "1" {
			t.Errorf("sandbox process NoNewPrivs = %q, want 1", status["NoNewPrivs"])
		}
		for _, ns := range []string{"pid", "mnt", "net", "ipc", "uts"} {
			mine, _ := os.Readlink("/proc/self/ns/" + ns)
			theirs, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(st.Pid), "ns", ns))
			if err != nil || theirs == mine {
				t.Errorf("the sandbox shares the host's %s namespace (%s, %v)", ns, theirs, err)
			}
		}
		entries, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(st.Pid), "root"))
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if err != nil || (strings.Join(names, " ") != "proc sys" && strings.Join(names, " ") != "proc") {
			t.Errorf("the sandbox's root holds %v (%v), want only proc (and sys)", names, err)
		}

		// The control socket: 0600 in a 0700 directory, owned by root.
		dir := filepath.Join(rt.root, c.id)
		for p, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, "control.sock"): 0o600} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != want {
				t.Errorf("%s has mode %v, want %v", p, fi.Mode().Perm(), want)
			}
		}
		// An unprivileged user cannot reach it.
		probe := exec.Command("/usr/bin/python3", "-c", `import socket,sys
s=socket.socket(socket.AF_UNIX,socket.SOCK_SEQPACKET)
try:
    s.connect(sys.argv[1]); print("connected")
except OSError as e:
    print(e.strerror)`, filepath.Join(dir, "control.sock"))
		probe.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := probe.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "Permission denied" {
			t.Errorf("uid 65534 connecting to the control socket: %q (%v), want Permission denied", out, err)
		}
	})
}

// TestOCIHooks: createRuntime, poststart and poststop hooks run, in that
// order, with the container's state on stdin and their own args and env;
// a failing createRuntime hook fails create and leaves nothing behind.
func TestOCIHooks(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, rt *ociRuntime) {
		out := filepath.Join(rt.dir, "hooks-"+nonce(t)[:8])
		if err := os.Mkdir(out, 0o755); err != nil {
			t.Fatal(err)
		}
		hook := func(name string) specs.Hook {
			return specs.Hook{
				Path: "/bin/sh",
				Args: []string{"sh", "-c", `cat > "$OUT/` + name + `.json"; echo ` + name + ` >> "$OUT/order"; echo "$1" > "$OUT/` + name + `.arg"`, "hookname", name + "-arg"},
				Env:  []string{"OUT=" + out},
			}
		}
		b := rt.newBundle(t, bundleOpts{edit: func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{
				CreateRuntime: []specs.Hook{hook("createRuntime")},
				Poststart:     []specs.Hook{hook("poststart")},
				Poststop:      []specs.Hook{hook("poststop")},
			}
		}}, "sleep", "1000")
		c := rt.newContainer(t, b, "hk")
		st := c.createStart(t)
		rt.must(t, rt.cli(t, ociOpts{}, "kill", c.id, "KILL"), "kill")
		c.waitStatus(t, "stopped")
		rt.must(t, rt.cli(t, ociOpts{}, "delete", c.id), "delete")
		order, _ := os.ReadFile(filepath.Join(out, "order"))
		if string(order) != "createRuntime\npoststart\npoststop\n" {
			t.Errorf("hooks ran in the order %q", order)
		}
		for name, status := range map[string]string{"createRuntime": "creating", "poststart": "running", "poststop": "stopped"} {
			data, err := os.ReadFile(filepath.Join(out, name+".json"))
			if err != nil {
				t.Errorf("%s hook: %v", name, err)
				continue
			}
			var s specs.State
			if err := json.Unmarshal(data, &s); err != nil {
				t.Errorf("%s hook got no state JSON on stdin: %q", name, data)
				continue
			}
			// runc reports poststart hooks a container still "created".
			if name == "poststart" && s.Status == "created" {
				s.Status = "running"
			}
			if s.ID != c.id || s.Bundle != b.dir || string(s.Status) != status {
				t.Errorf("%s hook state: id %q bundle %q status %q, want %q %q %q", name, s.ID, s.Bundle, s.Status, c.id, b.dir, status)
			}
			if name != "poststop" && s.Pid != st.Pid {
				t.Errorf("%s hook state pid %d, want the container's %d", name, s.Pid, st.Pid)
			}
			if arg, _ := os.ReadFile(filepath.Join(out, name+".arg")); string(arg) != name+"-arg\n" {
				t.Errorf("%s hook args: got %q", name, arg)
			}
		}

		// A failing createRuntime hook fails create, and the container is
		// not left behind.
		bad := rt.newBundle(t, bundleOpts{edit: func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "echo hook-broke >&2; exit 3"}}}}
		}}, "sleep", "1000")
		cb := rt.newContainer(t, bad, "hb")
		r := cb.launch(t, ociOpts{}, "create", "--bundle", bad.dir, cb.id)
		if r.code == 0 {
			t.Fatalf("create with a failing createRuntime hook succeeded%s", r)
		}
		cb.gone(t)
	})
}

// TestOCIExecCredentials: exec --cap adds a capability to the exec'd
// process only, and --no-new-privs sets no_new_privs, as runc does.
func TestOCIExecCredentials(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, rt *ociRuntime) {
		b := rt.newBundle(t, bundleOpts{edit: func(s *specs.Spec) {
			s.Process.NoNewPrivileges = false
		}}, "sleep", "1000")
		c := rt.newContainer(t, b, "xc")
		c.createStart(t)
		status := func(flags ...string) map[string]string {
			t.Helper()
			r := c.exec(t, ociOpts{}, flags, "cat", "/proc/self/status")
			rt.must(t, r, "exec cat /proc/self/status")
			m := map[string]string{}
			for _, l := range strings.Split(r.stdout, "\n") {
				if k, v, ok := strings.Cut(l, ":"); ok {
					m[k] = strings.TrimSpace(v)
				}
			}
			return m
		}
		const sysAdmin = 21
		hasCap := func(m map[string]string) bool {
			v, err := strconv.ParseUint(m["CapEff"], 16, 64)
			if err != nil {
				t.Fatalf("CapEff %q: %v", m["CapEff"], err)
			}
			return v&(1<<sysAdmin) != 0
		}
		plain := status()
		if hasCap(plain) || plain["NoNewPrivs"] != "0" {
			t.Errorf("%s: a plain exec has CapEff %s NoNewPrivs %s, want no CAP_SYS_ADMIN and 0", rt.name, plain["CapEff"], plain["NoNewPrivs"])
		}
		withCap := status("--cap", "CAP_SYS_ADMIN")
		if !hasCap(withCap) {
			t.Errorf("%s: exec --cap CAP_SYS_ADMIN has CapEff %s, want CAP_SYS_ADMIN in it", rt.name, withCap["CapEff"])
		}
		if nnp := status("--no-new-privs"); nnp["NoNewPrivs"] != "1" {
			t.Errorf("%s: exec --no-new-privs has NoNewPrivs %q, want 1", rt.name, nnp["NoNewPrivs"])
		}
	})
}
