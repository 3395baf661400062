// Package vfs is the Sentry's virtual filesystem: mounts, dentries, open
// file descriptions and the FD table. Filesystems (sentry/fs/...) plug in
// through the Inode and FileImpl interfaces (interfaces.go, with defaults
// and optional extensions in extensions.go).
//
// # API for the kernel
//
// Construction (runsc / kernel setup):
//
//	v := vfs.New(mf)                          // mf: *memfile.File (tmpfs, memfd)
//	v.MountRoot(ctx, rootInode, vfs.MountOptions{ReadOnly: ro, FSType: "9p"})
//	v.MountAt(ctx, "/dev", devRoot, vfs.MountOptions{FSType: "tmpfs"})
//	v.MountAt(ctx, "/proc", procRoot, vfs.MountOptions{FSType: "proc"})
//	fsctx := vfs.NewFSContext(v.Root(), v.Root(), 0o022)
//	fdt := vfs.NewFDTable()
//
// MountAt creates a VFS-only mount point directory when the path's last
// component is missing (so /dev, /proc can be mounted on a read-only root
// that lacks them). Kernel.VFS() returns the *VirtualFilesystem.
//
// Filesystems: tmpfs.New(mf, tmpfs.Options{}).Root() (MaxSize and
// MaxInodes for size= and nr_inodes=); dev.Mount(ctx, v) mounts /dev,
// /dev/shm and /dev/pts; goferfs.New(client, mf, goferfs.Options{ReadOnly:
// ro}) then .Root() for the root; host.NewFile(ctx, fd, own) wraps the
// sandbox's stdio descriptors (install them with FDTable.SetFD(0..2)).
// tmpfs.NewMemfd implements memfd_create. overlay.New(ctx, upper, lower)
// then .Root() is an overlay of a tmpfs root over another root (runsc
// --overlay mounts one over the gofer root, FSType "overlay").
//
// Per task:
//
//   - FSContext (root, cwd, umask): share the pointer for CLONE_FS (with
//     (*FSContext).IncRef), else (*FSContext).Fork(); DecRef at exit. It
//     holds references on its root and working directory (see Dentry
//     references below); SetCwd/SetRoot take their own.
//   - FDTable: share with (*FDTable).IncRef() for CLONE_FILES, else
//     (*FDTable).Fork(). At exit call (*FDTable).DecRef() (the last
//     reference closes everything; CloseAll() closes everything now). At
//     execve call (*FDTable).CloseOnExec(). RLIMIT_NOFILE:
//     SetLimit/Limit (EMFILE beyond it; default DefaultFDLimit = 1024).
//   - FDTable.NewFD(min, file, cloexec) installs a file at the lowest free
//     descriptor >= min, taking its own reference; Get/GetFile return a
//     referenced *FileDescription the caller must DecRef; Remove closes.
//     NewFDs installs several at once (pipe2, socketpair).
//   - RLIMIT_FSIZE: a Context that implements FileSizeLimited (fsize.go)
//     has its writes, truncates and fallocates of regular files limited
//     as Linux does (short write, then EFBIG after FileSizeExceeded).
//
// Loading executables:
//
//	pop := fsctx.PathOp(vfs.VirtualDentry{}, path, true) // relative to cwd
//	f, err := v.OpenExecutable(ctx, pop) // ENOENT, ENOTDIR, ELOOP, EACCES (not
//	                                     // a regular file / no x bit / noexec)
//	defer f.DecRef()
//	n, err := f.PRead(ctx, buf, off)     // ELF headers
//	m, err := f.Mappable()               // mm.Mappable for PT_LOAD segments
//	exe := f.PathName()                  // for /proc/self/exe
//
// The kernel's Task must implement Context (Block, BlockTimeout, FSUID,
// FSGID, ProcessID) and UserMemory (CopyIn, CopyOut). A Context may also
// implement GroupMember (supplementary groups) and Capable (capabilities).
//
// # API for other files (pipes, eventfd, epoll, sockets, proc)
//
// A file without a path is made with
//
//	fd := vfs.NewFileDescription(impl, flags, vfs.NewAnonInode(ctx, unix.S_IFIFO|0o600), "pipe:[42]")
//	newfd, err := t.FDTable().NewFD(0, fd, cloexec)
//	fd.DecRef()
//
// impl implements FileImpl: Read/Write(ctx, buf, off, nonblock) with off = -1
// for files without a position (a FileImpl has a position only if it
// implements Seeker with Seekable() true); blocking is done with
// ctx.Block(ch), returning its error (syserr.ErrInterrupted) unchanged;
// nonblock reflects O_NONBLOCK at the time of the call, and without data a
// nonblocking read returns unix.EAGAIN. Readiness/EventRegister/
// EventUnregister (waiter.Waitable) serve poll, select and epoll:
// *FileDescription itself implements waiter.Waitable by delegating to the
// impl, so epoll can register on the FileDescription. Release is called
// once, when the last reference to the FileDescription goes. Embeddable
// helpers: NoIoctl, AlwaysReady, NoRelease; AnonInode.Touch updates times.
//
// SetReleaseHook installs the function called when the last reference to
// any FileDescription goes, before its locks and FileImpl are released:
// sentry/fs/epoll installs FileReleased from init, so that epoll instances
// drop their watches on released files.
//
// Named pipes: sentry/fs/pipe calls vfs.SetFIFOFactory(func() vfs.FIFO) in
// init; tmpfs (mknod S_IFIFO) and the gofer filesystem then create one FIFO
// per FIFO inode and delegate open(2) to FIFO.Open(ctx, flags), which
// implements the FIFO open blocking rules. Without a factory mknod of a FIFO
// gives EPERM.
//
// Unix socket names: VirtualFilesystem.MknodSocket(ctx, pop, perm) makes
// the S_IFSOCK node of bind(2) and returns its Inode, by which
// sentry/socket/unix finds the bound socket on connect(2) (it resolves the
// path with GetDentry and checks W_OK with AccessAt). Filesystems must
// return from Mknod(S_IFSOCK) the Inode their later lookups return
// (the dentry cache keeps it); the gofer filesystem makes a real socket
// node on the host as the name.
//
// Character devices: RegisterCharDevice(major, minor, opener) makes a
// device openable from any device inode (sentry/fs/dev registers mem
// devices 1:3 null, 1:5 zero, 1:7 full, 1:8 random, 1:9 urandom, and 5:0
// tty and 5:1 console, which reopen a kernel.TTY's TTYDevice).
//
// procfs: implement Inode for its files and directories (embed
// InodeDefaults / ReadOnlyDirDefaults). Directories whose entries come and
// go (/proc, /proc/<pid>/fd) implement DynamicDirectory so the dentry cache
// is revalidated. /proc/<pid>/{exe,cwd,root,fd/N} are symlinks that also
// implement MagicLinker (FollowMagicLink returns the VirtualDentry to jump
// to; Readlink returns FileDescription.PathNameFrom(taskRoot) or the
// anonymous name). fd/N follows VirtualFilesystem.AnonymousDentry(file):
// where a file was opened, or for a file without a path a dentry of its
// inode on a hidden mount, so that opening it runs Inode.Open with the new
// flags (reopening a pipe end, the host's stdio, a memfd; ENXIO for
// inodes without Open). Useful accessors: FDTable.ForEach, FileDescription
// PathName/PathNameFrom/StatusFlags/Offset, FSContext Root/Cwd,
// VirtualFilesystem.PathNameFrom and Mounts(root) for /proc/<pid>/mounts.
// StatFSer reports statfs (f_type PROC_SUPER_MAGIC).
//
// Locks: FileDescription.SetPOSIXLock/TestPOSIXLock (owner = the caller's
// *FDTable, as Linux's files_struct), SetOFDLock/TestOFDLock (owner = the
// description) and FileDescription.Flock; closing a descriptor drops its
// table's POSIX locks on that file, and the last reference to a
// description drops its OFD locks and its flock.
//
// Extended attributes (xattr.go): Getxattr, Setxattr, Listxattr,
// Removexattr on a resolved location or a FileDescription check names,
// sizes and xattr(7) permissions (trusted.* needs CAP_SYS_ADMIN, writing
// security.* CAP_SYS_ADMIN or CAP_SETFCAP for security.capability, user.*
// only on regular files and directories) and call the inode's XattrInode;
// XattrStore is an in-memory implementation (tmpfs).
//
// Change notification (notify.go): AddWatch/RemoveWatch register a Watch
// on an inode; path operations, opens, closes and I/O through
// FileDescriptions report inotify(7) events to it (sentry/fs/inotify).
// NotifyModify/NotifyAccess are for I/O made around Read and Write.
//
// O_TMPFILE (tmpfile.go): directories implementing TmpfileCreator; LinkAt
// gives such a file (or any location) a name.
//
// Inodes must be comparable with == (pointer types): the VFS compares them
// and keys lock state by them.
//
// # Path resolution
//
// Every path operation takes a PathOperation{Root, Start, Path,
// FollowFinal, Umask}; FSContext.PathOp(start, path, follow) fills one in
// (zero start = working directory). Resolution walks one component at a
// time through the dentry cache (Inode.Lookup on a miss, never with "." or
// ".."), crosses mounts both ways, keeps ".." at Root, follows at most
// MaxSymlinks (40) symlinks per operation (ELOOP), gives ENAMETOOLONG for
// components over NameMax (the syscall layer limits whole paths to
// PathMax), ENOTDIR for non-directories in the middle or before a trailing
// slash. Operations: Open, OpenExecutable, GetDentry, GetDirectory, Stat,
// SetStat, Truncate, Access, Readlink, Mkdir, Mknod, Symlink, Link, Unlink,
// Rmdir, Rename, StatFS, Mount, MountAt, Unmount; SetStatAt and AccessAt
// act on an already resolved location (AT_EMPTY_PATH). PathName,
// PathNameFrom and PathFrom turn locations back into paths (getcwd,
// /proc). CheckAccess and CheckPermission expose the permission check.
//
// Mount namespaces (mountns.go): MountRoot makes the initial one
// (RootNamespace); CloneNamespace copies one and returns how to move a
// task's root and cwd into the copy; MountIn, BindMount (MS_BIND, MS_REC),
// Remount, Detach (umount2, MNT_DETACH), PivotRoot and Release (the
// namespace's last task is gone) act on the namespace of the location
// given. Every mount is private.
//
// Read-only mounts (MountOptions.ReadOnly) give EROFS for every mutation.
// Permission checks use Context.FSUID/FSGID and, when the Context
// implements Capable, its capabilities (capabilities(7)): CAP_DAC_OVERRIDE
// and CAP_DAC_READ_SEARCH bypass the mode bits (executing still needs at
// least one x bit), CAP_FOWNER stands for the owner in chmod, utimes and
// sticky directories, CAP_CHOWN allows chown, CAP_FSETID keeps a set-group-ID
// bit, CAP_MKNOD allows device nodes. A Context without Capable is
// privileged exactly when its FSUID is 0.
//
// # Dentry references
//
// Dentries are reference counted (dcache.go): GetDentry and GetDirectory
// return a location with a reference the caller must drop with
// VirtualDentry.DecRef; FileDescriptions, FSContexts, mounts, watches and
// children hold their own. MagicLinker.FollowMagicLink and
// AnonymousDentry return a reference too. PathOperation's Root and Start
// are borrowed: whoever holds them (the task's FSContext, a dirfd's
// description) keeps them referenced for the call. A dentry nothing
// refers to stays cached on an LRU list of at most MaxUnusedDentries
// (SetMaxUnusedDentries), beyond which the oldest are evicted, as Linux's
// dcache shrinker does: the name is dropped from its parent and the inode
// told (CacheTracker.Uncached, so a gofer inode clunks its FID). Mount
// points, mount roots, synthetic directories and inodes that ask for it
// (CachePinner: gofer files whose pages are mapped) stay.
//
// # Locking
//
// VirtualFilesystem.renameMu serializes renames; each directory dentry's
// dirMu serializes cache misses and namespace changes in that directory
// (held across the filesystem call); nameMu protects dentry names and
// parents briefly; mountMu protects the mount table; lruMu (a leaf)
// protects the unused dentry list. Eviction runs on a goroutine of its own
// (dcache.go), so dropping a reference never takes a dirMu and may happen
// with VFS locks held. Filesystem methods may
// therefore be called concurrently for different directories and must do
// their own locking. Filesystem code must not call back into path
// resolution while the VFS calls it, except from Inode.Readlink,
// MagicLinker.FollowMagicLink and FileImpl methods (no VFS lock is held
// there).
//
// # Limits
//
// The dentry cache holds at most MaxUnusedDentries unused dentries, plus
// those in use and their ancestors. Dead (unlinked) dentries live as long
// as something refers to them. An overlay (sentry/fs/overlay) keeps its
// own node per name, with the lower inodes (gofer FIDs) they hold, for the
// life of the sandbox.
package vfs
