package kernelproc

import (
	"encoding/binary"
	"math/bits"
)

// utf16z converts the NUL-terminated UTF-16LE string at the start of src
// to UTF-8 in dst, which must hold len(src)/2*3 bytes (3 per code unit at
// most). It returns the UTF-8 length n, the bytes of src used (the NUL
// included) and ok; ok is false when src has no NUL code unit (a last odd
// byte is not a unit). dst[n:] may be overwritten.
//
// Runs of ASCII go through asciiPrefix, many code units at a time; the
// unit that stops a run (not ASCII) and the few units near the end of src
// go one at a time through utf16Units, which hands back to asciiPrefix
// after the next ASCII unit.
func utf16z(dst, src []byte) (n, used int, ok bool) {
	// The common case, a path of ASCII, in one call.
	k, stop := asciiPrefix(dst, src)
	if stop == stopNUL {
		return k, 2*k + 2, true
	}
	return utf16zFrom(dst, src, 2*k, k, stop == stopShort)
}

// utf16zFrom is utf16z from byte i of src and byte j of dst, after an
// asciiPrefix that stopped at a unit that is not ASCII, or ran short (then
// the few units left go one at a time to the end).
func utf16zFrom(dst, src []byte, i, j int, short bool) (n, used int, ok bool) {
	for {
		var end int8
		if i, j, end = utf16Units(dst, src, i, j, short); end != 0 {
			return j, i, end > 0
		}
		k, stop := asciiPrefix(dst[j:], src[i:])
		i, j, short = i+2*k, j+k, stop == stopShort
		if stop == stopNUL {
			return j, i + 2, true
		}
	}
}

// asciiPrefixSWAR is asciiPrefix in portable Go, eight code units at a time
// in two 64-bit words (SIMD within a register): while dst has 8 bytes and
// src 16, it converts blocks of ASCII units, and stops at the first unit
// that is not ASCII or is NUL. After it, fewer than 8 units are left
// unconverted before the end of src or dst (utf16Units takes them).
func asciiPrefixSWAR(dst, src []byte) (k int, stop uint8) {
	le := binary.LittleEndian
	for i := 0; k+8 <= len(dst) && i+16 <= len(src); i += 16 {
		// Full slice expressions of constant length: no bounds checks
		// in the loads and the store.
		in, out := src[i:i+16:i+16], dst[k:k+8:k+8]
		w0, w1 := le.Uint64(in), le.Uint64(in[8:])
		// Stored in full even when the block stops early: the bytes
		// after the stop are overwritten or past the result.
		le.PutUint64(out, packASCII(w0)|packASCII(w1)<<32)
		s0, s1 := asciiStops(w0), asciiStops(w1)
		if s0|s1 != 0 {
			if s0 != 0 {
				k += bits.TrailingZeros64(s0) >> 4
			} else {
				k += 4 + bits.TrailingZeros64(s1)>>4
			}
			if in[2*(k&7)]|in[2*(k&7)+1] == 0 {
				return k, stopNUL
			}
			return k, stopUnit
		}
		k += 8
	}
	return k, stopShort
}

// What stopped asciiPrefix.
const (
	stopShort uint8 = iota // fewer than 8 code units left in src or dst
	stopUnit               // a code unit that is not ASCII
	stopNUL                // the NUL
)

// utf16Units converts code units of src from byte i to dst from byte j,
// one at a time, up to and including the first ASCII one (to the NUL when
// all is set). It returns the new i and j, and end: 0 to go on, 1 after
// the NUL (i is then past it), -1 when src ends first.
func utf16Units(dst, src []byte, i, j int, all bool) (int, int, int8) {
	for i+1 < len(src) {
		u := uint32(src[i]) | uint32(src[i+1])<<8
		i += 2
		if u < 0x80 {
			if u == 0 {
				return i, j, 1
			}
			dst[j] = byte(u)
			j++
			if !all {
				return i, j, 0
			}
			continue
		}
		var r uint32
		r, i = utf16Rune(src, i-2, u)
		i += 2
		j += len(appendRune(dst[j:j], r))
	}
	return i, j, -1
}

// asciiStops returns, for four UTF-16 code units in the 16-bit lanes of w,
// bit 15 of each lane set where the unit is not ASCII (>= 0x80) or is NUL.
// Only the lowest set bit is exact (the lanes above it may be set
// spuriously): the lanes below it hold units 1..0x7f, which neither borrow
// in unit-1 nor carry in unit+0x7f80, so the lowest stopping lane sees its
// own unit only. For a unit u, u-1 (mod 2^16) has bit 15 for u = 0 and u >
// 0x8000; u+0x7f80 has it for 0x80 <= u <= 0x8080.
func asciiStops(w uint64) uint64 {
	return ((w - 0x0001000100010001) | (w + 0x7f807f807f807f80)) & 0x8000800080008000
}

// packASCII packs four 16-bit lanes holding bytes (units below 0x100) into
// the low 32 bits, in order; the high 32 bits are zero.
func packASCII(w uint64) uint64 {
	w |= w >> 8 // bytes 0-1 and 4-5 hold the four units
	return uint64(uint16(w)) | w>>16&0xffff0000
}

// utf16Rune returns the code point of the unit u (>= 0x80) at b[i:], and
// the index of the last unit it used: a surrogate pair is one rune, an
// unpaired surrogate U+FFFD.
func utf16Rune(b []byte, i int, u uint32) (uint32, int) {
	switch {
	case u >= 0xd800 && u < 0xdc00:
		if i+3 < len(b) {
			if l := uint32(b[i+2]) | uint32(b[i+3])<<8; l >= 0xdc00 && l < 0xe000 {
				return 0x10000 + (u-0xd800)<<10 + (l - 0xdc00), i + 2
			}
		}
		return 0xfffd, i
	case u >= 0xdc00 && u < 0xe000:
		return 0xfffd, i
	}
	return u, i
}

// appendRune appends the UTF-8 form of r (a valid, non-surrogate code
// point >= 0x80).
func appendRune(dst []byte, r uint32) []byte {
	switch {
	case r < 0x800:
		return append(dst, byte(0xc0|r>>6), byte(0x80|r&0x3f))
	case r < 0x10000:
		return append(dst, byte(0xe0|r>>12), byte(0x80|r>>6&0x3f), byte(0x80|r&0x3f))
	}
	return append(dst, byte(0xf0|r>>18), byte(0x80|r>>12&0x3f), byte(0x80|r>>6&0x3f), byte(0x80|r&0x3f))
}
