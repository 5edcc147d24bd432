package etw

import (
	"errors"
	"unicode/utf16"
	"unicode/utf8"
)

// JSON value kinds reported by jsonScanner.
const (
	jsonString byte = 's'
	jsonNumber byte = 'n'
	jsonTrue   byte = 't'
	jsonFalse  byte = 'f'
	jsonNull   byte = 'z'
	jsonNested byte = 'o' // an object or array, skipped
)

var (
	errJSONSyntax = errors.New("not a JSON object")
	errJSONDepth  = errors.New("JSON nested too deep")
)

// jsonScanner walks the members of one flat JSON object without building a
// map: each call to next returns a key and its value as bytes. String values
// are unescaped into a scratch buffer owned by the scanner, valid until the
// next call. Nested objects and arrays are skipped (reported as
// jsonNested). It never panics on any input.
type jsonScanner struct {
	data    []byte
	pos     int
	started bool
	keyBuf  []byte
	valBuf  []byte
	// inner is set by enter: the object is a value inside a larger
	// document, so what follows it is not checked.
	inner bool
}

// reset starts scanning data, which must hold one object.
func (s *jsonScanner) reset(data []byte) {
	s.data, s.pos, s.started, s.inner = data, 0, false, false
}

func (s *jsonScanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\r', '\n':
			s.pos++
		default:
			return
		}
	}
}

// next returns the next member. ok is false at the end of the object.
func (s *jsonScanner) next() (key []byte, kind byte, val []byte, ok bool, err error) {
	key, ok, err = s.nextKey()
	if !ok || err != nil {
		return nil, 0, nil, false, err
	}
	kind, val, err = s.value()
	return key, kind, val, err == nil, err
}

// nextKey reads the next member's name and its colon, leaving the
// scanner at the member's value, which the caller must then consume with
// value, skipValue or enter. ok is false at the end of the object. The
// key is valid until the next call.
func (s *jsonScanner) nextKey() (key []byte, ok bool, err error) {
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
	s.keyBuf, err = s.readString(s.keyBuf[:0])
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
	return s.keyBuf, true, nil
}

// peek returns the first byte of the value nextKey left the scanner at.
func (s *jsonScanner) peek() byte {
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

// value reads the value nextKey left the scanner at. Strings are
// unescaped (valid until the next call); objects and arrays are skipped
// and reported as jsonNested.
func (s *jsonScanner) value() (kind byte, val []byte, err error) {
	if s.pos >= len(s.data) {
		return 0, nil, errJSONSyntax
	}
	switch c := s.data[s.pos]; {
	case c == '"':
		s.valBuf, err = s.readString(s.valBuf[:0])
		return jsonString, s.valBuf, err
	case c == '{' || c == '[':
		return jsonNested, nil, s.skipNested()
	case c == 't':
		return jsonTrue, nil, s.literal("true")
	case c == 'f':
		return jsonFalse, nil, s.literal("false")
	case c == 'n':
		return jsonNull, nil, s.literal("null")
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
		return jsonNumber, s.data[start:s.pos], nil
	}
	return 0, nil, errJSONSyntax
}

// skipValue consumes the value nextKey left the scanner at without
// unescaping strings (escapes are still checked).
func (s *jsonScanner) skipValue() error {
	switch s.peek() {
	case '"':
		return s.skipString()
	case '{', '[':
		return s.skipNested()
	}
	_, _, err := s.value()
	return err
}

// enter starts sub on the object value nextKey left s at; when sub has
// reached the end of that object (its nextKey returned ok false and no
// error), leave moves s past it. sub must be another scanner.
func (s *jsonScanner) enter(sub *jsonScanner) {
	sub.data, sub.pos, sub.started, sub.inner = s.data[s.pos:], 0, false, true
}

// leave moves s past the object sub walked.
func (s *jsonScanner) leave(sub *jsonScanner) {
	s.pos += sub.pos
}

// trailing checks that only white space follows the object.
func (s *jsonScanner) trailing() error {
	if s.inner {
		return nil
	}
	s.skipSpace()
	if s.pos != len(s.data) {
		return errJSONSyntax
	}
	return nil
}

func (s *jsonScanner) literal(word string) error {
	if len(s.data)-s.pos < len(word) || string(s.data[s.pos:s.pos+len(word)]) != word {
		return errJSONSyntax
	}
	s.pos += len(word)
	return nil
}

// readString reads the string at s.pos (an opening quote) into dst,
// unescaped. Invalid UTF-8 is kept as is.
func (s *jsonScanner) readString(dst []byte) ([]byte, error) {
	s.pos++ // opening quote
	for {
		start := s.pos
		for s.pos < len(s.data) {
			c := s.data[s.pos]
			if c == '"' || c == '\\' || c < 0x20 {
				break
			}
			s.pos++
		}
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
// its escapes as readString does, without copying it.
func (s *jsonScanner) skipString() error {
	s.pos++ // opening quote
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch {
		case c == '"':
			s.pos++
			return nil
		case c < 0x20:
			return errJSONSyntax
		case c == '\\':
			if s.pos+1 >= len(s.data) {
				return errJSONSyntax
			}
			switch s.data[s.pos+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.pos += 2
			case 'u':
				s.pos += 2
				if _, ok := s.hex4(); !ok {
					return errJSONSyntax
				}
			default:
				return errJSONSyntax
			}
		default:
			s.pos++
		}
	}
	return errJSONSyntax
}

func (s *jsonScanner) hex4() (rune, bool) {
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
func (s *jsonScanner) skipNested() error {
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
