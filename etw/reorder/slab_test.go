package reorder

import (
	"testing"
	"time"

	"github.com/smsswatch/smsswatch/etw"
)

// TestSlabCharged: what a Buffer keeps allocated (its slab, by capacity)
// is charged to the budget with its events' strings; the slab is
// compacted once no more than a quarter is in use, and given back when a
// flushed Buffer empties, leaving nothing charged.
func TestSlabCharged(t *testing.T) {
	cases := []struct {
		name   string
		push   int // events pushed, all held (inside the window)
		popTo  int // events left after popping
		flush  bool
		compac bool // a compaction is expected
	}{
		{"held events charge the slab's capacity", 100, 100, false, false},
		{"popping to half keeps the slab", 100, 50, false, false},
		{"popping to a quarter compacts", 100, 20, false, true},
		{"an emptied buffer keeps minSlab slots", 100, 0, false, true},
		{"a flushed empty buffer gives everything back", 100, 0, true, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := NewBudget(1 << 30)
			q := New(time.Hour, 1<<20)
			q.UseBudget(b)
			host := "WS1"
			for i := 0; i < c.push; i++ {
				ev := tagged(int64(i), uint32(i))
				ev.Host = host
				q.Push(&ev)
			}
			if q.Len() != c.push {
				t.Fatalf("%d buffered, want %d (nothing released inside the window)", q.Len(), c.push)
			}
			var out etw.Event
			if c.flush {
				q.Flush()
			} else {
				q.max = c.popTo // released by the count cap, not flushed
			}
			for q.Pop(&out) {
			}
			if q.Len() != c.popTo {
				t.Fatalf("%d left, want %d", q.Len(), c.popTo)
			}
			want := int64(cap(q.slab))*slotBytes + int64(q.Len()*len(host))
			if got := b.Used(); got != want {
				t.Errorf("budget used %d, want %d (slab of %d slots, %d events)", got, want, cap(q.slab), q.Len())
			}
			if got := q.Stats().Compactions > 0; got != c.compac {
				t.Errorf("compactions %d, want some: %v", q.Stats().Compactions, c.compac)
			}
			if cap(q.slab) > minSlab && q.Len() <= cap(q.slab)/4 {
				t.Errorf("slab of %d slots for %d events: not compacted", cap(q.slab), q.Len())
			}
			if c.flush && (b.Used() != 0 || q.slab != nil) {
				t.Errorf("flushed and empty: %d bytes charged, slab %d slots", b.Used(), cap(q.slab))
			}
			if !c.flush && c.popTo == 0 && cap(q.slab) != minSlab {
				t.Errorf("emptied: slab %d slots, want minSlab %d", cap(q.slab), minSlab)
			}
		})
	}
}

// TestSlabBoundedBySaturatedBudget: records that never leave their window
// (a log concatenated with itself) fill the budget; once the Pops are
// done the budget holds, early releases are counted, nothing is lost, and
// compaction stays rare (each follows the release of three quarters of a
// slab, so its copy is paid for by those events).
func TestSlabBoundedBySaturatedBudget(t *testing.T) {
	const budget = 256 << 10
	b := NewBudget(budget)
	q := New(time.Hour, 1<<20)
	q.UseBudget(b)
	var out etw.Event
	const n = 200_000
	peak := int64(0)
	for i := 0; i < n; i++ {
		ev := tagged(int64(i%1000), uint32(i))
		q.Push(&ev)
		for q.Pop(&out) {
		}
		peak = max(peak, b.Used())
	}
	if limit := int64(budget) + int64(minSlab)*slotBytes; peak > limit {
		t.Errorf("peak %d bytes charged after releasing, budget %d", peak, budget)
	}
	st := q.Stats()
	if st.Overflow == 0 {
		t.Error("no early release counted")
	}
	if st.Compactions > n/100 {
		t.Errorf("%d compactions for %d events: the slab thrashes", st.Compactions, n)
	}
	q.Flush()
	for q.Pop(&out) {
	}
	if q.Stats().Released != n || b.Used() != 0 {
		t.Errorf("released %d of %d, %d bytes still charged", q.Stats().Released, n, b.Used())
	}
}
