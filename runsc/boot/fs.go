package boot

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"os"
	"path"
	"runtime"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/veil-sandbox/veil/gofer"
	"github.com/veil-sandbox/veil/sentry/fs/dev"
	"github.com/veil-sandbox/veil/sentry/fs/devpts"
	goferfs "github.com/veil-sandbox/veil/sentry/fs/gofer"
	"github.com/veil-sandbox/veil/sentry/fs/mqueue"
	"github.com/veil-sandbox/veil/sentry/fs/proc"
	"github.com/veil-sandbox/veil/sentry/fs/sys"
	"github.com/veil-sandbox/veil/sentry/fs/tmpfs"
	"github.com/veil-sandbox/veil/sentry/hostinfo"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/memfile"
	"github.com/veil-sandbox/veil/sentry/netstack"
	"github.com/veil-sandbox/veil/sentry/socket"
	"github.com/veil-sandbox/veil/sentry/vdso"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/syscalls"
	"golang.org/x/sys/unix"
)

// sandbox is the kernel of a sandbox and what it was built from.
type sandbox struct {
	k            *kernel.Kernel
	platformNote string          // which platform, and why (PlatformStart.Wait)
	clients      []*gofer.Client // one per gofer connection
	pts          *devpts.Filesystem
	// sysOpts describe sysfs and the cgroup view, whichever mounts them.
	sysOpts sys.Options
	// shm is the Sentry's default /dev/shm, replaced by one config.json
	// mounts there.
	shm *vfs.Mount
	// procOpts are the options of the sandbox's /proc, which the other
	// containers of a pod get too (with their own pid namespace).
	procOpts proc.Options
	// volumes holds the pod's shared tmpfs volumes (pod.go).
	volumes podVolumes
}

// mountTarget is the tree a container's mounts go into.
type mountTarget struct {
	// root is the container's root (the VFS root for the sandbox's own
	// container).
	root vfs.VirtualDentry
	// clients are the container's gofer connections and binds the
	// connection index of each directory bind's destination.
	clients []*gofer.Client
	binds   map[string]int
	// sub: a further container of a pod, which shares the pod's /dev/shm.
	sub bool
	// podVolumes are the sources of the binds that are the pod's shared
	// tmpfs volumes (Spec.PodVolumes).
	podVolumes map[string]bool
	// revalidate: directory binds are seen by other containers too.
	revalidate bool
	// goferRoot is the root of the container's gofer filesystem, where
	// the gofer shows its file binds.
	goferRoot vfs.Inode
}

// build creates the kernel with its filesystems: the gofer root, the
// Sentry's own /dev and /proc, and the mounts of the OCI spec, from the
// gofer connections in f. It runs on the platform f.Platform began,
// waited for as late as can be: systrap probes its first stub meanwhile.
func build(spec *Spec, f Files) (*sandbox, error) {
	goferConns, host, hostNet := f.Gofers, f.Host, f.HostNetwork
	mf, err := memfile.New()
	if err != nil {
		return nil, err
	}
	// veil: vdso. Created first: its TSC calibration (a few ms, from
	// f.Calibration on) runs while the rest of the sandbox is set up.
	vd, err := vdso.New(mf, vdso.Options{Calibration: f.Calibration})
	if err != nil {
		return nil, err
	}
	ctx := bootContext{}
	v := vfs.New(mf)
	s := &sandbox{}
	if len(goferConns) != 1+len(spec.BindMounts) {
		return nil, fmt.Errorf("%d gofer connections for %d bind mounts", len(goferConns), len(spec.BindMounts))
	}
	for i, conn := range goferConns {
		c, err := gofer.NewClient(conn)
		if err != nil {
			return nil, fmt.Errorf("connecting to gofer (%d): %w", i, err)
		}
		s.clients = append(s.clients, c)
	}
	// Under an overlay the gofer's root takes no writes at all.
	rootRO := spec.OCI.Root != nil && spec.OCI.Root.Readonly
	rootFS, err := goferfs.New(s.clients[0], mf, goferfs.Options{ReadOnly: rootRO || spec.Overlay})
	if err != nil {
		return nil, fmt.Errorf("root filesystem: %w", err)
	}
	if err := mountRoot(ctx, v, mf, rootFS.Root(), rootRO, spec.Overlay); err != nil {
		return nil, err
	}

	p, note, err := f.Platform.Wait()
	if err != nil {
		return nil, err
	}
	s.platformNote = note
	k, err := kernel.New(p, mf, v, syscalls.Dispatch)
	if err != nil {
		return nil, err
	}
	s.k = k
	// Every network namespace has a socket stack with a TCP/IP stack of
	// its own (sentry/netstack): the sandbox's initial one, unless host
	// sockets serve it (--network=host), and each one made inside (its
	// abstract unix names, netlink ports, a loopback interface).
	if spec.Network != NetworkHost {
		ns, err := netstack.Attach(socket.StackFor(k))
		if err != nil {
			return nil, err
		}
		ns.AllowRawSockets = spec.NetRaw
		if err := applyNetSysctls(ns, sysctls(spec.OCI)); err != nil {
			return nil, err
		}
	}
	k.NewNetworkStack = func(*kernel.NetNamespace) (any, error) {
		st := socket.NewStack()
		ns, err := netstack.Attach(st)
		if err != nil {
			return nil, err
		}
		ns.AllowRawSockets = spec.NetRaw
		return st, nil
	}
	// Before /proc is mounted: its /proc/net lists the stack's files.
	if err := setupNetwork(socket.StackFor(k), spec.Network, hostNet); err != nil {
		return nil, err
	}
	k.HostSignalsActOnInit = spec.HostSignalsActOnInit
	k.VDSO = vd // veil: vdso
	k.SetHostname(spec.OCI.Hostname)
	if spec.OCI.Domainname != "" {
		k.SetDomainname(spec.OCI.Domainname)
	}
	if spec.Strace {
		k.Strace = os.Stderr
	}

	ptsOpts, err := ptsOptions(spec.OCI)
	if err != nil {
		return nil, err
	}
	if s.pts, err = dev.MountWith(ctx, v, ptsOpts); err != nil {
		return nil, fmt.Errorf("mounting /dev: %w", err)
	}
	if s.shm, err = mountAt(v, "/dev/shm"); err != nil {
		return nil, err
	}
	if host == nil || len(host.CPUs) == 0 {
		host = hostinfo.Synthetic(runtime.NumCPU())
	}
	s.sysOpts = sys.Options{CPUs: host, Limits: spec.Limits, Source: sys.KernelSource(k)}
	// mount -t sysfs and -t cgroup2 inside show the same.
	syscalls.SysOptions = &s.sysOpts
	procOpts := proc.Options{
		Release: syscalls.Release, Sysctls: sysctls(spec.OCI), CPUs: host, MemoryLimit: spec.Limits.MemoryMax,
		// The Sentry's own /proc (its confined root's) shows the host's
		// memory figures.
		HostMeminfo: func() ([]byte, error) { return os.ReadFile("/proc/meminfo") },
	}
	if p := spec.OCI.Process; p != nil && p.OOMScoreAdj != nil {
		procOpts.OOMScoreAdj = *p.OOMScoreAdj
	}
	// mount -t proc inside makes instances with the same options.
	syscalls.ProcOptions = procOpts
	s.procOpts = procOpts
	if _, err := v.MountAt(ctx, "/proc", proc.New(k, procOpts),
		vfs.MountOptions{FSType: "proc", Source: "proc", NoSuid: true, NoDev: true, NoExec: true}); err != nil {
		return nil, fmt.Errorf("mounting /proc: %w", err)
	}
	if err := s.mountAll(spec, &mountTarget{root: v.Root(), clients: s.clients, revalidate: spec.Pod, goferRoot: rootFS.Root()}); err != nil {
		return nil, err
	}
	return s, nil
}

// mountAll mounts the mounts of spec into t and masks its paths.
func (s *sandbox) mountAll(spec *Spec, t *mountTarget) error {
	t.binds = map[string]int{}
	for i, dst := range spec.BindMounts {
		t.binds[dst] = i + 1
	}
	t.podVolumes = map[string]bool{}
	for _, src := range spec.PodVolumes {
		t.podVolumes[src] = true
	}
	for _, m := range spec.OCI.Mounts {
		if err := s.mount(t, m); err != nil {
			return fmt.Errorf("mount %s (%s): %w", m.Destination, m.Type, err)
		}
	}
	if spec.OCI.Linux != nil {
		if err := maskPaths(s.k.VFS(), t.root, spec.OCI.Linux.MaskedPaths, spec.OCI.Linux.ReadonlyPaths); err != nil {
			return err
		}
	}
	return nil
}

// MountKind is how the Sentry serves one mount of config.json.
type MountKind int

// Mount kinds.
const (
	// MountSentryDefault: the Sentry already provides it (/proc, /dev,
	// /dev/pts).
	MountSentryDefault MountKind = iota
	// MountTmpfs: a tmpfs in Sentry memory.
	MountTmpfs
	// MountEmpty: a pseudo filesystem the Sentry does not have yet,
	// shown as an empty read-only directory (devpts elsewhere than
	// /dev/pts).
	MountEmpty
	// MountMqueue: the POSIX message queues of the container's IPC
	// namespace (sentry/fs/mqueue).
	MountMqueue
	// MountSysfs: the Sentry's sysfs (sentry/fs/sys), read-only.
	MountSysfs
	// MountCgroup: the Sentry's read-only cgroup v2 view of the
	// sandbox's limits and usage (for "cgroup" and "cgroup2" alike).
	MountCgroup
	// MountBindDir: a host directory, served by its own gofer
	// connection.
	MountBindDir
	// MountBindFile: a host file, seen through the root connection
	// (the gofer bind-mounts it into its view of the root).
	MountBindFile
)

// ClassifyMount says how m is served, or why it cannot be. isDir tells
// whether a bind mount's source is a directory (runsc checks it on the
// host).
func ClassifyMount(m specs.Mount, isDir bool) (MountKind, error) {
	if !path.IsAbs(m.Destination) {
		return 0, fmt.Errorf("mount destination %q is not an absolute path", m.Destination)
	}
	dst := path.Clean(m.Destination)
	if IsBind(m) {
		if dst == "/dev/shm" {
			// Shared memory lives in Sentry memory (the engine's host
			// tmpfs for it would be a host mount the sandbox writes).
			return MountTmpfs, nil
		}
		if isDir {
			return MountBindDir, nil
		}
		return MountBindFile, nil
	}
	switch m.Type {
	case "proc":
		if dst == "/proc" {
			return MountSentryDefault, nil
		}
		return 0, fmt.Errorf("proc is only supported at /proc")
	case "tmpfs":
		if dst == "/dev" {
			return MountSentryDefault, nil
		}
		// Checked here so runsc reports bad options before it starts
		// the sandbox.
		if _, err := tmpfsOptions(m); err != nil {
			return 0, err
		}
		return MountTmpfs, nil
	case "devtmpfs":
		if dst == "/dev" {
			return MountSentryDefault, nil
		}
	case "devpts":
		if dst == "/dev/pts" {
			// The Sentry's /dev/pts holds the terminals it was given.
			return MountSentryDefault, nil
		}
		return MountEmpty, nil
	case "mqueue":
		return MountMqueue, nil
	case "sysfs":
		return MountSysfs, nil
	case "cgroup", "cgroup2":
		return MountCgroup, nil
	}
	return 0, fmt.Errorf("filesystem type %q is not supported", m.Type)
}

// IsBind reports whether m is a bind mount (type "bind", or any type with
// the bind or rbind option, as runc reads it).
func IsBind(m specs.Mount) bool {
	if m.Type == "bind" {
		return true
	}
	for _, o := range m.Options {
		if o == "bind" || o == "rbind" {
			return true
		}
	}
	return false
}

// mountFlags are the options the Sentry's VFS honours.
func mountFlags(m specs.Mount) vfs.MountOptions {
	var o vfs.MountOptions
	for _, opt := range m.Options {
		switch opt {
		case "ro":
			o.ReadOnly = true
		case "rw":
			o.ReadOnly = false
		case "noexec":
			o.NoExec = true
		case "exec":
			o.NoExec = false
		case "nosuid":
			o.NoSuid = true
		case "suid":
			o.NoSuid = false
		case "nodev":
			o.NoDev = true
		case "dev":
			o.NoDev = false
		}
	}
	return o
}

// tmpfsOptions reads the options of a tmpfs mount as Linux's tmpfs does:
// mode=, uid=, gid=, size= (bytes with a k, m, g, t, p or e suffix, or a
// percentage of the host's RAM), nr_blocks= (pages) and nr_inodes=, all
// enforced. Flags the VFS applies or that mean nothing to an in-memory
// filesystem are accepted; anything else is an error naming it, rather
// than an option silently ignored.
func tmpfsOptions(m specs.Mount) (tmpfs.Options, error) {
	o := tmpfs.Options{Mode: 0o1777}
	var unknown []string
	for _, opt := range m.Options {
		k, val, hasVal := strings.Cut(opt, "=")
		if !hasVal {
			if !harmlessTmpfsFlags[opt] {
				unknown = append(unknown, opt)
			}
			continue
		}
		var err error
		switch k {
		case "mode":
			var n uint64
			n, err = strconv.ParseUint(val, 8, 32)
			o.Mode = uint32(n) & 0o7777
		case "uid", "gid":
			var n uint64
			n, err = strconv.ParseUint(val, 10, 32)
			if err == nil && n == math.MaxUint32 {
				err = errors.New("not a valid id")
			}
			if k == "uid" {
				o.UID = uint32(n)
			} else {
				o.GID = uint32(n)
			}
		case "size":
			o.MaxSize, err = tmpfsSize(val)
		case "nr_blocks":
			var n uint64
			if n, err = memparseAll(val); err == nil {
				if n > math.MaxInt64/memfile.PageSize {
					err = errors.New("too large")
				}
				o.MaxSize = int64(n) * memfile.PageSize
			}
		case "nr_inodes":
			o.MaxInodes, err = memparseAll(val)
		default:
			unknown = append(unknown, opt)
			continue
		}
		if err != nil {
			return o, fmt.Errorf("tmpfs option %q: %w", opt, err)
		}
	}
	if len(unknown) > 0 {
		return o, fmt.Errorf("tmpfs options not supported: %s", strings.Join(unknown, ", "))
	}
	return o, nil
}

// harmlessTmpfsFlags are the tmpfs mount options without a value that
// runsc accepts: the VFS's own (ro, rw, noexec, exec), and those that
// change nothing for a tmpfs in the Sentry (it has no device files of its
// own to forbid, never honours set-id bits differently, keeps no atime
// policy, has no mount propagation and never swaps).
var harmlessTmpfsFlags = map[string]bool{
	"ro": true, "rw": true, "noexec": true, "exec": true,
	"nosuid": true, "suid": true, "nodev": true, "dev": true,
	"strictatime": true, "nostrictatime": true, "relatime": true, "norelatime": true,
	"noatime": true, "atime": true, "nodiratime": true, "diratime": true,
	"async": true, "defaults": true, "noswap": true, "inode64": true,
	"private": true, "rprivate": true, "shared": true, "rshared": true,
	"slave": true, "rslave": true, "unbindable": true, "runbindable": true,
}

// tmpfsSize parses size=: bytes (memparse suffixes), rounded up to pages
// by tmpfs, or N% of the host's RAM, as Linux computes it.
func tmpfsSize(val string) (int64, error) {
	n, rest, err := memparse(val)
	if err != nil {
		return 0, err
	}
	switch rest {
	case "":
	case "%":
		var si unix.Sysinfo_t
		if err := unix.Sysinfo(&si); err != nil {
			return 0, fmt.Errorf("host memory size: %w", err)
		}
		ram := uint64(si.Totalram) * uint64(si.Unit)
		hi, lo := bits.Mul64(n, ram)
		if hi >= 100 {
			return 0, errors.New("too large")
		}
		n, _ = bits.Div64(hi, lo, 100)
	default:
		return 0, fmt.Errorf("unexpected %q", rest)
	}
	if n > math.MaxInt64-memfile.PageSize {
		return 0, errors.New("too large")
	}
	return int64(n), nil
}

// memparseAll is memparse of a whole value.
func memparseAll(val string) (uint64, error) {
	n, rest, err := memparse(val)
	if err == nil && rest != "" {
		err = fmt.Errorf("unexpected %q", rest)
	}
	return n, err
}

// memparse reads a number as Linux's memparse does: C notation (0x
// hexadecimal, leading 0 octal) and an optional suffix K, M, G, T, P or E
// (either case) multiplying by a power of 1024. It returns what follows.
func memparse(s string) (uint64, string, error) {
	base, digits := 10, s
	switch {
	case len(s) > 2 && s[0] == '0' && s[1]|0x20 == 'x' && digitValue(s[2]) < 16:
		base, digits = 16, s[2:]
	case len(s) > 1 && s[0] == '0':
		base = 8
	}
	end := 0
	for end < len(digits) && digitValue(digits[end]) < base {
		end++
	}
	if end == 0 {
		return 0, s, errors.New("not a number")
	}
	n, err := strconv.ParseUint(digits[:end], base, 64)
	if err != nil {
		return 0, s, errors.New("too large")
	}
	rest := digits[end:]
	if rest != "" {
		if shift := strings.IndexByte("kmgtpe", rest[0]|0x20); shift >= 0 {
			sh := 10 * uint(shift+1)
			if n > math.MaxUint64>>sh {
				return 0, s, errors.New("too large")
			}
			n <<= sh
			rest = rest[1:]
		}
	}
	return n, rest, nil
}

func digitValue(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return 99
}

func (s *sandbox) mount(t *mountTarget, m specs.Mount) error {
	ctx := bootContext{}
	v := s.k.VFS()
	mf := v.MemoryFile()
	dst := path.Clean(m.Destination)
	if IsBind(m) && t.podVolumes[path.Clean(m.Source)] {
		vol, err := s.volumes.get(v, m.Source)
		if err != nil {
			return err
		}
		bm, err := v.BindMountAt(ctx, t.root, dst, vol)
		if err == nil && mountFlags(m).ReadOnly {
			err = v.Remount(vfs.VirtualDentry{Mount: bm, Dentry: bm.Root()}, true, false)
		}
		return err
	}
	conn, isDirBind := t.binds[dst]
	kind, err := ClassifyMount(m, isDirBind)
	if err != nil {
		return err
	}
	opts := mountFlags(m)
	switch kind {
	case MountSentryDefault:
		return nil
	case MountBindFile:
		return s.mountFileBind(t, m, dst, opts)
	case MountTmpfs:
		// A bind of /dev/shm carries bind options, not tmpfs ones.
		to := tmpfs.Options{Mode: 0o1777}
		if !IsBind(m) {
			if to, err = tmpfsOptions(m); err != nil {
				return err
			}
		}
		opts.FSType, opts.Source = "tmpfs", "tmpfs"
		if dst == "/dev/shm" && t.sub {
			// The pod's /dev/shm is already there: POSIX shared memory
			// is shared by the pod, as its IPC namespace is.
			return nil
		}
		if dst == "/dev/shm" {
			// It replaces the Sentry's own, rather than showing twice
			// in /proc/mounts.
			if err := s.unmountDefaultShm(v); err != nil {
				return err
			}
			opts.Source = "shm"
		}
		_, err = v.MountAtFrom(ctx, t.root, dst, tmpfs.New(mf, to).Root(), opts)
		return err
	case MountSysfs:
		opts.ReadOnly = true
		opts.FSType, opts.Source = "sysfs", "sysfs"
		_, err = v.MountAtFrom(ctx, t.root, dst, sys.New(s.sysOpts), opts)
		return err
	case MountCgroup:
		opts.ReadOnly = true
		opts.FSType, opts.Source = "cgroup2", "cgroup2"
		_, err = v.MountAtFrom(ctx, t.root, dst, sys.NewCgroup(s.sysOpts), opts)
		return err
	case MountEmpty:
		opts.ReadOnly = true
		opts.FSType, opts.Source = m.Type, m.Type
		_, err = v.MountAtFrom(ctx, t.root, dst, tmpfs.New(mf, tmpfs.Options{Mode: 0o555}).Root(), opts)
		return err
	case MountMqueue:
		opts.FSType, opts.Source = "mqueue", m.Source
		if opts.Source == "" {
			opts.Source = "mqueue"
		}
		_, err = v.MountAtFrom(ctx, t.root, dst, mqueue.Of(s.k, s.k.RootNamespaces().IPC).Root(), opts)
		return err
	case MountBindDir:
		fs, err := goferfs.New(t.clients[conn], mf, goferfs.Options{ReadOnly: opts.ReadOnly, Revalidate: t.revalidate})
		if err != nil {
			return err
		}
		opts.FSType, opts.Source = "9p", m.Source
		_, err = v.MountAtFrom(ctx, t.root, dst, fs.Root(), opts)
		return err
	}
	return fmt.Errorf("unknown mount kind %d", kind)
}

// mountFileBind shows the file bind m at dst. The gofer bound the host
// file at dst in its view of the root, so it is seen through the root
// filesystem, unless dst's directory is a filesystem of the Sentry (the
// kubelet's /dev/termination-log in the Sentry's /dev): then the gofer's
// file is mounted over dst.
func (s *sandbox) mountFileBind(t *mountTarget, m specs.Mount, dst string, opts vfs.MountOptions) error {
	ctx := bootContext{}
	v := s.k.VFS()
	dir, err := v.GetDentry(ctx, vfs.PathOperation{Root: t.root, Start: t.root, Path: path.Dir(dst), FollowFinal: true})
	if err != nil {
		return err
	}
	inRoot := dir.Mount == t.root.Mount
	dir.DecRef()
	if inRoot || t.goferRoot == nil {
		return nil
	}
	file := t.goferRoot
	for _, name := range strings.Split(strings.TrimPrefix(dst, "/"), "/") {
		if file, err = file.Lookup(ctx, name); err != nil {
			return fmt.Errorf("the gofer's %s: %w", dst, err)
		}
	}
	opts.FSType, opts.Source = "9p", m.Source
	_, err = v.MountFileAt(ctx, t.root, dst, file, opts)
	return err
}

// mountAt returns the mount whose root is at path.
func mountAt(v *vfs.VirtualFilesystem, path string) (*vfs.Mount, error) {
	root := v.Root()
	vd, err := v.GetDentry(bootContext{}, vfs.PathOperation{Root: root, Start: root, Path: path, FollowFinal: true})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return vd.Mount, nil
}

// unmountDefaultShm takes the Sentry's /dev/shm away (once) so that the
// one config.json mounts is the only one.
func (s *sandbox) unmountDefaultShm(v *vfs.VirtualFilesystem) error {
	if s.shm == nil {
		return nil
	}
	m := s.shm
	s.shm = nil
	root := v.Root()
	pop := vfs.PathOperation{Root: root, Start: root, Path: "/dev/shm", FollowFinal: true}
	vd, err := v.GetDentry(bootContext{}, pop)
	if err != nil || vd.Mount != m {
		return nil // already covered or gone
	}
	if err := v.Unmount(bootContext{}, pop); err != nil {
		return fmt.Errorf("replacing the default /dev/shm: %w", err)
	}
	return nil
}

// maskPaths hides linux.maskedPaths under empty read-only directories and
// makes linux.readonlyPaths read-only, where they exist in the sandbox
// (the Sentry's /proc and /sys have few of the files engines mask).
func maskPaths(v *vfs.VirtualFilesystem, root vfs.VirtualDentry, masked, readonly []string) error {
	ctx := bootContext{}
	for _, p := range masked {
		st, err := v.Stat(ctx, vfs.PathOperation{Root: root, Start: root, Path: p, FollowFinal: true})
		if err != nil {
			continue // nothing to hide
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return fmt.Errorf("linux.maskedPaths: masking the file %s is not supported", p)
		}
		empty := tmpfs.New(v.MemoryFile(), tmpfs.Options{Mode: 0o555})
		if _, err := v.MountAtFrom(ctx, root, p, empty.Root(), vfs.MountOptions{ReadOnly: true, FSType: "tmpfs", Source: "tmpfs"}); err != nil {
			return fmt.Errorf("linux.maskedPaths: %s: %w", p, err)
		}
	}
	for _, p := range readonly {
		vd, err := v.GetDentry(ctx, vfs.PathOperation{Root: root, Start: root, Path: p, FollowFinal: true})
		if err != nil {
			continue
		}
		vd.DecRef() // the proc mount keeps its own
		if !vd.Dentry.IsDir() {
			// Files the Sentry serves under /proc are read-only already
			// unless Linux lets root write them.
			continue
		}
		if _, err := v.MountAtFrom(ctx, root, p, vd.Inode(), vfs.MountOptions{ReadOnly: true, FSType: "proc", Source: "proc"}); err != nil {
			return fmt.Errorf("linux.readonlyPaths: %s: %w", p, err)
		}
	}
	return nil
}

func sysctls(spec *specs.Spec) map[string]string {
	if spec.Linux == nil {
		return nil
	}
	return spec.Linux.Sysctl
}
