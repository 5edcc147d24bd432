package live

import "github.com/smsswatch/smsswatch/etw"

// reorderBuf holds events for a short lag and releases them in time order.
// ETW real-time sessions fill one buffer per CPU, so a consumer can see a
// later event before an earlier one; the detector wants time order (a
// session child's exit must come before the deadline it beats). Events
// older than now-lag are released oldest first; equal times keep arrival
// order. Bounded: past max events the oldest is released early. Owned by
// the consumer goroutine; no allocation once its slice has grown.
type reorderBuf struct {
	max  int
	seq  uint64
	heap []reorderItem
}

type reorderItem struct {
	seq uint64
	ev  etw.Event
}

func newReorderBuf(max int) *reorderBuf { return &reorderBuf{max: max} }

func (r *reorderBuf) len() int { return len(r.heap) }

func (r *reorderBuf) less(i, j int) bool {
	a, b := &r.heap[i], &r.heap[j]
	if a.ev.Time != b.ev.Time {
		return a.ev.Time < b.ev.Time
	}
	return a.seq < b.seq
}

// push adds a copy of ev. When the buffer is full it first returns the
// oldest event into out and reports true: the caller must deliver it.
func (r *reorderBuf) push(ev *etw.Event, out *etw.Event) bool {
	overflow := false
	if len(r.heap) >= r.max {
		overflow = r.pop(out)
	}
	r.seq++
	r.heap = append(r.heap, reorderItem{seq: r.seq, ev: *ev})
	r.up(len(r.heap) - 1)
	return overflow
}

// popReady moves the oldest event into out if its time is at or before
// until.
func (r *reorderBuf) popReady(until int64, out *etw.Event) bool {
	if len(r.heap) == 0 || r.heap[0].ev.Time > until {
		return false
	}
	return r.pop(out)
}

// pop moves the oldest event into out.
func (r *reorderBuf) pop(out *etw.Event) bool {
	n := len(r.heap) - 1
	if n < 0 {
		return false
	}
	*out = r.heap[0].ev
	r.heap[0] = r.heap[n]
	r.heap[n] = reorderItem{} // drop the strings
	r.heap = r.heap[:n]
	if n > 0 {
		r.down(0)
	}
	return true
}

func (r *reorderBuf) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !r.less(i, p) {
			return
		}
		r.heap[i], r.heap[p] = r.heap[p], r.heap[i]
		i = p
	}
}

func (r *reorderBuf) down(i int) {
	n := len(r.heap)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if rr := l + 1; rr < n && r.less(rr, l) {
			m = rr
		}
		if !r.less(m, i) {
			return
		}
		r.heap[i], r.heap[m] = r.heap[m], r.heap[i]
		i = m
	}
}
