package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestRawSyscallContainment runs testdata/c/rawsys.c, which issues system
// calls with raw `syscall` instructions, and checks both what the program
// saw and that nothing changed on the host. This program is never run
// natively.
func TestRawSyscallContainment(t *testing.T) {
	n := nonce(t)
	keep := filepath.Join(workDir, "keep-"+n)
	if err := os.WriteFile(keep, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	escapes := []string{
		"/tmp/veil-escape-" + n,
		"/veil-escape-" + n,
		"/veil-escape-dir-" + n,
		filepath.Join(workDir, "escape-"+n),
	}
	// Never leave anything behind, whatever happens.
	t.Cleanup(func() {
		for _, p := range escapes {
			os.RemoveAll(p)
		}
	})

	r := sandbox(t, opts{}, prog("rawsys"), n, workDir)
	checkNoCrash(t, r)

	for _, p := range escapes {
		mustNotExist(t, p, "created by a raw syscall in the sandbox")
	}
	if b, err := os.ReadFile(keep); err != nil || string(b) != "keep" {
		t.Errorf("SANDBOX ESCAPE: host file %s was removed or changed by the sandbox (read %q, %v)", keep, b, err)
	}

	if r.code != 0 {
		t.Fatalf("exit code %d, want 0%s", r.code, r)
	}
	got := map[string]int64{}
	for _, l := range strings.Split(r.stdout, "\n") {
		k, v, ok := strings.Cut(strings.TrimPrefix(l, "rawsys: "), "=")
		if !ok {
			continue
		}
		if i, err := strconv.ParseInt(v, 10, 64); err == nil {
			got[k] = i
		}
	}
	const (
		erofs  = -30
		enosys = -38
	)
	var bad []string
	for _, w := range []struct {
		key  string
		want int64
		what string
	}{
		{"mkdir_tmp", 0, "mkdirat in /tmp (the sandbox's own tmpfs) should succeed"},
		{"stat_tmp", 0, "the directory just made in /tmp should be visible to newfstatat"},
		{"open_root", erofs, "openat(O_CREAT) in the read-only root should fail with EROFS"},
		{"mkdir_root", erofs, "mkdirat in the read-only root should fail with EROFS"},
		{"open_host", erofs, "openat(O_CREAT) in a host directory should fail with EROFS"},
		{"trunc_host", erofs, "truncate of a host file should fail with EROFS"},
		{"unlink_host", erofs, "unlinkat of a host file should fail with EROFS"},
		{"enosys", enosys, "an unknown syscall number should fail with ENOSYS"},
		{"getpid", 1, "the first process should be pid 1 in the sandbox"},
		{"getppid", 0, "the first process should have parent pid 0 in the sandbox"},
	} {
		v, ok := got[w.key]
		switch {
		case !ok:
			bad = append(bad, fmt.Sprintf("no %q line in the output", w.key))
		case v != w.want:
			bad = append(bad, fmt.Sprintf("%s = %d, want %d: %s", w.key, v, w.want, w.what))
		}
	}
	if len(bad) > 0 {
		t.Errorf("unexpected results:\n  %s%s", strings.Join(bad, "\n  "), r)
	}
	if got["getpid"] == int64(r.pid) {
		t.Errorf("sandbox pid %d equals the host pid of runsc", r.pid)
	}
}
