package stream

import (
	"context"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/smsswatch/smsswatch/stream/natsserver"
)

// blockingWriter blocks every write until released.
type blockingWriter struct{ release chan struct{} }

func (b *blockingWriter) Write(p []byte) (int, error) {
	<-b.release
	return len(p), nil
}

// TestCoreTailCountsWhatASlowReaderLost: a core tail whose output is
// stuck loses alerts as a slow consumer; it reports exactly how many, and
// printed + lost is what was sent.
func TestCoreTailCountsWhatASlowReaderLost(t *testing.T) {
	srv := startServer(t, natsserver.Config{})
	var lost, printed atomic.Int64
	ready := make(chan struct{})
	w := &blockingWriter{release: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Tail(ctx, TailConfig{Conn: ConnConfig{URL: srv.URL()}, JSON: true, Logger: testLog(t),
			Ready: func() { close(ready) }, Printed: func() { printed.Add(1) },
			Lost: func(total int) { lost.Store(int64(total)) }}, w)
	}()
	<-ready
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	const n = 30000
	payload := []byte(`{"rule":{"id":"smss.parent"}}`)
	for i := 0; i < n; i++ {
		if err := nc.Publish("smsswatch.violations.h.smss.parent", payload); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "losses reported", func() bool { return lost.Load() > 0 })
	close(w.release)
	eventually(t, 20*time.Second, "every alert printed or counted lost", func() bool {
		return printed.Load()+lost.Load() == n
	})
	cancel()
	if err := <-done; err != nil && err != io.EOF {
		t.Fatal(err)
	}
}
