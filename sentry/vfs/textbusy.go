package vfs

import (
	"sync"

	"golang.org/x/sys/unix"
)

// Writers of regular files, for execve(2)'s ETXTBSY: "The specified
// executable was open for writing by one or more processes" (Linux's
// deny_write_access on i_writecount). Only files opened by path are
// counted; anonymous files (memfd, pipes) are not.

var writers struct {
	mu sync.Mutex
	n  map[Inode]int
}

// addWriter counts a writable open of inode (delta +1) or its release
// (delta -1).
func addWriter(inode Inode, delta int) {
	writers.mu.Lock()
	defer writers.mu.Unlock()
	if writers.n == nil {
		writers.n = make(map[Inode]int)
	}
	if n := writers.n[inode] + delta; n > 0 {
		writers.n[inode] = n
	} else {
		delete(writers.n, inode)
	}
}

// checkNotWritten returns ETXTBSY if inode is open for writing.
func checkNotWritten(inode Inode) error {
	writers.mu.Lock()
	defer writers.mu.Unlock()
	if writers.n[inode] > 0 {
		return unix.ETXTBSY
	}
	return nil
}
