package stream

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/smsswatch/smsswatch/detect"
)

// TestAppendAlertFit: an alert longer than the limit is cut to fit, names
// what it cut in smsswatch.truncated, and stays valid JSON; one that
// cannot fit is refused.
func TestAppendAlertFit(t *testing.T) {
	long := strings.Repeat(`C:\evil\`, 8192) // 64 KiB
	cases := []struct {
		name   string
		limit  int
		set    func(v *detect.Violation)
		ok     bool
		fields []string
	}{
		{"fits as is", 1 << 20, func(v *detect.Violation) {}, true, nil},
		{"long command line", 4096, func(v *detect.Violation) { v.Process.CommandLine = long }, true, []string{"process.command_line"}},
		{"long image and message", 4096, func(v *detect.Violation) {
			v.Process.Image, v.Message = long+"smss.exe", "smss.exe ran from "+long
		}, true, []string{"message", "process.executable"}},
		{"escapes expand", 4096, func(v *detect.Violation) { v.Process.CommandLine = strings.Repeat("\x01", 4000) }, true, []string{"process.command_line"}},
		{"registry data", 4096, func(v *detect.Violation) {
			v.Rule = detect.RuleRegistry
			v.Evidence.RegKey, v.Evidence.RegValue, v.Evidence.RegData = `HKLM\X`, long, long
		}, true, []string{"registry.path", "registry.value", "registry.data.strings"}},
		{"cannot fit", 600, func(v *detect.Violation) { v.Process.CommandLine = long }, false, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := sampleViolation()
			c.set(v)
			prefix := []byte("subject")
			out, ok, _ := appendAlertFit(prefix, v, c.limit)
			if ok != c.ok {
				t.Fatalf("ok = %t, want %t", ok, c.ok)
			}
			if !ok {
				if string(out) != "subject" {
					t.Fatalf("refused alert left %d bytes", len(out)-7)
				}
				return
			}
			doc := out[len(prefix):]
			if len(doc) > c.limit {
				t.Fatalf("%d bytes, limit %d", len(doc), c.limit)
			}
			var d struct {
				Smsswatch struct {
					Truncated []string `json:"truncated"`
				} `json:"smsswatch"`
			}
			if err := json.Unmarshal(doc, &d); err != nil {
				t.Fatalf("%v: %s", err, doc)
			}
			for _, f := range c.fields {
				if !strings.Contains(strings.Join(d.Smsswatch.Truncated, " ")+" ", f+" ") {
					t.Errorf("smsswatch.truncated = %v, want %s in it", d.Smsswatch.Truncated, f)
				}
			}
			if c.fields == nil && len(d.Smsswatch.Truncated) != 0 {
				t.Errorf("smsswatch.truncated = %v for an alert that fits", d.Smsswatch.Truncated)
			}
		})
	}
}

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
			s := startServer(t, ServerConfig{Configure: func(o *server.Options) { o.MaxPayload = c.maxPayload }})
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
