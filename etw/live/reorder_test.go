package live

import (
	"math/rand"
	"testing"

	"github.com/smsswatch/smsswatch/etw"
)

func TestReorderBuf(t *testing.T) {
	r := newReorderBuf(1000)
	rng := rand.New(rand.NewSource(1))
	var out etw.Event
	for i := 0; i < 500; i++ {
		ev := etw.Event{Time: int64(rng.Intn(100)), Proc: etw.Process{PID: uint32(i)}}
		if r.push(&ev, &out) {
			t.Fatal("overflow below max")
		}
	}
	// Nothing at or before -1.
	if r.popReady(-1, &out) {
		t.Fatal("released too early")
	}
	last, lastPID := int64(-1), uint32(0)
	n := 0
	for r.popReady(49, &out) {
		if out.Time < last || (out.Time == last && out.Proc.PID < lastPID) {
			t.Fatalf("out of order: %d/%d after %d/%d", out.Time, out.Proc.PID, last, lastPID)
		}
		last, lastPID = out.Time, out.Proc.PID
		n++
	}
	if last > 49 {
		t.Fatalf("released %d past the bound", last)
	}
	for r.popReady(1<<62, &out) {
		if out.Time < last {
			t.Fatal("out of order in the second half")
		}
		last = out.Time
		n++
	}
	if n != 500 || r.len() != 0 {
		t.Fatalf("released %d, left %d", n, r.len())
	}
}

func TestReorderBufBound(t *testing.T) {
	r := newReorderBuf(3)
	var out etw.Event
	for i, tm := range []int64{5, 1, 3} {
		ev := etw.Event{Time: tm, Proc: etw.Process{PID: uint32(i)}}
		r.push(&ev, &out)
	}
	ev := etw.Event{Time: 2}
	if !r.push(&ev, &out) || out.Time != 1 {
		t.Fatalf("overflow released %d", out.Time)
	}
	if r.len() != 3 {
		t.Fatalf("len %d", r.len())
	}
}

func TestReorderBufNoAllocs(t *testing.T) {
	r := newReorderBuf(64)
	var out etw.Event
	ev := etw.Event{Time: 1, Proc: etw.Process{Image: "smss.exe"}}
	for i := 0; i < 64; i++ {
		r.push(&ev, &out)
	}
	for r.pop(&out) {
	}
	if n := testing.AllocsPerRun(100, func() {
		for i := 0; i < 32; i++ {
			ev.Time = int64(32 - i)
			r.push(&ev, &out)
		}
		for r.popReady(100, &out) {
		}
	}); n != 0 {
		t.Fatalf("%.1f allocations", n)
	}
}
