package stream

import (
	"fmt"
	"runtime"
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

// BenchmarkPublishCall measures the publish path as its caller sees it:
// the time the engine spends in Publisher.Violation (encode into a queue
// slot, hand off) against the time a caller spends in a raw nats.go
// PublishMsg of the same, already encoded bytes (header, copy into the
// connection's buffer, a socket write when that buffer is full). Calls
// come in bursts of callBurst, which neither the queue nor nats.go's
// buffer-and-flusher has to wait out; between bursts, untimed, everything
// is delivered. Both sides run against the same in-process server, bursts
// alternating. Reported: raw-ns/op, call-ns/op and ratio (call/raw).
//
//	go test -run '^$' -bench 'PublishCall' -benchtime 200000x -count 5 ./stream/
func BenchmarkPublishCall(b *testing.B) {
	srv, v, nc, msg := rawBaseline(b)
	payload := msg.Data
	p := newPublisher(b, Config{Conn: ConnConfig{URL: srv.URL()}, Logger: zerolog.Nop(), Heartbeat: -1})
	defer closePublisher(b, p, 10*time.Second)

	var raw, call time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	b.StopTimer()
	sent := 0
	for sent < b.N {
		k := min(callBurst, b.N-sent)
		t0 := time.Now()
		for range k {
			if err := nc.PublishMsg(msg); err != nil {
				b.Fatal(err)
			}
		}
		raw += time.Since(t0)
		if err := nc.Flush(); err != nil {
			b.Fatal(err)
		}

		b.StartTimer()
		t1 := time.Now()
		for range k {
			p.Violation(v)
		}
		call += time.Since(t1)
		b.StopTimer()
		sent += k
		waitPublished(p, uint64(sent))
	}
	if d := p.Stats().Dropped; d != 0 {
		b.Fatalf("%d dropped", d)
	}
	b.SetBytes(int64(len(payload)))
	b.ReportMetric(float64(raw.Nanoseconds())/float64(b.N), "raw-ns/op")
	b.ReportMetric(float64(call.Nanoseconds())/float64(b.N), "call-ns/op")
	b.ReportMetric(float64(call)/float64(raw), "ratio")
}

// callBurst is the burst of BenchmarkPublishCall: a quarter of the default
// queue.
const callBurst = DefaultQueueSize / 4

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
func (p *Publisher) freeLen() int {
	p.prodMu.Lock()
	defer p.prodMu.Unlock()
	return len(p.free)
}
