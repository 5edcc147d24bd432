package live

import (
	"time"

	"github.com/smsswatch/smsswatch/etw"
)

// The end-to-end canary: every CanaryEvery the Windows layer starts a
// trivial child process (cmd.exe /c exit) and tells the consumer its PID;
// the consumer expects that process's ProcessStart (parent = the sensor)
// within CanaryTimeout and raises sensor.blind when it does not come. It
// catches what the session's own counters cannot: an event-ID filter, a
// provider disabled and re-enabled between two health ticks, a consumer
// that silently stopped receiving.
//
// canaryWatch is the consumer's half, a pure state machine per probe:
//
//	free -> sent (sent)          -> free (its start seen: ok)
//	                             -> free (deadline passed: missed)
//	free -> early (start seen before the sent note) -> free (sent: ok)
//
// Starts are matched by PID and by parent (the sensor's own PID), so an
// unrelated process that reuses the PID later does not count. Owned by the
// consumer goroutine; no allocation.
type canaryWatch struct {
	parent  uint32
	timeout int64
	probes  [canarySlots]canaryProbe
	// early holds PIDs of the sensor's children whose start arrived
	// before the note that they were sent (ring).
	early  [canarySlots]uint32
	earlyN int
	sentN  uint64
	seenN  uint64
	missN  uint64
}

// canarySlots bounds the probes in flight (one per period; a timeout is
// shorter than a period, so one or two are ever pending).
const canarySlots = 8

type canaryProbe struct {
	pid      uint32
	active   bool
	sent     int64
	deadline int64
}

// newCanaryWatch watches for children of parent, each due within timeout
// of being sent.
func newCanaryWatch(parent uint32, timeout time.Duration) *canaryWatch {
	return &canaryWatch{parent: parent, timeout: int64(timeout)}
}

// start is shown every ProcessStart the consumer handles.
func (w *canaryWatch) start(ev *etw.Event) {
	if ev.Kind != etw.KindStart || !ev.Has(etw.FieldParentPID) || ev.Proc.ParentPID != w.parent {
		return
	}
	pid := ev.Proc.PID
	for i := range w.probes {
		p := &w.probes[i]
		if p.active && p.pid == pid {
			p.active = false
			w.seenN++
			return
		}
	}
	w.early[w.earlyN%canarySlots] = pid
	w.earlyN++
}

// sent records that canary pid was started at (sensor clock). When every
// slot was waiting, the oldest probe is given up as missed and reported
// (evicted true, its PID).
func (w *canaryWatch) sent(pid uint32, at int64) (evicted bool, evictedPID uint32) {
	w.sentN++
	for i := range w.early {
		if w.early[i] == pid && pid != 0 {
			w.early[i] = 0
			w.seenN++
			return false, 0
		}
	}
	slot, oldest := -1, int64(1<<63-1)
	for i := range w.probes {
		p := &w.probes[i]
		if !p.active {
			slot = i
			break
		}
		if p.sent < oldest {
			slot, oldest = i, p.sent
		}
	}
	if w.probes[slot].active {
		// Every slot is waiting: the oldest counts as missed now.
		w.missN++
		evicted, evictedPID = true, w.probes[slot].pid
	}
	w.probes[slot] = canaryProbe{pid: pid, active: true, sent: at, deadline: at + w.timeout}
	return evicted, evictedPID
}

// expire ends the probes whose deadline is at or before now: it returns
// how many missed and the PID of one of them (for the reason).
func (w *canaryWatch) expire(now int64) (missed int, pid uint32) {
	for i := range w.probes {
		p := &w.probes[i]
		if p.active && p.deadline <= now {
			p.active = false
			w.missN++
			missed++
			pid = p.pid
		}
	}
	return missed, pid
}

// pending is how many probes wait for their start.
func (w *canaryWatch) pending() int {
	n := 0
	for i := range w.probes {
		if w.probes[i].active {
			n++
		}
	}
	return n
}
