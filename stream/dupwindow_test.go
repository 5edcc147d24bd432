package stream

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/smsswatch/smsswatch/stream/natsserver"
)

// TestShortDuplicateWindowIsWarned: bound to an existing stream whose
// duplicate window is shorter than the publisher's, the publisher says so
// (a retry after a longer outage could be stored twice); a stream it
// creates gets its window.
func TestShortDuplicateWindowIsWarned(t *testing.T) {
	srv := startServer(t, natsserver.Config{JetStream: true, StoreDir: t.TempDir()})
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "SHORT", Subjects: []string{"short.violations.>"}, Duplicates: time.Minute}); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	p := newPublisher(t, Config{Conn: ConnConfig{URL: srv.URL()}, Logger: zerolog.New(&logs), JetStream: true,
		Stream: "SHORT", SubjectPrefix: "short", Heartbeat: -1})
	p.Violation(violation(1))
	eventually(t, 10*time.Second, "the warning", func() bool { return strings.Contains(logs.String(), "duplicate window is shorter") })
	closePublisher(t, p, 10*time.Second)

	p2 := newPublisher(t, Config{Conn: ConnConfig{URL: srv.URL()}, Logger: testLog(t), JetStream: true, Heartbeat: -1})
	p2.Violation(violation(2))
	closePublisher(t, p2, 10*time.Second)
	st, err := js.Stream(ctx, DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	if d := st.CachedInfo().Config.Duplicates; d != DefaultDuplicateWindow {
		t.Fatalf("created stream's duplicate window %v, want %v", d, DefaultDuplicateWindow)
	}
}
