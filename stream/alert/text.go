package alert

import (
	"unicode"
	"unicode/utf8"
)

// appendPrintable appends s as a JSON string that decodes to one
// printable line: C0 and C1 controls, DEL, invalid UTF-8, line and
// paragraph separators and Unicode format characters (bidi overrides and
// isolates, zero-width characters, BOM) are written as visible escapes
// (\x1b, \u202e) instead of themselves. It is for "message", whose values
// come from the events (paths, command lines) and end up on terminals;
// the raw values stay in their own fields.
func appendPrintable(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			switch {
			case b < 0x20 || b == 0x7f:
				dst = append(dst, '\\', '\\', 'x', hexDigits[b>>4], hexDigits[b&0xf])
			case b == '"':
				dst = append(dst, '\\', '"')
			case b == '\\':
				dst = append(dst, '\\', '\\')
			default:
				dst = append(dst, b)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, '\\', '\\', 'x', hexDigits[b>>4], hexDigits[b&0xf])
		case unprintableRune(r):
			dst = append(dst, '\\', '\\', 'u')
			if r > 0xffff {
				dst = append(dst, '{')
				for sh := 20; sh >= 0; sh -= 4 {
					dst = append(dst, hexDigits[(r>>sh)&0xf])
				}
				dst = append(dst, '}')
			} else {
				dst = append(dst, hexDigits[(r>>12)&0xf], hexDigits[(r>>8)&0xf], hexDigits[(r>>4)&0xf], hexDigits[r&0xf])
			}
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

// unprintableRune reports whether r must not reach a terminal as itself:
// controls (Cc), format characters (Cf: bidi controls, zero-width
// characters, BOM, tags) and line/paragraph separators (Zl, Zp).
func unprintableRune(r rune) bool {
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp)
}
