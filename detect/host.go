package detect

import "github.com/smsswatch/smsswatch/etw"

// maxHostBoots bounds the boots a Host remembers.
const maxHostBoots = 1024

// Host is what every source of one host proves about its boots
// (DETECTION.md evidence rule 5: one source, one state; one host, one
// boot). Engines stay per (host, source); a boot one of them proves (a
// boot record, a master start that begins a boot, a confirmed candidate,
// a session-0 child) reaches the host's other engines when their event
// time passes its start, and resets their state as their own evidence
// would.
//
// A Host and its engines are not safe for concurrent use: drive the
// engines of one host from one goroutine.
type Host struct {
	name    string
	boots   []int64 // starts of the boots proven, in the order proven
	engines []*Engine
	// dropped counts boots not remembered (bounded).
	dropped uint64
	// alive records, per master (by its start), the latest time a source
	// saw that master's boot going on (evidence rule 7), bounded.
	alive []bootAlive
}

// bootAlive is the latest time the boot of the master that started at
// master was seen going on.
type bootAlive struct{ master, t int64 }

// maxAlive bounds Host.alive.
const maxAlive = 64

// noteAlive records that the boot whose master started at master went on
// at t.
func (h *Host) noteAlive(master, t int64) {
	for i := range h.alive {
		if a := &h.alive[i]; absDiff(a.master, master) <= exitTolerance {
			if t > a.t {
				a.t = t
			}
			return
		}
	}
	if len(h.alive) >= maxAlive {
		copy(h.alive, h.alive[1:])
		h.alive = h.alive[:maxAlive-1]
	}
	h.alive = append(h.alive, bootAlive{master, t})
}

// aliveAfter returns a time after after at which any source saw the boot
// of the master that started at master going on, or 0.
func (h *Host) aliveAfter(master, after int64) int64 {
	for _, a := range h.alive {
		if absDiff(a.master, master) <= exitTolerance && a.t > after {
			return a.t
		}
	}
	return 0
}

// NewHost returns the shared boot facts of the host named name, for
// HostEngine.
func (d *Detector) NewHost(name string) *Host { return &Host{name: name} }

// HostEngine returns a new engine for one source of host h: engines made
// for the same Host share what any of them proves about boots.
func (d *Detector) HostEngine(h *Host, src etw.Source, sink Sink) *Engine {
	return newEngine(d, h, src, sink)
}

// Name returns the host's name.
func (h *Host) Name() string { return h.name }

// Boots returns how many distinct boots the host's sources proved.
func (h *Host) Boots() int { return len(h.boots) }

// proveBoot records that one of the host's engines proved a boot
// beginning at start. The same boot proven by several sources is kept
// once. A master start alone proves nothing to other sources (a master
// with a spoofed parent must not reset them), and boot records reach
// every source from the reader: what is shared is a boot proven by a
// confirmed candidate or a session-0 child.
func (h *Host) proveBoot(start int64) {
	for i := len(h.boots) - 1; i >= 0 && i >= len(h.boots)-8; i-- {
		if absDiff(h.boots[i], start) <= exitTolerance {
			return
		}
	}
	if len(h.boots) >= maxHostBoots {
		h.dropped++
		return
	}
	h.boots = append(h.boots, start)
}

// applySharedBoots applies to e the boots other sources of its host
// proved that began by now and after e's current boot.
func (e *Engine) applySharedBoots(now int64) {
	boots := e.shared.boots
	for e.sharedSeen < len(boots) {
		start := boots[e.sharedSeen]
		if start > now {
			return // not yet: the engine's time has not reached it
		}
		e.sharedSeen++
		if e.live || start <= e.bootStart+exitTolerance {
			continue // live, the boot is the system's; or already known
		}
		if e.master >= 0 && !e.inst[e.master].inferred && absDiff(e.inst[e.master].start, start) <= exitTolerance {
			continue // this engine's own master
		}
		if e.confirmCandidateAt(start) {
			continue
		}
		e.newBoot()
		e.bootStart = start
		e.bootOpen = true
		e.stats.Boots++
		e.stats.HostBoots++
		e.addBoot(BootReport{Time: start, Evidence: bootByHost})
	}
}

// confirmCandidateAt confirms the engine's master candidate that started
// at start (another source proved its boot). It reports whether there
// was one.
func (e *Engine) confirmCandidateAt(start int64) bool {
	for i := range e.inst {
		if in := &e.inst[i]; in.used && in.pending && absDiff(in.start, start) <= exitTolerance {
			e.confirmCandidate(int32(i))
			return true
		}
	}
	return false
}
