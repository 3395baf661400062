package tests

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSocketsOnGoferFilesystem runs testdata/c/sockets.c with its socket
// files in a gofer-backed directory (a writable bundle rootfs) and
// compares it with a native run; then a socket left bound there must be
// a socket node both inside the sandbox (ls -l) and on the host, where
// the gofer made it: the host only ever holds the name.
func TestSocketsOnGoferFilesystem(t *testing.T) {
	needRunsc(t)
	nativeDir := t.TempDir()
	nat := native(t, opts{timeout: 60 * time.Second}, prog("sockets"), nativeDir)
	if nat.code != 0 || !strings.HasSuffix(nat.stdout, "sockets: ok\n") {
		t.Fatalf("BUG IN THE TEST PROGRAM: native run failed%s", nat)
	}

	spec := newSpec("/", "/sockets", "/sockdir")
	spec.Root.Readonly = false
	dir := makeBundle(t, spec)
	copyFile(t, prog("sockets"), filepath.Join(dir, "rootfs", "sockets"), 0o755)
	if err := os.Mkdir(filepath.Join(dir, "rootfs", "sockdir"), 0o777); err != nil {
		t.Fatal(err)
	}
	sb := runBundle(t, opts{timeout: 60 * time.Second}, dir)
	compareOutputs(t, nat, sb)

	spec = newSpec("/", "/bin/busybox", "sh", "-c",
		"/sockets --leave /sockdir/left.sock && /bin/busybox ls -l /sockdir/left.sock | /bin/busybox cut -c1")
	spec.Root.Readonly = false
	dir = makeBundle(t, spec)
	copyFile(t, prog("sockets"), filepath.Join(dir, "rootfs", "sockets"), 0o755)
	if err := os.Mkdir(filepath.Join(dir, "rootfs", "sockdir"), 0o777); err != nil {
		t.Fatal(err)
	}
	r := runBundle(t, opts{timeout: 60 * time.Second}, dir)
	expect(t, r, 0, "s\n")
	var st syscall.Stat_t
	host := filepath.Join(dir, "rootfs", "sockdir", "left.sock")
	if err := syscall.Lstat(host, &st); err != nil {
		t.Fatalf("the socket file is not on the host: %v", err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFSOCK {
		t.Errorf("%s has mode %#o on the host, want a socket node", host, st.Mode)
	}
}
