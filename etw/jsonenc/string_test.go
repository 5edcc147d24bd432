package jsonenc

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestAppendJSONStringEveryByteEveryPosition: each byte value, at every
// position of strings 1 to 20 bytes long (both sides of the eight-byte
// steps of the fast path), among plain letters or backslashes, round-trips
// through encoding/json and leaves no raw control byte in the output.
func TestAppendStringEveryByteEveryPosition(t *testing.T) {
	for _, fill := range []byte{'a', '\\'} {
		for n := 1; n <= 20; n++ {
			for pos := 0; pos < n; pos++ {
				for c := 0; c < 256; c++ {
					b := []byte(strings.Repeat(string(fill), n))
					b[pos] = byte(c)
					s := string(b)
					out := AppendString([]byte("x"), s)[1:]
					var got string
					if err := json.Unmarshal(out, &got); err != nil {
						t.Fatalf("%q: %v (%s)", s, err, out)
					}
					want := s
					if !utf8.ValidString(s) {
						want = strings.ToValidUTF8(s, "\uFFFD")
					}
					if got != want {
						t.Fatalf("%q round-trips to %q", s, got)
					}
					for _, o := range out {
						if o < 0x20 || o == 0x7f {
							t.Fatalf("%q: raw byte %#x in %s", s, o, out)
						}
					}
				}
			}
		}
	}
}

func BenchmarkAppendString(b *testing.B) {
	for _, tc := range []struct{ name, s string }{
		{"path", `C:\Windows\System32\smss.exe`},
		{"plain", "S-1-5-21-3623811015-3361044348-30300820-1013"},
		{"long", strings.Repeat("abcdefghijklmnopqrstuvwxyz0123456789", 30)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			buf := make([]byte, 0, 4096)
			b.SetBytes(int64(len(tc.s)))
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendString(buf[:0], tc.s)
			}
		})
	}
}
