//go:build amd64

// Package ccall calls machine code that follows the System V x86-64 calling
// convention, without cgo. The vDSO's tests use it to run the vDSO's
// functions in the test process.
package ccall

// Call3 calls the function at fn with three integer arguments and returns
// what it leaves in rax. The function runs on the goroutine's stack, which
// has a few hundred bytes free below the caller's frame: enough for the
// vDSO, not for arbitrary C code.
func Call3(fn, a0, a1, a2 uintptr) uintptr
