package tests

import (
	"bytes"
	"context"
	"crypto/rand"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const (
	// busybox is Debian's busybox-static; the host root (and so this file)
	// is visible inside `runsc do`.
	busybox = "/bin/busybox"
	// defaultTimeout bounds every single command the tests run (unless a
	// test asks for more); a hanging sandbox must not eat the whole
	// `go test -timeout`.
	defaultTimeout = 20 * time.Second
	// workParent holds the per-run work directory. Not /tmp: the sandbox
	// hides the host's /tmp behind a fresh tmpfs.
	workParent = "/var/tmp"
	workPrefix = "veil-e2e-"
)

var (
	repoRoot string // the repository root (where go.mod is)
	testsDir string // this package's directory
	workDir  string // per-run directory under /var/tmp, removed at the end
	binDir   string // built test programs
	stateDir string // --root for `runsc run`

	runscPath     string // the runsc built for this run
	runscBuildErr error  // set when runsc did not build; tests needing it fail with it
)

func TestMain(m *testing.M) {
	code := 1
	func() {
		defer cleanup()
		if err := setup(); err != nil {
			fmt.Fprintf(os.Stderr, "\ne2e setup failed: %v\n\n", err)
			return
		}
		code = m.Run()
	}()
	os.Exit(code)
}

// exitHooks run when the test binary ends, last registered first, before
// workDir is removed: the engine daemons that tests start once per run
// (engine_harness_test.go) are stopped there.
var exitHooks []func()

func atExit(f func()) { exitHooks = append(exitHooks, f) }

func cleanup() {
	for i := len(exitHooks) - 1; i >= 0; i-- {
		exitHooks[i]()
	}
	if workDir != "" {
		os.RemoveAll(workDir)
	}
}

func setup() error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	testsDir = wd
	repoRoot = filepath.Dir(wd)
	gomod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil || !bytes.Contains(gomod, []byte("module github.com/veil-sandbox/veil")) {
		return fmt.Errorf("cannot find the veil repository root above %s (run the tests from the tests directory, e.g. `go test ./tests/` at the root)", wd)
	}

	// Tools the tests depend on. CI (.ci/run) installs them; a missing one
	// is an environment error, reported loudly instead of skipping tests.
	if _, err := exec.LookPath("gcc"); err != nil {
		return errors.New("gcc not found in PATH: the e2e tests build static C programs; " +
			"install it with `apt-get install -y gcc libc6-dev` (.ci/run does this)")
	}
	if err := checkStaticBusybox(); err != nil {
		return err
	}

	removeStaleWorkDirs()
	workDir, err = os.MkdirTemp(workParent, workPrefix)
	if err != nil {
		return fmt.Errorf("creating the work directory under %s: %v", workParent, err)
	}
	if err := os.Chmod(workDir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(workDir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return err
	}
	binDir = filepath.Join(workDir, "bin")
	stateDir = filepath.Join(workDir, "state")
	for _, d := range []string{binDir, stateDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}

	// runsc itself: a build failure is a failure of the runtime under
	// test, reported by every test that needs it. VEIL_E2E_RUNSC=PATH
	// tests a prebuilt runsc instead (it must not live under /tmp).
	if p := os.Getenv("VEIL_E2E_RUNSC"); p != "" {
		runscPath, err = filepath.Abs(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "e2e: testing %s (from VEIL_E2E_RUNSC)\n", runscPath)
	} else {
		runscPath = filepath.Join(workDir, "runsc")
		if out, err := command(repoRoot, []string{"CGO_ENABLED=0"}, "go", "build", "-o", runscPath, "./runsc"); err != nil {
			runscBuildErr = fmt.Errorf("`go build -o %s ./runsc` failed: %v\n%s", runscPath, err, out)
			fmt.Fprintf(os.Stderr, "e2e: %v\n", runscBuildErr)
		}
	}

	// Test programs: a build failure here is a bug in the tests.
	srcs, err := filepath.Glob(filepath.Join(testsDir, "testdata", "c", "*.c"))
	if err != nil || len(srcs) == 0 {
		return fmt.Errorf("no C test programs found in testdata/c: %v", err)
	}
	for _, src := range srcs {
		name := strings.TrimSuffix(filepath.Base(src), ".c")
		if out, err := command(testsDir, nil, "gcc", "-static", "-O1", "-pthread", "-Wall",
			"-o", filepath.Join(binDir, name), src); err != nil {
			return fmt.Errorf("building test program %s: %v\n%s\n(is libc6-dev installed? static linking needs libc.a)", src, err, out)
		}
	}
	for _, g := range []string{"goprog", "gonet"} {
		if out, err := command(testsDir, []string{"CGO_ENABLED=0"}, "go", "build", "-o",
			filepath.Join(binDir, g), "./testdata/"+g); err != nil {
			return fmt.Errorf("building testdata/%s: %v\n%s", g, err, out)
		}
	}
	return nil
}

// command runs a build step and returns its combined output.
func command(dir string, env []string, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	return cmd.CombinedOutput()
}

func checkStaticBusybox() error {
	f, err := elf.Open(busybox)
	if err != nil {
		return fmt.Errorf("%s is missing or not an ELF file (%v): install Debian's busybox-static "+
			"with `apt-get install -y busybox-static` (.ci/run does this)", busybox, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked: the e2e tests expect the static build, "+
				"install it with `apt-get install -y busybox-static`", busybox)
		}
	}
	return nil
}

// removeStaleWorkDirs deletes work directories left by runs that were
// killed (a test timeout or a panic skips TestMain's cleanup).
func removeStaleWorkDirs() {
	dirs, _ := filepath.Glob(filepath.Join(workParent, workPrefix+"*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "owner.pid"))
		if errors.Is(err, os.ErrNotExist) {
			// A run writes owner.pid right after creating its directory; a
			// directory that has lost it was half removed (mount points
			// stop os.RemoveAll) by a test binary that did not sweep.
			if st, err := os.Stat(d); err == nil && time.Since(st.ModTime()) > time.Minute {
				sweepStaleWorkDir(d)
				os.RemoveAll(d)
			}
			continue
		}
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			continue
		}
		if !alive(pid) {
			sweepStaleWorkDir(d) // engines, shims, mounts, cgroups it left
			os.RemoveAll(d)
		}
	}
}

// alive reports whether pid runs. A zombie does not: here pid 1 may be slow
// to reap a killed test binary whose parent is gone.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	i := bytes.LastIndexByte(st, ')')
	return i < 0 || i+2 >= len(st) || st[i+2] != 'Z'
}

// prog returns the path of a built test program.
func prog(name string) string { return filepath.Join(binDir, name) }

// nonce returns a random hex string for unique names.
func nonce(t *testing.T) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// result is the outcome of one command.
type result struct {
	args     []string
	dir      string
	stdout   string
	stderr   string
	code     int            // exit code; for death by signal N, 128+N (as runsc reports it)
	signal   syscall.Signal // the signal that killed the process, if any
	timedOut bool
	startErr error
	elapsed  time.Duration
	pid      int // host pid of the started process
}

// String describes the run for failure messages, with both output streams.
func (r *result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n  command: %s", shellQuote(r.args))
	if r.dir != "" {
		fmt.Fprintf(&b, "\n  dir:     %s", r.dir)
	}
	switch {
	case r.startErr != nil:
		fmt.Fprintf(&b, "\n  result:  did not start: %v", r.startErr)
	case r.timedOut:
		fmt.Fprintf(&b, "\n  result:  TIMED OUT after %v (process group killed)", r.elapsed.Round(time.Millisecond))
	case r.signal != 0:
		fmt.Fprintf(&b, "\n  result:  killed by signal %d (%v) after %v", int(r.signal), r.signal, r.elapsed.Round(time.Millisecond))
	default:
		fmt.Fprintf(&b, "\n  result:  exit code %d after %v", r.code, r.elapsed.Round(time.Millisecond))
	}
	fmt.Fprintf(&b, "\n  --- stdout (%d bytes) ---\n%s", len(r.stdout), indent(clip(r.stdout)))
	fmt.Fprintf(&b, "\n  --- stderr (%d bytes) ---\n%s", len(r.stderr), indent(clip(r.stderr)))
	b.WriteString("\n  ---")
	return b.String()
}

func clip(s string) string {
	const max = 6000
	if len(s) <= max {
		return s
	}
	return s[:max/2] + fmt.Sprintf("\n[... %d bytes cut ...]\n", len(s)-max) + s[len(s)-max/2:]
}

func indent(s string) string {
	if s == "" {
		return "    (empty)"
	}
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "    " + l
	}
	out := strings.Join(lines, "\n")
	if !strings.HasSuffix(s, "\n") {
		out += "\n    (no newline at end)"
	}
	return out
}

func shellQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a != "" && !strings.ContainsAny(a, " \t\n'\"\\$`;&|<>()*?[]{}!#~") {
			q[i] = a
		} else {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(q, " ")
}

// opts tune a run.
type opts struct {
	stdin   string        // data for stdin (default: /dev/null)
	env     []string      // added to the test's environment
	dir     string        // working directory (default: workDir)
	timeout time.Duration // default: defaultTimeout
}

// run starts argv in its own process group, waits for it with a timeout
// (killing the whole group when it expires) and captures everything.
func run(o opts, argv ...string) *result {
	if o.timeout == 0 {
		o.timeout = defaultTimeout
	}
	if o.dir == "" {
		o.dir = workDir
	}
	r := &result{args: argv, dir: o.dir, code: -1}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = o.dir
	cmd.Env = append(os.Environ(), o.env...)
	if o.stdin != "" {
		cmd.Stdin = strings.NewReader(o.stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// Stop waiting for the output pipes shortly after the process exits,
	// even if something it left behind still holds them.
	cmd.WaitDelay = 5 * time.Second

	if runTimed(cmd, o.timeout, r) {
		// Whatever is still in the process group now was left behind.
		syscall.Kill(-r.pid, syscall.SIGKILL)
	}
	r.stdout, r.stderr = stdout.String(), stderr.String()
	return r
}

// runTimed starts cmd (in a process group of its own), waits for it,
// killing the group if timeout passes first, and records in r its pid,
// run time, exit code (128+N for signal N) or why it did not run. It
// reports whether the process started.
func runTimed(cmd *exec.Cmd, timeout time.Duration, r *result) bool {
	start := time.Now()
	if err := cmd.Start(); err != nil {
		r.startErr = err
		return false
	}
	r.pid = cmd.Process.Pid
	var timedOut atomic.Bool
	timer := time.AfterFunc(timeout, func() {
		timedOut.Store(true)
		syscall.Kill(-r.pid, syscall.SIGKILL)
	})
	err := cmd.Wait()
	timer.Stop()
	r.elapsed = time.Since(start)
	r.timedOut = timedOut.Load()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok {
		switch {
		case ws.Exited():
			r.code = ws.ExitStatus()
		case ws.Signaled():
			r.signal = ws.Signal()
			r.code = 128 + int(ws.Signal())
		}
	}
	if err != nil && r.code == -1 && !r.timedOut {
		r.startErr = err
	}
	return true
}

// needRunsc stops the test when runsc could not be built.
func needRunsc(t *testing.T) {
	t.Helper()
	if runscBuildErr != nil {
		t.Fatalf("runsc is not available: %v", runscBuildErr)
	}
}

// runsc runs the runsc binary with the given arguments.
func runsc(t *testing.T, o opts, args ...string) *result {
	t.Helper()
	needRunsc(t)
	r := run(o, append([]string{runscPath}, args...)...)
	t.Logf("runsc %s: exit %d in %v", shellQuote(args), r.code, r.elapsed.Round(time.Millisecond))
	return r
}

// sandbox runs argv under `runsc do`.
func sandbox(t *testing.T, o opts, argv ...string) *result {
	t.Helper()
	return runsc(t, o, append([]string{"do"}, argv...)...)
}

// native runs argv directly on the host.
func native(t *testing.T, o opts, argv ...string) *result {
	t.Helper()
	return run(o, argv...)
}

// checkNoCrash fails when runsc timed out, was killed or panicked.
func checkNoCrash(t *testing.T, r *result) {
	t.Helper()
	if r.startErr != nil {
		t.Fatalf("could not run: %v%s", r.startErr, r)
	}
	if r.timedOut {
		t.Fatalf("timed out%s", r)
	}
	if r.signal != 0 {
		t.Fatalf("runsc itself was killed by signal %v (expected it to exit with 128+N when the application dies by signal N)%s", r.signal, r)
	}
	if strings.Contains(r.stderr, "panic:") || strings.Contains(r.stderr, "goroutine ") {
		t.Fatalf("panic in runsc (or in the Go program it ran): stderr shows a Go panic%s", r)
	}
}

// expect checks exit code and exact stdout of a sandboxed run.
func expect(t *testing.T, r *result, wantCode int, wantStdout string) {
	t.Helper()
	checkNoCrash(t, r)
	if r.code != wantCode {
		t.Errorf("exit code %d, want %d%s", r.code, wantCode, r)
		return
	}
	if r.stdout != wantStdout {
		t.Errorf("stdout is not %q; %s%s", wantStdout, firstDiff(wantStdout, r.stdout), r)
	}
}

// compareOutputs checks that a sandboxed run printed exactly what the
// native run printed and ended the same way.
func compareOutputs(t *testing.T, nat, sb *result) {
	t.Helper()
	checkNoCrash(t, sb)
	if sb.stdout != nat.stdout {
		t.Errorf("sandboxed stdout differs from the native run (want = native); %s\nsandboxed run:%s\nnative run:%s",
			firstDiff(nat.stdout, sb.stdout), sb, nat)
		return
	}
	if sb.code != nat.code {
		t.Errorf("exit code %d in the sandbox, %d natively%s\nnative run:%s", sb.code, nat.code, sb, nat)
	}
}

// firstDiff describes the first line where got differs from want.
func firstDiff(want, got string) string {
	wl := strings.SplitAfter(want, "\n")
	gl := strings.SplitAfter(got, "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return fmt.Sprintf("first difference at line %d:\n  want: %q\n  got:  %q", i+1, w, g)
		}
	}
	return "(no difference)"
}

// sortedLines splits output into sorted non-empty lines.
func sortedLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return out
}

// mustNotExist fails (and cleans up) when path exists on the host.
func mustNotExist(t *testing.T, path, why string) {
	t.Helper()
	if _, err := os.Lstat(path); err == nil {
		os.RemoveAll(path)
		t.Errorf("SANDBOX ESCAPE: %s exists on the host after the sandboxed run (%s); removed it", path, why)
	} else if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lstat %s: %v", path, err)
	}
}
