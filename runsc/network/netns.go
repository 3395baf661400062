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
	target, err := os.Open(netns)
	if err != nil {
		return fmt.Errorf("network namespace: %w", err)
	}
	defer target.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		own, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("own network namespace: %w", err)
			return
		}
		defer own.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("joining network namespace %s: %w", netns, err)
			return
		}
		err = f()
		if rerr := unix.Setns(int(own.Fd()), unix.CLONE_NEWNET); rerr != nil {
			errc <- err
			select {} // in the wrong namespace: serve nobody, but live
		}
		runtime.UnlockOSThread()
		errc <- err
	}()
	return <-errc
}
