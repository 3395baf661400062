#include "textflag.h"

// func rdtsc() uint64
//
// LFENCE keeps RDTSC from executing before earlier loads, as in vdso.c.
TEXT ·rdtsc(SB),NOSPLIT,$0-8
	LFENCE
	RDTSC
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	AX, ret+0(FP)
	RET
