package stream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// hbJSON is a heartbeat as a Publisher writes it; periodMS 0 leaves the
// period out (an older sensor).
func hbJSON(host, version string, periodMS int64, events uint64) []byte {
	period := ""
	if periodMS > 0 {
		period = fmt.Sprintf(`,"heartbeat_ms":%d`, periodMS)
	}
	return fmt.Appendf(nil, `{"@timestamp":"2025-03-04T05:06:07.5Z","event":{"kind":"metric","module":"smsswatch","dataset":"smsswatch.heartbeat"},`+
		`"host":{"name":%s},"smsswatch":{"schema_version":2,"version":%s,"uptime_s":3725%s,"events":%d,"violations":2,"drops":3,"lost_events":4,`+
		`"queue_depth":5,"published":2,"publish_drops":6,"spool_depth":7,"spool_bytes":100,"spool_dropped":1}}`, jsonString(host), jsonString(version), period, events)
}

func jsonString(s string) []byte {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestFleetParseHeartbeat(t *testing.T) {
	hb, err := ParseHeartbeat(hbJSON("WS01.corp", "1.2.3", 500, 42))
	if err != nil {
		t.Fatal(err)
	}
	c := hb.Smsswatch
	if hb.Host.Name != "WS01.corp" || c.Version != "1.2.3" || c.HeartbeatMS != 500 || c.Events != 42 || c.Violations != 2 ||
		c.Drops != 3 || c.LostEvents != 4 || c.QueueDepth != 5 || c.PublishDrops != 6 || c.SpoolDepth != 7 || c.UptimeS != 3725 ||
		!hb.Timestamp.Equal(time.Date(2025, 3, 4, 5, 6, 7, 5e8, time.UTC)) {
		t.Errorf("%+v", hb)
	}
	for _, bad := range []string{``, `{`, `[]`, `{"event":{"dataset":"other"}}`, `{"event":{"dataset":"smsswatch.heartbeat"},"smsswatch":{"events":"x"}}`} {
		if _, err := ParseHeartbeat([]byte(bad)); !errors.Is(err, ErrNotHeartbeat) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestFleetSilence(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	type step struct {
		at   float64
		host string // "": a Check at that time
		data []byte // nil: hbJSON(host, "1", period, 1)
		want []string
	}
	cases := []struct {
		name   string
		period time.Duration // the Fleet's default
		hbMS   int64         // what heartbeats announce
		expect []string
		steps  []step
	}{
		{"heard regularly, never silent", 10 * time.Second, 0, nil, []step{
			{at: 0, host: "a"}, {at: 10, host: "a"}, {at: 20, host: "a"}, {at: 49}, {at: 50, host: "a"}, {at: 79.9},
		}},
		{"silent after 3 periods, once, then back", 10 * time.Second, 0, nil, []step{
			{at: 0, host: "a"}, {at: 0, host: "b"}, {at: 10, host: "a"},
			{at: 30}, {at: 30.1, want: []string{"sensor.silent b 30s"}},
			{at: 35}, {at: 41, want: []string{"sensor.silent a 31s"}},
			{at: 100},
			{at: 101, host: "b", want: []string{"sensor.back b 1m41s"}},
			{at: 131.5, want: []string{"sensor.silent b 30s"}},
		}},
		{"period from the heartbeat wins over the default", 10 * time.Second, 1000, nil, []step{
			{at: 0, host: "a"}, {at: 2.9}, {at: 3.1, want: []string{"sensor.silent a 3.1s"}},
		}},
		{"absurd announced periods are bounded", time.Second, int64(1e12), nil, []step{
			{at: 0, host: "a"}, {at: 3 * 3600}, {at: 3*3600 + 1, want: []string{"sensor.silent a 3h00m"}},
		}},
		{"expected host never heard", 10 * time.Second, 0, []string{"WS09.corp"}, []step{
			{at: 29}, {at: 31, want: []string{"sensor.silent ws09_corp 31s"}},
			{at: 40, host: "ws09_corp", data: hbJSON("WS09.corp", "1", 0, 1), want: []string{"sensor.back ws09_corp 40s"}},
		}},
		{"not a heartbeat is counted, not a host", 10 * time.Second, 0, nil, []step{
			{at: 0, host: "a", data: []byte(`{"event":{"kind":"alert"}}`)}, {at: 0, host: "b", data: []byte("garbage")}, {at: 100},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &Fleet{Period: c.period}
			for _, e := range c.expect {
				f.Expect(e, t0)
			}
			for i, s := range c.steps {
				var got []string
				if s.host == "" {
					for _, ch := range f.Check(at(s.at)) {
						got = append(got, fmt.Sprintf("%s %s %s", ch.Kind, ch.Host.Token, fleetDuration(ch.Quiet)))
					}
				} else {
					data := s.data
					if data == nil {
						data = hbJSON(s.host, "1", c.hbMS, 1)
					}
					if ch, ok := f.Observe("smsswatch.heartbeat."+s.host, data, at(s.at)); ok {
						got = append(got, fmt.Sprintf("%s %s %s", ch.Kind, ch.Host.Token, fleetDuration(ch.Quiet)))
					}
				}
				if strings.Join(got, "|") != strings.Join(s.want, "|") {
					t.Errorf("step %d (t=%gs): %q, want %q", i, s.at, got, s.want)
				}
			}
			if c.name == "not a heartbeat is counted, not a host" && (len(f.Hosts()) != 0 || f.Unreadable != 2) {
				t.Errorf("hosts %+v unreadable %d", f.Hosts(), f.Unreadable)
			}
		})
	}
}

func TestFleetMaxHosts(t *testing.T) {
	now := time.Unix(1e9, 0)
	f := &Fleet{MaxHosts: 3}
	for i := range 5 {
		h := fmt.Sprintf("h%d", i)
		f.Observe("smsswatch.heartbeat."+h, hbJSON(h, "1", 0, 1), now)
	}
	if len(f.Hosts()) != 3 || f.Overflow != 2 {
		t.Errorf("%d hosts, overflow %d", len(f.Hosts()), f.Overflow)
	}
	// Known hosts keep being heard.
	f.Observe("smsswatch.heartbeat.h0", hbJSON("h0", "2", 0, 9), now)
	if h := f.Hosts()[0]; h.Heard != 2 || h.Last.Smsswatch.Version != "2" {
		t.Errorf("%+v", h)
	}
}

func TestFleetTable(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	f := &Fleet{Period: 10 * time.Second}
	f.Observe("smsswatch.heartbeat.ws01_corp", hbJSON("WS01.corp", "1.2.3", 0, 1000), t0)
	// Hostile names and versions: escapes, bidi overrides, spaces, newlines.
	evil := "ev\x1b]52;c;SGk=\x07il\u202e\nHOST ok"
	f.Observe("smsswatch.heartbeat."+SanitizeHost(evil), hbJSON(evil, "9\x1b[2J", 0, 5), t0.Add(5*time.Second))
	// A heartbeat whose name is not its subject's is shown by its token.
	f.Observe("smsswatch.heartbeat.ws02", hbJSON("WS01.corp", "1", 0, 7), t0)
	f.Check(t0.Add(31 * time.Second))
	var b bytes.Buffer
	if err := f.WriteTable(&b, t0.Add(31*time.Second)); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines:\n%s", len(lines), out)
	}
	for _, want := range []string{
		"HOST ", "VERSION", "UPTIME", "EVENTS", "VIOLATIONS", "DROPS", "LOST", "QUEUE", "SPOOL", "LAST-SEEN", "STATUS",
	} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("header %q lacks %q", lines[0], want)
		}
	}
	fields := strings.Fields(lines[2]) // ws01_corp sorts after ev...
	want := []string{"WS01.corp", "1.2.3", "1h02m", "1000", "2", "3", "4", "5", "7", "7", "31s", "ago", "SILENT"}
	if strings.Join(fields, " ") != strings.Join(want, " ") {
		t.Errorf("row %q\nwant %q", fields, want)
	}
	if f := strings.Fields(lines[1]); len(f) != 13 || f[12] != "ok" || f[0] != `ev\u001b]52;c;SGk=\u0007il\u202e\u000aHOST\x20ok` || f[1] != `9\u001b[2J` {
		t.Errorf("hostile row %q", f)
	}
	if f := strings.Fields(lines[3]); f[0] != "ws02" {
		t.Errorf("mismatched row %q", f)
	}
	if !strings.Contains(lines[4], "1 heartbeat(s) naming another host") {
		t.Errorf("footer %q", lines[4])
	}
	for _, c := range out {
		if c < 0x20 && c != '\n' || c == 0x7f || c == 0x202e {
			t.Fatalf("raw control %U in\n%s", c, out)
		}
	}
}

func TestFleetChangeLine(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	f := &Fleet{Period: time.Second}
	evil := "x\" quiet=0s\nsensor.back host=\"ws01\u202e"
	f.Observe("smsswatch.heartbeat."+SanitizeHost(evil), hbJSON(evil, "1", 0, 1), t0)
	chs := f.Check(t0.Add(4 * time.Second))
	if len(chs) != 1 {
		t.Fatal(chs)
	}
	line := string(AppendChange(nil, chs[0], t0.Add(4*time.Second)))
	want := `2025-01-01T00:00:04Z sensor.silent host="x\" quiet=0s\nsensor.back host=\"ws01\u202e" quiet=4.0s period=1.0s last_seen=2025-03-04T05:06:07.5Z` + "\n"
	if line != want {
		t.Errorf("got  %q\nwant %q", line, want)
	}
}

func TestFleetDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second: "0s", 850 * time.Millisecond: "850ms", 1500 * time.Millisecond: "1.5s", 12 * time.Second: "12s",
		245 * time.Second: "4m05s", 3*time.Hour + 7*time.Minute: "3h07m", 53 * time.Hour: "2d05h",
	} {
		if got := fleetDuration(d); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
	}
}

// startSensors starts one publisher a host, heartbeating every period.
func startSensors(t *testing.T, url string, period time.Duration, hosts ...string) []*Publisher {
	t.Helper()
	var ps []*Publisher
	for i, h := range hosts {
		p := newPublisher(t, Config{Conn: ConnConfig{URL: url}, Logger: testLog(t), Host: h, Version: "1.0." + strconv.Itoa(i),
			Heartbeat: period, Counters: func() Counters { return Counters{Events: uint64(100 * (i + 1)), Violations: uint64(i)} }})
		ps = append(ps, p)
	}
	return ps
}

// TestFleetWatchRealServer: three sensors heartbeat through a real server;
// one is closed; the fleet tells it silent within 3 heartbeats and only it.
func TestFleetWatchRealServer(t *testing.T) {
	s := startServer(t, ServerConfig{})
	const period = 100 * time.Millisecond
	var out syncBuffer
	ready := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- WatchFleet(ctx, FleetConfig{Conn: ConnConfig{URL: s.URL()}, Period: 10 * time.Second, Refresh: period,
			Logger: testLog(t), Ready: func() { close(ready) }}, &out)
	}()
	<-ready
	ps := startSensors(t, s.URL(), period, "WS01.corp", "WS02.corp", "DC01")
	defer closePublisher(t, ps[0], 5*time.Second)
	defer closePublisher(t, ps[2], 5*time.Second)
	eventually(t, 10*time.Second, "all three hosts in the table", func() bool {
		o := out.String()
		return strings.Contains(o, "WS01.corp") && strings.Contains(o, "WS02.corp") && strings.Contains(o, "DC01")
	})
	closePublisher(t, ps[1], 5*time.Second)
	stopped := time.Now()
	eventually(t, 10*time.Second, "sensor.silent for WS02", func() bool { return strings.Contains(out.String(), `sensor.silent host="WS02.corp"`) })
	// The last heartbeat came at most a period before the close: silence
	// is told 3 periods after it, plus the check's granularity.
	if d := time.Since(stopped); d > 3*period+period/2+time.Second {
		t.Errorf("told after %v", d)
	}
	// The heartbeats carry their period: the fleet's 10 s default is
	// not what made WS02 silent this soon.
	eventually(t, 10*time.Second, "a table with WS02 SILENT", func() bool {
		for _, l := range strings.Split(out.String(), "\n") {
			if strings.HasPrefix(l, "WS02.corp ") && strings.HasSuffix(l, "SILENT") {
				return true
			}
		}
		return false
	})
	o := out.String()
	if strings.Count(o, "sensor.silent") != 1 || strings.Contains(o, `sensor.silent host="WS01.corp"`) || strings.Contains(o, `sensor.silent host="DC01"`) {
		t.Errorf("silent lines:\n%s", o)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestFleetWatchOnce: with Once, WatchFleet returns ErrSilent when a
// sensor stops during the window or an expected one is never heard, and
// nil when all are heard.
func TestFleetWatchOnce(t *testing.T) {
	s := startServer(t, ServerConfig{})
	const period = 100 * time.Millisecond
	ps := startSensors(t, s.URL(), period, "a1", "a2")
	defer closePublisher(t, ps[0], 5*time.Second)
	nc, err := nats.Connect(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	a2 := collect(t, nc, "smsswatch.heartbeat.a2")
	stopped := make(chan struct{})
	cases := []struct {
		name   string
		ready  func() // called once the fleet listens
		expect []string
		silent bool
	}{
		{"all heard", nil, []string{"A1"}, false},
		{"expected host never heard", nil, []string{"ghost.corp"}, true},
		{"one stops during the window", func() {
			// After a heartbeat of a2 the fleet has heard too, a2 stops
			// (polled here: FailNow is for the test's goroutine).
			n := a2.count()
			go func() {
				defer close(stopped)
				for deadline := time.Now().Add(5 * time.Second); a2.count() <= n; time.Sleep(5 * time.Millisecond) {
					if time.Now().After(deadline) {
						t.Error("no heartbeat of a2")
						return
					}
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if err := ps[1].Close(ctx); err != nil {
					t.Error(err)
				}
			}()
		}, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out syncBuffer
			err := WatchFleet(context.Background(), FleetConfig{Conn: ConnConfig{URL: s.URL()}, Period: period,
				Once: 6 * period, Expect: c.expect, Logger: testLog(t), Ready: c.ready}, &out)
			if got := errors.Is(err, ErrSilent); got != c.silent || (!c.silent && err != nil) {
				t.Fatalf("err %v, want silent %v\n%s", err, c.silent, out.String())
			}
			if !strings.Contains(out.String(), "HOST ") {
				t.Errorf("no table:\n%s", out.String())
			}
			if c.ready != nil {
				<-stopped
			}
		})
	}
}
