package stream

import "sync/atomic"

// cacheLine pads the ring's indices apart, so that the producer's and the
// consumer's writes do not contend for one cache line.
const cacheLine = 64

// slotRing is a bounded single-producer, single-consumer queue of items:
// the hand-off between the engine's call and the publishing goroutine
// (and back). It holds the items' indices in their table, not pointers, so
// that pushing and popping store no pointer (no write barrier while a
// collection marks). Each side keeps a copy of the other side's index and
// reads the shared one only when its copy says full or empty, so the two
// cores exchange a cache line per batch rather than per violation.
type slotRing struct {
	slots []uint32 // indices into items
	items []item
	mask  uint64

	_    [cacheLine]byte
	head atomic.Uint64 // next slot to pop; written by the consumer
	tail uint64        // consumer's copy of the producer's index
	_    [cacheLine]byte
	next atomic.Uint64 // next slot to push; written by the producer
	seen uint64        // producer's copy of head
	_    [cacheLine]byte
}

// newItems returns a table of n items, each knowing its index.
func newItems(n int) []item {
	items := make([]item, n)
	for i := range items {
		items[i].slot = uint32(i)
	}
	return items
}

// newSlotRing returns a ring holding at least n items (a power of two) of
// the table items (from newItems).
func newSlotRing(n int, items []item) *slotRing {
	size := 1
	for size < n {
		size <<= 1
	}
	return &slotRing{slots: make([]uint32, size), items: items, mask: uint64(size - 1)}
}

// push adds it, an item of the ring's table; false when the ring is full.
// Producer only.
func (r *slotRing) push(it *item) bool {
	n := r.next.Load()
	if n-r.seen == uint64(len(r.slots)) {
		r.seen = r.head.Load()
		if n-r.seen == uint64(len(r.slots)) {
			return false
		}
	}
	r.slots[n&r.mask] = it.slot
	r.next.Store(n + 1) // publishes the slot and the item's contents
	return true
}

// pop removes the oldest item; nil when the ring is empty. Consumer only.
func (r *slotRing) pop() *item {
	h := r.head.Load()
	if h == r.tail {
		r.tail = r.next.Load()
		if h == r.tail {
			return nil
		}
	}
	it := &r.items[r.slots[h&r.mask]]
	r.head.Store(h + 1)
	return it
}

// popInto moves the oldest items' indices, as many as dst holds or the
// ring has, into dst in order and returns how many: one store to the
// shared index for all of them. Consumer only.
func (r *slotRing) popInto(dst []uint32) int {
	h := r.head.Load()
	if r.tail-h < uint64(len(dst)) {
		r.tail = r.next.Load()
	}
	n := int(min(r.tail-h, uint64(len(dst))))
	for i := range n {
		dst[i] = r.slots[(h+uint64(i))&r.mask]
	}
	if n > 0 {
		r.head.Store(h + uint64(n))
	}
	return n
}

// len is how many items the ring holds; safe from any goroutine (a
// snapshot).
func (r *slotRing) len() int {
	h := r.head.Load()
	return int(r.next.Load() - h)
}
