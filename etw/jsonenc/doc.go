// Package jsonenc holds the append-style JSON encoders shared by the
// native trace writer (etw/trace) and the alert document (stream/alert):
//
//	buf = jsonenc.AppendString(buf[:0], image) // "C:\\Windows\\System32\\smss.exe"
//	buf = jsonenc.AppendTime(buf, ev.Time)     // "2025-03-04T05:06:07.890123456Z"
//
// The caller owns the buffer; nothing allocates once it has grown. Every
// byte sequence encodes to valid JSON (attacker-controlled image names and
// command lines cannot break a document).
package jsonenc
