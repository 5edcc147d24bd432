package live

import (
	"sync/atomic"
	"time"
)

// liveClock is the live sensor's "now" for deadlines, reorder release and
// the dates of what it makes itself (snapshots, registry events): the
// time base of the events, carried forward by monotonic time, never the
// wall clock once it is running.
//
// ETW stamps events with QPC converted at session start, so within one
// session event times do not move when the wall clock is stepped. The
// clock is now = mono + offset: offset starts as the wall clock at
// start-up minus the monotonic reading, and every event dated t that was
// taken at monotonic m raises it to t - m when that is ahead ("event time
// plus monotonic time since arrival", the latest such estimate). It never
// goes back within a session: an event delivered late (another CPU's
// buffer) is simply older than now. With no events it runs on the
// monotonic clock alone, so a wall-clock step forward neither moves
// deadlines (no false smss.persistent_child) nor, stepped back, holds
// them (no held alerts).
//
// A new session may come with a new time base (the wall clock was stepped
// between two sessions): after rebase the next event re-anchors the clock
// in either direction, and a move of more than clockStepMin is counted as
// a step. Only the consumer goroutine calls observe, note and flush; rebase
// and Now may be called from any goroutine (one atomic each).
type liveClock struct {
	mono   func() int64
	offset atomic.Int64
	// cur is the consumer's offset: note moves it, flush publishes it to
	// offset (an atomic store is a full fence on amd64: once per run of
	// events, not per event). dirty says it has moved since.
	cur   int64
	dirty bool
	// resync is set by rebase: the next observation re-anchors.
	resync atomic.Bool
	steps  atomic.Uint64
}

// clockStepMin is how far an event may be from the clock before the
// difference counts as a step of the time base rather than delivery
// latency or a flush period.
const clockStepMin = int64(time.Minute)

// newLiveClock returns a clock reading wall (Unix ns) at monotonic reading
// mono().
func newLiveClock(wall int64, mono func() int64) *liveClock {
	k := &liveClock{mono: mono}
	k.cur = wall - mono()
	k.offset.Store(k.cur)
	return k
}

// newRealLiveClock returns a clock anchored on the wall clock now and run
// by Go's monotonic clock.
func newRealLiveClock() *liveClock {
	start := time.Now()
	return newLiveClock(start.UnixNano(), func() int64 { return int64(time.Since(start)) })
}

// Now returns the clock's time (Unix ns).
func (k *liveClock) Now() int64 { return k.mono() + k.offset.Load() }

// observe takes an event dated t that was taken from the queue at
// monotonic reading m. It returns by how much the clock moved when that
// was a step (more than clockStepMin, or any move after rebase that
// exceeds it; positive forward), else 0. It is note then flush.
func (k *liveClock) observe(t, m int64) int64 {
	d := k.note(t, m)
	k.flush()
	return d
}

// note is observe without publishing the move: Now does not show it until
// flush. The consumer notes a run of events, then flushes once.
func (k *liveClock) note(t, m int64) int64 {
	if t <= 0 {
		return 0 // undated
	}
	off := k.cur
	want := t - m
	if k.resync.Load() {
		k.resync.Store(false)
		if want == off {
			return 0
		}
		k.cur, k.dirty = want, true
		if d := want - off; d > clockStepMin || d < -clockStepMin {
			k.steps.Add(1)
			return d
		}
		return 0
	}
	if want <= off {
		return 0
	}
	k.cur, k.dirty = want, true
	if d := want - off; d > clockStepMin {
		k.steps.Add(1)
		return d
	}
	return 0
}

// ahead reports whether note may move the clock for an event dated t taken
// at m: it is ahead of the clock, or the first after rebase. When not,
// note would return 0 and change nothing, so the consumer skips the call.
func (k *liveClock) ahead(t, m int64) bool { return t-m > k.cur || k.resync.Load() }

// flush publishes what note moved.
func (k *liveClock) flush() {
	if k.dirty {
		k.offset.Store(k.cur)
		k.dirty = false
	}
}

// rebase says that a new session (perhaps with a new time base) starts:
// its first event re-anchors the clock.
func (k *liveClock) rebase() { k.resync.Store(true) }
