// Package sandbox starts the processes of one sandbox, the gofer and the
// Sentry ("runsc boot"), and waits for it to end.
package sandbox

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/veil-sandbox/veil/runsc/boot"
	"golang.org/x/sys/unix"
)

// Run runs spec in a new sandbox whose root filesystem is rootDir on the
// host, and returns the exit code for runsc: the program's exit code, or
// 128+N if it died of signal N.
func Run(spec boot.Spec, rootDir string) int {
	self, err := os.Executable()
	if err != nil {
		return failf("cannot find own executable: %v", err)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return failf("gofer socketpair: %v", err)
	}
	goferEnd := os.NewFile(uintptr(fds[0]), "gofer-io")
	sentryEnd := os.NewFile(uintptr(fds[1]), "sentry-io")

	// The gofer gets its own mount namespace so it can pivot_root into
	// the container's root without touching the host's mounts.
	goferArgs := []string{"gofer", "--root", rootDir, "--io-fd", "3"}
	if spec.RootReadOnly {
		goferArgs = append(goferArgs, "--readonly")
	}
	gofer := exec.Command(self, goferArgs...)
	gofer.ExtraFiles = []*os.File{goferEnd}
	gofer.Stderr = os.Stderr
	gofer.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: unix.CLONE_NEWNS,
		Pdeathsig:  unix.SIGKILL,
	}
	if err := gofer.Start(); err != nil {
		return failf("starting gofer: %v", err)
	}
	goferEnd.Close()
	goferDone := make(chan error, 1)
	go func() { goferDone <- gofer.Wait() }()
	defer func() {
		gofer.Process.Kill()
		<-goferDone
	}()

	specR, specW, err := os.Pipe()
	if err != nil {
		return failf("spec pipe: %v", err)
	}
	bootArgs := []string{"boot", "--spec-fd", "3", "--gofer-fd", "4"}
	sentry := exec.Command(self, bootArgs...)
	sentry.ExtraFiles = []*os.File{specR, sentryEnd}
	sentry.Stdin, sentry.Stdout, sentry.Stderr = os.Stdin, os.Stdout, os.Stderr
	// The Sentry gets fresh pid, mount, network, IPC and UTS namespaces:
	// it needs none of the host's, and its stub processes die with it
	// when it (their pid namespace's init) exits.
	sentry.SysProcAttr = &syscall.SysProcAttr{
		Pdeathsig:  unix.SIGKILL,
		Cloneflags: unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWNET | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS,
	}
	if err := sentry.Start(); err != nil {
		return failf("starting sentry: %v", err)
	}
	specR.Close()
	sentryEnd.Close()
	if err := json.NewEncoder(specW).Encode(&spec); err != nil {
		sentry.Process.Kill()
		sentry.Wait()
		return failf("sending spec to sentry: %v", err)
	}
	specW.Close()

	// Signals sent to runsc go to the sandbox, as with runc's
	// forwarding to the container's init.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2)
	go func() {
		for s := range sigs {
			sentry.Process.Signal(s)
		}
	}()
	sentryDone := make(chan error, 1)
	go func() { sentryDone <- sentry.Wait() }()
	select {
	case err = <-sentryDone:
	case gerr := <-goferDone:
		goferDone <- gerr // for the deferred cleanup
		if gerr == nil {
			// A clean gofer exit means the Sentry closed the connection:
			// it is exiting on its own.
			err = <-sentryDone
			break
		}
		// Without its gofer the sandbox cannot reach its files any
		// more: stop it rather than let the program limp on with EIO.
		sentry.Process.Kill()
		<-sentryDone
		signal.Stop(sigs)
		failf("gofer exited unexpectedly (%v); sandbox stopped", gerr)
		return exitRuntimeFailed
	}
	signal.Stop(sigs)
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		ws := ee.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			fmt.Fprintf(os.Stderr, "runsc: sentry killed by %v\n", ws.Signal())
			return 128 + int(ws.Signal())
		}
		return ws.ExitStatus()
	}
	return failf("waiting for sentry: %v", err)
}

// exitRuntimeFailed is runsc's exit code when the sandbox itself broke
// down (as docker uses 125 for its own failures).
const exitRuntimeFailed = 125

func failf(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "runsc: "+format+"\n", args...)
	return 1
}
