package live

import (
	"strings"
	"testing"
	"time"

	"github.com/smsswatch/smsswatch/etw"
)

func TestCanaryWatch(t *testing.T) {
	const self = 4242
	child := func(pid, ppid uint32) *etw.Event {
		ev := startEv(pid, ppid, bootNS, `C:\Windows\System32\cmd.exe`)
		return &ev
	}
	type op struct {
		sent   uint32 // pid sent at `at`
		start  *etw.Event
		expire bool
		at     int64
		// expectations after the op
		missed, pending int
		evicted         bool
	}
	cases := []struct {
		name string
		ops  []op
		seen uint64
		miss uint64
	}{
		{"seen in time", []op{
			{sent: 100, at: 0, pending: 1},
			{start: child(100, self), pending: 0},
			{expire: true, at: 10 * sec, pending: 0},
		}, 1, 0},
		{"never seen: missed at the deadline, not before", []op{
			{sent: 100, at: 0, pending: 1},
			{expire: true, at: 5*sec - 1, pending: 1},
			{expire: true, at: 5 * sec, missed: 1, pending: 0},
			{expire: true, at: 6 * sec, pending: 0},
		}, 0, 1},
		{"start before the sent note (race): counted seen", []op{
			{start: child(100, self)},
			{sent: 100, at: 0, pending: 0},
			{expire: true, at: 10 * sec},
		}, 1, 0},
		{"same PID but another parent: not the canary", []op{
			{sent: 100, at: 0, pending: 1},
			{start: child(100, 8), pending: 1},
			{expire: true, at: 5 * sec, missed: 1},
		}, 0, 1},
		{"a start without parent is not the canary", []op{
			{sent: 100, at: 0, pending: 1},
			{start: func() *etw.Event { e := child(100, self); e.Known &^= etw.FieldParentPID; return e }(), pending: 1},
		}, 0, 0},
		{"another child of ours does not satisfy a probe", []op{
			{sent: 100, at: 0, pending: 1},
			{start: child(101, self), pending: 1},
			{expire: true, at: 5 * sec, missed: 1},
		}, 0, 1},
		{"every slot waiting: the oldest is given up", func() []op {
			var ops []op
			for i := 0; i < canarySlots; i++ {
				ops = append(ops, op{sent: uint32(200 + i), at: int64(i), pending: i + 1})
			}
			return append(ops, op{sent: 300, at: 100, pending: canarySlots, evicted: true})
		}(), 0, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newCanaryWatch(self, 5*time.Second)
			for i, o := range c.ops {
				switch {
				case o.sent != 0:
					if ev, _ := w.sent(o.sent, o.at); ev != o.evicted {
						t.Errorf("op %d: evicted %v", i, ev)
					}
				case o.start != nil:
					w.start(o.start)
				case o.expire:
					if n, _ := w.expire(o.at); n != o.missed {
						t.Errorf("op %d: %d missed, want %d", i, n, o.missed)
					}
				}
				if got := w.pending(); got != o.pending {
					t.Errorf("op %d: %d pending, want %d", i, got, o.pending)
				}
			}
			if w.seenN != c.seen || w.missN != c.miss {
				t.Errorf("seen %d missed %d, want %d %d", w.seenN, w.missN, c.seen, c.miss)
			}
		})
	}
}

// TestLiveCanary runs the canary through the consumer: a probe whose start
// arrives raises nothing; one whose start never comes raises sensor.blind
// once its timeout has passed on the sensor's clock.
func TestLiveCanary(t *testing.T) {
	c, clock := testCore(t, Config{AdvanceEvery: 10 * time.Millisecond}, nil)
	c.canary = newCanaryWatch(4242, 5*time.Second)
	h := &recHandler{}
	stop := runCore(c, h)
	defer stop()
	ctx := t.Context()
	c.send(ctx, liveNote{kind: noteSnapshot, snap: &Snapshot{Time: bootNS}})
	now := c.now()
	c.send(ctx, liveNote{kind: noteCanary, pid: 500, since: now})
	ev := startEv(500, 4242, now, `C:\Windows\System32\cmd.exe`)
	c.push(&ev)
	c.send(ctx, liveNote{kind: noteCanary, pid: 501, since: now})
	// Notes are buffered: move the sensor's clock on while polling, so
	// the deadline passes after the consumer took the probe.
	waitFor(t, "canary blind", func() bool {
		clock.Add(sec / 2)
		_, blinds, _ := h.snapshot()
		return c.stats().CanaryMissed == 1 && len(blinds) > 0
	})
	_, blinds, _ := h.snapshot()
	if len(blinds) != 1 || !strings.Contains(blinds[0], "canary process (pid 501)") {
		t.Errorf("blinds %q", blinds)
	}
}
