package tests

// The harness for the engine tests (engines_test.go): containerd, dockerd
// and podman started on private state, the OCI runtimes they drive, and the
// checks that a test left nothing behind on the host.
//
// Every engine keeps all its state in its own directory under workDir and
// puts its containers' cgroups under /<workDir's name>/ in each cgroup
// hierarchy, so the leftovers of a run (even a killed one) can be found and
// removed without touching anybody else's containers. A few directories are
// hard-wired in these engine versions and cannot be moved; see hostDefaults.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The engines' binaries: Debian's packages (.ci/run installs them). The
// docker client is named by its full path because /usr/local/bin may hold
// an unrelated one.
const (
	containerdBin = "/usr/bin/containerd"
	ctrBin        = "/usr/bin/ctr"
	dockerdBin    = "/usr/sbin/dockerd"
	dockerBin     = "/usr/bin/docker"
	podmanBin     = "/usr/bin/podman"
	runcBin       = "/usr/sbin/runc"

	// daemonPath is the PATH the daemons run with, so that they find
	// Debian's runc, shims and conmon and nothing from /usr/local.
	daemonPath = "PATH=/usr/sbin:/usr/bin:/sbin:/bin"

	engineTimeout = 30 * time.Second // one CLI command
	daemonTimeout = 60 * time.Second // a daemon's start, an image import
)

// ---------------------------------------------------------------------------
// OCI runtimes under test.

// engineRuntime is one OCI runtime the engines are pointed at.
type engineRuntime struct {
	name string
	path string
	// engineDefault: the engine runs it as its own default runtime (no
	// runtime flag at all), which is how users run runc.
	engineDefault bool
}

// VEIL_ENGINE_RUNTIMES selects the runtimes of the engine tests, comma
// separated (default "runc,runsc"):
//
//	runc        Debian's runc, the reference: every check must pass with it
//	runsc       the runsc under test (runscPath)
//	runc-trace  runc behind a logging wrapper named runsc; the tests then
//	            log how the engine called the runtime (argv, fds, env, and
//	            copies of config.json), which is the contract runsc must meet;
//	            VEIL_ENGINE_TRACE_DIR=DIR keeps the log and the copies in DIR
//	            (default: in the work dir, removed at the end)
//
// e.g. VEIL_ENGINE_RUNTIMES=runc go test -run 'TestEngine' -v ./tests/
const runtimesEnv = "VEIL_ENGINE_RUNTIMES"

func engineRuntimes(t *testing.T) []engineRuntime {
	t.Helper()
	spec := os.Getenv(runtimesEnv)
	if spec == "" {
		spec = "runc,runsc"
	}
	var rts []engineRuntime
	for _, name := range strings.Split(spec, ",") {
		switch name = strings.TrimSpace(name); name {
		case "runc":
			rts = append(rts, engineRuntime{name: name, path: runcBin, engineDefault: true})
		case "runsc":
			rts = append(rts, engineRuntime{name: name, path: runscPath})
		case "runc-trace":
			rts = append(rts, engineRuntime{name: name, path: traceWrapper(t)})
		case "":
		default:
			t.Fatalf("%s=%q: unknown runtime %q (known: runc, runsc, runc-trace)", runtimesEnv, spec, name)
		}
	}
	return rts
}

// forEachEngineRuntime runs f as a subtest per runtime under test.
func forEachEngineRuntime(t *testing.T, f func(t *testing.T, rt engineRuntime)) {
	for _, rt := range engineRuntimes(t) {
		t.Run(rt.name, func(t *testing.T) {
			switch rt.name {
			case "runsc":
				needRunsc(t)
			case "runc-trace":
				showTrace(t)
			}
			f(t, rt)
		})
	}
}

var (
	traceOnce sync.Once
	traceDir  string
	traceErr  error
)

// traceWrapper writes (once) a shell script named runsc that appends how it
// was called to traceDir/calls.log, keeps the bundle's config.json and the
// exec process.json, and then runs runc with the same arguments. It is
// named runsc because engines treat runtimes differently by name (podman
// passes --log-format=json only to the ones it knows).
func traceWrapper(t *testing.T) string {
	t.Helper()
	traceOnce.Do(func() {
		traceDir = filepath.Join(workDir, "trace")
		if d := os.Getenv("VEIL_ENGINE_TRACE_DIR"); d != "" {
			traceDir, _ = filepath.Abs(d)
		}
		script := `#!/bin/sh
dir=` + traceDir + `
n=$(date +%s%N)
fds=$(ls -l /proc/$$/fd 2>&1 | sed -n 's/.* \([0-9]*\) -> /\1 -> /p' | tr '\n' ';')
prev= bundle= process=
for a in "$@"; do
	case "$prev" in --bundle|-b) bundle=$a ;; --process|-p) process=$a ;; esac
	case "$a" in --bundle=*) bundle=${a#--bundle=} ;; --process=*) process=${a#--process=} ;; esac
	prev=$a
done
{
	printf '=== %s pid=%s ppid=%s (%s) cwd=%s\nargv:' "$n" "$$" "$PPID" "$(cat /proc/$PPID/comm)" "$(pwd)"
	for a in "$0" "$@"; do printf " '%s'" "$a"; done
	printf '\nfds: %s\n' "$fds"
	[ -n "$bundle" ] && cp "$bundle/config.json" "$dir/config-$n.json" && echo "config.json: $dir/config-$n.json"
	[ -n "$process" ] && cp "$process" "$dir/process-$n.json" && echo "process.json: $dir/process-$n.json"
	echo env:; env | sort | sed 's/^/  /'
} >>"$dir/calls.log" 2>&1
exec ` + runcBin + ` "$@"
`
		traceErr = os.MkdirAll(filepath.Join(traceDir, "bin"), 0o755)
		if traceErr == nil {
			traceErr = os.WriteFile(filepath.Join(traceDir, "bin", "runsc"), []byte(script), 0o755)
		}
	})
	if traceErr != nil {
		t.Fatalf("writing the runc-trace wrapper: %v", traceErr)
	}
	return filepath.Join(traceDir, "bin", "runsc")
}

// showTrace logs, at the end of a runc-trace test, the runtime calls the
// test caused, without the environment variables they inherited unchanged
// from the test.
func showTrace(t *testing.T) {
	log := filepath.Join(traceDir, "calls.log")
	start := fileSize(log)
	t.Cleanup(func() {
		b, _ := os.ReadFile(log)
		if int64(len(b)) <= start {
			return
		}
		inherited := map[string]bool{}
		for _, kv := range os.Environ() {
			inherited["  "+kv] = true
		}
		var keep []string
		for _, l := range strings.Split(string(b[start:]), "\n") {
			if !inherited[l] {
				keep = append(keep, l)
			}
		}
		t.Logf("runtime calls made by the engine:\n%s", strings.Join(keep, "\n"))
	})
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// ---------------------------------------------------------------------------
// Daemons.

// daemon is a long-lived engine process with its output in a log file.
type daemon struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
}

// startDaemon starts argv with its output appended to logPath, in its own
// process group, and SIGKILLed if the test binary dies.
func startDaemon(name, logPath string, argv ...string) (*daemon, error) {
	return startDaemonPath(name, logPath, "", argv...)
}

// startDaemonPath is startDaemon with dir first in the daemon's PATH ("":
// daemonPath alone), where containerd finds a shim under test.
func startDaemonPath(name, logPath, dir string, argv ...string) (*daemon, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	d := &daemon{name: name, logPath: logPath, exited: make(chan struct{})}
	d.cmd = exec.Command(argv[0], argv[1:]...)
	d.cmd.Dir = workDir
	d.cmd.Env = append(os.Environ(), daemonPath)
	if dir != "" {
		d.cmd.Env = append(d.cmd.Env, "PATH="+dir+":"+strings.TrimPrefix(daemonPath, "PATH="))
	}
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	started := make(chan error)
	go func() {
		// Pdeathsig fires when the thread that forked exits, so that thread
		// stays locked to this goroutine for the daemon's whole life.
		runtime.LockOSThread()
		if err := d.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		d.cmd.Wait()
		close(d.exited)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("starting %s: %v", shellQuote(argv), err)
	}
	return d, nil
}

// waitReady polls ready until it succeeds, the daemon dies or the timeout
// expires.
func (d *daemon) waitReady(ready func() error) error {
	deadline := time.Now().Add(daemonTimeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		select {
		case <-d.exited:
			return fmt.Errorf("%s exited (%v) before it was ready; last check: %v", d.name, d.cmd.ProcessState, err)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v: %v", d.name, daemonTimeout, err)
		}
	}
}

// stop sends SIGTERM, and SIGKILL to the process group if the daemon has
// not exited after grace.
func (d *daemon) stop(grace time.Duration) {
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(grace):
		fmt.Fprintf(os.Stderr, "e2e: %s did not exit %v after SIGTERM; killing it\n", d.name, grace)
		syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-d.exited:
		case <-time.After(10 * time.Second):
		}
	}
	syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
}

// logTail returns the last lines of a log file from offset on.
func logTail(path string, offset int64, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	if offset > int64(len(b)) {
		offset = 0
	}
	l := strings.Split(strings.TrimRight(string(b[offset:]), "\n"), "\n")
	if len(l) > lines {
		l = append([]string{fmt.Sprintf("[... %d earlier lines in %s ...]", len(l)-lines, path)}, l[len(l)-lines:]...)
	}
	return strings.Join(l, "\n")
}

// lazy holds an engine started once per test binary run; a failure to start
// is remembered, so each test that needs the engine fails with it at once.
type lazy[T any] struct {
	once sync.Once
	v    T
	err  error
}

func (l *lazy[T]) get(t *testing.T, what string, start func() (T, error)) T {
	t.Helper()
	l.once.Do(func() {
		noteHostDefaults()
		l.v, l.err = start()
	})
	if l.err != nil {
		t.Fatalf("%s: %v", what, l.err)
	}
	return l.v
}

// cgroupRoot is the cgroup (relative to each hierarchy's root) that holds
// the cgroups of every container of this run.
func cgroupRoot() string { return "/" + filepath.Base(workDir) }

// ---------------------------------------------------------------------------
// containerd and ctr.

type containerd struct {
	dir  string // everything containerd and its shims write (but see hostDefaults)
	sock string
	ns   string
	d    *daemon
}

var containerdOnce lazy[*containerd]

// startContainerd returns the run's private containerd (started on first
// use, stopped when the test binary ends) with the test image imported.
func startContainerd(t *testing.T) *containerd {
	t.Helper()
	return containerdOnce.get(t, "starting containerd", func() (*containerd, error) {
		c, err := newContainerd(filepath.Join(workDir, "containerd"))
		if c != nil {
			atExit(c.stop)
		}
		if err == nil {
			err = c.importImage()
		}
		if err != nil && c != nil {
			err = fmt.Errorf("%v\n--- containerd log (%s) ---\n%s", err, c.d.logPath, logTail(c.d.logPath, 0, 60))
		}
		return c, err
	})
}

func newContainerd(dir string) (*containerd, error) {
	return newContainerdPath(dir, "")
}

// newContainerdPath starts a containerd whose PATH begins with shimDir
// (see startDaemonPath).
func newContainerdPath(dir, shimDir string) (*containerd, error) {
	if _, err := os.Stat(containerdBin); err != nil {
		return nil, fmt.Errorf("%s not found: apt-get install containerd (.ci/run does)", containerdBin)
	}
	c := &containerd{dir: dir, sock: filepath.Join(dir, "containerd.sock"), ns: "veil-e2e"}
	for _, d := range []string{"root", "state", "opt", "runc", "fifo"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o711); err != nil {
			return nil, err
		}
	}
	// No CRI (it would want CNI and the host's /etc); every path, including
	// the "opt" plugin's (default /opt/containerd), is private.
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]

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
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), c.sock, filepath.Join(dir, "opt"))
	confPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(confPath, []byte(config), 0o644); err != nil {
		return nil, err
	}
	d, err := startDaemonPath("containerd", filepath.Join(dir, "containerd.log"), shimDir, containerdBin, "--config", confPath)
	if err != nil {
		return nil, err
	}
	c.d = d
	return c, d.waitReady(func() error {
		r := run(opts{timeout: 10 * time.Second}, ctrBin, "-a", c.sock, "version")
		if r.code != 0 {
			return fmt.Errorf("ctr version:%s", r)
		}
		return nil
	})
}

func (c *containerd) importImage() error {
	img, err := busyboxImage()
	if err != nil {
		return err
	}
	r := run(opts{timeout: daemonTimeout}, ctrBin, "-a", c.sock, "-n", c.ns, "image", "import", img.ociArchive)
	if r.code != 0 || !strings.Contains(r.stdout, imageRef) {
		return fmt.Errorf("ctr image import did not import %s:%s", imageRef, r)
	}
	return nil
}

// ctr runs the ctr client against this containerd, in its namespace.
func (c *containerd) ctr(t *testing.T, o opts, args ...string) *result {
	t.Helper()
	if o.timeout == 0 {
		o.timeout = engineTimeout
	}
	r := run(o, append([]string{ctrBin, "-a", c.sock, "-n", c.ns}, args...)...)
	noteTimeout(t, r)
	t.Logf("ctr %s: exit %d in %v", shellQuote(args), r.code, r.elapsed.Round(time.Millisecond))
	return r
}

// runFlags are the `ctr run` flags for container id under runtime rt: the
// runc shim (io.containerd.runc.v2, ctr's default) with rt as its runc
// binary, and private runc root, fifo dir and cgroup.
func (c *containerd) runFlags(rt engineRuntime, id string) []string {
	f := []string{
		"--runc-root", filepath.Join(c.dir, "runc"),
		"--fifo-dir", filepath.Join(c.dir, "fifo"),
		"--cgroup", c.cgroupParent() + "/" + id,
	}
	if !rt.engineDefault {
		f = append(f, "--runtime", "io.containerd.runc.v2", "--runc-binary", rt.path)
	}
	return f
}

func (c *containerd) stop() {
	c.sweep(nil)
	c.d.stop(15 * time.Second)
	sweepDir(c.dir, nil)
}

// engine interface, for the leak checks.

func (c *containerd) engineName() string   { return "containerd" }
func (c *containerd) privateDir() string   { return c.dir }
func (c *containerd) cgroupParent() string { return cgroupRoot() + "/ctr" }
func (c *containerd) logFile() string      { return c.d.logPath }
func (c *containerd) daemonPids() []int    { return []int{c.d.cmd.Process.Pid} }
func (c *containerd) keepCgroup(string) bool {
	return false
}
func (c *containerd) keepMount(string) bool { return false }

func (c *containerd) leftovers(t *testing.T) []string {
	var left []string
	for _, what := range []string{"containers", "tasks"} {
		r := run(opts{timeout: engineTimeout}, ctrBin, "-a", c.sock, "-n", c.ns, what, "ls", "-q")
		if r.code != 0 {
			left = append(left, fmt.Sprintf("(ctr %s ls failed:%s)", what, r))
			continue
		}
		for _, id := range strings.Fields(r.stdout) {
			left = append(left, what[:len(what)-1]+" "+id)
		}
	}
	return left
}

// sweep removes every task and container of the namespace: SIGKILL, then
// delete.
func (c *containerd) sweep(t *testing.T) {
	r := run(opts{timeout: engineTimeout}, ctrBin, "-a", c.sock, "-n", c.ns, "containers", "ls", "-q")
	for _, id := range strings.Fields(r.stdout) {
		ctr := func(args ...string) {
			run(opts{timeout: engineTimeout}, append([]string{ctrBin, "-a", c.sock, "-n", c.ns}, args...)...)
		}
		ctr("tasks", "kill", "-s", "SIGKILL", "--all", id)
		ctr("tasks", "delete", "-f", id)
		ctr("containers", "delete", id)
	}
}

// ---------------------------------------------------------------------------
// dockerd and docker.

type dockerd struct {
	dir  string
	sock string
	d    *daemon
	pids []int // dockerd and the containerd it started
}

var (
	dockerdMu      sync.Mutex
	dockerdStarted = map[string]*lazy[*dockerd]{}
	dockerdSeq     int
)

// dockerRuntimes maps docker runtime names to binaries for the runtimes
// under test (runc is docker's own default and needs no entry).
func dockerRuntimes(t *testing.T) map[string]string {
	m := map[string]string{}
	for _, rt := range engineRuntimes(t) {
		if !rt.engineDefault {
			m[rt.name] = rt.path
		}
	}
	return m
}

// startDockerd returns a private dockerd (started on first use with these
// runtimes, stopped when the test binary ends) with the test image
// imported. runtimes maps names for `docker run --runtime=NAME` to binaries.
func startDockerd(t *testing.T, runtimes map[string]string) *dockerd {
	t.Helper()
	var names []string
	for n, p := range runtimes {
		names = append(names, n+"="+p)
	}
	sort.Strings(names)
	key := strings.Join(names, ",")
	dockerdMu.Lock()
	l := dockerdStarted[key]
	if l == nil {
		l = &lazy[*dockerd]{}
		dockerdStarted[key] = l
		dockerdSeq++
	}
	seq := dockerdSeq
	dockerdMu.Unlock()
	return l.get(t, "starting dockerd", func() (*dockerd, error) {
		d, err := newDockerd(filepath.Join(workDir, fmt.Sprintf("docker%d", seq)), runtimes, nil)
		if d != nil {
			atExit(d.stop)
		}
		if err == nil {
			err = d.importImage()
		}
		if err != nil && d != nil {
			err = fmt.Errorf("%v\n--- dockerd log (%s) ---\n%s", err, d.d.logPath, logTail(d.d.logPath, 0, 60))
		}
		return d, err
	})
}

// newDockerd starts a dockerd on private state in dir; configure, if not
// nil, may change its daemon.json before it starts.
func newDockerd(dir string, runtimes map[string]string, configure func(confPath string) error) (*dockerd, error) {
	return newDockerdIn(dir, runtimes, "", configure)
}

// newDockerdIn starts a dockerd in the network namespace at netns ("":
// the host's, with no networking at all). In a namespace of its own it
// keeps its default bridge, so docker0 and the containers' veths live
// there and never on the host.
func newDockerdIn(dir string, runtimes map[string]string, netns string, configure func(confPath string) error) (*dockerd, error) {
	for _, b := range []string{dockerdBin, dockerBin} {
		if _, err := os.Stat(b); err != nil {
			return nil, fmt.Errorf("%s not found: apt-get install docker.io (.ci/run does)", b)
		}
	}
	// Short names: the managed containerd's socket lives in exec-root and a
	// unix socket path has at most 107 bytes.
	d := &dockerd{dir: dir, sock: filepath.Join(dir, "docker.sock")}
	for _, sub := range []string{"data", "exec", "client"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o711); err != nil {
			return nil, err
		}
	}
	rts := map[string]any{}
	for name, path := range runtimes {
		rts[name] = map[string]string{"path": path}
	}
	// No networking at all (containers run with --network none), nothing
	// in the host's default places, containers' cgroups under ours.
	conf := map[string]any{
		"data-root":        filepath.Join(dir, "data"),
		"exec-root":        filepath.Join(dir, "exec"),
		"pidfile":          filepath.Join(dir, "docker.pid"),
		"hosts":            []string{"unix://" + d.sock},
		"bridge":           "none",
		"iptables":         false,
		"ip6tables":        false,
		"ip-forward":       false,
		"ip-masq":          false,
		"userland-proxy":   false,
		"cgroup-parent":    d.cgroupParent(),
		"exec-opts":        []string{"native.cgroupdriver=cgroupfs"},
		"storage-driver":   "overlay2",
		"log-driver":       "json-file",
		"shutdown-timeout": 5,
		"runtimes":         rts,
	}
	if netns != "" {
		delete(conf, "bridge")
	}
	confPath := filepath.Join(dir, "daemon.json")
	b, err := jsonIndent(conf)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(confPath, b, 0o644); err != nil {
		return nil, err
	}
	if configure != nil {
		if err := configure(confPath); err != nil {
			return nil, err
		}
	}
	argv := []string{dockerdBin, "--config-file", confPath}
	if netns != "" {
		// nsenter changes only the network namespace (ip netns exec
		// would also give it a mount namespace of its own).
		argv = append([]string{"nsenter", "--net=" + netns}, argv...)
	}
	dm, err := startDaemon("dockerd", filepath.Join(dir, "dockerd.log"), argv...)
	if err != nil {
		return nil, err
	}
	d.d = dm
	err = dm.waitReady(func() error {
		r := run(opts{timeout: 10 * time.Second, env: d.env()}, dockerBin, "-H", "unix://"+d.sock, "version", "--format", "{{.Server.Version}}")
		if r.code != 0 {
			return fmt.Errorf("docker version:%s", r)
		}
		return nil
	})
	if err != nil {
		return d, err
	}
	for _, p := range listProcs() {
		if p.refersTo(dir) {
			d.pids = append(d.pids, p.pid)
		}
	}
	return d, nil
}

func (d *dockerd) env() []string {
	// The client keeps its config (and would create ~/.docker) here.
	return []string{"DOCKER_CONFIG=" + filepath.Join(d.dir, "client")}
}

func (d *dockerd) importImage() error {
	img, err := busyboxImage()
	if err != nil {
		return err
	}
	r := run(opts{timeout: daemonTimeout, env: d.env()}, dockerBin, "-H", "unix://"+d.sock, "import", img.rootfsTar, imageRef)
	if r.code != 0 {
		return fmt.Errorf("docker import:%s", r)
	}
	return nil
}

// docker runs the docker client against this dockerd.
func (d *dockerd) docker(t *testing.T, o opts, args ...string) *result {
	t.Helper()
	if o.timeout == 0 {
		o.timeout = engineTimeout
	}
	o.env = append(o.env, d.env()...)
	r := run(o, append([]string{dockerBin, "-H", "unix://" + d.sock}, args...)...)
	noteTimeout(t, r)
	t.Logf("docker %s: exit %d in %v", shellQuote(args), r.code, r.elapsed.Round(time.Millisecond))
	return r
}

// argv is the docker command line for args, for commands run otherwise
// (on a pty).
func (d *dockerd) argv(args ...string) []string {
	return append([]string{"env", d.env()[0], dockerBin, "-H", "unix://" + d.sock}, args...)
}

// runFlags are the `docker run` flags for runtime rt: no network, and
// --runtime unless rt is docker's default.
func (d *dockerd) runFlags(rt engineRuntime) []string {
	f := []string{"--network", "none"}
	if !rt.engineDefault {
		f = append(f, "--runtime", rt.name)
	}
	return f
}

func (d *dockerd) stop() {
	d.sweep(nil)
	d.d.stop(30 * time.Second)
	sweepDir(d.dir, nil)
}

func (d *dockerd) engineName() string     { return "dockerd" }
func (d *dockerd) privateDir() string     { return d.dir }
func (d *dockerd) cgroupParent() string   { return cgroupRoot() + "/" + filepath.Base(d.dir) }
func (d *dockerd) logFile() string        { return d.d.logPath }
func (d *dockerd) daemonPids() []int      { return d.pids }
func (d *dockerd) keepCgroup(string) bool { return false }

// keepMount: dockerd bind-mounts its data-root onto itself (to make it a
// shared mount) for as long as it runs.
func (d *dockerd) keepMount(mp string) bool { return mp == filepath.Join(d.dir, "data") }

func (d *dockerd) leftovers(t *testing.T) []string {
	r := run(opts{timeout: engineTimeout, env: d.env()}, dockerBin, "-H", "unix://"+d.sock, "ps", "-a", "--format", "{{.ID}} {{.Names}} {{.Status}}")
	if r.code != 0 {
		return []string{fmt.Sprintf("(docker ps failed:%s)", r)}
	}
	var left []string
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if l != "" {
			left = append(left, "container "+l)
		}
	}
	return left
}

func (d *dockerd) sweep(t *testing.T) {
	r := run(opts{timeout: engineTimeout, env: d.env()}, dockerBin, "-H", "unix://"+d.sock, "ps", "-aq")
	if ids := strings.Fields(r.stdout); len(ids) > 0 {
		run(opts{timeout: engineTimeout, env: d.env()}, append([]string{dockerBin, "-H", "unix://" + d.sock, "rm", "-f"}, ids...)...)
	}
}

// ---------------------------------------------------------------------------
// podman (no daemon: each command is a new podman process on the same store).

type podmanStore struct {
	dir    string
	global []string // podman's global flags
	env    []string
}

var podmanOnce lazy[*podmanStore]

// podmanEngine returns the run's private podman store, with the test image
// imported (on first use).
func podmanEngine(t *testing.T) *podmanStore {
	t.Helper()
	return podmanOnce.get(t, "setting up podman", func() (*podmanStore, error) {
		p, err := newPodmanStore(filepath.Join(workDir, "podman"))
		if p != nil {
			atExit(p.stop)
		}
		var img testImage
		if err == nil {
			img, err = busyboxImage()
		}
		if err == nil {
			r := run(opts{timeout: daemonTimeout, env: p.env}, append(append([]string{podmanBin}, p.global...), "import", img.rootfsTar, imageRef)...)
			if r.code != 0 {
				err = fmt.Errorf("podman import:%s", r)
			}
		}
		return p, err
	})
}

func newPodmanStore(dir string) (*podmanStore, error) {
	if _, err := os.Stat(podmanBin); err != nil {
		return nil, fmt.Errorf("%s not found: apt-get install podman (.ci/run does)", podmanBin)
	}
	p := &podmanStore{dir: dir}
	for _, sub := range []string{"root", "runroot", "tmp", "volumes", "networks"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o711); err != nil {
			return nil, err
		}
	}
	// What the flags do not cover: file locks in tmp (instead of the
	// host-wide /dev/shm/libpod_lock), private volume, event and network
	// config paths. The rlimits: podman's default for root raises
	// RLIMIT_NOFILE and RLIMIT_NPROC above the hard limits here, which
	// fails without CAP_SYS_RESOURCE (missing from this machine's bounding
	// set), so containers get fixed, lower ones.
	conf := fmt.Sprintf(`[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]

[engine]
lock_type = "file"
tmp_dir = %q
volume_path = %q
events_logger = "file"
events_logfile_path = %q
cgroup_manager = "cgroupfs"

[network]
network_config_dir = %q
`, filepath.Join(dir, "tmp"), filepath.Join(dir, "volumes"), filepath.Join(dir, "events.log"), filepath.Join(dir, "networks"))
	storage := fmt.Sprintf("[storage]\ndriver = \"overlay\"\ngraphroot = %q\nrunroot = %q\n",
		filepath.Join(dir, "root"), filepath.Join(dir, "runroot"))
	for name, content := range map[string]string{"containers.conf": conf, "storage.conf": storage} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return nil, err
		}
	}
	p.env = []string{
		"CONTAINERS_CONF=" + filepath.Join(dir, "containers.conf"),
		"CONTAINERS_STORAGE_CONF=" + filepath.Join(dir, "storage.conf"),
		daemonPath, // conmon and the cleanup podman it runs inherit it
	}
	p.global = []string{
		"--root", filepath.Join(dir, "root"),
		"--runroot", filepath.Join(dir, "runroot"),
		"--tmpdir", filepath.Join(dir, "tmp"),
		"--storage-driver", "overlay",
		"--cgroup-manager", "cgroupfs",
		"--events-backend", "file",
	}
	return p, nil
}

// podman runs `podman --runtime RT ARGS` on the private store. The runtime
// keeps its state in its default --root (/run/runc, /run/runsc): podman 4.3
// does not pass --runtime-flag to the `podman container cleanup` that
// conmon runs when the container exits, so that cleanup's `delete --force`
// would look for the container in the default root anyway (and miss it,
// leaving its cgroups behind).
func podman(t *testing.T, rt engineRuntime, o opts, args ...string) *result {
	t.Helper()
	p := podmanEngine(t)
	if o.timeout == 0 {
		o.timeout = engineTimeout
	}
	o.env = append(o.env, p.env...)
	r := run(o, p.argv(rt, args...)...)
	noteTimeout(t, r)
	t.Logf("podman %s: exit %d in %v", shellQuote(args), r.code, r.elapsed.Round(time.Millisecond))
	return r
}

func (p *podmanStore) argv(rt engineRuntime, args ...string) []string {
	argv := append([]string{podmanBin}, p.global...)
	argv = append(argv, "--runtime", rt.path)
	return append(argv, args...)
}

// runFlags are the `podman run` flags every test container gets.
func (p *podmanStore) runFlags() []string {
	return []string{"--network", "none", "--cgroup-parent", p.cgroupParent()}
}

func (p *podmanStore) stop() {
	p.sweep(nil)
	sweepDir(p.dir, nil)
}

func (p *podmanStore) engineName() string   { return "podman" }
func (p *podmanStore) privateDir() string   { return p.dir }
func (p *podmanStore) cgroupParent() string { return cgroupRoot() + "/podman" }
func (p *podmanStore) logFile() string      { return "" }
func (p *podmanStore) daemonPids() []int    { return nil }

// keepCgroup: with cgroupfs, conmon goes to PARENT/conmon, shared by all
// containers with that parent.
func (p *podmanStore) keepCgroup(rel string) bool { return rel == "conmon" }

// keepMount: the overlay driver bind-mounts its home onto itself.
func (p *podmanStore) keepMount(mp string) bool {
	return mp == filepath.Join(p.dir, "root", "overlay")
}

func (p *podmanStore) cmd(args ...string) *result {
	return run(opts{timeout: engineTimeout, env: p.env}, append(append([]string{podmanBin}, p.global...), args...)...)
}

func (p *podmanStore) leftovers(t *testing.T) []string {
	r := p.cmd("ps", "-a", "--format", "{{.ID}} {{.Names}} {{.Status}}")
	if r.code != 0 {
		return []string{fmt.Sprintf("(podman ps failed:%s)", r)}
	}
	var left []string
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if l != "" {
			left = append(left, "container "+l)
		}
	}
	return left
}

func (p *podmanStore) sweep(t *testing.T) {
	// Through runc: whatever runtime made a container, runc can at least
	// not make it worse, and podman needs one that works to remove it.
	rt := engineRuntime{name: "runc", path: runcBin}
	run(opts{timeout: engineTimeout, env: p.env}, p.argv(rt, "rm", "-a", "-f", "-t", "0")...)
}

// ---------------------------------------------------------------------------
// Engine tests.

// A runtime that hangs makes every engine command wait for its timeout.
// After the first timeout, the remaining tests of that engine and runtime
// fail at once, so that the suite stays short.
var (
	timedOutIn sync.Map // test name -> the command that timed out in it
	hung       sync.Map // engine/runtime -> what timed out first
)

func noteTimeout(t *testing.T, r *result) {
	if r.timedOut {
		timedOutIn.LoadOrStore(t.Name(), shellQuote(r.args))
	}
}

// engineTest runs f as the subtest name of an engine under runtime rt,
// checking when it ends that it left nothing behind (watchEngine).
func engineTest(t *testing.T, e engine, rt engineRuntime, name string, f func(t *testing.T)) {
	t.Run(name, func(t *testing.T) {
		key := e.engineName() + "/" + rt.name
		if first, ok := hung.Load(key); ok {
			t.Fatalf("not run: %s, so %s with %s looks hung and its remaining tests fail at once (run this one alone with -run to see it)", first, e.engineName(), rt.name)
		}
		t.Cleanup(func() {
			if cmd, ok := timedOutIn.Load(t.Name()); ok {
				hung.LoadOrStore(key, fmt.Sprintf("%s timed out in %s", cmd, t.Name()))
			}
		})
		watchEngine(t, e)
		f(t)
	})
}

// ---------------------------------------------------------------------------
// Leak checks.

// engine is what the leak checks need to know about an engine.
type engine interface {
	engineName() string
	privateDir() string
	cgroupParent() string // relative cgroup path holding its containers' cgroups
	logFile() string      // the daemon's log, "" for none
	daemonPids() []int    // its long-lived processes
	keepCgroup(rel string) bool
	keepMount(mountpoint string) bool
	leftovers(t *testing.T) []string // containers, tasks... it still knows
	sweep(t *testing.T)              // force-removes them through the engine
}

// watchEngine makes the test check, when it ends (after its own
// cleanups), that it left nothing behind in e or on the host: containers,
// processes (shims, conmon, runsc), mounts, cgroups. Leftovers fail the
// test and are removed. A failed test also shows the engine's log.
func watchEngine(t *testing.T, e engine) {
	t.Helper()
	logStart := int64(0)
	if e.logFile() != "" {
		logStart = fileSize(e.logFile())
	}
	mountsBefore := map[string]bool{}
	for _, m := range mountsUnder(workDir) {
		mountsBefore[m] = true
	}
	runscBefore := map[int]bool{}
	for _, p := range listProcs() {
		if p.isRunsc() {
			runscBefore[p.pid] = true
		}
	}
	t.Cleanup(func() {
		var left []string
		scan := func() {
			left = e.leftovers(t)
			daemons := map[int]bool{}
			for _, pid := range e.daemonPids() {
				daemons[pid] = true
			}
			for _, p := range listProcs() {
				switch {
				case p.refersTo(e.privateDir()) && !daemons[p.pid]:
					left = append(left, fmt.Sprintf("process %d: %s", p.pid, p.String()))
				case p.isRunsc() && !runscBefore[p.pid]:
					left = append(left, fmt.Sprintf("runsc process %d: %s", p.pid, p.String()))
				}
			}
			for _, m := range mountsUnder(workDir) {
				if !mountsBefore[m] && !e.keepMount(m) {
					left = append(left, "mount "+m)
				}
			}
			left = append(left, describeCgroups(e.cgroupParent(), e.keepCgroup)...)
		}
		// Engines tear down asynchronously (shims exit, cgroups go, after
		// the CLI returned): give them a moment.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			scan()
			if len(left) == 0 || time.Now().After(deadline) {
				break
			}
		}
		if len(left) > 0 {
			t.Errorf("%s: the test left these behind (now removed):\n  %s", e.engineName(), strings.Join(left, "\n  "))
			e.sweep(t)
			ps := listProcs()
			for _, p := range ps {
				if (p.refersTo(e.privateDir()) && !contains(e.daemonPids(), p.pid)) || (p.isRunsc() && !runscBefore[p.pid]) {
					killTree(ps, p)
				}
			}
			for _, m := range mountsUnder(workDir) {
				if !mountsBefore[m] && !e.keepMount(m) {
					unix.Unmount(m, unix.MNT_DETACH)
				}
			}
			removeCgroups(e.cgroupParent(), e.keepCgroup)
			e.sweep(t)
			scan()
			if len(left) > 0 {
				t.Errorf("%s: could not remove:\n  %s", e.engineName(), strings.Join(left, "\n  "))
			}
		}
		if t.Failed() && e.logFile() != "" {
			t.Logf("%s log during this test (%s):\n%s", e.engineName(), e.logFile(), logTail(e.logFile(), logStart, 80))
		}
	})
}

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// procInfo is one host process.
type procInfo struct {
	pid, ppid int
	exe       string
	cmdline   []string
}

func (p procInfo) String() string { return shellQuote(p.cmdline) }

// refersTo reports whether the process's command line names a path in dir
// (the engines' daemons, shims and conmon all name their state dirs).
func (p procInfo) refersTo(dir string) bool {
	for _, a := range p.cmdline {
		if strings.Contains(a, dir) {
			return true
		}
	}
	return false
}

func (p procInfo) isRunsc() bool {
	return runscPath != "" && strings.TrimSuffix(p.exe, " (deleted)") == runscPath
}

func listProcs() []procInfo {
	var ps []procInfo
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	self := os.Getpid()
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil || pid == self {
			continue
		}
		b, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil || len(b) == 0 {
			continue // gone, a zombie or a kernel thread
		}
		p := procInfo{pid: pid, cmdline: strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")}
		p.exe, _ = os.Readlink(filepath.Join(d, "exe"))
		if st, err := os.ReadFile(filepath.Join(d, "stat")); err == nil {
			if i := strings.LastIndexByte(string(st), ')'); i > 0 {
				if f := strings.Fields(string(st[i+1:])); len(f) > 1 {
					p.ppid, _ = strconv.Atoi(f[1])
				}
			}
		}
		ps = append(ps, p)
	}
	return ps
}

// killTree SIGKILLs p and its descendants among ps (a shim's runtime
// calls and containers, which would otherwise outlive it).
func killTree(ps []procInfo, p procInfo) {
	for _, c := range ps {
		if c.ppid == p.pid {
			killTree(ps, c)
		}
	}
	killProc(p)
}

// killProc SIGKILLs a process; for a containerd shim it also removes the
// socket it leaves in /run/containerd/s (see shimSocket).
func killProc(p procInfo) {
	syscall.Kill(p.pid, syscall.SIGKILL)
	if s := shimSocket(p); s != "" {
		os.Remove(s)
	}
}

// shimSocket returns the socket path that containerd 1.6 gives the shim of
// a container: /run/containerd/s/sha256(address/namespace/id), whatever the
// containerd's own state dir.
func shimSocket(p procInfo) string {
	if !strings.HasPrefix(filepath.Base(p.exe), "containerd-shim") {
		return ""
	}
	flags := map[string]string{}
	for i := 0; i+1 < len(p.cmdline); i++ {
		if strings.HasPrefix(p.cmdline[i], "-") {
			flags[strings.TrimLeft(p.cmdline[i], "-")] = p.cmdline[i+1]
		}
	}
	if flags["address"] == "" || flags["namespace"] == "" || flags["id"] == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(filepath.Join(flags["address"], flags["namespace"], flags["id"])))
	return "/run/containerd/s/" + hex.EncodeToString(sum[:])
}

// mountsUnder lists the mount points at or below dir, deepest last.
func mountsUnder(dir string) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var mps []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMount(f[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			mps = append(mps, mp)
		}
	}
	return mps
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space...).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// cgroupMountPoints lists the mount points of the host's cgroup
// hierarchies.
func cgroupMountPoints() []string {
	var mps []string
	for _, mp := range cgroupMounts() {
		mps = append(mps, mp)
	}
	sort.Strings(mps)
	return mps
}

type cgroupDir struct {
	path  string // on the host
	rel   string // relative to the parent asked for
	procs []int
}

// cgroupsBelow lists, in every hierarchy, the cgroups strictly below rel,
// children before their parents.
func cgroupsBelow(rel string) []cgroupDir {
	var out []cgroupDir
	for _, mp := range cgroupMountPoints() {
		top := filepath.Join(mp, rel)
		filepath.WalkDir(top, func(path string, de os.DirEntry, err error) error {
			if err != nil || !de.IsDir() || path == top {
				return nil
			}
			r, _ := filepath.Rel(top, path)
			cg := cgroupDir{path: path, rel: r}
			if b, err := os.ReadFile(filepath.Join(path, "cgroup.procs")); err == nil {
				for _, f := range strings.Fields(string(b)) {
					if pid, err := strconv.Atoi(f); err == nil {
						cg.procs = append(cg.procs, pid)
					}
				}
			}
			out = append(out, cg)
			return nil
		})
	}
	// Deeper first, so they can be removed in this order.
	sort.SliceStable(out, func(i, j int) bool {
		return strings.Count(out[i].path, "/") > strings.Count(out[j].path, "/")
	})
	return out
}

// describeCgroups describes the cgroups below rel (but those keep names),
// one line per relative path over all hierarchies.
func describeCgroups(rel string, keep func(string) bool) []string {
	type agg struct{ hier, procs int }
	m := map[string]*agg{}
	var order []string
	for _, cg := range cgroupsBelow(rel) {
		if keep(cg.rel) {
			continue
		}
		a := m[cg.rel]
		if a == nil {
			a = &agg{}
			m[cg.rel] = a
			order = append(order, cg.rel)
		}
		a.hier++
		a.procs = max(a.procs, len(cg.procs))
	}
	var out []string
	for _, r := range order {
		out = append(out, fmt.Sprintf("cgroup %s/%s (in %d hierarchies; %d processes)", rel, r, m[r].hier, m[r].procs))
	}
	return out
}

// removeCgroups kills the processes of the cgroups below rel and removes
// those cgroups (except the ones keep names); rel itself is removed too
// when keep is nil.
func removeCgroups(rel string, keep func(string) bool) {
	cgs := cgroupsBelow(rel)
	if keep == nil {
		for _, mp := range cgroupMountPoints() {
			if _, err := os.Stat(filepath.Join(mp, rel)); err == nil {
				cgs = append(cgs, cgroupDir{path: filepath.Join(mp, rel), rel: "."})
			}
		}
	}
	for _, cg := range cgs {
		if keep != nil && keep(cg.rel) {
			continue
		}
		// A frozen process cannot die.
		os.WriteFile(filepath.Join(cg.path, "freezer.state"), []byte("THAWED"), 0o644)
		for _, pid := range cg.procs {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		for i := 0; i < 50; i++ {
			if err := os.Remove(cg.path); err == nil || errors.Is(err, os.ErrNotExist) {
				break
			}
			time.Sleep(100 * time.Millisecond) // its killed processes are still exiting
		}
	}
}

// sweepDir removes what a run's engines left under dir, whatever killed
// them: processes that name dir (daemons, shims, conmon) are killed, and
// mounts below it are detached. keep lists pids to spare.
func sweepDir(dir string, keep []int) {
	ps := listProcs()
	for _, p := range ps {
		if p.refersTo(dir) && !contains(keep, p.pid) {
			killTree(ps, p)
		}
	}
	mps := mountsUnder(dir)
	for i := len(mps) - 1; i >= 0; i-- {
		unix.Unmount(mps[i], unix.MNT_DETACH)
	}
}

// sweepStaleWorkDir cleans up after a run that died before its TestMain
// cleanup (a test timeout, a kill): removeStaleWorkDirs calls it before it
// removes the directory.
func sweepStaleWorkDir(dir string) {
	sweepDir(dir, nil)
	removeCgroups("/"+filepath.Base(dir), nil)
	// podman's containers keep state in the runtime's default root (see
	// podman): let the runtimes drop what is left there.
	ids, _ := filepath.Glob(filepath.Join(dir, "podman", "root", "overlay-containers", "*"))
	for _, rt := range []string{runcBin, filepath.Join(dir, "runsc")} {
		for _, id := range ids {
			if _, err := os.Stat(rt); err == nil {
				run(opts{timeout: 10 * time.Second, dir: "/"}, rt, "delete", "--force", filepath.Base(id))
			}
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, hostDefaultsFile))
	removeHostDefaults(strings.Fields(string(b)))
}

// cleanupEngines runs at the end of the test binary, after the engines
// were stopped (atExit hooks run last-registered first, and this one is
// registered before any engine starts).
func cleanupEngines() {
	sweepStaleWorkDir(workDir)
}

// ---------------------------------------------------------------------------
// Host paths the engines create whatever they are told: containerd 1.6 puts
// every shim's socket in /run/containerd/s, dockerd 20.10 creates
// /run/docker/plugins, the containerd that dockerd starts creates
// /opt/containerd (its "opt" plugin), and `podman import` keeps a blob
// cache in /var/lib/containers/cache; podman leaves the runtime's state in
// the runtime's default root (see podman). Those that did not exist before
// the run are removed at its end if nothing else was put in them.

var hostDefaults = []string{
	"/run/runc",
	"/run/runsc",
	"/run/containerd/s",
	"/run/containerd/fifo",
	"/run/containerd",
	"/run/docker/plugins",
	"/run/docker",
	"/opt/containerd/bin",
	"/opt/containerd/lib",
	"/opt/containerd",
	"/var/lib/containers/cache/blob-info-cache-v1.boltdb",
	"/var/lib/containers/cache",
	"/var/lib/containers",
}

// hostDefaultsFile, in the work dir, lists the hostDefaults this run may
// create, so that the run's own cleanup (or the next run's, if this one is
// killed) can remove them.
const hostDefaultsFile = "host-defaults-new"

var hostDefaultsOnce sync.Once

// noteHostDefaults records which of hostDefaults are missing before the
// first engine starts.
func noteHostDefaults() {
	hostDefaultsOnce.Do(func() {
		var missing []string
		for _, p := range hostDefaults {
			if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
				missing = append(missing, p)
			}
		}
		os.WriteFile(filepath.Join(workDir, hostDefaultsFile), []byte(strings.Join(missing, "\n")), 0o644)
		atExit(cleanupEngines)
	})
}

// removeHostDefaults removes the paths (deepest first, as in hostDefaults)
// that are empty directories or the podman blob cache.
func removeHostDefaults(paths []string) {
	for _, p := range paths {
		if !contains(hostDefaults, p) { // only ever what the list names
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(os.Stderr, "e2e: leaving %s (created by an engine during the run): %v\n", p, err)
		}
	}
}

func jsonIndent(v any) ([]byte, error) { return json.MarshalIndent(v, "", "  ") }
