package main

import (
	"fmt"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// lastCap is the highest capability number Linux knows today.
const lastCap = unix.CAP_LAST_CAP

// confineCapabilities leaves the calling process with only the
// capabilities in keep (effective, permitted and bounding sets; the
// inheritable and ambient sets are emptied) and sets no_new_privs, on
// every thread: the Go runtime's threads each carry their own set.
func confineCapabilities(keep ...uintptr) error {
	if _, _, errno := syscall.AllThreadsSyscall(unix.SYS_GETPID, 0, 0, 0); errno == unix.ENOTSUP {
		return fmt.Errorf("runsc was built with cgo and cannot drop privileges on all threads; build it with CGO_ENABLED=0 (make does)")
	}
	kept := map[uintptr]bool{}
	for _, c := range keep {
		kept[c] = true
	}
	for c := uintptr(0); c <= lastCap; c++ {
		// Each drop stops every thread, so only capabilities still in the
		// set: runsc starts its helpers with it cut down already (see
		// sandbox's spawner). The calling thread's set stands for all:
		// nothing in a helper drops bounding capabilities on one thread.
		if kept[c] || !inBoundingSet(c) {
			continue
		}
		if _, _, errno := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, c, 0); errno != 0 && errno != unix.EINVAL {
			return fmt.Errorf("dropping capability %d from the bounding set: %w", c, errno)
		}
	}
	if _, _, errno := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0); errno != 0 {
		return fmt.Errorf("clearing ambient capabilities: %w", errno)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	for c := range kept {
		data[c/32].Effective |= 1 << (c % 32)
		data[c/32].Permitted |= 1 << (c % 32)
	}
	if _, _, errno := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); errno != 0 {
		return fmt.Errorf("capset: %w", errno)
	}
	if _, _, errno := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0); errno != 0 {
		return fmt.Errorf("no_new_privs: %w", errno)
	}
	return nil
}

// inBoundingSet says whether the calling thread's bounding set holds c
// (false also for a capability this kernel does not know).
func inBoundingSet(c uintptr) bool {
	r, _, errno := unix.RawSyscall(unix.SYS_PRCTL, unix.PR_CAPBSET_READ, c, 0)
	return errno == 0 && r == 1
}
