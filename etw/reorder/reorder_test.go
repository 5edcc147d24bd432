package reorder

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smsswatch/smsswatch/etw"
)

// drain pops everything releasable.
func drain(q *Buffer) []etw.Event {
	var out []etw.Event
	var ev etw.Event
	for q.Pop(&ev) {
		out = append(out, ev)
	}
	return out
}

// tagged is an event at time t (seconds) carrying a tag in PID.
func tagged(t int64, tag uint32) etw.Event {
	return etw.Event{Time: t * int64(time.Second), Kind: etw.KindStart, Known: etw.FieldPID, Proc: etw.Process{PID: tag}}
}

func tags(evs []etw.Event) []uint32 {
	out := make([]uint32, len(evs))
	for i, ev := range evs {
		out[i] = ev.Proc.PID
	}
	return out
}

func TestReorder(t *testing.T) {
	type step struct {
		push  *etw.Event // nil: Flush
		after []uint32
	}
	ev := func(t int64, tag uint32) *etw.Event { e := tagged(t, tag); return &e }
	cases := []struct {
		name     string
		window   time.Duration
		max      int
		steps    []step
		overflow uint64
		late     uint64
	}{
		{"in order, released once the window has passed", 2 * time.Second, 100, []step{
			{ev(10, 1), nil},
			{ev(11, 2), nil},
			{ev(12, 3), nil},
			{ev(13, 4), []uint32{1}},
			{ev(20, 5), []uint32{2, 3, 4}},
			{nil, []uint32{5}},
		}, 0, 0},
		{"late arrivals within the window are put back in order", 5 * time.Second, 100, []step{
			{ev(10, 1), nil},
			{ev(14, 2), nil},
			{ev(11, 3), nil},
			{ev(12, 4), nil},
			{ev(16, 5), []uint32{1}},
			{ev(30, 6), []uint32{3, 4, 2, 5}},
			{nil, []uint32{6}},
		}, 0, 0},
		{"equal times keep arrival order", time.Second, 100, []step{
			{ev(10, 3), nil},
			{ev(10, 1), nil},
			{ev(10, 2), nil},
			{ev(9, 9), nil},
			{nil, []uint32{9, 3, 1, 2}},
		}, 0, 0},
		{"exactly window past is not yet released", 2 * time.Second, 100, []step{
			{ev(10, 1), nil},
			{ev(12, 2), nil},
			{ev(13, 3), []uint32{1}},
		}, 0, 0},
		{"overflow releases the oldest and counts", time.Hour, 2, []step{
			{ev(10, 1), nil},
			{ev(5, 2), nil},
			{ev(7, 3), []uint32{2}},
			{ev(6, 4), []uint32{4}},
			{ev(1, 5), []uint32{5}},
			{nil, []uint32{3, 1}},
		}, 3, 1},
		{"too late for the window goes out late and is counted", time.Second, 100, []step{
			{ev(10, 1), nil},
			{ev(20, 2), []uint32{1}},
			{ev(5, 3), []uint32{3}},
			{nil, []uint32{2}},
		}, 0, 1},
		{"zero window releases all but the newest", 0, 100, []step{
			{ev(10, 1), nil},
			{ev(10, 2), nil},
			{ev(11, 3), []uint32{1, 2}},
		}, 0, 0},
		{"flush then reuse", time.Hour, 100, []step{
			{ev(10, 1), nil},
			{nil, []uint32{1}},
			{ev(20, 2), nil},
			{ev(30, 3), nil},
			{nil, []uint32{2, 3}},
		}, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := New(c.window, c.max)
			for i, s := range c.steps {
				if s.push == nil {
					q.Flush()
				} else {
					q.Push(s.push)
				}
				if got := tags(drain(q)); !slices.Equal(got, s.after) && !(len(got) == 0 && len(s.after) == 0) {
					t.Fatalf("step %d: released %v, want %v", i, got, s.after)
				}
			}
			q.Flush()
			drain(q)
			st := q.Stats()
			if st.Overflow != c.overflow || st.Late != c.late || st.Pushed != st.Released || q.Len() != 0 {
				t.Errorf("stats %+v, len %d", st, q.Len())
			}
		})
	}
}

// TestReorderMatchesStableSort: with a window wider than any disorder and
// no overflow, the output is the stable sort of the input by time.
func TestReorderMatchesStableSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 50; round++ {
		q := New(10*time.Second, 1<<20)
		var in, out []etw.Event
		base := int64(1000)
		for i := 0; i < 500; i++ {
			base += int64(rng.IntN(3))
			ev := tagged(base-int64(rng.IntN(10)), uint32(i))
			in = append(in, ev)
			q.Push(&ev)
			out = append(out, drain(q)...)
		}
		q.Flush()
		out = append(out, drain(q)...)
		want := slices.Clone(in)
		slices.SortStableFunc(want, func(a, b etw.Event) int {
			switch {
			case a.Time < b.Time:
				return -1
			case a.Time > b.Time:
				return 1
			}
			return 0
		})
		if !slices.Equal(tags(out), tags(want)) {
			t.Fatalf("round %d: order differs", round)
		}
		if q.Stats().Late != 0 || q.Stats().Overflow != 0 {
			t.Fatalf("stats %+v", q.Stats())
		}
	}
}

func TestReorderBounded(t *testing.T) {
	q := New(time.Hour, 64)
	var ev etw.Event
	for i := 0; i < 10000; i++ {
		e := tagged(int64(10000-i), uint32(i)) // all backwards, nothing ever due
		q.Push(&e)
		for q.Pop(&ev) {
		}
		if q.Len() > 64 {
			t.Fatalf("holds %d", q.Len())
		}
	}
	if len(q.slab) > 65 || cap(q.heap) > 128 || q.Stats().MaxBuffered != 65 {
		t.Errorf("slab %d heap %d stats %+v", cap(q.slab), cap(q.heap), q.Stats())
	}
	if q.Stats().Overflow != 10000-64 {
		t.Errorf("overflow %d", q.Stats().Overflow)
	}
}

func TestReorderExtremeTimes(t *testing.T) {
	q := New(time.Second, 10)
	lo := etw.Event{Time: math.MinInt64}
	hi := etw.Event{Time: math.MaxInt64}
	q.Push(&lo)
	q.Push(&hi)
	var ev etw.Event
	if !q.Pop(&ev) || ev.Time != math.MinInt64 {
		t.Errorf("extreme old event not released: %d", ev.Time)
	}
	if q.Pop(&ev) {
		t.Error("newest released without flush")
	}
	n := New(-time.Second, 0) // clamped to 0 and 1
	n.Push(&lo)
	n.Push(&lo)
	if !n.Pop(&ev) || n.Stats().Overflow != 1 {
		t.Errorf("stats %+v", n.Stats())
	}
}

func TestReorderNoAllocs(t *testing.T) {
	q := New(2*time.Second, 256)
	ev := tagged(0, 1)
	ev.Host, ev.Proc.Image = "H", `C:\Windows\System32\smss.exe`
	var out etw.Event
	tick := int64(0)
	step := func() {
		tick++
		ev.Time = tick * int64(time.Second) / 4
		q.Push(&ev)
		for q.Pop(&out) {
		}
	}
	for i := 0; i < 1000; i++ {
		step()
	}
	if a := testing.AllocsPerRun(1000, step); a != 0 {
		t.Errorf("%v allocations per event", a)
	}
}

func BenchmarkReorder(b *testing.B) {
	q := New(time.Second, 4096)
	ev := tagged(0, 1)
	var out etw.Event
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		ev.Time = int64(i)*int64(time.Millisecond) - int64(i%7)*int64(time.Millisecond)
		q.Push(&ev)
		for q.Pop(&out) {
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// TestReorderBudgetBoundsBytes: 32 KiB command lines in several buffers
// sharing one budget never hold more than the budget (and one event);
// what was released early is counted, nothing is lost.
func TestReorderBudgetBoundsBytes(t *testing.T) {
	const budget = 1 << 20
	b := NewBudget(budget)
	qs := []*Buffer{New(time.Hour, 1<<20), New(time.Hour, 1<<20)}
	for _, q := range qs {
		q.UseBudget(b)
	}
	big := strings.Repeat("A", 32<<10)
	var out etw.Event
	popped, overflow := 0, uint64(0)
	const n = 2000
	for i := 0; i < n; i++ {
		ev := etw.Event{Time: int64(i), Kind: etw.KindStart, Proc: etw.Process{CommandLine: big}}
		q := qs[i%2]
		q.Push(&ev)
		for q.Pop(&out) {
			popped++
		}
		if b.Used() > budget+eventSize(&ev) {
			t.Fatalf("%d bytes held, budget %d", b.Used(), budget)
		}
	}
	for _, q := range qs {
		q.Flush()
		for q.Pop(&out) {
			popped++
		}
		overflow += q.Stats().Overflow
	}
	if popped != n || b.Used() != 0 {
		t.Fatalf("%d of %d released, %d bytes still counted", popped, n, b.Used())
	}
	if overflow == 0 {
		t.Fatal("no early release counted")
	}
}
