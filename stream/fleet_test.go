package stream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/smsswatch/smsswatch/stream/natsserver"
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
		`"clock_steps":8,"canary_missed":9,"exits_lost":10,"queue_depth":5,"published":2,"publish_drops":6,"spool_depth":7,"spool_bytes":100,"spool_dropped":1}}`, jsonString(host), jsonString(version), period, events)
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
		c.Drops != 3 || c.LostEvents != 4 || c.ClockSteps != 8 || c.CanaryMissed != 9 || c.ExitsLost != 10 || c.QueueDepth != 5 || c.PublishDrops != 6 || c.SpoolDepth != 7 || c.UptimeS != 3725 ||
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
		{"an announced period that overflows a Duration is bounded too", time.Second, math.MaxInt64, nil, []step{
			{at: 0, host: "a"}, {at: 1}, {at: 3 * 3600}, {at: 3*3600 + 1, want: []string{"sensor.silent a 3h00m"}},
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
			t.Cleanup(func() {
				if f.Unreadable != 0 && c.name != "not a heartbeat is counted, not a host" {
					t.Errorf("%d unreadable", f.Unreadable)
				}
			})
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

// TestFleetSubjectTokens: a heartbeat is taken only on a token a sensor
// can send on (a SanitizeHost token); any other token is counted, not a
// host.
func TestFleetSubjectTokens(t *testing.T) {
	long := SanitizeHost(strings.Repeat("x", 300))
	cases := []struct {
		name, subject string
		host          bool
	}{
		{"plain", "smsswatch.heartbeat.ws01", true},
		{"cut with a hash", "smsswatch.heartbeat." + long, true},
		{"upper case", "smsswatch.heartbeat.WS01", false},
		{"escape", "smsswatch.heartbeat.ws\x1b[2J", false},
		{"bidi", "smsswatch.heartbeat.ws\u202e01", false},
		{"too long", "smsswatch.heartbeat." + strings.Repeat("a", 97), false},
		{"no token", "smsswatch.heartbeat.", false},
		{"no dot", "heartbeat", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &Fleet{}
			f.Observe(c.subject, hbJSON("x", "1", 0, 1), time.Unix(1e9, 0))
			if got := len(f.Hosts()) == 1; got != c.host || f.Unreadable != map[bool]uint64{true: 0, false: 1}[c.host] {
				t.Errorf("hosts %d unreadable %d, want a host: %v", len(f.Hosts()), f.Unreadable, c.host)
			}
		})
	}
}

// TestFleetCheckCadence: the checks follow the shortest period any sensor
// announces, not the assumed default, so a 100 ms sensor is told silent
// within a quarter period of its third, even when --heartbeat is 10 s.
func TestFleetCheckCadence(t *testing.T) {
	f := &Fleet{Period: 10 * time.Second}
	now := time.Unix(1e9, 0)
	f.Observe("smsswatch.heartbeat.slow", hbJSON("slow", "1", 60000, 1), now)
	if f.shortest != time.Minute || fleetCheckEvery(f.shortest) != time.Second {
		t.Errorf("shortest %v, checks every %v", f.shortest, fleetCheckEvery(f.shortest))
	}
	f.Observe("smsswatch.heartbeat.fast", hbJSON("fast", "1", 100, 1), now)
	f.Observe("smsswatch.heartbeat.slow", hbJSON("slow", "1", 60000, 1), now)
	if f.shortest != 100*time.Millisecond || fleetCheckEvery(f.shortest) != 25*time.Millisecond {
		t.Errorf("shortest %v, checks every %v", f.shortest, fleetCheckEvery(f.shortest))
	}
	if got := fleetCheckEvery(time.Millisecond); got != 10*time.Millisecond {
		t.Errorf("1ms: checks every %v", got)
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
	// Spaces of every kind and invisible format characters cannot fake
	// a column.
	wide := "ws03\u00a0ok\u3000x\u200by\U000e0001"
	f.Observe("smsswatch.heartbeat."+SanitizeHost(wide), hbJSON(wide, "1\u2003ok", 0, 8), t0)
	f.Check(t0.Add(31 * time.Second))
	var b bytes.Buffer
	if err := f.WriteTable(&b, t0.Add(31*time.Second)); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 6 {
		t.Fatalf("%d lines:\n%s", len(lines), out)
	}
	for _, want := range []string{
		"HOST ", "VERSION", "UPTIME", "EVENTS", "VIOLATIONS", "DROPS", "LOST", "CLOCK-STEPS", "CANARY-MISSED", "EXITS-LOST", "QUEUE", "SPOOL", "SEEN-AGO", "STATUS",
	} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("header %q lacks %q", lines[0], want)
		}
	}
	fields := strings.Fields(lines[2]) // ws01_corp sorts after ev...
	want := []string{"WS01.corp", "1.2.3", "1h02m", "1000", "2", "3", "4", "8", "9", "10", "5", "7", "7", "31s", "SILENT"}
	if strings.Join(fields, " ") != strings.Join(want, " ") {
		t.Errorf("row %q\nwant %q", fields, want)
	}
	if f := strings.Fields(lines[1]); len(f) != 15 || f[14] != "ok" || f[0] != `ev\u001b]52;c;SGk=\u0007il\u202e\u000aHOST\x20ok` || f[1] != `9\u001b[2J` {
		t.Errorf("hostile row %q", f)
	}
	if f := strings.Fields(lines[3]); f[0] != "ws02" {
		t.Errorf("mismatched row %q", f)
	}
	if f := strings.Fields(lines[4]); len(f) != 15 || f[0] != `ws03\u00a0ok\u3000x\u200by\U000e0001` || f[1] != `1\u2003ok` {
		t.Errorf("spaces row %q", f)
	}
	if !strings.Contains(lines[5], "1 heartbeat(s) naming another host") {
		t.Errorf("footer %q", lines[5])
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

// startSensors starts one real Publisher a host, heartbeating every
// period; events, if set, gives each heartbeat's event count.
func startSensors(t *testing.T, url string, period time.Duration, events func(i int) uint64, hosts ...string) []*Publisher {
	t.Helper()
	if events == nil {
		events = func(i int) uint64 { return uint64(100 * (i + 1)) }
	}
	var ps []*Publisher
	for i, h := range hosts {
		p := newPublisher(t, Config{Conn: ConnConfig{URL: url}, Logger: testLog(t), Host: h, Version: "1.0." + strconv.Itoa(i),
			Heartbeat: period, Counters: func() Counters { return Counters{Events: events(i), Violations: uint64(i)} }})
		ps = append(ps, p)
	}
	return ps
}

// lastTable returns the rows of the last table in a WatchFleet output by
// host name, each row's fields.
func lastTable(out string) map[string][]string {
	i := strings.LastIndex(out, "smsswatch fleet ")
	if i < 0 {
		return nil
	}
	rows := map[string][]string{}
	for _, l := range strings.Split(out[i:], "\n")[1:] {
		f := strings.Fields(l)
		if len(f) == 15 && f[0] != "HOST" {
			rows[f[0]] = f
		} else if len(f) == 0 || strings.HasPrefix(l, "(") {
			break
		}
	}
	return rows
}

// cell is field i of host's row ("" when there is none).
func cell(rows map[string][]string, host string, i int) string {
	if r := rows[host]; i < len(r) {
		return r[i]
	}
	return ""
}

// row is host's row from field i on, joined by spaces.
func row(rows map[string][]string, host string, i int) string {
	if r := rows[host]; i < len(r) {
		return strings.Join(r[i:], " ")
	}
	return ""
}

// silentLines returns the sensor.silent lines of a WatchFleet output.
func silentLines(out string) []string {
	var ls []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, " sensor.silent ") {
			ls = append(ls, l)
		}
	}
	return ls
}

// TestFleetWatchRealServer: three real sensors (Publishers) heartbeat
// every 100 ms through a real server; one is closed. The fleet, whose own
// default period is 10 s, tells that one silent from the period its
// heartbeats announce, and only it; the others stay ok.
func TestFleetWatchRealServer(t *testing.T) {
	s := startServer(t, natsserver.Config{})
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
	ps := startSensors(t, s.URL(), period, nil, "WS01.corp", "WS02.corp", "DC01")
	defer closePublisher(t, ps[0], 5*time.Second)
	defer closePublisher(t, ps[2], 5*time.Second)
	eventually(t, 10*time.Second, "all three hosts ok in the table", func() bool {
		rows := lastTable(out.String())
		return len(rows) == 3 && cell(rows, "WS01.corp", 14) == "ok" && cell(rows, "WS02.corp", 14) == "ok" && cell(rows, "DC01", 14) == "ok"
	})
	closePublisher(t, ps[1], 5*time.Second)
	eventually(t, 10*time.Second, "sensor.silent for WS02", func() bool { return len(silentLines(out.String())) > 0 })
	ls := silentLines(out.String())
	var quiet, per string
	if len(ls) != 1 || !strings.Contains(ls[0], ` sensor.silent host="WS02.corp" quiet=`) {
		t.Fatalf("silent lines %q", ls)
	}
	for _, kv := range strings.Fields(ls[0]) {
		if v, ok := strings.CutPrefix(kv, "quiet="); ok {
			quiet = v
		}
		if v, ok := strings.CutPrefix(kv, "period="); ok {
			per = v
		}
	}
	// Silent after 3 of the sensor's own 100 ms periods, not 3 of 10 s.
	// The line shows quiet truncated (300.4 ms reads 300ms), so this
	// checks at least 3 periods; the exact boundary (silent only past
	// them) is TestFleetWatchRealServerThreeHeartbeats's, on its clock.
	q, err := time.ParseDuration(quiet)
	if per != "100ms" || err != nil || q < FleetSilentAfter*period || q >= 10*time.Second {
		t.Errorf("period %q quiet %q (%v) in %q", per, quiet, err, ls[0])
	}
	eventually(t, 10*time.Second, "a table with WS02 SILENT", func() bool {
		return cell(lastTable(out.String()), "WS02.corp", 14) == "SILENT"
	})
	if rows := lastTable(out.String()); cell(rows, "WS01.corp", 14) != "ok" || cell(rows, "DC01", 14) != "ok" {
		t.Errorf("healthy hosts %q %q", rows["WS01.corp"], rows["DC01"])
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ls := silentLines(out.String()); len(ls) != 1 {
		t.Errorf("silent lines %q", ls)
	}
}

// TestFleetWatchRealServerThreeHeartbeats: the same with the fleet's
// clock in the test's hands, so "within 3 heartbeats" is exact. Real
// sensors heartbeat every 100 ms; WS02 is closed; the clock then moves one
// period at a time, each time until the healthy sensors were heard at the
// new time: after 3 periods WS02 is not yet silent, 1 ms later it is
// (quiet=301ms: had it been told at 300 ms the line would say so), and the
// healthy sensors never are.
func TestFleetWatchRealServerThreeHeartbeats(t *testing.T) {
	s := startServer(t, natsserver.Config{})
	const period = 100 * time.Millisecond
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	var offset atomic.Int64
	clock := func() time.Time { return t0.Add(time.Duration(offset.Load())) }
	var out syncBuffer
	ready := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- WatchFleet(ctx, FleetConfig{Conn: ConnConfig{URL: s.URL()}, Period: 10 * time.Second, Refresh: 20 * time.Millisecond,
			Logger: testLog(t), Ready: func() { close(ready) }, Now: clock}, &out)
	}()
	<-ready
	// WS01's event count is the number of heartbeats it built.
	var built atomic.Uint64
	events := func(i int) uint64 {
		if i == 0 {
			return built.Add(1)
		}
		return 7
	}
	ps := startSensors(t, s.URL(), period, events, "WS01.corp", "WS02.corp", "DC01")
	defer closePublisher(t, ps[0], 5*time.Second)
	defer closePublisher(t, ps[2], 5*time.Second)
	eventually(t, 10*time.Second, "all three hosts in the table", func() bool { return len(lastTable(out.String())) == 3 })
	closePublisher(t, ps[1], 5*time.Second) // flushed: all WS02 sent is at the server
	// A WS01 heartbeat built after the close reached the fleet after
	// WS02's last (one server, one subscription, in order).
	after := built.Load()
	eventually(t, 10*time.Second, "a WS01 heartbeat sent after WS02 closed", func() bool {
		n, err := strconv.ParseUint(cell(lastTable(out.String()), "WS01.corp", 3), 10, 64)
		return err == nil && n > after
	})
	step := func(to time.Duration, ws02 string) {
		t.Helper()
		offset.Store(int64(to))
		eventually(t, 10*time.Second, fmt.Sprintf("at +%v: WS01, DC01 heard now, WS02 %s", to, ws02), func() bool {
			rows := lastTable(out.String())
			return row(rows, "WS01.corp", 13) == "0ms ok" && row(rows, "DC01", 13) == "0ms ok" &&
				row(rows, "WS02.corp", 13) == ws02
		})
	}
	step(period, "100ms ok")
	step(2*period, "200ms ok")
	step(3*period, "300ms ok")
	if ls := silentLines(out.String()); len(ls) != 0 {
		t.Fatalf("silent at 3 periods: %q", ls)
	}
	offset.Store(int64(3*period + time.Millisecond))
	eventually(t, 10*time.Second, "sensor.silent for WS02", func() bool { return len(silentLines(out.String())) > 0 })
	want := ` sensor.silent host="WS02.corp" quiet=301ms period=100ms last_seen=`
	if ls := silentLines(out.String()); len(ls) != 1 || !strings.Contains(ls[0], want) {
		t.Fatalf("silent lines %q, want one with %q", ls, want)
	}
	eventually(t, 10*time.Second, "a table with WS02 SILENT", func() bool {
		return cell(lastTable(out.String()), "WS02.corp", 14) == "SILENT"
	})
	if rows := lastTable(out.String()); cell(rows, "WS01.corp", 14) != "ok" || cell(rows, "DC01", 14) != "ok" {
		t.Errorf("healthy hosts %q %q", rows["WS01.corp"], rows["DC01"])
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ls := silentLines(out.String()); len(ls) != 1 {
		t.Errorf("silent lines after the end %q", ls)
	}
}

// TestFleetWatchOnce: with Once, WatchFleet returns ErrSilent when a
// sensor stops during the window or an expected one is never heard, and
// nil when all are heard.
func TestFleetWatchOnce(t *testing.T) {
	s := startServer(t, natsserver.Config{})
	const period = 100 * time.Millisecond
	ps := startSensors(t, s.URL(), period, nil, "a1", "a2")
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
