#include "textflag.h"

// func Call3(fn, a0, a1, a2 uintptr) uintptr
//
// Not NOSPLIT: the prologue's stack check leaves at least the stack guard
// (several hundred bytes) free below SP for the callee. BX is callee-saved
// in the System V ABI and keeps the unaligned SP across the call.
TEXT ·Call3(SB),0,$16-40
	MOVQ	fn+0(FP), AX
	MOVQ	a0+8(FP), DI
	MOVQ	a1+16(FP), SI
	MOVQ	a2+24(FP), DX
	MOVQ	SP, BX
	ANDQ	$~15, SP
	CALL	AX
	MOVQ	BX, SP
	MOVQ	AX, ret+32(FP)
	RET
