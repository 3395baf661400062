package tests

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Real programs over System V IPC, POSIX message queues and namespaces
// (util-linux's ipcs, ipcmk, ipcrm, unshare, mount, procps), each compared
// with a native run as root. Native runs that create IPC objects or
// namespaces run inside `unshare -i` (or the namespaces they ask for), so
// they start from an empty IPC namespace like the sandbox's and leave the
// host's alone; outputs are made deterministic (random keys, pids).

// needTools stops a test when util-linux or procps programs are missing
// (.ci/run installs them).
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: install util-linux and procps (`apt-get install -y util-linux procps`, .ci/run does)", tool)
		}
	}
}

// shellCase is a shell script run natively (behind nativePrefix) and
// under runsc do.
type shellCase struct {
	name         string
	nativePrefix []string
	script       string
}

func runShellCases(t *testing.T, cases []shellCase) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			nat := native(t, opts{}, append(c.nativePrefix, "/bin/sh", "-c", c.script)...)
			if nat.startErr != nil || nat.timedOut || nat.code != 0 {
				t.Fatalf("BUG IN THE TEST: the native run failed%s", nat)
			}
			sb := sandbox(t, opts{}, "/bin/sh", "-c", c.script)
			compareOutputs(t, nat, sb)
		})
	}
}

// TestIPCS runs ipcmk/ipcs/ipcrm: ipcs reads /proc/sysvipc/*, the limits
// in /proc/sys/kernel and shmctl/semctl/msgctl(*_INFO, *_STAT).
func TestIPCS(t *testing.T) {
	needTools(t, "ipcs", "ipcmk", "ipcrm", "unshare")
	keys := `sed -e 's/^0x[0-9a-f]*/KEY/' -e 's/key=0x[0-9a-f]*/key=K/' -e 's/cpid=[0-9]*/cpid=P/' -e 's/time=.*/time=T/' -e 's/time = .*/time = T/'`
	runShellCases(t, []shellCase{
		{name: "objects", nativePrefix: []string{"unshare", "-i"}, script: `
ipcmk -M 100 >/dev/null && ipcmk -S 2 >/dev/null && ipcmk -Q >/dev/null && ipcmk -M 4096 -p 0640 >/dev/null
ipcs | ` + keys + `
ipcs -u
ipcs -m -i 1 | ` + keys + `
ipcs -s -i 0 | ` + keys + `
ipcrm -m 0 && ipcrm -s 0 && ipcrm -q 0 && ipcs -a | ` + keys + `
ls /proc/sysvipc
`},
		{name: "limits", script: `ipcs -l; cat /proc/sys/kernel/sem /proc/sys/kernel/shmmax /proc/sys/kernel/msgmnb; ls /proc/sys/fs/mqueue; cat /proc/sys/fs/mqueue/*`},
	})
}

// TestMqueueMount runs a bundle with config.json's mqueue mount at
// /dev/mqueue (as `runc spec` writes it): the queues mq_open makes show
// there as files holding their QSIZE line, and rm removes them.
func TestMqueueMount(t *testing.T) {
	spec := newSpec("/", "/bin/busybox", "sh", "-c",
		`/mqueue keep /q1 && /bin/busybox ls /dev/mqueue && /bin/busybox cat /dev/mqueue/q1 &&
/bin/busybox stat -c '%s %a %F' /dev/mqueue /dev/mqueue/q1 && /bin/busybox rm /dev/mqueue/q1 && /bin/busybox ls /dev/mqueue && echo empty`)
	spec.Mounts = []ociMount{{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}}}
	dir := makeBundle(t, spec)
	copyFile(t, prog("mqueue"), filepath.Join(dir, "rootfs", "mqueue"), 0o755)
	r := runBundle(t, opts{}, dir)
	expect(t, r, 0, "q1\nQSIZE:11         NOTIFY:0     SIGNO:0     NOTIFY_PID:0     \n60 1777 directory\n80 640 regular file\nempty\n")
}

// TestUnshare runs util-linux's unshare and mount in the sandbox and,
// as root, natively: user namespaces mapping root (also made by an
// unprivileged user, whose namespace's root may not kill, read or rename
// outside it but may in namespaces it owns), mount namespaces with
// a private tmpfs, UTS namespaces with their own host name, IPC
// namespaces with their own objects, pid namespaces whose first process
// is pid 1 (with ps reading the new /proc), network namespaces with only
// lo, and the ns links of /proc.
func TestUnshare(t *testing.T) {
	needTools(t, "unshare", "mount", "ps", "ipcmk", "ipcs", "setpriv")
	runShellCases(t, []shellCase{
		{name: "user", script: `unshare -r id; unshare -r cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups
unshare -U sh -c 'id -u; id -g; cat /proc/self/uid_map | wc -l'
unshare -r sh -c 'echo 0 0 1 > /proc/self/uid_map' 2>/dev/null || echo second write refused`},
		{name: "user-unprivileged", script: `sleep 30 & p=$!
setpriv --reuid=1000 --regid=1000 --clear-groups unshare -r sh -c "id -u; kill $p 2>/dev/null && echo killed || echo kill-refused; cat /etc/shadow >/dev/null 2>&1 && echo read-shadow || echo shadow-denied; hostname h 2>/dev/null || echo hostname-denied"
kill $p
setpriv --reuid=1000 --regid=1000 --clear-groups unshare -r -u sh -c 'hostname h && hostname; grep -E "^(Uid|Gid|Groups):" /proc/self/status'
setpriv --reuid=1000 --regid=1000 --clear-groups unshare -r -m sh -c 'mount -t tmpfs t /mnt && echo mounted'`},
		{name: "mount", script: `unshare -m sh -c 'mount -t tmpfs x /mnt && touch /mnt/a && ls /mnt && grep " /mnt " /proc/self/mounts'
grep -c " /mnt tmpfs " /proc/self/mounts
unshare -m sh -c 'mkdir -p /tmp/veil-b && mount -t tmpfs -o size=1m,mode=0700 y /tmp/veil-b && stat -c %a /tmp/veil-b && mount --bind /tmp/veil-b /mnt && touch /tmp/veil-b/f && ls /mnt && mount -o remount,bind,ro /mnt && (touch /mnt/g 2>/dev/null || echo read-only) && umount /mnt && umount /tmp/veil-b && ls /tmp/veil-b | wc -l'`},
		{name: "uts", script: `unshare -u sh -c 'hostname x; hostname; cat /proc/sys/kernel/hostname'; unshare -u sh -c 'hostname y' && hostname | grep -c '^y$' || echo outer name unchanged`},
		{name: "ipc", nativePrefix: []string{"unshare", "-i"}, script: `ipcmk -Q >/dev/null; unshare -i sh -c 'ipcs -q | grep -c "^0x"'; ipcs -q | grep -c "^0x"`},
		{name: "pid", script: `unshare -p -f --mount-proc ps
unshare -p -f sh -c 'echo pid=$$ ppid=$PPID; sh -c "echo child \$\$"'
unshare -p -f --mount-proc sh -c 'readlink /proc/self; cat /proc/1/comm'
unshare -p -f sh -c 'kill -9 1; echo init survives'
unshare -p -f sh -c 'sleep 100 & echo bg=$!; kill $!; wait $! 2>/dev/null; echo status=$?'`},
		{name: "net", script: `unshare -n sh -c 'ip link set lo up && ip -o link | cut -d" " -f2; ip -o addr | awk "{print \$2, \$3, \$4}"'
a=$(readlink /proc/self/ns/net); b=$(unshare -n readlink /proc/self/ns/net); [ "$a" != "$b" ] && echo new net namespace`},
		{name: "ns-links", script: `for n in cgroup ipc pid time user uts; do readlink /proc/self/ns/$n; done
a=$(readlink /proc/self/ns/uts); b=$(unshare -u readlink /proc/self/ns/uts); [ "$a" != "$b" ] && echo new uts namespace
[ "$(stat -L -c %i /proc/self/ns/ipc)" = 4026531839 ] && echo inode matches`},
	})
}

// TestBubblewrap runs bwrap (a read-only bind of /, its own /dev and
// /proc, new user, IPC, pid, UTS and cgroup namespaces) in the sandbox and
// natively. --unshare-net (and so --unshare-all) is left out: bwrap adds
// 127.0.0.1 to lo with RTM_NEWADDR, which the Sentry's netlink refuses (a
// new network namespace's lo is up with its addresses from the start).
func TestBubblewrap(t *testing.T) {
	needTools(t, "bwrap", "ps")
	args := []string{"bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
		"--unshare-user", "--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup", "--hostname", "bw",
		"sh", "-c", "id; hostname; ls /dev; ps; cat /proc/self/uid_map; touch /etc/x 2>/dev/null || echo read-only"}
	nat := native(t, opts{}, args...)
	if nat.code != 0 {
		t.Fatalf("BUG IN THE TEST: the native run failed%s", nat)
	}
	sb := sandbox(t, opts{}, args...)
	if strings.Contains(sb.stderr, "signalfd") {
		t.Skipf("bwrap needs signalfd(2), which this Sentry lacks%s", sb)
	}
	compareOutputs(t, nat, sb)
}
