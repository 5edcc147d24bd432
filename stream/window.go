package stream

// ring is the window of sent, unacknowledged items, in send order (ids
// increase from front to back).
type ring struct {
	buf     []*item
	head, n int
}

func newRing(size int) ring { return ring{buf: make([]*item, size)} }

func (r *ring) len() int     { return r.n }
func (r *ring) cap() int     { return len(r.buf) }
func (r *ring) full() bool   { return r.n == len(r.buf) }
func (r *ring) front() *item { return r.buf[r.head] }
func (r *ring) back() *item  { return r.at(r.n - 1) }
func (r *ring) at(i int) *item {
	return r.buf[(r.head+i)%len(r.buf)]
}

func (r *ring) push(it *item) {
	r.buf[(r.head+r.n)%len(r.buf)] = it
	r.n++
}

func (r *ring) pop() *item {
	it := r.buf[r.head]
	r.buf[r.head] = nil
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	return it
}

// find returns the index of the item with id, or -1.
func (r *ring) find(id uint64) int {
	lo, hi := 0, r.n
	for lo < hi {
		m := (lo + hi) / 2
		if r.at(m).id < id {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < r.n && r.at(lo).id == id {
		return lo
	}
	return -1
}

// ackUpTo marks every item up to and including id acknowledged.
func (r *ring) ackUpTo(id uint64) {
	for i := 0; i < r.n && r.at(i).id <= id; i++ {
		r.at(i).acked = true
	}
}
