package syscalls

// Mounts: mount(2), umount2(2), pivot_root(2), in the caller's mount
// namespace (mount_namespaces(7)); sentry/vfs/mountns.go does the work.

import (
	"strconv"
	"strings"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/fs/devpts"
	"github.com/veil-sandbox/veil/sentry/fs/mqueue"
	"github.com/veil-sandbox/veil/sentry/fs/proc"
	"github.com/veil-sandbox/veil/sentry/fs/sys"
	"github.com/veil-sandbox/veil/sentry/fs/tmpfs"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

func init() {
	register(unix.SYS_MOUNT, "mount", sysMount, Path, Path, Path, Hex, Hex).partial(
		"filesystems tmpfs, proc, mqueue, devpts, sysfs, cgroup2 and bind mounts (others: ENODEV); every mount is private (MS_SHARED, MS_SLAVE accepted as MS_PRIVATE); MS_NOSUID, MS_NODEV and atime flags accepted")
	register(unix.SYS_UMOUNT2, "umount2", sysUmount2, Path, Hex).partial("MNT_EXPIRE: EINVAL; a busy filesystem (open files, working directories) unmounts anyway")
	register(unix.SYS_PIVOT_ROOT, "pivot_root", sysPivotRoot, Path, Path)
}

// ProcOptions are the options of procfs instances mount(2) makes (the
// boot code sets those of /proc).
var ProcOptions = proc.Options{Release: Release}

// SysOptions, if set, are those of the sysfs and cgroup2 instances mount(2)
// makes (the boot code sets those of its own); without them such mounts
// are ENODEV.
var SysOptions *sys.Options

const msMgcMask = 0xffff0000
const msMgcVal = 0xC0ED0000

// mayMount is may_mount(): CAP_SYS_ADMIN in the user namespace owning the
// caller's mount namespace.
func mayMount(t *kernel.Task) error {
	if !t.Credentials().HasCapabilityIn(unix.CAP_SYS_ADMIN, kernel.MountNamespaceOwner(t.Namespaces().Mount)) {
		return unix.EPERM
	}
	return nil
}

func resolve(t *kernel.Task, path string, follow bool) (vfs.VirtualDentry, error) {
	return t.Kernel().VFS().GetDentry(t, t.FSContext().PathOp(vfs.VirtualDentry{}, path, follow))
}

func optString(t *kernel.Task, addr uint64) (string, error) {
	if addr == 0 {
		return "", nil
	}
	return t.CopyInString(uintptr(addr), 4095)
}

// sysMount follows mount(2) and do_mount's order: a remount (with MS_BIND
// only the mount's flags), a bind, a propagation change, then a new
// mount; the target is resolved before the permission check.
func sysMount(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	flags := a[3]
	if flags&msMgcMask == msMgcVal {
		flags &^= msMgcMask
	}
	target, err := t.CopyInString(uintptr(a[1]), unix.PathMax)
	if err != nil {
		return 0, err
	}
	source, err := optString(t, a[0])
	if err != nil {
		return 0, err
	}
	fstype, err := optString(t, a[2])
	if err != nil {
		return 0, err
	}
	var data string
	if flags&(unix.MS_BIND|unix.MS_MOVE|unix.MS_SHARED|unix.MS_PRIVATE|unix.MS_SLAVE|unix.MS_UNBINDABLE) == 0 || flags&unix.MS_REMOUNT != 0 {
		if data, err = optString(t, a[4]); err != nil {
			return 0, err
		}
	}
	tvd, err := resolve(t, target, true)
	if err != nil {
		return 0, err
	}
	defer tvd.DecRef()
	if err := mayMount(t); err != nil {
		return 0, err
	}
	v := t.Kernel().VFS()
	ro, noexec := flags&unix.MS_RDONLY != 0, flags&unix.MS_NOEXEC != 0
	propagation := flags & (unix.MS_SHARED | unix.MS_PRIVATE | unix.MS_SLAVE | unix.MS_UNBINDABLE)
	switch {
	case flags&unix.MS_REMOUNT != 0:
		return 0, v.Remount(tvd, ro, noexec)
	case flags&unix.MS_BIND != 0:
		svd, err := resolve(t, source, true)
		if err != nil {
			return 0, err
		}
		defer svd.DecRef()
		_, err = v.BindMount(svd, tvd, flags&unix.MS_REC != 0)
		return 0, err
	case propagation != 0:
		// One propagation type at a time; the Sentry's mounts are all
		// private, which is what every type means here.
		if propagation&(propagation-1) != 0 || !tvd.IsMountRoot() {
			return 0, unix.EINVAL
		}
		return 0, nil
	case flags&unix.MS_MOVE != 0:
		svd, err := resolve(t, source, true)
		if err != nil {
			return 0, err
		}
		defer svd.DecRef()
		return 0, v.MoveMount(svd, tvd)
	}
	if fstype == "" {
		return 0, unix.EINVAL
	}
	root, pts, err := newFilesystem(t, fstype, data)
	if err != nil {
		return 0, err
	}
	if source == "" {
		source = "none"
	}
	m, err := v.MountIn(t, tvd, root, vfs.MountOptions{ReadOnly: ro, NoExec: noexec, FSType: fstype, Source: source})
	if err == nil && pts != nil {
		// TIOCGPTPEER opens slaves through the instance's mount.
		pts.SetMount(vfs.VirtualDentry{Mount: m, Dentry: m.Root()})
	}
	return 0, err
}

// newFilesystem makes a filesystem for mount(2) of fstype with the
// comma-separated options data; for devpts it also returns the instance.
func newFilesystem(t *kernel.Task, fstype, data string) (vfs.Inode, *devpts.Filesystem, error) {
	k := t.Kernel()
	switch fstype {
	case "tmpfs":
		o, err := tmpfsMountOptions(t, data)
		if err != nil {
			return nil, nil, err
		}
		return tmpfs.New(k.MF, o).Root(), nil, nil
	case "proc":
		// An instance shows the mounter's pid namespace.
		o := ProcOptions
		o.PIDNamespace = t.PIDNamespace()
		return proc.New(k, o), nil, nil
	case "mqueue":
		return mqueue.Of(k, t.IPCNamespace()).Root(), nil, nil
	case "devpts":
		// Each mount is a new instance (bubblewrap's --dev mounts one
		// with newinstance and links /dev/ptmx to its pts/ptmx).
		ns := t.UserNamespace()
		o, err := devpts.ParseOptions(strings.Split(data, ","), ns.MapGID, true)
		if err != nil {
			return nil, nil, err
		}
		pts := devpts.New(o)
		return pts.Root(), pts, nil
	case "sysfs":
		if SysOptions != nil {
			return sys.New(*SysOptions), nil, nil
		}
	case "cgroup2":
		if SysOptions != nil {
			return sys.NewCgroup(*SysOptions), nil, nil
		}
	}
	return nil, nil, unsupported(t, "mount("+fstype+")", unix.ENODEV)
}

// tmpfsMountOptions parses tmpfs's size=, nr_inodes=, mode=, uid= and
// gid= (tmpfs(5)); ids are in the caller's user namespace. Other options
// (nr_blocks, huge=, mpol=, inode64...) are accepted and ignored, except
// malformed values (EINVAL).
func tmpfsMountOptions(t *kernel.Task, data string) (tmpfs.Options, error) {
	o := tmpfs.Options{Mode: 0o1777}
	ns := t.UserNamespace()
	for _, opt := range strings.Split(data, ",") {
		key, val, _ := strings.Cut(opt, "=")
		switch key {
		case "size":
			n, err := tmpfsSizeValue(val)
			if err != nil {
				return o, err
			}
			o.MaxSize = n
		case "nr_inodes":
			n, err := suffixed(val)
			if err != nil {
				return o, err
			}
			o.MaxInodes = uint64(n)
		case "mode":
			m, err := strconv.ParseUint(val, 8, 32)
			if err != nil {
				return o, unix.EINVAL
			}
			o.Mode = uint32(m) & 0o7777
		case "uid", "gid":
			n, err := strconv.ParseUint(val, 10, 32)
			if err != nil {
				return o, unix.EINVAL
			}
			var id uint32
			var ok bool
			if key == "uid" {
				id, ok = ns.MapUID(uint32(n))
				o.UID = id
			} else {
				id, ok = ns.MapGID(uint32(n))
				o.GID = id
			}
			if !ok {
				return o, unix.EINVAL
			}
		}
	}
	return o, nil
}

// suffixed parses a number with an optional k, m, g, t, p or e suffix
// (memparse).
func suffixed(val string) (int64, error) {
	if val == "" {
		return 0, unix.EINVAL
	}
	mult := int64(1)
	switch val[len(val)-1] {
	case 'k', 'K':
		mult = 1 << 10
	case 'm', 'M':
		mult = 1 << 20
	case 'g', 'G':
		mult = 1 << 30
	case 't', 'T':
		mult = 1 << 40
	}
	if mult != 1 {
		val = val[:len(val)-1]
	}
	n, err := strconv.ParseInt(val, 0, 64)
	if err != nil || n < 0 {
		return 0, unix.EINVAL
	}
	return n * mult, nil
}

// tmpfsSizeValue is size=: bytes with a suffix, or a percentage of RAM.
func tmpfsSizeValue(val string) (int64, error) {
	if pct, ok := strings.CutSuffix(val, "%"); ok {
		p, err := strconv.ParseUint(pct, 10, 32)
		if err != nil {
			return 0, unix.EINVAL
		}
		var si unix.Sysinfo_t
		if err := unix.Sysinfo(&si); err != nil {
			return 0, unix.EINVAL
		}
		return int64(si.Totalram * uint64(si.Unit) * p / 100), nil
	}
	return suffixed(val)
}

// umount2(2): MNT_FORCE is accepted (nothing hangs), MNT_DETACH detaches
// the mount and those below it at once, UMOUNT_NOFOLLOW does not follow a
// final symlink.
func sysUmount2(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	flags := int(a[1])
	if flags&^(unix.MNT_FORCE|unix.MNT_DETACH|unix.MNT_EXPIRE|unix.UMOUNT_NOFOLLOW) != 0 {
		return 0, unix.EINVAL
	}
	if flags&unix.MNT_EXPIRE != 0 {
		if flags&(unix.MNT_FORCE|unix.MNT_DETACH) != 0 {
			return 0, unix.EINVAL
		}
		return 0, unsupported(t, "umount2(MNT_EXPIRE)", unix.EINVAL)
	}
	target, err := t.CopyInString(uintptr(a[0]), unix.PathMax)
	if err != nil {
		return 0, err
	}
	vd, err := resolve(t, target, flags&unix.UMOUNT_NOFOLLOW == 0)
	if err != nil {
		return 0, err
	}
	vd = t.Kernel().VFS().TopMount(vd)
	defer vd.DecRef()
	if err := mayMount(t); err != nil {
		return 0, err
	}
	if vd.Mount.Namespace() != t.Namespaces().Mount {
		return 0, unix.EINVAL
	}
	return 0, t.Kernel().VFS().Detach(vd, flags&unix.MNT_DETACH != 0)
}

// pivot_root(2): processes whose root or working directory was the old
// root move to the new one.
func sysPivotRoot(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	newPath, err := t.CopyInString(uintptr(a[0]), unix.PathMax)
	if err != nil {
		return 0, err
	}
	oldPath, err := t.CopyInString(uintptr(a[1]), unix.PathMax)
	if err != nil {
		return 0, err
	}
	if err := mayMount(t); err != nil {
		return 0, err
	}
	newRoot, err := resolve(t, newPath, true)
	if err != nil {
		return 0, err
	}
	defer newRoot.DecRef()
	putOld, err := resolve(t, oldPath, true)
	if err != nil {
		return 0, err
	}
	defer putOld.DecRef()
	// Held: MoveRoots changes the root this reference is borrowed from.
	root := t.FSContext().RootRef()
	defer root.DecRef()
	if _, err := t.Kernel().VFS().PivotRoot(root, newRoot, putOld); err != nil {
		return 0, err
	}
	t.Kernel().MoveRoots(root, vfs.VirtualDentry{Mount: newRoot.Mount, Dentry: newRoot.Mount.Root()})
	return 0, nil
}
