package etw

import (
	"time"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string. Every byte sequence yields valid
// JSON that decodes to s with invalid UTF-8 replaced by U+FFFD: quotes,
// backslashes and control characters are escaped, and so are U+2028 and
// U+2029 (which break JavaScript consumers) and DEL.
func AppendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = AppendJSONStringBody(dst, s)
	return append(dst, '"')
}

// AppendJSONJoined appends a+sep+b as one JSON string without building the
// concatenation.
func AppendJSONJoined(dst []byte, a, sep, b string) []byte {
	dst = append(dst, '"')
	dst = AppendJSONStringBody(dst, a)
	dst = AppendJSONStringBody(dst, sep)
	dst = AppendJSONStringBody(dst, b)
	return append(dst, '"')
}

// AppendJSONStringBody appends the escaped contents of s, without quotes.
func AppendJSONStringBody(dst []byte, s string) []byte {
	// Fast path, the common case (paths, command lines): printable ASCII
	// where only '"' and '\\' need a backslash. Classify eight bytes per
	// step (independent table loads, one branch), then copy in one go.
	var class uint8
	i := 0
	for ; i+8 <= len(s); i += 8 {
		b := s[i : i+8]
		class |= escClass[b[0]] | escClass[b[1]] | escClass[b[2]] | escClass[b[3]] |
			escClass[b[4]] | escClass[b[5]] | escClass[b[6]] | escClass[b[7]]
	}
	for ; i < len(s); i++ {
		class |= escClass[s[i]]
	}
	switch {
	case class == escPlain:
		return append(dst, s...)
	case class&escOther != 0:
		return appendStringSlow(dst, s)
	}
	// Only '"' and '\\': at most twice as long. Branch-free copy: the
	// backslash written before each byte is kept only before those two.
	n := len(dst)
	if cap(dst)-n < 2*len(s) {
		dst = append(dst, make([]byte, 2*len(s))...)[:n]
	}
	out := dst[n : n+2*len(s)]
	j := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		out[j] = '\\' // kept only before '"' and '\\'
		j += int(escClass[c])
		out[j] = c
		j++
	}
	return dst[:n+j]
}

// Byte classes for the fast path.
const (
	escPlain     = 0 // printable ASCII
	escBackslash = 1 // '"' or '\\': a backslash before it
	escOther     = 2 // control, DEL or non-ASCII: the slow path
)

var escClass = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		switch {
		case c == '"' || c == '\\':
			t[c] = escBackslash
		case c < 0x20 || c >= 0x7f:
			t[c] = escOther
		}
	}
	return t
}()

// appendStringSlow escapes control characters, DEL, invalid UTF-8 (as
// U+FFFD) and U+2028/U+2029 too.
func appendStringSlow(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if plainASCII[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"':
				dst = append(dst, '\\', '"')
			case '\\':
				dst = append(dst, '\\', '\\')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\uFFFD" /* the replacement character itself, so re-encoding is stable */ ...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}

// plainASCII marks the ASCII bytes that need no escape in a JSON string.
var plainASCII = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != 0x7f
	}
	return t
}()

// AppendJSONTime appends t (Unix ns) as a quoted RFC 3339 UTC timestamp with
// nanoseconds, the form ECS @timestamp accepts, e.g.
// "2025-03-04T05:06:07.890123456Z". It formats by hand: this is the hot
// path of every alert.
func AppendJSONTime(dst []byte, t int64) []byte {
	secs := t / 1e9
	ns := t % 1e9
	if ns < 0 {
		ns += 1e9
		secs--
	}
	days := secs / 86400
	sod := secs % 86400
	if sod < 0 {
		sod += 86400
		days--
	}
	if days < -719468 || days > 2932896 { // outside years 0..9999
		dst = append(dst, '"')
		dst = time.Unix(0, t).UTC().AppendFormat(dst, "2006-01-02T15:04:05.000000000Z")
		return append(dst, '"')
	}
	y, m, d := civil(days)
	if y < 0 || y > 9999 {
		dst = append(dst, '"')
		dst = time.Unix(0, t).UTC().AppendFormat(dst, "2006-01-02T15:04:05.000000000Z")
		return append(dst, '"')
	}
	hh, mm, ss := uint32(sod/3600), uint32(sod/60%60), uint32(sod%60)
	yy, n := uint32(y), uint32(ns)
	var b [32]byte
	b[0] = '"'
	put2(b[1:], yy/100)
	put2(b[3:], yy%100)
	b[5] = '-'
	put2(b[6:], uint32(m))
	b[8] = '-'
	put2(b[9:], uint32(d))
	b[11] = 'T'
	put2(b[12:], hh)
	b[14] = ':'
	put2(b[15:], mm)
	b[17] = ':'
	put2(b[18:], ss)
	b[20] = '.'
	b[21] = byte('0' + n/1e8)
	n %= 1e8
	put2(b[22:], n/1e6)
	put2(b[24:], n/1e4%100)
	put2(b[26:], n/100%100)
	put2(b[28:], n%100)
	b[30], b[31] = 'Z', '"'
	return append(dst, b[:]...)
}

// digitPairs holds "00" to "99".
const digitPairs = "00010203040506070809101112131415161718192021222324252627282930313233343536373839" +
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879" +
	"8081828384858687888990919293949596979899"

// put2 writes v (0..99) as two digits.
func put2(b []byte, v uint32) {
	b[1], b[0] = digitPairs[2*v+1], digitPairs[2*v]
}

// civil converts days since 1970-01-01 to a proleptic Gregorian date
// (Neri and Schneider's Euclidean affine algorithm, 32-bit arithmetic;
// valid for years 0 to 9999, which callers check).
func civil(days int64) (y, m, d int64) {
	const shift = 82 // centuries added to keep n positive
	n := uint32(days + 719468 + 146097*shift)
	n1 := 4*n + 3
	c := n1 / 146097
	nc := n1 % 146097 / 4
	n2 := 4*nc + 3
	p2 := uint64(2939745) * uint64(n2)
	z := uint32(p2 >> 32)
	ny := uint32(p2) / 2939745 / 4
	yy := 100*c + z
	n3 := 2141*ny + 197913
	mm := n3 >> 16
	dd := n3 & 0xffff / 2141
	if ny >= 306 {
		yy++
		mm -= 12
	}
	return int64(yy) - 400*shift, int64(mm), int64(dd) + 1
}
