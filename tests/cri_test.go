package tests

// End-to-end tests of Kubernetes' path to Veil: containerd's CRI plugin
// (Debian's containerd 1.6, started privately with CRI enabled), driven
// by crictl (cri-tools, built from the module proxy), runs pods whose
// runtime handler "runsc" is Veil's shim; the handler "runc" runs the
// same pod as a reference.
//
// The pods use the node's network namespace (namespace_options.network =
// NODE), so no CNI plugin runs and nothing of the host's network changes.
// Under runsc such a pod gets the Sentry's own network stack in a fresh
// network namespace (loopback only), not the host's sockets: the pod's
// containers share that localhost, and the sandbox creates no host-visible
// sockets (see docs/user-guide.md, Kubernetes).

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	crictlVersion = "v1.34.0"
	// pauseRef is the pod sandbox image (sandbox_image): the busybox
	// rootfs whose command sleeps until it is signalled.
	pauseRef = "docker.io/veil/pause:latest"
)

// criEngine is a containerd with its CRI plugin, and crictl.
type criEngine struct {
	dir    string
	sock   string
	crictl string
	config string // crictl's config file
	shimTo string // the shim's TOML file
	root   string // runsc's state directory
	logs   string // the pods' log directory
	d      *daemon
}

var criOnce lazy[*criEngine]

// buildCrictl builds crictl into a cache directory kept between runs
// (the module proxy is slow; the build takes about a minute).
func buildCrictl() (string, error) {
	if p := os.Getenv("VEIL_CRICTL"); p != "" {
		return p, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	bin := filepath.Join(cache, "veil-e2e", "crictl-"+crictlVersion)
	exe := filepath.Join(bin, "crictl")
	if _, err := os.Stat(exe); err == nil {
		return exe, nil
	}
	r := run(opts{timeout: 10 * time.Minute, env: []string{"GOBIN=" + bin, "CGO_ENABLED=0"}},
		"go", "install", "sigs.k8s.io/cri-tools/cmd/crictl@"+crictlVersion)
	if r.code != 0 {
		return "", fmt.Errorf("building crictl (go install sigs.k8s.io/cri-tools/cmd/crictl@%s; set VEIL_CRICTL to use another) failed:%s", crictlVersion, r)
	}
	return exe, nil
}

func startCRI(t *testing.T) *criEngine {
	t.Helper()
	needRunsc(t)
	return criOnce.get(t, "starting containerd with CRI", func() (*criEngine, error) {
		crictl, err := buildCrictl()
		if err != nil {
			return nil, err
		}
		shimDir := filepath.Join(workDir, "crishimbin")
		if out, err := command(repoRoot, []string{"CGO_ENABLED=0"}, "go", "build", "-o",
			filepath.Join(shimDir, "containerd-shim-runsc-v1"), "./shim/cmd/containerd-shim-runsc-v1"); err != nil {
			return nil, fmt.Errorf("building the shim: %v\n%s", err, out)
		}
		dir := filepath.Join(workDir, "cri")
		e := &criEngine{dir: dir, sock: filepath.Join(dir, "containerd.sock"), crictl: crictl,
			config: filepath.Join(dir, "crictl.yaml"), shimTo: filepath.Join(dir, "runsc.toml"),
			root: filepath.Join(dir, "runsc"), logs: filepath.Join(dir, "logs")}
		for _, d := range []string{"root", "state", "opt", "runc", "cni", "logs"} {
			if err := os.MkdirAll(filepath.Join(dir, d), 0o711); err != nil {
				return nil, err
			}
		}
		// The runsc entry as `runsc install --containerd` prints it, with
		// private paths; pod_annotations passes gVisor's volume
		// annotations of the pod to its containers' specs.
		conf := fmt.Sprintf("binary_name = %q\nroot = %q\nlog_level = \"debug\"\n\n[runsc_config]\n", runscPath, e.root)
		if p := os.Getenv("VEIL_E2E_PLATFORM"); p != "" {
			conf += fmt.Sprintf("platform = %q\n", p)
		}
		if err := os.WriteFile(e.shimTo, []byte(conf), 0o644); err != nil {
			return nil, err
		}
		cri := `[plugins."io.containerd.grpc.v1.cri"`
		config := fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q

[grpc]
  address = %[3]q
[ttrpc]
  address = ""
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = %[4]q

%[5]s]
  sandbox_image = %[6]q
  restrict_oom_score_adj = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
%[5]s.cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = %[7]q
%[5]s.containerd]
  default_runtime_name = "runc"
%[5]s.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
%[5]s.containerd.runtimes.runc.options]
  BinaryName = %[8]q
  Root = %[9]q
%[5]s.containerd.runtimes.runsc]
  runtime_type = "io.containerd.runsc.v1"
  pod_annotations = ["dev.gvisor.*"]
%[5]s.containerd.runtimes.runsc.options]
  TypeUrl = "io.containerd.runsc.v1.options"
  ConfigPath = %[10]q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), e.sock, filepath.Join(dir, "opt"),
			cri, pauseRef, filepath.Join(dir, "cni"), runcBin, filepath.Join(dir, "runc"), e.shimTo)
		confPath := filepath.Join(dir, "config.toml")
		if err := os.WriteFile(confPath, []byte(config), 0o644); err != nil {
			return nil, err
		}
		crictlConf := fmt.Sprintf("runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 30\n", e.sock, e.sock)
		if err := os.WriteFile(e.config, []byte(crictlConf), 0o644); err != nil {
			return nil, err
		}
		e.d, err = startDaemonPath("containerd", filepath.Join(dir, "containerd.log"), shimDir, containerdBin, "--config", confPath)
		if err != nil {
			return nil, err
		}
		atExit(e.stop)
		err = e.d.waitReady(func() error {
			if r := run(opts{timeout: 10 * time.Second}, e.crictl, "--config", e.config, "info"); r.code != 0 {
				return fmt.Errorf("crictl info:%s", r)
			}
			return nil
		})
		if err == nil {
			err = e.importImages()
		}
		if err != nil {
			err = fmt.Errorf("%v\n--- containerd log ---\n%s", err, logTail(e.d.logPath, 0, 60))
		}
		return e, err
	})
}

// importImages imports the busybox image and the pause image (the same
// rootfs, its command a sleep that ends on SIGTERM) into k8s.io, the
// CRI plugin's namespace.
func (e *criEngine) importImages() error {
	img, err := busyboxImage()
	if err != nil {
		return err
	}
	rootfs, err := os.ReadFile(img.rootfsTar)
	if err != nil {
		return err
	}
	pause, err := ociLayoutOf(rootfs, pauseRef, []string{"sh", "-c", `trap "exit 0" TERM; sleep 2147483647 & wait`})
	if err != nil {
		return err
	}
	pausePath := filepath.Join(e.dir, "pause-oci.tar")
	if err := os.WriteFile(pausePath, pause, 0o644); err != nil {
		return err
	}
	for _, a := range []struct{ path, ref string }{{img.ociArchive, imageRef}, {pausePath, pauseRef}} {
		r := run(opts{timeout: daemonTimeout}, ctrBin, "-a", e.sock, "-n", "k8s.io", "image", "import", a.path)
		if r.code != 0 || !strings.Contains(r.stdout, a.ref) {
			return fmt.Errorf("ctr image import did not import %s:%s", a.ref, r)
		}
	}
	return nil
}

func (e *criEngine) stop() {
	e.sweep(nil)
	e.d.stop(15 * time.Second)
	sweepDir(e.dir, nil)
}

// run runs crictl.
func (e *criEngine) run(t *testing.T, o opts, args ...string) *result {
	t.Helper()
	if o.timeout == 0 {
		o.timeout = engineTimeout + 10*time.Second
	}
	r := run(o, append([]string{e.crictl, "--config", e.config}, args...)...)
	noteTimeout(t, r)
	t.Logf("crictl %s: exit %d in %v", shellQuote(args), r.code, r.elapsed.Round(time.Millisecond))
	return r
}

// ok runs crictl, fails the test unless it succeeds and returns its
// trimmed output.
func (e *criEngine) ok(t *testing.T, args ...string) string {
	t.Helper()
	r := e.run(t, opts{}, args...)
	if r.code != 0 {
		t.Fatalf("crictl %s failed:%s", shellQuote(args), r)
	}
	return strings.TrimSpace(r.stdout)
}

// engine interface, for the leak checks.
func (e *criEngine) engineName() string   { return "containerd-cri" }
func (e *criEngine) privateDir() string   { return e.dir }
func (e *criEngine) cgroupParent() string { return cgroupRoot() + "/cri" }
func (e *criEngine) logFile() string      { return e.d.logPath }
func (e *criEngine) daemonPids() []int    { return []int{e.d.cmd.Process.Pid} }
func (e *criEngine) keepCgroup(string) bool {
	return false
}

// keepMount: the CRI plugin keeps each pod's /dev/shm mount until rmp,
// and the tests' own leftovers are judged by them, so nothing is kept.
func (e *criEngine) keepMount(string) bool { return false }

func (e *criEngine) leftovers(t *testing.T) []string {
	var left []string
	for _, what := range []string{"pods", "ps"} {
		args := []string{e.crictl, "--config", e.config, what, "-q"}
		if what == "ps" {
			args = append(args, "-a")
		}
		r := run(opts{timeout: engineTimeout}, args...)
		if r.code != 0 {
			left = append(left, fmt.Sprintf("(crictl %s failed:%s)", what, r))
			continue
		}
		for _, id := range strings.Fields(r.stdout) {
			left = append(left, what+" "+id)
		}
	}
	ents, _ := filepath.Glob(filepath.Join(e.root, "*", "*"))
	for _, p := range ents {
		left = append(left, "runsc state "+p)
	}
	return left
}

func (e *criEngine) sweep(t *testing.T) {
	r := run(opts{timeout: engineTimeout}, e.crictl, "--config", e.config, "pods", "-q")
	for _, id := range strings.Fields(r.stdout) {
		run(opts{timeout: engineTimeout}, e.crictl, "--config", e.config, "stopp", id)
		run(opts{timeout: engineTimeout}, e.crictl, "--config", e.config, "rmp", "-f", id)
	}
	ents, _ := filepath.Glob(filepath.Join(e.root, "*", "*"))
	for _, p := range ents {
		run(opts{timeout: engineTimeout}, runscPath, "--root", filepath.Dir(p), "delete", "--force", filepath.Base(p))
	}
}

// criPod is a pod of the test: its config file and id.
type criPod struct {
	e      *criEngine
	config string
	id     string
	dir    string // the test's files
	volume string // the emptyDir's host directory
}

// runPod runs a host-network pod under handler, with an emptyDir volume
// "shared" (a pod tmpfs under runsc, by gVisor's annotations).
func (e *criEngine) runPod(t *testing.T, handler string) *criPod {
	t.Helper()
	name := containerName(t)
	p := &criPod{e: e, dir: t.TempDir()}
	p.volume = filepath.Join(p.dir, "shared")
	if err := os.MkdirAll(p.volume, 0o777); err != nil {
		t.Fatal(err)
	}
	logDir := filepath.Join(e.logs, name)
	p.config = filepath.Join(p.dir, "pod.json")
	writeJSON(t, p.config, map[string]any{
		"metadata":      map[string]any{"name": name, "namespace": "default", "uid": name + "-uid"},
		"log_directory": logDir,
		"annotations": map[string]string{
			"dev.gvisor.spec.mount.shared.source": p.volume,
			"dev.gvisor.spec.mount.shared.type":   "tmpfs",
			"dev.gvisor.spec.mount.shared.share":  "pod",
		},
		"linux": map[string]any{
			"cgroup_parent":    e.cgroupParent() + "/" + name,
			"security_context": map[string]any{"namespace_options": map[string]any{"network": 2}},
		},
	})
	t.Cleanup(func() {
		os.RemoveAll(logDir)
		// The pod's cgroup parent is the kubelet's to remove; what a
		// runtime left below it stays and fails the leak check.
		for _, mp := range cgroupMountPoints() {
			os.Remove(filepath.Join(mp, e.cgroupParent(), name))
		}
	})
	p.id = e.ok(t, "runp", "--runtime", handler, p.config)
	t.Cleanup(func() {
		run(opts{timeout: engineTimeout}, e.crictl, "--config", e.config, "stopp", p.id)
		run(opts{timeout: engineTimeout}, e.crictl, "--config", e.config, "rmp", "-f", p.id)
	})
	return p
}

// create creates and starts a container of the pod running argv, with
// the pod's volume at /shared.
func (p *criPod) start(t *testing.T, name string, argv ...string) string {
	t.Helper()
	c := filepath.Join(p.dir, name+".json")
	writeJSON(t, c, map[string]any{
		"metadata": map[string]any{"name": name},
		"image":    map[string]any{"image": imageRef},
		"command":  argv,
		"log_path": name + ".log",
		"mounts":   []map[string]any{{"container_path": "/shared", "host_path": p.volume}},
	})
	id := p.e.ok(t, "create", "--no-pull", p.id, c, p.config)
	p.e.ok(t, "start", id)
	return id
}

// criInspect is what the tests read of `crictl inspect`.
type criInspect struct {
	Status struct {
		State    string `json:"state"`
		ExitCode int    `json:"exitCode"`
	} `json:"status"`
}

func (e *criEngine) inspect(t *testing.T, id string) criInspect {
	t.Helper()
	var v criInspect
	out := e.ok(t, "inspect", "-o", "json", id)
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("crictl inspect %s: %v\n%s", id, err, out)
	}
	return v
}

// waitState waits until container id is in state (CONTAINER_RUNNING,
// CONTAINER_EXITED...).
func (e *criEngine) waitState(t *testing.T, id, state string) criInspect {
	t.Helper()
	for deadline := time.Now().Add(engineTimeout); ; time.Sleep(200 * time.Millisecond) {
		v := e.inspect(t, id)
		if v.Status.State == state {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s is %s, not %s, after %v", id, v.Status.State, state, engineTimeout)
		}
	}
}

// waitLog waits until crictl logs of id match re.
func (e *criEngine) waitLog(t *testing.T, id string, re *regexp.Regexp) string {
	t.Helper()
	for deadline := time.Now().Add(engineTimeout); ; time.Sleep(200 * time.Millisecond) {
		r := e.run(t, opts{}, "logs", id)
		if re.MatchString(r.stdout + r.stderr) {
			return r.stdout + r.stderr
		}
		if time.Now().After(deadline) {
			t.Fatalf("crictl logs %s does not match %q after %v:%s", id, re, engineTimeout, r)
		}
	}
}

// podSentries lists the Sentries (runsc boot processes) below the shim
// that serves pod.
func podSentries(t *testing.T, pod string) []procInfo {
	t.Helper()
	ps := listProcs()
	var shims []procInfo
	for _, p := range ps {
		if filepath.Base(p.exe) == "containerd-shim-runsc-v1" && contains(p.cmdline, pod) {
			shims = append(shims, p)
		}
	}
	if len(shims) != 1 {
		t.Fatalf("%d shims serve pod %s, want 1: %v", len(shims), pod, shims)
	}
	byPid := map[int]procInfo{}
	for _, p := range ps {
		byPid[p.pid] = p
	}
	below := func(p procInfo) bool {
		for q := p; q.pid > 1; q = byPid[q.ppid] {
			if q.ppid == shims[0].pid {
				return true
			}
		}
		return false
	}
	var s []procInfo
	for _, p := range ps {
		if p.isRunsc() && contains(p.cmdline, "boot") && below(p) {
			s = append(s, p)
		}
	}
	return s
}

// podProcesses lists the shim serving pod (runc's or runsc's) and every
// process below it.
func podProcesses(t *testing.T, pod string) []procInfo {
	t.Helper()
	ps := listProcs()
	var shim procInfo
	for _, p := range ps {
		if strings.HasPrefix(filepath.Base(p.exe), "containerd-shim-") && contains(p.cmdline, pod) {
			shim = p
		}
	}
	if shim.pid == 0 {
		t.Fatalf("no shim serves pod %s", pod)
	}
	// listProcs leaves out processes without a command line, which the
	// platforms' stubs are: read every process's parent here.
	children := map[int][]int{}
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, d := range dirs {
		st, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(st), ')')
		f := strings.Fields(string(st[i+1:]))
		pid, _ := strconv.Atoi(strings.Split(d, "/")[2])
		if len(f) > 1 {
			ppid, _ := strconv.Atoi(f[1])
			children[ppid] = append(children[ppid], pid)
		}
	}
	named := map[int]procInfo{}
	for _, p := range ps {
		named[p.pid] = p
	}
	out := []procInfo{shim}
	for i := 0; i < len(out); i++ {
		for _, c := range children[out[i].pid] {
			p, ok := named[c]
			if !ok {
				p = procInfo{pid: c, ppid: out[i].pid, exe: "(stub)"}
			}
			out = append(out, p)
		}
	}
	return out
}

// pssKiB is the proportional set size of process pid (0 if gone).
func pssKiB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	m := regexp.MustCompile(`(?m)^Pss:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// taskPid is the host pid CRI reports for a container (inspect) or a
// pod (inspectp): under runsc, its sandbox's Sentry.
func (e *criEngine) taskPid(t *testing.T, cmd, id string) int {
	t.Helper()
	var v struct {
		Info struct {
			Pid int `json:"pid"`
		} `json:"info"`
	}
	out := e.ok(t, cmd, "-o", "json", id)
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Info.Pid <= 0 {
		t.Fatalf("crictl %s %s: no pid (%v):\n%s", cmd, id, err, out)
	}
	return v.Info.Pid
}

// The pod of the acceptance: a web server and a client sharing localhost
// and an emptyDir.
var (
	webArgv = []string{"sh", "-c", `mkdir -p /shared/www && echo hello-from-web > /shared/www/index.html && echo web-up && exec httpd -f -v -p 127.0.0.1:8080 -h /shared/www`}
	// The client fetches the page over localhost, prints it, then waits
	// for SIGTERM.
	clientArgv = []string{"sh", "-c", `until wget -q -O - http://127.0.0.1:8080/index.html; do sleep 0.2; done; echo client-done; trap "exit 0" TERM; sleep 1000 & wait`}
)

func TestCRI(t *testing.T) {
	e := startCRI(t)
	test := func(handler, name string, f func(t *testing.T)) {
		engineTest(t, e, engineRuntime{name: handler, path: runscPath}, handler+"/"+name, f)
	}

	for _, handler := range []string{"runc", "runsc"} {
		test(handler, "pod", func(t *testing.T) {
			p := e.runPod(t, handler)
			web := p.start(t, "web", webArgv...)
			e.waitLog(t, web, regexp.MustCompile(`web-up`))
			client := p.start(t, "client", clientArgv...)
			e.waitLog(t, client, regexp.MustCompile(`(?s)hello-from-web.*client-done`))
			e.waitState(t, web, "CONTAINER_RUNNING")
			e.waitState(t, client, "CONTAINER_RUNNING")

			if handler == "runsc" {
				// One Sentry serves the pod: one runsc boot process below
				// the pod's one shim, and it is what CRI reports as the
				// pod's and both containers' process.
				s := podSentries(t, p.id)
				if len(s) != 1 {
					t.Errorf("%d Sentry processes for pod %s, want 1: %v", len(s), p.id, s)
				} else {
					if pid := e.taskPid(t, "inspectp", p.id); pid != s[0].pid {
						t.Errorf("crictl inspectp: pid %d, want the Sentry %d", pid, s[0].pid)
					}
					// A host-network pod still gets a network namespace
					// of its own: the Sentry opens no host sockets.
					hostNS, _ := os.Readlink("/proc/self/ns/net")
					if ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", s[0].pid)); err != nil || ns == hostNS {
						t.Errorf("the Sentry's network namespace is %q (%v), the host's is %q: want one of its own", ns, err, hostNS)
					}
					for _, id := range []string{web, client} {
						if pid := e.taskPid(t, "inspect", id); pid != s[0].pid {
							t.Errorf("crictl inspect %s: pid %d, want the pod's Sentry %d", id, pid, s[0].pid)
						}
					}
				}
				// The emptyDir is a tmpfs in the Sentry: nothing on the host.
				if ents, _ := os.ReadDir(p.volume); len(ents) != 0 {
					t.Errorf("the pod's tmpfs volume wrote to the host directory %s: %v", p.volume, ents)
				}
			}
			r := e.run(t, opts{}, "exec", client, "cat", "/shared/www/index.html")
			wantRun(t, r, 0, "hello-from-web\n")

			// exec -it through a pty: an interactive shell.
			argv := []string{e.crictl, "--config", e.config, "exec", "-it", client, "env", "PS1=" + prompt, "sh"}
			pt := startPty(t, 40, 120, argv...)
			pt.expect(promptRE, ptyTimeout)
			pt.send("echo $((6*7))\r")
			pt.expect(regexp.MustCompile(`\n42\r*\n`), ptyTimeout)
			pt.send("test -t 0 && echo is-a-tty\r")
			pt.expect(regexp.MustCompile(`\nis-a-tty\r*\n`), ptyTimeout)
			// crictl reports the shell's status and exits 1.
			pt.send("exit 5\r")
			pt.expect(regexp.MustCompile(`command terminated with exit code 5`), ptyTimeout)
			if code := pt.wait(ptyTimeout); code != 1 {
				t.Errorf("crictl exec -it: exit %d, want 1%s", code, pt.transcript())
			}

			// stats: memory of the container (the pod's, under runsc).
			var stats struct {
				Stats []struct {
					Memory struct {
						WorkingSetBytes struct {
							Value string `json:"value"`
						} `json:"workingSetBytes"`
					} `json:"memory"`
				} `json:"stats"`
			}
			out := e.ok(t, "stats", "-o", "json", "--id", web)
			if err := json.Unmarshal([]byte(out), &stats); err != nil || len(stats.Stats) != 1 {
				t.Errorf("crictl stats --id %s: %v\n%s", web, err, out)
			} else if v := stats.Stats[0].Memory.WorkingSetBytes.Value; v == "" || v == "0" {
				t.Errorf("crictl stats reports no memory for %s:\n%s", web, out)
			}

			// A member's exit status.
			three := p.start(t, "three", "sh", "-c", "echo exiting; exit 3")
			if v := e.waitState(t, three, "CONTAINER_EXITED"); v.Status.ExitCode != 3 {
				t.Errorf("crictl inspect: exit code %d, want 3", v.Status.ExitCode)
			}
			e.waitLog(t, three, regexp.MustCompile(`exiting`))
			e.ok(t, "rm", three)

			// stop + rm of the client leaves the web server running.
			e.ok(t, "stop", "--timeout", "20", client)
			if v := e.inspect(t, client); v.Status.State != "CONTAINER_EXITED" || v.Status.ExitCode != 0 {
				t.Errorf("the client after crictl stop: %+v, want exited 0", v.Status)
			}
			e.ok(t, "rm", client)
			e.waitState(t, web, "CONTAINER_RUNNING")
			wantRun(t, e.run(t, opts{}, "exec", web, "wget", "-q", "-O", "-", "http://127.0.0.1:8080/index.html"), 0, "hello-from-web\n")

			e.ok(t, "stopp", p.id)
			e.ok(t, "rmp", p.id)
			// watchEngine checks that no process, mount, cgroup or state stays.
		})
	}

	// Pod start (runp + create + start of one container) and the pod's
	// host memory (PSS of its shim and everything below it: Sentry,
	// gofers, stubs; for runc the shim and the container's processes),
	// logged beside runc's, not judged (the machine is shared).
	for _, handler := range []string{"runc", "runsc"} {
		test(handler, "start-and-memory", func(t *testing.T) {
			start := time.Now()
			p := e.runPod(t, handler)
			web := p.start(t, "web", webArgv...)
			e.waitState(t, web, "CONTAINER_RUNNING")
			elapsed := time.Since(start)
			e.waitLog(t, web, regexp.MustCompile(`web-up`))
			procs := podProcesses(t, p.id)
			var pss int
			for _, pr := range procs {
				pss += pssKiB(pr.pid)
			}
			if pss == 0 {
				t.Errorf("no PSS for the pod's processes %v", procs)
			}
			var names []string
			for _, pr := range procs {
				name := filepath.Base(pr.exe)
				if len(pr.cmdline) > 1 && pr.isRunsc() {
					name += " " + pr.cmdline[1]
				}
				names = append(names, name)
			}
			t.Logf("%s: pod start (runp+create+start) %v; pod PSS %d KiB over %d host processes (%s)",
				handler, elapsed.Round(time.Millisecond), pss, len(procs), strings.Join(names, ", "))
			e.ok(t, "stopp", p.id)
			e.ok(t, "rmp", p.id)
		})
	}

	// The pod's shim dies: containerd runs the shim's delete, which
	// takes the sandbox down, and reports the containers exited.
	test("runsc", "shim-killed", func(t *testing.T) {
		p := e.runPod(t, "runsc")
		web := p.start(t, "web", webArgv...)
		e.waitLog(t, web, regexp.MustCompile(`web-up`))
		s := podSentries(t, p.id)
		if len(s) != 1 {
			t.Fatalf("%d Sentry processes for pod %s, want 1: %v", len(s), p.id, s)
		}
		procs := podProcesses(t, p.id)
		syscall.Kill(procs[0].pid, syscall.SIGKILL)
		e.waitState(t, web, "CONTAINER_EXITED")
		for deadline := time.Now().Add(engineTimeout); alive(s[0].pid); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the Sentry %d still runs %v after its shim was killed", s[0].pid, engineTimeout)
			}
		}
		e.ok(t, "stopp", p.id)
		e.ok(t, "rmp", p.id)
	})

	test("runsc", "sentry-killed", func(t *testing.T) {
		p := e.runPod(t, "runsc")
		web := p.start(t, "web", webArgv...)
		client := p.start(t, "client", clientArgv...)
		e.waitLog(t, client, regexp.MustCompile(`client-done`))
		s := podSentries(t, p.id)
		if len(s) != 1 {
			t.Fatalf("%d Sentry processes for pod %s, want 1: %v", len(s), p.id, s)
		}
		syscall.Kill(s[0].pid, syscall.SIGKILL)
		for _, id := range []string{web, client} {
			if v := e.waitState(t, id, "CONTAINER_EXITED"); v.Status.ExitCode != 137 {
				t.Errorf("container %s exited %d after its Sentry was killed, want 137", id, v.Status.ExitCode)
			}
		}
		for deadline := time.Now().Add(engineTimeout); ; time.Sleep(200 * time.Millisecond) {
			out := e.ok(t, "inspectp", "-o", "json", p.id)
			if strings.Contains(out, `"SANDBOX_NOTREADY"`) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the pod is still ready after its Sentry was killed:\n%s", out)
			}
		}
		e.ok(t, "stopp", p.id)
		e.ok(t, "rmp", p.id)
	})
}
