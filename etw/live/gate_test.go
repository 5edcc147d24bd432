package live

import (
	"context"
	"encoding/binary"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestConsumerGateOneAtATime(t *testing.T) {
	g := newConsumerGate()
	if busy, _ := g.busy(); busy {
		t.Fatal("new gate busy")
	}
	if !g.waitIdle(context.Background(), time.Hour, nil) {
		t.Fatal("idle gate: waitIdle false")
	}
	end, err := g.begin()
	if err != nil {
		t.Fatal(err)
	}
	if busy, since := g.busy(); !busy || since.IsZero() {
		t.Fatal("begun gate not busy")
	}
	// A second consumer is refused while the first runs.
	if _, err := g.begin(); !errors.Is(err, errConsumerBusy) {
		t.Fatalf("second begin: %v", err)
	}
	// A restart waiting for the first: reported while it waits, released
	// when it ends.
	var waits atomic.Int32
	released := make(chan bool, 1)
	go func() {
		released <- g.waitIdle(context.Background(), 5*time.Millisecond, func(d time.Duration) {
			if d <= 0 {
				t.Error("non-positive wait")
			}
			waits.Add(1)
		})
	}()
	for waits.Load() < 2 {
		select {
		case <-released:
			t.Fatal("waitIdle returned while the consumer runs")
		case <-time.After(time.Millisecond):
		}
	}
	end()
	select {
	case ok := <-released:
		if !ok {
			t.Fatal("waitIdle false after end")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("waitIdle not released by end")
	}
	end() // idempotent
	if busy, _ := g.busy(); busy {
		t.Fatal("busy after end")
	}
	end2, err := g.begin()
	if err != nil {
		t.Fatalf("begin after end: %v", err)
	}
	// A stale end of the first consumer does not release the second.
	end()
	if busy, _ := g.busy(); !busy {
		t.Fatal("stale end released the second consumer")
	}
	end2()
}

func TestConsumerGateWaitCancelled(t *testing.T) {
	g := newConsumerGate()
	end, err := g.begin()
	if err != nil {
		t.Fatal(err)
	}
	defer end()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan bool, 1)
	go func() { done <- g.waitIdle(ctx, time.Hour, nil) }()
	cancel()
	select {
	case ok := <-done:
		if ok {
			t.Fatal("cancelled wait reported idle")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("cancelled wait did not return")
	}
}

func TestFailStreak(t *testing.T) {
	s := failStreak{limit: 3}
	var got []bool
	for _, step := range []bool{false, false, true, false, false, false, false, true, true, false} {
		if step {
			got = append(got, s.ok())
		} else {
			got = append(got, s.fail())
		}
	}
	// fail fail ok(no) fail fail fail(limit) fail ok(ended) ok fail
	want := []bool{false, false, false, false, false, true, false, true, false, false}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("step %d: %v, want %v (all %v)", i, got[i], want[i], got)
		}
	}
}

func TestFlushTimerMS(t *testing.T) {
	for _, c := range []struct {
		every time.Duration
		want  uint32
	}{
		{250 * time.Millisecond, 250}, {10 * time.Millisecond, 10}, {5 * time.Millisecond, 10},
		{999 * time.Millisecond, 999}, {time.Second, 0}, {2 * time.Second, 0}, {0, 0}, {-time.Second, 0},
	} {
		if got := flushTimerMS(c.every); got != c.want {
			t.Errorf("flushTimerMS(%v) = %d, want %d", c.every, got, c.want)
		}
	}
}

func TestSetFlushTimerMSBuf(t *testing.T) {
	buf := newTracePropertiesBuffer()
	binary.LittleEndian.PutUint32(buf[etpLogFileMode:], eventTraceRealTime)
	setFlushTimerMSBuf(buf, 250)
	st, err := parseTraceProperties(buf)
	if err != nil {
		t.Fatal(err)
	}
	if st.logFileMode != eventTraceRealTime|eventTraceUseMSFlushTimer || st.flushTimer != 250 ||
		binary.LittleEndian.Uint32(buf[etpLogFileNameOffset:]) != 0 {
		t.Errorf("mode %#x timer %d", st.logFileMode, st.flushTimer)
	}
	if !msFlushTimerSet(st, 250) || msFlushTimerSet(st, 100) {
		t.Error("msFlushTimerSet")
	}
	st.logFileMode = eventTraceRealTime
	if msFlushTimerSet(st, 250) {
		t.Error("seconds timer taken for milliseconds")
	}
}
