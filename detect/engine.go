package detect

import (
	"math"

	"github.com/smsswatch/smsswatch/etw"
)

const (
	// pidFilterBits sizes the PID pre-filter: a counter per PID bucket
	// that lets untracked PIDs (nearly every event) skip the map lookup.
	pidFilterBits = 14
	// exitTolerance is how long after an instance's recorded exit a start
	// naming it as parent is still taken as its child (logs with
	// one-second timestamps order a child's exit and its last start
	// arbitrarily).
	exitTolerance = int64(1e9)
	// noDeadline means nothing is pending.
	noDeadline = int64(math.MaxInt64)
)

// Engine is the smss.exe state machine for one (host, source). It is
// single-threaded and deterministic: feed it events in time order with
// Handle, and the advance of time with Advance; the same events give the
// same violations whatever the wall clock does.
//
// The engine is two layers. The host model (instance.go, boot.go,
// exitproof.go, roles.go) keeps the facts of DETECTION.md's evidence
// rules: which smss.exe instances run and in which role, which boot they
// belong to, whether this source proves exit delivery, which master
// candidates are undecided. The rules (one rule_*.go file each) turn those
// facts into a violation, a check not made (with its Gap), or nothing.
type Engine struct {
	d     *Detector
	cfg   *Config
	paths pathMatcher
	host  string
	src   etw.Source
	sink  Sink
	// shared holds what every source of this host proves about boots.
	shared *Host

	now  int64
	live bool // live ETW: boot known from the system, exits always delivered
	// proof is what this source showed about delivering exits in the
	// current boot (evidence rule 2).
	proof exitProof
	// awaiting counts session children past their deadline whose
	// persistence waits for an exit record proving delivery after it.
	awaiting int
	bootTime int64
	// bootStart is when the current boot began (its earliest evidence),
	// 0 before any boot was seen.
	bootStart int64
	epoch     uint32
	// session0 is the session child that set up session 0 in this boot
	// (it started wininit.exe), or -1.
	session0 int32
	// sharedSeen indexes the host's boots already applied to this engine.
	sharedSeen int

	pathCache  pathCache
	classCache classCache

	inst      []instance
	free      []int32
	byPID     pidTable
	byKey     map[uint64]int32
	pidFilter []uint16
	master    int32
	// pending is the latest master candidate, or -1; pendingN counts
	// the candidates undecided.
	pending  int32
	pendingN int
	next     int64 // earliest pending deadline

	agg      [numRules]aggState
	aggNext  int64
	stats    Stats
	v        Violation
	keyBuf   []byte
	msgBuf   []byte
	history  []InstanceReport
	boots    []BootReport
	regState registryState
	// bootOpen: the last boot report has no master yet.
	bootOpen bool
	// keyOnly counts tracked instances known by key but not PID.
	keyOnly int
	// bootAllow holds the programs of the BootExecute / SetupExecute
	// baseline, which the master may start too.
	bootAllow map[string]bool
}

func newEngine(d *Detector, h *Host, src etw.Source, sink Sink) *Engine {
	e := &Engine{
		d:         d,
		cfg:       &d.cfg,
		paths:     d.paths,
		host:      h.name,
		shared:    h,
		src:       src,
		sink:      sink,
		live:      src == etw.SourceETW,
		inst:      make([]instance, 0, 16),
		byPID:     newPIDTable(16),
		byKey:     make(map[uint64]int32, 16),
		pidFilter: make([]uint16, 1<<pidFilterBits),
		master:    -1,
		pending:   -1,
		session0:  -1,
		next:      noDeadline,
		aggNext:   noDeadline,
		keyBuf:    make([]byte, 0, 256),
		msgBuf:    make([]byte, 0, 256),
	}
	e.proof.always = e.live
	e.bootAllow = map[string]bool{}
	e.regState.init()
	h.engines = append(h.engines, e)
	return e
}

// Host returns the host the engine watches.
func (e *Engine) Host() string { return e.host }

// Source returns the source the engine's events come from.
func (e *Engine) Source() etw.Source { return e.src }

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats { return e.stats }

// Now returns the engine's current event time (Unix ns).
func (e *Engine) Now() int64 { return e.now }

func pidBucket(pid uint32) uint32 { return (pid >> 2) & (1<<pidFilterBits - 1) }

// mayTrack is the hot-path pre-filter: false means pid is surely not tracked.
func (e *Engine) mayTrack(pid uint32) bool { return e.pidFilter[pidBucket(pid)] != 0 }

// Handle feeds one event. Events must come in time order (per source);
// Handle first advances time to the event's.
func (e *Engine) Handle(ev *etw.Event) {
	if ev.Time > e.now {
		e.Advance(ev.Time)
	}
	e.stats.Events[ev.Kind&7]++
	switch ev.Kind {
	case etw.KindStart, etw.KindRunning:
		e.onStart(ev)
	case etw.KindExit:
		e.onExit(ev)
	case etw.KindRegistry:
		e.onRegistry(ev)
	case etw.KindBoot:
		e.onBoot(ev)
	}
}

// Advance moves the engine's clock to now (Unix ns): session children past
// their window, boots other sources of the host proved, and aggregation
// windows are settled. Time never goes back.
func (e *Engine) Advance(now int64) {
	if now <= e.now {
		return
	}
	e.now = now
	if e.sharedSeen < len(e.shared.boots) {
		e.applySharedBoots(now)
	}
	if now >= e.next {
		e.settleDeadlines(now)
	}
	if now >= e.aggNext {
		e.flushAggregates(now, false)
	}
}

// Flush ends the input: what is still undecided becomes a check not made
// (a child waiting for proof of exit delivery, a master candidate), and
// aggregation emits what it holds. Call it at the end of a recorded input
// or when the sensor stops.
func (e *Engine) Flush() {
	e.applySharedBoots(noDeadline - 1)
	e.decideCandidateAtEnd()
	e.giveUpAwaiting()
	e.flushAggregates(e.now, true)
}

// settleDeadlines handles the session children whose window ended by now
// and recomputes e.next.
func (e *Engine) settleDeadlines(now int64) {
	next := noDeadline
	for i := range e.inst {
		in := &e.inst[i]
		if !in.used || in.deadline == noDeadline || in.role != RoleChild || in.exited || in.awaitProof {
			continue
		}
		if in.deadline > now {
			if in.deadline < next {
				next = in.deadline
			}
			continue
		}
		e.childPastDeadline(in)
	}
	e.next = next
}

// armDeadline makes sure Advance looks at t.
func (e *Engine) armDeadline(t int64) {
	if t < e.next {
		e.next = t
	}
}

// onStart handles a process start or an already-running process. This is
// the hot path: a benign process costs a name classification and one or
// two filter probes.
func (e *Engine) onStart(ev *etw.Event) {
	p := &ev.Proc
	cls := nameOther
	if ev.Known&etw.FieldImage != 0 {
		cls = e.classify(p.Image)
	}
	if ev.Known&etw.FieldPID != 0 && e.mayTrack(p.PID) {
		if e.onPIDSeen(ev) {
			return // the same process again
		}
	}
	parent := int32(-1)
	if ev.Known&etw.FieldParentPID != 0 && e.mayTrack(p.ParentPID) {
		parent = e.parentOf(ev, false)
	}
	// By key: when the source gives no parent PID, or when some instance
	// is known by key only (a Sysmon record without ProcessId).
	if parent < 0 && ev.Known&etw.FieldParentKey != 0 && (ev.Known&etw.FieldParentPID == 0 || e.keyOnly > 0) && len(e.byKey) > 0 {
		parent = e.parentOf(ev, true)
	}
	if cls == nameOther && parent < 0 {
		if ev.Known&etw.FieldParentImage == 0 || e.classify(p.ParentImage) != nameSmss {
			return
		}
		// Started by an smss.exe whose own start this source never
		// recorded: an instance of unknown role (evidence rule 8).
		parent = e.untrackedSmssParent(ev)
		if parent < 0 {
			return
		}
	}
	if cls == nameSmss {
		parent = e.onSmss(ev, parent)
	}
	if parent >= 0 && e.inst[parent].used {
		e.noteBootGoesOn(parent, startOf(ev))
		e.onSpawn(parent, ev, cls)
	}
	if cls == nameCsrss || cls == nameWininit || cls == nameWinlogon {
		e.checkSessionChain(ev, parent)
	}
}

// onExit handles a process exit.
func (e *Engine) onExit(ev *etw.Event) {
	e.stats.Exits++
	p := &ev.Proc
	exit := ev.Time
	if ev.Known&etw.FieldExitTime != 0 {
		exit = p.ExitTime
	}
	if !e.proof.always && (e.proof.first == 0 || e.awaiting > 0) {
		e.proveExits(ev, exit)
	}
	slot := int32(-1)
	if ev.Known&etw.FieldPID != 0 {
		if !e.mayTrack(p.PID) {
			return
		}
		s, ok := e.byPID.get(p.PID)
		if !ok {
			return
		}
		slot = s
	} else if ev.Known&etw.FieldKey != 0 && len(e.byKey) > 0 {
		s, ok := e.byKey[e.hashKey(p.Key)]
		if !ok {
			return
		}
		slot = s
	} else {
		return
	}
	in := &e.inst[slot]
	if in.exited {
		return
	}
	if ev.Known&etw.FieldKey != 0 && in.info.Known&etw.FieldKey != 0 && p.Key != in.info.Key {
		return
	}
	if ev.Known&etw.FieldCreateTime != 0 && in.info.Known&etw.FieldCreateTime != 0 && p.CreateTime != in.info.CreateTime {
		return
	}
	in.exited, in.exit = true, exit
	in.info.ExitTime = exit
	in.info.Known |= etw.FieldExitTime
	if in.role == RoleChild {
		e.childExited(in, exit)
	}
	if in.pending {
		// A new boot's master never exits: a candidate that does was a
		// second master while the first was alive (evidence rule 7).
		e.rejectCandidate(slot, exit)
		return
	}
	e.noteBootGoesOn(slot, exit)
}
