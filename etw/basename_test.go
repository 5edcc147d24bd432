package etw

import (
	"strings"
	"testing"
)

// baseNameRef is BaseName byte by byte: the definition the word-at-a-time
// version must match.
func baseNameRef(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '\\' || p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}

func TestBaseName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{`smss.exe`, "smss.exe"},
		{`\`, ""},
		{`C:\`, ""},
		{`C:\Windows\System32\smss.exe`, "smss.exe"},
		{`\SystemRoot\System32\smss.exe`, "smss.exe"},
		{`C:/Windows/System32/smss.exe`, "smss.exe"},
		{`C:\Windows/System32\csrss.exe`, "csrss.exe"},
		{`C:\a\b`, "b"},
		{`12345678\`, ""},         // separator as the last byte of a word
		{`\12345678`, "12345678"}, // separator just before the last word
		{`1234567\12345678`, "12345678"},
		{`\1234567`, "1234567"}, // in the first word
		{`a\b\c\d\e\f\g\h\i`, "i"},
		{`C:\Program Files\Contoso\agent.exe`, "agent.exe"},
		{"C:\\Windows\\\u0455mss.exe", "\u0455mss.exe"}, // non-ASCII bytes
		{"\xdc\xdc\xdc\xdc\xdc\xdc\xdc\xdc\\x", "x"},    // 0x5c | 0x80 is not a separator
		{"\xaf\xaf\xaf\xaf\xaf\xaf\xaf\xafname", "\xaf\xaf\xaf\xaf\xaf\xaf\xaf\xafname"},
		{"\x00\x00\x00\x00\x00\x00\x00\x00\x5d\x5b\x2e\x30", "\x00\x00\x00\x00\x00\x00\x00\x00\x5d\x5b\x2e\x30"},
		{strings.Repeat("x", 100) + `\y` + strings.Repeat("z", 17), "y" + strings.Repeat("z", 17)},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := BaseName(tc.in); got != tc.want {
				t.Errorf("BaseName(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if ref := baseNameRef(tc.in); ref != tc.want {
				t.Errorf("reference gives %q, want %q", ref, tc.want)
			}
		})
	}
}

// TestBaseNameEveryPosition puts one separator (and then two) at every
// position of every length up to 40, over bytes that differ from a
// separator by one bit, so that a word mask flagging a neighbour would
// show.
func TestBaseNameEveryPosition(t *testing.T) {
	fill := []byte{'\\' ^ 1, '/' ^ 1, '\\' | 0x80, '/' ^ 0x40, 0, 0xff}
	for _, f := range fill {
		for n := 0; n <= 40; n++ {
			b := []byte(strings.Repeat(string(f), n))
			if got, want := BaseName(string(b)), baseNameRef(string(b)); got != want {
				t.Fatalf("fill %#x len %d: got %q, want %q", f, n, got, want)
			}
			for i := 0; i < n; i++ {
				for _, sep := range []byte{'\\', '/'} {
					c := append([]byte(nil), b...)
					c[i] = sep
					if got, want := BaseName(string(c)), baseNameRef(string(c)); got != want {
						t.Fatalf("fill %#x len %d sep at %d: got %q, want %q", f, n, i, got, want)
					}
					for j := 0; j < i; j++ {
						d := append([]byte(nil), c...)
						d[j] = '\\'
						if got, want := BaseName(string(d)), baseNameRef(string(d)); got != want {
							t.Fatalf("fill %#x len %d seps at %d,%d: got %q, want %q", f, n, j, i, got, want)
						}
					}
				}
			}
		}
	}
}

func TestZeroMaskExact(t *testing.T) {
	// Each byte value in each position, beside zeros and non-zeros.
	for _, bg := range []uint64{0, 0x0101010101010101, 0xffffffffffffffff, 0x8080808080808080} {
		for pos := 0; pos < 8; pos++ {
			for v := 0; v < 256; v++ {
				x := bg&^(0xff<<(8*pos)) | uint64(v)<<(8*pos)
				var want uint64
				for k := 0; k < 8; k++ {
					if byte(x>>(8*k)) == 0 {
						want |= 0x80 << (8 * k)
					}
				}
				if got := zeroMask(x); got != want {
					t.Fatalf("zeroMask(%#016x) = %#016x, want %#016x", x, got, want)
				}
			}
		}
	}
}

func TestBaseNameAllocs(t *testing.T) {
	p := `C:\Program Files\Contoso\agent.exe`
	if n := testing.AllocsPerRun(100, func() { _ = BaseName(p) }); n != 0 {
		t.Errorf("BaseName allocates %v times", n)
	}
}

func FuzzBaseName(f *testing.F) {
	for _, s := range []string{"", `C:\Windows\System32\smss.exe`, `a/b\c`, "\xdc\xdc\xdc\xdc\xdc\xdc\xdc\xdc\\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := BaseName(s), baseNameRef(s); got != want {
			t.Fatalf("BaseName(%q) = %q, want %q", s, got, want)
		}
	})
}
