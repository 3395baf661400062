package network

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// InNamespace runs f on an OS thread that joined the network namespace
// at netns, then returns the thread to the caller's namespace. The
// thread must live on: a child started with Pdeathsig (by f, or earlier
// by anyone on the same thread) is killed when the thread that forked it
// exits, so a thread that cannot go back is parked for good rather than
// let go or reused.
func InNamespace(netns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		back, err := OnThreadIn(netns, f)
		errc <- err
		if !back {
			select {} // in the wrong namespace: serve nobody, but live
		}
		runtime.UnlockOSThread()
	}()
	return <-errc
}

// OnThreadIn runs f on the calling thread, which the caller has locked,
// in the network namespace at netns, and then in the thread's own again;
// back says whether it got there (if not, the caller must keep the thread
// from running anything else).
func OnThreadIn(netns string, f func() error) (back bool, err error) {
	target, err := os.Open(netns)
	if err != nil {
		return true, fmt.Errorf("network namespace: %w", err)
	}
	defer target.Close()
	own, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		return true, fmt.Errorf("own network namespace: %w", err)
	}
	defer own.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return true, fmt.Errorf("joining network namespace %s: %w", netns, err)
	}
	err = f()
	return unix.Setns(int(own.Fd()), unix.CLONE_NEWNET) == nil, err
}
