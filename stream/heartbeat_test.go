package stream

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/smsswatch/smsswatch/stream/alert"
)

// TestHeartbeatEncoding: every counter appendHeartbeat writes reaches
// ParseHeartbeat under its name, and the document is valid JSON whatever
// the host and version hold.
func TestHeartbeatEncoding(t *testing.T) {
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	cases := []struct {
		name string
		host string
		c    Counters
		s    Stats
		want HeartbeatCounters // the counters part only
	}{
		{name: "zero", host: "WS01"},
		{
			name: "sensor counters",
			host: "WS01.corp",
			c: Counters{Events: 1, Violations: 2, Drops: 3, LostEvents: 4, QueueDepth: 5,
				ClockSteps: 6, CanaryMissed: 7, ExitsLost: 8},
			want: HeartbeatCounters{Events: 1, Violations: 2, Drops: 3, LostEvents: 4, QueueDepth: 5,
				ClockSteps: 6, CanaryMissed: 7, ExitsLost: 8},
		},
		{
			name: "largest values",
			host: "h",
			c:    Counters{ClockSteps: math.MaxUint64, CanaryMissed: math.MaxUint64, ExitsLost: math.MaxUint64},
			want: HeartbeatCounters{ClockSteps: math.MaxUint64, CanaryMissed: math.MaxUint64, ExitsLost: math.MaxUint64},
		},
		{
			name: "negative queue depth is zero",
			host: "h",
			c:    Counters{QueueDepth: -3},
		},
		{
			name: "publisher counters",
			host: "h",
			s: Stats{Published: 9, Dropped: 10, Rejected: 11, Truncated: 12, Oversized: 13, QueueDepth: 14,
				Inflight: 15, Retries: 16, SpoolDepth: 17, SpoolBytes: 18, SpoolDropped: 19},
			want: HeartbeatCounters{Published: 9, PublishDrops: 10, PublishRejected: 11, PublishTruncated: 12,
				PublishOversized: 13, PublishQueue: 14, Inflight: 15, Retries: 16, SpoolDepth: 17, SpoolBytes: 18, SpoolDropped: 19},
		},
		{
			name: "hostile host name",
			host: "ev\"il\x00\u2028}",
			c:    Counters{ExitsLost: 1},
			want: HeartbeatCounters{ExitsLost: 1},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Host: tc.host, Version: "1.2.3", Heartbeat: 10 * time.Second}
			b := appendHeartbeat(nil, &cfg, now, 90*time.Second, tc.c, tc.s)
			if !json.Valid(b) {
				t.Fatalf("invalid JSON %s", b)
			}
			hb, err := ParseHeartbeat(b)
			if err != nil {
				t.Fatalf("%s: %v", b, err)
			}
			if hb.Host.Name != tc.host || !hb.Timestamp.Equal(now) {
				t.Errorf("host %q at %v, want %q at %v", hb.Host.Name, hb.Timestamp, tc.host, now)
			}
			got := hb.Smsswatch
			want := tc.want
			want.SchemaVersion, want.Version, want.UptimeS, want.HeartbeatMS = alert.SchemaVersion, "1.2.3", 90, 10000
			if got != want {
				t.Errorf("counters\n got %+v\nwant %+v", got, want)
			}
			var keys struct {
				Smsswatch map[string]json.RawMessage `json:"smsswatch"`
			}
			if err := json.Unmarshal(b, &keys); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"clock_steps", "canary_missed", "exits_lost"} {
				if _, ok := keys.Smsswatch[k]; !ok {
					t.Errorf("no %s in %s", k, b)
				}
			}
		})
	}
}

// TestHeartbeatEncodingAllocs: encoding into a buffer with room does not
// allocate.
func TestHeartbeatEncodingAllocs(t *testing.T) {
	cfg := Config{Host: "WS01", Version: "1", Heartbeat: time.Second}
	c := Counters{Events: 1, ClockSteps: 2, CanaryMissed: 3, ExitsLost: 4}
	buf := make([]byte, 0, 4096)
	now := time.Now()
	if n := testing.AllocsPerRun(100, func() {
		buf = appendHeartbeat(buf[:0], &cfg, now, time.Minute, c, Stats{})
	}); n != 0 {
		t.Errorf("%v allocations per heartbeat", n)
	}
}
