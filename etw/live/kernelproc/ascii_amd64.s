//go:build amd64 && !purego

#include "textflag.h"

// func asciiPrefix(dst, src []byte) (k int, stop uint8)
//
// PACKUSWB narrows 16-bit units to bytes with unsigned saturation of the
// signed value: 0x01-0x7f stay, 0x80-0x7fff become a byte >= 0x80, 0 and
// 0x8000-0xffff become 0. So a unit is ASCII and not NUL exactly when its
// byte is greater than 0 as a signed byte (PCMPGTB with zero); a block
// stops at the lowest byte that is not.
TEXT ·asciiPrefix(SB), NOSPLIT, $0-57
	MOVQ	dst_base+0(FP), DI
	MOVQ	dst_len+8(FP), R8
	MOVQ	src_base+24(FP), SI
	MOVQ	src_len+32(FP), R9
	SHRQ	$1, R9            // code units in src
	CMPQ	R9, R8
	CMOVQGT	R8, R9            // R9 = min(units in src, bytes in dst)
	XORQ	AX, AX            // AX = k
	PXOR	X3, X3
	CMPQ	R9, $16
	JLT	tail8

loop16:                           // AX+16 <= R9
	MOVOU	(SI)(AX*2), X0
	MOVOU	16(SI)(AX*2), X1
	PACKUSWB	X1, X0
	MOVOU	X0, (DI)(AX*1)    // in full: past a stop it is overwritten or past the result
	PCMPGTB	X3, X0
	PMOVMSKB	X0, BX
	XORL	$0xffff, BX       // the bytes that stop
	JNZ	stopped
	ADDQ	$16, AX
	LEAQ	16(AX), CX
	CMPQ	CX, R9
	JLE	loop16

tail8:
	LEAQ	8(AX), CX
	CMPQ	CX, R9
	JGT	short
	MOVOU	(SI)(AX*2), X0
	PACKUSWB	X0, X0            // the 8 bytes twice
	MOVQ	X0, (DI)(AX*1)
	PCMPGTB	X3, X0
	PMOVMSKB	X0, BX
	XORL	$0xffff, BX
	JNZ	stopped
	MOVQ	CX, AX

short:
	MOVQ	AX, k+48(FP)
	MOVB	$0, stop+56(FP)   // stopShort
	RET

stopped:
	BSFL	BX, BX
	ADDQ	BX, AX
	MOVQ	AX, k+48(FP)
	MOVWLZX	(SI)(AX*2), CX    // the unit that stopped the run
	CMPL	CX, $1            // carry iff it is NUL
	MOVL	$1, DX            // stopUnit
	ADCL	$0, DX            // or stopNUL
	MOVB	DX, stop+56(FP)
	RET
