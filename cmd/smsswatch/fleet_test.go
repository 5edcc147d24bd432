package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/smsswatch/smsswatch/stream"
	"github.com/smsswatch/smsswatch/stream/natsserver"
)

// fleetPeriod is the test sensors' heartbeat period (above the CLI's
// 100 ms minimum, so that a loaded machine does not make a healthy
// sensor miss 3 heartbeats).
const fleetPeriod = 200 * time.Millisecond

// startSensor starts a real sensor Publisher heartbeating every
// fleetPeriod; it is closed at the end of the test unless stop is called.
func startSensor(t *testing.T, url, host string) (stop func()) {
	t.Helper()
	p, err := stream.NewPublisher(stream.Config{Conn: stream.ConnConfig{URL: url}, Logger: zerolog.Nop(), Host: host,
		Version: "9.9.9", Heartbeat: fleetPeriod})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := p.Close(ctx); err != nil {
			t.Errorf("close %s: %v", host, err)
		}
	}
	t.Cleanup(stop)
	return stop
}

// fleetListening reports whether a subscriber of every heartbeat (the
// fleet's PREFIX.heartbeat.*) is in place on srv.
func fleetListening(t *testing.T, srv *natsserver.Server) bool {
	t.Helper()
	sz, err := srv.NATSServer().Subsz(&server.SubszOptions{Subscriptions: true, Test: "smsswatch.heartbeat.probe"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sz.Subs {
		if s.Subject == "smsswatch.heartbeat.*" {
			return true
		}
	}
	return false
}

// waitFor polls cond until it holds (or fails the test after 10 s).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// fleetRow returns the fields of host's row in a fleet table.
func fleetRow(out, host string) []string {
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 15 && f[0] == host {
			return f
		}
	}
	return nil
}

// TestFleetOnce runs `smsswatch fleet --once` against a real in-process
// server with real sensors: exit 0 when every host is heard, 1 when an
// expected host never is or a sensor stops during the window.
func TestFleetOnce(t *testing.T) {
	srv, err := natsserver.Start(natsserver.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	startSensor(t, srv.URL(), "WS01")
	startSensor(t, srv.URL(), "WS02")
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()

	cases := []struct {
		name   string
		args   []string
		stops  string // a sensor started for the case and stopped once the fleet heard it
		code   int
		silent []string // hosts with a sensor.silent line
		ok     []string // hosts whose row says ok
	}{
		{"all heard", []string{"--once", "1s", "--expect", "WS01,WS02"}, "", exitOK, nil, []string{"WS01", "WS02"}},
		{"expected host never heard", []string{"--once", "1s", "--expect", "WS01, GHOST.corp"}, "", exitViolations,
			[]string{"GHOST.corp"}, []string{"WS01", "WS02"}},
		{"a sensor stops", []string{"--once", "2s"}, "WS03", exitViolations, []string{"WS03"}, []string{"WS01", "WS02"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errb lockedBuffer
			args := append([]string{"fleet", "--nats", srv.URL(), "--heartbeat", fleetPeriod.String()}, c.args...)
			var stop func()
			var beats *nats.Subscription
			if c.stops != "" {
				stop = startSensor(t, srv.URL(), c.stops)
				if beats, err = nc.SubscribeSync(stream.HeartbeatSubject(stream.DefaultSubjectPrefix, c.stops)); err != nil {
					t.Fatal(err)
				}
				defer beats.Unsubscribe()
				if err := nc.Flush(); err != nil {
					t.Fatal(err)
				}
			}
			code := make(chan int, 1)
			go func() { code <- dispatch(context.Background(), args, stdio{out: &out, err: &errb}) }()
			if stop != nil {
				// A heartbeat routed once the fleet listens reaches it: after
				// the round trip, what this subscriber gets next was routed
				// after the fleet's subscription was seen. Then the sensor
				// stops.
				waitFor(t, "the fleet's subscription", func() bool { return fleetListening(t, srv) })
				if err := nc.Flush(); err != nil {
					t.Fatal(err)
				}
				for {
					if _, err := beats.NextMsg(time.Millisecond); err != nil {
						break // drained what came before
					}
				}
				if _, err := beats.NextMsg(5 * time.Second); err != nil {
					t.Fatalf("no heartbeat of %s: %v", c.stops, err)
				}
				stop()
			}
			got := <-code
			o := out.String()
			if got != c.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", got, c.code, o, errb.String())
			}
			var silent []string
			for _, l := range strings.Split(o, "\n") {
				if _, rest, ok := strings.Cut(l, " sensor.silent host=\""); ok {
					h, _, _ := strings.Cut(rest, "\"")
					silent = append(silent, h)
				}
			}
			if strings.Join(silent, ",") != strings.Join(c.silent, ",") {
				t.Errorf("silent %q, want %q\n%s", silent, c.silent, o)
			}
			for _, h := range c.silent {
				if f := fleetRow(o, h); f == nil || f[14] != "SILENT" {
					t.Errorf("row of %s: %q\n%s", h, f, o)
				}
			}
			for _, h := range c.ok {
				if f := fleetRow(o, h); f == nil || f[14] != "ok" || f[1] != "9.9.9" {
					t.Errorf("row of %s: %q\n%s", h, f, o)
				}
			}
			if (c.code == exitViolations) != strings.Contains(errb.String(), "silent sensor") {
				t.Errorf("stderr %q", errb.String())
			}
		})
	}
}

// TestFleetInterrupted: a --once check interrupted (Ctrl-C, service stop)
// before its end judged nothing: exit 2, not 0.
func TestFleetInterrupted(t *testing.T) {
	srv, err := natsserver.Start(natsserver.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	startSensor(t, srv.URL(), "WS01")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb lockedBuffer
	code := make(chan int, 1)
	go func() {
		code <- dispatch(ctx, []string{"fleet", "--nats", srv.URL(), "--once", "1m"}, stdio{out: &out, err: &errb})
	}()
	waitFor(t, "the fleet's subscription", func() bool { return fleetListening(t, srv) })
	cancel()
	if got := <-code; got != exitError || !strings.Contains(errb.String(), "interrupted") {
		t.Fatalf("exit %d, want %d\n%s", got, exitError, errb.String())
	}
}

// TestFleetFlags: bad flags and an unreachable server exit 2 with a
// message; --help exits 0.
func TestFleetFlags(t *testing.T) {
	cases := []struct {
		name string
		args []string
		code int
		want string // in stderr
	}{
		{"help", []string{"--help"}, exitOK, "--expect"},
		{"unknown flag", []string{"--bogus"}, exitError, "bogus"},
		{"argument", []string{"WS01"}, exitError, `unexpected argument "WS01"`},
		{"no heartbeat period", []string{"--heartbeat", "0"}, exitError, "--heartbeat must be a positive period"},
		{"heartbeat below the minimum", []string{"--heartbeat", "50ms"}, exitError, "below the minimum"},
		{"negative refresh", []string{"--refresh", "-1s"}, exitError, "--refresh"},
		{"negative once", []string{"--once", "-1s"}, exitError, "--once"},
		{"bad duration", []string{"--once", "soon"}, exitError, "--once"},
		{"server's own prefix", []string{"--subject-prefix", "$SYS"}, exitError, "--subject-prefix"},
		{"no server", []string{"--nats", "nats://127.0.0.1:1", "--once", "1s"}, exitError, "smsswatch fleet:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			got := dispatch(context.Background(), append([]string{"fleet"}, c.args...), stdio{out: &out, err: &errb})
			if got != c.code || !strings.Contains(errb.String(), c.want) {
				t.Fatalf("exit %d, want %d; stderr %q lacks %q", got, c.code, errb.String(), c.want)
			}
		})
	}
}
