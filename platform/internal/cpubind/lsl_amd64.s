#include "textflag.h"

// func segmentCPU() (v uint32, ok bool)
//
// LSL of the per-CPU segment (GDT entry 15, selector 0x7b) gives the
// limit Linux stores there: node<<12 | cpu. ZF says whether the selector
// was valid.
TEXT ·segmentCPU(SB),NOSPLIT,$0-5
	MOVL	$0x7b, AX
	BYTE $0x0f; BYTE $0x03; BYTE $0xc0 // lsl eax, eax
	SETEQ	BX
	MOVL	AX, v+0(FP)
	MOVB	BX, ok+4(FP)
	RET
