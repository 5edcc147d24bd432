package live

import (
	"fmt"
	"math/rand"
	"runtime"
	"strconv"
	"testing"

	"github.com/smsswatch/smsswatch/detect"
	"github.com/smsswatch/smsswatch/etw"
)

// The consumer's hot path, from Queue pop to Handler.Handle: the process
// table, the reorder buffer and the release, driven as run drives them
// (a batch of pops, then a release) but without goroutines, so that the
// benchmark measures the path alone. The fake clock runs at the input's
// rate, so the reorder buffer holds DeliveryLag's worth of events (at
// 100k events/s and the default 64k bound, it is full and releases by the
// bound).

// consumeInput is a stream of process starts and exits at rate events a
// second: every start is followed, benchProcs starts later, by the exit of
// the same process, and one event in lateEvery is delivered late (dated
// up to lateMax before its neighbours, less than the delivery lag), as an
// ETW buffer of another CPU would be. As Kernel-Process v3+ events do,
// each carries its process's sequence number (Key; a start also its
// parent's, ParentKey), each a string of its own as the decoder makes
// them, so that the table's comparisons compare bytes.
type consumeInput struct {
	evs      []etw.Event
	interval int64 // ns between events
	span     int64 // interval * len(evs): the time one pass covers
}

const (
	benchProcs = 1000
	lateEvery  = 64
	lateMax    = int64(200e6) // 200 ms
	benchBase  = bootNS + 7200*sec
	// benchInput is the length of the input's pattern (repeated with
	// later times): small enough to stay in cache, as the ETW buffer the
	// callback decodes from would be.
	benchInput = 4096
	// benchParentSeq is the sequence number of the input's parent (PID
	// 600), benchSeq that of its first child.
	benchParentSeq = 1200
	benchSeq       = 90000
)

var benchImages = []string{
	`\Device\HarddiskVolume3\Windows\System32\svchost.exe`,
	`\Device\HarddiskVolume3\Windows\System32\conhost.exe`,
	`\Device\HarddiskVolume3\Windows\System32\cmd.exe`,
	`\Device\HarddiskVolume3\Program Files\Contoso\agent.exe`,
	`\Device\HarddiskVolume3\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`,
}

func newConsumeInput(n int, rate int64) *consumeInput {
	in := &consumeInput{evs: make([]etw.Event, n), interval: sec / rate}
	in.span = in.interval * int64(n)
	rng := rand.New(rand.NewSource(1))
	pid := func(k int) uint32 { return uint32(1000 + 4*(k%(n/2))) }
	key := func(k int) string { return strconv.Itoa(benchSeq + k%(n/2)) }
	for i := range in.evs {
		t := benchBase + int64(i)*in.interval
		if i%lateEvery == lateEvery-1 {
			t -= rng.Int63n(lateMax)
		}
		k := i / 2
		if i%2 == 0 {
			ev := withKey(startEv(pid(k), 600, t, benchImages[k%len(benchImages)]), key(k))
			ev.Proc.Session = 1
			ev.Proc.ParentKey = strconv.Itoa(benchParentSeq)
			ev.Known |= etw.FieldSession | etw.FieldParentKey
			in.evs[i] = ev
			continue
		}
		// The exit of the process started benchProcs starts ago (its
		// creation time is that start's time, a pass earlier for the
		// first ones: pass() shifts both alike).
		j := 2 * (k - benchProcs)
		if j < 0 {
			j += n
		}
		created := benchBase + int64(j)*in.interval
		if j > i {
			created -= in.span
		}
		in.evs[i] = withKey(exitEv(pid(k-benchProcs+n/2), created, t), key(k-benchProcs+n/2))
	}
	return in
}

// event copies event i of pass p (times shifted by p spans) into ev.
func (in *consumeInput) event(i, p int, ev *etw.Event) {
	*ev = in.evs[i]
	off := int64(p) * in.span
	ev.Time += off
	ev.Proc.CreateTime += off
	if ev.Kind == etw.KindExit {
		ev.Proc.ExitTime += off
	}
}

// benchCore returns a consumer past its start-up snapshot, with the
// input's parent process known, and its clock.
func benchCore(tb testing.TB) (*liveCore, *int64) {
	cfg, err := Config{Host: "WS1"}.withDefaults()
	if err != nil {
		tb.Fatal(err)
	}
	mono := new(int64)
	*mono = benchBase
	c, err := newLiveCore(cfg, nil, func() int64 { return *mono })
	if err != nil {
		tb.Fatal(err)
	}
	c.booted = true
	c.procs.put(600, `\Device\HarddiskVolume3\Windows\explorer.exe`, bootNS+60*sec, strconv.Itoa(benchParentSeq))
	return c, mono
}

// drive pushes total events of in through c to h: the queue is given
// eight batches (with b's timer stopped: the ETW callback's side is not
// measured), then emptied batch by batch as run does, with the clock
// following the input. It returns the index of the next event.
func drive(b *testing.B, c *liveCore, mono *int64, in *consumeInput, h etw.Handler, from, total int) int {
	var ev etw.Event
	n := len(in.evs)
	i := from
	for end := from + total; i < end; {
		k := min(end-i, 8*batch)
		if b != nil {
			b.StopTimer()
		}
		for j := 0; j < k; j++ {
			in.event((i+j)%n, (i+j)/n, &ev)
			c.push(&ev)
		}
		if b != nil {
			b.StartTimer()
		}
		for j := 0; j < k; j += batch {
			*mono = benchBase + int64(i+min(j+batch, k))*in.interval
			c.consume(h)
			c.release(false, h)
		}
		i += k
	}
	return i
}

// countHandler is the trivial handler: it counts and checks the order.
type countHandler struct {
	n, disorder int
	last        int64
}

func (h *countHandler) Handle(ev *etw.Event) {
	h.n++
	if ev.Time < h.last {
		h.disorder++
	}
	h.last = ev.Time
}
func (h *countHandler) Advance(int64)       {}
func (h *countHandler) Blind(int64, string) {}

// warmUp is how many events bring the reorder buffer to its steady state
// at rate: two delivery lags' worth, and past its bound.
func warmUp(c *liveCore, rate int64) int {
	return c.cfg.QueueSize + int(2*rate*int64(c.cfg.DeliveryLag)/sec)
}

var benchRates = []int64{1_000, 10_000, 100_000}

// BenchmarkConsume is the path from Queue pop to Handler.Handle with a
// trivial handler.
func BenchmarkConsume(b *testing.B) {
	for _, rate := range benchRates {
		b.Run(fmt.Sprintf("rate=%dk", rate/1000), func(b *testing.B) {
			in := newConsumeInput(benchInput, rate)
			c, mono := benchCore(b)
			h := &countHandler{}
			// Warm up: fill the reorder buffer to its steady state.
			next := drive(nil, c, mono, in, h, 0, warmUp(c, rate))
			runtime.GC()
			b.ReportAllocs()
			b.ResetTimer()
			drive(b, c, mono, in, h, next, b.N)
			b.StopTimer()
			if h.disorder != 0 {
				b.Fatalf("%d events out of order", h.disorder)
			}
		})
	}
}

// BenchmarkConsumeEngine is BenchmarkConsume into the real detect engine
// (for reference: the engine's own cost is included).
func BenchmarkConsumeEngine(b *testing.B) {
	for _, rate := range benchRates {
		b.Run(fmt.Sprintf("rate=%dk", rate/1000), func(b *testing.B) {
			in := newConsumeInput(benchInput, rate)
			c, mono := benchCore(b)
			det, err := detect.New(detect.DefaultConfig())
			if err != nil {
				b.Fatal(err)
			}
			det.MapDevice(`\Device\HarddiskVolume3`, "C:")
			violations := 0
			eng := det.Engine("WS1", etw.SourceETW, detect.SinkFunc(func(*detect.Violation) { violations++ }))
			next := drive(nil, c, mono, in, eng, 0, warmUp(c, rate))
			runtime.GC()
			b.ReportAllocs()
			b.ResetTimer()
			drive(b, c, mono, in, eng, next, b.N)
			b.StopTimer()
			_ = violations
		})
	}
}
