package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// shimBuilt says whether the repository has the containerd shim, whose
// binary make install and make deb must then ship.
func shimBuilt() bool {
	_, err := os.Stat(filepath.Join(repoRoot, "shim", "cmd", "containerd-shim-runsc-v1"))
	return err == nil
}

// docsShipped are the files of docs/ that the package must carry.
var docsShipped = []string{"architecture.md", "user-guide.md", "compatibility.md", "limitations.md", "debugging.md", "platforms.md"}

// makeTarget runs make in the repository root.
func makeTarget(t *testing.T, args ...string) *result {
	t.Helper()
	r := run(opts{dir: repoRoot, timeout: 10 * time.Minute}, append([]string{"make"}, args...)...)
	if r.code != 0 {
		t.Fatalf("make %s failed%s", strings.Join(args, " "), r)
	}
	return r
}

// checkExecutable requires an executable regular file.
func checkExecutable(t *testing.T, path string) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Errorf("missing: %v", err)
		return
	}
	if !st.Mode().IsRegular() || st.Mode().Perm() != 0o755 {
		t.Errorf("%s: mode %v, want a regular file with mode 0755", path, st.Mode())
	}
}

// TestMakeDeb builds the Debian package and installs it with dpkg into a
// scratch root (a minimal dpkg database of its own): the files are where
// a user looks for them, the runsc in it runs, apt accepts the package
// for this host, and removing it removes them.
func TestMakeDeb(t *testing.T) {
	r := makeTarget(t, "deb")
	m := regexp.MustCompile(`built (bin/veil_[^ ]+\.deb)`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("make deb does not say which package it built%s", r)
	}
	deb := filepath.Join(repoRoot, m[1])
	arch := strings.TrimSpace(run(opts{}, "dpkg", "--print-architecture").stdout)
	fields := run(opts{}, "dpkg-deb", "-f", deb, "Package", "Version", "Architecture", "Depends")
	if fields.code != 0 || !strings.Contains(fields.stdout, "Package: veil\n") ||
		!regexp.MustCompile(`(?m)^Version: [0-9][^ ]*$`).MatchString(fields.stdout) ||
		!strings.Contains(fields.stdout, "Architecture: "+arch+"\n") {
		t.Errorf("control data of %s: want Package veil, a Debian version and Architecture %s%s", deb, arch, fields)
	}

	root := filepath.Join(workDir, "debroot-"+nonce(t))
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"status", "available"} {
		if err := os.WriteFile(filepath.Join(root, "var/lib/dpkg", f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dpkg := func(args ...string) *result {
		return run(opts{timeout: time.Minute}, append([]string{"dpkg", "--root=" + root, "--log=/dev/null", "--force-script-chrootless"}, args...)...)
	}
	if r := dpkg("-i", deb); r.code != 0 {
		t.Fatalf("dpkg -i failed%s", r)
	}
	if r := dpkg("-s", "veil"); !strings.Contains(r.stdout, "Status: install ok installed") {
		t.Errorf("dpkg -s veil: not installed%s", r)
	}
	bins := []string{"usr/bin/runsc"}
	if shimBuilt() {
		bins = append(bins, "usr/bin/containerd-shim-runsc-v1")
	}
	for _, b := range bins {
		checkExecutable(t, filepath.Join(root, b))
	}
	if r := run(opts{}, filepath.Join(root, "usr/bin/runsc"), "--version"); r.code != 0 || !strings.Contains(r.stdout, "runsc") {
		t.Errorf("the packaged runsc does not run%s", r)
	}
	docs := []string{"usr/share/doc/veil/README.md", "usr/share/doc/veil/copyright"}
	for _, d := range docsShipped {
		docs = append(docs, "usr/share/doc/veil/docs/"+d)
	}
	for _, d := range docs {
		if st, err := os.Stat(filepath.Join(root, d)); err != nil || st.Size() == 0 {
			t.Errorf("%s missing or empty in the package: %v", d, err)
		}
	}
	if r := run(opts{timeout: time.Minute}, "apt-get", "install", "--simulate", deb); r.code != 0 || !strings.Contains(r.stdout, "Inst veil") {
		t.Errorf("apt would not install the package here%s", r)
	}

	if r := dpkg("-r", "veil"); r.code != 0 {
		t.Fatalf("dpkg -r failed%s", r)
	}
	for _, f := range append(bins, docs...) {
		mustNotExist(t, filepath.Join(root, f), "dpkg -r veil removes the package's files")
	}
}

// TestMakeInstall installs under a DESTDIR and a PREFIX, and uninstalls.
func TestMakeInstall(t *testing.T) {
	dest := filepath.Join(workDir, "destdir-"+nonce(t))
	makeTarget(t, "install", "DESTDIR="+dest, "PREFIX=/opt/veil")
	bins := []string{"runsc"}
	if shimBuilt() {
		bins = append(bins, "containerd-shim-runsc-v1")
	}
	for _, b := range bins {
		checkExecutable(t, filepath.Join(dest, "opt/veil/bin", b))
	}
	if r := run(opts{}, filepath.Join(dest, "opt/veil/bin/runsc"), "--version"); r.code != 0 {
		t.Errorf("the installed runsc does not run%s", r)
	}
	makeTarget(t, "uninstall", "DESTDIR="+dest, "PREFIX=/opt/veil")
	for _, b := range bins {
		mustNotExist(t, filepath.Join(dest, "opt/veil/bin", b), "make uninstall removes it")
	}
}

func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s is not JSON after runsc changed it: %v\n%s", path, err, data)
	}
	return m
}

// TestRunscInstallConfig runs runsc install and uninstall against a
// scratch daemon.json that has settings and a runtime of its own.
func TestRunscInstallConfig(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "daemon.json")
	orig := `{"log-level": "warn", "default-ulimits": {"nofile": {"Name": "nofile", "Hard": 64000, "Soft": 64000}}, "runtimes": {"crun": {"path": "/usr/bin/crun"}}}`
	if err := os.WriteFile(conf, []byte(orig), 0o644); err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	json.Unmarshal([]byte(orig), &want)

	r := runsc(t, opts{}, "install", "--config", conf, "--runtime", "veil", "--", "--platform=ptrace", "--debug")
	expectCode(t, r, 0)
	got := readJSON(t, conf)
	want["runtimes"].(map[string]any)["veil"] = map[string]any{"path": runscPath, "runtimeArgs": []any{"--platform=ptrace", "--debug"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after install:\n got %v\nwant %v", got, want)
	}
	// Installing again replaces the entry, it does not add another.
	expectCode(t, runsc(t, opts{}, "install", "--config", conf, "--runtime", "veil"), 0)
	want["runtimes"].(map[string]any)["veil"] = map[string]any{"path": runscPath}
	if got := readJSON(t, conf); !reflect.DeepEqual(got, want) {
		t.Errorf("after the second install:\n got %v\nwant %v", got, want)
	}

	r = runsc(t, opts{}, "uninstall", "--config", conf, "--runtime", "veil")
	expectCode(t, r, 0)
	delete(want["runtimes"].(map[string]any), "veil")
	if got := readJSON(t, conf); !reflect.DeepEqual(got, want) {
		t.Errorf("after uninstall:\n got %v\nwant %v", got, want)
	}
	// Nothing to remove is not an error, and changes nothing.
	before, _ := os.ReadFile(conf)
	expectCode(t, runsc(t, opts{}, "uninstall", "--config", conf, "--runtime", "veil"), 0)
	if after, _ := os.ReadFile(conf); string(after) != string(before) {
		t.Errorf("uninstall of a missing runtime changed the file:\n%s", after)
	}

	t.Run("missing-file", func(t *testing.T) {
		fresh := filepath.Join(t.TempDir(), "docker", "daemon.json")
		expectCode(t, runsc(t, opts{}, "install", "--config", fresh), 0)
		if got := readJSON(t, fresh); !reflect.DeepEqual(got, map[string]any{"runtimes": map[string]any{"runsc": map[string]any{"path": runscPath}}}) {
			t.Errorf("install into a missing file: %v", got)
		}
	})
	t.Run("bad-json", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "daemon.json")
		const text = "{\"runtimes\": {\"crun\": \n"
		os.WriteFile(bad, []byte(text), 0o644)
		for _, cmd := range []string{"install", "uninstall"} {
			checkSays(t, runsc(t, opts{}, cmd, "--config", bad), bad, "JSON")
			if data, _ := os.ReadFile(bad); string(data) != text {
				t.Errorf("%s changed a file it could not parse: %q", cmd, data)
			}
		}
	})
	t.Run("snippets", func(t *testing.T) {
		r := runsc(t, opts{}, "install", "--containerd", "--runtime", "veil", "--", "--platform=ptrace")
		expectCode(t, r, 0)
		for _, w := range []string{`containerd.runtimes.veil]`, `runtime_type = "io.containerd.runsc.v1"`, `ConfigPath = "/etc/containerd/veil.toml"`, `platform = "ptrace"`} {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("containerd snippet lacks %q%s", w, r)
			}
		}
		r = runsc(t, opts{}, "install", "--kubernetes", "--runtime", "veil")
		expectCode(t, r, 0)
		for _, w := range []string{"apiVersion: node.k8s.io/v1\n", "kind: RuntimeClass\n", "  name: veil\n", "handler: veil\n"} {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("RuntimeClass lacks %q%s", w, r)
			}
		}
	})
}

// TestRunscInstallDocker: a dockerd whose daemon.json runsc install
// changed runs `docker run --runtime=NAME` on runsc, with the runtime
// arguments given to install.
func TestRunscInstallDocker(t *testing.T) {
	needRunsc(t)
	d, err := newDockerd(filepath.Join(workDir, "docker-install"), nil, func(conf string) error {
		r := run(opts{}, runscPath, "install", "--config", conf, "--runtime", "veil-installed", "--", "--overlay")
		if r.code != 0 {
			t.Fatalf("runsc install failed%s", r)
		}
		return nil
	})
	if d != nil {
		t.Cleanup(d.stop)
	}
	if err == nil {
		err = d.importImage()
	}
	if err != nil {
		t.Fatalf("starting dockerd: %v", err)
	}
	r := d.docker(t, opts{}, "run", "--rm", "--network", "none", "--runtime", "veil-installed", imageRef, "sh", "-c", "echo hi; uname -r; head -1 /proc/mounts")
	// The Sentry's own kernel release shows that runsc ran it, and the
	// root's overlay that it had the runtime argument (--overlay).
	expect(t, r, 0, "hi\n6.1.0-veil\noverlay / overlay rw,relatime 0 0\n")
}
