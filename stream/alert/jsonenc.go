package alert

import (
	"strconv"

	"github.com/smsswatch/smsswatch/etw/jsonenc"
)

const hexDigits = "0123456789abcdef"

// appendString, appendJoined and appendTime are the JSON encoders shared
// with the native trace format (package etw).
func appendString(dst []byte, s string) []byte { return jsonenc.AppendString(dst, s) }

func appendJoined(dst []byte, a, sep, b string) []byte { return jsonenc.AppendJoined(dst, a, sep, b) }

func appendTime(dst []byte, t int64) []byte { return jsonenc.AppendTime(dst, t) }

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
	var b [16]byte
	for i := 14; i >= 0; i -= 2 {
		x := v & 0xff
		b[i], b[i+1] = hexDigits[x>>4], hexDigits[x&0xf]
		v >>= 8
	}
	return append(dst, b[:]...)
}
