package seccomp

import (
	"golang.org/x/sys/unix"
)

// GoferFilter is the gofer's allowlist; pid is the gofer's own process id.
// It covers gofer.Serve: the file operations of the protocol on the
// confined root, through one already connected socket.
//
// Not allowed, among others: socket and every other network call, execve
// and fork (clone only for threads), ioctl, mount and pivot_root (done by
// Confine), ptrace, executable memory, and signals to other processes: the
// gofer shares the host's pid namespace and runs as root.
func GoferFilter(pid int) Filter {
	self := uint64(pid)
	rules := append(goRuntimeRules(), []Rule{
		// runtime: heap, stacks. Never executable: the gofer runs no
		// code but its own.
		{Nr: unix.SYS_MMAP, If: []Cond{{Only(2, unix.PROT_READ|unix.PROT_WRITE)}}},
		// runtime: raise (crash). Only to itself.
		{Nr: unix.SYS_KILL, If: []Cond{{Eq32(0, uint32(self))}}},
		// runtime: preemption and signal forwarding between its threads.
		{Nr: unix.SYS_TGKILL, If: []Cond{{Eq32(0, uint32(self))}}},

		// Serve: the protocol, with SCM_RIGHTS for opened files.
		{Nr: unix.SYS_SENDMSG},
		{Nr: unix.SYS_RECVMSG},
		// Serve: checks the socket type; net.FileConn.
		{Nr: unix.SYS_GETSOCKOPT},
		{Nr: unix.SYS_GETSOCKNAME},
		{Nr: unix.SYS_GETPEERNAME},
		// Serve: direct lanes (gofer/server.go lane), unix sockets only;
		// shut down when the main connection ends.
		{Nr: unix.SYS_SOCKETPAIR, If: []Cond{{Eq32(0, unix.AF_UNIX), Eq32(1, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC)}}},
		{Nr: unix.SYS_SHUTDOWN},

		// Serve: the file operations of the protocol (gofer/server.go).
		{Nr: unix.SYS_OPENAT},     // Walk (O_PATH), Open and reopen via /proc/self/fd, Create
		{Nr: unix.SYS_NEWFSTATAT}, // Stat (AT_EMPTY_PATH)
		{Nr: unix.SYS_GETDENTS64}, // Getdents
		{Nr: unix.SYS_LSEEK},      // Getdents offsets
		{Nr: unix.SYS_READLINKAT}, // Readlink
		{Nr: unix.SYS_FCHOWNAT},   // Create, Mkdir, Symlink, Setattr
		{Nr: unix.SYS_FCHMOD},     // Create
		{Nr: unix.SYS_FCHMODAT},   // Mkdir, Setattr (through /proc/self/fd)
		{Nr: unix.SYS_MKDIRAT},    // Mkdir
		{Nr: unix.SYS_SYMLINKAT},  // Symlink
		{Nr: unix.SYS_LINKAT},     // Link
		{Nr: unix.SYS_UNLINKAT},   // Unlink
		{Nr: unix.SYS_RENAMEAT},   // Rename
		{Nr: unix.SYS_FTRUNCATE},  // Setattr size
		{Nr: unix.SYS_UTIMENSAT},  // Setattr times
		{Nr: unix.SYS_GETEUID},    // Serve: whether it may chown
		// Serve: extended attributes, only through descriptors it opened
		// (the path variants would follow paths on the host).
		{Nr: unix.SYS_FGETXATTR},
		{Nr: unix.SYS_FSETXATTR},
		{Nr: unix.SYS_FLISTXATTR},
		{Nr: unix.SYS_FREMOVEXATTR},

		// MknodSocket: socket nodes only, no device number.
		{Nr: unix.SYS_MKNODAT, If: []Cond{{Arg{2, unix.S_IFMT, unix.S_IFSOCK}, Eq32(3, 0)}}},
	}...)
	return Filter{Name: "gofer", Rules: rules, Default: DefaultAction}
}
