// Package syscalls is the amd64 Linux system call table and its handlers,
// one file per syscall family. Handlers decode arguments, copy memory in
// and out, and delegate the work to sentry packages; errno values appear
// only here.
package syscalls

import (
	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"golang.org/x/sys/unix"
)

// Handler implements one system call. It returns the value for rax, or an
// error: a unix.Errno (or an ERESTART* value from sentry/syserr).
type Handler func(t *kernel.Task, a arch.SyscallArgs) (uintptr, error)

// ArgKind says how --strace prints an argument.
type ArgKind uint8

// Argument kinds for strace.
const (
	Int    ArgKind = iota // signed decimal
	Hex                   // pointers, flags
	Oct                   // modes
	Path                  // NUL-terminated string in application memory
	FD                    // file descriptor (AT_FDCWD shown by name)
	Buf                   // buffer whose length is the next argument (shown on write)
	Signal                // signal number
)

// Support says how completely the Sentry implements a system call. The
// compatibility table in docs/ is generated from it (see compat.go).
type Support uint8

// Support levels.
const (
	// Unsupported: not implemented. Without a handler the call returns
	// ENOSYS; a refusing handler (refuse) returns what Linux returns when
	// the feature is absent. Both are counted for --debug.
	Unsupported Support = iota
	// Partial: implemented, except what Note says.
	Partial
	// Full: implemented as Linux does it.
	Full
)

// Syscall is one table entry.
type Syscall struct {
	Name string
	Fn   Handler
	Args []ArgKind
	// Support and Note say how complete the implementation is: for
	// Partial what is missing, for Unsupported what the caller gets.
	Support Support
	Note    string
}

// MaxSyscall bounds the amd64 table.
const MaxSyscall = 512

// Table is the amd64 syscall table, indexed by number. Entries without a
// handler are unimplemented: they return ENOSYS and are counted.
var Table [MaxSyscall]Syscall

// register installs a handler, fully supported unless partial says
// otherwise. Each syscall family file calls it from init.
func register(nr uintptr, name string, fn Handler, args ...ArgKind) *Syscall {
	if Table[nr].Fn != nil {
		panic("syscalls: " + name + " registered twice")
	}
	Table[nr] = Syscall{Name: name, Fn: fn, Args: args, Support: Full}
	return &Table[nr]
}

// partial marks a registered call as partly implemented; note says what
// is missing (and what the caller then gets).
func (s *Syscall) partial(note string) *Syscall {
	s.Support, s.Note = Partial, note
	return s
}

// refuse registers a call the Sentry does not implement, answering errno
// as a Linux kernel without the feature would (note says so), and
// counting it like a missing one.
func refuse(nr uintptr, name string, errno unix.Errno, note string, args ...ArgKind) {
	register(nr, name, func(t *kernel.Task, _ arch.SyscallArgs) (uintptr, error) {
		return 0, unsupported(t, name, errno)
	}, args...)
	Table[nr].Support, Table[nr].Note = Unsupported, note
}
