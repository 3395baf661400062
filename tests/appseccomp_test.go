package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The application's seccomp filters, enforced by the Sentry: those a
// program installs itself (compared with a native run, where the host
// kernel enforces them) and a container's linux.seccomp profile.

// needNoHostFilter skips a test whose native run would differ because
// this process already runs under a seccomp filter (inside a container,
// say) or cannot install one.
func needNoHostFilter(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: installing a filter natively takes CAP_SYS_ADMIN")
	}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "\nSeccomp:\t0\n") {
		t.Skip("the tests run under a seccomp filter: the native run would see it")
	}
}

func TestApplicationSeccompFilters(t *testing.T) {
	needNoHostFilter(t)
	argv := []string{prog("seccomp")}
	o := opts{timeout: 60 * time.Second}
	nat := native(t, o, argv...)
	if nat.startErr != nil || nat.timedOut || nat.code != 0 || !strings.HasSuffix(nat.stdout, "seccomp: ok\n") {
		t.Fatalf("BUG IN THE TEST PROGRAM: the native run of seccomp should print \"seccomp: ok\" and exit 0%s", nat)
	}
	compareOutputs(t, nat, runsc(t, o, append([]string{"do"}, argv...)...))
}

// seccompBundleSpec is newSpec's config.json with a tmpfs at /tmp and a
// linux.seccomp profile.
type seccompBundleSpec struct {
	ociSpec
	Mounts []specs.Mount `json:"mounts"`
	Linux  struct {
		Seccomp *specs.LinuxSeccomp `json:"seccomp,omitempty"`
	} `json:"linux"`
}

func seccompBundle(t *testing.T, profile *specs.LinuxSeccomp, script string) string {
	t.Helper()
	return seccompBundleArgs(t, profile, "/bin/busybox", "sh", "-c", script)
}

func seccompBundleArgs(t *testing.T, profile *specs.LinuxSeccomp, args ...string) string {
	t.Helper()
	s := seccompBundleSpec{ociSpec: newSpec("/", args...)}
	s.Mounts = []specs.Mount{{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs"}}
	s.Linux.Seccomp = profile
	dir := makeBundle(t, ociSpec{})
	writeJSON(t, filepath.Join(dir, "config.json"), s)
	return dir
}

const seccompScript = `echo start; mkdir /tmp/d && echo made; ls / | grep -c veil-bundle-marker; ` +
	`grep Seccomp /proc/self/status; echo ok`

func TestBundleSeccompProfile(t *testing.T) {
	denyMkdir := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
		Syscalls: []specs.LinuxSyscall{{
			Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: func(e uint) *uint { return &e }(1),
		}},
	}
	t.Run("control", func(t *testing.T) {
		r := runBundle(t, opts{}, seccompBundle(t, nil, seccompScript))
		expect(t, r, 0, "start\nmade\n1\nSeccomp:\t0\nSeccomp_filters:\t0\nok\n")
	})
	t.Run("deny-mkdir", func(t *testing.T) {
		r := runBundle(t, opts{}, seccompBundle(t, denyMkdir, seccompScript))
		expect(t, r, 0, "start\n1\nSeccomp:\t2\nSeccomp_filters:\t1\nok\n")
		if want := "mkdir: can't create directory '/tmp/d': Operation not permitted"; !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q%s", want, r)
		}
	})
	t.Run("kept-by-children", func(t *testing.T) {
		// Filters are inherited by fork and kept across execve: a
		// shell started by the shell cannot mkdir either.
		r := runBundle(t, opts{}, seccompBundle(t, denyMkdir, `/bin/busybox sh -c 'mkdir /tmp/e' || echo refused`))
		expect(t, r, 0, "refused\n")
	})
}

func TestBundleDockerDefaultProfile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "runsc", "ociseccomp", "testdata", "docker-default.json"))
	if err != nil {
		t.Fatal(err)
	}
	var profile specs.LinuxSeccomp
	if err := json.Unmarshal(b, &profile); err != nil {
		t.Fatal(err)
	}
	t.Run("sh", func(t *testing.T) {
		r := runBundle(t, opts{}, seccompBundle(t, &profile, `ls / ; cat /proc/self/status; echo ok`))
		checkNoCrash(t, r)
		if r.code != 0 || !strings.HasSuffix(r.stdout, "\nok\n") || r.stderr != "" {
			t.Fatalf("exit %d, want 0 with \"ok\" last and nothing on stderr%s", r.code, r)
		}
		for _, want := range []string{"\nbin\n", "\nveil-bundle-marker\n", "\nSeccomp:\t2\n", "\nSeccomp_filters:\t1\n"} {
			if !strings.Contains("\n"+r.stdout, want) {
				t.Errorf("stdout lacks %q%s", want, r)
			}
		}
	})
	t.Run("nothing-denied", func(t *testing.T) {
		// --strace shows each call a filter stopped.
		dir := seccompBundle(t, &profile, `ls -l / >/dev/null; ps >/dev/null; id; df >/dev/null; date >/dev/null; `+
			`mkdir /tmp/d; echo x >/tmp/d/f; cat /tmp/d/f; (sleep 0.01 &) ; wait; echo ok`)
		r := runsc(t, opts{}, "--strace", "--root", stateDir, "run", "--bundle", dir, "veil-e2e-"+nonce(t))
		checkNoCrash(t, r)
		if r.code != 0 || !strings.HasSuffix(r.stdout, "x\nok\n") {
			t.Fatalf("exit %d, want 0 and \"ok\"%s", r.code, r)
		}
		for _, l := range strings.Split(r.stderr, "\n") {
			if strings.Contains(l, ": seccomp ") {
				t.Errorf("docker's default profile stopped a call of busybox: %s", l)
			}
		}
	})
	t.Run("go-program", func(t *testing.T) {
		// The Go runtime's threads, signals and preemption.
		dir := seccompBundleArgs(t, &profile, "/bin/goprog")
		copyFile(t, prog("goprog"), filepath.Join(dir, "rootfs", "bin", "goprog"), 0o755)
		r := runsc(t, opts{timeout: 60 * time.Second}, "--strace", "--root", stateDir, "run", "--bundle", dir, "veil-e2e-"+nonce(t))
		checkNoCrash(t, r)
		if r.code != 0 || !strings.HasSuffix(r.stdout, "goprog: ok\n") || strings.Contains(r.stderr, ": seccomp ") {
			t.Fatalf("exit %d, want 0, \"goprog: ok\" and no call stopped by the profile%s", r.code, r)
		}
	})
	t.Run("denied", func(t *testing.T) {
		// New namespaces need CAP_SYS_ADMIN, which the profile assumes
		// the container lacks.
		r := runBundle(t, opts{}, seccompBundle(t, &profile, `unshare -m true; echo $?; mkdir /tmp/x && echo mkdir works`))
		expect(t, r, 0, "1\nmkdir works\n")
		if want := "Operation not permitted"; !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q%s", want, r)
		}
	})
}

func TestBundleSeccompUnsupported(t *testing.T) {
	for name, c := range map[string]struct {
		profile *specs.LinuxSeccomp
		want    string
	}{
		"notify": {&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/run/agent.sock",
			Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActNotify}}},
			"runsc: run: linux.seccomp: syscalls[0] ([mkdir]): action SCMP_ACT_NOTIFY is not supported"},
		"unknown-action": {&specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_MAYBE"},
			`runsc: run: linux.seccomp: defaultAction: unknown action "SCMP_ACT_MAYBE"`},
	} {
		t.Run(name, func(t *testing.T) {
			r := runBundle(t, opts{}, seccompBundle(t, c.profile, "echo ran"))
			checkNoCrash(t, r)
			if r.code == 0 || r.stdout != "" || !strings.Contains(r.stderr, c.want) {
				t.Fatalf("want a failure before the program runs, with %q%s", c.want, r)
			}
		})
	}
}
