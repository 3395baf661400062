package gofer

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The test binary re-executes itself to run a gofer in a child process.
const (
	childEnv     = "VEIL_GOFER_TEST_CHILD"
	childRootEnv = "VEIL_GOFER_TEST_ROOT"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(childMain(mode, os.Getenv(childRootEnv)))
	}
	os.Exit(m.Run())
}

func childMain(mode, root string) int {
	fail := func(code int, format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "gofer test child (%s): "+format+"\n", append([]any{mode}, args...)...)
		return code
	}
	switch mode {
	case "serve":
	case "confine":
		exe, err := os.Executable()
		if err != nil {
			return fail(2, "%v", err)
		}
		if err := Confine(root); err != nil {
			return fail(2, "%v", err)
		}
		if _, err := os.Stat("/marker"); err != nil {
			return fail(3, "rootfs not at /: %v", err)
		}
		if _, err := os.Stat(exe); err == nil {
			return fail(4, "host file %s still visible after Confine", exe)
		}
		if wd, err := os.Getwd(); err != nil || wd != "/" {
			return fail(5, "cwd %q, %v", wd, err)
		}
		root = "/"
	case "nest":
		// Run "confine-same-ns" in our (private) mount namespace, so
		// that even a broken safety check cannot touch the host.
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"=confine-same-ns")
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return fail(6, "nested child: %v", err)
		}
		return 0
	case "confine-same-ns":
		if err := Confine(root); err == nil {
			return fail(7, "Confine succeeded in its parent's mount namespace")
		}
		return 0
	default:
		return fail(8, "unknown mode")
	}
	if err := Serve(os.NewFile(3, "conn"), root, ServerOptions{}); err != nil {
		return fail(1, "Serve: %v", err)
	}
	return 0
}

// startChild starts the test binary as a gofer child process in the given
// mode, serving root, and connects a client to it.
func startChild(t *testing.T, mode, root string, attr *syscall.SysProcAttr) (*exec.Cmd, *Client, *bytes.Buffer) {
	t.Helper()
	srv, cli := socketpair(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode, childRootEnv+"="+root)
	cmd.ExtraFiles = []*os.File{srv}
	cmd.SysProcAttr = attr
	stderr := new(bytes.Buffer)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	srv.Close()
	c, err := NewClient(cli)
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("NewClient: %v (child stderr: %s)", err, stderr)
	}
	return cmd, c, stderr
}

func waitChild(t *testing.T, cmd *exec.Cmd, stderr *bytes.Buffer) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("child: %v; stderr: %s", err, stderr)
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Errorf("child did not exit; stderr: %s", stderr)
	}
}

func TestGoferProcessKilled(t *testing.T) {
	root := makeTree(t)
	cmd, c, _ := startChild(t, "serve", root, nil)
	defer c.Close()
	fid, _, err := c.Walk(RootFID, "hello.txt")
	if err != nil {
		t.Fatal(err)
	}
	fd, err := c.Open(fid, unix.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	// Descriptors already donated outlive the gofer.
	if got := readFD(t, fd); got != "hello, world\n" {
		t.Errorf("read after gofer death: %q", got)
	}
	allOpsFail(t, c, fid)
}

func mountinfo(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestConfine(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("Confine needs root (CLONE_NEWNS, mount, pivot_root)")
	}
	root := makeTree(t)
	writeFile(t, filepath.Join(root, "marker"), "confined")
	before := mountinfo(t)

	cmd, c, stderr := startChild(t, "confine", root,
		&syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS})
	fid, _, err := c.Walk(RootFID, "marker")
	if err != nil {
		t.Fatalf("walk marker: %v (child stderr: %s)", err, stderr)
	}
	fd, err := c.Open(fid, unix.O_RDONLY)
	if err != nil {
		t.Fatalf("open marker: %v", err)
	}
	if got := readFD(t, fd); got != "confined" {
		t.Errorf("read %q", got)
	}
	_, _, err = c.Walk(RootFID, "..")
	wantErrno(t, "walk ..", err, unix.EINVAL)
	ents, err := c.Getdents(RootFID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 7 {
		t.Errorf("root of confined gofer has %d entries: %v", len(ents), ents)
	}

	// Operations that reopen through /proc/self/fd work after pivot_root.
	_, _, fd, err = c.Create(RootFID, "created", unix.O_RDWR|unix.O_EXCL, 0o600, 0, 0)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	unix.Write(fd, []byte("from the sentry"))
	unix.Close(fd)
	if data, err := os.ReadFile(filepath.Join(root, "created")); err != nil || string(data) != "from the sentry" {
		t.Errorf("host sees %q, %v", data, err)
	}
	if err := c.SetAttr(fid, Attr{Mask: AttrMode | AttrSize, Mode: 0o600, Size: 3}); err != nil {
		t.Errorf("setattr: %v", err)
	}
	if data, _ := os.ReadFile(filepath.Join(root, "marker")); string(data) != "con" {
		t.Errorf("after truncate: %q", data)
	}
	if _, _, err := c.Mkdir(RootFID, "dir", 0o700, 0, 0); err != nil {
		t.Errorf("mkdir: %v", err)
	}

	c.Close()
	waitChild(t, cmd, stderr)
	if after := mountinfo(t); after != before {
		t.Errorf("Confine changed the test's mounts:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func TestConfineRefusesSharedMountNS(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for CLONE_NEWNS")
	}
	before := mountinfo(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=nest", childRootEnv+"="+t.TempDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("%v: %s", err, out)
	}
	if after := mountinfo(t); after != before {
		t.Errorf("mounts changed")
	}
}
