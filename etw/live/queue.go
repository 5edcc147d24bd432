package live

import (
	"fmt"
	"sync/atomic"

	"github.com/smsswatch/smsswatch/etw"
)

// cacheLine pads the producer's and the consumer's indexes apart so that
// the two goroutines do not share (and bounce) a CPU cache line.
const cacheLine = 64

// Queue is a bounded, lock-free, single-producer single-consumer ring of
// Event values. The live sensor's ETW callback is the one producer, the
// goroutine that feeds the detector the one consumer. Push never blocks and
// never allocates: when the ring is full the event is dropped and counted
// (Dropped), and the consumer turns a growing count into sensor.blind.
//
// Exactly one goroutine at a time may call Push, and exactly one (another)
// may call Pop, Arm and Signal; Len, Cap and Dropped may be called from
// anywhere.
type Queue struct {
	_ [cacheLine]byte
	// head is the next slot to read; written by the consumer only.
	head atomic.Uint64
	_    [cacheLine - 8]byte
	// tail is the next slot to write; written by the producer only.
	tail atomic.Uint64
	_    [cacheLine - 8]byte
	// headCache is the producer's last view of head.
	headCache uint64
	_         [cacheLine - 8]byte
	// tailCache is the consumer's last view of tail; next is the next slot
	// it reads (head runs behind it by at most publishMask+1 slots).
	tailCache uint64
	next      uint64
	_         [cacheLine - 16]byte
	dropped   atomic.Uint64
	waiting   atomic.Uint32
	wake      chan struct{}
	mask      uint64
	// publishMask+1 is how many slots Discard frees before it makes them
	// visible to the producer (storing head is a full fence on amd64,
	// which would otherwise wait for every pending store of the event's
	// handling): 64, or an eighth of a smaller ring.
	publishMask uint64
	// buf holds the slots: each points to the event it owns, at first
	// one of store's. Take swaps a slot's event for another (the
	// consumer's), so that a kept event is not copied.
	buf   []*etw.Event
	store []etw.Event
}

// NewQueue returns an empty queue holding at least capacity events
// (rounded up to a power of two, at least 2).
func NewQueue(capacity int) (*Queue, error) {
	if capacity < 1 || capacity > 1<<24 {
		return nil, fmt.Errorf("event queue: capacity %d out of range 1..16777216", capacity)
	}
	n := 2
	for n < capacity {
		n <<= 1
	}
	q := &Queue{wake: make(chan struct{}, 1), mask: uint64(n - 1), publishMask: uint64(max(min(64, n/8), 1) - 1),
		buf: make([]*etw.Event, n), store: make([]etw.Event, n)}
	for i := range q.buf {
		q.buf[i] = &q.store[i]
	}
	return q, nil
}

// Push copies *ev into the ring and reports true, or counts a drop and
// reports false when the ring is full. It never blocks and never
// allocates. Producer only.
func (q *Queue) Push(ev *etw.Event) bool {
	t := q.tail.Load()
	if t-q.headCache > q.mask {
		q.headCache = q.head.Load()
		if t-q.headCache > q.mask {
			q.dropped.Add(1)
			return false
		}
	}
	*q.buf[t&q.mask] = *ev
	q.tail.Store(t + 1)
	// Signal only a consumer that asked for it (Arm): in a burst the
	// consumer is busy and the producer does no more than two atomic loads.
	if q.waiting.Load() != 0 && q.waiting.CompareAndSwap(1, 0) {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
	return true
}

// Pop moves the oldest event into *ev and reports true, or reports false
// when the ring is empty. The slot is cleared so that the ring does not
// keep the event's strings alive. Consumer only.
func (q *Queue) Pop(ev *etw.Event) bool {
	if q.Ready(1) == 0 {
		return false
	}
	slot := q.buf[q.next&q.mask]
	*ev = *slot
	*slot = etw.Event{}
	q.next++
	q.head.Store(q.next)
	return true
}

// Ready returns how many events (at most limit) the consumer may read in
// place with At. When the ring is empty it first makes every slot freed
// by Discard visible to the producer. Consumer only.
func (q *Queue) Ready(limit int) int {
	n := q.tailCache - q.next
	if n < uint64(limit) {
		q.tailCache = q.tail.Load()
		n = q.tailCache - q.next
		if n == 0 {
			q.publish()
			return 0
		}
	}
	return int(min(n, uint64(limit)))
}

// At returns, in place, the i-th oldest event (i below what Ready
// returned). The event stays the consumer's (the producer does not reuse
// its slot) until Discard frees it; the consumer may change it. Consumer
// only.
func (q *Queue) At(i int) *etw.Event { return q.buf[(q.next+uint64(i))&q.mask] }

// Peek returns the oldest event in place (At(0)), or nil when the ring is
// empty. Consumer only.
func (q *Queue) Peek() *etw.Event {
	if q.Ready(1) == 0 {
		return nil
	}
	return q.At(0)
}

// Discard frees the oldest event's slot (At(0), which Ready said was
// there): it is cleared, so that the ring does not keep the event's
// strings alive, and given back to the producer, in groups (publishMask;
// Ready and Arm give back the rest). Consumer only.
func (q *Queue) Discard() {
	*q.buf[q.next&q.mask] = etw.Event{}
	q.advance()
}

// take frees the oldest event's slot as Discard does, but hands the event
// itself (At(0)) to the consumer, to keep: the slot takes spare, an event
// of the consumer's that it no longer reads, in its place. Neither is
// copied, and spare is not cleared: Push overwrites it whole, and until
// then a free slot keeps at most one event's strings alive. Consumer
// only.
func (q *Queue) take(spare *etw.Event) *etw.Event {
	slot := &q.buf[q.next&q.mask]
	ev := *slot
	*slot = spare
	q.advance()
	return ev
}

// advance moves past the oldest slot and gives slots back to the producer
// in groups of publishMask+1.
func (q *Queue) advance() {
	q.next++
	if q.next&q.publishMask == 0 {
		q.head.Store(q.next)
	}
}

// publish makes the slots freed by Discard visible to the producer.
func (q *Queue) publish() {
	if q.head.Load() != q.next {
		q.head.Store(q.next)
	}
}

// Arm asks the producer to send on Signal after its next Push, and reports
// whether the consumer may now sleep: false means events arrived meanwhile
// (pop them first). Consumer only.
func (q *Queue) Arm() bool {
	q.publish()
	q.waiting.Store(1)
	if q.tail.Load() != q.next {
		q.waiting.Store(0)
		return false
	}
	return true
}

// Signal is the channel the producer sends on after a Push that follows
// Arm. A stale signal only causes one extra, empty, wake-up.
func (q *Queue) Signal() <-chan struct{} { return q.wake }

// Len returns the number of queued events (a snapshot).
func (q *Queue) Len() int { return int(q.tail.Load() - q.head.Load()) }

// Cap returns the number of events the ring holds.
func (q *Queue) Cap() int { return int(q.mask + 1) }

// Dropped returns how many events Push dropped because the ring was full,
// since the queue was made.
func (q *Queue) Dropped() uint64 { return q.dropped.Load() }
