package tests

import (
	"crypto/md5"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Note for failures: Debian's busybox sh runs several applets (tail, cat,
// sleep, ...) through execve("/proc/self/exe", ...), so shell pipelines in
// these tests also need /proc/self/exe inside the sandbox.
const procSelfExeHint = "(hint: busybox sh re-executes itself via execve(\"/proc/self/exe\") for applets like tail, cat and sleep)"

func bb(args ...string) []string { return append([]string{busybox}, args...) }

func TestBusyboxEcho(t *testing.T) {
	r := sandbox(t, opts{}, bb("echo", "hello")...)
	expect(t, r, 0, "hello\n")
}

func TestBusyboxDoubleDash(t *testing.T) {
	r := runsc(t, opts{}, "do", "--", busybox, "echo", "-n", "dashdash")
	expect(t, r, 0, "dashdash")
}

func TestBusyboxPipelineExitCode(t *testing.T) {
	r := sandbox(t, opts{}, bb("sh", "-c", "for i in 3 1 2; do echo $i; done | sort | tail -1; exit 7")...)
	expect(t, r, 7, "3\n")
	if t.Failed() {
		t.Log(procSelfExeHint)
	}
}

func TestBusyboxExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"true", bb("true"), 0},
		{"false", bb("false"), 1},
		{"exit-42", bb("sh", "-c", "exit 42"), 42},
		{"exit-255", bb("sh", "-c", "exit 255"), 255},
		// The shell is the sandbox's pid 1 here: like a pid namespace's
		// init, it ignores a SIGKILL sent from inside the sandbox.
		{"kill-9-self-as-init", bb("sh", "-c", "kill -9 $$; echo survived"), 0},
		{"child-killed", bb("sh", "-c", "sh -c 'kill -9 $$'; echo status=$?"), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := sandbox(t, opts{}, tc.args...)
			checkNoCrash(t, r)
			if r.code != tc.code {
				t.Errorf("exit code %d, want %d%s", r.code, tc.code, r)
			}
			if tc.name == "kill-9-self-as-init" && r.stdout != "survived\n" {
				t.Errorf("stdout %q, want %q%s", r.stdout, "survived\n", r)
			}
			if tc.name == "child-killed" && r.stdout != "status=137\n" {
				t.Errorf("stdout %q, want %q%s", r.stdout, "status=137\n", r)
			}
		})
	}
}

func TestBusyboxPid1(t *testing.T) {
	r := sandbox(t, opts{}, bb("sh", "-c", "echo $$")...)
	expect(t, r, 0, "1\n")
	if r.pid == 1 {
		t.Errorf("host pid of runsc is 1?")
	}
	// The first process has no parent inside the sandbox.
	r = sandbox(t, opts{}, bb("sh", "-c", "echo $PPID")...)
	expect(t, r, 0, "0\n")
	// A child of pid 1 has pid > 1 and parent 1.
	r = sandbox(t, opts{}, bb("sh", "-c", "sh -c 'echo $PPID'; true")...)
	expect(t, r, 0, "1\n")
}

func TestBusyboxLsRoot(t *testing.T) {
	r := sandbox(t, opts{}, bb("ls", "-1", "/")...)
	checkNoCrash(t, r)
	if r.code != 0 {
		t.Fatalf("exit code %d%s", r.code, r)
	}
	ents, err := os.ReadDir("/")
	if err != nil {
		t.Fatal(err)
	}
	host := map[string]bool{}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") {
			host[e.Name()] = true
		}
	}
	got := map[string]bool{}
	for _, l := range sortedLines(r.stdout) {
		got[l] = true
	}
	var missing, extra []string
	for n := range host {
		if !got[n] {
			missing = append(missing, n)
		}
	}
	for n := range got {
		if !host[n] {
			extra = append(extra, n)
		}
	}
	if len(missing) > 0 || len(extra) > 0 {
		t.Errorf("`ls /` in the sandbox differs from the host's /: missing %q, extra %q%s", missing, extra, r)
	}
}

func TestBusyboxReadHostFiles(t *testing.T) {
	t.Run("os-release", func(t *testing.T) {
		// /etc/os-release is a symlink into /usr/lib on Debian.
		want, err := os.ReadFile("/etc/os-release")
		if err != nil {
			t.Skip("host has no /etc/os-release")
		}
		r := sandbox(t, opts{}, bb("cat", "/etc/os-release")...)
		expect(t, r, 0, string(want))
	})
	t.Run("wc-passwd", func(t *testing.T) {
		b, err := os.ReadFile("/etc/passwd")
		if err != nil {
			t.Fatal(err)
		}
		want := strconv.Itoa(strings.Count(string(b), "\n"))
		r := sandbox(t, opts{}, bb("wc", "-l", "/etc/passwd")...)
		checkNoCrash(t, r)
		if f := strings.Fields(r.stdout); r.code != 0 || len(f) != 2 || f[0] != want || f[1] != "/etc/passwd" {
			t.Errorf("want %q%s", want+" /etc/passwd", r)
		}
	})
	t.Run("md5-busybox", func(t *testing.T) {
		// Reads a 2 MB binary through the sandbox's file system.
		b, err := os.ReadFile(busybox)
		if err != nil {
			t.Fatal(err)
		}
		sum := md5.Sum(b)
		r := sandbox(t, opts{}, bb("md5sum", busybox)...)
		expect(t, r, 0, hex.EncodeToString(sum[:])+"  "+busybox+"\n")
	})
	t.Run("test-program-dir", func(t *testing.T) {
		// The e2e work directory (under /var/tmp) is visible inside.
		r := sandbox(t, opts{}, bb("cat", filepath.Join(workDir, "owner.pid"))...)
		expect(t, r, 0, strconv.Itoa(os.Getpid()))
	})
}

func TestBusyboxTmpIsPrivateTmpfs(t *testing.T) {
	n := nonce(t)
	marker := "/tmp/veil-host-marker-" + n
	if err := os.WriteFile(marker, []byte("host"), 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(marker)

	t.Run("host-tmp-hidden", func(t *testing.T) {
		r := sandbox(t, opts{}, bb("sh", "-c", "test -e "+marker+" && echo visible || echo hidden; ls -A /tmp")...)
		expect(t, r, 0, "hidden\n")
	})
	t.Run("write-read", func(t *testing.T) {
		p := "/tmp/veil-tmpfs-" + n
		r := sandbox(t, opts{}, bb("sh", "-c", "echo hi > "+p+"; cat "+p)...)
		expect(t, r, 0, "hi\n")
		if t.Failed() {
			t.Log(procSelfExeHint)
		}
		mustNotExist(t, p, "written to the sandbox's /tmp")
	})
	t.Run("fstype", func(t *testing.T) {
		r := sandbox(t, opts{}, bb("stat", "-f", "-c", "%T", "/tmp")...)
		expect(t, r, 0, "tmpfs\n")
	})
	t.Run("mkdir-rename-rm", func(t *testing.T) {
		d := "veil-dir-" + n // unique: harmless even if /tmp were the host's
		r := sandbox(t, opts{}, bb("sh", "-c", "cd /tmp && mkdir -p "+d+"/b && echo x > "+d+"/b/f && mv "+d+"/b/f "+d+
			"/g && ls "+d+" && rm -r "+d+" && ls -A /tmp && echo end")...)
		expect(t, r, 0, "b\ng\nend\n")
	})
}

func TestBusyboxReadOnlyRoot(t *testing.T) {
	n := nonce(t)
	for _, tc := range []struct{ name, path string }{
		{"etc", "/etc/veil-nope-" + n},
		{"root", "/veil-nope-" + n},
		{"workdir", filepath.Join(workDir, "veil-nope-"+n)}, // writable on the host, not in the sandbox
	} {
		p := tc.path
		t.Run(tc.name, func(t *testing.T) {
			r := sandbox(t, opts{}, bb("touch", p)...)
			checkNoCrash(t, r)
			if r.code == 0 {
				t.Errorf("touch %s succeeded in the sandbox; the root must be read-only%s", p, r)
			} else if !strings.Contains(r.stderr, "Read-only file system") {
				t.Errorf("touch %s: want a \"Read-only file system\" (EROFS) error%s", p, r)
			}
			mustNotExist(t, p, "touch in the sandbox")
		})
	}
	t.Run("mkdir", func(t *testing.T) {
		p := "/veil-nope-dir-" + n
		r := sandbox(t, opts{}, bb("mkdir", p)...)
		checkNoCrash(t, r)
		if r.code == 0 {
			t.Errorf("mkdir %s succeeded%s", p, r)
		}
		mustNotExist(t, p, "mkdir in the sandbox")
	})
}

func TestBusyboxSleep(t *testing.T) {
	r := sandbox(t, opts{}, bb("sh", "-c", "sleep 0.2; echo done")...)
	expect(t, r, 0, "done\n")
	if t.Failed() {
		t.Log(procSelfExeHint)
	}
	if r.elapsed < 200*time.Millisecond {
		t.Errorf("finished after %v, before the 0.2s sleep could have elapsed", r.elapsed)
	}
}

func TestBusyboxEnvCwdStdin(t *testing.T) {
	t.Run("env", func(t *testing.T) {
		r := sandbox(t, opts{env: []string{"VEIL_E2E_VAR=value with spaces"}},
			bb("sh", "-c", `echo "$VEIL_E2E_VAR"`)...)
		expect(t, r, 0, "value with spaces\n")
	})
	t.Run("cwd", func(t *testing.T) {
		r := sandbox(t, opts{dir: binDir}, bb("pwd")...)
		expect(t, r, 0, binDir+"\n")
	})
	t.Run("relative-path", func(t *testing.T) {
		// cwd is the host cwd, so a relative program path works.
		r := sandbox(t, opts{dir: binDir}, "./echoargs", "rel")
		checkNoCrash(t, r)
		if r.code != 2 || !strings.Contains(r.stdout, `argv[1]="rel"`) {
			t.Errorf("want exit 2 and argv[1]=\"rel\"%s", r)
		}
	})
	t.Run("stdin", func(t *testing.T) {
		in := strings.Repeat("line of stdin\n", 2000)
		r := sandbox(t, opts{stdin: in}, bb("cat")...)
		expect(t, r, 0, in)
	})
	t.Run("stderr", func(t *testing.T) {
		r := sandbox(t, opts{}, bb("sh", "-c", "echo out; echo err >&2")...)
		expect(t, r, 0, "out\n")
		if r.stderr != "err\n" {
			t.Errorf("stderr %q, want %q%s", r.stderr, "err\n", r)
		}
	})
}
