package jsonenc

import "unicode/utf8"

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string. Every byte sequence yields valid
// JSON that decodes to s with invalid UTF-8 replaced by U+FFFD: quotes,
// backslashes and control characters are escaped, and so are U+2028 and
// U+2029 (which break JavaScript consumers) and DEL.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = AppendStringBody(dst, s)
	return append(dst, '"')
}

// AppendJoined appends a+sep+b as one JSON string without building the
// concatenation.
func AppendJoined(dst []byte, a, sep, b string) []byte {
	dst = append(dst, '"')
	dst = AppendStringBody(dst, a)
	dst = AppendStringBody(dst, sep)
	dst = AppendStringBody(dst, b)
	return append(dst, '"')
}

// AppendStringBody appends the escaped contents of s, without quotes.
func AppendStringBody(dst []byte, s string) []byte {
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
