package main

// The pods rows: on a private containerd with its CRI plugin (Debian's
// containerd, all state under the work dir, host-network pods so no CNI
// runs), driven by crictl, the time of runp + create + start of one
// container, and the PSS of the pod's host processes (its shim and
// everything below it: for runsc the Sentry, gofers and the platform's
// stubs), for the handlers runc and runsc on each platform, in one run.

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

var (
	podsOn   = flag.Bool("pods", true, "run the pod benchmarks (containerd CRI + crictl)")
	podsOnly = flag.Bool("pods-only", false, "run only the pod benchmarks")
	podRuns  = flag.Int("pod-runs", 3, "pods started per handler (after one warm-up) for the medians")
)

const (
	podContainerd = "/usr/bin/containerd"
	podCtr        = "/usr/bin/ctr"
	podRunc       = "/usr/sbin/runc"
	podBusybox    = "/bin/busybox"
	podImage      = "docker.io/veil-bench/pause:latest"
	crictlVersion = "v1.34.0"
)

// podSleep sleeps until SIGTERM (PID 1 has no default action for it).
var podSleep = []string{"/bin/sh", "-c", `trap "exit 0" TERM; sleep 2147483647 & wait`}

// A podCol is one column: a CRI runtime handler.
type podCol struct {
	name, handler   string
	startMs, pssMiB float64
	reason          string
}

// criDaemon is the bench's containerd.
type criDaemon struct {
	dir, sock, crictl, crictlConf string
	cmd                           *exec.Cmd
	exited                        chan struct{}
	newHostDirs                   []string
}

func runPodBench(root, work, runsc string, runscErr error, log func(string, ...any)) string {
	start := time.Now()
	cols := []*podCol{{name: "runc", handler: "runc"}, {name: "veil-ptrace", handler: "runsc-ptrace"}, {name: "veil-systrap", handler: "runsc-systrap"}}
	if runscErr != nil {
		for _, c := range cols[1:] {
			c.reason = "runsc did not build"
		}
	}
	d, err := startCRIDaemon(root, work, runsc, log)
	if err != nil {
		log("pods: %v", err)
		reason := shortReason(err)
		for _, c := range cols {
			if c.reason == "" {
				c.reason = reason
			}
		}
	} else {
		defer d.stop()
	}
	for _, c := range cols {
		if c.reason != "" {
			continue
		}
		log("pods: measuring %s", c.name)
		var starts, psss []float64
		// The first pod of each handler is a warm-up (the runtime's
		// binaries and the image's files come into the page cache).
		for i := -1; i < max(*podRuns, 1) && c.reason == ""; i++ {
			ms, mib, err := d.measurePod(work, c.handler, fmt.Sprintf("bench-%s-%d", c.handler, i+1))
			if err != nil {
				log("pods: %s: %v", c.name, err)
				c.reason = shortReason(err)
				break
			}
			if i >= 0 {
				starts, psss = append(starts, ms), append(psss, mib)
			}
		}
		if c.reason == "" {
			c.startMs, c.pssMiB = median(starts), median(psss)
		}
	}

	var names []string
	for _, c := range cols {
		names = append(names, c.name)
	}
	var b strings.Builder
	b.WriteString("\n")
	tableHeader(&b, "pods", names)
	rows := []struct {
		title string
		v     func(*podCol) float64
	}{
		{fmt.Sprintf("pod start: runp + create + start of one container (ms, median of %d)", max(*podRuns, 1)), func(c *podCol) float64 { return c.startMs }},
		{"pod memory: PSS of the pod's host processes (MiB)", func(c *podCol) float64 { return c.pssMiB }},
	}
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s |", r.title)
		for _, c := range cols {
			if c.reason != "" {
				b.WriteString(" n/a (" + c.reason + ") |")
			} else {
				b.WriteString(" " + format(r.v(c)) + " |")
			}
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "\nHost-network pods on a private containerd (CRI), one busybox container each; memory measured with the container running (shim and all processes below it); the pod part took %v.\n",
		time.Since(start).Round(time.Second))
	return b.String()
}

// shortReason is the first line of err, cut to fit a table cell.
func shortReason(err error) string {
	if se := (*stepError)(nil); errors.As(err, &se) {
		return se.step + " failed"
	}
	r := firstLines(err.Error(), 1)
	r = strings.TrimSuffix(strings.SplitN(r, "\n", 2)[0], "...")
	if len(r) > 80 {
		r = r[:80] + "..."
	}
	return r
}

func median(vs []float64) float64 {
	sort.Float64s(vs)
	n := len(vs)
	if n%2 == 1 {
		return vs[n/2]
	}
	return (vs[n/2-1] + vs[n/2]) / 2
}

// findCrictl returns crictl from $VEIL_CRICTL, the e2e tests' cache,
// or $PATH; failing those it builds it into that cache from the module
// proxy, as the e2e tests do (about a minute, once per machine).
func findCrictl() (string, error) {
	if p := os.Getenv("VEIL_CRICTL"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("crictl missing: VEIL_CRICTL=%s", p)
		}
		return p, nil
	}
	if cache, err := os.UserCacheDir(); err == nil {
		p := filepath.Join(cache, "veil-e2e", "crictl-"+crictlVersion, "crictl")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("crictl"); err == nil {
		return p, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("crictl missing, and no cache dir to build it in: %v", err)
	}
	dir := filepath.Join(cache, "veil-e2e", "crictl-"+crictlVersion)
	fmt.Fprintf(os.Stderr, "bench: pods: building crictl %s into %s\n", crictlVersion, dir)
	cmd := exec.Command("go", "install", "sigs.k8s.io/cri-tools/cmd/crictl@"+crictlVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("crictl missing, and go install of %s failed: %v: %s", crictlVersion, err, firstLines(string(out), 2))
	}
	return filepath.Join(dir, "crictl"), nil
}

// startCRIDaemon builds the shim, writes the configs, starts containerd
// and imports the image.
func startCRIDaemon(root, work, runsc string, log func(string, ...any)) (*criDaemon, error) {
	for _, p := range []string{podContainerd, podCtr, podRunc, podBusybox} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%s missing", p)
		}
	}
	crictl, err := findCrictl()
	if err != nil {
		return nil, err
	}
	d := &criDaemon{dir: filepath.Join(work, "cri"), crictl: crictl, exited: make(chan struct{})}
	d.sock = filepath.Join(d.dir, "containerd.sock")
	d.crictlConf = filepath.Join(d.dir, "crictl.yaml")
	shimDir := filepath.Join(d.dir, "bin")
	for _, s := range []string{"root", "state", "opt", "runc", "runsc", "cni", "logs", "bin"} {
		if err := os.MkdirAll(filepath.Join(d.dir, s), 0o711); err != nil {
			return nil, err
		}
	}
	if runsc != "" {
		log("pods: building the shim")
		if out, err := runCmd(root, "go", "build", "-o", filepath.Join(shimDir, "containerd-shim-runsc-v1"), "./shim/cmd/containerd-shim-runsc-v1"); err != nil {
			return nil, fmt.Errorf("building the shim: %v: %s", err, firstLines(string(out), 3))
		}
	}
	cri := `[plugins."io.containerd.grpc.v1.cri"`
	conf := fmt.Sprintf(`version = 2
root = %q
state = %q
[grpc]
  address = %q
[ttrpc]
  address = ""
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = %q
%s]
  sandbox_image = %q
  restrict_oom_score_adj = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
%s.cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = %q
%s.containerd]
  default_runtime_name = "runc"
%s.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
%s.containerd.runtimes.runc.options]
  BinaryName = %q
  Root = %q
`, filepath.Join(d.dir, "root"), filepath.Join(d.dir, "state"), d.sock, filepath.Join(d.dir, "opt"),
		cri, podImage, cri, filepath.Join(d.dir, "cni"), cri, cri, cri, podRunc, filepath.Join(d.dir, "runc"))
	if runsc != "" {
		// One handler per platform, each with its own options file.
		for _, platform := range []string{"ptrace", "systrap"} {
			opts := filepath.Join(d.dir, "runsc-"+platform+".toml")
			o := fmt.Sprintf("binary_name = %q\nroot = %q\n\n[runsc_config]\nplatform = %q\n", runsc, filepath.Join(d.dir, "runsc", platform), platform)
			if err := os.WriteFile(opts, []byte(o), 0o644); err != nil {
				return nil, err
			}
			conf += fmt.Sprintf("%s.containerd.runtimes.runsc-%s]\n  runtime_type = \"io.containerd.runsc.v1\"\n%s.containerd.runtimes.runsc-%s.options]\n  TypeUrl = \"io.containerd.runsc.v1.options\"\n  ConfigPath = %q\n",
				cri, platform, cri, platform, opts)
		}
	}
	confPath := filepath.Join(d.dir, "config.toml")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	cc := fmt.Sprintf("runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 30\n", d.sock, d.sock)
	if err := os.WriteFile(d.crictlConf, []byte(cc), 0o644); err != nil {
		return nil, err
	}
	for _, p := range []string{"/run/containerd/s", "/run/containerd"} {
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			d.newHostDirs = append(d.newHostDirs, p)
		}
	}
	logf, err := os.Create(filepath.Join(d.dir, "containerd.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	log("pods: starting a private containerd")
	d.cmd = exec.Command(podContainerd, "--config", confPath)
	d.cmd.Env = append(os.Environ(), "PATH="+shimDir+":/usr/sbin:/usr/bin:/sbin:/bin")
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { d.cmd.Wait(); close(d.exited) }()
	for deadline := time.Now().Add(cmdTO); ; time.Sleep(200 * time.Millisecond) {
		_, err := d.run("info")
		if err == nil {
			break
		}
		select {
		case <-d.exited:
			err = fmt.Errorf("containerd exited: %v", d.cmd.ProcessState)
		default:
			if time.Now().Before(deadline) {
				continue
			}
		}
		b, _ := os.ReadFile(filepath.Join(d.dir, "containerd.log"))
		d.stop()
		return nil, fmt.Errorf("containerd did not start: %v\n%s", err, lastLines(string(b), 10))
	}
	if err := d.importImage(); err != nil {
		d.stop()
		return nil, fmt.Errorf("importing the image: %v", err)
	}
	return d, nil
}

// importImage imports an OCI layout of busybox (sh and sleep) whose
// command sleeps until SIGTERM; it is both the pause image and the
// container's.
func (d *criDaemon) importImage() error {
	bb, err := os.ReadFile(podBusybox)
	if err != nil {
		return err
	}
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	for _, dir := range []string{"bin/", "dev/", "etc/", "proc/", "sys/", "tmp/", "run/"} {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755})
	}
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755, Size: int64(len(bb))})
	tw.Write(bb)
	for _, l := range []string{"sh", "sleep"} {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + l, Linkname: "busybox", Mode: 0o777})
	}
	if err := tw.Close(); err != nil {
		return err
	}
	digest := func(b []byte) string { return fmt.Sprintf("sha256:%x", sha256.Sum256(b)) }
	type desc struct {
		MediaType   string            `json:"mediaType"`
		Digest      string            `json:"digest"`
		Size        int               `json:"size"`
		Annotations map[string]string `json:"annotations,omitempty"`
	}
	config, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Env": []string{"PATH=/bin"}, "Cmd": podSleep},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{digest(layer.Bytes())}},
	})
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": desc{MediaType: "application/vnd.oci.image.config.v1+json", Digest: digest(config), Size: len(config)},
		"layers": []desc{{MediaType: "application/vnd.oci.image.layer.v1.tar", Digest: digest(layer.Bytes()), Size: layer.Len()}},
	})
	index, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
		"manifests": []desc{{MediaType: "application/vnd.oci.image.manifest.v1+json", Digest: digest(manifest), Size: len(manifest),
			Annotations: map[string]string{"org.opencontainers.image.ref.name": podImage}}},
	})
	var archive bytes.Buffer
	aw := tar.NewWriter(&archive)
	add := func(name string, b []byte) {
		aw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(b))})
		aw.Write(b)
	}
	add("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`))
	add("index.json", index)
	for _, b := range [][]byte{layer.Bytes(), config, manifest} {
		add("blobs/sha256/"+strings.TrimPrefix(digest(b), "sha256:"), b)
	}
	if err := aw.Close(); err != nil {
		return err
	}
	path := filepath.Join(d.dir, "image.tar")
	if err := os.WriteFile(path, archive.Bytes(), 0o644); err != nil {
		return err
	}
	out, err := runAndCapture(d.dir, podCtr, "-a", d.sock, "-n", "k8s.io", "image", "import", path)
	if err == nil && !strings.Contains(out, podImage) {
		err = fmt.Errorf("ctr image import did not import %s: %s", podImage, out)
	}
	return err
}

// A stepError is a failed crictl command; its table cell names just the
// command (the whole error goes to stderr).
type stepError struct {
	step string
	err  error
}

func (e *stepError) Error() string { return e.step + " failed: " + e.err.Error() }

func (d *criDaemon) run(args ...string) (string, error) {
	out, err := runAndCapture(d.dir, d.crictl, append([]string{"--config", d.crictlConf}, args...)...)
	if err != nil {
		return "", &stepError{"crictl " + args[0], err}
	}
	return strings.TrimSpace(out), nil
}

// measurePod runs one pod under handler: the time of runp + create +
// start, then the PSS of its processes with the container running; the
// pod is removed before it returns.
func (d *criDaemon) measurePod(work, handler, name string) (ms, mib float64, err error) {
	dir := filepath.Join(d.dir, "pods", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	// The pod's cgroup parent is ours (the kubelet's job) and removed
	// once the pod is.
	cgParent := "/" + filepath.Base(work) + "-pods/" + name
	defer func() {
		hier, _ := filepath.Glob("/sys/fs/cgroup/*")
		for _, h := range append(hier, "/sys/fs/cgroup") {
			os.Remove(filepath.Join(h, cgParent))
			os.Remove(filepath.Join(h, filepath.Dir(cgParent)))
		}
	}()
	podConf := filepath.Join(dir, "pod.json")
	ctrConf := filepath.Join(dir, "ctr.json")
	pod, _ := json.Marshal(map[string]any{
		"metadata":      map[string]any{"name": name, "namespace": "default", "uid": name + "-uid"},
		"log_directory": filepath.Join(d.dir, "logs", name),
		"linux": map[string]any{"cgroup_parent": cgParent,
			"security_context": map[string]any{"namespace_options": map[string]any{"network": 2}}},
	})
	ctr, _ := json.Marshal(map[string]any{
		"metadata": map[string]any{"name": "sleep"}, "image": map[string]any{"image": podImage},
		"command": podSleep, "log_path": "sleep.log",
	})
	if err := os.WriteFile(podConf, pod, 0o644); err == nil {
		err = os.WriteFile(ctrConf, ctr, 0o644)
	}
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(filepath.Join(d.dir, "logs", name))

	t0 := time.Now()
	id, err := d.run("runp", "--runtime", handler, podConf)
	if err != nil {
		return 0, 0, err
	}
	defer func() {
		_, e1 := d.run("stopp", id)
		_, e2 := d.run("rmp", "-f", id)
		if err == nil {
			err = errors.Join(e1, e2)
		}
	}()
	cid, err := d.run("create", "--no-pull", id, ctrConf, podConf)
	if err == nil {
		_, err = d.run("start", cid)
	}
	if err != nil {
		return 0, 0, err
	}
	ms = float64(time.Since(t0).Microseconds()) / 1000
	kib, cmdlines, err := podPSS(id)
	if err != nil {
		return 0, 0, err
	}
	if platform, ok := strings.CutPrefix(handler, "runsc-"); ok {
		// The column is the platform it names: one Sentry, on it.
		sentries := 0
		for _, cl := range cmdlines {
			if bytes.Contains(cl, []byte("\x00boot\x00")) && bytes.Contains(cl, []byte("\x00--platform\x00"+platform+"\x00")) {
				sentries++
			}
		}
		if sentries != 1 {
			return 0, 0, fmt.Errorf("pod %s: %d Sentries on %s among its processes, want 1", id, sentries, platform)
		}
	}
	return ms, float64(kib) / 1024, nil
}

var pssRE = regexp.MustCompile(`(?m)^Pss:\s+(\d+) kB`)

// podPSS sums the PSS (KiB) of the shim serving pod and every process
// below it, found by parent pid (the platforms' stubs have no command
// line to match), and returns their command lines.
func podPSS(pod string) (int, [][]byte, error) {
	children := map[int][]int{}
	shim := 0
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, s := range stats {
		pid, _ := strconv.Atoi(strings.Split(s, "/")[2])
		st, err := os.ReadFile(s)
		i := bytes.LastIndexByte(st, ')')
		if err != nil || i < 0 {
			continue
		}
		if f := strings.Fields(string(st[i+1:])); len(f) > 1 {
			ppid, _ := strconv.Atoi(f[1])
			children[ppid] = append(children[ppid], pid)
		}
		if cl, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); bytes.Contains(cl, []byte("containerd-shim-")) &&
			bytes.Contains(cl, []byte("\x00"+pod+"\x00")) {
			shim = pid
		}
	}
	if shim == 0 {
		return 0, nil, fmt.Errorf("no shim serves pod %s", pod)
	}
	total := 0
	var cmdlines [][]byte
	for q := []int{shim}; len(q) > 0; q = q[1:] {
		if cl, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", q[0])); err == nil {
			cmdlines = append(cmdlines, cl)
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", q[0]))
		if m := pssRE.FindSubmatch(b); err == nil && m != nil {
			n, _ := strconv.Atoi(string(m[1]))
			total += n
		}
		q = append(q, children[q[0]]...)
	}
	if total == 0 {
		return 0, nil, fmt.Errorf("no PSS read for pod %s", pod)
	}
	return total, cmdlines, nil
}

// stop removes every pod left, stops containerd and removes what it
// left: mounts under its dir, host dirs it created.
func (d *criDaemon) stop() {
	if out, _ := d.run("pods", "-q"); out != "" {
		for _, id := range strings.Fields(out) {
			d.run("stopp", id)
			d.run("rmp", "-f", id)
		}
	}
	stopDaemon(d.cmd, d.exited, d.dir)
	for _, p := range d.newHostDirs {
		os.Remove(p)
	}
}
