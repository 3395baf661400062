package shim

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/veil-sandbox/veil/runsc/cgroup"
	"golang.org/x/sys/unix"
)

// watchOOM calls onOOM each time the kernel's OOM killer acts in the
// sandbox's cgroup (its memory limit is the pod's or container's), until
// the cgroup goes away. The Sentry holds all of the application's memory,
// so an OOM kill there is the container's.
func watchOOM(cgroupState string, onOOM func()) error {
	cg, err := cgroup.Load(cgroupState)
	if err != nil {
		return err
	}
	dir, v2 := cg.MemoryDir()
	if dir == "" {
		return fmt.Errorf("the cgroup has no memory controller")
	}
	if v2 {
		return watchOOMv2(dir, onOOM)
	}
	return watchOOMv1(dir, onOOM)
}

// watchOOMv1 uses memory.oom_control's eventfd notification, which also
// fires (and then returns EOF-like errors) when the cgroup is removed.
func watchOOMv1(dir string, onOOM func()) error {
	ctl, err := os.Open(filepath.Join(dir, "memory.oom_control"))
	if err != nil {
		return err
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		ctl.Close()
		return fmt.Errorf("eventfd: %w", err)
	}
	reg := fmt.Sprintf("%d %d", efd, ctl.Fd())
	if err := os.WriteFile(filepath.Join(dir, "cgroup.event_control"), []byte(reg), 0); err != nil {
		ctl.Close()
		unix.Close(efd)
		return fmt.Errorf("cgroup.event_control: %w", err)
	}
	go func() {
		defer ctl.Close()
		defer unix.Close(efd)
		buf := make([]byte, 8)
		for {
			if _, err := unix.Read(efd, buf); err != nil {
				return
			}
			// The eventfd also fires when the cgroup is removed.
			if _, err := os.Stat(filepath.Join(dir, "memory.oom_control")); err != nil {
				return
			}
			onOOM()
		}
	}()
	return nil
}

// watchOOMv2 watches the oom_kill count of memory.events.
func watchOOMv2(dir string, onOOM func()) error {
	events := filepath.Join(dir, "memory.events")
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("inotify: %w", err)
	}
	if _, err := unix.InotifyAddWatch(fd, events, unix.IN_MODIFY|unix.IN_DELETE_SELF|unix.IN_IGNORED); err != nil {
		unix.Close(fd)
		return fmt.Errorf("watching %s: %w", events, err)
	}
	go func() {
		defer unix.Close(fd)
		last := oomKills(events)
		buf := make([]byte, 4096)
		for {
			if _, err := unix.Read(fd, buf); err != nil {
				return
			}
			n := oomKills(events)
			if n < 0 {
				return // removed
			}
			if n > last {
				onOOM()
			}
			last = n
		}
	}()
	return nil
}

// oomKills reads oom_kill from memory.events (-1: unreadable).
func oomKills(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	for _, l := range bytes.Split(b, []byte("\n")) {
		if k, v, ok := strings.Cut(string(l), " "); ok && k == "oom_kill" {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}
