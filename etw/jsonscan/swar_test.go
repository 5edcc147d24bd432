package jsonscan

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// stringStopNaive is stringStop by definition, one byte at a time.
func stringStopNaive(b []byte) int {
	for i, c := range b {
		if c == '"' || c == '\\' || c < 0x20 {
			return i
		}
	}
	return len(b)
}

func TestStringStop(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int
	}{
		{"empty", "", 0},
		{"plain, short", "abc", 3},
		{"plain, two words", "abcdefghijklmnop", 16},
		{"quote in the first word", `abc"defghijk`, 3},
		{"backslash in the second word", `abcdefgh\ijk`, 8},
		{"control byte", "abcdefgh\x1fijk", 8},
		{"0x20 is plain", "abcdefgh ijk", 12},
		{"high bytes are plain", "\xe9\xff\x80\xc3\xa9abcdefgh", 13},
		{"0x21 after a quote (borrow) still finds the quote", "abc\"!!!!!", 3},
		{"in the scalar tail", `abcdefghij"`, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := stringStop([]byte(tt.in)); got != tt.want {
				t.Fatalf("stringStop(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
	t.Run("random against the definition", func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		alphabet := []byte("\"\\\x00\x1f\x20\x21\x5b\x5d\x23\x01\x02\x80\xffa")
		for n := 0; n < 20000; n++ {
			b := make([]byte, r.IntN(40))
			for i := range b {
				if r.IntN(3) == 0 {
					b[i] = alphabet[r.IntN(len(alphabet))]
				} else {
					b[i] = 'a' + byte(r.IntN(26))
				}
			}
			if got, want := stringStop(b), stringStopNaive(b); got != want {
				t.Fatalf("stringStop(%q) = %d, want %d", b, got, want)
			}
		}
	})
}

// TestSkipValueAgreesWithValue checks that skipping a string accepts and
// rejects exactly what reading it does, and ends at the same place.
func TestSkipValueAgreesWithValue(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"plain", `{"a":"abcdefghijklmnopqrstuvwxyz","b":1}`},
		{"dense escapes", `{"a":"\r\n\tSecurity ID:\t\tS-1-5-18\r\n\tAccount Name:\t\tWS5$\r\n","b":1}`},
		{"escaped quotes and backslashes", `{"a":"C:\\Windows\\\"x\"\\","b":1}`},
		{"unicode escape", `{"a":"caf\u00e9 \ud83d\ude00","b":1}`},
		{"bad escape", `{"a":"abcdefgh\x","b":1}`},
		{"short unicode escape", `{"a":"abc\u00","b":1}`},
		{"control byte", "{\"a\":\"abcdefgh\x01\",\"b\":1}"},
		{"backslash at the end", `{"a":"abc\`},
		{"not closed", `{"a":"abcdefghijklmnop`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rd, sk Scanner
			rd.Reset([]byte(tt.in))
			sk.Reset([]byte(tt.in))
			if _, ok, err := rd.NextKey(); !ok || err != nil {
				t.Fatalf("NextKey: %v %v", ok, err)
			}
			if _, ok, err := sk.NextKey(); !ok || err != nil {
				t.Fatalf("NextKey: %v %v", ok, err)
			}
			_, val, rerr := rd.Value()
			serr := sk.SkipValue()
			if (rerr == nil) != (serr == nil) {
				t.Fatalf("Value error %v, SkipValue error %v", rerr, serr)
			}
			if rerr != nil {
				return
			}
			if rd.pos != sk.pos {
				t.Fatalf("Value ends at %d, SkipValue at %d", rd.pos, sk.pos)
			}
			var want struct{ A string }
			if err := json.Unmarshal([]byte(tt.in), &want); err != nil {
				t.Fatalf("encoding/json rejects what the scanner accepts: %v", err)
			}
			if !bytes.Equal(val, []byte(want.A)) {
				t.Fatalf("value %q, encoding/json %q", val, want.A)
			}
		})
	}
}

// TestStringInPlace checks that a string without escapes is returned in
// place and that appending to it cannot write into the data.
func TestStringInPlace(t *testing.T) {
	data := []byte(`{"key":"value","next":"x"}`)
	orig := string(data)
	var sc Scanner
	sc.Reset(data)
	key, kind, val, ok, err := sc.Next()
	if err != nil || !ok || kind != String || string(key) != "key" || string(val) != "value" {
		t.Fatalf("Next: %q %c %q %v %v", key, kind, val, ok, err)
	}
	_ = append(key, "XXXX"...)
	_ = append(val, "YYYY"...)
	if string(data) != orig {
		t.Fatalf("appending to a returned key or value changed the data: %s", data)
	}
}
