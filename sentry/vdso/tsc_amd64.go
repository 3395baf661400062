package vdso

// rdtsc reads the time stamp counter (tsc_amd64.s).
func rdtsc() uint64

// haveTSC says whether this architecture has a TSC the vDSO can read.
const haveTSC = true
