package reorder

import (
	"time"
	"unsafe"

	"github.com/smsswatch/smsswatch/etw"
)

// Buffer makes one (host, source) stream of events time-ordered before
// the detector sees it. Recorded logs are not in time order (forwarders
// batch and interleave; Sysmon writes boot records long after the fact),
// but they are rarely out of order by much: Buffer holds events back until
// the newest time seen is more than window past them, then releases them
// in (Time, arrival) order, so equal times keep their arrival order and the
// output is the same on every run.
//
// Memory is bounded: when more than max events are buffered, the oldest is
// released at once (counted in Stats.Overflow). Flush releases
// everything. Events are copied in and out; in steady state Push and Pop
// allocate nothing. With a Budget, what the Buffer holds is charged to it:
// its events' strings and the capacity of its slab (the slots, free list
// and heap), which is what stays allocated. The slab is compacted once no
// more than a quarter of it is in use, and given back when the Buffer
// empties: all of it when flushed, down to minSlab slots otherwise (so
// that a sparse stream does not allocate on every event). Compactions are
// counted in Stats.Compactions.
//
// Use: after each Push, Pop until it returns false; at the end of the
// input, Flush, then Pop until false. A Buffer is not safe for concurrent
// use.
type Buffer struct {
	window uint64
	max    int
	budget *Budget

	slab []reorderSlot // buffered events; free slots listed in free
	free []int32
	heap []int32 // slab indices, a min-heap on (Time, seq)

	// charged is the slab capacity charged to budget, in bytes.
	charged int64

	seq      uint64
	newest   int64
	seen     bool
	flushing bool
	lastOut  int64
	released bool

	stats Stats
}

type reorderSlot struct {
	ev   etw.Event
	seq  uint64
	size int64
}

// Budget bounds the bytes several Reorders hold together (the
// recorded pipeline gives all its buffers one): attacker-controlled
// strings (32 KiB command lines) make a count cap alone mean gigabytes.
// Past the budget, the Buffer being pushed to releases its oldest events
// early, counted in Stats.Overflow. What counts against it is what the
// Buffers have allocated: their events' strings and their slabs by
// capacity (a slab shrinks once a quarter of it is in use).
type Budget struct {
	max, used int64
}

// NewBudget returns a budget of maxBytes.
func NewBudget(maxBytes int64) *Budget { return &Budget{max: maxBytes} }

// Used returns the bytes charged now: the buffered events' strings and
// the buffers' slabs, slots not in use included.
func (b *Budget) Used() int64 { return b.used }

// minSlab is the fewest slots a Buffer keeps once it has grown.
const minSlab = 8

// slotBytes is what one slot of the slab costs, with its free-list and
// heap entries.
const slotBytes = int64(unsafe.Sizeof(reorderSlot{})) + 2*int64(unsafe.Sizeof(int32(0)))

// eventSize is what an Event's strings cost buffered (its value is in the
// slab, charged by capacity).
func eventSize(ev *etw.Event) int64 {
	p, r, b := &ev.Proc, &ev.Reg, &ev.Boot
	return int64(len(ev.Host) + len(p.Image) + len(p.ParentImage) + len(p.CommandLine) +
		len(p.UserSID) + len(p.UserName) + len(p.CreatorSID) + len(p.Key) + len(p.ParentKey) +
		len(r.Image) + len(r.Key) + len(r.Value) + len(r.Data) + len(r.NewName) + len(b.SystemRoot) + len(b.SystemDevice))
}

// Stats counts what a Buffer did.
type Stats struct {
	// Pushed is the number of events pushed.
	Pushed uint64
	// Released is the number of events popped.
	Released uint64
	// Overflow counts events released early because more than max were
	// buffered: events older than them that arrive later will be late.
	Overflow uint64
	// Late counts events pushed with a time before that of an event
	// already released: they are released out of order.
	Late uint64
	// MaxBuffered is the largest number of events buffered at once.
	MaxBuffered int
	// Compactions counts the times the slab was shrunk (or given back)
	// because no more than a quarter of it was in use.
	Compactions uint64
}

// New returns a Buffer that holds events until the newest time
// seen is more than window past them, and never holds more than max
// (at least 1).
func New(window time.Duration, max int) *Buffer {
	if window < 0 {
		window = 0
	}
	if max < 1 {
		max = 1
	}
	return &Buffer{window: uint64(window), max: max}
}

// UseBudget makes q count its buffered bytes against b. Call it before
// the first Push.
func (q *Buffer) UseBudget(b *Budget) {
	q.budget = b
	if b != nil {
		b.used += q.charged
	}
}

// Len returns the number of events buffered.
func (q *Buffer) Len() int { return len(q.heap) }

// Stats returns the counters so far.
func (q *Buffer) Stats() Stats { return q.stats }

// Push adds a copy of ev.
func (q *Buffer) Push(ev *etw.Event) {
	q.stats.Pushed++
	if q.released && ev.Time < q.lastOut {
		q.stats.Late++
	}
	if !q.seen || ev.Time > q.newest {
		q.newest, q.seen = ev.Time, true
	}
	var i int32
	if n := len(q.free); n > 0 {
		i = q.free[n-1]
		q.free = q.free[:n-1]
	} else {
		if len(q.slab) == cap(q.slab) {
			q.grow()
		}
		q.slab = append(q.slab, reorderSlot{})
		i = int32(len(q.slab) - 1)
	}
	q.slab[i] = reorderSlot{ev: *ev, seq: q.seq}
	if q.budget != nil {
		q.slab[i].size = eventSize(ev)
		q.budget.used += q.slab[i].size
	}
	q.seq++
	q.heap = append(q.heap, i)
	q.up(len(q.heap) - 1)
	if len(q.heap) > q.stats.MaxBuffered {
		q.stats.MaxBuffered = len(q.heap)
	}
}

// Flush makes every buffered event releasable; Pop them until it returns
// false. Pushing after that starts a new round.
func (q *Buffer) Flush() { q.flushing = true }

// Pop copies the next releasable event into ev and reports whether there
// was one: the oldest buffered event when more than max are buffered,
// when flushing, or when the newest time seen is more than window past it.
func (q *Buffer) Pop(ev *etw.Event) bool {
	if len(q.heap) == 0 {
		q.flushing = false
		return false
	}
	root := q.heap[0]
	it := &q.slab[root]
	switch {
	case len(q.heap) > q.max, q.budget != nil && q.budget.used > q.budget.max:
		q.stats.Overflow++
	case q.flushing:
	case q.newest > it.ev.Time && uint64(q.newest)-uint64(it.ev.Time) > q.window:
	default:
		return false
	}
	*ev = it.ev
	if q.budget != nil {
		q.budget.used -= it.size
	}
	it.ev = etw.Event{} // drop references for the collector
	q.free = append(q.free, root)
	last := len(q.heap) - 1
	q.heap[0] = q.heap[last]
	q.heap = q.heap[:last]
	if last > 0 {
		q.down(0)
	}
	q.lastOut, q.released = ev.Time, true
	q.stats.Released++
	if c := cap(q.slab); c > minSlab && len(q.heap) <= c/4 || c > 0 && len(q.heap) == 0 && q.flushing {
		q.compact()
	}
	return true
}

// grow enlarges the slab (and the capacity of its free list and heap, so
// that they never grow on their own) and charges the budget for it: it
// doubles while the budget has room for that, and otherwise grows by what
// room is left, at least a quarter (Pop then releases early until the
// budget holds again: a slab past the budget on its own is emptied to a
// quarter and compacted).
func (q *Buffer) grow() {
	c := cap(q.slab)
	n := max(minSlab, 2*c)
	if q.budget != nil {
		room := int(max((q.budget.max-q.budget.used)/slotBytes, 0))
		n = max(minSlab, min(n, c+max(room, c/4)))
	}
	slab := make([]reorderSlot, len(q.slab), n)
	copy(slab, q.slab)
	free := make([]int32, len(q.free), n)
	copy(free, q.free)
	heap := make([]int32, len(q.heap), n)
	copy(heap, q.heap)
	q.slab, q.free, q.heap = slab, free, heap
	q.charge()
}

// compact moves the buffered events to a slab twice their number (at
// least minSlab slots; none when the Buffer is empty) and gives the old
// one back, with its charge.
func (q *Buffer) compact() {
	q.stats.Compactions++
	n := len(q.heap)
	if n == 0 {
		q.slab, q.free, q.heap = nil, nil, nil
		q.charge()
		return
	}
	c := max(minSlab, 2*n)
	slab := make([]reorderSlot, n, c)
	heap := make([]int32, n, c)
	for j, i := range q.heap {
		slab[j] = q.slab[i]
		heap[j] = int32(j) // the heap's order is unchanged
	}
	q.slab, q.heap, q.free = slab, heap, make([]int32, 0, c)
	q.charge()
}

// charge brings the budget's count of q's slab up to date.
func (q *Buffer) charge() {
	b := int64(cap(q.slab)) * slotBytes
	if q.budget != nil {
		q.budget.used += b - q.charged
	}
	q.charged = b
}

func (q *Buffer) less(a, b int32) bool {
	x, y := &q.slab[a], &q.slab[b]
	if x.ev.Time != y.ev.Time {
		return x.ev.Time < y.ev.Time
	}
	return x.seq < y.seq
}

func (q *Buffer) up(j int) {
	h := q.heap
	for j > 0 {
		p := (j - 1) / 2
		if !q.less(h[j], h[p]) {
			break
		}
		h[p], h[j] = h[j], h[p]
		j = p
	}
}

func (q *Buffer) down(j int) {
	h := q.heap
	n := len(h)
	for {
		l := 2*j + 1
		if l >= n {
			return
		}
		c := l
		if r := l + 1; r < n && q.less(h[r], h[l]) {
			c = r
		}
		if !q.less(h[c], h[j]) {
			return
		}
		h[c], h[j] = h[j], h[c]
		j = c
	}
}
