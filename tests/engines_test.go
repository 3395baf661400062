package tests

// End-to-end tests of real engines driving an OCI runtime: containerd (ctr),
// dockerd (docker) and podman, each started on private state by
// engine_harness_test.go. Every test runs once per runtime: runc, the
// reference (what the engine does by default), and runsc. Select them
// with VEIL_ENGINE_RUNTIMES (see engine_harness_test.go), e.g.
//
//	VEIL_ENGINE_RUNTIMES=runc go test -count=1 -run TestEngine -v ./tests/

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

const (
	// prompt is the interactive shells' PS1: easy to tell from the echo of
	// what the test types.
	prompt = "veil-prompt# "
	// ptyTimeout bounds each wait for something on a terminal.
	ptyTimeout = 30 * time.Second
)

var promptRE = regexp.MustCompile(regexp.QuoteMeta(prompt))

// containerName returns a fresh container name for the test.
func containerName(t *testing.T) string { return "veil-" + nonce(t) }

// wantOK fails the test unless r exited 0 (with the engine's stderr).
func wantOK(t *testing.T, r *result, what string) {
	t.Helper()
	if r.startErr != nil || r.timedOut || r.code != 0 {
		t.Fatalf("%s failed:%s", what, r)
	}
}

// wantRun checks exit code and stdout of an engine command.
func wantRun(t *testing.T, r *result, code int, stdout string) {
	t.Helper()
	if r.startErr != nil || r.timedOut {
		t.Fatalf("did not complete:%s", r)
	}
	if r.code != code || r.stdout != stdout {
		t.Fatalf("want exit code %d and stdout %q; got %d and %q:%s", code, stdout, r.code, r.stdout, r)
	}
}

// interactiveShell drives sh on the pty of p the way a person would: the
// prompt, arithmetic, the window size (and a resize), ^C of a foreground
// sleep, exit.
func interactiveShell(t *testing.T, p *ptyProc) {
	t.Helper()
	p.expect(promptRE, ptyTimeout)
	p.send("echo $((6*7))\r")
	p.expect(regexp.MustCompile(`\n42\r*\n`), ptyTimeout)
	p.expect(promptRE, ptyTimeout)

	p.send("stty size\r")
	p.expect(regexp.MustCompile(`\n40 120\r*\n`), ptyTimeout)
	p.expect(promptRE, ptyTimeout)
	p.resize(50, 132)
	// The engine forwards the resize asynchronously: ask until it shows.
	deadline := time.Now().Add(ptyTimeout)
	for sized := regexp.MustCompile(`\n(\d+ \d+)\r*\n`); ; {
		p.send("stty size\r")
		m := sized.FindStringSubmatch(p.expect(sized, ptyTimeout))
		p.expect(promptRE, ptyTimeout)
		if m[1] == "50 132" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the container's terminal is still %s, not 50x132, %v after the resize%s", m[1], ptyTimeout, p.transcript())
		}
		time.Sleep(200 * time.Millisecond)
	}

	{
		// The subshell prints its marker once it is the foreground job,
		// then becomes sleep: ^C must reach it and bring the prompt back.
		p.send("(echo sleeping; exec sleep 100)\r")
		p.expect(regexp.MustCompile(`\nsleeping\r*\n`), ptyTimeout)
		start := time.Now()
		p.send("\x03")
		p.expect(promptRE, 10*time.Second)
		t.Logf("^C brought the prompt back after %v", time.Since(start).Round(time.Millisecond))
		// 130: the job died of SIGINT.
		p.send("echo status=$?\r")
		p.expect(regexp.MustCompile(`\nstatus=130\r*\n`), ptyTimeout)
		p.expect(promptRE, ptyTimeout)
	}

	p.send("exit\r")
	if code := p.wait(ptyTimeout); code != 0 {
		t.Fatalf("exit code %d after `exit`, want 0%s", code, p.transcript())
	}
}

// ---------------------------------------------------------------------------
// containerd

func TestEngineContainerd(t *testing.T) {
	forEachEngineRuntime(t, func(t *testing.T, rt engineRuntime) {
		c := startContainerd(t)
		test := func(name string, f func(t *testing.T, id string)) {
			engineTest(t, c, rt, name, func(t *testing.T) {
				id := containerName(t)
				t.Cleanup(func() {
					// Whatever the test got to: no task, no container.
					for _, args := range [][]string{{"tasks", "kill", "-s", "SIGKILL", id}, {"tasks", "delete", "-f", id}, {"containers", "delete", id}} {
						run(opts{timeout: engineTimeout}, append([]string{ctrBin, "-a", c.sock, "-n", c.ns}, args...)...)
					}
				})
				f(t, id)
			})
		}
		runArgs := func(id string, flags ...string) []string {
			args := append([]string{"run"}, flags...)
			return append(args, c.runFlags(rt, id)...)
		}

		test("echo", func(t *testing.T, id string) {
			r := c.ctr(t, opts{}, append(runArgs(id, "--rm"), imageRef, id, "echo", "hi")...)
			wantRun(t, r, 0, "hi\n")
		})

		test("exit-code", func(t *testing.T, id string) {
			r := c.ctr(t, opts{}, append(runArgs(id, "--rm"), imageRef, id, "sh", "-c", "exit 3")...)
			wantRun(t, r, 3, "")
		})

		test("interactive", func(t *testing.T, id string) {
			argv := append([]string{ctrBin, "-a", c.sock, "-n", c.ns}, runArgs(id, "--rm", "-t", "--env", "PS1="+prompt)...)
			p := startPty(t, 40, 120, append(argv, imageRef, id, "sh")...)
			interactiveShell(t, p)
		})

		test("detach-exec-kill", func(t *testing.T, id string) {
			// pid 1 must handle TERM itself: the kernel drops signals
			// without a handler sent to a pid namespace's init.
			r := c.ctr(t, opts{}, append(runArgs(id, "-d"), imageRef, id,
				"sh", "-c", `trap "exit 0" TERM; sleep 1000 & wait`)...)
			wantOK(t, r, "ctr run -d")
			fifo := filepath.Join(c.dir, "fifo")
			r = c.ctr(t, opts{}, "tasks", "exec", "--fifo-dir", fifo, "--exec-id", "exec1", id, "sh", "-c", "echo from-exec")
			wantRun(t, r, 0, "from-exec\n")
			r = c.ctr(t, opts{}, "tasks", "exec", "--fifo-dir", fifo, "--exec-id", "exec2", id, "sh", "-c", "exit 4")
			wantRun(t, r, 4, "")
			r = c.ctr(t, opts{}, "tasks", "ls")
			if !regexp.MustCompile(`(?m)^` + id + `\s+\d+\s+RUNNING$`).MatchString(r.stdout) {
				t.Fatalf("ctr tasks ls does not show %s RUNNING:%s", id, r)
			}

			wantOK(t, c.ctr(t, opts{}, "tasks", "kill", id), "ctr tasks kill")
			stopped := regexp.MustCompile(`(?m)^` + id + `\s+\d+\s+STOPPED$`)
			for deadline := time.Now().Add(engineTimeout); ; time.Sleep(100 * time.Millisecond) {
				r = run(opts{}, ctrBin, "-a", c.sock, "-n", c.ns, "tasks", "ls")
				if stopped.MatchString(r.stdout) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the task is not STOPPED %v after ctr tasks kill:%s", engineTimeout, r)
				}
			}
			wantOK(t, c.ctr(t, opts{}, "tasks", "delete", id), "ctr tasks delete")
			wantOK(t, c.ctr(t, opts{}, "containers", "delete", id), "ctr containers delete")
		})
	})
}

// ---------------------------------------------------------------------------
// docker

func TestEngineDocker(t *testing.T) {
	forEachEngineRuntime(t, func(t *testing.T, rt engineRuntime) {
		d := startDockerd(t, dockerRuntimes(t))
		test := func(name string, f func(t *testing.T, name string)) {
			engineTest(t, d, rt, name, func(t *testing.T) {
				n := containerName(t)
				t.Cleanup(func() {
					run(opts{timeout: engineTimeout, env: d.env()}, dockerBin, "-H", "unix://"+d.sock, "rm", "-f", n)
				})
				f(t, n)
			})
		}
		runArgs := func(name string, flags ...string) []string {
			args := append([]string{"run", "--name", name}, d.runFlags(rt)...)
			return append(args, flags...)
		}
		inspect := func(t *testing.T, name, format string) string {
			t.Helper()
			r := d.docker(t, opts{}, "inspect", "--format", format, name)
			wantOK(t, r, "docker inspect")
			return strings.TrimSpace(r.stdout)
		}
		// waitLogs waits until the container's log holds want.
		waitLogs := func(t *testing.T, name, want string) {
			t.Helper()
			var r *result
			for deadline := time.Now().Add(engineTimeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				r = d.docker(t, opts{}, "logs", name)
				if strings.Contains(r.stdout, want) {
					return
				}
			}
			t.Fatalf("docker logs never showed %q:%s", want, r)
		}

		test("echo", func(t *testing.T, name string) {
			r := d.docker(t, opts{}, append(runArgs(name, "--rm"), imageRef, "echo", "hi")...)
			wantRun(t, r, 0, "hi\n")
		})

		test("exit-code", func(t *testing.T, name string) {
			r := d.docker(t, opts{}, append(runArgs(name, "--rm"), imageRef, "sh", "-c", "exit 3")...)
			wantRun(t, r, 3, "")
		})

		test("exec-logs-stop", func(t *testing.T, name string) {
			r := d.docker(t, opts{}, append(runArgs(name, "-d"), imageRef, "sh", "-c",
				`echo started; trap "echo got-term; exit 7" TERM; sleep 1000 & wait`)...)
			wantOK(t, r, "docker run -d")
			waitLogs(t, name, "started\n")
			wantRun(t, d.docker(t, opts{}, "exec", name, "sh", "-c", "echo from-exec"), 0, "from-exec\n")
			wantRun(t, d.docker(t, opts{}, "exec", name, "sh", "-c", "exit 4"), 4, "")
			wantRun(t, d.docker(t, opts{stdin: "piped\n"}, "exec", "-i", name, "cat"), 0, "piped\n")

			r = d.docker(t, opts{}, "stop", name)
			wantOK(t, r, "docker stop")
			if code := inspect(t, name, "{{.State.ExitCode}}"); code != "7" {
				t.Errorf("exit code %s after docker stop, want 7 (the TERM trap's)", code)
			}
			wantRun(t, d.docker(t, opts{}, "logs", name), 0, "started\ngot-term\n")
			wantOK(t, d.docker(t, opts{}, "rm", name), "docker rm")
		})

		test("stop-timeout", func(t *testing.T, name string) {
			r := d.docker(t, opts{}, append(runArgs(name, "-d"), imageRef, "sh", "-c",
				`trap "" TERM; echo ready; sleep 1000 & wait`)...)
			wantOK(t, r, "docker run -d")
			waitLogs(t, name, "ready\n")
			r = d.docker(t, opts{}, "stop", "-t", "2", name)
			wantOK(t, r, "docker stop -t 2")
			if r.elapsed < 1900*time.Millisecond {
				t.Errorf("docker stop -t 2 of a container that ignores TERM took %v, want at least the 2s grace period", r.elapsed)
			}
			if code := inspect(t, name, "{{.State.ExitCode}}"); code != "137" {
				t.Errorf("exit code %s after docker stop -t 2, want 137 (SIGKILL)", code)
			}
		})

		test("interactive", func(t *testing.T, name string) {
			p := startPty(t, 40, 120, d.argv(append(runArgs(name, "-it", "--rm", "-e", "PS1="+prompt), imageRef, "sh")...)...)
			interactiveShell(t, p)
		})

		test("memory-limit", func(t *testing.T, name string) {
			r := d.docker(t, opts{}, append(runArgs(name, "-d", "-m", "64m"), imageRef, "sleep", "1000")...)
			wantOK(t, r, "docker run -d -m 64m")
			pid := inspect(t, name, "{{.State.Pid}}")
			b, err := os.ReadFile("/proc/" + pid + "/cgroup")
			if err != nil {
				t.Fatalf("docker inspect gives pid %s: %v", pid, err)
			}
			var cg string
			for _, l := range strings.Split(string(b), "\n") {
				if f := strings.SplitN(l, ":", 3); len(f) == 3 && f[1] == "memory" {
					cg = f[2]
				}
			}
			if cg == "" {
				t.Fatalf("pid %s is in no memory cgroup:\n%s", pid, b)
			}
			limit := filepath.Join("/sys/fs/cgroup/memory", cg, "memory.limit_in_bytes")
			got, err := os.ReadFile(limit)
			if err != nil {
				t.Fatal(err)
			}
			if strings.TrimSpace(string(got)) != "67108864" {
				t.Errorf("%s (memory cgroup of pid %s) is %s, want 67108864", limit, pid, got)
			}
			if !strings.HasPrefix(cg, d.cgroupParent()+"/") {
				t.Errorf("the container's cgroup %s is not under the daemon's cgroup-parent %s", cg, d.cgroupParent())
			}
			wantOK(t, d.docker(t, opts{}, "rm", "-f", name), "docker rm -f")
		})

		test("bind-mount", func(t *testing.T, name string) {
			host := filepath.Join(workDir, "volumes", nonce(t))
			if err := os.MkdirAll(host, 0o755); err != nil {
				t.Fatal(err)
			}
			token := "from-host-" + nonce(t)
			if err := os.WriteFile(filepath.Join(host, "in.txt"), []byte(token+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			r := d.docker(t, opts{}, append(runArgs(name, "--rm", "-v", host+":/data"), imageRef,
				"sh", "-c", "cat /data/in.txt && echo from-container > /data/out.txt")...)
			wantRun(t, r, 0, token+"\n")
			got, err := os.ReadFile(filepath.Join(host, "out.txt"))
			if err != nil || string(got) != "from-container\n" {
				t.Errorf("the host sees out.txt = %q (%v), want %q", got, err, "from-container\n")
			}
		})
	})
}

// ---------------------------------------------------------------------------
// podman

func TestEnginePodman(t *testing.T) {
	forEachEngineRuntime(t, func(t *testing.T, rt engineRuntime) {
		p := podmanEngine(t)
		test := func(name string, f func(t *testing.T, name string)) {
			engineTest(t, p, rt, name, func(t *testing.T) {
				n := containerName(t)
				t.Cleanup(func() { run(opts{timeout: engineTimeout, env: p.env}, p.argv(rt, "rm", "-f", "-t", "0", n)...) })
				f(t, n)
			})
		}
		runArgs := func(name string, flags ...string) []string {
			args := append([]string{"run", "--name", name}, p.runFlags()...)
			return append(args, flags...)
		}

		test("echo", func(t *testing.T, name string) {
			r := podman(t, rt, opts{}, append(runArgs(name, "--rm"), imageRef, "echo", "hi")...)
			wantRun(t, r, 0, "hi\n")
		})

		test("exit-code", func(t *testing.T, name string) {
			r := podman(t, rt, opts{}, append(runArgs(name, "--rm"), imageRef, "sh", "-c", "exit 3")...)
			wantRun(t, r, 3, "")
		})
	})
}
