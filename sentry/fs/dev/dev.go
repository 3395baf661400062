// Package dev is the Sentry's /dev: a tmpfs holding the memory character
// devices (null, zero, full, random, urandom), tty, console (see tty.go)
// and ptmx, the symlinks fd, stdin, stdout, stderr into /proc/self/fd, and
// the directories shm and pts for the file systems Mount mounts there: a
// tmpfs, and devpts (the sandbox's own pseudo-terminals, and the host
// terminals it was given).
//
// The devices themselves are registered with vfs.RegisterCharDevice when
// the package is linked in, so device nodes mknod'ed anywhere else work
// too.
package dev

import (
	"crypto/rand"
	"math"
	"sync/atomic"

	"github.com/veil-sandbox/veil/sentry/fs/devpts"
	"github.com/veil-sandbox/veil/sentry/fs/tmpfs"
	"github.com/veil-sandbox/veil/sentry/memfile"
	"github.com/veil-sandbox/veil/sentry/mm"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

func init() {
	vfs.RegisterCharDevice(vfs.MemMajor, vfs.NullMinor, func(vfs.Context, uint32) (vfs.FileImpl, error) { return nullDev{}, nil })
	vfs.RegisterCharDevice(vfs.MemMajor, vfs.ZeroMinor, func(vfs.Context, uint32) (vfs.FileImpl, error) { return zeroDev{}, nil })
	vfs.RegisterCharDevice(vfs.MemMajor, vfs.FullMinor, func(vfs.Context, uint32) (vfs.FileImpl, error) { return fullDev{}, nil })
	vfs.RegisterCharDevice(vfs.MemMajor, vfs.RandomMinor, func(vfs.Context, uint32) (vfs.FileImpl, error) { return randomDev{}, nil })
	vfs.RegisterCharDevice(vfs.MemMajor, vfs.URandomMinor, func(vfs.Context, uint32) (vfs.FileImpl, error) { return randomDev{}, nil })
}

// New returns the root directory of a new /dev filesystem.
func New(ctx vfs.Context, mf *memfile.File) (vfs.Inode, error) {
	defaultMF.CompareAndSwap(nil, mf)
	fs := tmpfs.New(mf, tmpfs.Options{Mode: 0o755})
	root := fs.Root()
	for _, d := range []struct {
		name  string
		minor uint32
		major uint32
		mode  uint32
	}{
		{"null", vfs.NullMinor, vfs.MemMajor, 0o666}, {"zero", vfs.ZeroMinor, vfs.MemMajor, 0o666},
		{"full", vfs.FullMinor, vfs.MemMajor, 0o666}, {"random", vfs.RandomMinor, vfs.MemMajor, 0o666},
		{"urandom", vfs.URandomMinor, vfs.MemMajor, 0o666},
		{"tty", vfs.TTYMinor, vfs.TTYAuxMajor, 0o666}, {"console", vfs.ConsoleMinor, vfs.TTYAuxMajor, 0o600},
		{"ptmx", devpts.PtmxMinor, devpts.PtmxMajor, 0o666},
	} {
		if _, err := root.Mknod(ctx, d.name, unix.S_IFCHR|d.mode, vfs.MakeDev(d.major, d.minor)); err != nil {
			return nil, err
		}
	}
	for _, l := range [][2]string{{"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"}} {
		if _, err := root.Symlink(ctx, l[0], l[1]); err != nil {
			return nil, err
		}
	}
	if _, err := root.Mkdir(ctx, "shm", 0o1777); err != nil {
		return nil, err
	}
	if _, err := root.Mkdir(ctx, "pts", 0o755); err != nil {
		return nil, err
	}
	return root, nil
}

// Mount mounts a new /dev at /dev (created in the VFS only if missing), a
// new tmpfs (mode 01777) at /dev/shm and a devpts with a Debian host's
// options at /dev/pts.
func Mount(ctx vfs.Context, v *vfs.VirtualFilesystem) error {
	_, err := MountWith(ctx, v, devpts.HostDefaults)
	return err
}

// MountWith is Mount with the given devpts options; it returns the devpts
// instance, which /dev/ptmx opens.
func MountWith(ctx vfs.Context, v *vfs.VirtualFilesystem, pts devpts.Options) (*devpts.Filesystem, error) {
	root, err := New(ctx, v.MemoryFile())
	if err != nil {
		return nil, err
	}
	if _, err := v.MountAt(ctx, "/dev", root, vfs.MountOptions{FSType: "tmpfs", Source: "dev"}); err != nil {
		return nil, err
	}
	shm := tmpfs.New(v.MemoryFile(), tmpfs.Options{Mode: 0o1777})
	if _, err := v.MountAt(ctx, "/dev/shm", shm.Root(), vfs.MountOptions{FSType: "tmpfs", Source: "shm"}); err != nil {
		return nil, err
	}
	fs := devpts.New(pts)
	m, err := v.MountAt(ctx, "/dev/pts", fs.Root(), vfs.MountOptions{FSType: "devpts", Source: "devpts", NoExec: true})
	if err != nil {
		return nil, err
	}
	fs.SetMount(vfs.VirtualDentry{Mount: m, Dentry: m.Root()})
	devpts.SetDefault(fs)
	return fs, nil
}

// memDev is what every memory device shares: a position that lseek may
// set freely, no ioctls, always ready.
type memDev struct {
	vfs.NoIoctl
	vfs.AlwaysReady
	vfs.NoRelease
}

func (memDev) Seekable() bool { return true }

type nullDev struct{ memDev }

func (nullDev) Read(vfs.Context, []byte, int64, bool) (int, error) { return 0, nil }
func (nullDev) Write(_ vfs.Context, src []byte, _ int64, _ bool) (int, error) {
	return len(src), nil
}

type zeroDev struct{ memDev }

func (zeroDev) Read(_ vfs.Context, dst []byte, _ int64, _ bool) (int, error) {
	clear(dst)
	return len(dst), nil
}
func (zeroDev) Write(_ vfs.Context, src []byte, _ int64, _ bool) (int, error) {
	return len(src), nil
}

// Mappable implements vfs.Mapper: every mmap of /dev/zero gets its own
// zero-filled memory (shared among the processes that share the mapping).
func (zeroDev) Mappable() mm.Mappable { return NewAnonMappable(nil) }

type fullDev struct{ memDev }

func (fullDev) Read(_ vfs.Context, dst []byte, _ int64, _ bool) (int, error) {
	clear(dst)
	return len(dst), nil
}
func (fullDev) Write(vfs.Context, []byte, int64, bool) (int, error) { return 0, unix.ENOSPC }

type randomDev struct{ memDev }

func (randomDev) Read(_ vfs.Context, dst []byte, _ int64, _ bool) (int, error) {
	rand.Read(dst)
	return len(dst), nil
}
func (randomDev) Write(_ vfs.Context, src []byte, _ int64, _ bool) (int, error) {
	return len(src), nil
}

// NewAnonMappable returns a new zero-filled Mappable of unbounded size in
// mf (nil: the memory file registered with SetMemoryFile). Its pages are
// released when no mapping uses it any more.
func NewAnonMappable(mf *memfile.File) mm.Mappable {
	if mf == nil {
		mf = defaultMF.Load()
	}
	if mf == nil {
		return nil
	}
	return mm.NewAnonymousMappable(mf, math.MaxInt64/2)
}

var defaultMF atomic.Pointer[memfile.File]

// SetMemoryFile sets the memory file /dev/zero mappings use (New sets it
// if it is unset).
func SetMemoryFile(mf *memfile.File) { defaultMF.Store(mf) }
