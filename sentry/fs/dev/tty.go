package dev

import (
	"sort"
	"strconv"

	"github.com/veil-sandbox/veil/sentry/fs/host"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// Terminals. The sandbox cannot allocate terminals (no /dev/ptmx); it has
// those of the host it was given (sentry/fs/host), which these files reach:
//
//   - /dev/pts/N, for each host pseudo-terminal the sandbox has a
//     descriptor of, under its host number: it stats like the
//     descriptor (so ttyname(3) finds it from /proc/self/fd) and
//     opening it reopens the descriptor;
//   - /dev/tty opens the caller's controlling terminal (ENXIO without);
//   - /dev/console opens the first process's terminal (ENODEV if it
//     was started without one).

func init() {
	vfs.RegisterCharDevice(vfs.TTYAuxMajor, vfs.TTYMinor, openTTY)
	vfs.RegisterCharDevice(vfs.TTYAuxMajor, vfs.ConsoleMinor, openConsole)
}

// openTTY opens /dev/tty. Like Linux's, it never changes the caller's
// controlling terminal.
func openTTY(ctx vfs.Context, flags uint32) (vfs.FileImpl, error) {
	t, ok := ctx.(*kernel.Task)
	if !ok {
		return nil, unix.ENXIO
	}
	return reopen(ctx, t.ControllingTTY(), flags, unix.ENXIO)
}

// openConsole opens /dev/console, which is nobody's controlling terminal
// through this name either.
func openConsole(ctx vfs.Context, flags uint32) (vfs.FileImpl, error) {
	t, ok := ctx.(*kernel.Task)
	if !ok {
		return nil, unix.ENODEV
	}
	return reopen(ctx, t.Kernel().ConsoleTTY(), flags, unix.ENODEV)
}

func reopen(ctx vfs.Context, tty *kernel.TTY, flags uint32, none error) (vfs.FileImpl, error) {
	if tty == nil || tty.Device() == nil {
		return nil, none
	}
	return tty.Device().Reopen(ctx, flags)
}

// ptsDir is the root of /dev/pts.
type ptsDir struct {
	vfs.ReadOnlyDirDefaults
	dev  uint64
	made unix.Timespec
}

var (
	_ vfs.Inode            = (*ptsDir)(nil)
	_ vfs.DynamicDirectory = (*ptsDir)(nil)
	_ vfs.StatFSer         = (*ptsDir)(nil)
)

func newPtsDir() *ptsDir {
	return &ptsDir{dev: vfs.NewAnonDev(), made: vfs.NowTimespec()}
}

// DynamicLookup implements vfs.DynamicDirectory: terminals come and go
// with their descriptors.
func (*ptsDir) DynamicLookup() bool { return true }

// FileType implements vfs.TypeReporter.
func (*ptsDir) FileType() uint32 { return unix.S_IFDIR }

// Stat implements vfs.Inode.
func (d *ptsDir) Stat(vfs.Context) (vfs.Stat, error) {
	return vfs.Stat{Dev: d.dev, Ino: 1, Mode: unix.S_IFDIR | 0o755, Nlink: 2, Blksize: 1024,
		Atime: d.made, Mtime: d.made, Ctime: d.made}, nil
}

// Lookup implements vfs.Inode. The entry is the host.Terminal itself, a
// stable Inode for as long as the terminal is there.
func (d *ptsDir) Lookup(_ vfs.Context, name string) (vfs.Inode, error) {
	n, err := strconv.ParseInt(name, 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != name {
		return nil, unix.ENOENT
	}
	if t := host.PseudoTerminals()[n]; t != nil {
		return t, nil
	}
	return nil, unix.ENOENT
}

// Getdents implements vfs.Inode, in number order.
func (d *ptsDir) Getdents(ctx vfs.Context) ([]vfs.Dirent, error) {
	var ents []vfs.Dirent
	var nums []int64
	terms := host.PseudoTerminals()
	for n := range terms {
		nums = append(nums, n)
	}
	sort.Slice(nums, func(i, j int) bool { return nums[i] < nums[j] })
	for _, n := range nums {
		st, err := terms[n].Stat(ctx)
		if err != nil {
			continue // gone meanwhile
		}
		ents = append(ents, vfs.Dirent{Name: strconv.FormatInt(n, 10), Ino: st.Ino, Type: unix.DT_CHR})
	}
	return ents, nil
}

// StatFS implements vfs.StatFSer.
func (d *ptsDir) StatFS(vfs.Context) (vfs.StatFS, error) {
	return vfs.StatFS{Type: vfs.DevptsMagic, Bsize: 4096, Namelen: vfs.NameMax, Frsize: 4096,
		Fsid: [2]int32{int32(d.dev), int32(d.dev >> 32)}}, nil
}
