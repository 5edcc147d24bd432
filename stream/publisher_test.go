package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/smsswatch/smsswatch/detect"
	"github.com/smsswatch/smsswatch/stream/natsserver"
)

// TestSubjectsAndWildcards: alerts land on prefix.violations.<host>.<rule>
// and the documented wildcards select them.
func TestSubjectsAndWildcards(t *testing.T) {
	s := startServer(t, natsserver.Config{})
	nc, err := nats.Connect(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	all := collect(t, nc, "smsswatch.violations.>")
	oneHost := collect(t, nc, "smsswatch.violations.ws01_corp.>")
	oneRule := collect(t, nc, "smsswatch.violations.*.smss.image_path")
	p := newPublisher(t, Config{Conn: ConnConfig{URL: s.URL()}, Logger: testLog(t), Heartbeat: -1})
	hosts := []string{"WS01.corp", "evil host*>\x1b", ""}
	rules := []detect.Rule{detect.RuleImagePath, detect.RuleParent}
	n := 0
	for _, h := range hosts {
		for _, r := range rules {
			v := violation(n)
			v.Host, v.Rule = h, r
			p.Violation(v)
			n++
		}
	}
	eventually(t, 5*time.Second, "all alerts", func() bool { return all.distinct() == n })
	eventually(t, 5*time.Second, "host alerts", func() bool { return oneHost.distinct() == 2 })
	eventually(t, 5*time.Second, "rule alerts", func() bool { return oneRule.distinct() == 3 })
	want := map[string]bool{
		"smsswatch.violations.ws01_corp.smss.image_path":    true,
		"smsswatch.violations.ws01_corp.smss.parent":        true,
		"smsswatch.violations.evil_host___.smss.image_path": true,
		"smsswatch.violations.evil_host___.smss.parent":     true,
		"smsswatch.violations.unknown.smss.image_path":      true,
		"smsswatch.violations.unknown.smss.parent":          true,
	}
	all.mu.Lock()
	for _, m := range all.msgs {
		if !want[m.Subject] {
			t.Errorf("unexpected subject %q", m.Subject)
		}
		var doc map[string]any
		if err := json.Unmarshal(m.Data, &doc); err != nil {
			t.Errorf("payload: %v", err)
		}
	}
	all.mu.Unlock()
	closePublisher(t, p, 5*time.Second)
}

func TestSanitizeHost(t *testing.T) {
	for in, want := range map[string]string{
		"":                 "unknown",
		"WS01":             "ws01",
		"ws01.corp.local":  "ws01_corp_local",
		"a*b>c d\te\x00f":  "a_b_c_d_e_f",
		"é-x_y":            "_-x_y",
		"\xff\xfe":         "__",
		"Host-With-Dashes": "host-with-dashes",
	} {
		if got := SanitizeHost(in); got != want {
			t.Errorf("SanitizeHost(%q) = %q, want %q", in, got, want)
		}
	}
	long := SanitizeHost(string(make([]byte, 5000)))
	if len(long) != maxHostToken || long != SanitizeHost(string(make([]byte, 5000))) {
		t.Errorf("long host token %q (%d bytes)", long, len(long))
	}
	if SanitizeHost(string(make([]byte, 5000))) == SanitizeHost(string(make([]byte, 5001))) {
		t.Errorf("long hosts collide")
	}
	if got := FilterSubject("smsswatch", "", "smss.image_path"); got != "smsswatch.violations.*.smss.image_path" {
		t.Errorf("rule filter %q", got)
	}
	if got := FilterSubject("smsswatch", "WS01", ""); got != "smsswatch.violations.ws01.>" {
		t.Errorf("host filter %q", got)
	}
	for _, bad := range []string{"", "a..b", "a.*", "a b", "x.>"} {
		if ValidatePrefix(bad) == nil {
			t.Errorf("prefix %q accepted", bad)
		}
	}
}

// TestCoreDeliveryAndHeartbeat: core NATS delivery carries the dedupe key
// header; heartbeats carry the caller's counters and the publisher's.
func TestCoreDeliveryAndHeartbeat(t *testing.T) {
	s := startServer(t, natsserver.Config{})
	nc, err := nats.Connect(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	alerts := collect(t, nc, "smsswatch.violations.>")
	beats := collect(t, nc, "smsswatch.heartbeat.>")
	p := newPublisher(t, Config{
		Conn: ConnConfig{URL: s.URL()}, Logger: testLog(t), Host: "Sensor.One", Version: "1.2.3",
		Heartbeat: 50 * time.Millisecond,
		Counters: func() Counters {
			return Counters{Events: 1000, Violations: 7, Drops: 3, LostEvents: 2, QueueDepth: 5,
				ClockSteps: 4, CanaryMissed: 6, ExitsLost: 8}
		},
	})
	const n = 500
	for i := 0; i < n; i++ {
		p.Violation(violation(i))
	}
	eventually(t, 10*time.Second, "all alerts", func() bool { return alerts.distinct() == n })
	eventually(t, 5*time.Second, "published count", func() bool { return p.Stats().Published == n })
	for i := 0; i < n; i++ {
		if alerts.ids[fmt.Sprintf("%016x", i+1)] == 0 {
			t.Fatalf("id of violation %d missing", i)
		}
	}
	eventually(t, 5*time.Second, "a heartbeat", func() bool { return beats.count() > 0 })
	beats.mu.Lock()
	m := beats.msgs[len(beats.msgs)-1]
	beats.mu.Unlock()
	if m.Subject != "smsswatch.heartbeat.sensor_one" {
		t.Errorf("heartbeat subject %q", m.Subject)
	}
	var hb struct {
		Host      struct{ Name string }
		Smsswatch map[string]any
	}
	if err := json.Unmarshal(m.Data, &hb); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{
		"events": 1000.0, "violations": 7.0, "drops": 3.0, "lost_events": 2.0, "queue_depth": 5.0,
		"clock_steps": 4.0, "canary_missed": 6.0, "exits_lost": 8.0,
		"version": "1.2.3", "spool_depth": 0.0, "spool_dropped": 0.0, "publish_drops": 0.0,
	} {
		if got := hb.Smsswatch[k]; got != want {
			t.Errorf("heartbeat %s = %v, want %v", k, got, want)
		}
	}
	if _, ok := hb.Smsswatch["uptime_s"]; !ok || hb.Host.Name != "Sensor.One" {
		t.Errorf("heartbeat %s", m.Data)
	}
	closePublisher(t, p, 5*time.Second)
}

// TestJetStreamBrokerRestart: the server stops and comes back (same port
// and store) while violations are being published: every one arrives,
// none twice.
func TestJetStreamBrokerRestart(t *testing.T) {
	port := freePort(t)
	store := t.TempDir()
	srv := startServer(t, natsserver.Config{Port: port, JetStream: true, StoreDir: store})
	p := newPublisher(t, Config{
		Conn: ConnConfig{URL: srv.URL()}, Logger: testLog(t), JetStream: true,
		SpoolDir: t.TempDir(), Heartbeat: -1, AckTimeout: 2 * time.Second,
	})
	const n = 4000
	var sent atomic.Int64
	done := make(chan struct{})
	go func() { // the engine: a steady stream of violations
		defer close(done)
		for i := 0; i < n; i++ {
			p.Violation(violation(i))
			sent.Add(1)
			if i%20 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	eventually(t, 10*time.Second, "a quarter published", func() bool { return p.Stats().Published >= n/4 })
	srv.Shutdown()
	down := sent.Load()
	time.Sleep(100 * time.Millisecond) // the engine goes on meanwhile
	srv = startServer(t, natsserver.Config{Port: port, JetStream: true, StoreDir: store})
	t.Logf("server down from violation %d to %d", down, sent.Load())
	<-done
	eventually(t, 30*time.Second, "all acknowledged", func() bool {
		st := p.Stats()
		return st.Published >= n && st.SpoolDepth == 0 && st.Inflight == 0
	})
	st := p.Stats()
	if st.Dropped != 0 || st.SpoolDropped != 0 {
		t.Errorf("stats %+v", st)
	}
	t.Logf("stats after restart: %+v", st)
	closePublisher(t, p, 5*time.Second)
	checkAll(t, readStream(t, srv.URL(), DefaultStream, n), n, false)
}

// TestSpoolSurvivesSensorRestart: violations published while the server is
// down are spooled on disk; a new publisher on the same directory sends
// them, in order, once the server is up.
func TestSpoolSurvivesSensorRestart(t *testing.T) {
	port := freePort(t)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	dir := t.TempDir()
	cfg := Config{Conn: ConnConfig{URL: url}, Logger: testLog(t), JetStream: true, SpoolDir: dir, Heartbeat: -1}
	p1 := newPublisher(t, cfg)
	const n = 1000
	for i := 0; i < n/2; i++ {
		p1.Violation(violation(i))
	}
	eventually(t, 5*time.Second, "spooled", func() bool { return p1.Stats().SpoolDepth == n/2 })
	closePublisher(t, p1, 5*time.Second)

	p2 := newPublisher(t, cfg)
	if d := p2.Stats().SpoolDepth; d != 0 && d != n/2 {
		t.Logf("spool depth at start %d", d)
	}
	for i := n / 2; i < n; i++ {
		p2.Violation(violation(i))
	}
	srv := startServer(t, natsserver.Config{Port: port, JetStream: true})
	eventually(t, 30*time.Second, "spool drained", func() bool {
		st := p2.Stats()
		return st.Published >= n && st.SpoolDepth == 0 && st.Inflight == 0
	})
	closePublisher(t, p2, 5*time.Second)
	checkAll(t, readStream(t, srv.URL(), DefaultStream, n), n, true)
}

// TestCoreReconnectDeliversSpool: with core NATS, what is published while
// the server is down reaches the server once it is back (checked on the
// server's own message count: core NATS gives subscribers no history).
func TestCoreReconnectDeliversSpool(t *testing.T) {
	port := freePort(t)
	srv := startServer(t, natsserver.Config{Port: port})
	p := newPublisher(t, Config{Conn: ConnConfig{URL: srv.URL()}, Logger: testLog(t), Heartbeat: -1})
	srv.Shutdown()
	eventually(t, 5*time.Second, "publisher sees the disconnect", func() bool { return !p.Stats().Connected })
	const n = 200
	for i := 0; i < n; i++ {
		p.Violation(violation(i))
	}
	eventually(t, 5*time.Second, "spooled", func() bool { return p.Stats().SpoolDepth == n })
	srv = startServer(t, natsserver.Config{Port: port})
	eventually(t, 10*time.Second, "spool delivered", func() bool {
		st := p.Stats()
		return st.SpoolDepth == 0 && st.Inflight == 0 && st.Published == n
	})
	vz, err := srv.NATSServer().Varz(nil)
	if err != nil {
		t.Fatal(err)
	}
	if vz.InMsgs < n {
		t.Fatalf("server received %d messages, want %d", vz.InMsgs, n)
	}
	closePublisher(t, p, 5*time.Second)
}

// TestViolationNeverBlocks: with a tiny queue, a flood is dropped and
// counted, never blocking the engine.
func TestViolationNeverBlocks(t *testing.T) {
	p := newPublisher(t, Config{
		Conn: ConnConfig{URL: fmt.Sprintf("nats://127.0.0.1:%d", freePort(t))}, Logger: testLog(t),
		QueueSize: 8, Heartbeat: -1, SpoolMaxBytes: 64 << 10,
	})
	const n = 20000
	v := violation(1)
	start := time.Now()
	var wg sync.WaitGroup
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n/2; i++ {
				p.Violation(v)
			}
		}()
	}
	wg.Wait()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("%d calls took %v", n, d)
	}
	// The loop may hold a batch it took off the queue and has not yet
	// spooled, so wait for the accounting to settle rather than for the
	// queue to empty.
	eventually(t, 5*time.Second, "every violation accounted for", func() bool {
		st := p.Stats()
		return st.QueueDepth == 0 && uint64(st.SpoolDepth)+st.SpoolDropped+st.Dropped == n
	})
	st := p.Stats()
	if st.Violations != n {
		t.Errorf("violations %d", st.Violations)
	}
	if uint64(st.SpoolDepth)+st.SpoolDropped+st.Dropped != n {
		t.Errorf("spooled %d + spool dropped %d + dropped %d != %d", st.SpoolDepth, st.SpoolDropped, st.Dropped, n)
	}
	if st.SpoolBytes > 64<<10 {
		t.Errorf("memory backlog %d bytes over its limit", st.SpoolBytes)
	}
	err := p.Close(context.Background())
	if !errors.Is(err, ErrUndelivered) {
		t.Errorf("Close without spool and server: %v, want ErrUndelivered", err)
	}
	p.Violation(v) // after Close: dropped, no panic
	if err := p.Close(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
}

// TestSlowConsumer: a subscriber that cannot keep up is the server's
// problem, not the engine's: the publisher publishes everything and the
// durable JetStream consumer used by tail gets every alert in the end.
func TestSlowConsumer(t *testing.T) {
	srv := startServer(t, natsserver.Config{JetStream: true})
	nc, err := nats.Connect(srv.URL(), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var slowGot int
	var mu sync.Mutex
	sub, err := nc.Subscribe("smsswatch.violations.>", func(*nats.Msg) {
		time.Sleep(2 * time.Millisecond)
		mu.Lock()
		slowGot++
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = sub.SetPendingLimits(10, 1<<20) // overflows: a slow consumer
	p := newPublisher(t, Config{Conn: ConnConfig{URL: srv.URL()}, Logger: testLog(t), JetStream: true, Heartbeat: -1})
	const n = 2000
	start := time.Now()
	for i := 0; i < n; i++ {
		p.Violation(violation(i))
	}
	engine := time.Since(start)
	eventually(t, 20*time.Second, "all acknowledged", func() bool { return p.Stats().Published == n })
	if d, _ := sub.Dropped(); d == 0 {
		t.Logf("slow subscriber dropped nothing (got %d)", slowGot)
	}
	if st := p.Stats(); st.Dropped != 0 || st.Retries != 0 {
		t.Errorf("publisher hurt by a slow consumer: %+v", st)
	}
	t.Logf("engine side: %d violations in %v", n, engine)

	// A slow durable consumer still sees everything.
	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Tail(ctx, TailConfig{Conn: ConnConfig{URL: srv.URL()}, Durable: "slow", DeliverAll: true, JSON: true}, slowWriter{&out})
	}()
	eventually(t, 30*time.Second, "durable consumer caught up", func() bool { return out.lines() == n })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	closePublisher(t, p, 5*time.Second)
}

// slowWriter slows every write down a little.
type slowWriter struct{ w *syncBuffer }

func (s slowWriter) Write(b []byte) (int, error) {
	time.Sleep(100 * time.Microsecond)
	return s.w.Write(b)
}

// TestSpoolFullDropsOldest: while NATS is down a full spool drops its
// oldest violations; the drop is counted in Stats and in the heartbeat,
// and the newest violations arrive, in order, once NATS is back.
func TestSpoolFullDropsOldest(t *testing.T) {
	port := freePort(t)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	p := newPublisher(t, Config{
		Conn: ConnConfig{URL: url}, Logger: testLog(t), JetStream: true, SpoolDir: t.TempDir(),
		SpoolMaxBytes: 256 << 10, Heartbeat: 50 * time.Millisecond,
	})
	const n = 2000 // ~2.6 MB of alerts into 256 KiB
	for i := 0; i < n; i++ {
		p.Violation(violation(i))
		if i%256 == 0 {
			eventually(t, 5*time.Second, "queue drained", func() bool { return p.Stats().QueueDepth == 0 })
		}
	}
	eventually(t, 5*time.Second, "all spooled or dropped", func() bool {
		st := p.Stats()
		return uint64(st.SpoolDepth)+st.SpoolDropped == n
	})
	st := p.Stats()
	if st.SpoolDropped == 0 || st.SpoolBytes > 256<<10 || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
	kept := int(st.SpoolDepth)
	srv := startServer(t, natsserver.Config{Port: port, JetStream: true})
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	beats := collect(t, nc, "smsswatch.heartbeat.>")
	eventually(t, 20*time.Second, "spool drained", func() bool {
		st := p.Stats()
		return st.SpoolDepth == 0 && st.Inflight == 0 && st.Published == uint64(kept)
	})
	eventually(t, 5*time.Second, "a heartbeat", func() bool { return beats.count() > 0 })
	beats.mu.Lock()
	var hb struct{ Smsswatch map[string]any }
	_ = json.Unmarshal(beats.msgs[0].Data, &hb)
	beats.mu.Unlock()
	if got := hb.Smsswatch["spool_dropped"]; got != float64(n-kept) {
		t.Errorf("heartbeat spool_dropped = %v, want %d", got, n-kept)
	}
	closePublisher(t, p, 5*time.Second)
	msgs := readStream(t, srv.URL(), DefaultStream, kept)
	if len(msgs) != kept {
		t.Fatalf("%d stored, want %d", len(msgs), kept)
	}
	for i, m := range msgs { // the newest survive, in order
		if want := fmt.Sprintf("%016x", uint64(n-kept+i)+1); m.id != want {
			t.Fatalf("message %d id %s, want %s", i, m.id, want)
		}
	}
}

// TestViolationDoesNotAllocate: the engine's call copies the violation
// (its Spawned list too) into a queue slot and hands it off without
// allocating, and the publishing goroutine encodes and spools it to disk
// without allocating either (AllocsPerRun counts the whole process).
func TestViolationDoesNotAllocate(t *testing.T) {
	if testing.Short() {
		t.Skip()
	}
	p := newPublisher(t, Config{
		Conn: ConnConfig{URL: fmt.Sprintf("nats://127.0.0.1:%d", freePort(t))}, Logger: testLog(t),
		SpoolDir: t.TempDir(), Heartbeat: -1, QueueSize: 64,
	})
	defer closePublisher(t, p, time.Second)
	v := violation(1)
	for i := 0; i < 200; i++ { // warm up: slots, spool files
		p.Violation(v)
	}
	eventually(t, 5*time.Second, "warm-up spooled", func() bool { return p.Stats().QueueDepth == 0 })
	allocs := testing.AllocsPerRun(2000, func() {
		waitFree(p)
		p.Violation(v)
	})
	if allocs >= 0.5 {
		t.Errorf("%.2f allocations per Violation", allocs)
	}
}

// TestSlotOwnsItsCopy: a queue slot's copy of a violation does not share
// the engine's arrays (the engine may reuse them once its call returns),
// and once a slot has its arrays, taking another violation does not
// allocate.
func TestSlotOwnsItsCopy(t *testing.T) {
	cases := []struct {
		name            string
		spawned, folded int
	}{
		{"no lists", 0, 0},
		{"spawned", 2, 0},
		{"folded", 0, 3},
		{"both, beyond the initial sizes", minSpawned + 1, minFolded + 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := violation(1)
			v.Evidence.Spawned = make([]string, c.spawned)
			for i := range v.Evidence.Spawned {
				v.Evidence.Spawned[i] = fmt.Sprintf("child%d.exe", i)
			}
			v.Evidence.Folded = make([]detect.FoldedValue, c.folded)
			for i := range v.Evidence.Folded {
				v.Evidence.Folded[i] = detect.FoldedValue{Image: fmt.Sprintf("img%d", i), Count: uint32(i + 1)}
			}
			want := *v
			want.Evidence.Spawned = append([]string(nil), v.Evidence.Spawned...)
			want.Evidence.Folded = append([]detect.FoldedValue(nil), v.Evidence.Folded...)
			var it item
			it.take(v)
			// The engine reuses everything it handed over.
			for i := range v.Evidence.Spawned {
				v.Evidence.Spawned[i] = "reused"
			}
			for i := range v.Evidence.Folded {
				v.Evidence.Folded[i] = detect.FoldedValue{Image: "reused"}
			}
			*v = detect.Violation{}
			got := &it.v
			if got.DedupeKey != want.DedupeKey || got.Message != want.Message || got.Process != want.Process {
				t.Fatalf("copy %+v, want %+v", *got, want)
			}
			if len(got.Evidence.Spawned) != c.spawned || len(got.Evidence.Folded) != c.folded {
				t.Fatalf("copy has %d spawned, %d folded; want %d, %d", len(got.Evidence.Spawned), len(got.Evidence.Folded), c.spawned, c.folded)
			}
			for i, s := range got.Evidence.Spawned {
				if s != want.Evidence.Spawned[i] {
					t.Errorf("spawned[%d] = %q, want %q", i, s, want.Evidence.Spawned[i])
				}
			}
			for i, f := range got.Evidence.Folded {
				if f != want.Evidence.Folded[i] {
					t.Errorf("folded[%d] = %+v, want %+v", i, f, want.Evidence.Folded[i])
				}
			}
			if allocs := testing.AllocsPerRun(100, func() { it.take(&want) }); allocs != 0 {
				t.Errorf("%.1f allocations taking a violation into a warm slot", allocs)
			}
		})
	}
}
