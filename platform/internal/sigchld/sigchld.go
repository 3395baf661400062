// Package sigchld stops ptrace stops from signalling the Sentry.
//
// Every ptrace stop of a tracee (each system call of the ptrace platform,
// each injected system call of either platform) sends the tracer's
// process a SIGCHLD, which the Go runtime catches on whichever thread it
// lands and then ignores: a signal delivery, and often the wake-up of an
// idle thread, for nothing. With SA_NOCLDSTOP on SIGCHLD the kernel sends
// none for stops (do_notify_parent_cldstop checks it for ptrace stops as
// for job control ones); children's exits still signal, which is all Go
// needs.
package sigchld

import (
	"fmt"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sigaction is the kernel's struct sigaction on x86-64.
type sigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

const saNoCldStop = 0x1

var (
	once sync.Once
	err  error
)

// NoStopSignals adds SA_NOCLDSTOP to the process's SIGCHLD action, keeping
// the handler the Go runtime installed. It is done once per process; the
// runtime does not touch the flag again unless the program changes
// SIGCHLD's disposition through os/signal, which the Sentry never does.
func NoStopSignals() error {
	once.Do(func() {
		var act sigaction
		if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(unix.SIGCHLD), 0, uintptr(unsafe.Pointer(&act)), 8, 0, 0); e != 0 {
			err = fmt.Errorf("rt_sigaction(SIGCHLD): %w", e)
			return
		}
		if act.flags&saNoCldStop != 0 {
			return
		}
		act.flags |= saNoCldStop
		if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(unix.SIGCHLD), uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0); e != 0 {
			err = fmt.Errorf("rt_sigaction(SIGCHLD, SA_NOCLDSTOP): %w", e)
		}
	})
	return err
}
