package vfs

// Linux constants that golang.org/x/sys/unix lacks (or defines as 0 on
// amd64), kept in this one place for the VFS, the filesystems and the
// syscall layer.
const (
	// NameMax is the longest path component (NAME_MAX).
	NameMax = 255
	// PathMax is the longest path the syscall layer copies in (PATH_MAX,
	// including the terminating NUL).
	PathMax = 4096
	// MaxSymlinks is how many symlinks one path resolution may follow
	// before failing with ELOOP (Linux's MAXSYMLINKS).
	MaxSymlinks = 40
	// DefaultFDLimit is the default RLIMIT_NOFILE soft limit.
	DefaultFDLimit = 1024
	// MaxFDLimit is the hard ceiling of any FD table (fs.nr_open).
	MaxFDLimit = 1 << 20

	// OLargeFile is O_LARGEFILE as amd64 Linux reports it in F_GETFL
	// (unix.O_LARGEFILE is 0 on amd64).
	OLargeFile = 0o100000

	// FD flags (fcntl F_GETFD).
	FDCloexec = 1

	// ioctls handled generically by the syscall layer (asm-generic/ioctls.h).
	FIONREAD = 0x541b
	FIONBIO  = 0x5421
	FIONCLEX = 0x5450
	FIOCLEX  = 0x5451
	FIOASYNC = 0x5452
	FIOQSIZE = 0x5460

	// Access check bits (MAY_EXEC, MAY_WRITE, MAY_READ).
	MayExec  = 1
	MayWrite = 2
	MayRead  = 4

	// Character device numbers of the memory devices (drivers/char/mem.c).
	MemMajor     = 1
	NullMinor    = 3
	ZeroMinor    = 5
	FullMinor    = 7
	RandomMinor  = 8
	URandomMinor = 9
	TTYAuxMajor  = 5 // /dev/tty and /dev/console
	TTYMinor     = 0
	ConsoleMinor = 1
	UnnamedMajor = 0 // anonymous block devices (st_dev of tmpfs, proc...)
)

// Filesystem magic numbers (statfs f_type) used by the Sentry's filesystems.
const (
	TmpfsMagic     = 0x01021994
	ProcMagic      = 0x9fa0
	V9fsMagic      = 0x01021997 // reported by the gofer filesystem, like gVisor
	PipefsMagic    = 0x50495045
	AnonInodeMagic = 0x09041934
	DevptsMagic    = 0x1cd1
)

// MakeDev encodes a device number like the kernel's new_encode_dev (the
// st_dev / st_rdev format of stat(2)).
func MakeDev(major, minor uint32) uint64 {
	return uint64(minor&0xff) | uint64(major&0xfff)<<8 | uint64(minor&^0xff)<<12 | uint64(major&^0xfff)<<32
}

// DevMajor and DevMinor decode a device number from stat(2) format.
func DevMajor(dev uint64) uint32 { return uint32((dev>>8)&0xfff) | uint32((dev>>32)&^0xfff) }

// DevMinor returns the minor number of dev.
func DevMinor(dev uint64) uint32 { return uint32(dev&0xff) | uint32((dev>>12)&^0xff) }

// File capability xattr layout (include/uapi/linux/capability.h), which
// x/sys/unix lacks.
const (
	vfsCapRevisionMask = 0xff000000
	vfsCapRevision2    = 0x02000000
	vfsCapRevision3    = 0x03000000
	xattrCapsSz2       = 20
	xattrCapsSz3       = 24
)
