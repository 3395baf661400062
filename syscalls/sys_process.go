package syscalls

// Process lifecycle: clone(2), fork(2), vfork(2), execve(2), exit(2),
// exit_group(2), wait4(2), waitid(2), and process ids/groups/sessions.

import (
	"encoding/binary"
	"strconv"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"golang.org/x/sys/unix"
)

func init() {
	register(unix.SYS_CLONE, "clone", sysClone, Hex, Hex, Hex, Hex, Hex).partial("CLONE_PIDFD with CLONE_THREAD (thread pidfds): EINVAL")
	register(unix.SYS_CLONE3, "clone3", sysClone3, Hex, Int).partial("CLONE_PIDFD with CLONE_THREAD (thread pidfds): EINVAL; CLONE_INTO_CGROUP (the cgroup2 view takes no processes): EBADF")
	register(unix.SYS_FORK, "fork", sysFork)
	register(unix.SYS_VFORK, "vfork", sysVfork)
	register(unix.SYS_EXECVE, "execve", sysExecve, Path, Hex, Hex)
	register(unix.SYS_EXECVEAT, "execveat", sysExecveat, FD, Path, Hex, Hex, Hex)
	register(unix.SYS_EXIT, "exit", sysExit, Int)
	register(unix.SYS_EXIT_GROUP, "exit_group", sysExitGroup, Int)
	register(unix.SYS_WAIT4, "wait4", sysWait4, Int, Hex, Hex, Hex)
	register(unix.SYS_WAITID, "waitid", sysWaitid, Int, Int, Hex, Hex, Hex)
	register(unix.SYS_GETPID, "getpid", sysGetpid)
	register(unix.SYS_GETTID, "gettid", sysGettid)
	register(unix.SYS_GETPPID, "getppid", sysGetppid)
	register(unix.SYS_GETPGID, "getpgid", sysGetpgid, Int)
	register(unix.SYS_GETPGRP, "getpgrp", sysGetpgrp)
	register(unix.SYS_SETPGID, "setpgid", sysSetpgid, Int, Int)
	register(unix.SYS_GETSID, "getsid", sysGetsid, Int)
	register(unix.SYS_SETSID, "setsid", sysSetsid)
	register(unix.SYS_SET_TID_ADDRESS, "set_tid_address", sysSetTidAddress, Hex)
}

// clone(2): amd64 argument order is flags, stack, parent_tid, child_tid,
// tls. With CLONE_PIDFD the pidfd goes where parent_tid points (so not
// with CLONE_PARENT_SETTID: EINVAL).
func sysClone(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	flags := a[0]
	ca := kernel.CloneArgs{
		Flags:      flags &^ 0xff,
		ExitSignal: unix.Signal(flags & 0xff),
		Stack:      uintptr(a[1]),
		ParentTID:  uintptr(a[2]),
		ChildTID:   uintptr(a[3]),
		TLS:        uintptr(a[4]),
	}
	if flags&unix.CLONE_PIDFD != 0 && flags&unix.CLONE_PARENT_SETTID != 0 {
		return 0, unix.EINVAL
	}
	return cloneWithPidfd(t, "clone", ca, uintptr(a[2]))
}

// cloneWithPidfd runs the clone, with CLONE_PIDFD giving the parent a
// pidfd of the child at pidfdAddr (kernel_clone, copy_process).
func cloneWithPidfd(t *kernel.Task, name string, ca kernel.CloneArgs, pidfdAddr uintptr) (uintptr, error) {
	var pfd *clonePidfd
	if ca.Flags&unix.CLONE_PIDFD != 0 {
		ca.Flags &^= unix.CLONE_PIDFD
		switch {
		case ca.Flags&unix.CLONE_DETACHED != 0:
			return 0, unix.EINVAL
		case ca.Flags&unix.CLONE_THREAD != 0:
			// Linux 6.9 makes a thread pidfd (PIDFD_THREAD), which
			// the Sentry's pidfds are not yet; older kernels refuse.
			return 0, unsupported(t, name+"(CLONE_PIDFD|CLONE_THREAD)", unix.EINVAL)
		}
		var err error
		if pfd, err = reserveClonePidfd(t, pidfdAddr); err != nil {
			return 0, err
		}
		ca.NewProcess = pfd.install
	}
	tid, err := t.Clone(ca)
	if err != nil && pfd != nil {
		pfd.cancel()
	}
	if err == kernel.ErrUnsupportedClone {
		return 0, unsupported(t, name+"(unsupported flags)", err)
	}
	return uintptr(tid), err
}

// struct clone_args sizes (CLONE_ARGS_SIZE_VER0..2) and clone3's flags
// beyond clone's.
const (
	cloneArgsSizeVer0 = 64
	cloneArgsSizeVer1 = 80
	cloneArgsSizeVer2 = 88
	cloneIntoCgroup   = 1 << 33
	cloneNewTime      = 0x80
	maxPidNSLevel     = 32
)

// clone3(2): struct clone_args is read as copy_struct_from_user does
// (E2BIG past a page or for non-zero bytes beyond what the kernel knows,
// EINVAL below VER0) and checked as clone3_args_valid does, then the
// clone runs like clone(2)'s. The child's stack pointer is stack +
// stack_size.
func sysClone3(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	addr, size := uintptr(a[0]), a[1]
	if size > 4096 {
		return 0, unix.E2BIG
	}
	if size < cloneArgsSizeVer0 {
		return 0, unix.EINVAL
	}
	b := make([]byte, size)
	if err := t.CopyIn(addr, b); err != nil {
		return 0, err
	}
	for _, c := range b[min(size, cloneArgsSizeVer2):] {
		if c != 0 {
			return 0, unix.E2BIG
		}
	}
	b = append(b, make([]byte, cloneArgsSizeVer2)...)
	le := binary.LittleEndian
	flags, pidfd, childTID, parentTID := le.Uint64(b[0:]), le.Uint64(b[8:]), le.Uint64(b[16:]), le.Uint64(b[24:])
	exitSignal, stack, stackSize, tls := le.Uint64(b[32:]), le.Uint64(b[40:]), le.Uint64(b[48:]), le.Uint64(b[56:])
	setTID, setTIDSize, cgroup := le.Uint64(b[64:]), le.Uint64(b[72:]), le.Uint64(b[80:])
	switch {
	case setTIDSize > maxPidNSLevel, setTID == 0 && setTIDSize != 0, setTID != 0 && setTIDSize == 0:
		return 0, unix.EINVAL
	case exitSignal&^0xff != 0 || exitSignal > 64:
		return 0, unix.EINVAL
	case flags&cloneIntoCgroup != 0 && (cgroup > 0x7fffffff || size < cloneArgsSizeVer2):
		return 0, unix.EINVAL
	case flags&^(0xffffffff|kernel.CloneClearSighand|cloneIntoCgroup) != 0:
		return 0, unix.EINVAL
	case flags&(unix.CLONE_DETACHED|(0xff&^cloneNewTime)) != 0:
		return 0, unix.EINVAL
	case flags&unix.CLONE_SIGHAND != 0 && flags&kernel.CloneClearSighand != 0:
		return 0, unix.EINVAL
	case flags&(unix.CLONE_THREAD|unix.CLONE_PARENT) != 0 && exitSignal != 0:
		return 0, unix.EINVAL
	case stack == 0 && stackSize != 0, stack != 0 && stackSize == 0, stack+stackSize < stack:
		return 0, unix.EINVAL
	case flags&unix.CLONE_PIDFD != 0 && flags&unix.CLONE_PARENT_SETTID != 0 && pidfd == parentTID:
		return 0, unix.EINVAL
	}
	ca := kernel.CloneArgs{
		Flags:      flags,
		ExitSignal: unix.Signal(exitSignal),
		ParentTID:  uintptr(parentTID),
		ChildTID:   uintptr(childTID),
		TLS:        uintptr(tls),
	}
	if stack != 0 {
		ca.Stack = uintptr(stack + stackSize)
	}
	if setTIDSize != 0 {
		// The ids in the child's pid namespace and its ancestors, the
		// innermost first; the kernel checks them against the
		// namespaces (levels, inits, CAP_CHECKPOINT_RESTORE, ids in use).
		tb := make([]byte, 4*setTIDSize)
		if err := t.CopyIn(uintptr(setTID), tb); err != nil {
			return 0, err
		}
		for i := range setTIDSize {
			ca.SetTID = append(ca.SetTID, kernel.ThreadID(int32(le.Uint32(tb[4*i:]))))
		}
	}
	if flags&cloneIntoCgroup != 0 {
		// The sandbox's cgroup2 view (/sys/fs/cgroup) is read-only
		// and takes no processes.
		if f, err := fileOf(t, int32(cgroup)); err == nil {
			f.DecRef()
		}
		return 0, unsupported(t, "clone3(CLONE_INTO_CGROUP)", unix.EBADF)
	}
	return cloneWithPidfd(t, "clone3", ca, uintptr(pidfd))
}

func sysFork(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	tid, err := t.Clone(kernel.CloneArgs{ExitSignal: unix.SIGCHLD})
	return uintptr(tid), err
}

func sysVfork(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	tid, err := t.Clone(kernel.CloneArgs{Flags: unix.CLONE_VM | unix.CLONE_VFORK, ExitSignal: unix.SIGCHLD})
	return uintptr(tid), err
}

// copyInStrings reads a NULL-terminated array of string pointers (argv).
func copyInStrings(t *kernel.Task, addr uintptr) ([]string, error) {
	var out []string
	if addr == 0 {
		return nil, nil
	}
	total := 0
	for i := 0; ; i++ {
		var p [8]byte
		if err := t.CopyIn(addr+uintptr(i*8), p[:]); err != nil {
			return nil, err
		}
		ptr := uintptr(binary.LittleEndian.Uint64(p[:]))
		if ptr == 0 {
			return out, nil
		}
		s, err := t.CopyInString(ptr, 128<<10)
		if err != nil {
			if err == unix.ENAMETOOLONG {
				return nil, unix.E2BIG
			}
			return nil, err
		}
		total += len(s) + 1
		if total > 2<<20 || i > 1<<17 {
			return nil, unix.E2BIG
		}
		out = append(out, s)
	}
}

func sysExecve(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return execve(t, unix.AT_FDCWD, uintptr(a[0]), uintptr(a[1]), uintptr(a[2]), 0)
}

func sysExecveat(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return execve(t, int32(a[0]), uintptr(a[1]), uintptr(a[2]), uintptr(a[3]), int(a[4]))
}

// execveatFlags are the flags execveat(2) accepts.
const execveatFlags = unix.AT_EMPTY_PATH | unix.AT_SYMLINK_NOFOLLOW

// execve implements execve(2) and execveat(2): a relative path starts at
// dirfd, AT_EMPTY_PATH with an empty path runs dirfd itself (fexecve(3)),
// and AT_SYMLINK_NOFOLLOW refuses a final symlink (ELOOP). As Linux does,
// the program's name (AT_EXECFN, a script's path for its interpreter,
// comm) is then "/dev/fd/N" or "/dev/fd/N/path".
func execve(t *kernel.Task, dirfd int32, pathAddr, argvAddr, envAddr uintptr, flags int) (uintptr, error) {
	if flags&^execveatFlags != 0 {
		return 0, unix.EINVAL
	}
	path, err := t.CopyInString(pathAddr, unix.PathMax)
	if err != nil {
		return 0, err
	}
	argv, err := copyInStrings(t, argvAddr)
	if err != nil {
		return 0, err
	}
	envv, err := copyInStrings(t, envAddr)
	if err != nil {
		return 0, err
	}
	ea := kernel.ExecArgs{Open: OpenExecutable, Filename: path, Argv: argv, Envv: envv}
	follow := flags&unix.AT_SYMLINK_NOFOLLOW == 0
	switch {
	case path == "" && flags&unix.AT_EMPTY_PATH != 0:
		if ea.File, ea.FilenameInaccessible, err = openExecutableFD(t, dirfd); err != nil {
			return 0, err
		}
		ea.Filename = "/dev/fd/" + strconv.Itoa(int(dirfd))
		ea.CommFromFile = true
	case path == "":
		return 0, unix.ENOENT
	case path[0] == '/' && follow:
	default:
		pop, err := pathOpAt(t, dirfd, path, follow)
		if err != nil {
			return 0, err
		}
		if ea.File, err = openExecutablePop(t, pop); err != nil {
			return 0, err
		}
		if path[0] != '/' && dirfd != unix.AT_FDCWD {
			ea.Filename = "/dev/fd/" + strconv.Itoa(int(dirfd)) + "/" + path
			if f, cloexec, err := t.FDTable().Get(dirfd); err == nil {
				f.DecRef()
				ea.FilenameInaccessible = cloexec
			}
		}
	}
	return 0, t.ExecveArgs(ea)
}

func sysExit(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return 0, t.Exit(int(a[0]))
}

func sysExitGroup(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return 0, t.ExitGroup(int(a[0]))
}

// wait4(2). __WALL/__WCLONE are accepted; all children are treated alike.
func sysWait4(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	pid, statusAddr, options, rusage := int32(a[0]), uintptr(a[1]), int(a[2]), uintptr(a[3])
	if options&^(unix.WNOHANG|unix.WUNTRACED|unix.WCONTINUED|unix.WALL|unix.WCLONE|unix.WNOTHREAD) != 0 {
		return 0, unix.EINVAL
	}
	o := kernel.WaitOptions{Exited: true, Stopped: options&unix.WUNTRACED != 0,
		Continued: options&unix.WCONTINUED != 0, NoHang: options&unix.WNOHANG != 0}
	switch {
	case pid == -1:
		o.Any = true
	case pid == 0:
		o.PGID = t.ThreadGroup().ProcessGroup()
	case pid < -1:
		o.PGID = t.KernelGroupID(kernel.ThreadID(-pid))
	default:
		o.PID = waitTarget(t, pid)
	}
	r, err := t.Wait(o)
	if err != nil || r == nil {
		return 0, err
	}
	if statusAddr != 0 {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(r.Status))
		if err := t.CopyOut(statusAddr, b[:]); err != nil {
			return 0, err
		}
	}
	if rusage != 0 {
		if err := t.CopyOut(rusage, rusageBytes(r.Usage)); err != nil {
			return 0, err
		}
	}
	return uintptr(r.PID), nil
}

// waitid(2).
func sysWaitid(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	eagain := false // a nonblocking pidfd
	idtype, id, infop, options := int(a[0]), int32(a[1]), uintptr(a[2]), int(a[3])
	if options&^(unix.WNOHANG|unix.WEXITED|unix.WSTOPPED|unix.WCONTINUED|unix.WNOWAIT|unix.WALL|unix.WCLONE|unix.WNOTHREAD) != 0 ||
		options&(unix.WEXITED|unix.WSTOPPED|unix.WCONTINUED) == 0 {
		return 0, unix.EINVAL
	}
	o := kernel.WaitOptions{Exited: options&unix.WEXITED != 0, Stopped: options&unix.WSTOPPED != 0,
		Continued: options&unix.WCONTINUED != 0, NoHang: options&unix.WNOHANG != 0, NoReap: options&unix.WNOWAIT != 0}
	switch idtype {
	case unix.P_ALL:
		o.Any = true
	case unix.P_PID:
		if id <= 0 {
			return 0, unix.EINVAL
		}
		o.PID = waitTarget(t, id)
	case unix.P_PGID:
		o.PGID = t.KernelGroupID(kernel.ThreadID(id))
		if id == 0 {
			o.PGID = t.ThreadGroup().ProcessGroup()
		}
	case unix.P_PIDFD:
		// The process of pidfd id; with PIDFD_NONBLOCK the wait does
		// not block but fails with EAGAIN (waitid(2)).
		f, pf, err := pidfdOf(t, id)
		if err != nil {
			return 0, err
		}
		o.PID = pf.ThreadGroup().ID()
		nonblock := f.StatusFlags()&unix.O_NONBLOCK != 0
		f.DecRef()
		if nonblock && !o.NoHang {
			o.NoHang, eagain = true, true
		}
	default:
		return 0, unix.EINVAL
	}
	r, err := t.Wait(o)
	if err != nil {
		return 0, err
	}
	if r == nil && eagain {
		return 0, unix.EAGAIN
	}
	if infop != 0 {
		info := arch.SignalInfo{}
		if r != nil {
			info.Signo = int32(unix.SIGCHLD)
			info.Code = r.Code
			info.SetPID(int32(r.PID))
			info.SetStatus(r.SigStatus)
		}
		if err := t.CopyOut(infop, info.Marshal()); err != nil {
			return 0, err
		}
	}
	if ru := uintptr(a[4]); ru != 0 {
		// The raw waitid's fifth argument (not in glibc's wrapper).
		var u kernel.Usage
		if r != nil {
			u = r.Usage
		}
		if err := t.CopyOut(ru, rusageBytes(u)); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

// waitTarget is the kernel id of the child a wait for pid names in the
// caller's pid namespace (one no child has if it names none).
func waitTarget(t *kernel.Task, pid int32) kernel.ThreadID {
	return t.WaitTargetID(kernel.ThreadID(pid))
}

// Process ids are those of the caller's pid namespace
// (pid_namespaces(7)); the kernel's are the initial namespace's.

func sysGetpid(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return uintptr(t.PID()), nil
}

func sysGettid(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return uintptr(t.TID()), nil
}

func sysGetppid(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return uintptr(t.PPID()), nil
}

func processByID(t *kernel.Task, pid int32) (*kernel.ThreadGroup, error) {
	return t.LookupProcess(kernel.ThreadID(pid))
}

func sysGetpgid(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	tg, err := processByID(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	return uintptr(t.ViewGroup(tg.ProcessGroup())), nil
}

func sysGetpgrp(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return uintptr(t.ViewGroup(t.ThreadGroup().ProcessGroup())), nil
}

func sysSetpgid(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	pid, pgid := int32(a[0]), int32(a[1])
	if pgid < 0 {
		return 0, unix.EINVAL
	}
	tg, err := processByID(t, pid)
	if err != nil {
		return 0, err
	}
	kpgid := kernel.ThreadID(0)
	if pgid != 0 {
		if kpgid = t.KernelGroupID(kernel.ThreadID(pgid)); kpgid < 0 {
			return 0, unix.EPERM
		}
	}
	return 0, tg.SetProcessGroup(t.ThreadGroup(), kpgid)
}

func sysGetsid(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	tg, err := processByID(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	return uintptr(t.ViewGroup(tg.Session())), nil
}

func sysSetsid(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	sid, err := t.ThreadGroup().SetSession()
	return uintptr(t.ViewGroup(sid)), err
}

func sysSetTidAddress(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	t.SetClearTID(uintptr(a[0]))
	return uintptr(t.TID()), nil
}
