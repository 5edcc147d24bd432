package textparse

import "bytes"

// Uint32 parses an unsigned number that fits in 32 bits, as Windows logs
// and the native trace write one: decimal, or hexadecimal with a 0x (0X)
// prefix (leading zeros of a 64-bit rendering allowed). A decimal with an
// all-zero fraction ("404.0", as some JSON forwarders render integers) is
// accepted; signs, spaces, exponents and empty input are not. It is the
// one number parser of every recorded source.
func Uint32(b []byte) (uint32, bool) {
	if len(b) > 2 && b[0] == '0' && (b[1] == 'x' || b[1] == 'X') {
		b = b[2:]
		for len(b) > 8 && b[0] == '0' {
			b = b[1:]
		}
		if len(b) == 0 || len(b) > 8 {
			return 0, false
		}
		var v uint32
		for _, c := range b {
			var d byte
			switch {
			case c >= '0' && c <= '9':
				d = c - '0'
			case c >= 'a' && c <= 'f':
				d = c - 'a' + 10
			case c >= 'A' && c <= 'F':
				d = c - 'A' + 10
			default:
				return 0, false
			}
			v = v<<4 | uint32(d)
		}
		return v, true
	}
	if i := bytes.IndexByte(b, '.'); i > 0 {
		for _, c := range b[i+1:] {
			if c != '0' {
				return 0, false
			}
		}
		b = b[:i]
	}
	if len(b) == 0 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
		if v > 1<<32-1 {
			return 0, false
		}
	}
	return uint32(v), true
}
