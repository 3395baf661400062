//go:build !amd64

package vdso

// The vDSO image is x86-64 code; elsewhere the data page stays in
// system call mode.

func rdtsc() uint64 { return 0 }

const haveTSC = false
