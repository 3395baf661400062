package boot

import (
	"errors"
	"fmt"
	"path"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/veil-sandbox/veil/sentry/fs/host"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/seccomp"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/syscalls"
	"golang.org/x/sys/unix"
)

// Exit codes for failures to start the program, as shells, runc and
// docker use them.
const (
	exitCannotExec = 126 // found but not executable
	exitNotFound   = 127
)

// startError is a failure to create a process, with the exit code runsc
// reports for it.
type startError struct {
	code int
	msg  string
}

func (e *startError) Error() string { return e.msg }

// newProcess makes (without starting) a process of the sandbox from an
// OCI process description, with the host descriptors stdio as its first
// descriptors (stdin, stdout, stderr, then any preserved ones). With tty,
// stdin's terminal becomes the process's controlling terminal; with con,
// the console's slave replaces the descriptors that were the terminal and
// is the controlling terminal. filters are the container's seccomp
// filters (runc applies them to exec'd processes too).
func newProcess(k *kernel.Kernel, p *specs.Process, filters []*seccomp.Filter, stdio []int, tty bool, init bool, con *console) (*kernel.ThreadGroup, *kernel.TTY, error) {
	return newProcessIn(k, procEnv{}, p, filters, stdio, tty, init, con)
}

// procEnv is the container a new process belongs to: its root, its
// namespaces and its label (the zero value: the sandbox's own).
type procEnv struct {
	root vfs.VirtualDentry
	ns   *kernel.Namespaces
	id   string
}

// newProcessIn is newProcess in the container env.
func newProcessIn(k *kernel.Kernel, env procEnv, p *specs.Process, filters []*seccomp.Filter, stdio []int, tty bool, init bool, con *console) (*kernel.ThreadGroup, *kernel.TTY, error) {
	if p == nil || len(p.Args) == 0 {
		return nil, nil, &startError{1, "process has no args"}
	}
	limits, err := processLimits(p.Rlimits)
	if err != nil {
		return nil, nil, &startError{1, err.Error()}
	}
	creds, err := Credentials(p)
	if err != nil {
		return nil, nil, &startError{1, err.Error()}
	}
	if con != nil {
		// The descriptors that were the terminal get the console's
		// slave instead.
		stdio = append([]int(nil), stdio...)
		for _, fd := range con.fds {
			if fd < len(stdio) && stdio[fd] >= 0 {
				unix.Close(stdio[fd])
				stdio[fd] = -1
			}
		}
	}
	fdt, ctty, err := stdioTable(stdio, tty)
	if err != nil {
		return nil, nil, &startError{1, err.Error()}
	}
	if con != nil {
		slave, err := con.openSlave(k.VFS(), ownerContext{uid: p.User.UID, gid: p.User.GID})
		if err != nil {
			fdt.DecRef()
			return nil, nil, &startError{1, fmt.Sprintf("opening the terminal: %v", err)}
		}
		for _, fd := range con.fds {
			fdt.SetFD(int32(fd), slave, false)
		}
		slave.DecRef()
		ctty = con.m.TTY()
	}
	umask := uint32(0o022)
	if p.User.Umask != nil {
		umask = *p.User.Umask & 0o777
	}
	v := k.VFS()
	root := v.Root()
	if env.root.Ok() {
		root = env.root
	}
	fsc := vfs.NewFSContext(root, root, umask)
	cwd := p.Cwd
	if cwd == "" {
		cwd = "/"
	}
	cwdVD, err := v.GetDirectory(bootContext{}, fsc.PathOp(root, cwd, true))
	if err != nil {
		fdt.DecRef()
		return nil, nil, &startError{1, fmt.Sprintf("working directory %s: %v", cwd, err)}
	}
	fsc.SetCwd(cwdVD)
	cwdVD.DecRef()
	argv0, err := lookPath(k, fsc, p.Args[0], p.Env)
	if err != nil {
		fdt.DecRef()
		return nil, nil, &startError{exitNotFound, fmt.Sprintf("exec: %q: %v", p.Args[0], err)}
	}
	tg, err := k.NewProcess(kernel.CreateProcessArgs{
		Path: argv0, Argv: p.Args, Envv: p.Env, Open: syscalls.OpenExecutable,
		Creds: creds, FDTable: fdt, FS: fsc, Limits: limits, Init: init, TTY: ctty, Seccomp: filters,
		Namespaces: env.ns, Container: env.id,
	})
	if err != nil {
		fdt.DecRef()
		code := exitCannotExec
		if errors.Is(err, unix.ENOENT) {
			code = exitNotFound
		}
		return nil, nil, &startError{code, fmt.Sprintf("exec: %q: %s", p.Args[0], describe(err))}
	}
	return tg, ctty, nil
}

// describe turns an errno into the words a user expects.
func describe(err error) string {
	switch {
	case errors.Is(err, unix.ENOENT):
		return "no such file or directory"
	case errors.Is(err, unix.ENOEXEC):
		return "exec format error (not an ELF executable for this machine)"
	case errors.Is(err, unix.EACCES):
		return "permission denied (not an executable regular file)"
	}
	return err.Error()
}

// rlimitNames maps OCI rlimit names to resource numbers.
var rlimitNames = map[string]int{
	"RLIMIT_CPU": unix.RLIMIT_CPU, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_DATA": unix.RLIMIT_DATA,
	"RLIMIT_STACK": unix.RLIMIT_STACK, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_RSS": unix.RLIMIT_RSS,
	"RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK,
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS, "RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE, "RLIMIT_NICE": unix.RLIMIT_NICE, "RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO,
	"RLIMIT_RTTIME": unix.RLIMIT_RTTIME,
}

// processLimits applies OCI rlimits to the defaults.
func processLimits(rl []specs.POSIXRlimit) (*kernel.Limits, error) {
	l := kernel.NewLimits()
	for _, r := range rl {
		res, ok := rlimitNames[r.Type]
		if !ok {
			return nil, fmt.Errorf("process.rlimits: unknown resource %q", r.Type)
		}
		if _, err := l.Set(res, kernel.Limit{Cur: r.Soft, Max: r.Hard}, true); err != nil {
			return nil, fmt.Errorf("process.rlimits: %s soft %d > hard %d", r.Type, r.Soft, r.Hard)
		}
	}
	return l, nil
}

// stdioTable makes the descriptor table of a process from host
// descriptors (stdin, stdout, stderr, preserved ones), which it takes
// over (-1 leaves a slot empty). With tty, stdin is a terminal that becomes the process's
// controlling terminal; its TTY is returned.
func stdioTable(stdio []int, tty bool) (*vfs.FDTable, *kernel.TTY, error) {
	fdt := vfs.NewFDTable()
	var ctty *kernel.TTY
	for i, hfd := range stdio {
		if hfd < 0 {
			continue
		}
		f, err := host.NewFile(bootContext{}, hfd, true)
		if err != nil {
			fdt.DecRef()
			return nil, nil, fmt.Errorf("descriptor %d: %w", i, err)
		}
		if i == 0 && tty {
			if ctty = host.TTYOf(f); ctty == nil {
				f.DecRef()
				fdt.DecRef()
				return nil, nil, errors.New("the process should have a terminal but its stdin is not one")
			}
		}
		fdt.SetFD(int32(i), f, false)
		f.DecRef()
	}
	return fdt, ctty, nil
}

// lookPath resolves the program name as execvp would, in the sandbox.
func lookPath(k *kernel.Kernel, fsc *vfs.FSContext, name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	pathEnv := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			pathEnv = v
		}
	}
	for _, dir := range strings.Split(pathEnv, ":") {
		if dir == "" {
			dir = "."
		}
		p := path.Join(dir, name)
		st, err := k.VFS().Stat(bootContext{}, fsc.PathOp(fsc.Cwd(), p, true))
		if err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && st.Mode&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New("executable file not found in $PATH")
}

// dupStdio returns duplicates of the Sentry's own descriptors 0..n-1 (the
// first process's stdio and preserved descriptors), which the process
// takes over.
func dupStdio(n int) ([]int, error) {
	var fds []int
	for i := 0; i < n; i++ {
		fd, err := unix.FcntlInt(uintptr(i), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			for _, f := range fds {
				unix.Close(f)
			}
			return nil, fmt.Errorf("descriptor %d: %w", i, err)
		}
		fds = append(fds, fd)
	}
	return fds, nil
}
