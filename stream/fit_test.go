package stream

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/smsswatch/smsswatch/stream/natsserver"
)

// TestMaxPayloadTruncatesOrCountsDrop: against a real server with a small
// max_payload, an alert with a 64 KiB command line arrives truncated (it
// was refused and counted as nothing before), and one that cannot fit at
// all is a counted drop, in Stats and in the heartbeat.
func TestMaxPayloadTruncatesOrCountsDrop(t *testing.T) {
	cases := []struct {
		name                      string
		maxPayload                int32
		delivered, oversized, cut uint64
	}{
		{"truncated to fit", 4096, 2, 0, 1},
		{"too small for any alert", 700, 0, 2, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := startServer(t, natsserver.Config{Configure: func(o *server.Options) { o.MaxPayload = c.maxPayload }})
			nc, err := nats.Connect(s.URL())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			alerts := collect(t, nc, "smsswatch.violations.>")
			beats := collect(t, nc, "smsswatch.heartbeat.>")
			p := newPublisher(t, Config{Conn: ConnConfig{URL: s.URL()}, Logger: testLog(t), Heartbeat: 20 * time.Millisecond})
			big := violation(0)
			big.Process.CommandLine = strings.Repeat("A", 64<<10)
			p.Violation(big)
			p.Violation(violation(1))
			eventually(t, 5*time.Second, "both alerts handled", func() bool {
				st := p.Stats()
				return st.Published+st.Dropped+st.Rejected == 2
			})
			st := p.Stats()
			if st.Published != c.delivered || st.Oversized != c.oversized || st.Dropped != c.oversized ||
				st.Truncated != c.cut || st.Rejected != 0 {
				t.Fatalf("stats %+v, want published %d oversized=dropped %d truncated %d", st, c.delivered, c.oversized, c.cut)
			}
			eventually(t, 5*time.Second, "alerts", func() bool { return alerts.count() == int(c.delivered) })
			alerts.mu.Lock()
			for _, m := range alerts.msgs {
				if len(m.Data) > int(c.maxPayload) {
					t.Errorf("%d-byte alert over max_payload %d", len(m.Data), c.maxPayload)
				}
				if !json.Valid(m.Data) {
					t.Errorf("invalid JSON %q", m.Data)
				}
			}
			alerts.mu.Unlock()
			eventually(t, 5*time.Second, "a heartbeat with the counts", func() bool {
				beats.mu.Lock()
				defer beats.mu.Unlock()
				for _, m := range beats.msgs {
					var hb struct{ Smsswatch map[string]any }
					if json.Unmarshal(m.Data, &hb) == nil && hb.Smsswatch["publish_oversized"] == float64(c.oversized) &&
						hb.Smsswatch["publish_drops"] == float64(c.oversized) && hb.Smsswatch["publish_truncated"] == float64(c.cut) {
						return true
					}
				}
				return false
			})
			closePublisher(t, p, 5*time.Second)
		})
	}
}
