package tests

// Harness of the OCI CLI conformance tests (oci_*_test.go): the same
// assertions run against every runtime in VEIL_OCI_RUNTIMES (default
// "runc,runsc"). runc, Debian's /usr/sbin/runc, is the reference the tests
// are validated against; runsc is the runtime under test.
//
// Every command is run the way engines run it: global flags first
// (--root, --log FILE, --log-format json), stdio on files (never pipes
// the container could keep open), its own process group, a timeout that
// kills the group. Containers get unique ids and a t.Cleanup that
// force-deletes them and kills whatever host process they left behind.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const (
	// ociStopTimeout bounds how long a container may take to reach a
	// state after the command that causes it (kill, pause, ...).
	ociStopTimeout = 10 * time.Second
	// ociAnnotation is set in every test config; state must echo it.
	ociAnnotation = "org.veil.oci-test"
)

// ociRuntime is one OCI runtime binary with its own state root.
type ociRuntime struct {
	name string // "runc" or "runsc"
	path string // the binary
	root string // --root: this runtime's state directory for this test

	dir string // per-test directory: bundles, stdio files, logs
	log string // --log of every command (json format)
	seq atomic.Int64

	lastOut, lastErr string   // stdio files of the last command
	ids              []string // the container ids this test made
}

// ociOpts tune one CLI command.
type ociOpts struct {
	stdin      string     // data for stdin (default /dev/null)
	extraFiles []*os.File // fds 3, 4, ... of the command
	dir        string     // working directory (default the runtime's dir)
	timeout    time.Duration
	logFile    string // overrides the --log of every command
	logFormat  string // "text" or "json" (default json)
	quiet      bool   // do not t.Logf the command
}

// ociRuntimeNames returns the runtimes selected with VEIL_OCI_RUNTIMES.
func ociRuntimeNames() []string {
	v := os.Getenv("VEIL_OCI_RUNTIMES")
	if v == "" {
		v = "runc,runsc"
	}
	var names []string
	for _, n := range strings.Split(v, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	return names
}

// runcBinary finds the reference runtime.
func runcBinary() (string, error) {
	if p, err := exec.LookPath("runc"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/runc"); err == nil {
		return "/usr/sbin/runc", nil
	}
	return "", errors.New("runc not found (PATH, /usr/sbin/runc): the OCI tests use it as the reference runtime " +
		"and to generate default specs; install it with `apt-get install -y runc` (.ci/run does this)")
}

// forEachRuntime runs f as a subtest per selected runtime, each with a
// fresh state root.
func forEachRuntime(t *testing.T, f func(t *testing.T, rt *ociRuntime)) {
	for _, name := range ociRuntimeNames() {
		t.Run(name, func(t *testing.T) {
			rt := newOCIRuntime(t, name)
			f(t, rt)
		})
	}
}

func newOCIRuntime(t *testing.T, name string) *ociRuntime {
	t.Helper()
	var path string
	switch name {
	case "runsc":
		needRunsc(t)
		path = runscPath
	case "runc":
		p, err := runcBinary()
		if err != nil {
			t.Fatal(err)
		}
		path = p
	default:
		t.Fatalf("VEIL_OCI_RUNTIMES names unknown runtime %q (known: runc, runsc)", name)
	}
	// Short paths: a control socket under root/<id>/ must fit in
	// sockaddr_un (108 bytes).
	dir := filepath.Join(workDir, "o", nonce(t)[:8])
	rt := &ociRuntime{name: name, path: path, dir: dir, root: filepath.Join(dir, "root"), log: filepath.Join(dir, "log.json")}
	for _, d := range []string{rt.dir, filepath.Join(dir, "io")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The state root is the runtime's to create (runc creates it on its
	// first create), but an engine may have made it: make it, as engines do.
	if err := os.MkdirAll(rt.root, 0o711); err != nil {
		t.Fatal(err)
	}
	// Last resorts, in this order (cleanups run last-registered first):
	// force-delete whatever the test left in this root, then kill the
	// runsc processes the test started and nothing cleaned up.
	if name == "runsc" && strings.HasPrefix(runscPath, workDir+"/") {
		before := runscProcesses()
		t.Cleanup(func() { killNewRunscProcesses(t, before) })
	}
	t.Cleanup(func() { rt.sweep(t) })
	return rt
}

// killNewRunscProcesses kills (and reports) the processes of the runsc
// built for this run that appeared during a test and outlived its
// cleanups. Only for that binary: nobody else runs it.
func killNewRunscProcesses(t *testing.T, before []string) {
	var left []procID
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		left = left[:0]
		for _, p := range runscProcesses() {
			if slices.Contains(before, p) {
				continue
			}
			pid, _ := strconv.Atoi(strings.SplitN(p, ":", 2)[0])
			if id, ok := newProcID(pid); ok && id.alive() {
				left = append(left, id)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, p := range left {
		t.Errorf("runsc: process %d (%s) outlived the test and its cleanups; killing it", p.pid, p.cmdline())
		syscall.Kill(p.pid, syscall.SIGKILL)
	}
}

// cli runs one command of the runtime: `path --root R --log L
// --log-format F args...`.
func (rt *ociRuntime) cli(t *testing.T, o ociOpts, args ...string) *result {
	t.Helper()
	logFile, logFormat := rt.log, "json"
	if o.logFile != "" {
		logFile = o.logFile
	}
	if o.logFormat != "" {
		logFormat = o.logFormat
	}
	argv := append([]string{rt.path, "--root", rt.root, "--log", logFile, "--log-format", logFormat}, args...)
	r := rt.runArgv(t, o, argv)
	if !o.quiet {
		t.Logf("%s %s: exit %d in %v", rt.name, shellQuote(args), r.code, r.elapsed.Round(time.Millisecond))
	}
	return r
}

// ioFiles creates the stdout and stderr files of one command. They stay
// (the work dir goes at the end): a detached container keeps writing its
// output there.
func (rt *ociRuntime) ioFiles(t *testing.T) (stdout, stderr *os.File) {
	t.Helper()
	n := rt.seq.Add(1)
	var err error
	stdout, err = os.Create(filepath.Join(rt.dir, "io", fmt.Sprintf("%03d.out", n)))
	if err != nil {
		t.Fatal(err)
	}
	stderr, err = os.Create(filepath.Join(rt.dir, "io", fmt.Sprintf("%03d.err", n)))
	if err != nil {
		t.Fatal(err)
	}
	rt.lastOut, rt.lastErr = stdout.Name(), stderr.Name()
	return stdout, stderr
}

// runArgv runs argv with stdio on files, in its own process group, and
// kills the group if it outlives the timeout.
func (rt *ociRuntime) runArgv(t *testing.T, o ociOpts, argv []string) *result {
	t.Helper()
	if o.timeout == 0 {
		o.timeout = defaultTimeout
	}
	if o.dir == "" {
		o.dir = rt.dir
	}
	r := &result{args: argv, dir: o.dir, code: -1}
	cmd, stdout, stderr := rt.command(t, o, argv)
	defer stdout.Close()
	defer stderr.Close()
	if runTimed(cmd, o.timeout, r) {
		r.stdout, r.stderr = readAll(stdout), readAll(stderr)
	}
	return r
}

// command prepares argv with stdio on fresh files.
func (rt *ociRuntime) command(t *testing.T, o ociOpts, argv []string) (*exec.Cmd, *os.File, *os.File) {
	t.Helper()
	stdout, stderr := rt.ioFiles(t)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = o.dir
	if cmd.Dir == "" {
		cmd.Dir = rt.dir
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if o.stdin != "" {
		in := filepath.Join(rt.dir, "io", fmt.Sprintf("%03d.in", rt.seq.Add(1)))
		if err := os.WriteFile(in, []byte(o.stdin), 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(in)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		cmd.Stdin = f
	}
	cmd.ExtraFiles = o.extraFiles
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd, stdout, stderr
}

func readAll(f *os.File) string {
	b, _ := os.ReadFile(f.Name())
	return string(b)
}

// logTail returns the end of the runtime's own log, for failure messages.
func (rt *ociRuntime) logTail() string {
	b, err := os.ReadFile(rt.log)
	if err != nil {
		return "  (no --log file: " + err.Error() + ")"
	}
	s := string(b)
	if len(s) > 3000 {
		s = "..." + s[len(s)-3000:]
	}
	return "  --- " + rt.log + " (end) ---\n" + indent(s)
}

// must fails the test unless r exited 0.
func (rt *ociRuntime) must(t *testing.T, r *result, what string) {
	t.Helper()
	if r.startErr != nil || r.timedOut || r.code != 0 {
		t.Fatalf("%s: %s failed%s\n%s", rt.name, what, r, rt.logTail())
	}
}

// ok runs a command that must succeed and returns its stdout.
func (rt *ociRuntime) ok(t *testing.T, args ...string) string {
	t.Helper()
	r := rt.cli(t, ociOpts{}, args...)
	rt.must(t, r, "`"+shellQuote(args)+"`")
	return r.stdout
}

// sweep force-deletes every container still listed in the root.
func (rt *ociRuntime) sweep(t *testing.T) {
	r := rt.cli(t, ociOpts{quiet: true, timeout: 10 * time.Second}, "list", "-q")
	if r.code != 0 {
		return
	}
	for _, id := range strings.Fields(r.stdout) {
		rt.cli(t, ociOpts{quiet: true, timeout: 10 * time.Second}, "delete", "--force", id)
	}
}

// ---- bundles ----

var (
	ociTemplateOnce sync.Once
	ociTemplateErr  error
	ociSpecJSON     []byte // config.json written by `runc spec`
	ociRootfsDir    string // busybox rootfs template
	ociApplets      []string
)

// ociTemplates makes, once, the default spec (`runc spec`: namespaces,
// /proc /dev /sys mounts, capabilities, rlimits, masked paths... as engines
// send) and a busybox rootfs template.
func ociTemplates(t *testing.T) {
	t.Helper()
	ociTemplateOnce.Do(func() { ociTemplateErr = makeOCITemplates() })
	if ociTemplateErr != nil {
		t.Fatalf("preparing OCI bundles: %v", ociTemplateErr)
	}
}

func makeOCITemplates() error {
	runc, err := runcBinary()
	if err != nil {
		return err
	}
	dir := filepath.Join(workDir, "oci-template")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if out, err := exec.Command(runc, "spec", "--bundle", dir).CombinedOutput(); err != nil {
		return fmt.Errorf("`runc spec --bundle %s`: %v\n%s", dir, err, out)
	}
	ociSpecJSON, err = os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return err
	}
	list, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		return fmt.Errorf("`%s --list`: %v", busybox, err)
	}
	for _, a := range strings.Fields(string(list)) {
		if a != "busybox" && !strings.Contains(a, "/") {
			ociApplets = append(ociApplets, a)
		}
	}
	ociRootfsDir = filepath.Join(dir, "rootfs")
	if err := os.MkdirAll(filepath.Join(ociRootfsDir, "bin"), 0o755); err != nil {
		return err
	}
	in, err := os.ReadFile(busybox)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(ociRootfsDir, "bin", "busybox"), in, 0o755)
}

// ociBundle is a bundle directory: config.json, rootfs/ and out/ (a
// host directory bind-mounted read-write at /out in the container).
type ociBundle struct {
	dir    string
	out    string // host side of /out
	rootfs string
	spec   *specs.Spec
}

type bundleOpts struct {
	terminal  bool
	writable  bool              // root.readonly=false (the runc default is true)
	noOut     bool              // no /out bind mount
	edit      func(*specs.Spec) // last changes to the spec
	extraDirs []string          // directories to create in the rootfs
}

// newBundle writes a bundle whose process runs args, from the default
// spec of `runc spec`.
func (rt *ociRuntime) newBundle(t *testing.T, o bundleOpts, args ...string) *ociBundle {
	t.Helper()
	ociTemplates(t)
	b := &ociBundle{dir: filepath.Join(rt.dir, "b-"+nonce(t)[:8])}
	b.rootfs = filepath.Join(b.dir, "rootfs")
	b.out = filepath.Join(b.dir, "out")
	dirs := append([]string{"bin", "tmp", "etc", "root", "proc", "dev", "sys", "out"}, o.extraDirs...)
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(b.rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(b.rootfs, "tmp"), 0o1777); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(b.out, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(b.out, 0o777); err != nil {
		t.Fatal(err)
	}
	bb := filepath.Join(b.rootfs, "bin", "busybox")
	if err := os.Link(filepath.Join(ociRootfsDir, "bin", "busybox"), bb); err != nil {
		copyFile(t, busybox, bb, 0o755)
	}
	for _, a := range ociApplets {
		if err := os.Symlink("busybox", filepath.Join(b.rootfs, "bin", a)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(b.rootfs, "etc", "passwd"),
		[]byte("root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/tmp:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	var spec specs.Spec
	if err := json.Unmarshal(ociSpecJSON, &spec); err != nil {
		t.Fatalf("the spec of `runc spec` does not parse: %v", err)
	}
	spec.Process.Terminal = o.terminal
	spec.Process.Args = args
	spec.Root.Readonly = !o.writable
	spec.Hostname = "veil-oci"
	spec.Annotations = map[string]string{ociAnnotation: t.Name()}
	if !o.noOut {
		spec.Mounts = append(spec.Mounts, specs.Mount{
			Destination: "/out", Type: "bind", Source: b.out, Options: []string{"rbind", "rw"},
		})
	}
	if o.edit != nil {
		o.edit(&spec)
	}
	b.spec = &spec
	writeJSON(t, filepath.Join(b.dir, "config.json"), &spec)
	return b
}

// readOut reads a file the container wrote under /out.
func (b *ociBundle) readOut(name string) string {
	s, _ := os.ReadFile(filepath.Join(b.out, name))
	return string(s)
}

// ---- containers ----

// procID is a host process, told apart from a later one with its pid.
type procID struct {
	pid   int
	start string // field 22 of /proc/PID/stat
}

func procStart(pid int) (start string, state byte, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return "", 0, false
	}
	return f[19], f[0][0], true
}

func newProcID(pid int) (procID, bool) {
	start, _, ok := procStart(pid)
	return procID{pid, start}, ok
}

// alive: the process exists and is not a zombie.
func (p procID) alive() bool {
	start, state, ok := procStart(p.pid)
	return ok && start == p.start && state != 'Z' && state != 'X'
}

func (p procID) cmdline() string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(p.pid) + "/cmdline")
	return strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " ")
}

// ociContainer is one container of a runtime, with what was seen of it on
// the host (its processes and cgroups) to check and clean up.
type ociContainer struct {
	rt     *ociRuntime
	id     string
	b      *ociBundle
	seen   map[procID]bool
	cgDirs map[string]bool // cgroups its host processes were seen in
	cgPre  map[string]bool // cgroup directories before it was created
	stdout string          // stdio files of the create / run -d command
	stderr string
	fg     *ociBG // a foreground `run` of the container, if any
}

// newContainer names a container and registers its cleanup.
func (rt *ociRuntime) newContainer(t *testing.T, b *ociBundle, name string) *ociContainer {
	t.Helper()
	c := &ociContainer{rt: rt, id: name + "-" + nonce(t)[:8], b: b, seen: map[procID]bool{}, cgDirs: map[string]bool{}, cgPre: cgroupDirSet()}
	rt.ids = append(rt.ids, c.id)
	t.Cleanup(func() { c.destroy(t) })
	return c
}

// destroy force-deletes the container and removes what it left: host
// processes, cgroups, mounts under its bundle.
func (c *ociContainer) destroy(t *testing.T) {
	c.rt.cli(t, ociOpts{quiet: true, timeout: 10 * time.Second}, "delete", "--force", c.id)
	var procs []procID
	for p := range c.seen {
		procs = append(procs, p)
	}
	if c.rt.name == "runsc" {
		for _, p := range runscProcesses() {
			if strings.Contains(p, c.id) || (c.b != nil && strings.Contains(p, c.b.dir)) {
				pid, _ := strconv.Atoi(strings.SplitN(p, ":", 2)[0])
				if id, ok := newProcID(pid); ok {
					procs = append(procs, id)
				}
			}
		}
	}
	for _, p := range procs {
		if p.alive() {
			t.Logf("cleanup: killing pid %d (%s) left by container %s", p.pid, p.cmdline(), c.id)
			syscall.Kill(p.pid, syscall.SIGKILL)
		}
	}
	// Processes die asynchronously; cgroups can go only once they are empty.
	waitGone(procs, 5*time.Second)
	removeCgroupDirs(t, c.ownCgroups(), c.id)
	if c.b != nil {
		unmountUnder(t, c.b.dir)
	}
}

func waitGone(procs []procID, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		alive := false
		for _, p := range procs {
			if p.alive() {
				alive = true
			}
		}
		if !alive {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ownCgroups returns the cgroups the container's host processes were seen
// in that were made for it: absent before its creation, or named after it.
func (c *ociContainer) ownCgroups() []string {
	var own []string
	for d := range c.cgDirs {
		if !c.cgPre[d] || strings.Contains(d, c.id) {
			own = append(own, d)
		}
	}
	sort.Strings(own)
	return own
}

// removeCgroupDirs removes, deepest first, cgroup directories and their
// children.
func removeCgroupDirs(t *testing.T, dirs []string, id string) {
	var all []string
	for _, d := range dirs {
		filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				all = append(all, p)
			}
			return nil
		})
	}
	sort.Slice(all, func(i, j int) bool { return len(all[i]) > len(all[j]) })
	for _, d := range all {
		if err := os.Remove(d); err == nil {
			t.Logf("cleanup: removed cgroup %s left by container %s", d, id)
		}
	}
}

// unmountUnder detaches mounts of the host namespace below dir (a leak
// must not make the work dir's removal walk into a bind-mounted tree).
func unmountUnder(t *testing.T, dir string) {
	for _, m := range mountPoints() {
		if m == dir || strings.HasPrefix(m, dir+"/") {
			if err := unix.Unmount(m, unix.MNT_DETACH); err == nil {
				t.Logf("cleanup: unmounted %s", m)
			}
		}
	}
}

// create runs `create --bundle B [extra...] ID` and requires success.
func (c *ociContainer) create(t *testing.T, extra ...string) {
	t.Helper()
	args := append(append([]string{"create", "--bundle", c.b.dir}, extra...), c.id)
	r := c.launch(t, ociOpts{}, args...)
	c.rt.must(t, r, "create")
}

// launch runs a command that leaves the container behind (create, run
// -d) and remembers its stdio files, which the container inherits.
func (c *ociContainer) launch(t *testing.T, o ociOpts, args ...string) *result {
	t.Helper()
	r := c.rt.cli(t, o, args...)
	c.stdout, c.stderr = c.rt.lastOut, c.rt.lastErr
	return r
}

// output is what the container's init wrote to its stdio so far.
func (c *ociContainer) output() string {
	o, _ := os.ReadFile(c.stdout)
	e, _ := os.ReadFile(c.stderr)
	return fmt.Sprintf("\n  --- container stdout ---\n%s\n  --- container stderr ---\n%s", indent(string(o)), indent(string(e)))
}

// createStart creates and starts the container and waits for "running".
func (c *ociContainer) createStart(t *testing.T) ociState {
	t.Helper()
	c.create(t)
	c.rt.must(t, c.rt.cli(t, ociOpts{}, "start", c.id), "start")
	return c.waitStatus(t, "running")
}

// ociState is the OCI state of a container, as `state` prints it.
type ociState struct {
	OCIVersion  string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Status      string            `json:"status"`
	Pid         int               `json:"pid"`
	Bundle      string            `json:"bundle"`
	Annotations map[string]string `json:"annotations"`
}

// parseState decodes `state` output and checks the field types of the
// OCI state schema exactly.
func parseState(out string) (ociState, error) {
	var st ociState
	var raw map[string]any
	d := json.NewDecoder(strings.NewReader(out))
	d.UseNumber()
	if err := d.Decode(&raw); err != nil {
		return st, fmt.Errorf("state output is not a JSON object: %v", err)
	}
	if d.More() {
		return st, errors.New("state output has data after the JSON object")
	}
	for _, k := range []string{"ociVersion", "id", "status", "bundle"} {
		v, ok := raw[k]
		if !ok {
			return st, fmt.Errorf("state has no %q field", k)
		}
		if s, ok := v.(string); !ok || s == "" {
			return st, fmt.Errorf("state field %q is %#v, want a non-empty string", k, v)
		}
	}
	if v, ok := raw["pid"]; ok {
		n, isNum := v.(json.Number)
		if !isNum {
			return st, fmt.Errorf("state field \"pid\" is %#v, want an integer", v)
		}
		if _, err := n.Int64(); err != nil {
			return st, fmt.Errorf("state field \"pid\" is %v, want an integer", n)
		}
	}
	if v, ok := raw["annotations"]; ok && v != nil {
		m, isObj := v.(map[string]any)
		if !isObj {
			return st, fmt.Errorf("state field \"annotations\" is %#v, want an object", v)
		}
		for k, av := range m {
			if _, ok := av.(string); !ok {
				return st, fmt.Errorf("annotation %q is %#v, want a string", k, av)
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return st, err
	}
	switch st.Status {
	case "creating", "created", "running", "paused", "stopped":
	default:
		return st, fmt.Errorf("state status %q is not an OCI status", st.Status)
	}
	if (st.Status == "created" || st.Status == "running" || st.Status == "paused") && st.Pid <= 0 {
		return st, fmt.Errorf("state is %q with pid %d, want pid > 0", st.Status, st.Pid)
	}
	return st, nil
}

// state returns the container's state; failures are fatal.
func (c *ociContainer) state(t *testing.T) ociState {
	t.Helper()
	r := c.rt.cli(t, ociOpts{quiet: true}, "state", c.id)
	c.rt.must(t, r, "state")
	st, err := parseState(r.stdout)
	if err != nil {
		t.Fatalf("%s: %v%s", c.rt.name, err, r)
	}
	if st.ID != c.id {
		t.Fatalf("%s: state id is %q, want %q%s", c.rt.name, st.ID, c.id, r)
	}
	c.note(st)
	return st
}

// note records the host process of a state and the cgroups it is in.
func (c *ociContainer) note(st ociState) {
	if st.Pid <= 0 || st.Status == "stopped" {
		return
	}
	if p, ok := newProcID(st.Pid); ok && !c.seen[p] {
		c.seen[p] = true
		for _, d := range procCgroupDirs(st.Pid) {
			c.cgDirs[d] = true
		}
	}
}

// waitStatus polls state until it reports want.
func (c *ociContainer) waitStatus(t *testing.T, want string) ociState {
	t.Helper()
	var st ociState
	var last string
	deadline := time.Now().Add(ociStopTimeout)
	for {
		r := c.rt.cli(t, ociOpts{quiet: true}, "state", c.id)
		if r.code == 0 {
			var err error
			st, err = parseState(r.stdout)
			if err != nil {
				t.Fatalf("%s: %v%s", c.rt.name, err, r)
			}
			c.note(st)
			if st.Status == want {
				return st
			}
			last = st.Status
		} else {
			last = fmt.Sprintf("state failed:%s", r)
		}
		if c.fg != nil && !c.fg.running() && c.fg.r.code != 0 && want != "stopped" {
			t.Fatalf("%s: the foreground run of %s ended before the container became %q (last state: %s)%s\n%s",
				c.rt.name, c.id, want, last, c.fg.r, c.rt.logTail())
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: container %s did not become %q within %v; last: %s%s\n%s",
				c.rt.name, c.id, want, ociStopTimeout, last, c.output(), c.rt.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// gone checks that `state` says the container does not exist.
func (c *ociContainer) gone(t *testing.T) {
	t.Helper()
	r := c.rt.cli(t, ociOpts{quiet: true}, "state", c.id)
	if r.code == 0 || r.timedOut {
		t.Fatalf("%s: state of deleted container %s should fail%s", c.rt.name, c.id, r)
	}
	if !strings.Contains(r.stderr, "does not exist") {
		t.Errorf("%s: state of a deleted container should say \"does not exist\"%s", c.rt.name, r)
	}
}

// hostProcsGone checks that no host process seen for the container is
// left (and, for runsc, no runsc process naming it).
func (c *ociContainer) hostProcsGone(t *testing.T) {
	t.Helper()
	var procs []procID
	for p := range c.seen {
		procs = append(procs, p)
	}
	if !waitGone(procs, 5*time.Second) {
		var left []string
		for _, p := range procs {
			if p.alive() {
				left = append(left, fmt.Sprintf("%d (%s)", p.pid, p.cmdline()))
			}
		}
		t.Errorf("%s: host processes of container %s still alive: %s", c.rt.name, c.id, strings.Join(left, ", "))
	}
	if c.rt.name == "runsc" {
		for _, p := range runscProcesses() {
			if strings.Contains(p, c.id) {
				t.Errorf("runsc: process naming container %s still running: %s", c.id, p)
			}
		}
	}
}

// cgroupsGone checks that the cgroups made for the container (see
// ownCgroups) are gone, and that no cgroup is named after it.
func (c *ociContainer) cgroupsGone(t *testing.T) {
	t.Helper()
	for _, d := range c.ownCgroups() {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("%s: cgroup %s of deleted container %s still exists", c.rt.name, d, c.id)
		}
	}
	if cg := cgroupDirsNaming(c.id); len(cg) > 0 {
		t.Errorf("%s: cgroups naming deleted container %s still exist: %q", c.rt.name, c.id, cg)
	}
}

// listIDs returns `list -q`, sorted.
func (rt *ociRuntime) listIDs(t *testing.T) []string {
	t.Helper()
	out := rt.ok(t, "list", "-q")
	ids := strings.Fields(out)
	sort.Strings(ids)
	return ids
}

// ociListEntry is one object of `list --format json`.
type ociListEntry struct {
	ID     string `json:"id"`
	Pid    int    `json:"pid"`
	Status string `json:"status"`
	Bundle string `json:"bundle"`
}

// listJSON returns `list --format json`. runc prints `null` for no
// containers; an empty array is as good.
func (rt *ociRuntime) listJSON(t *testing.T) []ociListEntry {
	t.Helper()
	out := rt.ok(t, "list", "--format", "json")
	var l []ociListEntry
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("%s: `list --format json` is not a JSON array: %v\n%s", rt.name, err, indent(out))
	}
	var raw []map[string]any
	json.Unmarshal([]byte(out), &raw)
	for i, e := range raw {
		for _, k := range []string{"id", "pid", "status", "bundle"} {
			if _, ok := e[k]; !ok {
				t.Fatalf("%s: `list --format json` entry %d has no %q field\n%s", rt.name, i, k, indent(out))
			}
		}
	}
	sort.Slice(l, func(i, j int) bool { return l[i].ID < l[j].ID })
	return l
}

// psPids returns `ps --format json ID`: a JSON array of pids.
func (c *ociContainer) psPids(t *testing.T) []int {
	t.Helper()
	out := c.rt.ok(t, "ps", "--format", "json", c.id)
	var pids []int
	if err := json.Unmarshal([]byte(out), &pids); err != nil {
		t.Fatalf("%s: `ps --format json` is not a JSON array of integers: %v\n%s", c.rt.name, err, indent(out))
	}
	return pids
}

// exec runs `exec ARGS... ID CMD...` in the foreground.
func (c *ociContainer) exec(t *testing.T, o ociOpts, flags []string, argv ...string) *result {
	t.Helper()
	args := append(append(append([]string{"exec"}, flags...), c.id), argv...)
	return c.rt.cli(t, o, args...)
}

// waitFile polls until the container wrote a file under /out that
// satisfies ok.
func (c *ociContainer) waitFile(t *testing.T, name string, what string, ok func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(ociStopTimeout)
	for {
		s := c.b.readOut(name)
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: within %v, /out/%s never showed %s; it holds %q%s\n%s",
				c.rt.name, ociStopTimeout, name, what, s, c.output(), c.rt.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ---- errors ----

// checkCLIError requires a clean failure: non-zero exit, no crash, no
// timeout, exactly one non-empty line on stderr. It returns that line.
func checkCLIError(t *testing.T, rt *ociRuntime, r *result, what string) string {
	t.Helper()
	if r.startErr != nil || r.timedOut {
		t.Errorf("%s: %s: did not run cleanly%s", rt.name, what, r)
		return ""
	}
	if r.signal != 0 {
		t.Errorf("%s: %s: killed by signal %v%s", rt.name, what, r.signal, r)
		return ""
	}
	if r.code == 0 {
		t.Errorf("%s: %s: exit code 0, want non-zero%s", rt.name, what, r)
	}
	if strings.Contains(r.stderr, "panic:") || strings.Contains(r.stderr, "goroutine ") {
		t.Errorf("%s: %s: Go panic%s", rt.name, what, r)
	}
	var lines []string
	for _, l := range strings.Split(r.stderr, "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 {
		t.Errorf("%s: %s: stderr should be exactly one non-empty line, it has %d%s", rt.name, what, len(lines), r)
		if len(lines) == 0 {
			return ""
		}
	}
	return lines[0]
}

var textMsgRE = regexp.MustCompile(`(?:^|\s)msg=("(?:[^"\\]|\\.)*"|\S+)`)

// logErrors returns the messages of the error entries of a --log file in
// the given format, and the lines that are not valid entries.
func logErrors(path, format string) (msgs, bad []string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		switch format {
		case "json":
			var e map[string]any
			if json.Unmarshal([]byte(line), &e) != nil {
				bad = append(bad, line)
				continue
			}
			msg, _ := e["msg"].(string)
			if lv, _ := e["level"].(string); (lv == "error" || lv == "fatal") && msg != "" {
				msgs = append(msgs, msg)
			}
		case "text":
			if !strings.Contains(line, "level=") || !strings.Contains(line, "msg=") {
				bad = append(bad, line)
				continue
			}
			if !strings.Contains(line, "level=error") && !strings.Contains(line, "level=fatal") {
				continue
			}
			m := textMsgRE.FindStringSubmatch(line)
			if m == nil {
				bad = append(bad, line)
				continue
			}
			msg := m[1]
			if strings.HasPrefix(msg, `"`) {
				if u, err := strconv.Unquote(msg); err == nil {
					msg = u
				}
			}
			msgs = append(msgs, msg)
		}
	}
	return msgs, bad, sc.Err()
}

// checkLoggedError requires the --log file (in format) to hold an error
// entry whose message is the one on stderr.
func checkLoggedError(t *testing.T, rt *ociRuntime, path, format, stderrLine, what string) {
	t.Helper()
	msgs, bad, err := logErrors(path, format)
	content, _ := os.ReadFile(path)
	if err != nil {
		t.Errorf("%s: %s: reading --log %s: %v", rt.name, what, path, err)
		return
	}
	if len(bad) > 0 {
		t.Errorf("%s: %s: --log-format %s file has lines that are not %s log entries: %q", rt.name, what, format, format, bad)
	}
	for _, m := range msgs {
		if stderrLine != "" && strings.Contains(stderrLine, m) {
			return
		}
	}
	t.Errorf("%s: %s: no level=error entry in the --log file (format %s) whose msg is the stderr message %q; file:\n%s",
		rt.name, what, format, stderrLine, indent(string(content)))
}

// ---- commands in the background ----

// ociBG is a CLI command running in the background (a foreground `run`,
// `wait`).
type ociBG struct {
	rt     *ociRuntime
	cmd    *exec.Cmd
	r      *result
	done   chan struct{}
	stdout *os.File
	stderr *os.File
	start  time.Time
}

// startCLI starts a command of the runtime and returns at once; it is
// killed (with its process group) at the end of the test if still running.
func (rt *ociRuntime) startCLI(t *testing.T, o ociOpts, args ...string) *ociBG {
	t.Helper()
	argv := append([]string{rt.path, "--root", rt.root, "--log", rt.log, "--log-format", "json"}, args...)
	cmd, stdout, stderr := rt.command(t, o, argv)
	g := &ociBG{rt: rt, cmd: cmd, done: make(chan struct{}), stdout: stdout, stderr: stderr,
		r: &result{args: argv, dir: cmd.Dir, code: -1}}
	g.start = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: starting %s: %v", rt.name, shellQuote(args), err)
	}
	g.r.pid = cmd.Process.Pid
	t.Logf("%s %s: started in the background (pid %d)", rt.name, shellQuote(args), g.r.pid)
	go func() {
		cmd.Wait()
		g.r.elapsed = time.Since(g.start)
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok {
			switch {
			case ws.Exited():
				g.r.code = ws.ExitStatus()
			case ws.Signaled():
				g.r.signal = ws.Signal()
				g.r.code = 128 + int(ws.Signal())
			}
		}
		g.r.stdout, g.r.stderr = readAll(stdout), readAll(stderr)
		stdout.Close()
		stderr.Close()
		close(g.done)
	}()
	t.Cleanup(func() {
		syscall.Kill(-g.r.pid, syscall.SIGKILL)
		<-g.done
	})
	return g
}

// running reports whether the command is still running.
func (g *ociBG) running() bool {
	select {
	case <-g.done:
		return false
	default:
		return true
	}
}

// wait waits up to d for the command to end (killing its process group
// after that) and returns its result.
func (g *ociBG) wait(t *testing.T, d time.Duration) *result {
	t.Helper()
	select {
	case <-g.done:
	case <-time.After(d):
		g.r.timedOut = true
		syscall.Kill(-g.r.pid, syscall.SIGKILL)
		<-g.done
	}
	t.Logf("%s (background pid %d): exit %d after %v", g.rt.name, g.r.pid, g.r.code, g.r.elapsed.Round(time.Millisecond))
	return g.r
}
