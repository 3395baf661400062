// Command bench measures a few system-level costs natively, under runc
// (if installed) and under Veil's runsc on each of its platforms (ptrace
// and systrap), in one run, and prints a Markdown table:
//
//	go run ./tests/bench [-plot FILE.svg] [-runs 10]
//
// (`make bench` does this.) It builds runsc and tiny static C programs
// from tests/bench/testdata:
//
//   - getppid: N raw getppid calls, nanoseconds per call (syscall round trip)
//   - threads: 8 threads making N raw getppid calls each at once,
//     nanoseconds per call over all of them (the machine's CPUs shared)
//   - read: N 4 KiB preads of a file in a tmpfs, nanoseconds per read
//   - pagefault: one write to each 4 KiB page of 256 MiB of fresh
//     anonymous memory, nanoseconds per page
//   - true: does nothing; the run-to-exit time of the whole sandbox is
//     measured from outside (median of -runs runs)
//   - forkexec: N times fork+execve(true)+waitpid, microseconds per iteration
//
// and, on a private dockerd started for the purpose (docker.go), the time
// of `docker run --rm IMAGE /true` from the client's start to its exit,
// with docker's default runtime (the runc column) and with runsc on each
// platform. The load average before and after goes to the end of the
// output: numbers from a busy machine are not comparable.
//
// A second table (network.go; -net=false skips it) has TCP throughput
// (iperf3) and HTTP request rates against nginx (a Go load generator,
// tests/bench/loadgen, keep-alive and a new connection per request) with
// the server across a veth pair between two network namespaces the bench
// creates and removes, on the host's network, and on the env's own
// loopback.
//
// A third table (pod.go; -pods=false skips it, -pods-only runs only it)
// has pod start (crictl runp + create + start of one container) and the
// PSS of the pod's host processes, on a private containerd with its CRI
// plugin, for the handlers runc and runsc on each platform.
//
// The per-operation numbers are measured inside the sandbox by the
// programs themselves (CLOCK_MONOTONIC), so they exclude start-up costs.
// A column that cannot be measured (runc missing or failing, runsc not
// building or failing) shows "n/a" and the reason goes to stderr. It must
// run as root (ptrace platform, runc).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

var (
	plotFile = flag.String("plot", "", "also write an SVG bar chart to this file")
	runs     = flag.Int("runs", 10, "runs of `true` for the run-to-exit median")
	verbose  = flag.Bool("v", false, "log every command")
)

const (
	nGetppid   = 2000
	nThreads   = 8
	nPerThread = 2000
	nForkExec  = 100
	nRead      = 2000
	pageMiB    = 256
	cmdTO      = 60 * time.Second
)

// A metric is one row of the table.
type metric struct {
	key, title, unit string
}

var metrics = []metric{
	{"getppid", "getppid round trip", "ns"},
	{"threads", "getppid, 8 threads at once", "ns per call, all threads"},
	{"read", "4 KiB pread from tmpfs", "ns per read"},
	{"pagefault", "page fault, touching 256 MiB", "ns per page"},
	{"forkexec", "fork+exec+wait", "µs per iteration"},
	{"true", "run-to-exit of /bin/true", "ms"},
	{"oci-true", "`run` of an OCI bundle with /bin/true", "ms"},
	{"docker-true", "docker run /bin/true start-to-exit", "ms"},
}

// An env is one column: a way to run a program.
type env struct {
	name string
	// run runs the program (an absolute path of a built benchmark program
	// on the host) with args; paths among args are already translated.
	run func(prog string, args ...string) (string, error)
	// path translates a host path of a benchmark program for this env.
	path func(hostPath string) string
	// tmp is a tmpfs directory the env's programs may write.
	tmp    string
	reason string // why the env is unavailable, if it is
	// docker is how `docker run` selects this env's runtime: "default"
	// for docker's own (runc), a --runtime name, or "" for none.
	docker string
	// ociRun runs a program as `RUNTIME run` of a fresh container of one
	// bundle (nil if the env has no OCI runtime).
	ociRun func(prog string, args ...string) (string, error)
}

func main() {
	flag.Parse()
	log := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...) }

	root, err := repoRoot()
	if err != nil {
		fatal(err)
	}
	if _, err := exec.LookPath("gcc"); err != nil {
		fatal(errors.New("gcc not found: install gcc and libc6-dev"))
	}
	work, err := os.MkdirTemp("/var/tmp", "veil-bench-") // not /tmp: hidden inside runsc do
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(work)
	if err := os.Chmod(work, 0o755); err != nil {
		fatal(err)
	}

	// Build the benchmark programs.
	binDir := filepath.Join(work, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		fatal(err)
	}
	progs := map[string]string{}
	for _, name := range []string{"getppid", "threads", "true", "forkexec", "read", "pagefault"} {
		out := filepath.Join(binDir, name)
		src := filepath.Join(root, "tests", "bench", "testdata", name+".c")
		if b, err := runCmd(root, "gcc", "-static", "-O1", "-pthread", "-o", out, src); err != nil {
			fatal(fmt.Errorf("building %s: %v\n%s", src, err, b))
		}
		progs[name] = out
	}

	loadBefore := loadAverage()
	runsc, runscErr := buildRunsc(root, work, log)
	if *netOnly {
		fmt.Print(runNetworkBench(root, work, runsc, runscErr, log))
		return
	}
	if *podsOnly {
		fmt.Print(runPodBench(root, work, runsc, runscErr, log))
		return
	}
	envs := []*env{nativeEnv(), runcEnv(work, binDir, log)}
	for _, platform := range []string{"ptrace", "systrap"} {
		envs = append(envs, veilEnv(work, binDir, runsc, runscErr, platform, log))
	}

	// One dockerd for the docker row, with runsc registered once per
	// platform (see veilEnv) when it built.
	var dockerd *benchDockerd
	var dockerErr error
	runscBin := ""
	if runscErr == nil {
		runscBin = runsc
	}
	log("starting a private dockerd")
	if dockerd, dockerErr = startBenchDockerd(work, runscBin, progs["true"]); dockerErr != nil {
		log("docker row: %v", dockerErr)
	}

	results := map[string]map[string]float64{} // env -> metric -> value
	for _, e := range envs {
		results[e.name] = map[string]float64{}
		if e.reason != "" {
			log("%s: skipped: %s", e.name, e.reason)
			continue
		}
		log("measuring %s", e.name)
		measure := func(key string, f func() (float64, error)) {
			v, err := f()
			if err != nil {
				log("%s: %s: %v", e.name, key, err)
				return
			}
			results[e.name][key] = v
		}
		measure("getppid", func() (float64, error) {
			return medianOf(3, func() (float64, error) {
				return runNumber(e, progs["getppid"], strconv.Itoa(nGetppid))
			})
		})
		measure("true", func() (float64, error) {
			return medianOf(*runs, func() (float64, error) {
				start := time.Now()
				if _, err := e.run(progs["true"]); err != nil {
					return 0, err
				}
				return float64(time.Since(start).Microseconds()) / 1000, nil
			})
		})
		measure("oci-true", func() (float64, error) {
			if e.ociRun == nil {
				return 0, errors.New("not applicable")
			}
			return medianOf(*runs, func() (float64, error) {
				start := time.Now()
				if _, err := e.ociRun(progs["true"]); err != nil {
					return 0, err
				}
				return float64(time.Since(start).Microseconds()) / 1000, nil
			})
		})
		measure("threads", func() (float64, error) {
			return medianOf(3, func() (float64, error) {
				return runNumber(e, progs["threads"], strconv.Itoa(nThreads), strconv.Itoa(nPerThread))
			})
		})
		measure("pagefault", func() (float64, error) {
			return medianOf(3, func() (float64, error) {
				return runNumber(e, progs["pagefault"], strconv.Itoa(pageMiB))
			})
		})
		measure("forkexec", func() (float64, error) {
			return medianOf(3, func() (float64, error) {
				return runNumber(e, progs["forkexec"], strconv.Itoa(nForkExec), e.path(progs["true"]))
			})
		})
		measure("read", func() (float64, error) {
			return medianOf(3, func() (float64, error) {
				return runNumber(e, progs["read"], strconv.Itoa(nRead), e.path(progs["read"]), e.tmp)
			})
		})
		measure("docker-true", func() (float64, error) {
			switch {
			case e.docker == "":
				return 0, errors.New("not applicable")
			case dockerErr != nil:
				return 0, dockerErr
			}
			rt := e.docker
			if rt == "default" {
				rt = ""
			}
			return medianOf(*runs, func() (float64, error) { return dockerd.runTrue(rt) })
		})
	}
	if dockerd != nil {
		dockerd.stop()
	}

	// The table.
	var names []string
	for _, e := range envs {
		names = append(names, e.name)
	}
	var b strings.Builder
	tableHeader(&b, "benchmark", names)
	for _, m := range metrics {
		fmt.Fprintf(&b, "| %s (%s) |", m.title, m.unit)
		for _, e := range envs {
			if v, ok := results[e.name][m.key]; ok {
				b.WriteString(" " + format(v) + " |")
			} else {
				b.WriteString(" n/a |")
			}
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "\nLoad average (1 min) %s before, %s after; %d CPUs.\n", loadBefore, loadAverage(), runtime.NumCPU())
	fmt.Print(b.String())
	if *netBenchOn {
		fmt.Print(runNetworkBench(root, work, runsc, runscErr, log))
	}
	if *podsOn {
		fmt.Print(runPodBench(root, work, runsc, runscErr, log))
	}

	if *plotFile != "" {
		names := make([]string, len(envs))
		for i, e := range envs {
			names[i] = e.name
		}
		if err := os.WriteFile(*plotFile, []byte(svgChart(names, results)), 0o644); err != nil {
			fatal(err)
		}
		log("wrote %s", *plotFile)
	}
}

func fatal(err error) {
	fmt.Fprintf(os.Stderr, "bench: %v\n", err)
	os.Exit(1)
}

// repoRoot finds the directory with Veil's go.mod, from the cwd upwards.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/veil-sandbox/veil")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run this from inside the veil repository")
		}
		dir = parent
	}
}

// runCmd runs a command with a timeout in its own process group and
// returns its combined output.
func runCmd(dir, name string, args ...string) ([]byte, error) {
	var out bytes.Buffer
	err := runTo(dir, &out, &out, name, args...)
	return out.Bytes(), err
}

// runTo runs a command with a timeout, killing its whole process group
// when the timeout expires.
func runTo(dir string, stdout, stderr io.Writer, name string, args ...string) error {
	if *verbose {
		fmt.Fprintf(os.Stderr, "bench: + %s %s\n", name, strings.Join(args, " "))
	}
	ctx, cancel := context.WithTimeout(context.Background(), cmdTO)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("timed out after %v", cmdTO)
	}
	return err
}

// runNumber runs a benchmark program in env e and parses the one number
// it prints.
func runNumber(e *env, prog string, args ...string) (float64, error) {
	out, err := e.run(prog, args...)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(out), 64)
	if err != nil {
		return 0, fmt.Errorf("%s printed %q, not a number", filepath.Base(prog), out)
	}
	return v, nil
}

// medianOf returns the median of n calls of f, after one warm-up call
// whose result is dropped.
func medianOf(n int, f func() (float64, error)) (float64, error) {
	if n < 1 {
		n = 1
	}
	if _, err := f(); err != nil {
		return 0, err
	}
	var vs []float64
	for i := 0; i < n; i++ {
		v, err := f()
		if err != nil {
			return 0, err
		}
		vs = append(vs, v)
	}
	sort.Float64s(vs)
	if n%2 == 1 {
		return vs[n/2], nil
	}
	return (vs[n/2-1] + vs[n/2]) / 2, nil
}

func format(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(math.Round(v), 'f', -1, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

// runAndCapture runs a command, returning stdout; stderr goes into the error.
func runAndCapture(dir, name string, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	if err := runTo(dir, &stdout, &stderr, name, args...); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 500 {
			msg = msg[:500] + "..."
		}
		return "", fmt.Errorf("%s %s: %v: %s", filepath.Base(name), strings.Join(args, " "), err, msg)
	}
	return stdout.String(), nil
}

func nativeEnv() *env {
	return &env{
		name: "native",
		run: func(prog string, args ...string) (string, error) {
			return runAndCapture("/", prog, args...)
		},
		path: func(p string) string { return p },
		tmp:  "/dev/shm",
	}
}

// buildRunsc builds runsc into work, like "make" does: static, without
// cgo.
func buildRunsc(root, work string, log func(string, ...any)) (string, error) {
	runsc := filepath.Join(work, "runsc")
	log("building runsc")
	os.Setenv("CGO_ENABLED", "0")
	if out, err := runCmd(root, "go", "build", "-o", runsc, "./runsc"); err != nil {
		return "", fmt.Errorf("go build ./runsc failed: %v: %s", err, firstLines(string(out), 5))
	}
	return runsc, nil
}

// veilEnv runs programs under `runsc --platform=PLATFORM do` (the
// sandbox's /tmp is a tmpfs in Sentry memory), OCI bundles under `runsc
// --platform=PLATFORM run`, and docker containers with the runtime
// "runsc-PLATFORM" (see startBenchDockerd).
func veilEnv(work, binDir, runsc string, buildErr error, platform string, log func(string, ...any)) *env {
	name := "veil-" + platform
	e := &env{name: name, path: func(p string) string { return p }, docker: "runsc-" + platform, tmp: "/tmp"}
	if buildErr != nil {
		e.reason = buildErr.Error()
		return e
	}
	flag := "--platform=" + platform
	e.run = func(prog string, args ...string) (string, error) {
		return runAndCapture("/", runsc, append([]string{flag, "do", prog}, args...)...)
	}
	// Check once that the platform works here (and is the one asked for:
	// no fallback).
	if _, err := e.run(filepath.Join(binDir, "true")); err != nil {
		e.reason = fmt.Sprintf("%s does not work here: %v", flag, err)
		return e
	}
	run, err := bundleRunner(filepath.Join(work, name+"-bundle"), binDir, runsc, flag)
	if err != nil {
		log("%s: no OCI bundle: %v", name, err)
	} else {
		e.ociRun = run
	}
	return e
}

// loadAverage returns the 1-minute load average, or "?".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}

// runcEnv runs each program as a fresh runc container from one bundle
// whose rootfs holds copies of the static benchmark programs at /.
func runcEnv(work, binDir string, log func(string, ...any)) *env {
	e := &env{name: "runc", path: func(p string) string { return "/" + filepath.Base(p) }, docker: "default", tmp: "/tmp"}
	runc, err := exec.LookPath("runc")
	if err != nil {
		e.reason = "runc is not installed (apt-get install runc)"
		return e
	}
	if e.run, err = bundleRunner(filepath.Join(work, "runc-bundle"), binDir, runc); err != nil {
		e.reason = err.Error()
		return e
	}
	e.ociRun = e.run
	// Check once that runc works here at all.
	if _, err := e.run(filepath.Join(binDir, "true")); err != nil {
		e.reason = "runc does not work here: " + err.Error()
		log("runc check failed: %v", err)
	}
	return e
}

// bundleRunner makes a bundle in dir whose rootfs holds copies of the
// programs in binDir at /, and returns a function that runs one of them
// as `RUNTIME [flags] run` of a fresh container (deleted afterwards).
func bundleRunner(dir, binDir, runtime string, flags ...string) (func(prog string, args ...string) (string, error), error) {
	rootfs := filepath.Join(dir, "rootfs")
	state := filepath.Join(dir, "state")
	for _, d := range []string{rootfs, state, filepath.Join(rootfs, "proc"), filepath.Join(rootfs, "dev"), filepath.Join(rootfs, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	ents, err := os.ReadDir(binDir)
	if err != nil {
		return nil, err
	}
	for _, ent := range ents {
		b, err := os.ReadFile(filepath.Join(binDir, ent.Name()))
		if err == nil {
			err = os.WriteFile(filepath.Join(rootfs, ent.Name()), b, 0o755)
		}
		if err != nil {
			return nil, err
		}
	}
	seq := 0
	return func(prog string, args ...string) (string, error) {
		spec := runcSpec(append([]string{"/" + filepath.Base(prog)}, args...))
		b, err := json.MarshalIndent(spec, "", "  ")
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
			return "", err
		}
		seq++
		id := fmt.Sprintf("veil-bench-%d-%d", os.Getpid(), seq)
		global := append(append([]string{}, flags...), "--root", state)
		defer runCmd(dir, runtime, append(global, "delete", "-f", id)...)
		return runAndCapture(dir, runtime, append(global, "run", "--bundle", dir, id)...)
	}, nil
}

// runcSpec is a minimal OCI config for runc: new pid, mount, ipc, uts and
// network namespaces (a new, empty network namespace leaves the host's
// network untouched), /proc and a tmpfs /dev, read-only root.
func runcSpec(args []string) map[string]any {
	return map[string]any{
		"ociVersion": "1.0.2",
		"process": map[string]any{
			"terminal":        false,
			"user":            map[string]any{"uid": 0, "gid": 0},
			"args":            args,
			"env":             []string{"PATH=/"},
			"cwd":             "/",
			"noNewPrivileges": true,
		},
		"root":     map[string]any{"path": "rootfs", "readonly": true},
		"hostname": "bench",
		"mounts": []map[string]any{
			{"destination": "/proc", "type": "proc", "source": "proc"},
			{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": []string{"nosuid", "nodev", "mode=1777", "size=65536k"}},
		},
		"linux": map[string]any{
			"namespaces": []map[string]any{
				{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}, {"type": "network"},
			},
		},
	}
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = append(lines[:n], "...")
	}
	return strings.Join(lines, "\n")
}

// svgChart draws one panel per metric with one bar per env, on a log
// scale (the environments differ by orders of magnitude).
func svgChart(envs []string, results map[string]map[string]float64) string {
	const (
		panelW, panelH = 240, 260
		top, bottom    = 50, 40
		barW, gap      = 44, 18
	)
	colors := []string{"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f"}
	width := panelW*len(metrics) + 20
	height := panelH
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	for i, env := range envs {
		x := 10 + i*110
		fmt.Fprintf(&b, `<rect x="%d" y="8" width="12" height="12" fill="%s"/><text x="%d" y="18">%s</text>`+"\n",
			x, colors[i%len(colors)], x+16, esc(env))
	}
	for mi, m := range metrics {
		x0 := 10 + mi*panelW
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-weight="bold">%s</text>`+"\n", x0+6, top-12, esc(m.title))
		fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#555">%s, log scale</text>`+"\n", x0+6, top+2, esc(m.unit))
		// Log scale from a decade below the smallest value to the largest.
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, env := range envs {
			if v, ok := results[env][m.key]; ok && v > 0 {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
		base := float64(panelH - bottom)
		axisY := base + top - 30
		fmt.Fprintf(&b, `<line x1="%d" y1="%.0f" x2="%d" y2="%.0f" stroke="#999"/>`+"\n", x0, axisY, x0+panelW-20, axisY)
		maxH := base - 60
		for i, env := range envs {
			bx := x0 + 10 + i*(barW+gap)
			v, ok := results[env][m.key]
			if !ok || v <= 0 {
				fmt.Fprintf(&b, `<text x="%d" y="%.0f" text-anchor="middle" fill="#999">n/a</text>`+"\n", bx+barW/2, axisY-4)
				continue
			}
			l0 := math.Floor(math.Log10(lo)) - 1
			l1 := math.Log10(hi)
			h := maxH
			if l1 > l0 {
				h = maxH * (math.Log10(v) - l0) / (l1 - l0)
			}
			fmt.Fprintf(&b, `<rect x="%d" y="%.1f" width="%d" height="%.1f" fill="%s"/>`+"\n",
				bx, axisY-h, barW, h, colors[i%len(colors)])
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="middle">%s</text>`+"\n", bx+barW/2, axisY-h-4, format(v))
		}
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func esc(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")
	return r.Replace(s)
}

// tableHeader writes the head of a markdown table whose first column is
// title and whose number columns are names.
func tableHeader(b *strings.Builder, title string, names []string) {
	b.WriteString("| " + title + " |")
	for _, n := range names {
		b.WriteString(" " + n + " |")
	}
	b.WriteString("\n|---|")
	for range names {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
}
