package detect

import (
	"math"

	"github.com/smsswatch/smsswatch/etw"
)

const (
	// pidFilterBits sizes the PID pre-filter: a counter per PID bucket
	// that lets untracked PIDs (nearly every event) skip the map lookup.
	pidFilterBits = 14
	// maxSpawned is how many started processes an instance remembers.
	maxSpawned = 8
	// exitTolerance is how long after an instance's recorded exit a start
	// naming it as parent is still taken as its child (logs with
	// one-second timestamps order a child's exit and its last start
	// arbitrarily).
	exitTolerance = int64(1e9)
	// noDeadline means nothing is pending.
	noDeadline = int64(math.MaxInt64)
)

// spawn is a process an smss.exe instance started.
type spawn struct {
	name    string
	pid     uint32
	session uint32
	known   etw.Field
	time    int64
}

// instance is one tracked smss.exe process.
type instance struct {
	used  bool
	role  Role
	epoch uint32
	// inferred: the master was not seen starting; it is known only as
	// the genuine smss.exe parent of a child.
	inferred bool
	// pending: recorded data, a master candidate while another master is
	// alive; it becomes the master of a new boot once it starts its
	// session children, or a second master at confirmBy.
	pending   bool
	confirmBy int64
	children  uint8
	// silent: a candidate without parent evidence (no parent PID or
	// image); timing out says nothing about a second master.
	silent bool
	// booting: the candidate runs boot-phase programs (autochk,
	// poqexec...): a boot, however long it takes, until it exits.
	booting bool
	// rejected: a candidate that timed out or exited (a second master);
	// it keeps the master role so its children are judged as children.
	rejected bool

	pid     uint32
	keyHash uint64
	start   int64 // creation time (Unix ns), or first seen for a running process
	// startKnown: start is the real creation time (not when a snapshot
	// first saw the process).
	startKnown bool
	exited     bool
	exit       int64

	// Session-child life.
	deadline int64 // start + child_window; noDeadline once settled
	session  uint32
	hasSess  bool

	parentSlot int32  // the tracked parent when the instance started, or -1
	fired      uint32 // bit per Rule already fired for this instance
	info       ProcessInfo
	parent     ProcessInfo
	spawned    [maxSpawned]spawn
	nSpawned   uint8
	more       uint32 // spawned beyond maxSpawned
}

func (in *instance) hasFired(r Rule) bool { return in.fired&(1<<r) != 0 }

// aggState is the flood control for one rule on this engine.
type aggState struct {
	windowStart int64
	n           int
	folded      uint32
	first, last int64
	tmpl        Violation
}

// Engine is the smss.exe state machine for one (host, source). It is
// single-threaded and deterministic: feed it events in time order with
// Handle, and the advance of time with Advance; the same events give the
// same violations whatever the wall clock does.
type Engine struct {
	d     *Detector
	cfg   *Config
	paths pathMatcher
	host  string
	src   etw.Source
	sink  Sink

	now int64
	// exitProof is the time of the first process-exit record of this boot
	// (recorded data): a child that started after it would have had its
	// exit recorded too. exitsAlways: live ETW, where exits are delivered.
	exitProof   int64
	exitsAlways bool
	live        bool // live ETW: boot known from the system, exits always delivered
	bootTime    int64
	epoch       uint32

	inst      []instance
	free      []int32
	byPID     map[uint32]int32
	byKey     map[uint64]int32
	pidFilter []uint16
	master    int32
	pending   int32
	next      int64 // earliest pending deadline

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

func newEngine(d *Detector, host string, src etw.Source, sink Sink) *Engine {
	e := &Engine{
		d:         d,
		cfg:       &d.cfg,
		paths:     d.paths,
		host:      host,
		src:       src,
		sink:      sink,
		live:      src == etw.SourceETW,
		inst:      make([]instance, 0, 16),
		byPID:     make(map[uint32]int32, 16),
		byKey:     make(map[uint64]int32, 16),
		pidFilter: make([]uint16, 1<<pidFilterBits),
		master:    -1,
		pending:   -1,
		next:      noDeadline,
		aggNext:   noDeadline,
		keyBuf:    make([]byte, 0, 256),
		msgBuf:    make([]byte, 0, 256),
	}
	e.exitsAlways = e.live
	e.bootAllow = map[string]bool{}
	e.regState.init()
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
// their window, unconfirmed master candidates and aggregation windows are
// settled. Time never goes back.
func (e *Engine) Advance(now int64) {
	if now <= e.now {
		return
	}
	e.now = now
	if now >= e.next {
		e.settleDeadlines(now)
	}
	if now >= e.aggNext {
		e.flushAggregates(now, false)
	}
}

// Flush emits what aggregation still holds. Call it at the end of a
// recorded input or when the sensor stops.
func (e *Engine) Flush() {
	e.flushAggregates(e.now, true)
}

// settleDeadlines fires what is due at now and recomputes e.next.
func (e *Engine) settleDeadlines(now int64) {
	next := noDeadline
	for i := range e.inst {
		in := &e.inst[i]
		if !in.used {
			continue
		}
		if in.pending && !in.booting {
			if in.confirmBy <= now {
				e.rejectCandidate(int32(i), in.confirmBy)
			} else if in.confirmBy < next {
				next = in.confirmBy
			}
		}
		if in.deadline == noDeadline || in.role != RoleChild || in.exited {
			continue
		}
		if in.deadline > now {
			if in.deadline < next {
				next = in.deadline
			}
			continue
		}
		// The child is still alive at its deadline. That proves something
		// only if the source was delivering exits when the child started.
		in.deadline = noDeadline
		if e.exitsProven(in.start) {
			e.firePersistent(in, in.start+int64(e.cfg.ChildWindow))
		} else {
			e.stats.Unevaluated[RulePersistentChild][GapExits]++
		}
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
		cls = classifyName(etw.BaseName(p.Image))
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
		return
	}
	if cls == nameSmss {
		parent = e.onSmss(ev, parent)
	}
	if parent >= 0 && e.inst[parent].used {
		e.onSpawn(parent, ev, cls)
	}
	if cls == nameCsrss || cls == nameWininit || cls == nameWinlogon {
		e.checkSessionChain(ev, parent)
	}
}

// onPIDSeen handles a start for a PID that is tracked: either the same
// process seen again (true: ignore the event) or PID reuse, which retires
// the old instance.
func (e *Engine) onPIDSeen(ev *etw.Event) (duplicate bool) {
	slot, ok := e.byPID[ev.Proc.PID]
	if !ok {
		return false
	}
	in := &e.inst[slot]
	if e.sameProcess(in, ev) {
		e.stats.Duplicates++
		return true
	}
	e.stats.PIDReused++
	wasMaster := slot == e.master
	e.retire(slot)
	if wasMaster {
		// The master lives until shutdown: its PID in use by another
		// process means that boot is over.
		e.newBoot()
	}
	return false
}

// sameProcess reports whether ev describes the tracked instance (identity
// is PID plus start time or unique key).
func (e *Engine) sameProcess(in *instance, ev *etw.Event) bool {
	if ev.Known&etw.FieldKey != 0 && in.info.Known&etw.FieldKey != 0 {
		return ev.Proc.Key == in.info.Key
	}
	if ev.Known&etw.FieldCreateTime != 0 && in.info.Known&etw.FieldCreateTime != 0 {
		return ev.Proc.CreateTime == in.info.CreateTime
	}
	return false
}

// parentOf returns the slot of the tracked instance that ev names as its
// parent, or -1. A tracked instance whose PID was reused by a process we
// never saw start is recognised (parent key or image disagree, or the
// instance exited before ev started) and not taken as the parent.
func (e *Engine) parentOf(ev *etw.Event, byKey bool) int32 {
	p := &ev.Proc
	var slot int32
	var ok bool
	if !byKey {
		slot, ok = e.byPID[p.ParentPID]
	} else {
		slot, ok = e.byKey[e.hashKey(p.ParentKey)]
		if ok && ev.Known&etw.FieldParentPID != 0 && e.inst[slot].info.Known&etw.FieldPID != 0 && e.inst[slot].pid != p.ParentPID {
			return -1
		}
	}
	if !ok {
		return -1
	}
	in := &e.inst[slot]
	if ev.Known&etw.FieldParentKey != 0 && in.info.Known&etw.FieldKey != 0 && p.ParentKey != in.info.Key {
		return -1
	}
	if ev.Known&etw.FieldParentImage != 0 && !isSmssName(etw.BaseName(p.ParentImage)) {
		return -1
	}
	t := ev.Time
	if ev.Known&etw.FieldCreateTime != 0 {
		t = p.CreateTime
	}
	if in.exited && t > in.exit+exitTolerance {
		return -1
	}
	if in.start != 0 && t < in.start-exitTolerance {
		return -1
	}
	return slot
}

// onExit handles a process exit.
func (e *Engine) onExit(ev *etw.Event) {
	e.stats.Exits++
	if e.exitProof == 0 {
		e.exitProof = ev.Time
	}
	p := &ev.Proc
	slot := int32(-1)
	if ev.Known&etw.FieldPID != 0 {
		if !e.mayTrack(p.PID) {
			return
		}
		s, ok := e.byPID[p.PID]
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
	exit := ev.Time
	if ev.Known&etw.FieldExitTime != 0 {
		exit = p.ExitTime
	}
	in.exited, in.exit = true, exit
	in.info.ExitTime = exit
	in.info.Known |= etw.FieldExitTime
	if in.role == RoleChild && !in.hasFired(RulePersistentChild) {
		// Its own exit record after the deadline is proof it outlived
		// the window.
		if exit > in.start+int64(e.cfg.ChildWindow) {
			e.firePersistent(in, exit)
		}
		in.deadline = noDeadline
	}
	if in.pending {
		// A new boot's master never exits: a candidate that does was a
		// second master while the first was alive.
		e.rejectCandidate(slot, exit)
	}
}

// exitsProven reports whether a child that started at start would have
// had its exit recorded: always live; in recorded data once the source
// delivered an exit record, in this boot, no later than that start.
func (e *Engine) exitsProven(start int64) bool {
	return e.exitsAlways || (e.exitProof != 0 && e.exitProof <= start)
}

// onBoot handles OS start-up evidence.
func (e *Engine) onBoot(ev *etw.Event) {
	if ev.Boot.SystemRoot != "" {
		if root, ok := systemRootDir(ev.Boot.SystemRoot); ok {
			e.paths.setRoot(root)
		}
	}
	if ev.Boot.SystemDevice != "" && len(e.paths.devices) < maxDevices {
		e.paths.mapDevice(ev.Boot.SystemDevice, e.paths.root.vol)
	}
	if ev.Time+int64(e.cfg.LateMasterAfter) < e.now {
		// A boot record older than what the engine has seen cannot be
		// placed: ordering is the reader's job. Count it, ignore it.
		e.stats.LateBoots++
		return
	}
	hasBootTime := ev.Known&etw.FieldBootTime != 0
	bt := ev.Time
	if hasBootTime {
		bt = ev.Boot.BootTime
	}
	// Is this the boot the current master belongs to?
	if e.master >= 0 {
		m := &e.inst[e.master]
		sameBoot := false
		switch {
		case m.start == 0:
			sameBoot = true
		case hasBootTime:
			sameBoot = bt <= m.start+exitTolerance && (e.bootTime == 0 || bt >= e.bootTime-60e9)
		default:
			// 4608 / 6005 come tens of seconds after the master starts.
			sameBoot = ev.Time >= m.start && ev.Time-m.start <= int64(e.cfg.LateMasterAfter)
		}
		if sameBoot {
			if hasBootTime && e.bootTime == 0 {
				e.bootTime = bt
				e.checkLateMaster(m)
			}
			return
		}
	} else if e.bootTime != 0 && hasBootTime && absDiff(bt, e.bootTime) < 60e9 {
		return // another record of the boot we know
	} else if e.bootTime != 0 && !hasBootTime && ev.Time-e.bootTime >= 0 && ev.Time-e.bootTime <= int64(e.cfg.LateMasterAfter) {
		return
	}
	e.newBoot()
	if hasBootTime {
		e.bootTime = bt
	} else {
		e.bootTime = 0
	}
	e.stats.Boots++
	e.addBoot(BootReport{Time: ev.Time, BootTime: e.bootTime, Evidence: "boot record"})
	e.bootOpen = true
}

func absDiff(a, b int64) int64 {
	if a > b {
		return a - b
	}
	return b - a
}

// maxBoots bounds the boots an engine lists in its report.
const maxBoots = 256

// addBoot records a boot for the report, bounded.
func (e *Engine) addBoot(b BootReport) {
	if len(e.boots) < maxBoots {
		e.boots = append(e.boots, b)
	} else {
		e.stats.BootsDropped++
	}
}

// newBoot forgets the previous boot's instances.
func (e *Engine) newBoot() {
	for i := range e.inst {
		if e.inst[i].used {
			e.retire(int32(i))
		}
	}
	e.epoch++
	e.master, e.pending = -1, -1
	e.bootTime = 0
	e.exitProof = 0
	e.next = noDeadline
}
