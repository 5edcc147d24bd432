package nxlog

import (
	"bytes"
	"io"
	"os"
	"testing"

	"github.com/smsswatch/smsswatch/etw"
	"github.com/smsswatch/smsswatch/etw/jsonscan"
	"github.com/smsswatch/smsswatch/etw/winlog"
)

// The benchmarks below read a real NXLog capture named by the
// SMSSWATCH_NXLOG_CAPTURE environment variable (issue #14: the OTRF
// empire_persistence_registry_modification_run_keys_standard_user JSON,
// unzipped outside the repository) and are skipped without it:
//
//	SMSSWATCH_NXLOG_CAPTURE=/tmp/otrf/....json go test -run '^$' \
//	    -bench Capture -cpuprofile /tmp/cpu.out ./etw/nxlog

// captureLines returns the capture's bytes and its lines, or skips b.
func captureLines(b *testing.B) (data []byte, lines [][]byte) {
	b.Helper()
	name := os.Getenv("SMSSWATCH_NXLOG_CAPTURE")
	if name == "" {
		b.Skip("SMSSWATCH_NXLOG_CAPTURE not set")
	}
	data, err := os.ReadFile(name)
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range bytes.Split(data, []byte("\n")) {
		if l = bytes.TrimSpace(l); len(l) > 0 {
			lines = append(lines, l)
		}
	}
	return data, lines
}

// BenchmarkCaptureReader is the whole reader (lines, filter, scan, map)
// over the capture.
func BenchmarkCaptureReader(b *testing.B) {
	data, _ := captureLines(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r := NewReader(bytes.NewReader(data), "capture", nil)
		var ev etw.Event
		for {
			if err := r.Next(&ev); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkCaptureFilter is the line filter alone over every line.
func BenchmarkCaptureFilter(b *testing.B) {
	data, lines := captureLines(b)
	b.SetBytes(int64(len(data)))
	n := 0
	for b.Loop() {
		n = 0
		for _, l := range lines {
			if nxlogCandidate(l) {
				n++
			}
		}
	}
	b.ReportMetric(float64(n), "candidates")
}

// BenchmarkCaptureFillJSON scans the lines the filter passes.
func BenchmarkCaptureFillJSON(b *testing.B) {
	_, lines := captureLines(b)
	var pass [][]byte
	size := 0
	for _, l := range lines {
		if nxlogCandidate(l) {
			pass = append(pass, l)
			size += len(l)
		}
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	var sc jsonscan.Scanner
	var rec winlog.Record
	for b.Loop() {
		for _, l := range pass {
			if err := rec.FillJSON(&sc, l); err != nil {
				b.Fatal(err)
			}
		}
	}
}
