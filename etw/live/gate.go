package live

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"time"
)

// This file holds the pure-Go half of the ETW session lifecycle: the gate
// that keeps at most one ProcessTrace consumer running, and the streak
// counter that turns repeated flush failures into sensor.blind. The Windows
// supervisor (sensor_windows.go) drives both; they are tested on any OS.

// errConsumerBusy is returned by consumerGate.begin while the previous
// ProcessTrace has not returned.
var errConsumerBusy = errors.New("the previous ProcessTrace has not returned")

// consumerGate admits one ProcessTrace consumer at a time. A restart calls
// waitIdle and then begin; the consumer goroutine calls the end function
// begin returned once ProcessTrace is back. States: idle -> running (begin)
// -> idle (end). begin in running fails; end is idempotent.
type consumerGate struct {
	mu      sync.Mutex
	running bool
	// idle is closed while no consumer runs, replaced by begin.
	idle chan struct{}
	// since is when the running consumer began.
	since time.Time
}

func newConsumerGate() *consumerGate {
	idle := make(chan struct{})
	close(idle)
	return &consumerGate{idle: idle}
}

// begin marks a consumer running and returns the function its goroutine
// calls when ProcessTrace returns; errConsumerBusy when one still runs.
func (g *consumerGate) begin() (end func(), err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.running {
		return nil, errConsumerBusy
	}
	g.running = true
	g.since = time.Now()
	idle := make(chan struct{})
	g.idle = idle
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			g.running = false
			close(idle)
			g.mu.Unlock()
		})
	}, nil
}

// busy reports whether a consumer runs, and since when.
func (g *consumerGate) busy() (bool, time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.running, g.since
}

// waitIdle blocks until no consumer runs (true) or ctx ends (false). While
// it waits it calls onWait every `every` with how long it has waited, so
// that the supervisor can report a ProcessTrace that does not return.
func (g *consumerGate) waitIdle(ctx context.Context, every time.Duration, onWait func(time.Duration)) bool {
	g.mu.Lock()
	idle := g.idle
	g.mu.Unlock()
	start := time.Now()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-idle:
			return true
		case <-ctx.Done():
			return false
		case <-t.C:
			if onWait != nil {
				onWait(time.Since(start))
			}
		}
	}
}

// failStreak counts consecutive failures; it says when a streak reaches its
// limit (once per streak) and when a failing streak ended.
type failStreak struct {
	limit, n int
}

// fail records a failure and reports true exactly when the streak reaches
// the limit.
func (s *failStreak) fail() bool {
	s.n++
	return s.n == s.limit
}

// ok records a success and reports whether it ended a streak that had
// reached the limit.
func (s *failStreak) ok() bool {
	reached := s.n >= s.limit
	s.n = 0
	return reached
}

// eventTraceUseMSFlushTimer is EVENT_TRACE_USE_MS_FLUSH_TIMER: the
// session's FlushTimer counts milliseconds (Windows 8 and later).
const eventTraceUseMSFlushTimer = 0x00000010

// flushTimerMS is the millisecond FlushTimer for a flush period: the period
// itself, within 10 ms..1 s; 0 (keep the 1 s timer) when explicit flushes
// are off (a negative period) or the period is 1 s or more.
func flushTimerMS(every time.Duration) uint32 {
	if every <= 0 || every >= time.Second {
		return 0
	}
	return uint32(max(every, 10*time.Millisecond) / time.Millisecond)
}

// setFlushTimerMSBuf prepares a queried EVENT_TRACE_PROPERTIES for an
// UPDATE to a millisecond FlushTimer (the log file offset is cleared: a
// real-time session has no file to switch to).
func setFlushTimerMSBuf(buf []byte, ms uint32) {
	mode := binary.LittleEndian.Uint32(buf[etpLogFileMode:])
	binary.LittleEndian.PutUint32(buf[etpLogFileMode:], mode|eventTraceUseMSFlushTimer)
	setFlushTimer(buf, ms)
}

// msFlushTimerSet reports whether a session query shows the millisecond
// flush timer at ms.
func msFlushTimerSet(st traceStats, ms uint32) bool {
	return st.logFileMode&eventTraceUseMSFlushTimer != 0 && st.flushTimer == ms
}
