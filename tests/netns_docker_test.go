package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// dockerHostBinds are the docker run flags that lend the test image
// (busybox) the host's programs and libraries, read-only.
var dockerHostBinds = []string{"-v", "/usr:/usr:ro", "-v", "/usr/lib:/lib:ro", "-v", "/lib64:/lib64:ro"}

// docker run --network none: the engine hands runsc a network namespace
// with only lo, and nginx in the sandbox serves curl on loopback, served
// by the Sentry's own stack; `ip addr` shows lo alone.
func TestNetnsDockerNoneNginx(t *testing.T) {
	for _, bin := range []string{"/usr/sbin/nginx", "/usr/bin/curl"} {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("%s is missing (.ci/run installs it): %v", bin, err)
		}
	}
	forEachEngineRuntime(t, func(t *testing.T, rt engineRuntime) {
		d := startDockerd(t, dockerRuntimes(t))
		name := containerName(t)
		t.Cleanup(func() { d.docker(t, opts{}, "rm", "-f", name) })
		conf := t.TempDir()
		os.Chmod(conf, 0o777)
		body := "nginx on loopback " + nonce(t) + "\n"
		for _, sub := range []string{"html", "tmp"} {
			if err := os.MkdirAll(filepath.Join(conf, sub), 0o777); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(conf, "html", "index.html"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(conf, "nginx.conf"), []byte(nginxConf(8080)), 0o644); err != nil {
			t.Fatal(err)
		}
		args := append([]string{"run", "-d", "--name", name}, d.runFlags(rt)...)
		args = append(args, dockerHostBinds...)
		args = append(args, "-v", conf+":/conf", imageRef, "/usr/sbin/nginx", "-p", "/conf/", "-c", "/conf/nginx.conf", "-e", "/conf/error.log")
		wantOK(t, d.docker(t, opts{}, args...), "docker run -d nginx")

		var r *result
		for deadline := time.Now().Add(engineTimeout); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			r = d.docker(t, opts{}, "exec", name, "/usr/bin/curl", "-sS", "--max-time", "10", "http://127.0.0.1:8080/index.html")
			if r.code == 0 {
				break
			}
		}
		if r.code != 0 || r.stdout != body {
			errLog, _ := os.ReadFile(filepath.Join(conf, "error.log"))
			t.Fatalf("curl of nginx on loopback inside the container: want %q%s\n--- nginx error.log ---\n%s", body, r, errLog)
		}
		r = d.docker(t, opts{}, "exec", name, "ip", "-o", "link", "show")
		wantOK(t, r, "docker exec ip link")
		var links []string
		for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			if f := strings.Fields(l); len(f) > 1 {
				links = append(links, strings.TrimSuffix(f[1], ":"))
			}
		}
		if len(links) != 1 || links[0] != "lo" {
			t.Errorf("interfaces with --network none: %v, want [lo]", links)
		}
	})
}
