package live

import (
	"fmt"
	"math/rand"
	"slices"
	"testing"

	"github.com/smsswatch/smsswatch/etw"
)

func TestReorderBuf(t *testing.T) {
	r := newReorderBuf(1000)
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 500; i++ {
		ev := etw.Event{Time: int64(rng.Intn(100)), Proc: etw.Process{PID: uint32(i)}}
		if r.full() {
			t.Fatal("full below max")
		}
		r.push(&ev)
	}
	// Nothing at or before -1.
	if r.popReady(-1) != nil {
		t.Fatal("released too early")
	}
	last, lastPID := int64(-1), uint32(0)
	n := 0
	for out := r.popReady(49); out != nil; out = r.popReady(49) {
		if out.Time < last || (out.Time == last && out.Proc.PID < lastPID) {
			t.Fatalf("out of order: %d/%d after %d/%d", out.Time, out.Proc.PID, last, lastPID)
		}
		last, lastPID = out.Time, out.Proc.PID
		n++
	}
	if last > 49 {
		t.Fatalf("released %d past the bound", last)
	}
	for out := r.popReady(1 << 62); out != nil; out = r.popReady(1 << 62) {
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
	for i, tm := range []int64{5, 1, 3} {
		ev := etw.Event{Time: tm, Proc: etw.Process{PID: uint32(i)}}
		r.push(&ev)
	}
	if !r.full() {
		t.Fatal("not full at max")
	}
	if out := r.pop(); out == nil || out.Time != 1 {
		t.Fatalf("overflow released %v", out)
	}
	ev := etw.Event{Time: 2}
	r.push(&ev)
	if r.len() != 3 || !r.full() {
		t.Fatalf("len %d", r.len())
	}
	if r.owned > 4 {
		t.Fatalf("the buffer allocated %d events for 3 (bound: max+1)", r.owned)
	}
}

// reorderPattern makes n event times of one kind of input.
type reorderPattern struct {
	name  string
	times func(rng *rand.Rand, n int) []int64
}

var reorderPatterns = []reorderPattern{
	{"random", func(rng *rand.Rand, n int) []int64 {
		ts := make([]int64, n)
		for i := range ts {
			ts[i] = int64(rng.Intn(n / 4))
		}
		return ts
	}},
	{"mostly in order, a few late", func(rng *rand.Rand, n int) []int64 {
		ts := make([]int64, n)
		for i := range ts {
			ts[i] = int64(i * 10)
			if rng.Intn(20) == 0 {
				ts[i] -= int64(rng.Intn(300))
			}
		}
		return ts
	}},
	{"per-CPU buffers", func(rng *rand.Rand, n int) []int64 {
		// Four CPUs, each delivering runs of its own ordered events.
		var cpu [4][]int64
		for i := 0; i < n; i++ {
			c := rng.Intn(4)
			cpu[c] = append(cpu[c], int64(i/3)) // equal times across CPUs
		}
		ts := make([]int64, 0, n)
		for len(ts) < n {
			c := rng.Intn(4)
			k := min(len(cpu[c]), 1+rng.Intn(40))
			ts = append(ts, cpu[c][:k]...)
			cpu[c] = cpu[c][k:]
		}
		return ts
	}},
	{"equal times", func(rng *rand.Rand, n int) []int64 {
		ts := make([]int64, n)
		for i := range ts {
			ts[i] = int64(rng.Intn(3))
		}
		return ts
	}},
	{"descending", func(rng *rand.Rand, n int) []int64 {
		ts := make([]int64, n)
		for i := range ts {
			ts[i] = int64(n - i/2)
		}
		return ts
	}},
}

// TestReorderBufStableSort: with everything pushed first, the release order
// is a stable sort by time of the arrival order.
func TestReorderBufStableSort(t *testing.T) {
	for _, p := range reorderPatterns {
		t.Run(p.name, func(t *testing.T) {
			for seed := int64(1); seed <= 20; seed++ {
				rng := rand.New(rand.NewSource(seed))
				ts := p.times(rng, 100+rng.Intn(2000))
				r := newReorderBuf(len(ts))
				want := make([]etw.Event, len(ts))
				for i, tm := range ts {
					want[i] = etw.Event{Time: tm, Proc: etw.Process{PID: uint32(i)}}
					r.push(&want[i])
				}
				slices.SortStableFunc(want, func(a, b etw.Event) int { return int(a.Time - b.Time) })
				for i := range want {
					got := r.pop()
					if got == nil || got.Time != want[i].Time || got.Proc.PID != want[i].Proc.PID {
						t.Fatalf("seed %d: release %d is %+v, want time %d arrival %d", seed, i, got, want[i].Time, want[i].Proc.PID)
					}
				}
				if r.pop() != nil || r.len() != 0 {
					t.Fatalf("seed %d: events left", seed)
				}
			}
		})
	}
}

// refReorder is the release rule written plainly: the held event with the
// smallest (time, arrival) goes first.
type refReorder struct{ evs []etw.Event }

func (r *refReorder) popReady(until int64) (etw.Event, bool) {
	best := -1
	for i := range r.evs {
		if best < 0 || r.evs[i].Time < r.evs[best].Time {
			best = i // the first of equal times is the earliest arrival
		}
	}
	if best < 0 || r.evs[best].Time > until {
		return etw.Event{}, false
	}
	ev := r.evs[best]
	r.evs = slices.Delete(r.evs, best, best+1)
	return ev, true
}

// TestReorderBufMatchesRule interleaves pushes, releases up to a moving
// bound and overflows of a small bound, against refReorder.
func TestReorderBufMatchesRule(t *testing.T) {
	for _, p := range reorderPatterns {
		for _, max := range []int{7, 64, 100000} {
			t.Run(fmt.Sprintf("%s/max=%d", p.name, max), func(t *testing.T) {
				for seed := int64(1); seed <= 10; seed++ {
					rng := rand.New(rand.NewSource(seed))
					ts := p.times(rng, 3000)
					r, ref := newReorderBuf(max), &refReorder{}
					check := func(got *etw.Event, want etw.Event, ok bool, what string) {
						t.Helper()
						if (got != nil) != ok || (ok && (got.Time != want.Time || got.Proc.PID != want.Proc.PID)) {
							t.Fatalf("seed %d, %s: got %+v, want %+v (%v)", seed, what, got, want, ok)
						}
					}
					for i, tm := range ts {
						ev := etw.Event{Time: tm, Proc: etw.Process{PID: uint32(i)}}
						if r.full() != (len(ref.evs) >= max) {
							t.Fatalf("seed %d: full %v with %d held", seed, r.full(), len(ref.evs))
						}
						if r.full() {
							want, ok := ref.popReady(1<<63 - 1)
							check(r.pop(), want, ok, "overflow")
						}
						r.push(&ev)
						ref.evs = append(ref.evs, ev)
						if rng.Intn(8) == 0 {
							until := tm - int64(rng.Intn(200))
							for {
								want, ok := ref.popReady(until)
								check(r.popReady(until), want, ok, "release")
								if !ok {
									break
								}
							}
						}
					}
					for {
						want, ok := ref.popReady(1<<63 - 1)
						check(r.pop(), want, ok, "drain")
						if !ok {
							break
						}
					}
				}
			})
		}
	}
}

// TestReorderBufExchange: over the bound, exchange releases what pop
// would (refReorder's oldest) and then holds the new event itself; the
// released event is no longer the buffer's (changing it changes nothing
// held), and releases up to a moving bound in between still follow the
// rule.
func TestReorderBufExchange(t *testing.T) {
	for _, p := range reorderPatterns {
		for _, max := range []int{1, 7, 64} {
			t.Run(fmt.Sprintf("%s/max=%d", p.name, max), func(t *testing.T) {
				for seed := int64(1); seed <= 10; seed++ {
					rng := rand.New(rand.NewSource(seed))
					ts := p.times(rng, 3000)
					r, ref := newReorderBuf(max), &refReorder{}
					check := func(got *etw.Event, want etw.Event, ok bool, what string) {
						t.Helper()
						if (got != nil) != ok || (ok && (got.Time != want.Time || got.Proc.PID != want.Proc.PID)) {
							t.Fatalf("seed %d, %s: got %+v, want %+v (%v)", seed, what, got, want, ok)
						}
					}
					for i, tm := range ts {
						ev := etw.Event{Time: tm, Proc: etw.Process{PID: uint32(i)}}
						if !r.full() {
							r.push(&ev)
							ref.evs = append(ref.evs, ev)
						} else {
							// The event comes from elsewhere (a queue
							// slot) and is adopted as it is.
							own := new(etw.Event)
							*own = ev
							want, ok := ref.popReady(1<<63 - 1)
							old := r.exchange(own)
							check(old, want, ok, "exchange")
							if old == own {
								t.Fatalf("seed %d: exchange released the event it took", seed)
							}
							*old = etw.Event{Time: -1, Proc: etw.Process{PID: 1 << 31}} // the caller's now
							ref.evs = append(ref.evs, ev)
						}
						if r.len() != len(ref.evs) {
							t.Fatalf("seed %d: %d held, want %d", seed, r.len(), len(ref.evs))
						}
						if rng.Intn(16) == 0 {
							until := tm - int64(rng.Intn(200))
							for {
								want, ok := ref.popReady(until)
								check(r.popReady(until), want, ok, "release")
								if !ok {
									break
								}
							}
						}
					}
					for {
						want, ok := ref.popReady(1<<63 - 1)
						check(r.pop(), want, ok, "drain")
						if !ok {
							break
						}
					}
				}
			})
		}
	}
}

func TestReorderBufNoAllocs(t *testing.T) {
	r := newReorderBuf(64)
	ev := etw.Event{Time: 1, Proc: etw.Process{Image: "smss.exe"}}
	for i := 0; i < 64; i++ {
		r.push(&ev)
	}
	for r.pop() != nil {
	}
	if n := testing.AllocsPerRun(100, func() {
		for i := 0; i < 32; i++ {
			ev.Time = int64(32 - i)
			r.push(&ev)
		}
		for i := 0; i < 32; i++ {
			ev.Time = int64(100 + i)
			r.push(&ev)
		}
		for r.popReady(200) != nil {
		}
	}); n != 0 {
		t.Fatalf("%.1f allocations", n)
	}
}

// TestReorderBufReuseOverwrites: a released event is reused without being
// cleared, so reuse must write all of it: what an earlier event held never
// shows in a later one. And the events that may keep strings alive are
// bounded: the buffer never owns more than max+1, however many pass.
func TestReorderBufReuseOverwrites(t *testing.T) {
	const max = 8
	r := newReorderBuf(max)
	full := etw.Event{Time: 1, Kind: etw.KindStart, Host: "WS1", Known: etw.FieldImage | etw.FieldCommandLine | etw.FieldKey,
		Proc: etw.Process{PID: 8, Image: "smss.exe", CommandLine: "smss.exe 000000ec 00000084", Key: "77", UserSID: "S-1-5-18"}}
	bare := etw.Event{Time: 2, Kind: etw.KindExit, Proc: etw.Process{PID: 12}}
	for round := range 1000 {
		src := full
		if round%2 == 1 {
			src = bare
		}
		src.Time = int64(round)
		r.push(&src)
		got := r.pop()
		if got == nil || *got != src {
			t.Fatalf("round %d: pop %+v, want %+v", round, got, src)
		}
		r.popReady(0) // recycles got
	}
	for i := range 10 * max {
		ev := bare
		ev.Time = int64(i)
		if r.full() {
			r.pop()
		}
		r.push(&ev)
	}
	if r.owned > max+1 {
		t.Fatalf("the buffer owns %d events, bound %d", r.owned, max+1)
	}
}
