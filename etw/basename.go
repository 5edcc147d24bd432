package etw

import (
	"encoding/binary"
	"math/bits"
	"unsafe"
)

// BaseName returns the last element of a Windows path (after the last
// backslash or slash), or the whole string when it has none.
//
// Every process start's image goes through it, so it looks at eight
// bytes at a time from the end (separators are found exactly: see
// sepMask) and byte by byte only for the first len(p)%8.
func BaseName(p string) string {
	i := len(p)
	if i >= 8 {
		b := unsafe.Slice(unsafe.StringData(p), len(p)) // read only
		for ; i >= 8; i -= 8 {
			if m := sepMask(binary.LittleEndian.Uint64(b[i-8:])); m != 0 {
				// The highest flag is the word's last separator.
				return p[i-8+(63-bits.LeadingZeros64(m))/8+1:]
			}
		}
	}
	for i--; i >= 0; i-- {
		if p[i] == '\\' || p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}

// Word constants: a byte repeated in each byte of a uint64.
const (
	wordOnes  = 0x0101010101010101
	wordLow7  = 0x7f7f7f7f7f7f7f7f
	wordBack  = '\\' * wordOnes
	wordSlash = '/' * wordOnes
)

// zeroMask sets bit 7 of each byte of x that is zero, and no other bit.
// Unlike the borrow trick ((x-0x01..)&^x), it has no false flags, so any
// flag, highest or lowest, is exact: (b&0x7f)+0x7f carries into bit 7
// for every byte with a low bit set, x supplies bit 7 itself.
func zeroMask(x uint64) uint64 {
	return ^(((x & wordLow7) + wordLow7) | x | wordLow7)
}

// sepMask flags the bytes of x that are a backslash or a slash.
func sepMask(x uint64) uint64 {
	return zeroMask(x^wordBack) | zeroMask(x^wordSlash)
}
