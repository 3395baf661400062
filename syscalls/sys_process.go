package syscalls

// Process lifecycle: clone(2), fork(2), vfork(2), execve(2), exit(2),
// exit_group(2), wait4(2), waitid(2), and process ids/groups/sessions.

import (
	"encoding/binary"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"golang.org/x/sys/unix"
)

func init() {
	register(unix.SYS_CLONE, "clone", sysClone, Hex, Hex, Hex, Hex, Hex).partial("CLONE_PIDFD, CLONE_INTO_CGROUP: EINVAL")
	register(unix.SYS_FORK, "fork", sysFork)
	register(unix.SYS_VFORK, "vfork", sysVfork)
	register(unix.SYS_EXECVE, "execve", sysExecve, Path, Hex, Hex)
	register(unix.SYS_EXECVEAT, "execveat", sysExecveat, FD, Path, Hex, Hex, Hex).partial("a dirfd other than AT_FDCWD: ENOSYS")
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

// clone(2): amd64 argument order is flags, stack, parent_tid, child_tid, tls.
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
	tid, err := t.Clone(ca)
	if err == kernel.ErrUnsupportedClone {
		return 0, unsupported(t, "clone(unsupported flags)", err)
	}
	return uintptr(tid), err
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

func execve(t *kernel.Task, dirfd int32, pathAddr, argvAddr, envAddr uintptr, flags int) (uintptr, error) {
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
	if dirfd != unix.AT_FDCWD || flags != 0 {
		if (path == "" && flags&unix.AT_EMPTY_PATH == 0) || len(path) > 0 && path[0] != '/' {
			return 0, unsupported(t, "execveat(dirfd)", unix.ENOSYS)
		}
	}
	return 0, t.Execve(OpenExecutable, path, argv, envv)
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
	if tg, err := t.LookupProcess(kernel.ThreadID(pid)); err == nil && pid > 0 {
		return tg.ID()
	}
	return -1
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
