// Package syserr holds the kernel-internal error values that never reach
// the application as such: the ERESTART* family that tells the syscall layer
// a blocking call was interrupted and how it may be restarted.
package syserr

import "golang.org/x/sys/unix"

// Kernel-internal restart errnos (include/linux/errno.h). The syscall layer
// turns them into EINTR or a restart depending on the signal that
// interrupted the call.
const (
	// ERESTARTSYS: restart if the interrupting handler has SA_RESTART
	// (or no handler ran), else EINTR.
	ERESTARTSYS = unix.Errno(512)
	// ERESTARTNOINTR: always restart.
	ERESTARTNOINTR = unix.Errno(513)
	// ERESTARTNOHAND: restart only if no handler ran, else EINTR.
	ERESTARTNOHAND = unix.Errno(514)
	// ERESTART_RESTARTBLOCK: like ERESTARTNOHAND, but restart through
	// restart_syscall (we restart the original call with adjusted args).
	ERESTART_RESTARTBLOCK = unix.Errno(516)
)

// ErrInterrupted is what a blocking wait returns when a signal needs the
// task's attention. Callers return it unchanged (or a more specific
// ERESTART* value) from the syscall.
var ErrInterrupted error = ERESTARTSYS

// IsRestart reports whether err is one of the ERESTART* values.
func IsRestart(err error) bool {
	switch err {
	case ERESTARTSYS, ERESTARTNOINTR, ERESTARTNOHAND, ERESTART_RESTARTBLOCK:
		return true
	}
	return false
}
