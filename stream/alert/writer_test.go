package alert

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/smsswatch/smsswatch/stream/internal/sample"
)

// TestLineWriter: one valid JSON document per line, control characters in
// event strings never break a line, repeats are dropped only when asked.
func TestLineWriter(t *testing.T) {
	cases := []struct {
		name        string
		dedupe      int
		keys        []uint64
		lines, dups int64
	}{
		{"every violation", 0, []uint64{1, 1, 2}, 3, 0},
		{"dedupe by key", 16, []uint64{1, 1, 2, 1}, 2, 2},
		{"dedupe bound reached", 1, []uint64{1, 2, 2}, 3, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			w := NewLineWriter(&out, c.dedupe)
			for _, k := range c.keys {
				v := sample.Violation()
				v.DedupeKey = k
				v.Process.CommandLine = "a\nb\r\x00c\u2028"
				w.Violation(v)
			}
			if w.Written() != c.lines || w.Duplicates() != c.dups || w.Err() != nil {
				t.Fatalf("written %d duplicates %d err %v, want %d %d nil", w.Written(), w.Duplicates(), w.Err(), c.lines, c.dups)
			}
			sc := bufio.NewScanner(&out)
			sc.Buffer(nil, 1<<20)
			var n int64
			for sc.Scan() {
				n++
				var doc map[string]any
				if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
					t.Fatalf("line %d: %v", n, err)
				}
			}
			if n != c.lines {
				t.Fatalf("%d lines, want %d", n, c.lines)
			}
		})
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

// TestLineWriterKeepsFirstError: a failing writer's error is reported by
// Err, compared with errors.Is.
func TestLineWriterKeepsFirstError(t *testing.T) {
	errDisk := errors.New("disk full")
	w := NewLineWriter(failWriter{errDisk}, 0)
	w.Violation(sample.Violation())
	w.Violation(sample.Violation())
	if !errors.Is(w.Err(), errDisk) {
		t.Fatalf("Err = %v, want %v", w.Err(), errDisk)
	}
}

// TestLineWriterZeroAllocs: once its buffer has grown, writing a line
// allocates nothing (the map is not used without dedupe).
func TestLineWriterZeroAllocs(t *testing.T) {
	var out bytes.Buffer
	out.Grow(1 << 20)
	w := NewLineWriter(&out, 0)
	v := sample.Violation()
	w.Violation(v)
	if a := testing.AllocsPerRun(100, func() {
		out.Reset()
		w.Violation(v)
	}); a != 0 {
		t.Fatalf("%.1f allocations per line", a)
	}
}
