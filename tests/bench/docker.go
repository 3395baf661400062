package main

// The docker row: `docker run --rm /true` from the client's start to its
// exit, with docker's default runtime (runc) and with runsc, on a private
// dockerd started for the benchmark (the same rules as the engine tests in
// tests/engine_harness_test.go: all state under the work dir, no network,
// containers' cgroups under a cgroup of our own, everything removed at the
// end).

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

const (
	dockerdBin = "/usr/sbin/dockerd"
	dockerBin  = "/usr/bin/docker" // not /usr/local/bin's unrelated client
	benchImage = "veil-bench/true:latest"
)

// benchDockerd is a private dockerd.
type benchDockerd struct {
	dir, sock, cgroup string
	cmd               *exec.Cmd
	exited            chan struct{}
	newHostDirs       []string // host dirs dockerd made that were not there
}

// Paths dockerd 20.10 and its containerd create whatever they are told.
var dockerHostDirs = []string{"/run/containerd/s", "/run/containerd", "/run/docker/plugins", "/run/docker",
	"/opt/containerd/bin", "/opt/containerd/lib", "/opt/containerd"}

// startBenchDockerd starts dockerd with runsc registered as the runtimes
// "runsc-ptrace" and "runsc-systrap" (if runsc is not empty), one per
// platform, and imports an image holding trueProg.
func startBenchDockerd(work, runsc, trueProg string) (*benchDockerd, error) {
	for _, b := range []string{dockerdBin, dockerBin} {
		if _, err := os.Stat(b); err != nil {
			return nil, fmt.Errorf("%s not found (apt-get install docker.io)", b)
		}
	}
	d := &benchDockerd{dir: filepath.Join(work, "docker"), exited: make(chan struct{})}
	d.sock = filepath.Join(d.dir, "docker.sock")
	d.cgroup = "/" + filepath.Base(work)
	for _, p := range dockerHostDirs {
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			d.newHostDirs = append(d.newHostDirs, p)
		}
	}
	runtimes := map[string]any{}
	if runsc != "" {
		for _, platform := range []string{"ptrace", "systrap"} {
			runtimes["runsc-"+platform] = map[string]any{"path": runsc, "runtimeArgs": []string{"--platform=" + platform}}
		}
	}
	conf, _ := json.Marshal(map[string]any{
		"data-root": filepath.Join(d.dir, "data"), "exec-root": filepath.Join(d.dir, "exec"),
		"pidfile": filepath.Join(d.dir, "docker.pid"), "hosts": []string{"unix://" + d.sock},
		"bridge": "none", "iptables": false, "ip6tables": false, "ip-forward": false, "ip-masq": false,
		"cgroup-parent": d.cgroup + "/docker", "exec-opts": []string{"native.cgroupdriver=cgroupfs"},
		"storage-driver": "overlay2", "runtimes": runtimes,
	})
	if err := os.MkdirAll(filepath.Join(d.dir, "client"), 0o711); err != nil {
		return nil, err
	}
	confPath := filepath.Join(d.dir, "daemon.json")
	if err := os.WriteFile(confPath, conf, 0o644); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(d.dir, "dockerd.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	d.cmd = exec.Command(dockerdBin, "--config-file", confPath)
	d.cmd.Env = append(os.Environ(), "PATH=/usr/sbin:/usr/bin:/sbin:/bin")
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { d.cmd.Wait(); close(d.exited) }()

	for deadline := time.Now().Add(cmdTO); ; time.Sleep(100 * time.Millisecond) {
		_, err := d.docker("version", "--format", "{{.Server.Version}}")
		if err == nil {
			break
		}
		select {
		case <-d.exited:
			err = fmt.Errorf("dockerd exited: %v", d.cmd.ProcessState)
		default:
			if time.Now().Before(deadline) {
				continue
			}
		}
		b, _ := os.ReadFile(filepath.Join(d.dir, "dockerd.log"))
		d.stop()
		return nil, fmt.Errorf("dockerd did not start: %v\n%s", err, lastLines(string(b), 10))
	}

	// The image: the static true program as /true.
	prog, err := os.ReadFile(trueProg)
	if err != nil {
		d.stop()
		return nil, err
	}
	var img bytes.Buffer
	tw := tar.NewWriter(&img)
	tw.WriteHeader(&tar.Header{Name: "true", Mode: 0o755, Size: int64(len(prog))})
	tw.Write(prog)
	tw.Close()
	tarPath := filepath.Join(d.dir, "true.tar")
	if err := os.WriteFile(tarPath, img.Bytes(), 0o644); err != nil {
		d.stop()
		return nil, err
	}
	if _, err := d.docker("import", tarPath, benchImage); err != nil {
		d.stop()
		return nil, err
	}
	return d, nil
}

// docker runs the client (with its config dir private too).
func (d *benchDockerd) docker(args ...string) (string, error) {
	return runAndCapture(d.dir, dockerBin, append([]string{"--config", filepath.Join(d.dir, "client"), "-H", "unix://" + d.sock}, args...)...)
}

// runTrue runs /true once in a new container with the runtime ("" for
// docker's default) and returns the client's start-to-exit time in ms.
func (d *benchDockerd) runTrue(runtime string) (float64, error) {
	args := []string{"run", "--rm", "--network", "none"}
	if runtime != "" {
		args = append(args, "--runtime", runtime)
	}
	start := time.Now()
	if _, err := d.docker(append(args, benchImage, "/true")...); err != nil {
		return 0, err
	}
	return float64(time.Since(start).Microseconds()) / 1000, nil
}

// stop removes the containers, stops dockerd and removes what it left:
// mounts under its dir, its cgroups, the host dirs it created.
func (d *benchDockerd) stop() {
	if out, _ := d.docker("ps", "-aq"); strings.TrimSpace(out) != "" {
		d.docker(append([]string{"rm", "-f"}, strings.Fields(out)...)...)
	}
	stopDaemon(d.cmd, d.exited, d.dir)
	hier, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, h := range hier {
		for _, cg := range []string{d.cgroup + "/docker", d.cgroup} {
			os.Remove(filepath.Join(h, cg)) // empty once the containers are gone
		}
	}
	for _, p := range d.newHostDirs {
		os.Remove(p)
	}
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// stopDaemon stops a daemon the bench started (cmd; exited is closed
// when it has been waited for): SIGTERM, SIGKILL to its group after 30 s,
// then anything still naming its private dir (a shim of a stuck
// container) is killed and the mounts below dir are detached.
func stopDaemon(cmd *exec.Cmd, exited <-chan struct{}, dir string) {
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(dir)) {
			var pid int
			fmt.Sscanf(p, "/proc/%d/cmdline", &pid)
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		lines := strings.Split(string(b), "\n")
		for i := len(lines) - 1; i >= 0; i-- {
			if f := strings.Fields(lines[i]); len(f) > 4 && strings.HasPrefix(f[4], dir) {
				syscall.Unmount(f[4], syscall.MNT_DETACH)
			}
		}
	}
}
