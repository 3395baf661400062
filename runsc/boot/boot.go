package boot

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path"
	"strings"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/syscalls"
	"golang.org/x/sys/unix"
)

// Exit codes for failures to start the program, as shells and runc use
// them.
const (
	exitCannotExec = 126 // found but not executable
	exitNotFound   = 127
)

// Run boots the sandbox described by spec, serving files through the gofer
// connection, and returns the exit code of the first process (128+N for
// death by signal N).
func Run(spec Spec, goferConn *os.File) int {
	k, fdt, fsc, err := build(spec, goferConn)
	if err != nil {
		return failf(1, "%v", err)
	}
	filters, err := seccompFilters(spec.Seccomp)
	if err != nil {
		return failf(1, "%v", err)
	}
	argv0, err := lookPath(k, fsc, spec)
	if err != nil {
		return failf(exitNotFound, "%s: %v", spec.Args[0], err)
	}
	creds := kernel.Credentials{UID: spec.UID, EUID: spec.UID, SUID: spec.UID, FSUID: spec.UID,
		GID: spec.GID, EGID: spec.GID, SGID: spec.GID, FSGID: spec.GID}
	err = k.CreateProcess(kernel.CreateProcessArgs{
		Path: argv0, Argv: spec.Args, Envv: spec.Env, Open: syscalls.OpenExecutable,
		Creds: creds, FDTable: fdt, FS: fsc, Seccomp: filters,
	})
	if err != nil {
		code := exitCannotExec
		if errors.Is(err, unix.ENOENT) {
			code = exitNotFound
		}
		return failf(code, "%s: %v", spec.Args[0], describe(err))
	}
	forwardSignals(k)
	ws := k.Wait()
	if spec.Debug {
		if u := k.Unimplemented(); len(u) > 0 {
			fmt.Fprintf(os.Stderr, "runsc: unimplemented syscalls and features used: %s\n", strings.Join(u, ", "))
		} else {
			fmt.Fprintf(os.Stderr, "runsc: no unimplemented syscalls were used\n")
		}
	}
	return ws.ExitCode()
}

// describe turns an errno into the words a user expects.
func describe(err error) string {
	switch {
	case errors.Is(err, unix.ENOEXEC):
		return "exec format error (not an ELF executable for this machine)"
	case errors.Is(err, unix.EACCES):
		return "permission denied (not an executable regular file)"
	}
	return err.Error()
}

// lookPath resolves the program name as execvp would, in the sandbox.
func lookPath(k *kernel.Kernel, fsc *vfs.FSContext, spec Spec) (string, error) {
	name := spec.Args[0]
	if strings.Contains(name, "/") {
		return name, nil
	}
	pathEnv := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, e := range spec.Env {
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

// forwardSignals delivers signals sent to the Sentry process to the
// sandbox's first process.
func forwardSignals(k *kernel.Kernel) {
	ch := make(chan os.Signal, 8)
	signal.Notify(ch, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2)
	go func() {
		for s := range ch {
			if tg := k.ThreadGroupByID(1); tg != nil {
				// SI_USER from pid 0: a sender outside the sandbox.
				info := &arch.SignalInfo{Signo: int32(s.(unix.Signal))}
				k.SendSignal(tg, info)
			}
		}
	}()
}

func failf(code int, format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "runsc: "+format+"\n", args...)
	return code
}
