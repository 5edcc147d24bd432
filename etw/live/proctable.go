package live

import (
	"sync/atomic"

	"github.com/smsswatch/smsswatch/etw"
)

// procEntry is what the sensor remembers of a running process.
type procEntry struct {
	image      string
	createTime int64 // Unix ns; 0 when unknown
	key        string
}

// matches reports whether e is the process ev describes: the creation
// times agree when both are known, and so do the sequence numbers.
func (e *procEntry) matches(ev *etw.Event) bool {
	if e.createTime != 0 && ev.Has(etw.FieldCreateTime) && e.createTime != ev.Proc.CreateTime {
		return false
	}
	if e.key != "" && ev.Has(etw.FieldKey) && e.key != ev.Proc.Key {
		return false
	}
	return true
}

// procSlot is one slot of the process table.
type procSlot struct {
	pid  uint32
	used bool
	procEntry
}

// procTableMin is the slot count the table starts with.
const procTableMin = 1024

// procTable maps PID to the running process, bounded: when full, an
// arbitrary entry (never PID 4) is evicted, and counted, to make room.
//
// It is an open-addressed table (linear probing, deletion by backward
// shift, so no tombstones) of at least twice as many slots as entries: a
// lookup is a multiply, a shift and, mostly, one slot. It doubles when it
// would hold more than a quarter of its slots, as long as that keeps it
// within twice the bound (short probe runs), and in any case when it
// would hold more than half of them; so it allocates only while it grows.
// Owned by the consumer goroutine; only the eviction counter is read
// elsewhere.
type procTable struct {
	max   int
	n     int
	slots []procSlot // power-of-two length
	shift uint8      // 32 - log2(len(slots))
	// grow is the entry count that makes put double the table: a quarter
	// of the slots while doubling stays within twice the bound, else half.
	grow int
	// cursor is where the search for an eviction victim starts.
	cursor  uint32
	evicted atomic.Uint64
}

func newProcTable(max int) *procTable {
	t := &procTable{max: max}
	t.resize(procTableMin)
	// PID 4 is always the System process.
	t.put(4, "System", 0, "")
	return t
}

func (t *procTable) resize(size int) {
	old := t.slots
	t.slots = make([]procSlot, size)
	t.shift = 32
	for s := size; s > 1; s >>= 1 {
		t.shift--
	}
	t.grow = size / 2
	if size <= t.max {
		t.grow = size / 4
	}
	t.n = 0
	for i := range old {
		if old[i].used {
			t.insert(old[i].pid, &old[i].procEntry)
		}
	}
}

// home is pid's first slot (Fibonacci hashing: PIDs are multiples of 4).
// (shift is below 32: the mask spares the compiler's check for larger.)
func (t *procTable) home(pid uint32) uint32 { return (pid * 0x9E3779B1) >> (t.shift & 31) }

// find returns the slot holding pid, or the empty slot where it would go,
// and whether it was found.
func (t *procTable) find(pid uint32) (uint32, bool) {
	mask := uint32(len(t.slots) - 1)
	i := t.home(pid)
	for {
		s := &t.slots[i]
		if !s.used {
			return i, false
		}
		if s.pid == pid {
			return i, true
		}
		i = (i + 1) & mask
	}
}

// insert puts pid, known absent, in the table (no bound check).
func (t *procTable) insert(pid uint32, e *procEntry) {
	i, _ := t.find(pid)
	t.slots[i] = procSlot{pid: pid, used: true, procEntry: *e}
	t.n++
}

func (t *procTable) get(pid uint32) (procEntry, bool) {
	if i, ok := t.find(pid); ok {
		return t.slots[i].procEntry, true
	}
	return procEntry{}, false
}

// lookup returns pid's entry in place, and its slot (for delAt), or nil:
// valid until the table next changes.
func (t *procTable) lookup(pid uint32) (*procEntry, uint32) {
	mask := uint32(len(t.slots) - 1)
	for i := t.home(pid); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if !s.used {
			return nil, 0
		}
		if s.pid == pid {
			return &s.procEntry, i
		}
	}
}

// put records pid's process: its image, its creation time (Unix ns, 0
// when unknown) and its sequence number ("" when unknown). The fields go
// in registers (a procEntry argument would go through the stack: put is
// called for every process start).
func (t *procTable) put(pid uint32, image string, createTime int64, key string) {
	if pid == 4 && image == "" {
		image = "System"
	}
	i, ok := t.find(pid)
	if !ok {
		if t.n >= t.max || t.n >= t.grow {
			t.putSlow(pid, procEntry{image: image, createTime: createTime, key: key})
			return
		}
		t.slots[i].pid, t.slots[i].used = pid, true
		t.n++
	}
	s := &t.slots[i]
	s.image, s.createTime, s.key = image, createTime, key
}

// putSlow is put for an absent pid when the table is at its bound (an
// entry is evicted) or must grow.
func (t *procTable) putSlow(pid uint32, e procEntry) {
	if t.n >= t.max {
		t.evict()
	} else {
		t.resize(2 * len(t.slots))
	}
	t.insert(pid, &e)
}

// evict removes an entry other than PID 4's, and counts it.
func (t *procTable) evict() {
	mask := uint32(len(t.slots) - 1)
	for i := t.cursor & mask; ; i = (i + 1) & mask {
		if s := &t.slots[i]; s.used && s.pid != 4 {
			t.cursor = i + 1
			t.remove(i)
			t.evicted.Add(1)
			return
		}
	}
}

func (t *procTable) del(pid uint32) {
	if pid == 4 {
		return
	}
	if i, ok := t.find(pid); ok {
		t.remove(i)
	}
}

// delAt removes the entry at slot i (lookup's, the table unchanged since)
// unless it is PID 4's, as del does.
func (t *procTable) delAt(i uint32) {
	if t.slots[i].pid != 4 {
		t.remove(i)
	}
}

// remove empties slot i and shifts back the entries after it that would
// no longer be found past the hole.
func (t *procTable) remove(i uint32) {
	mask := uint32(len(t.slots) - 1)
	j := i
	for {
		j = (j + 1) & mask
		s := &t.slots[j]
		if !s.used {
			break
		}
		// The entry at j may move to the hole at i when its home is
		// not (cyclically) in (i, j].
		if h := t.home(s.pid); (j-h)&mask >= (j-i)&mask {
			t.slots[i] = *s
			i = j
		}
	}
	t.slots[i] = procSlot{}
	t.n--
}

func (t *procTable) len() int { return t.n }

// pids returns the PIDs in the table (for reconciliation).
func (t *procTable) pids() []uint32 {
	out := make([]uint32, 0, t.n)
	for i := range t.slots {
		if t.slots[i].used {
			out = append(out, t.slots[i].pid)
		}
	}
	return out
}
