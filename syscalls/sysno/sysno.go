// Package sysno names the amd64 Linux system calls: number to name for
// --strace and --debug, name to number for seccomp profiles, which name
// system calls.
package sysno

// Name returns the name of system call nr, if it has one.
func Name(nr uint64) (string, bool) {
	n, ok := names[nr]
	return n, ok
}

// numbers is names inverted.
var numbers = func() map[string]uint64 {
	m := make(map[string]uint64, len(names))
	for nr, n := range names {
		m[n] = nr
	}
	return m
}()

// Number returns the number of the system call called name on amd64;
// false for a name amd64 does not have (such as "chown32", "mmap2" or
// "socketcall" of other ABIs).
func Number(name string) (uint64, bool) {
	nr, ok := numbers[name]
	return nr, ok
}
