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
	// where only '"' and '\\' need a backslash. Count them, grow once,
	// copy.
	extra := 0
	for i := 0; i < len(s); i++ {
		switch escClass[s[i]] {
		case escPlain:
		case escBackslash:
			extra++
		default:
			return appendStringSlow(dst, s)
		}
	}
	if extra == 0 {
		return append(dst, s...)
	}
	n := len(dst)
	if cap(dst)-n < len(s)+extra {
		dst = append(dst, make([]byte, len(s)+extra)...)[:n]
	}
	out := dst[n : n+len(s)+extra]
	j := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		out[j] = '\\' // kept only before '"' and '\\'
		j += int(escClass[c])
		out[j] = c
		j++
	}
	return dst[:n+len(out)]
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
	hh, mm, ss := sod/3600, sod/60%60, sod%60
	var b [32]byte
	b[0] = '"'
	b[1], b[2], b[3], b[4] = byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10)
	b[5], b[6], b[7], b[8] = '-', byte('0'+m/10), byte('0'+m%10), '-'
	b[9], b[10], b[11] = byte('0'+d/10), byte('0'+d%10), 'T'
	b[12], b[13], b[14] = byte('0'+hh/10), byte('0'+hh%10), ':'
	b[15], b[16], b[17] = byte('0'+mm/10), byte('0'+mm%10), ':'
	b[18], b[19], b[20] = byte('0'+ss/10), byte('0'+ss%10), '.'
	for i := 29; i >= 21; i-- {
		b[i] = byte('0' + ns%10)
		ns /= 10
	}
	b[30], b[31] = 'Z', '"'
	return append(dst, b[:]...)
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
