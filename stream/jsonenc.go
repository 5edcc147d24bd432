package stream

import (
	"strconv"
	"time"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Every byte sequence yields valid
// JSON that decodes to s with invalid UTF-8 replaced by U+FFFD: quotes,
// backslashes and control characters are escaped, and so are U+2028 and
// U+2029 (which break JavaScript consumers) and DEL.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendStringBody(dst, s)
	return append(dst, '"')
}

// appendJoined appends a+sep+b as one JSON string without building the
// concatenation.
func appendJoined(dst []byte, a, sep, b string) []byte {
	dst = append(dst, '"')
	dst = appendStringBody(dst, a)
	dst = appendStringBody(dst, sep)
	dst = appendStringBody(dst, b)
	return append(dst, '"')
}

// appendStringBody appends the escaped contents of s, without quotes.
func appendStringBody(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		// Skip 8 plain ASCII bytes at a time.
		for i+8 <= len(s) {
			w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
				uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
			if needsEscape(w) {
				break
			}
			i += 8
		}
		if i >= len(s) {
			break
		}
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
			dst = append(dst, `\ufffd`...)
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

// needsEscape reports whether any byte of w is below 0x20, at or above
// 0x7f, '"' or '\\' (a conservative test: false means all 8 are plain).
func needsEscape(w uint64) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	ctl := (w - lo*0x20) &^ w       // bytes < 0x20 (or >= 0x80)
	del := (w + lo*(0x80-0x7f)) | w // bytes >= 0x7f have the high bit
	q := w ^ (lo * '"')             // zero bytes where '"'
	bs := w ^ (lo * '\\')           // zero bytes where '\\'
	zq := (q - lo) &^ q
	zb := (bs - lo) &^ bs
	return (ctl|del|zq|zb)&hi != 0
}

// plainASCII marks the ASCII bytes that need no escape in a JSON string.
var plainASCII = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != 0x7f
	}
	return t
}()

// appendTime appends t (Unix ns) as a quoted RFC 3339 UTC timestamp with
// nanoseconds, the form ECS @timestamp accepts, e.g.
// "2025-03-04T05:06:07.890123456Z". It formats by hand: this is the hot
// path of every alert.
func appendTime(dst []byte, t int64) []byte {
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
// (Howard Hinnant's days_from_civil inverse).
func civil(days int64) (y, m, d int64) {
	z := days + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	if mp < 10 {
		m = mp + 3
	} else {
		m = mp - 9
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

// appendKey appends ,"name": (or "name": after an opening brace).
func appendKey(dst []byte, name string) []byte {
	if n := len(dst); n > 0 && dst[n-1] != '{' && dst[n-1] != '[' {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, name...)
	return append(dst, '"', ':')
}

func appendUint(dst []byte, v uint64) []byte { return strconv.AppendUint(dst, v, 10) }

func appendInt(dst []byte, v int64) []byte { return strconv.AppendInt(dst, v, 10) }

// appendHex16 appends v as 16 lower-case hex digits.
func appendHex16(dst []byte, v uint64) []byte {
	for shift := 60; shift >= 0; shift -= 4 {
		dst = append(dst, hexDigits[(v>>uint(shift))&0xf])
	}
	return dst
}
