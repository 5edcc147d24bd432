package stream

import (
	"testing"
	"time"

	"github.com/smsswatch/smsswatch/stream/spool"
)

// TestDeadline: the publishing goroutine arms its timer only for what is
// really due (a heartbeat, a spool sync, the end of a backoff with work
// waiting, a JetStream ack timeout or bind retry), and for nothing when it
// is idle.
func TestDeadline(t *testing.T) {
	const now = int64(time.Hour)
	queued := func(p *Publisher) {
		if err := p.back.Append(1, []byte("s"), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name  string
		js    bool
		setup func(p *Publisher)
		want  int64
	}{
		{"idle core", false, func(*Publisher) {}, 0},
		{"idle jetstream", true, func(p *Publisher) { p.conf.(*jsConfirm).bound = true }, 0},
		{"heartbeat", false, func(p *Publisher) { p.cfg.Heartbeat = time.Second; p.hbAt = now + 5 }, now + 5},
		{"spool written", false, func(p *Publisher) { p.persistent = true; p.dirty() }, now + int64(syncEvery)},
		{"memory backlog never syncs", false, func(p *Publisher) { p.dirty() }, 0},
		{"backoff, nothing waits", false, func(p *Publisher) { p.retryAt = now + 7 }, 0},
		{"backoff, spool waits", false, func(p *Publisher) { p.retryAt = now + 7; queued(p) }, now + 7},
		{"backoff, disconnected", false, func(p *Publisher) { p.retryAt = now + 7; queued(p); p.connected = false }, 0},
		{"spool read failed", false, func(p *Publisher) { p.readRetryAt = now + 3 }, now + 3},
		{"ack timeout", true, func(p *Publisher) {
			p.conf.(*jsConfirm).bound = true
			p.win.push(&item{id: 1, sent: now - 10})
		}, now - 10 + int64(DefaultAckTimeout) + 1},
		{"bind retry", true, func(p *Publisher) { p.retryAt = now + 9 }, now + 9},
		{"earliest wins", true, func(p *Publisher) {
			p.cfg.Heartbeat = time.Second
			p.hbAt = now + 50
			p.persistent = true
			p.dirty()
			p.retryAt = now + 20
		}, now + 20},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := &Publisher{cfg: Config{Heartbeat: -1, AckTimeout: DefaultAckTimeout}}
			p.back = spool.NewMemory(1 << 20)
			p.pending = newSlotRing(4, newItems(4))
			p.win = newRing(4)
			p.nowNs, p.connected = now, true
			if c.js {
				p.conf = &jsConfirm{p: p}
			} else {
				p.conf = newCoreConfirm(p)
			}
			c.setup(p)
			if got := p.deadline(); got != c.want {
				t.Errorf("deadline %d, want %d (now %d)", got, c.want, now)
			}
		})
	}
}
