package stream

import (
	"runtime"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// BenchmarkPublishPath measures, in one run over the same in-process
// server, the cost per violation of the whole publish path (encode in the
// engine's call, hand-off, publish, receipt confirmed by a flush) against a
// raw nats.go publish of the same, already encoded bytes (subject, header,
// payload) followed by one flush. Reported: raw-ns/op, path-ns/op and
// ratio (path/raw); ns/op is the path's.
//
//	go test -run XXX -bench PublishPath -benchtime 200000x ./stream/
func BenchmarkPublishPath(b *testing.B) {
	srv := startServer(b, ServerConfig{})
	v := violation(1)
	subj := ViolationSubject(DefaultSubjectPrefix, v.Host, v.Rule.ID())
	payload := AppendAlert(nil, v)

	// Raw nats.go.
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	msg := &nats.Msg{Subject: subj, Data: payload, Header: nats.Header{HeaderMsgID: []string{"0123456789abcdef"}}}
	n := b.N
	runtime.GC()
	t0 := time.Now()
	for i := 0; i < n; i++ {
		if err := nc.PublishMsg(msg); err != nil {
			b.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		b.Fatal(err)
	}
	raw := time.Since(t0)

	// The publisher.
	p := newPublisher(b, Config{Conn: ConnConfig{URL: srv.URL()}, Logger: zerolog.Nop(), Heartbeat: -1, QueueSize: 8192})
	defer closePublisher(b, p, 10*time.Second)
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	t1 := time.Now()
	for i := 0; i < n; i++ {
		for p.freeLen() == 0 { // the engine is faster than the wire: wait, don't drop
			runtime.Gosched()
		}
		p.Violation(v)
	}
	for p.sPublished.Load() < uint64(n) {
		runtime.Gosched()
	}
	path := time.Since(t1)
	b.StopTimer()
	if d := p.Stats().Dropped; d != 0 {
		b.Fatalf("%d dropped", d)
	}
	b.SetBytes(int64(len(payload)))
	b.ReportMetric(float64(raw.Nanoseconds())/float64(n), "raw-ns/op")
	b.ReportMetric(float64(path.Nanoseconds())/float64(n), "path-ns/op")
	b.ReportMetric(float64(path)/float64(raw), "ratio")
}

// BenchmarkViolationCall is the engine's side alone: encode into a queue
// slot and hand off (the publishing goroutine runs meanwhile).
func BenchmarkViolationCall(b *testing.B) {
	srv := startServer(b, ServerConfig{})
	p := newPublisher(b, Config{Conn: ConnConfig{URL: srv.URL()}, Logger: zerolog.Nop(), Heartbeat: -1, QueueSize: 8192})
	defer closePublisher(b, p, 10*time.Second)
	v := violation(1)
	b.ReportAllocs()
	for b.Loop() {
		for p.freeLen() == 0 {
			runtime.Gosched()
		}
		p.Violation(v)
	}
}

// BenchmarkPublishPathJetStream is BenchmarkPublishPath into a JetStream
// stream: the raw side is nats.go's jetstream PublishMsgAsync with the
// same Nats-Msg-Id header and 1024 acks pending, waited for with
// PublishAsyncComplete; the path waits for every ack too.
//
//	go test -run XXX -bench PublishPathJetStream -benchtime 100000x ./stream/
func BenchmarkPublishPathJetStream(b *testing.B) {
	srv := startServer(b, ServerConfig{JetStream: true})
	p := newPublisher(b, Config{Conn: ConnConfig{URL: srv.URL()}, Logger: zerolog.Nop(), Heartbeat: -1,
		JetStream: true, QueueSize: 8192, MaxInflight: 1024})
	defer closePublisher(b, p, 10*time.Second)
	v := violation(0)
	p.Violation(v)
	for p.sPublished.Load() < 1 {
		time.Sleep(time.Millisecond)
	}
	subj := ViolationSubject(DefaultSubjectPrefix, v.Host, v.Rule.ID())
	payload := AppendAlert(nil, v)
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
	t0 := time.Now()
	for i := 0; i < n; i++ {
		id := string(appendHex16(nil, uint64(1<<40+i)))
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
	raw := time.Since(t0)

	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	t1 := time.Now()
	for i := 0; i < n; i++ {
		for p.freeLen() == 0 {
			runtime.Gosched()
		}
		v.DedupeKey = uint64(1<<41 + i)
		p.Violation(v)
	}
	for p.sPublished.Load() < uint64(n)+1 {
		runtime.Gosched()
	}
	path := time.Since(t1)
	b.StopTimer()
	b.SetBytes(int64(len(payload)))
	b.ReportMetric(float64(raw.Nanoseconds())/float64(n), "raw-ns/op")
	b.ReportMetric(float64(path.Nanoseconds())/float64(n), "path-ns/op")
	b.ReportMetric(float64(path)/float64(raw), "ratio")
}

// freeLen is how many queue slots are free.
func (p *Publisher) freeLen() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.free)
}
