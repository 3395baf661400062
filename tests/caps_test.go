package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCapabilities runs testdata/c/caps.c natively (as root, with the
// full set of capabilities) and under `runsc do` (the sandbox's root:
// every capability): it confines itself to a fixed set first, so both runs
// must print the same lines. A few lines are also checked by name, so the
// test says what broke.
func TestCapabilities(t *testing.T) {
	o := opts{timeout: 60 * time.Second}
	nat := native(t, o, prog("caps"))
	if nat.startErr != nil || nat.timedOut || nat.code != 0 || !strings.HasSuffix(nat.stdout, "caps: ok\n") {
		t.Fatalf("BUG IN THE TEST PROGRAM (or the host's root lacks capabilities): the native run of caps should print \"caps: ok\" and exit 0%s", nat)
	}
	for _, want := range []string{
		// root that dropped CAP_DAC_OVERRIDE (and CAP_DAC_READ_SEARCH)
		// cannot read a 0600 file of another uid in /tmp (the sandbox's
		// tmpfs)...
		"files: without DAC_OVERRIDE and DAC_READ_SEARCH in effective:\n  open rdonly: EACCES\n",
		// ...and after setuid(1000) every capability is gone.
		"setuid(1000): uid=1000/1000/1000 fsuid=1000 E=0 P=0 I=0 A=0 ",
		"setuid(1000) status CapEff:\t0000000000000000\n",
		"setuid(1000): open secret: EACCES\n",
	} {
		if !strings.Contains(nat.stdout, want) {
			t.Fatalf("BUG IN THE TEST: the native run lacks %q%s", want, nat)
		}
	}
	sb := sandbox(t, o, prog("caps"))
	compareOutputs(t, nat, sb)
}

// dockerCaps is docker's default capability set.
var dockerCaps = []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"}

func without(list []string, drop ...string) []string {
	var out []string
	for _, c := range list {
		keep := true
		for _, d := range drop {
			keep = keep && c != d
		}
		if keep {
			out = append(out, c)
		}
	}
	return out
}

// capsBundle writes a bundle whose rootfs holds the caps program at
// /caps (and the /proc and /dev runc mounts on), running "caps report"
// with the given user, capabilities and noNewPrivileges.
func capsBundle(t *testing.T, uid int, caps map[string][]string, nnp bool) string {
	t.Helper()
	dir := filepath.Join(workDir, "bundles", nonce(t))
	rootfs := filepath.Join(dir, "rootfs")
	for _, d := range []string{"proc", "dev", "tmp"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(t, prog("caps"), filepath.Join(rootfs, "caps"), 0o755)
	process := map[string]any{
		"terminal":        false,
		"user":            map[string]any{"uid": uid, "gid": uid},
		"args":            []string{"/caps", "report", "container"},
		"env":             []string{"PATH=/"},
		"cwd":             "/",
		"noNewPrivileges": nnp,
	}
	if caps != nil {
		process["capabilities"] = caps
	}
	writeJSON(t, filepath.Join(dir, "config.json"), map[string]any{
		"ociVersion": "1.0.2",
		"process":    process,
		"root":       map[string]any{"path": "rootfs", "readonly": true},
		"hostname":   "caps",
		"mounts": []map[string]any{
			{"destination": "/proc", "type": "proc", "source": "proc"},
			{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": []string{"nosuid", "mode=755"}},
		},
		"linux": map[string]any{
			"namespaces": []map[string]any{
				{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}, {"type": "network"},
			},
		},
	})
	return dir
}

// TestCapabilitiesBundle runs bundles with OCI process.capabilities and
// noNewPrivileges under runc (the reference: Linux itself, set up by
// runc's init before its execve) and under `runsc run`: the program must
// see the same capability sets, ids and AT_SECURE in both.
func TestCapabilitiesBundle(t *testing.T) {
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Fatalf("runc not found: this test compares with it; install it with `apt-get install -y runc` (.ci/run does this)")
	}
	all := func(l []string) map[string][]string {
		return map[string][]string{"bounding": l, "effective": l, "permitted": l}
	}
	netBind := []string{"CAP_NET_BIND_SERVICE"}
	cases := []struct {
		name string
		uid  int
		caps map[string][]string
		nnp  bool
		want string // a line both must print, checked too
	}{
		// docker's defaults: root keeps them, a user gets none but keeps
		// the bounding set (0xa80425fb, as `docker run` shows).
		{"docker-root", 0, all(dockerCaps), false, "E=a80425fb P=a80425fb I=0 A=0 B=a80425fb"},
		{"docker-user", 1000, all(dockerCaps), false, "E=0 P=0 I=0 A=0 B=a80425fb"},
		// A user keeps its ambient capabilities across the exec.
		{"user-ambient", 1000, map[string][]string{"bounding": dockerCaps, "effective": netBind,
			"permitted": netBind, "inheritable": netBind, "ambient": netBind}, false, "E=400 P=400 I=400 A=400 B=a80425fb"},
		// Root regains what the bounding set allows, unless no_new_privs.
		{"root-regains", 0, map[string][]string{"bounding": dockerCaps,
			"effective": without(dockerCaps, "CAP_KILL"), "permitted": without(dockerCaps, "CAP_KILL")}, false, "E=a80425fb P=a80425fb"},
		{"root-nnp", 0, map[string][]string{"bounding": dockerCaps,
			"effective": without(dockerCaps, "CAP_KILL"), "permitted": without(dockerCaps, "CAP_KILL")}, true, "E=a80425db P=a80425db"},
		{"root-empty", 0, map[string][]string{}, false, "E=0 P=0 I=0 A=0 B=0"},
	}
	state := filepath.Join(workDir, "runc-state")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := capsBundle(t, c.uid, c.caps, c.nnp)
			id := "veil-e2e-caps-" + nonce(t)
			ref := run(opts{dir: dir}, runc, "--root", state, "run", "--bundle", dir, id)
			run(opts{dir: dir}, runc, "--root", state, "delete", "-f", id)
			if ref.startErr != nil || ref.timedOut || ref.code != 0 || !strings.Contains(ref.stdout, c.want) {
				t.Fatalf("BUG IN THE TEST (or runc does not work here): runc should exit 0 and print %q%s", c.want, ref)
			}
			sb := runBundle(t, opts{dir: dir}, dir)
			compareOutputs(t, ref, sb)
		})
	}
}

// TestCapabilitiesBadSpec: capabilities the Sentry cannot give are one
// line on stderr naming the problem, before anything starts.
func TestCapabilitiesBadSpec(t *testing.T) {
	for _, c := range []struct {
		name string
		caps map[string][]string
		want string
	}{
		{"unknown-name", map[string][]string{"bounding": {"CAP_CHOWN", "CAP_BOGUS"}},
			`process.capabilities.bounding: unknown capability "CAP_BOGUS"`},
		{"effective-not-permitted", map[string][]string{"effective": {"CAP_KILL"}, "permitted": {"CAP_CHOWN"}},
			"process.capabilities: effective capabilities [CAP_KILL] are not permitted"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := capsBundle(t, 0, c.caps, false)
			r := runBundle(t, opts{}, dir)
			checkOneLineError(t, r)
			if !strings.Contains(r.stderr, c.want) {
				t.Errorf("stderr does not say %q%s", c.want, r)
			}
			if r.stdout != "" {
				t.Errorf("the program ran%s", r)
			}
		})
	}
}

// TestCapabilitiesDefault: without process.capabilities, root has every
// capability the Sentry knows and another user none (but the full
// bounding set), as /proc/self/status shows.
func TestCapabilitiesDefault(t *testing.T) {
	const full = "000001ffffffffff" // CAP_CHOWN (0) .. CAP_CHECKPOINT_RESTORE (40)
	for _, c := range []struct {
		uid      int
		eff, bnd string
	}{{0, full, full}, {1000, "0000000000000000", full}} {
		t.Run(fmt.Sprint("uid", c.uid), func(t *testing.T) {
			spec := newSpec("/", "/bin/busybox", "grep", "-E", "^(CapEff|CapBnd|NoNewPrivs)", "/proc/self/status")
			spec.Process.User = ociUser{UID: uint32(c.uid), GID: uint32(c.uid)}
			dir := makeBundle(t, spec)
			expect(t, runBundle(t, opts{}, dir), 0, "CapEff:\t"+c.eff+"\nCapBnd:\t"+c.bnd+"\nNoNewPrivs:\t0\n")
		})
	}
}
