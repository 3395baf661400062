package tests

import (
	"os"
	"os/exec"
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

// A dockerd in a network namespace of its own, with its default bridge
// there: nginx under runsc on the bridge network is reached from a
// second container (under runc and under runsc), and the host kernel in
// the sandbox's namespace keeps no address and no TCP socket.
func TestNetnsDockerBridgeNginx(t *testing.T) {
	for _, bin := range []string{"/usr/sbin/nginx", "/usr/bin/curl", "/usr/bin/nsenter"} {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("%s is missing (.ci/run installs it): %v", bin, err)
		}
	}
	needRunsc(t)
	needIP(t)
	n := nonce(t)[:8]
	ns := "veil-test-" + n + "-d"
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v\n%s", ns, err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	if out, err := exec.Command("ip", "-n", ns, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up in %s: %v\n%s", ns, err, out)
	}
	d, err := newDockerdIn(filepath.Join(workDir, "dn"+n), map[string]string{"runsc": runscPath}, "/run/netns/"+ns, nil)
	if d != nil {
		t.Cleanup(d.stop) // before the namespace goes
	}
	if err == nil {
		err = d.importImage()
	}
	if err != nil {
		t.Fatalf("dockerd in %s: %v\n--- dockerd log ---\n%s", ns, err, logTail(filepath.Join(workDir, "dn"+n, "dockerd.log"), 0, 40))
	}
	if r := run(opts{timeout: 10 * time.Second}, "ip", "link", "show", "docker0"); r.code == 0 {
		t.Fatalf("docker0 appeared on the host:%s", r)
	}

	conf := t.TempDir()
	os.Chmod(conf, 0o777)
	body := "nginx on the bridge " + nonce(t) + "\n"
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
	srv := "veil-srv-" + n
	args := append([]string{"run", "-d", "--name", srv, "--runtime", "runsc"}, dockerHostBinds...)
	args = append(args, "-v", conf+":/conf", imageRef, "/usr/sbin/nginx", "-p", "/conf/", "-c", "/conf/nginx.conf", "-e", "/conf/error.log")
	wantOK(t, d.docker(t, opts{}, args...), "docker run -d nginx under runsc")
	inspect := func(format string) string {
		t.Helper()
		r := d.docker(t, opts{}, "inspect", "--format", format, srv)
		wantOK(t, r, "docker inspect")
		return strings.TrimSpace(r.stdout)
	}
	ip, key := inspect("{{.NetworkSettings.IPAddress}}"), inspect("{{.NetworkSettings.SandboxKey}}")
	if ip == "" || key == "" {
		t.Fatalf("the nginx container has no bridge address (%q) or namespace (%q)", ip, key)
	}

	for _, client := range []string{"runc", "runsc"} {
		cargs := []string{"run", "--rm", "--name", "veil-cli-" + client + "-" + n}
		if client == "runsc" {
			cargs = append(cargs, "--runtime", "runsc")
		}
		cargs = append(cargs, dockerHostBinds...)
		cargs = append(cargs, imageRef, "/bin/sh", "-c",
			`i=0; until /usr/bin/curl -sS --max-time 10 http://`+ip+`:8080/index.html; do i=$((i+1)); [ $i -gt 50 ] && exit 1; sleep 0.2; done`)
		r := d.docker(t, opts{}, cargs...)
		if r.code != 0 || r.stdout != body {
			errLog, _ := os.ReadFile(filepath.Join(conf, "error.log"))
			t.Errorf("curl from a second container under %s of nginx at %s: want %q%s\n--- nginx error.log ---\n%s", client, ip, body, r, errLog)
		}
	}

	// The host kernel in the sandbox's namespace: no address on eth0,
	// no TCP socket, the packet socket only.
	host := run(opts{timeout: 10 * time.Second}, "nsenter", "--net="+key, "ip", "-o", "addr", "show", "dev", "eth0")
	if host.code != 0 || strings.Contains(host.stdout, "inet") {
		t.Errorf("the host kernel's eth0 in the nginx container's namespace:%s", host)
	}
	tcp := run(opts{timeout: 10 * time.Second}, "nsenter", "--net="+key, "ss", "-Htan")
	if tcp.code != 0 || strings.TrimSpace(tcp.stdout) != "" {
		t.Errorf("the host kernel has TCP sockets in the nginx container's namespace:%s", tcp)
	}
	inside := d.docker(t, opts{}, "exec", srv, "ip", "-o", "-4", "addr", "show", "dev", "eth0")
	if !strings.Contains(inside.stdout, "inet "+ip+"/") {
		t.Errorf("ip addr inside the nginx container lacks %s:%s", ip, inside)
	}
}
