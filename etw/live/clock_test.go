package live

import (
	"testing"
	"time"
)

// TestLiveClock drives the clock through table scenarios: each step moves
// the monotonic reading, optionally observes an event or rebases, and
// checks Now.
func TestLiveClock(t *testing.T) {
	const (
		wall = int64(1_700_000_000_000_000_000)
		s    = int64(time.Second)
	)
	type step struct {
		mono    int64 // monotonic reading (ns since start)
		rebase  bool
		event   int64 // event time observed at mono (0: none)
		wantNow int64
		step    int64 // observe's return
	}
	cases := []struct {
		name  string
		steps []step
		want  uint64 // steps counted
	}{
		{"no events: runs on monotonic time", []step{
			{mono: 0, wantNow: wall},
			{mono: 90 * s, wantNow: wall + 90*s},
			{mono: 3600 * s, wantNow: wall + 3600*s},
		}, 0},
		{"events ahead of the start anchor pull it forward", []step{
			{mono: s, event: wall + 3*s, wantNow: wall + 3*s},
			{mono: 2 * s, wantNow: wall + 4*s},
		}, 0},
		{"late events never move it back", []step{
			{mono: s, event: wall + s, wantNow: wall + s},
			{mono: 2 * s, event: wall + s/2, wantNow: wall + 2*s},
			{mono: 3 * s, event: wall + 2*s, wantNow: wall + 3*s},
		}, 0},
		{"wall clock stepped forward an hour: no effect (never read)", []step{
			{mono: s, event: wall + s, wantNow: wall + s},
			// ETW stamps by QPC within the session: events keep their base.
			{mono: 40 * s, event: wall + 39*s, wantNow: wall + 40*s},
		}, 0},
		{"wall clock stepped back an hour: no effect", []step{
			{mono: s, event: wall + s, wantNow: wall + s},
			{mono: 20 * s, wantNow: wall + 20*s},
		}, 0},
		{"within a session the event base jumps forward: followed, counted", []step{
			{mono: s, event: wall + s, wantNow: wall + s},
			{mono: 2 * s, event: wall + 2*s + 3600*s, wantNow: wall + 2*s + 3600*s, step: 3600 * s},
		}, 1},
		{"new session with a base an hour back: rebase follows it back", []step{
			{mono: s, event: wall + s, wantNow: wall + s},
			{mono: 5 * s, rebase: true, wantNow: wall + 5*s},
			{mono: 6 * s, event: wall + 6*s - 3600*s, wantNow: wall + 6*s - 3600*s, step: -3600 * s},
			{mono: 7 * s, wantNow: wall + 7*s - 3600*s},
		}, 1},
		{"rebase with the same base: small move, no step", []step{
			{mono: s, event: wall + s, wantNow: wall + s},
			{mono: 5 * s, rebase: true},
			{mono: 6 * s, event: wall + 6*s - s/10, wantNow: wall + 6*s - s/10},
		}, 0},
		{"undated events are ignored", []step{
			{mono: s, event: -1, wantNow: wall + s},
		}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var mono int64
			k := newLiveClock(wall, func() int64 { return mono })
			for i, st := range c.steps {
				mono = st.mono
				if st.rebase {
					k.rebase()
				}
				if st.event != 0 {
					ev := st.event
					if ev < 0 {
						ev = 0
					}
					if got := k.observe(ev, mono); got != st.step {
						t.Errorf("step %d: observe returned %v, want %v", i, time.Duration(got), time.Duration(st.step))
					}
				}
				if st.wantNow != 0 {
					if got := k.Now(); got != st.wantNow {
						t.Errorf("step %d: Now %d, want %d (off by %v)", i, got, st.wantNow, time.Duration(got-st.wantNow))
					}
				}
			}
			if got := k.steps.Load(); got != c.want {
				t.Errorf("%d steps counted, want %d", got, c.want)
			}
		})
	}
}

// TestLiveClockStepBackReleasesHeld: after a backward step of the event
// base, what the reorder buffer holds (dated in the old base) is released
// at once rather than waiting an hour.
func TestLiveClockStepBackReleasesHeld(t *testing.T) {
	c, clock := testCore(t, Config{AdvanceEvery: 10 * time.Millisecond}, nil)
	h := &recHandler{}
	stop := runCore(c, h)
	defer stop()
	c.send(t.Context(), liveNote{kind: noteSnapshot, snap: &Snapshot{Time: bootNS}})
	now := clock.Load()
	// Held: dated ahead of the clock (not yet older than the lag).
	ahead := startEv(900, 4, now+3600*sec, `C:\x.exe`)
	c.push(&ahead)
	waitFor(t, "clock follows the event", func() bool { return c.now() >= now+3600*sec })
	c.clock.rebase()
	back := startEv(901, 4, now-2*sec, `C:\y.exe`)
	c.push(&back)
	waitFor(t, "both released", func() bool { return c.stats().Handled >= 2 })
	if c.stats().ClockSteps != 2 {
		t.Errorf("clock steps %d, want 2 (forward, then back)", c.stats().ClockSteps)
	}
}
