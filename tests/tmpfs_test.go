package tests

import (
	"strings"
	"testing"
)

// TestTmpfsLimits mounts tmpfs file systems with size= and nr_inodes=
// from config.json: writes stop with ENOSPC at the size, df shows it, and
// creating files stops at the inode count.
func TestTmpfsLimits(t *testing.T) {
	t.Run("size", func(t *testing.T) {
		spec := newSpec("/", "/bin/busybox", "sh", "-c", `
df -k /t | tail -n 1
dd if=/dev/zero of=/t/f bs=64k count=32 2>&1 | grep -o 'No space left on device'
wc -c < /t/f
df -k /t | tail -n 1
rm /t/f
head -c 1500000 /dev/zero > /t/g || echo "head failed"
wc -c < /t/g
truncate -s 1G /t/g && echo "truncated up"
`)
		spec.Mounts = []ociMount{{Destination: "/t", Type: "tmpfs", Source: "tmpfs",
			Options: []string{"nosuid", "nodev", "mode=1777", "size=1m"}}}
		r := runBundle(t, opts{}, makeBundle(t, spec))
		want := strings.Join([]string{
			"tmpfs                     1024         0      1024   0% /t",
			"No space left on device",
			"1048576",
			"tmpfs                     1024      1024         0 100% /t",
			"head failed",
			"1048576",
			"truncated up",
		}, "\n") + "\n"
		expect(t, r, 0, want)
	})
	t.Run("nr_inodes", func(t *testing.T) {
		spec := newSpec("/", "/bin/busybox", "sh", "-c", `
df -i /t | tail -n 1
mkdir /t/d && touch /t/d/a /t/b && echo created
touch /t/c 2>&1
ln -s b /t/l 2>&1
rm /t/b; ln -s d /t/l && echo linked
`)
		spec.Mounts = []ociMount{{Destination: "/t", Type: "tmpfs", Source: "tmpfs", Options: []string{"nr_inodes=4"}}}
		r := runBundle(t, opts{}, makeBundle(t, spec))
		expect(t, r, 0, "tmpfs                        4         1         3  25% /t\ncreated\n"+
			"touch: /t/c: No space left on device\nln: /t/l: No space left on device\nlinked\n")
	})
	t.Run("unknown-option", func(t *testing.T) {
		spec := newSpec("/", "/bin/busybox", "true")
		spec.Mounts = []ociMount{{Destination: "/t", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m", "tmpcopyup"}}}
		r := runBundle(t, opts{}, makeBundle(t, spec))
		checkOneLineError(t, r)
		if !strings.Contains(r.stderr, "tmpfs options not supported: tmpcopyup") {
			t.Errorf("the error should name the option%s", r)
		}
	})
}
