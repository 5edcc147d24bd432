package bench

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/smsswatch/smsswatch/etw/trace"

	"github.com/smsswatch/smsswatch/detect"
	"github.com/smsswatch/smsswatch/etw"
)

var loadEvents = flag.Int("load", 0, "events for TestLoad* (0: a short run; the README's figures use 10000000)")

// peakRSS returns the process's peak resident set (VmHWM), bytes.
func peakRSS(t testing.TB) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatalf("read /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", rest, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// TestLoadMemoryFlat drives a busy host's events through one engine and
// checks that memory stays flat: the heap after the whole run is within a
// small margin of the heap after the first tenth, and peak RSS stays under
// 64 MiB. `go test ./bench -run Load -load 10000000` is the README's run.
func TestLoadMemoryFlat(t *testing.T) {
	n := *loadEvents
	if n == 0 {
		n = 200000
	}
	d, err := detect.New(detect.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	violations := 0
	e := d.Engine("LOAD01", etw.SourceETW, detect.SinkFunc(func(*detect.Violation) { violations++ }))
	g := NewLoadGen("LOAD01", base)
	var ev etw.Event
	var ms runtime.MemStats
	var heapTenth uint64
	for i := 0; i < n; i++ {
		g.Next(&ev)
		e.Handle(&ev)
		if i == n/10 {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			heapTenth = ms.HeapInuse
		}
	}
	e.Flush()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	rss := peakRSS(t)
	t.Logf("%d events, %d violations, heap in use after 10%%: %d KiB, at the end: %d KiB, peak RSS %d KiB", n, violations, heapTenth>>10, ms.HeapInuse>>10, rss>>10)
	if ms.HeapInuse > heapTenth+4<<20 {
		t.Fatalf("heap grew from %d KiB to %d KiB: state is not bounded", heapTenth>>10, ms.HeapInuse>>10)
	}
	if rss > 64<<20 {
		t.Fatalf("peak RSS %d MiB > 64 MiB", rss>>20)
	}
	if violations == 0 {
		t.Fatal("the load's attacks raised nothing")
	}
}

// BenchmarkEngineBusyHost: the engine on a busy host's mix (bursts of
// ordinary starts and exits, PID reuse, RDP sessions, an attack now and
// then), one core. Target: >= 20 million events/s.
func BenchmarkEngineBusyHost(b *testing.B) {
	d, err := detect.New(detect.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	e := d.Engine("LOAD01", etw.SourceETW, &discard{})
	g := NewLoadGen("LOAD01", base)
	const batch = 4096
	evs := make([]etw.Event, batch)
	for i := range evs {
		g.Next(&evs[i])
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := i % batch
		if j == 0 && i > 0 {
			b.StopTimer()
			for k := range evs {
				g.Next(&evs[k])
			}
			b.StartTimer()
		}
		e.Handle(&evs[j])
	}
	report(b, 1)
}

// traceLines encodes n load events as native trace lines.
func traceLines(n int) []byte {
	g := NewLoadGen("LOAD01", base)
	var buf bytes.Buffer
	w := trace.NewWriter(&buf)
	var ev etw.Event
	for i := 0; i < n; i++ {
		g.Next(&ev)
		_ = w.Write(&ev)
	}
	_ = w.Flush()
	return buf.Bytes()
}

// BenchmarkTraceDecode: reading native trace lines (what hunt and replay do
// with smsswatch's own format). Target: >= 1 million events/s.
func BenchmarkTraceDecode(b *testing.B) {
	data := traceLines(100000)
	lines := bytes.Count(data, []byte{'\n'})
	b.SetBytes(int64(len(data) / lines))
	b.ReportAllocs()
	b.ResetTimer()
	var ev etw.Event
	r := trace.NewReader(bytes.NewReader(data), "bench", nil)
	for i := 0; i < b.N; i++ {
		if err := r.Next(&ev); err != nil {
			if !errors.Is(err, io.EOF) {
				b.Fatal(err)
			}
			r = trace.NewReader(bytes.NewReader(data), "bench", nil)
			if err := r.Next(&ev); err != nil {
				b.Fatal(err)
			}
		}
	}
	report(b, 1)
}

// BenchmarkTraceEncode: writing native trace lines (record, convert).
func BenchmarkTraceEncode(b *testing.B) {
	g := NewLoadGen("LOAD01", base)
	evs := make([]etw.Event, 1024)
	for i := range evs {
		g.Next(&evs[i])
	}
	w := trace.NewWriter(bufio.NewWriter(io.Discard))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := w.Write(&evs[i%len(evs)]); err != nil {
			b.Fatal(err)
		}
	}
	report(b, 1)
}
