package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestProgressOnlyOnATerminal: a pipe or a buffer never gets the
// progress line; the line itself says inputs, size, events and rate.
func TestProgressOnlyOnATerminal(t *testing.T) {
	var buf bytes.Buffer
	if p := startProgress(&buf, []string{"progress.go"}); p != nil {
		t.Fatal("progress on a buffer")
	}
	p := &progress{inputs: 2, bytes: 80e6}
	for i := 0; i < 1000; i++ {
		p.add()
	}
	line := p.line(2 * time.Second)
	for _, want := range []string{"2 input(s)", "80.0 MB", "1000 events", "500 events/s"} {
		if !strings.Contains(line, want) {
			t.Fatalf("%q lacks %q", line, want)
		}
	}
	var nilp *progress
	nilp.add()
	nilp.end() // nil-safe
}
