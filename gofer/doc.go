// Package gofer implements Veil's file server ("gofer") and the client the
// Sentry uses to talk to it.
//
// The Sentry never opens host paths. A separate gofer process serves the
// container's root filesystem over a unix SOCK_SEQPACKET socketpair; files
// that the Sentry opens come back to it as host file descriptors (SCM_RIGHTS)
// so that reads and writes then cost no round trip.
//
// # Processes
//
// runsc starts the gofer in a fresh mount namespace (CLONE_NEWNS). The gofer
// calls [Confine] with the container rootfs, which makes the rootfs a private
// bind mount and pivot_root's into it, and then calls [Serve] with root "/".
// The Sentry calls [NewClient] on its end of the socketpair.
//
// # Path safety
//
// Every Walk resolves exactly one path component, relative to an already
// open directory, with openat(dirfd, name, O_PATH|O_NOFOLLOW). Names that are
// empty, "." or "..", or that contain '/' or NUL, are refused with EINVAL.
// The host therefore never follows a symlink and never walks "..": escaping
// the root is impossible even without Confine. The Sentry resolves "..",
// symlinks and mounts itself.
//
// # Wire format
//
// Every request and every reply is exactly one SEQPACKET message of at most
// [MaxMessageSize] bytes. All integers are little-endian. Strings are a u32
// byte length followed by the bytes (no terminator). Every message starts
// with a 5-byte header:
//
//	tag  u32  chosen by the client; the reply carries the same tag
//	type u8   message type (T* for requests, R* = T*|0x80 for replies)
//
// A failed request is answered by Rerror (0xff) whose body is errno u32,
// a Linux errno; the client returns it as a bare unix.Errno.
//
// A Stat on the wire is 116 bytes:
//
//	dev u64, ino u64, mode u32 (st_mode), nlink u64, uid u32, gid u32,
//	rdev u64, size i64, blksize i64, blocks i64,
//	atime sec i64 nsec i64, mtime sec i64 nsec i64, ctime sec i64 nsec i64
//
// Message bodies (after the header):
//
//	Tattach   version u32                    Rattach   version u32, root fid u32, Stat
//	Twalk     dir u32, name str              Rwalk     fid u32, Stat
//	Tstat     fid u32                        Rstat     Stat
//	Topen     fid u32, flags u32             Ropen     (empty; 1 fd in SCM_RIGHTS)
//	Tgetdents dir u32, offset u64            Rgetdents count u32, count × dirent,
//	                                                   next offset u64, eof u8
//	          dirent = ino u64, type u8 (DT_*), name (u16 length + bytes)
//	Treadlink fid u32                        Rreadlink target str
//	Tcreate   dir u32, name str, flags u32,  Rcreate   fid u32, Stat (1 fd in SCM_RIGHTS)
//	          mode u32, uid u32, gid u32
//	Tmkdir    dir u32, name str, mode u32,   Rmkdir    fid u32, Stat
//	          uid u32, gid u32
//	Tsymlink  dir u32, name str, target str, Rsymlink  fid u32, Stat
//	          uid u32, gid u32
//	Tlink     dir u32, name str, target u32  Rlink     (empty)
//	Tunlink   dir u32, name str, flags u32   Runlink   (empty)
//	Trename   olddir u32, oldname str,       Rrename   (empty)
//	          newdir u32, newname str
//	Tsetattr  fid u32, mask u32, mode u32,   Rsetattr  (empty)
//	          uid u32, gid u32, size u64,
//	          atime sec i64 nsec i64,
//	          mtime sec i64 nsec i64
//	Tclunk    fid u32                        Rclunk    (empty)
//	TmknodSocket dir u32, name str,          RmknodSocket fid u32, Stat
//	          mode u32, uid u32, gid u32
//	          (type 40: a socket node, the name of a unix socket the
//	          Sentry bound; the host never carries its traffic)
//	Tlane     (empty)                        Rlane     (empty; 1 fd in SCM_RIGHTS)
//	          (type 41: a direct lane, a new SEQPACKET connection whose
//	          requests the server answers one at a time, on it, from a
//	          thread blocked in recvmsg: no poller or goroutine hand-off
//	          on either side; a client opens a few, at most 8)
//	Tgetxattr fid u32, name str              Rgetxattr value str
//	Tsetxattr fid u32, name str, value str,  Rsetxattr (empty)
//	          flags u32 (XATTR_CREATE/REPLACE)
//	Tlistxattr fid u32                       Rlistxattr count u32, count × name str
//	Tremovexattr fid u32, name str           Rremovexattr (empty)
//
// Extended attributes are read and written through a descriptor the server
// opens on a regular file or directory; other types have none the gofer
// can reach (Tgetxattr: ENODATA, Tlistxattr: none, changes: EPERM). Values
// are at most 64KiB (XATTR_SIZE_MAX), which fits one message.
//
// Replies to tag 0 are dropped by the client: it sends Tclunk with tag 0
// when it does not wait for the answer (ClunkNoWait), and never uses tag 0
// otherwise.
//
// File descriptors travel only from server to client, only on Ropen and
// Rcreate, always exactly one, attached to the reply message itself. They are
// received with MSG_CMSG_CLOEXEC.
//
// Getdents is paginated: the client starts at offset 0 and repeats with the
// returned next offset until eof is set. An offset is an opaque directory
// cookie (the host's d_off). Entries "." and ".." are never returned.
//
// FIDs are chosen by the server. FID 0 ([RootFID]) is the root directory and
// exists from the start; clunking it is a no-op.
//
// # Concurrency
//
// The server handles every request in its own goroutine (bounded), so
// replies may arrive in any order. The client multiplexes concurrent calls on
// one connection by tag, with a single reader goroutine that dispatches
// replies; it works just as well against a server that answers sequentially.
package gofer
