package tests

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// A minimal OCI runtime spec (config.json), written by hand.
type ociSpec struct {
	OCIVersion string     `json:"ociVersion"`
	Process    ociProcess `json:"process"`
	Root       ociRoot    `json:"root"`
	Mounts     []ociMount `json:"mounts,omitempty"`
}

type ociMount struct {
	Destination string   `json:"destination"`
	Type        string   `json:"type,omitempty"`
	Source      string   `json:"source,omitempty"`
	Options     []string `json:"options,omitempty"`
}

type ociProcess struct {
	Terminal bool     `json:"terminal"`
	User     ociUser  `json:"user"`
	Args     []string `json:"args"`
	Env      []string `json:"env"`
	Cwd      string   `json:"cwd"`
}

type ociUser struct {
	UID uint32 `json:"uid"`
	GID uint32 `json:"gid"`
}

type ociRoot struct {
	Path     string `json:"path"`
	Readonly bool   `json:"readonly"`
}

func newSpec(cwd string, args ...string) ociSpec {
	return ociSpec{
		OCIVersion: "1.0.2",
		Process: ociProcess{
			Args: args,
			Env:  []string{"PATH=/bin", "VEIL_BUNDLE_VAR=from-config"},
			Cwd:  cwd,
		},
		Root: ociRoot{Path: "rootfs", Readonly: true},
	}
}

// makeBundle creates a bundle directory whose rootfs holds /bin/busybox
// and a marker file, with spec as its config.json.
func makeBundle(t *testing.T, spec ociSpec) string {
	t.Helper()
	dir := filepath.Join(workDir, "bundles", nonce(t))
	if err := os.MkdirAll(filepath.Join(dir, "rootfs", "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, busybox, filepath.Join(dir, "rootfs", "bin", "busybox"), 0o755)
	if err := os.WriteFile(filepath.Join(dir, "rootfs", "veil-bundle-marker"), []byte("bundle\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeJSON(t, filepath.Join(dir, "config.json"), spec)
	return dir
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// runBundle runs `runsc --root STATE run --bundle DIR ID` with a unique ID.
func runBundle(t *testing.T, o opts, dir string) *result {
	t.Helper()
	return runsc(t, o, "--root", stateDir, "run", "--bundle", dir, "veil-e2e-"+nonce(t))
}

func TestBundleRun(t *testing.T) {
	t.Run("echo-ls", func(t *testing.T) {
		dir := makeBundle(t, newSpec("/", "/bin/busybox", "sh", "-c", "echo in-bundle; ls /"))
		r := runBundle(t, opts{}, dir)
		checkNoCrash(t, r)
		if r.code != 0 {
			t.Fatalf("exit code %d, want 0%s", r.code, r)
		}
		lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		if lines[0] != "in-bundle" {
			t.Errorf("first line %q, want \"in-bundle\"%s", lines[0], r)
		}
		listing := map[string]bool{}
		for _, l := range lines[1:] {
			listing[l] = true
		}
		if !listing["bin"] || !listing["veil-bundle-marker"] {
			t.Errorf("`ls /` should list the bundle's rootfs (bin, veil-bundle-marker)%s", r)
		}
		if listing["usr"] {
			t.Errorf("`ls /` lists usr: the root looks like the host's, not root.path%s", r)
		}
	})
	t.Run("exit-code", func(t *testing.T) {
		dir := makeBundle(t, newSpec("/", "/bin/busybox", "sh", "-c", "exit 5"))
		r := runBundle(t, opts{}, dir)
		expect(t, r, 5, "")
	})
	t.Run("signal-exit-code", func(t *testing.T) {
		// pid 1 dies by SIGSEGV (a fault kills even a namespace's init).
		dir := makeBundle(t, newSpec("/", "/segv"))
		copyFile(t, prog("segv"), filepath.Join(dir, "rootfs", "segv"), 0o755)
		r := runBundle(t, opts{}, dir)
		expect(t, r, 139, "segv: about to fault\n")
	})
	t.Run("cwd-env", func(t *testing.T) {
		// process.cwd and process.env come from config.json, not from the
		// caller of runsc.
		dir := makeBundle(t, newSpec("/bin", "/bin/busybox", "sh", "-c",
			`pwd; echo "$VEIL_BUNDLE_VAR"; echo "[$VEIL_CALLER_ONLY]"`))
		r := runBundle(t, opts{env: []string{"VEIL_CALLER_ONLY=leaked"}}, dir)
		expect(t, r, 0, "/bin\nfrom-config\n[]\n")
	})
	t.Run("readonly-root", func(t *testing.T) {
		dir := makeBundle(t, newSpec("/", "/bin/busybox", "sh", "-c",
			"touch /veil-new-file || echo readonly"))
		r := runBundle(t, opts{}, dir)
		expect(t, r, 0, "readonly\n")
		if _, err := os.Lstat(filepath.Join(dir, "rootfs", "veil-new-file")); err == nil {
			t.Errorf("the read-only bundle rootfs was written to on the host%s", r)
		}
	})
}

// TestGoferFilesAreReleased creates and removes many files in a writable
// bundle: the gofer must not keep a host descriptor for each file it ever
// served (it would run out and break the container's filesystem).
func TestGoferFilesAreReleased(t *testing.T) {
	needRunsc(t)
	spec := newSpec("/", "/bin/busybox", "sh", "-c",
		"i=0; while [ $i -lt 500 ]; do echo x > /f$i; rm /f$i; i=$((i+1)); done; echo looped; sleep 10")
	spec.Root.Readonly = false
	dir := makeBundle(t, spec)
	gofer := runUntilLooped(t, dir)
	fds, err := os.ReadDir("/proc/" + strconv.Itoa(gofer) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	if len(fds) > 150 {
		t.Errorf("the gofer holds %d descriptors after 500 files were created and removed", len(fds))
	}
}

// runUntilLooped runs the bundle in dir under `runsc [flags] run` until its
// program prints "looped" (it then sleeps), and returns the host pid of the
// sandbox's gofer. The sandbox is killed at the end of the test.
func runUntilLooped(t *testing.T, dir string, flags ...string) int {
	t.Helper()
	args := append(append([]string{}, flags...), "--root", stateDir, "run", "--bundle", dir, "veil-e2e-"+nonce(t))
	cmd := exec.Command(runscPath, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	got := make([]byte, 7)
	if _, err := io.ReadFull(stdout, got); err != nil || string(got) != "looped\n" {
		t.Fatalf("loop did not finish: %q %v", got, err)
	}
	for _, pid := range childrenOf(cmd.Process.Pid) {
		args, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if strings.Contains(string(args), "\x00gofer\x00") {
			return pid
		}
	}
	t.Fatal("gofer process not found")
	return 0
}
