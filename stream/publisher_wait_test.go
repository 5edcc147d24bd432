package stream

import (
	"context"
	"testing"
	"time"

	"github.com/smsswatch/smsswatch/stream/natsserver"
)

// TestViolationWaitNeverDrops: with a queue of 8 slots and a JetStream
// server to acknowledge, a burst through Violation drops (the live
// sensor's engine never blocks), while the same burst through
// ViolationWait (a replay) is delivered whole.
func TestViolationWaitNeverDrops(t *testing.T) {
	const n = 3000
	for _, wait := range []bool{false, true} {
		srv := startServer(t, natsserver.Config{JetStream: true, StoreDir: t.TempDir()})
		p := newPublisher(t, Config{Conn: ConnConfig{URL: srv.URL()}, Logger: testLog(t), JetStream: true,
			Heartbeat: -1, QueueSize: 8})
		for i := 0; i < n; i++ {
			if wait {
				if err := p.ViolationWait(context.Background(), violation(i)); err != nil {
					t.Fatal(err)
				}
			} else {
				p.Violation(violation(i))
			}
		}
		closePublisher(t, p, 30*time.Second)
		st := p.Stats()
		switch {
		case wait && (st.Dropped != 0 || st.Published != n):
			t.Fatalf("ViolationWait: %d published, %d dropped of %d", st.Published, st.Dropped, n)
		case !wait && st.Dropped == 0:
			t.Fatalf("Violation on a queue of 8 dropped nothing of %d: the test does not fill the queue", n)
		case !wait && st.Published+st.Dropped != n:
			t.Fatalf("Violation: %d published + %d dropped != %d", st.Published, st.Dropped, n)
		}
		if wait {
			checkAll(t, readStream(t, srv.URL(), DefaultStream, n), n, true)
		}
	}
}
