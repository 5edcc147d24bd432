package evtx

import (
	"bytes"
	"os"
	"testing"

	"github.com/smsswatch/smsswatch/etw"
	"github.com/smsswatch/smsswatch/etw/internal/etwtest"

	libevtx "www.velocidex.com/golang/evtx"
)

// profileEvtx names the capture BenchmarkEvtxProfile reads: the one
// issue #14's target is hardest on (almost every record is kept).
const profileEvtx = "privesc_unquoted_svc_sysmon_1_11.evtx"

// readerPass reads data (the file name) with the Reader to its end and
// returns the events it gave; a function of its own so that a profiler
// can count it alone (callgrind --toggle-collect).
func readerPass(data []byte, name string) int {
	r := NewReader(bytes.NewReader(data), name, nil)
	var ev etw.Event
	n := 0
	for r.Next(&ev) == nil {
		n++
	}
	return n
}

// barePass is the library's GetChunks and every chunk's Parse over data
// (the floor of issue #14's target); it returns the records parsed.
func barePass(tb testing.TB, data []byte) int {
	chunks, err := libevtx.GetChunks(bytes.NewReader(data))
	if err != nil {
		tb.Fatal(err)
	}
	n := 0
	for _, c := range chunks {
		recs, err := c.Parse(0)
		if err != nil {
			tb.Fatal(err)
		}
		n += len(recs)
	}
	return n
}

// BenchmarkEvtxProfile reads profileEvtx with the Reader alone (reader)
// and with the bare library alone (bare), each in a benchmark of its own
// so that a whole process's instruction count (callgrind, GC included)
// can be taken for either at a fixed -test.benchtime=Nx.
func BenchmarkEvtxProfile(b *testing.B) {
	data, err := os.ReadFile(etwtest.CorpusFile(b, profileEvtx))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("reader", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if readerPass(data, profileEvtx) == 0 {
				b.Fatal("no events")
			}
		}
	})
	b.Run("bare", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if barePass(b, data) == 0 {
				b.Fatal("no records")
			}
		}
	})
}
