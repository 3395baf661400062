package tests

import (
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hostTree describes a host directory tree: every name with its type,
// mode, owner, size, mtime and a hash of its data (or symlink target), so
// that any change shows as a difference.
func hostTree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		desc := fmt.Sprintf("%v %d:%d size=%d mtime=%d.%09d", fi.Mode(), st.Uid, st.Gid, st.Size, st.Mtim.Sec, st.Mtim.Nsec)
		switch {
		case fi.Mode().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			h := sha256.New()
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" sha256=%x", h.Sum(nil))
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			desc += " -> " + target
		}
		out[p] = desc
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", root, err)
	}
	return out
}

// compareTrees reports every difference between two hostTree results.
func compareTrees(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	for p, b := range before {
		if a, ok := after[p]; !ok {
			t.Errorf("%s: %s was removed from the host", what, p)
		} else if a != b {
			t.Errorf("%s: %s changed on the host:\n  before: %s\n  after:  %s", what, p, b, a)
		}
	}
	for p, a := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("%s: %s appeared on the host (%s)", what, p, a)
		}
	}
}

// TestOverlayDo changes files of the host root under `runsc --overlay do`:
// the sandbox sees its changes, the host none of them.
func TestOverlayDo(t *testing.T) {
	needRunsc(t)
	n := nonce(t)
	dir := filepath.Join(workParent, "veil-overlay-"+n)
	etcNew := "/etc/veil-test-" + n
	t.Cleanup(func() {
		os.RemoveAll(dir)
		// Nothing the sandbox made may be left; remove it if it is.
		mustNotExist(t, etcNew, "created under --overlay")
		mustNotExist(t, etcNew+".moved", "created under --overlay")
	})
	for _, d := range []string{"sub/deeper", "lowerdir"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range map[string]string{
		"mod.txt": "original\n", "del.txt": "delete me\n", "keep.txt": "keep\n",
		"sub/deeper/f": "deep\n", "lowerdir/a": "a\n", "lowerdir/b": "b\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(dir, "mod.txt"), past, past); err != nil {
		t.Fatal(err)
	}
	before := hostTree(t, dir)
	hostname, err := os.ReadFile("/etc/hostname")
	if err != nil {
		t.Fatal(err)
	}
	hostnameSt, err := os.Stat("/etc/hostname")
	if err != nil {
		t.Fatal(err)
	}

	script := strings.ReplaceAll(`set -e
D=@D
echo sandbox >> $D/mod.txt
cat $D/mod.txt
rm $D/del.txt
test ! -e $D/del.txt && echo deleted
mv $D/keep.txt $D/renamed.txt
cat $D/renamed.txt
mkdir $D/newdir
echo new > $D/newdir/f
mv $D/newdir $D/newdir2
cat $D/newdir2/f
mv $D/lowerdir $D/lowerdir.moved
cat $D/lowerdir.moved/a
rm -r $D/sub
mkdir $D/sub
ls $D/sub
ls $D
echo etc > @E
mv @E @E.moved
cat @E.moved
echo veil-overlay >> /etc/hostname
tail -1 /etc/hostname
rm /etc/hostname
test ! -e /etc/hostname && echo hostname-gone
grep -c '^overlay / overlay ' /proc/mounts
`, "@D", dir)
	script = strings.ReplaceAll(script, "@E", etcNew)
	r := runsc(t, opts{}, "--overlay", "do", busybox, "sh", "-c", script)
	expect(t, r, 0, "original\nsandbox\ndeleted\nkeep\nnew\na\n"+
		"lowerdir.moved\nmod.txt\nnewdir2\nrenamed.txt\nsub\n"+
		"etc\nveil-overlay\nhostname-gone\n1\n")

	compareTrees(t, "--overlay do", before, hostTree(t, dir))
	if st, err := os.Stat(filepath.Join(dir, "mod.txt")); err != nil || !st.ModTime().Equal(past) {
		t.Errorf("host mod.txt: mtime %v (want %v), %v", st.ModTime(), past, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "del.txt")); err != nil {
		t.Errorf("the file the sandbox deleted is gone from the host: %v", err)
	}
	mustNotExist(t, filepath.Join(dir, "newdir2"), "mkdir under --overlay")
	if got, err := os.ReadFile("/etc/hostname"); err != nil || string(got) != string(hostname) {
		t.Errorf("host /etc/hostname changed: %q %v", got, err)
	}
	if st, err := os.Stat("/etc/hostname"); err != nil || !st.ModTime().Equal(hostnameSt.ModTime()) {
		t.Errorf("host /etc/hostname mtime changed: %v", err)
	}

	// A new sandbox starts from the host's files again.
	r = runsc(t, opts{}, "--overlay", "do", busybox, "sh", "-c",
		"cat "+dir+"/mod.txt; test -e "+etcNew+".moved || echo fresh")
	expect(t, r, 0, "original\nfresh\n")
}

// TestOverlayCopyUpIdentity checks what stat shows across a copy-up.
func TestOverlayCopyUpIdentity(t *testing.T) {
	needRunsc(t)
	dir := filepath.Join(workParent, "veil-overlay-"+nonce(t))
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "f")
	if err := os.WriteFile(f, []byte("data\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(f, 1234, 5678); err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(f, &st); err != nil {
		t.Fatal(err)
	}
	before := hostTree(t, dir)
	r := runsc(t, opts{}, "--overlay", "do", busybox, "sh", "-c", fmt.Sprintf(
		`F=%s; stat -c '%%i %%d %%a %%u:%%g %%Y' $F; chmod 600 $F; stat -c '%%i %%d %%a %%u:%%g %%Y' $F; ln $F $F.2; stat -c '%%h %%i' $F.2`, f))
	checkNoCrash(t, r)
	if r.code != 0 {
		t.Fatalf("exit code %d%s", r.code, r)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 lines%s", r)
	}
	b, a := strings.Fields(lines[0]), strings.Fields(lines[1])
	if b[0] != strconv.FormatUint(st.Ino, 10) {
		t.Errorf("st_ino %s in the sandbox, %d on the host (want the lower inode number)%s", b[0], st.Ino, r)
	}
	if a[0] != b[0] || a[1] != b[1] {
		t.Errorf("identity changed across copy-up: %s/%s -> %s/%s%s", b[1], b[0], a[1], a[0], r)
	}
	if b[2] != "640" || a[2] != "600" || a[3] != "1234:5678" || a[4] != b[4] {
		t.Errorf("attributes across copy-up: %q -> %q%s", lines[0], lines[1], r)
	}
	if lines[2] != "2 "+a[0] {
		t.Errorf("hard link: %q, want \"2 %s\"%s", lines[2], a[0], r)
	}
	compareTrees(t, "copy-up", before, hostTree(t, dir))
}

// TestOverlayBundle runs a bundle with a writable root (root.readonly
// false) under --overlay: the container writes freely, the bundle's rootfs
// stays as it was. A read-only root becomes writable too.
func TestOverlayBundle(t *testing.T) {
	for _, ro := range []bool{false, true} {
		t.Run(fmt.Sprintf("readonly=%v", ro), func(t *testing.T) {
			needRunsc(t)
			spec := newSpec("/", "/bin/busybox", "sh", "-c", `set -e
echo changed > /veil-bundle-marker
cat /veil-bundle-marker
rm /data/victim
mkdir /newdir
echo x > /newdir/x
mv /newdir/x /data/x
chmod 700 /bin/busybox
ls /data
stat -c %a /bin/busybox
`)
			spec.Root.Readonly = ro
			dir := makeBundle(t, spec)
			t.Cleanup(func() { os.RemoveAll(dir) })
			rootfs := filepath.Join(dir, "rootfs")
			if err := os.MkdirAll(filepath.Join(rootfs, "data"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(rootfs, "data", "victim"), []byte("v\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			before := hostTree(t, rootfs)
			r := runsc(t, opts{}, "--overlay", "--root", stateDir, "run", "--bundle", dir, "veil-e2e-"+nonce(t))
			expect(t, r, 0, "changed\nx\n700\n")
			compareTrees(t, "bundle under --overlay", before, hostTree(t, rootfs))
		})
	}
}

// TestOverlayReleasesGoferFiles copies up and removes many lower files: the
// overlay must let the gofer drop the descriptors of files it no longer
// reads from.
func TestOverlayReleasesGoferFiles(t *testing.T) {
	needRunsc(t)
	spec := newSpec("/", "/bin/busybox", "sh", "-c",
		"for f in /many/*; do chmod 600 $f; done; rm /many/f1*; echo looped; sleep 10")
	dir := makeBundle(t, spec)
	t.Cleanup(func() { os.RemoveAll(dir) })
	many := filepath.Join(dir, "rootfs", "many")
	if err := os.Mkdir(many, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 400; i++ {
		if err := os.WriteFile(filepath.Join(many, fmt.Sprintf("f%d", i)), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gofer := runUntilLooped(t, dir, "--overlay")
	// The gofer's view of the root is a read-only mount.
	mi, _ := os.ReadFile("/proc/" + strconv.Itoa(gofer) + "/mountinfo")
	rootRO := false
	for _, l := range strings.Split(string(mi), "\n") {
		if f := strings.Fields(l); len(f) > 5 && f[4] == "/" {
			rootRO = strings.HasPrefix(f[5], "ro")
		}
	}
	if !rootRO {
		t.Errorf("the gofer's root is not read-only under --overlay:\n%s", mi)
	}
	fds, err := os.ReadDir("/proc/" + strconv.Itoa(gofer) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the gofer holds %d descriptors", len(fds))
	if len(fds) > 150 {
		t.Errorf("the gofer holds %d descriptors after 400 files were copied up", len(fds))
	}
}
