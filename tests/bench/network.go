package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The network benchmarks: TCP throughput (iperf3) and HTTP requests per
// second (loadgen against nginx, keep-alive and a new connection per
// request), for each column in three placements of the server:
//
//   - veth: in a network namespace the bench creates, reached from a
//     second one over a veth pair (Veil: `runsc run`, --network=sandbox,
//     on that namespace);
//   - host: on the host's network, reached on 127.0.0.1 (Veil:
//     --network=host; natively the same as loopback);
//   - loopback: client and server both inside the env, on its own
//     loopback (Veil: `runsc do`, --network=none).
//
// A cell that cannot be measured shows "n/a (reason)"; the details go to
// stderr.
var (
	netSeconds = flag.Int("net-seconds", 10, "seconds of each TCP throughput run")
	netBenchOn = flag.Bool("net", true, "run the network benchmarks")
	netOnly    = flag.Bool("net-only", false, "run only the network benchmarks")
)

const (
	httpSeconds = 2
	benchPort   = 5201
	httpPort    = 8088
	// Addresses of the veth pair (a private range the host does not use
	// inside the bench's own namespaces).
	vethClientAddr = "10.213.77.1"
	vethServerAddr = "10.213.77.2"
)

type placement string

const (
	placeVeth     placement = "veth"
	placeHost     placement = "host"
	placeLoopback placement = "loopback"
)

var placements = []placement{placeVeth, placeHost, placeLoopback}

// netNamespaces are the bench's own namespaces: client and server ends
// of the veth pair, and an isolated one with only lo (runc's and
// native's loopback placement).
type netNamespaces struct {
	client, server, lo string
}

func setupNetNamespaces() (*netNamespaces, func(), error) {
	p := strconv.Itoa(os.Getpid())
	ns := &netNamespaces{client: "veil-bench-c" + p, server: "veil-bench-s" + p, lo: "veil-bench-l" + p}
	cleanup := func() {
		for _, n := range []string{ns.client, ns.server, ns.lo} {
			exec.Command("ip", "netns", "del", n).Run()
		}
	}
	steps := [][]string{
		{"netns", "add", ns.client}, {"netns", "add", ns.server}, {"netns", "add", ns.lo},
		{"-n", ns.client, "link", "add", "vbc0", "type", "veth", "peer", "name", "vbs0", "netns", ns.server},
		{"-n", ns.client, "addr", "add", vethClientAddr + "/24", "dev", "vbc0"},
		{"-n", ns.server, "addr", "add", vethServerAddr + "/24", "dev", "vbs0"},
		{"-n", ns.client, "link", "set", "vbc0", "up"}, {"-n", ns.server, "link", "set", "vbs0", "up"},
		{"-n", ns.client, "link", "set", "lo", "up"}, {"-n", ns.server, "link", "set", "lo", "up"},
		{"-n", ns.lo, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if out, err := exec.Command("ip", s...).CombinedOutput(); err != nil {
			cleanup()
			return nil, nil, fmt.Errorf("ip %s: %v: %s", strings.Join(s, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return ns, cleanup, nil
}

// A netEnv is one column of the network table: how to run a command in
// it with the server at a placement.
type netEnv struct {
	name   string
	reason string // why the whole column is n/a
	// start starts argv in the background; stop ends it; stderr
	// returns what it wrote to stderr so far.
	start func(p placement, argv []string) (stop func(), stderr func() string, err error)
	// run runs argv to completion and returns its stdout.
	run func(p placement, argv []string) (string, error)
}

// bgStart starts a command in its own process group.
func bgStart(dir string, argv []string) (func(), func() string, error) {
	if *verbose {
		fmt.Fprintf(os.Stderr, "bench: + (background) %s\n", strings.Join(argv, " "))
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	errOut := &lockedBuffer{}
	cmd.Stderr = errOut
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	return func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	}, errOut.String, nil
}

// lockedBuffer collects a background command's stderr.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() < 4096 {
		l.b.Write(p)
	}
	return len(p), nil
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func inNetns(ns string, argv []string) []string {
	return append([]string{"ip", "netns", "exec", ns}, argv...)
}

func nativeNetEnv(ns *netNamespaces) *netEnv {
	wrap := func(p placement, argv []string) []string {
		switch p {
		case placeVeth:
			return inNetns(ns.server, argv)
		case placeLoopback:
			return inNetns(ns.lo, argv)
		}
		return argv
	}
	return &netEnv{
		name:  "native",
		start: func(p placement, argv []string) (func(), func() string, error) { return bgStart("/", wrap(p, argv)) },
		run: func(p placement, argv []string) (string, error) {
			a := wrap(p, argv)
			return runAndCapture("/", a[0], a[1:]...)
		},
	}
}

// ociNetEnv runs commands as containers of a bundle whose root is the
// host's / (read-only, tmpfs /tmp; for runc, !hostRoot, its /usr and
// /etc bound into a root of their own): runc, or `runsc run` (Veil's veth
// placement, where the Sentry's stack takes the namespace's interfaces).
// The loopback placement for runc is the bench's lo-only namespace.
func ociNetEnv(name, runtime string, flags []string, hostRoot bool, work string, ns *netNamespaces) *netEnv {
	dir := filepath.Join(work, name+"-net-bundle")
	state := filepath.Join(dir, "state")
	seq := 0
	prepare := func(p placement, argv []string) (id string, err error) {
		if err := os.MkdirAll(state, 0o755); err != nil {
			return "", err
		}
		spec := runcSpec(argv)
		spec["root"] = map[string]any{"path": "/", "readonly": true}
		if !hostRoot {
			// runc cannot pivot_root into the host's /: a root of
			// the host's /usr, /etc and the bench's files.
			root := filepath.Join(dir, "rootfs")
			for _, d := range []string{"usr", "etc", "proc", "dev", "tmp", strings.TrimPrefix(work, "/")} {
				if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
					return "", err
				}
			}
			for _, l := range []string{"bin", "sbin", "lib", "lib64"} {
				if _, err := os.Lstat(filepath.Join(root, l)); err != nil {
					if err := os.Symlink("usr/"+l, filepath.Join(root, l)); err != nil {
						return "", err
					}
				}
			}
			spec["root"] = map[string]any{"path": root, "readonly": true}
			mounts := spec["mounts"].([]map[string]any)
			for _, src := range []string{"/usr", "/etc", work} {
				mounts = append(mounts, map[string]any{"destination": src, "type": "bind", "source": src, "options": []string{"rbind", "ro"}})
			}
			spec["mounts"] = mounts
		}
		spec["process"].(map[string]any)["env"] = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
		nss := []map[string]any{{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}}
		switch p {
		case placeVeth:
			nss = append(nss, map[string]any{"type": "network", "path": "/var/run/netns/" + ns.server})
		case placeLoopback:
			nss = append(nss, map[string]any{"type": "network", "path": "/var/run/netns/" + ns.lo})
		}
		spec["linux"] = map[string]any{"namespaces": nss}
		b, err := json.MarshalIndent(spec, "", "  ")
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
			return "", err
		}
		seq++
		return fmt.Sprintf("veil-bench-net-%d-%d", os.Getpid(), seq), nil
	}
	global := append(append([]string{}, flags...), "--root", state)
	e := &netEnv{name: name}
	e.start = func(p placement, argv []string) (func(), func() string, error) {
		id, err := prepare(p, argv)
		if err != nil {
			return nil, nil, err
		}
		stop, stderr, err := bgStart(dir, append(append([]string{runtime}, global...), "run", "--bundle", dir, id))
		if err != nil {
			return nil, nil, err
		}
		return func() {
			runCmd(dir, runtime, append(global, "kill", id, "KILL")...)
			stop()
			runCmd(dir, runtime, append(global, "delete", "-f", id)...)
		}, stderr, nil
	}
	e.run = func(p placement, argv []string) (string, error) {
		id, err := prepare(p, argv)
		if err != nil {
			return "", err
		}
		defer runCmd(dir, runtime, append(global, "delete", "-f", id)...)
		return runAndCapture(dir, runtime, append(global, "run", "--bundle", dir, id)...)
	}
	return e
}

// veilNetEnv: veth through `runsc run` (--network=sandbox on the
// namespace), host through `runsc --network=host do`, loopback through
// `runsc do` (--network=none).
func veilNetEnv(platform, runsc string, runscErr error, work string, ns *netNamespaces) *netEnv {
	name := "veil-" + platform
	if runscErr != nil {
		return &netEnv{name: name, reason: "build"}
	}
	pf := "--platform=" + platform
	oci := ociNetEnv(name, runsc, []string{pf, "--network=sandbox"}, true, work, ns)
	do := func(p placement, argv []string) []string {
		mode := "--network=none"
		if p == placeHost {
			mode = "--network=host"
		}
		return append([]string{runsc, pf, mode, "do"}, argv...)
	}
	return &netEnv{
		name: name,
		start: func(p placement, argv []string) (func(), func() string, error) {
			if p == placeVeth {
				return oci.start(p, argv)
			}
			return bgStart("/", do(p, argv))
		},
		run: func(p placement, argv []string) (string, error) {
			if p == placeVeth {
				return oci.run(p, argv)
			}
			a := do(p, argv)
			return runAndCapture("/", a[0], a[1:]...)
		},
	}
}

// netBench holds what the network measurements need.
type netBench struct {
	ns       *netNamespaces
	loadgen  string // static Go load generator
	nginxCfg string
}

// clientArgv runs a client from outside the env, next to placement p.
func (nb *netBench) clientArgv(p placement, argv []string) []string {
	if p == placeVeth {
		return inNetns(nb.ns.client, argv)
	}
	return argv
}

func (nb *netBench) serverAddr(p placement) string {
	if p == placeVeth {
		return vethServerAddr
	}
	return "127.0.0.1"
}

// measure runs server in e at p and client against it: from outside for
// veth and host, inside the env (one shell running both) for loopback.
// It returns the client's stdout.
func (nb *netBench) measure(e *netEnv, p placement, server, client []string, port int) (string, error) {
	if p == placeLoopback {
		script := fmt.Sprintf(`%s >/dev/null & pid=$!; %s -listening %d -d 10s && %s; rc=$?; kill $pid; exit $rc`,
			shellJoin(server), nb.loadgen, port, shellJoin(client))
		return e.run(p, []string{"/bin/sh", "-c", script})
	}
	if p == placeVeth {
		// runsc --network=sandbox takes the interface's address from
		// the host kernel for the Sentry's stack and does not give it
		// back when the sandbox ends: each server starts from the same
		// namespace.
		exec.Command("ip", "-n", nb.ns.server, "addr", "replace", vethServerAddr+"/24", "dev", "vbs0").Run()
	}
	stop, serverErr, err := e.start(p, server)
	if err != nil {
		return "", err
	}
	// The probes look at the server's namespace, or across the veth
	// pair: a sandboxed server's sockets are the Sentry's, not the
	// host kernel's.
	probe := func(more ...string) []string {
		if p == placeVeth {
			return inNetns(nb.ns.client, append([]string{nb.loadgen, "-connect", net.JoinHostPort(vethServerAddr, strconv.Itoa(port)), "-d", "10s"}, more...))
		}
		return append([]string{nb.loadgen, "-listening", strconv.Itoa(port), "-d", "10s"}, more...)
	}
	defer func() {
		stop()
		// The Sentry or container may outlive its runtime's process
		// for a moment: the next server needs the port.
		g := probe("-gone")
		runAndCapture("/", g[0], g[1:]...)
	}()
	w := probe()
	if _, err := runAndCapture("/", w[0], w[1:]...); err != nil {
		return "", fmt.Errorf("server did not come up: %v; its stderr: %s", err, firstLines(serverErr(), 3))
	}
	c := nb.clientArgv(p, client)
	return runAndCapture("/", c[0], c[1:]...)
}

func shellJoin(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// tcpThroughput is iperf3's received rate, Gbit/s.
func (nb *netBench) tcpThroughput(e *netEnv, p placement) (float64, error) {
	server := []string{"/usr/bin/iperf3", "-s", "-p", strconv.Itoa(benchPort)}
	addr := nb.serverAddr(p)
	if p == placeLoopback {
		addr = "127.0.0.1"
	}
	client := []string{"/usr/bin/iperf3", "-c", addr, "-p", strconv.Itoa(benchPort), "-t", strconv.Itoa(*netSeconds), "-J"}
	out, err := nb.measure(e, p, server, client, benchPort)
	if err != nil {
		return 0, err
	}
	var r struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		return 0, fmt.Errorf("iperf3 output: %v: %s", err, firstLines(out, 3))
	}
	if r.Error != "" || r.End.SumReceived.BitsPerSecond == 0 {
		return 0, fmt.Errorf("iperf3: %q", r.Error)
	}
	return r.End.SumReceived.BitsPerSecond / 1e9, nil
}

// httpRate is loadgen's requests per second against nginx.
func (nb *netBench) httpRate(e *netEnv, p placement, fresh bool) (float64, error) {
	server := []string{"/bin/sh", "-c", "mkdir -p /tmp/veil-bench-nginx && exec /usr/sbin/nginx -e stderr -c " + nb.nginxCfg}
	url := fmt.Sprintf("http://%s:%d/index.html", nb.serverAddr(p), httpPort)
	if p == placeLoopback {
		url = fmt.Sprintf("http://127.0.0.1:%d/index.html", httpPort)
	}
	client := []string{nb.loadgen, "-url", url, "-c", "8", "-d", strconv.Itoa(httpSeconds) + "s"}
	if fresh {
		client = append(client, "-new")
	}
	out, err := nb.measure(e, p, server, client, httpPort)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(out), 64)
	if err != nil {
		return 0, fmt.Errorf("loadgen printed %q", out)
	}
	return v, nil
}

// writeNginx writes the nginx config and its 4 KiB page under work.
func writeNginx(work string) (string, error) {
	www := filepath.Join(work, "www")
	if err := os.MkdirAll(www, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(www, "index.html"), []byte(strings.Repeat("veil bench page\n", 256)), 0o644); err != nil {
		return "", err
	}
	cfg := filepath.Join(work, "nginx.conf")
	// user root: no chown of the temp paths to nobody, which a root
	// without CAP_CHOWN (runc's default) may not do.
	conf := fmt.Sprintf(`daemon off;
master_process off;
user root;
pid /tmp/veil-bench-nginx/pid;
error_log stderr error;
events { worker_connections 1024; }
http {
	access_log off;
	keepalive_requests 1000000;
	client_body_temp_path /tmp/veil-bench-nginx/body;
	proxy_temp_path /tmp/veil-bench-nginx/proxy;
	fastcgi_temp_path /tmp/veil-bench-nginx/fastcgi;
	uwsgi_temp_path /tmp/veil-bench-nginx/uwsgi;
	scgi_temp_path /tmp/veil-bench-nginx/scgi;
	server {
		listen %d;
		root %s;
	}
}
`, httpPort, www)
	return cfg, os.WriteFile(cfg, []byte(conf), 0o644)
}

// netMetrics are the rows of the network table.
var netMetrics = []struct {
	key, title, unit string
}{
	{"tcp", "TCP throughput, iperf3", "Gbit/s"},
	{"http-keepalive", "HTTP GET 4 KiB from nginx, keep-alive, 8 connections", "req/s"},
	{"http-new", "HTTP GET 4 KiB from nginx, new connection each", "req/s"},
}

// runNetworkBench measures every network row and returns the table.
func runNetworkBench(root, work, runsc string, runscErr error, log func(string, ...any)) string {
	start := time.Now()
	var missing []string
	for _, p := range []string{"/usr/bin/iperf3", "/usr/sbin/nginx", "/usr/bin/ip"} {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return fmt.Sprintf("Network benchmarks not run: %s missing (apt-get install iperf3 nginx-light iproute2).\n", strings.Join(missing, ", "))
	}
	ns, cleanup, err := setupNetNamespaces()
	if err != nil {
		log("network: %v", err)
		return "Network benchmarks not run: " + err.Error() + "\n"
	}
	defer cleanup()
	// An interrupted bench still removes its namespaces.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		if _, ok := <-sigs; ok {
			cleanup()
			os.Exit(130)
		}
	}()
	nb := &netBench{ns: ns, loadgen: filepath.Join(work, "loadgen")}
	log("building the load generator")
	if out, err := runCmd(root, "go", "build", "-o", nb.loadgen, "./tests/bench/loadgen"); err != nil {
		return fmt.Sprintf("Network benchmarks not run: building loadgen: %v: %s\n", err, firstLines(string(out), 3))
	}
	if nb.nginxCfg, err = writeNginx(work); err != nil {
		return "Network benchmarks not run: " + err.Error() + "\n"
	}
	envs := []*netEnv{nativeNetEnv(ns)}
	if runc, err := exec.LookPath("runc"); err == nil {
		envs = append(envs, ociNetEnv("runc", runc, nil, false, work, ns))
	} else {
		envs = append(envs, &netEnv{name: "runc", reason: "missing"})
	}
	for _, platform := range []string{"ptrace", "systrap"} {
		envs = append(envs, veilNetEnv(platform, runsc, runscErr, work, ns))
	}
	type cell struct {
		v      float64
		reason string
	}
	results := map[string]cell{} // env/metric/placement
	for _, e := range envs {
		for _, p := range placements {
			for _, m := range netMetrics {
				k := e.name + "/" + m.key + "/" + string(p)
				if e.reason != "" {
					results[k] = cell{reason: e.reason}
					continue
				}
				if e.name == "native" && p == placeHost {
					continue // the loopback figure, below
				}
				log("network: %s, %s, %s", e.name, m.key, p)
				var v float64
				switch m.key {
				case "tcp":
					v, err = nb.tcpThroughput(e, p)
				case "http-keepalive":
					v, err = nb.httpRate(e, p, false)
				case "http-new":
					v, err = nb.httpRate(e, p, true)
				}
				if err != nil {
					log("network: %s: %v", k, err)
					reason := "failed"
					if strings.Contains(err.Error(), "Address family not supported") {
						// The network mode has no IP sockets yet.
						reason = "unsupported"
					}
					results[k] = cell{reason: reason}
					continue
				}
				results[k] = cell{v: v}
			}
		}
	}
	// Natively, the host's network is the loopback one: the same
	// measurement serves both rows.
	for _, m := range netMetrics {
		results["native/"+m.key+"/"+string(placeHost)] = results["native/"+m.key+"/"+string(placeLoopback)]
	}
	var names []string
	for _, e := range envs {
		names = append(names, e.name)
	}
	var b strings.Builder
	b.WriteString("\n")
	tableHeader(&b, "network (server placement)", names)
	for _, m := range netMetrics {
		for _, p := range placements {
			fmt.Fprintf(&b, "| %s, %s (%s) |", m.title, p, m.unit)
			for _, e := range envs {
				c := results[e.name+"/"+m.key+"/"+string(p)]
				if c.reason != "" {
					b.WriteString(" n/a (" + c.reason + ") |")
				} else {
					b.WriteString(" " + format(c.v) + " |")
				}
			}
			b.WriteString("\n")
		}
	}
	fmt.Fprintf(&b, "\nPlacements: veth = server in a network namespace reached over a veth pair (Veil: runsc run, --network=sandbox); host = on the host's network at 127.0.0.1 (Veil: --network=host); loopback = client and server inside (Veil: runsc do, --network=none). Natively host and loopback are one measurement (the host's loopback). TCP runs %d s, HTTP %d s; the network part took %v.\n",
		*netSeconds, httpSeconds, time.Since(start).Round(time.Second))
	return b.String()
}
