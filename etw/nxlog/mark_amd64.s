#include "textflag.h"

// func indexMarkSSE2(b []byte) int
//
// Returns the index i of the first `\u` or `D"` (b[i], b[i+1]) among the
// positions the vector loop covers, or -(stop+1) when there is none,
// where stop is the first position it did not look at (the caller looks
// at the rest). Sixteen positions per round: b[i:i+16] and b[i+1:i+17]
// compared with the four bytes, the pairs ANDed, both ORed. SSE2 only
// (every amd64).
TEXT ·indexMarkSSE2(SB), NOSPLIT, $0-32
	MOVQ b_base+0(FP), SI
	MOVQ b_len+8(FP), CX
	MOVQ $0x5c5c5c5c5c5c5c5c, DX // '\\'
	MOVQ DX, X0
	PUNPCKLQDQ X0, X0
	MOVQ $0x7575757575757575, DX // 'u'
	MOVQ DX, X1
	PUNPCKLQDQ X1, X1
	MOVQ $0x4444444444444444, DX // 'D'
	MOVQ DX, X2
	PUNPCKLQDQ X2, X2
	MOVQ $0x2222222222222222, DX // '"'
	MOVQ DX, X3
	PUNPCKLQDQ X3, X3
	XORQ AX, AX

loop:
	LEAQ 17(AX), R8
	CMPQ R8, CX
	JA   rest
	MOVOU (SI)(AX*1), X4
	MOVOU 1(SI)(AX*1), X5
	MOVOU X4, X6
	MOVOU X5, X7
	PCMPEQB X0, X4
	PCMPEQB X1, X5
	PAND X5, X4
	PCMPEQB X2, X6
	PCMPEQB X3, X7
	PAND X7, X6
	POR  X6, X4
	PMOVMSKB X4, DX
	TESTL DX, DX
	JNZ  found
	ADDQ $16, AX
	JMP  loop

found:
	BSFL DX, DX
	ADDQ DX, AX
	MOVQ AX, ret+24(FP)
	RET

rest:
	NOTQ AX // -(AX+1)
	MOVQ AX, ret+24(FP)
	RET
