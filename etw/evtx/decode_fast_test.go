package evtx

import (
	"bytes"
	"testing"

	libevtx "www.velocidex.com/golang/evtx"
)

// checkUTF16Text compares utf16Text, appending to a non-empty prefix,
// with the library's UTF16LEToUTF8 of b.
func checkUTF16Text(t *testing.T, b []byte) {
	t.Helper()
	prefix := []byte("pre")
	got := utf16Text(prefix[:len(prefix):len(prefix)], b)
	want := append([]byte("pre"), libevtx.UTF16LEToUTF8(bytes.Clone(b))...)
	if !bytes.Equal(got, want) {
		t.Errorf("utf16Text(% x) = %q, the library's %q", b, got, want)
	}
}

// TestUTF16Text checks the decoder's UTF-16LE decoding (its four-at-a-time
// ASCII path and the character-wise rest) against the library's on every
// kind of input: ASCII runs of every length around the four-character
// step, non-ASCII at every position, surrogates paired and not, trailing
// and interior NULs, odd and empty inputs.
func TestUTF16Text(t *testing.T) {
	cases := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"odd", []byte{'a', 0, 'b'}},
		{"one", utf16le("a")},
		{"three", utf16le("abc")},
		{"four", utf16le("abcd")},
		{"five", utf16le("abcde")},
		{"path", utf16le(`C:\Windows\System32\svchost.exe -k netsvcs -p`)},
		{"trailing NULs", append(utf16le("abcdefg"), 0, 0, 0, 0)},
		{"all NULs", make([]byte, 12)},
		{"interior NUL", utf16le("abcd\x00efgh")},
		{"DEL and 0x80", utf16le("abc\u007fdefg\u0080hij")},
		{"high byte set", []byte{'a', 0, 'b', 0, 'c', 1, 'd', 0, 'e', 0}},
		{"latin1 first", utf16le("éabcdefgh")},
		{"latin1 in run", utf16le("abcdéfghijkl")},
		{"latin1 last", utf16le("abcdefgh\u00e9")},
		{"CJK", utf16le("abc日本語defgh")},
		{"surrogate pair", utf16le("abcd\U0001F600efgh")},
		{"lone high surrogate", []byte{'a', 0, 'b', 0, 'c', 0, 'd', 0, 0x00, 0xD8, 'e', 0}},
		{"lone low surrogate", []byte{'a', 0, 0x00, 0xDC, 'b', 0}},
		{"high surrogate last", []byte{'a', 0, 'b', 0, 0x3D, 0xD8}},
		{"high then NUL", []byte{0x3D, 0xD8, 0, 0, 'a', 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { checkUTF16Text(t, c.b) })
	}
	t.Run("non-ASCII at every position", func(t *testing.T) {
		for n := 1; n <= 13; n++ {
			for at := 0; at < n; at++ {
				r := []rune("abcdefghijklm"[:n])
				r[at] = 'é'
				checkUTF16Text(t, utf16le(string(r)))
			}
		}
	})
}

// FuzzUTF16Text compares utf16Text with the library's decoding.
func FuzzUTF16Text(f *testing.F) {
	f.Add(utf16le("abcdefgh"))
	f.Add(utf16le("abcd\U0001F600é"))
	f.Add([]byte{0x00, 0xD8, 'a', 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) { checkUTF16Text(t, b) })
}

// TestAllZero checks allZero on inputs around its block size, zero and
// with one byte set at the first, a middle and the last place.
func TestAllZero(t *testing.T) {
	for _, n := range []int{0, 1, 7, 8, 9, len(zeroBlock) - 1, len(zeroBlock), len(zeroBlock) + 1, 3*len(zeroBlock) + 5, evtxChunkSize} {
		b := make([]byte, n)
		if !allZero(b) {
			t.Errorf("%d zero bytes: not all zero", n)
		}
		for _, at := range []int{0, n / 2, n - 1} {
			if n == 0 {
				break
			}
			b[at] = 1
			if allZero(b) {
				t.Errorf("%d bytes, byte %d set: all zero", n, at)
			}
			b[at] = 0
		}
	}
}
