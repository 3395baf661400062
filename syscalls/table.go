// Package syscalls is the amd64 Linux system call table and its handlers,
// one file per syscall family. Handlers decode arguments, copy memory in
// and out, and delegate the work to sentry packages; errno values appear
// only here.
package syscalls

import (
	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/kernel"
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

// Syscall is one table entry.
type Syscall struct {
	Name string
	Fn   Handler
	Args []ArgKind
}

// MaxSyscall bounds the amd64 table.
const MaxSyscall = 512

// Table is the amd64 syscall table, indexed by number. Entries without a
// handler are unimplemented: they return ENOSYS and are counted.
var Table [MaxSyscall]Syscall

// register installs a handler. Each syscall family file calls it from init.
func register(nr uintptr, name string, fn Handler, args ...ArgKind) {
	if Table[nr].Fn != nil {
		panic("syscalls: " + name + " registered twice")
	}
	Table[nr] = Syscall{Name: name, Fn: fn, Args: args}
}
