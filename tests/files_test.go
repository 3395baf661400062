package tests

import (
	"os"
	"testing"
	"time"
)

// TestFileTools runs Debian programs that use extended attributes,
// inotify and the devices under runsc do, and compares them with native
// runs: ls -l (no error line), cp -a keeping user attributes, getfattr,
// setfattr, python's shutil (copy2, copytree, move across filesystems),
// inotifywait, a python inotify watcher (through ctypes), and /dev/shm,
// /dev/full, /dev/zero, /dev/random. Each works in $D: a directory of the
// host's /tmp natively, the sandbox's tmpfs /tmp inside.
func TestFileTools(t *testing.T) {
	for _, tc := range []struct {
		name   string
		needs  string
		script string
	}{
		{"xattr-tools", "/usr/bin/getfattr", `set -e; cd "$D"; mkdir -p src/sub; echo hi > src/a; echo there > src/sub/b
			setfattr -n user.color -v red src/a; setfattr -n user.deep -v 1 src/sub/b; setfattr -n user.dir -v d src/sub
			cp -a src dst; getfattr -R -d --absolute-names dst 2>&1 | sed "s|$D/||" | sort
			getfattr -n user.color --only-values dst/a; echo
			setfattr -x user.color dst/a; getfattr -d dst/a | wc -l
			ls -l src dst >/dev/null; ls -l --time-style=+ src | tail -n +2 | awk '{print $1, $NF}'
			getfattr -n user.none src/a 2>&1 | sed "s|$D/||"; true`},
		{"shutil", "/usr/bin/python3", `/usr/bin/python3 - <<'PY'
import os, shutil
d = os.environ["D"]
os.makedirs(d + "/src/sub")
for p, v in (("a", b"1"), ("sub/b", b"2")):
    with open(d + "/src/" + p, "w") as f:
        f.write(p)
    os.setxattr(d + "/src/" + p, "user.tag", v)
os.setxattr(d + "/src/sub", "user.dir", b"d")
shutil.copy2(d + "/src/a", d + "/c2")
print(os.getxattr(d + "/c2", "user.tag"))
shutil.copytree(d + "/src", d + "/tree")
print(sorted(os.listxattr(d + "/tree/sub")), os.getxattr(d + "/tree/sub/b", "user.tag"))
shutil.move(d + "/tree", d + "/moved")
print(os.path.exists(d + "/tree"), os.listxattr(d + "/moved/a"))
shm = "/dev/shm/veil-shutil-%d" % os.getpid()
shutil.move(d + "/moved", shm)
print(sorted(os.listdir(shm)), os.getxattr(shm + "/sub/b", "user.tag"))
shutil.rmtree(shm)
try:
    os.setxattr(d + "/c2", "trusted.t", b"x")
    print(os.getxattr(d + "/c2", "trusted.t"))
except OSError as e:
    print("trusted", e.errno)
PY`},
		{"inotifywait", "/usr/bin/inotifywait", `cd "$D"; mkdir w
			inotifywait -e create w > out 2> err & pid=$!
			until grep -qs established err; do sleep 0.05; done
			touch w/first; wait $pid; echo "exit $?"; sed "s|^w/|W/|" out
			exec 3< <(exec inotifywait -m --format '%e %f' w 2> err2)
			until grep -qs established err2; do sleep 0.05; done
			echo x > w/a; mv w/a w/b; chmod 600 w/b; mkdir w/d; rmdir w/d; rm w/b; touch w/stop
			while read -r -u 3 ev f; do echo "$ev $f"; [ "$f" = stop ] && break; done | grep -v "ACCESS\|OPEN\|CLOSE_NOWRITE"
			kill %2 2>/dev/null; true`},
		{"python-inotify", "/usr/bin/python3", `/usr/bin/python3 - <<'PY'
import ctypes, os, struct
libc = ctypes.CDLL(None, use_errno=True)
d = os.environ["D"] + "/watched"
os.mkdir(d)
fd = libc.inotify_init1(os.O_NONBLOCK)
wd = libc.inotify_add_watch(fd, d.encode(), 0xfff)
with open(d + "/f", "w") as f:
    f.write("x")
os.rename(d + "/f", d + "/g")
os.unlink(d + "/g")
names = {1: "ACCESS", 2: "MODIFY", 4: "ATTRIB", 8: "CLOSE_WRITE", 16: "CLOSE_NOWRITE", 32: "OPEN",
         64: "MOVED_FROM", 128: "MOVED_TO", 256: "CREATE", 512: "DELETE"}
buf = os.read(fd, 4096)
cookies = {}
while buf:
    w, mask, cookie, n = struct.unpack("iIII", buf[:16])
    name = buf[16:16 + n].rstrip(b"\0").decode()
    c = cookies.setdefault(cookie, len(cookies)) if cookie else "-"
    print(w == wd, "|".join(v for k, v in names.items() if mask & k), c, name)
    buf = buf[16 + n:]
PY`},
		{"devices", "/usr/bin/python3", `ls -ld /dev/shm | cut -c1-10; stat -f -c %T /dev/shm
			echo x > /dev/shm/veil-$$ && cat /dev/shm/veil-$$ && rm /dev/shm/veil-$$
			echo x > /dev/full; echo "full: $?"
			head -c 8 /dev/zero | od -An -tx1; dd if=/dev/full bs=4 count=1 2>/dev/null | od -An -tx1
			head -c 16 /dev/random | wc -c; head -c 16 /dev/urandom | wc -c
			ls -l /dev/null /dev/zero /dev/full /dev/random /dev/urandom | awk '{print $1, $5, $6, $NF}'
			/usr/bin/python3 -c "
import os
fd = os.open('/dev/full', os.O_WRONLY)
try:
    os.write(fd, b'x')
except OSError as e:
    print('ENOSPC', e.errno == 28)
print(os.write(os.open('/dev/random', os.O_WRONLY), b'entropy'), len(os.getrandom(8)))"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := os.Stat(tc.needs); err != nil {
				t.Fatalf("%s is not installed (.ci/run installs it): %v", tc.needs, err)
			}
			o := opts{timeout: 60 * time.Second}
			nat := native(t, withEnv(o, "D="+t.TempDir(), "LC_ALL=C"), "/bin/bash", "-c", tc.script)
			if nat.code != 0 {
				t.Fatalf("BUG IN THE TEST: the native run failed%s", nat)
			}
			sb := sandbox(t, withEnv(o, "D=/tmp", "LC_ALL=C"), "/bin/bash", "-c", tc.script)
			checkNoCrash(t, sb)
			compareOutputs(t, nat, sb)
			if sb.stderr != nat.stderr {
				t.Errorf("stderr differs from the native run's:\nsandbox:%s\nnative:%s", sb, nat)
			}
		})
	}
}
