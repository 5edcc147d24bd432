package live

import "github.com/smsswatch/smsswatch/etw"

// reorderBuf holds events for a short lag and releases them in time order.
// ETW real-time sessions fill one buffer per CPU, so a consumer can see a
// later event before an earlier one; the detector wants time order (a
// session child's exit must come before the deadline it beats). Events
// older than now-lag are released oldest first; equal times keep arrival
// order. Bounded: past max events the oldest is released early. Owned by
// the consumer goroutine; no allocation once its slices have grown.
//
// The events themselves never move: the buffer holds pointers to them.
// They are its own (chunks, at most max+1 events), or taken from the
// queue's slots (adopt, in exchange for one of its own: spare), so that a
// queued event is not copied. Most arrive in time order: those (not older
// than the newest event the ring took since the buffer was last empty) go
// to a FIFO ring, which is then sorted by itself. The others, the late
// ones, go to a binary heap of small keys (time, arrival number, event).
// The oldest held event is the older of the ring's head and the heap's
// top; on equal times the ring's comes first, as it arrived first: an
// event with the same time that arrived later would have found the ring's
// newest time already at least that and gone to the ring too, behind it,
// and the ring's newest time only goes back when the buffer is empty.
type reorderBuf struct {
	max int
	seq uint64

	// chunks are the events the buffer allocated (owned counts them);
	// free lists the ones not in use, the last freed (still in cache) on
	// top. A free event is not cleared: whoever fills one writes all of
	// it (push copies a whole event in; a queue slot given one is
	// overwritten whole by Push). It keeps its strings alive until then,
	// so what the events keep alive is bounded by their number, the
	// queue's capacity plus max+1, as when the queue and the buffer are
	// full.
	chunks [][]etw.Event
	owned  int
	free   []*etw.Event
	// ring lists the in-order events, oldest first; last is the time of
	// the newest event it took (valid when ringUsed).
	ring     eventRing
	last     int64
	ringUsed bool
	// late is the min-heap of the other events.
	late []lateKey

	// taken is the event last returned by pop or popReady, or nil: it is
	// recycled at the next call (the caller reads the event in place
	// until then).
	taken *etw.Event
}

// lateKey is a late event's place in the heap.
type lateKey struct {
	time int64
	seq  uint64
	ev   *etw.Event
}

func newReorderBuf(max int) *reorderBuf { return &reorderBuf{max: max} }

// len returns the number of held events.
func (r *reorderBuf) len() int { return r.ring.len() + len(r.late) }

// full reports whether the buffer holds max events: the caller must pop
// one before it pushes.
func (r *reorderBuf) full() bool { return r.len() >= r.max }

// recycle frees the event last returned.
func (r *reorderBuf) recycle() {
	if r.taken == nil {
		return
	}
	r.free = append(r.free, r.taken)
	r.taken = nil
}

// spare returns an event of the buffer's own, to give in exchange for
// the one adopt takes (a queue slot, which the producer overwrites whole)
// or to copy one into (push): either way all of it is written before it
// is read, so it is not cleared (see free). It is no longer the buffer's
// until adopt.
func (r *reorderBuf) spare() *etw.Event {
	if r.taken != nil {
		// The event just released (the oldest, when the buffer is
		// full): still in cache.
		ev := r.taken
		r.taken = nil
		return ev
	}
	if n := len(r.free) - 1; n >= 0 {
		ev := r.free[n]
		r.free = r.free[:n]
		return ev
	}
	// A chunk of new events: a quarter of what the buffer owns, at least
	// 16, and no more than max+1 in all.
	k := min(max(r.owned/4, 16), r.max+1-r.owned)
	k = max(k, 1)
	chunk := make([]etw.Event, k)
	r.chunks = append(r.chunks, chunk)
	r.owned += k
	for i := k - 1; i > 0; i-- {
		r.free = append(r.free, &chunk[i])
	}
	return &chunk[0]
}

// push adds a copy of ev. The buffer must not be full (full, pop).
func (r *reorderBuf) push(ev *etw.Event) {
	dst := r.spare()
	*dst = *ev
	r.adopt(dst)
}

// adopt adds ev itself, which becomes the buffer's (for a spare it gave).
// The buffer must not be full (full, pop).
func (r *reorderBuf) adopt(ev *etw.Event) {
	r.seq++
	if !r.ringUsed || ev.Time >= r.last {
		r.ring.push(ev)
		r.last = ev.Time
		r.ringUsed = true
		return
	}
	r.late = append(r.late, lateKey{time: ev.Time, seq: r.seq, ev: ev})
	r.up(len(r.late) - 1)
}

// popReady removes the oldest event and returns it if its time is at or
// before until, else returns nil. The event is valid (and the caller's
// to change) until the next call of push, pop or popReady.
func (r *reorderBuf) popReady(until int64) *etw.Event {
	r.recycle()
	if r.ring.len() > 0 {
		s := r.ring.front()
		t := s.Time
		if len(r.late) == 0 || t <= r.late[0].time {
			if t > until {
				return nil
			}
			r.ring.pop()
			return r.took(s)
		}
	} else if len(r.late) == 0 {
		return nil
	}
	if r.late[0].time > until {
		return nil
	}
	return r.took(r.popLate())
}

// pop removes and returns the oldest event, or nil when empty; as
// popReady.
func (r *reorderBuf) pop() *etw.Event { return r.popReady(1<<63 - 1) }

// took hands out s and forgets the ring's newest time when the buffer is
// now empty.
func (r *reorderBuf) took(s *etw.Event) *etw.Event {
	r.taken = s
	if r.ring.len() == 0 && len(r.late) == 0 {
		r.ringUsed = false
	}
	return s
}

// evict removes the oldest held event and returns it (the buffer must not
// be empty). Unlike pop's, it is no longer the buffer's: the caller hands
// it out and gives it to the queue in place of the event adopt takes
// (keep).
func (r *reorderBuf) evict() *etw.Event {
	var s *etw.Event
	if len(r.late) == 0 || (r.ring.len() > 0 && r.ring.front().Time <= r.late[0].time) {
		s = r.ring.pop()
	} else {
		s = r.popLate()
	}
	if r.ring.len() == 0 && len(r.late) == 0 {
		r.ringUsed = false
	}
	return s
}

// exchange is evict then adopt(ev), for a full buffer: it returns the
// oldest held event, no longer the buffer's, and holds ev (taken from the
// queue in its place). The common case, an in-order event replacing the
// ring's oldest, rotates the ring in place.
func (r *reorderBuf) exchange(ev *etw.Event) *etw.Event {
	q := &r.ring
	if buf := q.buf; q.tail != q.head && ev.Time >= r.last && len(buf) > 0 {
		mask := uint32(len(buf) - 1)
		if old := buf[q.head&mask]; len(r.late) == 0 || old.Time <= r.late[0].time {
			// The ring's length does not change: no growth, and it
			// stays in use (ringUsed).
			buf[q.tail&mask] = ev
			q.head++
			q.tail++
			r.seq++
			r.last = ev.Time
			return old
		}
	}
	old := r.evict()
	r.adopt(ev)
	return old
}

// popLate removes the heap's top and returns its event.
func (r *reorderBuf) popLate() *etw.Event {
	s := r.late[0].ev
	n := len(r.late) - 1
	r.late[0] = r.late[n]
	r.late = r.late[:n]
	if n > 0 {
		r.down(0)
	}
	return s
}

func (a *lateKey) less(b *lateKey) bool {
	if a.time != b.time {
		return a.time < b.time
	}
	return a.seq < b.seq
}

func (r *reorderBuf) up(i int) {
	h := r.late
	k := h[i]
	for i > 0 {
		p := (i - 1) / 2
		if !k.less(&h[p]) {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = k
}

func (r *reorderBuf) down(i int) {
	h := r.late
	n := len(h)
	k := h[i]
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if rr := l + 1; rr < n && h[rr].less(&h[l]) {
			m = rr
		}
		if !h[m].less(&k) {
			break
		}
		h[i] = h[m]
		i = m
	}
	h[i] = k
}

// eventRing is a FIFO of events that doubles when full.
type eventRing struct {
	buf        []*etw.Event // power-of-two length
	head, tail uint32       // free-running; tail-head is the length
}

func (q *eventRing) len() int { return int(q.tail - q.head) }

func (q *eventRing) push(v *etw.Event) {
	if int(q.tail-q.head) == len(q.buf) {
		q.grow()
	}
	q.buf[q.tail&uint32(len(q.buf)-1)] = v
	q.tail++
}

// front returns the oldest event; the ring must not be empty.
func (q *eventRing) front() *etw.Event { return q.buf[q.head&uint32(len(q.buf)-1)] }

// pop removes and returns the oldest event; the ring must not be empty.
// Its slot keeps the pointer until overwritten (the event is the
// buffer's own, or the queue's, alive either way).
func (q *eventRing) pop() *etw.Event {
	v := q.buf[q.head&uint32(len(q.buf)-1)]
	q.head++
	return v
}

func (q *eventRing) grow() {
	n := max(2*len(q.buf), 64)
	buf := make([]*etw.Event, n)
	for i := range q.tail - q.head {
		buf[i] = q.buf[(q.head+i)&uint32(len(q.buf)-1)]
	}
	q.buf, q.head, q.tail = buf, 0, q.tail-q.head
}
