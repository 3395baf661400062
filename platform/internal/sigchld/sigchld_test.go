package sigchld

import (
	"os/exec"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestNoStopSignals(t *testing.T) {
	if err := NoStopSignals(); err != nil {
		t.Fatal(err)
	}
	var act sigaction
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(unix.SIGCHLD), 0, uintptr(unsafe.Pointer(&act)), 8, 0, 0); e != 0 {
		t.Fatal(e)
	}
	if act.flags&saNoCldStop == 0 || act.handler == 0 || act.handler == 1 {
		t.Fatalf("SIGCHLD action %+v: want the runtime's handler with SA_NOCLDSTOP", act)
	}
	// Children that stop and exit are still waited for as usual.
	cmd := exec.Command("/bin/sh", "-c", "sleep 5 & kill -STOP $!; kill -CONT $!; kill $!; wait; exit 3")
	if err := cmd.Run(); err == nil || cmd.ProcessState.ExitCode() != 3 {
		t.Fatalf("child: %v (exit %d), want exit status 3", err, cmd.ProcessState.ExitCode())
	}
}
