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
func (e procEntry) matches(ev *etw.Event) bool {
	if e.createTime != 0 && ev.Has(etw.FieldCreateTime) && e.createTime != ev.Proc.CreateTime {
		return false
	}
	if e.key != "" && ev.Has(etw.FieldKey) && e.key != ev.Proc.Key {
		return false
	}
	return true
}

// procTable maps PID to the running process, bounded: when full, an
// arbitrary entry is evicted (and counted) to make room. Owned by the
// consumer goroutine; only the eviction counter is read elsewhere.
type procTable struct {
	max     int
	m       map[uint32]procEntry
	evicted atomic.Uint64
}

func newProcTable(max int) *procTable {
	t := &procTable{max: max, m: make(map[uint32]procEntry, 1024)}
	// PID 4 is always the System process.
	t.m[4] = procEntry{image: "System"}
	return t
}

func (t *procTable) get(pid uint32) (procEntry, bool) {
	e, ok := t.m[pid]
	return e, ok
}

func (t *procTable) put(pid uint32, e procEntry) {
	if pid == 4 && e.image == "" {
		e.image = "System"
	}
	if _, ok := t.m[pid]; !ok && len(t.m) >= t.max {
		for victim := range t.m {
			if victim == 4 {
				continue
			}
			delete(t.m, victim)
			t.evicted.Add(1)
			break
		}
	}
	t.m[pid] = e
}

func (t *procTable) del(pid uint32) {
	if pid == 4 {
		return
	}
	delete(t.m, pid)
}

func (t *procTable) len() int { return len(t.m) }

// pids returns the PIDs in the table (for reconciliation).
func (t *procTable) pids() []uint32 {
	out := make([]uint32, 0, len(t.m))
	for pid := range t.m {
		out = append(out, pid)
	}
	return out
}
