package nxlog

import (
	"math/rand/v2"
	"testing"
)

// indexMarkNaive is indexMark by definition, one position at a time.
func indexMarkNaive(b []byte) int {
	for i := 0; i+1 < len(b); i++ {
		if (b[i] == '\\' && b[i+1] == 'u') || (b[i] == 'D' && b[i+1] == '"') {
			return i
		}
	}
	return -1
}

func TestIndexMark(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int
	}{
		{"empty", "", -1},
		{"one byte", `\`, -1},
		{"escape", `\u`, 0},
		{"name end", `D"`, 0},
		{"backslash alone at the end", `xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\`, -1},
		{"escape at 15 (pair across the vector rounds)", `xxxxxxxxxxxxxxx\uxxxxxxxxxxxxxxxxxx`, 15},
		{"escape at 16", `xxxxxxxxxxxxxxxx\uxxxxxxxxxxxxxxxxx`, 16},
		{"name end in the scalar tail", `xxxxxxxxxxxxxxxxxxxxD"`, 20},
		{"reversed pairs do not count", `u\"Dx"DDu\ `, -1},
		{"first of both", `xxxxxxxxxxxxxxxxxxxxxxxxxxxD"xxxx\u`, 27},
		{"escape before a name end", `xxxx\uxxxxxxxxxxxxxxxxxxxxxxD"`, 4},
		{"escaped backslash then u counts", `\\u`, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := indexMark([]byte(tt.in)); got != tt.want {
				t.Fatalf("indexMark(%q) = %d, want %d", tt.in, got, tt.want)
			}
			if got := indexMarkGeneric([]byte(tt.in)); got != tt.want {
				t.Fatalf("indexMarkGeneric(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
	t.Run("random against the definition", func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		alphabet := []byte(`\uD"x`)
		for n := 0; n < 5000; n++ {
			b := make([]byte, r.IntN(80))
			for i := range b {
				b[i] = alphabet[r.IntN(len(alphabet))]
			}
			// Every start offset, so that each pair is seen at each
			// position of a vector round and in the tail.
			for off := 0; off <= len(b); off++ {
				want := indexMarkNaive(b[off:])
				if got := indexMark(b[off:]); got != want {
					t.Fatalf("indexMark(%q) = %d, want %d", b[off:], got, want)
				}
				if got := indexMarkGeneric(b[off:]); got != want {
					t.Fatalf("indexMarkGeneric(%q) = %d, want %d", b[off:], got, want)
				}
			}
		}
	})
}
