package bench

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/smsswatch/smsswatch/detect"
	"github.com/smsswatch/smsswatch/etw"
	"github.com/smsswatch/smsswatch/stream"
	"github.com/smsswatch/smsswatch/stream/alert"
)

// stampSink records when the engine emitted each violation, then hands it
// to the publisher.
type stampSink struct {
	next  detect.Sink
	mu    sync.Mutex
	sent  map[uint64]time.Time
	count atomic.Int64
}

func (s *stampSink) Violation(v *detect.Violation) {
	s.mu.Lock()
	s.sent[v.DedupeKey] = time.Now()
	s.mu.Unlock()
	s.count.Add(1)
	s.next.Violation(v)
}

// Pacing of the latency phases: a burst (2000 starts, 2000 exits, an
// impostor smss.exe) every burstEvery, i.e. 400,000 events/s, a far busier
// host than any real one, with the engine idle between bursts as it would be.
const (
	burstEvents = 4000
	burstEvery  = 10 * time.Millisecond
	pacedBursts = 200
)

// BenchmarkLoadPipeline is the load harness: a busy host's event stream
// (bursts of thousands of process starts and exits, PID reuse, RDP
// sessions, an impostor smss.exe in every burst) through the engine and
// the publisher into an in-process nats-server on loopback, with a
// subscriber. It reports, in one run:
//
//   - events/s: b.N events through engine and publisher as fast as they go;
//
//   - e2e-p50/p99/p99.9-µs: engine emits a violation -> subscriber has it,
//     with bursts paced at 400,000 events/s;
//
//   - raw-p50/p99/p99.9-µs: a raw nats.go publish -> subscribe of the same
//     bytes, probed between the bursts of that same paced run (interleaved,
//     not a separate phase), and ratio-p99 = e2e/raw;
//
//   - peak-RSS-MiB of the whole process (server, engine, publisher).
//
//     go test -run '^$' -bench LoadPipeline -benchtime 10000000x ./bench
func BenchmarkLoadPipeline(b *testing.B) {
	srv, recv := serverAndSubscriber(b, 1<<14)
	cfg := detect.DefaultConfig()
	cfg.AggregateAfter = 1 << 30 // every violation travels; flood control is tested elsewhere
	d, err := detect.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	// drive runs n events through a new engine feeding sink; paced, it
	// sleeps between bursts.
	drive := func(n int, sink detect.Sink, paced bool) {
		e := d.Engine("LOAD01", etw.SourceETW, sink)
		g := NewLoadGen("LOAD01", base)
		g.AttackEvery = 1
		var ev etw.Event
		start := time.Now()
		for i := range n {
			if paced && i > 0 && i%burstEvents == 0 {
				time.Sleep(time.Until(start.Add(time.Duration(i/burstEvents) * burstEvery)))
			}
			g.Next(&ev)
			e.Handle(&ev)
		}
		e.Flush()
	}
	pub, err := stream.NewPublisher(stream.Config{Conn: stream.ConnConfig{URL: srv.URL()}, Logger: zerolog.Nop(), Heartbeat: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = pub.Close(ctx)
	}()

	// Throughput: the whole stream into the publisher, as fast as it goes.
	var emitted atomic.Int64
	counting := detect.SinkFunc(func(v *detect.Violation) { emitted.Add(1); pub.Violation(v) })
	var got atomic.Int64
	stopDrain := make(chan struct{})
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for {
			select {
			case <-recv:
				got.Add(1)
			case <-stopDrain:
				return
			}
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	drive(b.N, counting, false)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	waitFor(func() bool { return got.Load() == emitted.Load() }, 5*time.Second)
	close(stopDrain)
	<-drained
	if st := pub.Stats(); got.Load() != emitted.Load() {
		b.Fatalf("the subscriber received %d of %d violations (publisher: %+v)", got.Load(), emitted.Load(), st)
	}

	// Latency, raw and end to end interleaved in one phase: the engine runs
	// the paced load into the publisher (e2e samples) while a raw nats.go
	// connection publishes a probe of the same bytes between bursts (raw
	// samples); one receiver tells them apart by header. Both series see
	// the same machine at the same moments, so drift cannot read as a result.
	pc, err := nats.Connect(srv.URL())
	if err != nil {
		b.Fatal(err)
	}
	defer pc.Close()
	payload := alert.AppendAlert(nil, benchViolation())
	sink := &stampSink{next: pub, sent: make(map[uint64]time.Time, 2*pacedBursts)}
	var probeMu sync.Mutex
	probeSent := make(map[string]time.Time, 2*pacedBursts)
	var probes atomic.Int64
	raw := make([]time.Duration, 0, 2*pacedBursts)
	e2e := make([]time.Duration, 0, 2*pacedBursts)
	received := make(chan struct{})
	stopRecv := make(chan struct{})
	var nRecv atomic.Int64
	go func() {
		defer close(received)
		for {
			select {
			case <-stopRecv:
				return
			case m := <-recv:
				at := time.Now()
				nRecv.Add(1)
				if id := m.Header.Get(probeHeader); id != "" {
					probeMu.Lock()
					t0, ok := probeSent[id]
					probeMu.Unlock()
					if ok {
						raw = append(raw, at.Sub(t0))
					}
					continue
				}
				var key uint64
				for _, c := range []byte(m.Header.Get(stream.HeaderMsgID)) {
					key = key<<4 | uint64(hexVal(c))
				}
				sink.mu.Lock()
				t0, ok := sink.sent[key]
				sink.mu.Unlock()
				if ok {
					e2e = append(e2e, at.Sub(t0))
				}
			}
		}
	}()
	var stopProbes atomic.Bool
	probed := make(chan struct{})
	go func() {
		defer close(probed)
		for i := 0; i < 2*pacedBursts && !stopProbes.Load(); i++ {
			time.Sleep(burstEvery / 2)
			id := strconv.Itoa(i)
			msg := &nats.Msg{Subject: "smsswatch.violations.load01.smss.image_path", Data: payload, Header: nats.Header{probeHeader: []string{id}}}
			probeMu.Lock()
			probeSent[id] = time.Now()
			probeMu.Unlock()
			if err := pc.PublishMsg(msg); err != nil {
				return
			}
			probes.Add(1)
		}
	}()
	drive(pacedBursts*burstEvents, sink, true)
	stopProbes.Store(true)
	<-probed
	waitFor(func() bool { return nRecv.Load() == sink.count.Load()+probes.Load() }, 5*time.Second)
	close(stopRecv)
	<-received
	if int64(len(e2e)) != sink.count.Load() || len(e2e) == 0 {
		b.Fatalf("the subscriber received %d of %d violations", len(e2e), sink.count.Load())
	}
	if int64(len(raw)) != probes.Load() || len(raw) == 0 {
		b.Fatalf("the subscriber received %d of %d raw probes", len(raw), probes.Load())
	}
	reportLatencies(b, raw, e2e)
	b.ReportMetric(float64(peakRSS(b))/(1<<20), "peak-RSS-MiB")
}

// probeHeader marks the raw baseline's probes among the alerts.
const probeHeader = "Smsswatch-Bench-Probe"

// waitFor polls cond until it holds or timeout passes.
func waitFor(cond func() bool, timeout time.Duration) {
	for deadline := time.Now().Add(timeout); !cond() && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
}

func hexVal(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10
	}
	return 0
}
