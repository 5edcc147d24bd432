package stream

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/smsswatch/smsswatch/detect"
	"github.com/smsswatch/smsswatch/stream/alert"
	"github.com/smsswatch/smsswatch/stream/natsserver"
)

// BenchmarkPublishPath measures, in one run over the same in-process
// server, the cost per violation of the whole publish path (encode in the
// engine's call, hand-off, publish, receipt confirmed by a flush) against a
// raw nats.go publish of the same, already encoded bytes (subject, header,
// payload) followed by one flush. The two alternate in pathRounds rounds,
// so that a noisy neighbour slows both alike. Reported: raw-ns/op,
// path-ns/op and ratio (path/raw, over all rounds), the same for CPU time;
// ns/op is the path's. Also reported, to read the ratio by: raw-cores,
// how many cores the raw publish keeps busy (CPU/wall; near the
// machine's count, every nanosecond of CPU the path adds shows in its wall
// time), and encode-ns/op, AppendAlert of the same violation into a warm
// buffer, timed in the same rounds: the least the path adds to a raw
// publish, whatever the hand-off costs (floor-cpu-ratio = (raw CPU +
// encode) / raw CPU).
//
//	go test -run '^$' -bench 'PublishPath$' -benchtime 200000x -count 5 ./stream/
func BenchmarkPublishPath(b *testing.B) {
	srv, v, nc, msg := rawBaseline(b)
	payload := msg.Data
	p := newPublisher(b, Config{Conn: ConnConfig{URL: srv.URL()}, Logger: zerolog.Nop(), Heartbeat: -1,
		QueueSize: benchQueue(b.N), MaxInflight: 1024})
	defer closePublisher(b, p, 10*time.Second)

	var raw, path, rawCPU, pathCPU, encode time.Duration
	enc := make([]byte, 0, 4096)
	b.ReportAllocs()
	b.ResetTimer()
	b.StopTimer()
	sent := 0
	for r := range pathRounds {
		k := b.N*(r+1)/pathRounds - b.N*r/pathRounds

		// Raw nats.go.
		runtime.GC()
		c0, t0 := processCPU(), time.Now()
		for range k {
			if err := nc.PublishMsg(msg); err != nil {
				b.Fatal(err)
			}
		}
		if err := nc.Flush(); err != nil {
			b.Fatal(err)
		}
		raw += time.Since(t0)
		rawCPU += processCPU() - c0

		// Encoding alone.
		t2 := time.Now()
		for range k {
			enc = alert.AppendAlert(enc[:0], v)
		}
		encode += time.Since(t2)

		// The publisher.
		runtime.GC()
		b.StartTimer()
		c1, t1 := processCPU(), time.Now()
		for range k {
			waitFree(p)
			p.Violation(v)
		}
		sent += k
		waitPublished(p, uint64(sent))
		path += time.Since(t1)
		pathCPU += processCPU() - c1
		b.StopTimer()
	}
	if d := p.Stats().Dropped; d != 0 {
		b.Fatalf("%d dropped", d)
	}
	b.SetBytes(int64(len(payload)))
	b.ReportMetric(float64(raw.Nanoseconds())/float64(b.N), "raw-ns/op")
	b.ReportMetric(float64(path.Nanoseconds())/float64(b.N), "path-ns/op")
	b.ReportMetric(float64(path)/float64(raw), "ratio")
	reportCPU(b, b.N, rawCPU, pathCPU)
	if raw > 0 && rawCPU > 0 {
		b.ReportMetric(float64(rawCPU)/float64(raw), "raw-cores")
		b.ReportMetric(float64(encode.Nanoseconds())/float64(b.N), "encode-ns/op")
		b.ReportMetric(float64(rawCPU+encode)/float64(rawCPU), "floor-cpu-ratio")
	}
}

// BenchmarkViolationBurst times each call the engine makes to
// Publisher.Violation (copy into a queue slot, hand off) in bursts of
// burstCalls, the whole default queue, while the publishing goroutine
// encodes, sends and confirms as it would. Between bursts, untimed,
// everything is delivered and every slot is free again, so the burst must
// not drop: it fails if any call dropped. Bursts alternate with bursts of
// as many raw nats.go PublishMsg calls of the same, already encoded bytes,
// each timed the same way, as the baseline. b.N calls of each, at least
// one burst. Reported: call-p50/p99/p99.9-ns, call-max-ns,
// raw-p50/p99/p99.9-ns and drops; every figure includes one clock read.
// To read them by, the same run reports:
//
//   - clock-p50/p99/p99.9-ns: as many empty timed intervals, right after
//     each call burst while the publishing goroutine still works through
//     it: what the clock and the machine (the other goroutines on 2 cores)
//     cost a caller that does nothing;
//
//   - copy-p50/p99/p99.9-ns: as many copies of the violation into an
//     array of 4096 (the least any hand-off could do), timed the same way
//     just after the empty intervals;
//
//   - burst-µs and raw-burst-µs: the mean wall time of a burst from its
//     first call until the publisher had it all confirmed, and of a raw
//     burst until its Flush returned: the engine's call is cheap because
//     the work moved to the publishing goroutine, not because it vanished.
//
//     go test -run '^$' -bench ViolationBurst -benchtime 409600x -count 5 ./stream/
func BenchmarkViolationBurst(b *testing.B) {
	srv, v, nc, msg := rawBaseline(b)
	p := newPublisher(b, Config{Conn: ConnConfig{URL: srv.URL()}, Logger: zerolog.Nop(), Heartbeat: -1})
	defer closePublisher(b, p, 10*time.Second)

	bursts := max(1, (b.N+burstCalls-1)/burstCalls)
	call := make([]time.Duration, 0, bursts*burstCalls)
	raw := make([]time.Duration, 0, bursts*burstCalls)
	clock := make([]time.Duration, 0, bursts*burstCalls)
	cp := make([]time.Duration, 0, bursts*burstCalls)
	copies := make([]detect.Violation, burstCalls)
	var callWall, rawWall time.Duration
	sent := 0
	settle := func() { // everything delivered, every slot free
		waitPublished(p, uint64(sent))
		for p.freeLen() < DefaultQueueSize {
			time.Sleep(20 * time.Microsecond)
		}
	}
	// Warm up: every slot's buffer touched once, both paths exercised.
	for range 2 {
		for range burstCalls {
			p.Violation(v)
		}
		sent += burstCalls
		settle()
	}
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	for r := range bursts {
		rawBurst := func() {
			start := time.Now()
			for range burstCalls {
				t0 := time.Now()
				err := nc.PublishMsg(msg)
				raw = append(raw, time.Since(t0))
				if err != nil {
					b.Fatal(err)
				}
			}
			if err := nc.Flush(); err != nil {
				b.Fatal(err)
			}
			rawWall += time.Since(start)
		}
		callBurst := func() {
			start := time.Now()
			for range burstCalls {
				t0 := time.Now()
				p.Violation(v)
				call = append(call, time.Since(t0))
			}
			sent += burstCalls
			for range burstCalls {
				t0 := time.Now()
				clock = append(clock, time.Since(t0))
			}
			for i := range copies {
				t0 := time.Now()
				copies[i] = *v
				cp = append(cp, time.Since(t0))
			}
			settle()
			callWall += time.Since(start)
		}
		if r%2 == 0 {
			rawBurst()
			callBurst()
		} else {
			callBurst()
			rawBurst()
		}
	}
	b.StopTimer()
	drops := p.Stats().Dropped
	b.ReportMetric(float64(drops), "drops")
	if drops != 0 {
		b.Fatalf("%d of %d dropped in bursts of %d into a queue of %d", drops, len(call), burstCalls, DefaultQueueSize)
	}
	c50, c99, c999 := nsPercentiles(call)
	r50, r99, r999 := nsPercentiles(raw)
	k50, k99, k999 := nsPercentiles(clock)
	b.ReportMetric(c50, "call-p50-ns")
	b.ReportMetric(c99, "call-p99-ns")
	b.ReportMetric(c999, "call-p99.9-ns")
	b.ReportMetric(float64(call[len(call)-1].Nanoseconds()), "call-max-ns")
	b.ReportMetric(r50, "raw-p50-ns")
	b.ReportMetric(r99, "raw-p99-ns")
	b.ReportMetric(r999, "raw-p99.9-ns")
	b.ReportMetric(k50, "clock-p50-ns")
	b.ReportMetric(k99, "clock-p99-ns")
	b.ReportMetric(k999, "clock-p99.9-ns")
	y50, y99, y999 := nsPercentiles(cp)
	b.ReportMetric(y50, "copy-p50-ns")
	b.ReportMetric(y99, "copy-p99-ns")
	b.ReportMetric(y999, "copy-p99.9-ns")
	b.ReportMetric(float64(callWall.Microseconds())/float64(bursts), "burst-µs")
	b.ReportMetric(float64(rawWall.Microseconds())/float64(bursts), "raw-burst-µs")
}

// burstCalls is the burst of BenchmarkViolationBurst: the default queue.
const burstCalls = DefaultQueueSize

// nsPercentiles sorts d and returns its p50, p99 and p99.9 in ns.
func nsPercentiles(d []time.Duration) (p50, p99, p999 float64) {
	slices.Sort(d)
	at := func(q float64) float64 {
		return float64(d[min(int(q*float64(len(d))), len(d)-1)].Nanoseconds())
	}
	return at(0.50), at(0.99), at(0.999)
}

// rawBaseline starts an in-process server and returns it, the violation
// the publish benchmarks send, a raw nats.go connection (closed with the
// benchmark) and the message that connection publishes: the same subject,
// Nats-Msg-Id header and alert bytes the publisher would send.
func rawBaseline(b *testing.B) (*natsserver.Server, *detect.Violation, *nats.Conn, *nats.Msg) {
	b.Helper()
	srv := startServer(b, natsserver.Config{})
	v := violation(1)
	subj := ViolationSubject(DefaultSubjectPrefix, v.Host, v.Rule.ID())
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	msg := &nats.Msg{Subject: subj, Data: alert.AppendAlert(nil, v), Header: nats.Header{HeaderMsgID: []string{"0123456789abcdef"}}}
	return srv, v, nc, msg
}

// pathRounds is how many times the publish-path benchmarks alternate
// between the raw baseline and the path.
const pathRounds = 10

// benchQueue sizes the queue so that the engine never waits (up to 64Ki
// violations, 2 KiB each).
func benchQueue(n int) int { return min(n+16, DefaultQueueSize) }

// waitFree waits, without burning CPU, for a free queue slot: the engine
// may be faster than the wire, and dropping is not what is measured.
func waitFree(p *Publisher) {
	for p.freeLen() == 0 {
		time.Sleep(20 * time.Microsecond)
	}
}

// waitPublished waits, without burning CPU, until n are acknowledged.
func waitPublished(p *Publisher, n uint64) {
	for p.sPublished.Load() < n {
		time.Sleep(20 * time.Microsecond)
	}
}

// reportCPU reports CPU time per violation (the whole process: engine,
// publisher, client and the in-process server), which other load on the
// machine disturbs less than wall time.
func reportCPU(b *testing.B, n int, raw, path time.Duration) {
	if raw <= 0 {
		return
	}
	b.ReportMetric(float64(raw.Nanoseconds())/float64(n), "raw-cpu-ns/op")
	b.ReportMetric(float64(path.Nanoseconds())/float64(n), "path-cpu-ns/op")
	b.ReportMetric(float64(path)/float64(raw), "cpu-ratio")
}

// BenchmarkPublishPathJetStream is BenchmarkPublishPath into a JetStream
// stream: the raw side is nats.go's jetstream PublishMsgAsync with the
// same Nats-Msg-Id header and 1024 acks pending, waited for with
// PublishAsyncComplete; the path waits for every ack too.
//
//	go test -run XXX -bench PublishPathJetStream -benchtime 100000x ./stream/
func BenchmarkPublishPathJetStream(b *testing.B) {
	srv := startServer(b, natsserver.Config{JetStream: true})
	p := newPublisher(b, Config{Conn: ConnConfig{URL: srv.URL()}, Logger: zerolog.Nop(), Heartbeat: -1,
		JetStream: true, QueueSize: benchQueue(b.N), MaxInflight: 1024})
	defer closePublisher(b, p, 10*time.Second)
	v := violation(0)
	p.Violation(v)
	for p.sPublished.Load() < 1 {
		time.Sleep(time.Millisecond)
	}
	subj := ViolationSubject(DefaultSubjectPrefix, v.Host, v.Rule.ID())
	payload := alert.AppendAlert(nil, v)
	n := b.N

	nc, err := nats.Connect(srv.URL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(1024))
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	c0, t0 := processCPU(), time.Now()
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("%016x", uint64(1<<40+i))
		m := &nats.Msg{Subject: subj, Data: payload, Header: nats.Header{HeaderMsgID: []string{id}}}
		if _, err := js.PublishMsgAsync(m); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		b.Fatal("raw acks did not come")
	}
	raw, rawCPU := time.Since(t0), processCPU()-c0

	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	c1, t1 := processCPU(), time.Now()
	for i := 0; i < n; i++ {
		waitFree(p)
		v.DedupeKey = uint64(1<<41 + i)
		p.Violation(v)
	}
	waitPublished(p, uint64(n)+1)
	path, pathCPU := time.Since(t1), processCPU()-c1
	b.StopTimer()
	b.SetBytes(int64(len(payload)))
	b.ReportMetric(float64(raw.Nanoseconds())/float64(n), "raw-ns/op")
	b.ReportMetric(float64(path.Nanoseconds())/float64(n), "path-ns/op")
	b.ReportMetric(float64(path)/float64(raw), "ratio")
	reportCPU(b, n, rawCPU, pathCPU)
}

// freeLen is how many queue slots are free.
func (p *Publisher) freeLen() int { return p.freeSlots() }

// BenchmarkJetStreamAckLatency measures, one violation in flight at a
// time with a pause between samples (a rare alert), the time from the
// engine's Publisher.Violation to the publisher having processed the
// stream's ack (the slot it frees comes back to the engine side, which
// signals p.freed), against nats.go's jetstream PublishMsgAsync of the
// same bytes to the same stream, waited for on its ack future. Samples
// alternate raw and path. Reported in µs: raw-p50/p99/p99.9,
// ack-p50/p99/p99.9, and ratio-p99 = ack / raw.
//
//	go test -run '^$' -bench JetStreamAckLatency -benchtime 5000x -count 3 ./stream/
func BenchmarkJetStreamAckLatency(b *testing.B) {
	srv := startServer(b, natsserver.Config{JetStream: true})
	p := newPublisher(b, Config{Conn: ConnConfig{URL: srv.URL()}, Logger: zerolog.Nop(), Heartbeat: -1, JetStream: true})
	defer closePublisher(b, p, 10*time.Second)
	v := violation(0)
	subj := ViolationSubject(DefaultSubjectPrefix, v.Host, v.Rule.ID())
	payload := alert.AppendAlert(nil, v)
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const warm = 50
	n := max(b.N, 100)
	msgs := make([]*nats.Msg, n+warm)
	for i := range msgs {
		msgs[i] = &nats.Msg{Subject: subj, Data: payload, Header: nats.Header{HeaderMsgID: []string{fmt.Sprintf("%016x", uint64(1<<40+i))}}}
	}
	sent := uint64(0)
	pathOne := func() time.Duration {
		select { // a stale signal from an earlier release
		case <-p.freed:
		default:
		}
		sent++
		v.DedupeKey = 1<<41 + sent
		t0 := time.Now()
		p.Violation(v)
		select {
		case <-p.freed:
		case <-ctx.Done():
			b.Fatal("ack not processed")
		}
		d := time.Since(t0)
		waitPublished(p, sent)
		return d
	}
	rawOne := func(i int) time.Duration {
		t0 := time.Now()
		f, err := js.PublishMsgAsync(msgs[i])
		if err != nil {
			b.Fatal(err)
		}
		select {
		case <-f.Ok():
		case err := <-f.Err():
			b.Fatal(err)
		case <-ctx.Done():
			b.Fatal("raw ack lost")
		}
		return time.Since(t0)
	}
	for i := range warm {
		rawOne(n + i)
		pathOne()
	}
	raw := make([]time.Duration, n)
	path := make([]time.Duration, n)
	b.ResetTimer()
	for i := range n {
		time.Sleep(200 * time.Microsecond) // rare: everything parks between alerts
		if i%2 == 0 {
			raw[i] = rawOne(i)
			path[i] = pathOne()
		} else {
			path[i] = pathOne()
			raw[i] = rawOne(i)
		}
	}
	b.StopTimer()
	if st := p.Stats(); st.Dropped != 0 || st.Retries != 0 {
		b.Fatalf("dropped or retried: %+v", st)
	}
	r50, r99, r999 := nsPercentiles(raw)
	a50, a99, a999 := nsPercentiles(path)
	b.ReportMetric(r50/1e3, "raw-p50-µs")
	b.ReportMetric(r99/1e3, "raw-p99-µs")
	b.ReportMetric(r999/1e3, "raw-p99.9-µs")
	b.ReportMetric(a50/1e3, "ack-p50-µs")
	b.ReportMetric(a99/1e3, "ack-p99-µs")
	b.ReportMetric(a999/1e3, "ack-p99.9-µs")
	b.ReportMetric(a99/r99, "ratio-p99")
}
