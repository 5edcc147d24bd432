package bench

import (
	"context"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/smsswatch/smsswatch/detect"
	"github.com/smsswatch/smsswatch/etw"
	"github.com/smsswatch/smsswatch/stream"
	"github.com/smsswatch/smsswatch/stream/alert"
	"github.com/smsswatch/smsswatch/stream/natsserver"
)

func benchViolation() *detect.Violation {
	return &detect.Violation{
		Rule: detect.RuleImagePath, Severity: detect.SeverityHigh, Source: etw.SourceETW,
		Time: base, Host: "BENCH01", Message: `smss.exe ran from C:\Users\Public\smss.exe`,
		Process: detect.ProcessInfo{
			Known: etw.FieldPID | etw.FieldParentPID | etw.FieldImage | etw.FieldCommandLine |
				etw.FieldUserSID | etw.FieldCreateTime,
			PID: 4242, ParentPID: 1000, Image: `C:\Users\Public\smss.exe`,
			CommandLine: `"C:\Users\Public\smss.exe" 000000c8 00000084`, UserSID: "S-1-5-21-1-2-3-1001",
			CreateTime: base,
		},
		Parent:   detect.ProcessInfo{Known: etw.FieldPID | etw.FieldImage, PID: 1000, Image: `C:\Windows\explorer.exe`},
		Evidence: detect.Evidence{Role: detect.RoleRogue, Expected: `C:\Windows\System32\smss.exe`, Observed: `C:\Users\Public\smss.exe`},
		Count:    1, DedupeKey: 0x0123456789abcdef,
	}
}

// serverAndSubscriber starts an in-process nats-server on 127.0.0.1 and a
// subscriber to every alert, delivering into a channel of size buf. Both
// stop when the benchmark ends.
func serverAndSubscriber(b *testing.B, buf int) (*natsserver.Server, chan *nats.Msg) {
	srv, err := natsserver.Start(natsserver.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Shutdown)
	sub, err := nats.Connect(srv.URL())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(sub.Close)
	got := make(chan *nats.Msg, buf)
	if _, err := sub.ChanSubscribe("smsswatch.violations.>", got); err != nil {
		b.Fatal(err)
	}
	if err := sub.Flush(); err != nil {
		b.Fatal(err)
	}
	return srv, got
}

// rawAndPublisher connects the raw baseline's connection to url, with the
// message it publishes (v's subject and encoding), and a Publisher; both
// close when the benchmark ends.
func rawAndPublisher(b *testing.B, url string, v *detect.Violation) (*nats.Conn, *nats.Msg, *stream.Publisher) {
	pc, err := nats.Connect(url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pc.Close)
	subj := stream.ViolationSubject(stream.DefaultSubjectPrefix, v.Host, v.Rule.ID())
	msg := &nats.Msg{Subject: subj, Data: alert.AppendAlert(nil, v), Header: nats.Header{stream.HeaderMsgID: []string{"0123456789abcdef"}}}
	p, err := stream.NewPublisher(stream.Config{Conn: stream.ConnConfig{URL: url}, Logger: zerolog.Nop(), Heartbeat: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Close(ctx)
	})
	return pc, msg, p
}

// reportLatencies reports p50, p99 and p99.9 of raw and of e2e (sorted
// in place) in µs, and the ratios e2e/raw at p99 and p99.9; it returns the
// two p50s.
func reportLatencies(b *testing.B, raw, e2e []time.Duration) (r50, e50 float64) {
	r50, r99, r999 := percentiles(raw)
	e50, e99, e999 := percentiles(e2e)
	b.ReportMetric(r50, "raw-p50-µs")
	b.ReportMetric(r99, "raw-p99-µs")
	b.ReportMetric(r999, "raw-p99.9-µs")
	b.ReportMetric(e50, "e2e-p50-µs")
	b.ReportMetric(e99, "e2e-p99-µs")
	b.ReportMetric(e999, "e2e-p99.9-µs")
	b.ReportMetric(e99/r99, "ratio-p99")
	b.ReportMetric(e999/r999, "ratio-p99.9")
	return r50, e50
}

// percentiles reports p50, p99 and p99.9 of d (sorted in place) in µs.
func percentiles(d []time.Duration) (p50, p99, p999 float64) {
	slices.Sort(d)
	at := func(q float64) float64 {
		i := min(int(q*float64(len(d))), len(d)-1)
		return float64(d[i].Nanoseconds()) / 1e3
	}
	return at(0.50), at(0.99), at(0.999)
}

// BenchmarkNATSLatency measures, in one run over an in-process server on
// loopback TCP, the end-to-end latency from the engine emitting a violation
// (calling Publisher.Violation, which encodes it) to a subscriber receiving
// it, against a raw nats.go publish -> subscribe of the same bytes. One
// message in flight at a time; b.N samples of each, taken alternately
// (raw, e2e, e2e, raw, ...) so both see the same machine. Reported in µs:
// raw-p50/p99/p99.9, e2e-p50/p99/p99.9, and the ratios e2e/raw.
//
//	go test -run XXX -bench NATSLatency -benchtime 20000x ./bench/
func BenchmarkNATSLatency(b *testing.B) {
	srv, got := serverAndSubscriber(b, 16)
	v := benchViolation()

	n := max(b.N, 100)
	wait := func() {
		select {
		case <-got:
		case <-time.After(5 * time.Second):
			b.Fatal("message lost")
		}
	}

	pc, msg, p := rawAndPublisher(b, srv.URL(), v)
	rawOne := func() time.Duration {
		t0 := time.Now()
		if err := pc.PublishMsg(msg); err != nil {
			b.Fatal(err)
		}
		wait()
		return time.Since(t0)
	}
	e2eOne := func() time.Duration {
		t0 := time.Now()
		p.Violation(v)
		wait()
		return time.Since(t0)
	}
	for range 200 { // warm up both paths
		rawOne()
		e2eOne()
	}
	// Interleaved sample by sample, so the machine's drift during the run
	// weighs on both series alike and the ratio is the publisher's cost.
	raw := make([]time.Duration, n)
	e2e := make([]time.Duration, n)
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range n {
		if i%2 == 0 {
			raw[i] = rawOne()
			e2e[i] = e2eOne()
		} else {
			e2e[i] = e2eOne()
			raw[i] = rawOne()
		}
	}
	b.StopTimer()
	if st := p.Stats(); st.Dropped != 0 {
		b.Fatalf("dropped %d", st.Dropped)
	}
	r50, e50 := reportLatencies(b, raw, e2e)
	b.ReportMetric(e50/r50, "ratio-p50")
}

// BenchmarkNATSLatencyBurst is BenchmarkNATSLatency at the two rates the
// publisher must serve, raw and end to end interleaved in one run:
//
//   - rare: one violation at a time, 1 ms apart, so that every goroutine
//     on the path has parked before the next one (the common case: alerts
//     are rare);
//   - burst-256: 256 violations emitted back to back, each one's latency
//     from its own emit to its receipt (an attack that trips a rule many
//     times at once).
//
// Rounds alternate raw nats.go bursts of the same bytes with the
// publisher's bursts (which one goes first alternates too); a round ends
// when its last message is received. Messages of one connection arrive
// in order, so the k-th received is the k-th sent. Reported in µs, with
// the ratios e2e/raw; the benchmark fails if a message is lost.
//
//	go test -run '^$' -bench NATSLatencyBurst -benchtime 20000x ./bench/
func BenchmarkNATSLatencyBurst(b *testing.B) {
	for _, c := range []struct {
		name  string
		burst int
		gap   time.Duration
	}{
		{"rare", 1, time.Millisecond},
		{"burst-256", 256, 0},
	} {
		b.Run(c.name, func(b *testing.B) { natsLatencyBurst(b, c.burst, c.gap) })
	}
}

func natsLatencyBurst(b *testing.B, burst int, gap time.Duration) {
	srv, err := natsserver.Start(natsserver.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Shutdown)
	sc, err := nats.Connect(srv.URL())
	if err != nil {
		b.Fatal(err)
	}
	defer sc.Close()
	// The subscriber stamps receipts in arrival order; done says the
	// round's last one came (the channel orders the stamps before the
	// reader).
	recv := make([]time.Time, burst)
	var n atomic.Int64
	done := make(chan struct{}, 1)
	if _, err := sc.Subscribe("smsswatch.violations.>", func(*nats.Msg) {
		i := n.Add(1) - 1
		if i < int64(burst) {
			recv[i] = time.Now()
		}
		if i == int64(burst)-1 {
			done <- struct{}{}
		}
	}); err != nil {
		b.Fatal(err)
	}
	if err := sc.Flush(); err != nil {
		b.Fatal(err)
	}

	v := benchViolation()
	pc, msg, p := rawAndPublisher(b, srv.URL(), v)

	sent := make([]time.Time, burst)
	var key uint64
	round := func(out []time.Duration, emit func()) []time.Duration {
		n.Store(0)
		for k := range burst {
			if gap > 0 {
				time.Sleep(gap)
			}
			sent[k] = time.Now()
			emit()
		}
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			b.Fatalf("lost: %d of %d received", n.Load(), burst)
		}
		for k := range burst {
			out = append(out, recv[k].Sub(sent[k]))
		}
		return out
	}
	rawEmit := func() {
		if err := pc.PublishMsg(msg); err != nil {
			b.Fatal(err)
		}
	}
	e2eEmit := func() {
		key++
		v.DedupeKey = key // each its own violation, never folded
		p.Violation(v)
	}
	for range max(200/burst, 2) { // warm up both paths
		round(nil, rawEmit)
		round(nil, e2eEmit)
	}
	rounds := max(b.N/burst, 50)
	raw := make([]time.Duration, 0, rounds*burst)
	e2e := make([]time.Duration, 0, rounds*burst)
	runtime.GC()
	b.ResetTimer()
	for i := range rounds {
		if i%2 == 0 {
			raw = round(raw, rawEmit)
			e2e = round(e2e, e2eEmit)
		} else {
			e2e = round(e2e, e2eEmit)
			raw = round(raw, rawEmit)
		}
	}
	b.StopTimer()
	if st := p.Stats(); st.Dropped != 0 {
		b.Fatalf("dropped %d", st.Dropped)
	}
	reportLatencies(b, raw, e2e)
}
