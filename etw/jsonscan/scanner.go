package jsonscan

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
)

// JSON value kinds reported by Scanner.Next and Scanner.Value.
const (
	String byte = 's'
	Number byte = 'n'
	True   byte = 't'
	False  byte = 'f'
	Null   byte = 'z'
	Nested byte = 'o' // an object or array, skipped
)

var (
	errJSONSyntax = errors.New("not a JSON object")
	errJSONDepth  = errors.New("JSON nested too deep")
)

// Scanner walks the members of one flat JSON object without building a
// map: each call to Next returns a key and its value as bytes. String values
// are unescaped into a scratch buffer owned by the scanner, valid until the
// next call. Nested objects and arrays are skipped (reported as
// Nested). It never panics on any input.
type Scanner struct {
	data    []byte
	pos     int
	started bool
	keyBuf  []byte
	valBuf  []byte
	// inner is set by enter: the object is a value inside a larger
	// document, so what follows it is not checked.
	inner bool
}

// Reset starts scanning data, which must hold one object.
func (s *Scanner) Reset(data []byte) {
	s.data, s.pos, s.started, s.inner = data, 0, false, false
}

func (s *Scanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\r', '\n':
			s.pos++
		default:
			return
		}
	}
}

// Next returns the next member. ok is false at the end of the object.
func (s *Scanner) Next() (key []byte, kind byte, val []byte, ok bool, err error) {
	key, ok, err = s.NextKey()
	if !ok || err != nil {
		return nil, 0, nil, false, err
	}
	kind, val, err = s.Value()
	return key, kind, val, err == nil, err
}

// NextKey reads the next member's name and its colon, leaving the
// scanner at the member's value, which the caller must then consume with
// Value, SkipValue or Enter. ok is false at the end of the object. The
// key is valid until the next call.
func (s *Scanner) NextKey() (key []byte, ok bool, err error) {
	s.skipSpace()
	if !s.started {
		if s.pos >= len(s.data) || s.data[s.pos] != '{' {
			return nil, false, errJSONSyntax
		}
		s.pos++
		s.started = true
		s.skipSpace()
		if s.pos < len(s.data) && s.data[s.pos] == '}' {
			s.pos++
			return nil, false, s.trailing()
		}
	} else {
		if s.pos >= len(s.data) {
			return nil, false, errJSONSyntax
		}
		switch s.data[s.pos] {
		case '}':
			s.pos++
			return nil, false, s.trailing()
		case ',':
			s.pos++
			s.skipSpace()
		default:
			return nil, false, errJSONSyntax
		}
	}
	if s.pos >= len(s.data) || s.data[s.pos] != '"' {
		return nil, false, errJSONSyntax
	}
	key, err = s.readString(&s.keyBuf)
	if err != nil {
		return nil, false, err
	}
	s.skipSpace()
	if s.pos >= len(s.data) || s.data[s.pos] != ':' {
		return nil, false, errJSONSyntax
	}
	s.pos++
	s.skipSpace()
	if s.pos >= len(s.data) {
		return nil, false, errJSONSyntax
	}
	return key, true, nil
}

// Peek returns the first byte of the value NextKey left the scanner at.
func (s *Scanner) Peek() byte {
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

// Value reads the value NextKey left the scanner at. Strings are
// unescaped (valid until the next call); objects and arrays are skipped
// and reported as Nested.
func (s *Scanner) Value() (kind byte, val []byte, err error) {
	if s.pos >= len(s.data) {
		return 0, nil, errJSONSyntax
	}
	switch c := s.data[s.pos]; {
	case c == '"':
		val, err = s.readString(&s.valBuf)
		return String, val, err
	case c == '{' || c == '[':
		return Nested, nil, s.skipNested()
	case c == 't':
		return True, nil, s.literal("true")
	case c == 'f':
		return False, nil, s.literal("false")
	case c == 'n':
		return Null, nil, s.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		start := s.pos
		for s.pos < len(s.data) {
			c := s.data[s.pos]
			if (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
				s.pos++
				continue
			}
			break
		}
		return Number, s.data[start:s.pos], nil
	}
	return 0, nil, errJSONSyntax
}

// SkipValue consumes the value NextKey left the scanner at without
// unescaping strings (escapes are still checked).
func (s *Scanner) SkipValue() error {
	switch s.Peek() {
	case '"':
		return s.skipString()
	case '{', '[':
		return s.skipNested()
	}
	_, _, err := s.Value()
	return err
}

// Enter starts sub on the object value NextKey left s at; when sub has
// reached the end of that object (its NextKey returned ok false and no
// error), Leave moves s past it. sub must be another scanner.
func (s *Scanner) Enter(sub *Scanner) {
	sub.data, sub.pos, sub.started, sub.inner = s.data[s.pos:], 0, false, true
}

// Leave moves s past the object sub walked.
func (s *Scanner) Leave(sub *Scanner) {
	s.pos += sub.pos
}

// trailing checks that only white space follows the object.
func (s *Scanner) trailing() error {
	if s.inner {
		return nil
	}
	s.skipSpace()
	if s.pos != len(s.data) {
		return errJSONSyntax
	}
	return nil
}

func (s *Scanner) literal(word string) error {
	if len(s.data)-s.pos < len(word) || string(s.data[s.pos:s.pos+len(word)]) != word {
		return errJSONSyntax
	}
	s.pos += len(word)
	return nil
}

// readString reads the string at s.pos (an opening quote). A string
// without escapes is returned in place (a slice of the data, capped so
// that appending to it copies); any other is unescaped into *buf, which
// keeps the grown buffer for the next string.
func (s *Scanner) readString(buf *[]byte) ([]byte, error) {
	start := s.pos + 1
	if start <= len(s.data) {
		end := start + stringStop(s.data[start:])
		if end < len(s.data) && s.data[end] == '"' {
			s.pos = end + 1
			return s.data[start:end:end], nil
		}
	}
	b, err := s.unescape((*buf)[:0])
	*buf = b
	return b, err
}

// unescape reads the string at s.pos (an opening quote) into dst,
// unescaped. Invalid UTF-8 is kept as is.
func (s *Scanner) unescape(dst []byte) ([]byte, error) {
	s.pos++ // opening quote
	for {
		start := s.pos
		s.pos += stringStop(s.data[s.pos:])
		dst = append(dst, s.data[start:s.pos]...)
		if s.pos >= len(s.data) || s.data[s.pos] < 0x20 {
			return dst, errJSONSyntax
		}
		if s.data[s.pos] == '"' {
			s.pos++
			return dst, nil
		}
		// Escape.
		if s.pos+1 >= len(s.data) {
			return dst, errJSONSyntax
		}
		e := s.data[s.pos+1]
		s.pos += 2
		switch e {
		case '"', '\\', '/':
			dst = append(dst, e)
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := s.hex4()
			if !ok {
				return dst, errJSONSyntax
			}
			if utf16.IsSurrogate(r) {
				r2 := utf8.RuneError
				if s.pos+1 < len(s.data) && s.data[s.pos] == '\\' && s.data[s.pos+1] == 'u' {
					save := s.pos
					s.pos += 2
					if lo, ok := s.hex4(); ok {
						r2 = utf16.DecodeRune(r, lo)
					}
					if r2 == utf8.RuneError {
						s.pos = save
					}
				}
				r = r2
			}
			dst = utf8.AppendRune(dst, r)
		default:
			return dst, errJSONSyntax
		}
	}
}

// skipString consumes the string at s.pos (an opening quote), checking
// its escapes as readString does, without copying it. The plain runs
// between escapes are crossed eight bytes at a time (stopMask), in line:
// the escapes of a Message (\r\n\t every few bytes) make the cost of a
// call per run count.
func (s *Scanner) skipString() error {
	d := s.data
	i := s.pos + 1 // opening quote
	for {
		for i+8 <= len(d) {
			if m := stopMask(binary.LittleEndian.Uint64(d[i:])); m != 0 {
				i += bits.TrailingZeros64(m) / 8
				break
			}
			i += 8
		}
		for i < len(d) && d[i] != '"' && d[i] != '\\' && d[i] >= 0x20 {
			i++
		}
		if i >= len(d) || d[i] < 0x20 {
			s.pos = i
			return errJSONSyntax
		}
		if d[i] == '"' {
			s.pos = i + 1
			return nil
		}
		// An escape.
		if i+1 >= len(d) {
			s.pos = i
			return errJSONSyntax
		}
		switch d[i+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			i += 2
		case 'u':
			s.pos = i + 2
			if _, ok := s.hex4(); !ok {
				return errJSONSyntax
			}
			i = s.pos
		default:
			s.pos = i
			return errJSONSyntax
		}
	}
}

func (s *Scanner) hex4() (rune, bool) {
	if len(s.data)-s.pos < 4 {
		return 0, false
	}
	var r rune
	for _, c := range s.data[s.pos : s.pos+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	s.pos += 4
	return r, true
}

// skipNested skips a balanced object or array at s.pos.
func (s *Scanner) skipNested() error {
	depth := 0
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case '{', '[':
			depth++
			if depth > 64 {
				return errJSONDepth
			}
			s.pos++
		case '}', ']':
			depth--
			s.pos++
			if depth == 0 {
				return nil
			}
		case '"':
			if err := s.skipString(); err != nil {
				return err
			}
		default:
			s.pos++
		}
	}
	return errJSONSyntax
}

// SWAR constants: a byte repeated in each of the eight bytes of a word.
const (
	swarOnes  = 0x0101010101010101
	swarHigh  = 0x8080808080808080
	swarQuote = '"' * swarOnes
	swarBack  = '\\' * swarOnes
	swarCtl   = 0x20 * swarOnes
)

// stringStop returns the index of the first byte of b that ends the plain
// run of a JSON string body (a quote, a backslash or a control character
// below 0x20), or len(b). It tests eight bytes at a time: for each test,
// (v - 0x01..) &^ v & 0x80.. flags the bytes that are zero in v (or, with
// 0x20, below 0x20), and a borrow can flag a byte falsely only above a
// true one, so the lowest flag of the three is exact.
func stringStop(b []byte) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if m := stopMask(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c == '"' || c == '\\' || c < 0x20 {
			return i
		}
	}
	return i
}

// stopMask flags (bit 7 of each byte) the bytes of the eight in x that end
// a plain run of a JSON string; only its lowest flag is exact (see
// stringStop).
func stopMask(x uint64) uint64 {
	q := x ^ swarQuote
	k := x ^ swarBack
	return (((q - swarOnes) &^ q) | ((k - swarOnes) &^ k) | ((x - swarCtl) &^ x)) & swarHigh
}
