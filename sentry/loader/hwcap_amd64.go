package loader

// hwcap returns AT_HWCAP, which on x86 is CPUID leaf 1's EDX. Programs
// query cpuid themselves for anything beyond the baseline, so report the
// features every amd64 CPU has (fpu through sse2).
func hwcap() uint32 { return 0x178bfbff }
