package detect

import (
	"github.com/cespare/xxhash/v2"
	"github.com/smsswatch/smsswatch/etw"
)

// maxSpawned is how many started processes an instance remembers.
const maxSpawned = 8

// spawn is a process an smss.exe instance started.
type spawn struct {
	name    string
	pid     uint32
	session uint32
	known   etw.Field
	time    int64
}

// instance is one tracked smss.exe process: the host model's unit. Its
// scalar state is the embedded instanceHead, which track resets in one
// store without touching the strings; info and parent are overwritten
// whole by track, and spawned is read only below nSpawned.
type instance struct {
	instanceHead
	info    ProcessInfo
	parent  ProcessInfo
	spawned [maxSpawned]spawn
}

// instanceHead is the pointer-free part of an instance.
type instanceHead struct {
	used  bool
	role  Role
	epoch uint32
	// inferred: the instance was not seen starting; it is known only as
	// the smss.exe parent of a process this source recorded.
	inferred bool
	// pending: recorded data, a master candidate while another master is
	// alive; it becomes the master of a new boot once a boot is proven
	// for it, or a second master once the current boot is shown going on
	// after it started (evidence rule 7).
	pending  bool
	children uint8
	// silent: a candidate without parent evidence (no parent PID or
	// image); proof against it says nothing about a second master.
	silent bool
	// rejected: a candidate proven a second master; it keeps the master
	// role so its children are judged as children.
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
	// awaitProof: past its deadline with no exit of its own; persistent
	// once the source delivers an exit after the deadline (rule 2).
	awaitProof bool
	// exitLost: live, the confirmer said at the deadline that the child
	// had exited though no exit record came (GapExitLost counted).
	exitLost bool
	// createKnown: the source gave the creation time (info.CreateTime
	// is not the start event's own time).
	createKnown bool
	session     uint32
	hasSess     bool
	// userSession: the child set up a user session (it started
	// winlogon.exe, or its session is known and not 0).
	userSession bool

	parentSlot int32  // the tracked parent when the instance started, or -1
	fired      uint32 // bit per Rule already fired for this instance
	nSpawned   uint8
	more       uint32 // spawned beyond maxSpawned
}

func (in *instance) hasFired(r Rule) bool { return in.fired&(1<<r) != 0 }

// hashKey hashes a source's unique process key.
func (e *Engine) hashKey(key string) uint64 { return xxhash.Sum64String(key) }

// track starts tracking the smss.exe instance in ev with role, evicting
// when the table is full.
func (e *Engine) track(ev *etw.Event, role Role, parent int32) int32 {
	if len(e.free) == 0 {
		if len(e.inst) < e.cfg.MaxInstances {
			e.inst = append(e.inst, instance{})
			e.free = append(e.free, int32(len(e.inst)-1))
		} else {
			e.evict()
		}
	}
	slot := e.free[len(e.free)-1]
	e.free = e.free[:len(e.free)-1]
	in := &e.inst[slot]
	in.instanceHead = instanceHead{
		used:        true,
		role:        role,
		epoch:       e.epoch,
		pid:         ev.Proc.PID,
		start:       startOf(ev),
		startKnown:  ev.Kind != etw.KindRunning || ev.Known&etw.FieldCreateTime != 0,
		createKnown: ev.Known&etw.FieldCreateTime != 0,
		deadline:    noDeadline,
		parentSlot:  parent,
	}
	infoOf(&in.info, ev)
	parentInfoOf(&in.parent, ev)
	if parent >= 0 {
		par := &e.inst[parent]
		if par.info.Known&etw.FieldImage != 0 {
			in.parent.Image = par.info.Image
			in.parent.Known |= etw.FieldImage
		}
	}
	if ev.Known&etw.FieldPID != 0 {
		if old, ok := e.byPID.get(in.pid); ok && old != slot {
			e.retire(old)
		}
		e.byPID.put(in.pid, slot)
		e.pidFilter[pidBucket(in.pid)]++
	}
	if ev.Known&etw.FieldKey != 0 {
		in.keyHash = e.hashKey(ev.Proc.Key)
		e.byKey[in.keyHash] = slot
		if ev.Known&etw.FieldPID == 0 {
			e.keyOnly++
		}
	}
	e.stats.Instances[role]++
	return slot
}

// evict frees one slot: the oldest exited instance, else the oldest rogue
// or unknown, else the oldest child; never the master or a pending
// candidate.
func (e *Engine) evict() {
	best, bestRank, bestStart := int32(-1), 99, int64(0)
	for i := range e.inst {
		in := &e.inst[i]
		if !in.used || int32(i) == e.master || in.pending {
			continue
		}
		rank := 3
		switch {
		case in.exited:
			rank = 0
		case in.role == RoleRogue || in.role == RoleUnknown:
			rank = 1
		case in.role == RoleChild:
			rank = 2
		}
		if rank < bestRank || (rank == bestRank && in.start < bestStart) {
			best, bestRank, bestStart = int32(i), rank, in.start
		}
	}
	if best < 0 {
		best = 0
		for i := range e.inst {
			if int32(i) != e.master {
				best = int32(i)
				break
			}
		}
	}
	if bestRank == 0 {
		e.stats.RetiredExited++ // an exited instance: its story is over
	} else {
		e.stats.Evicted++
	}
	e.retire(best)
}

// retire stops tracking slot and keeps its story for the report. A child
// still waiting for proof of exit delivery leaves its check unmade.
func (e *Engine) retire(slot int32) {
	in := &e.inst[slot]
	if !in.used {
		return
	}
	if in.awaitProof {
		e.awaitingUnmade(in)
	}
	e.remember(in)
	if in.info.Known&etw.FieldPID != 0 {
		if cur, ok := e.byPID.get(in.pid); ok && cur == slot {
			e.byPID.del(in.pid)
		}
		if b := pidBucket(in.pid); e.pidFilter[b] > 0 {
			e.pidFilter[b]--
		}
	}
	if in.info.Known&etw.FieldKey != 0 {
		if cur, ok := e.byKey[in.keyHash]; ok && cur == slot {
			delete(e.byKey, in.keyHash)
		}
		if in.info.Known&etw.FieldPID == 0 {
			e.keyOnly--
		}
	}
	if e.master == slot {
		e.master = -1
	}
	if e.pending == slot {
		e.pending = -1
	}
	if in.pending {
		in.pending = false
		e.pendingN--
	}
	if e.session0 == slot {
		e.session0 = -1
	}
	in.used = false
	in.info, in.parent = ProcessInfo{}, ProcessInfo{}
	clear(in.spawned[:in.nSpawned])
	e.free = append(e.free, slot)
}

// onPIDSeen handles a start for a PID that is tracked: either the same
// process seen again (true: ignore the event) or PID reuse, which retires
// the old instance (evidence rule 3).
func (e *Engine) onPIDSeen(ev *etw.Event) (duplicate bool) {
	slot, ok := e.byPID.get(ev.Proc.PID)
	if !ok {
		return false
	}
	in := &e.inst[slot]
	if e.sameProcess(in, ev) {
		e.stats.Duplicates++
		return true
	}
	e.pidNamesAnother(slot, startOf(ev))
	return false
}

// pidNamesAnother records that the PID of the tracked instance in slot
// names another process from t on: the instance is gone. The master lives
// until shutdown, so its PID in use by another process means its boot is
// over.
func (e *Engine) pidNamesAnother(slot int32, t int64) {
	e.stats.PIDReused++
	in := &e.inst[slot]
	if !in.exited {
		in.exited, in.exit = true, t
	}
	if slot == e.master {
		e.newBoot()
		return
	}
	e.retire(slot)
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
// instance exited before ev started) and not taken as the parent; where
// the parent key proves the reuse, the instance is retired.
func (e *Engine) parentOf(ev *etw.Event, byKey bool) int32 {
	p := &ev.Proc
	var slot int32
	var ok bool
	if !byKey {
		slot, ok = e.byPID.get(p.ParentPID)
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
	t := startOf(ev)
	if ev.Known&etw.FieldParentKey != 0 && in.info.Known&etw.FieldKey != 0 && p.ParentKey != in.info.Key {
		if !byKey && t >= in.start {
			// The parent holds the PID now, so the tracked process
			// that held it before is gone.
			e.pidNamesAnother(slot, t)
		}
		return -1
	}
	if ev.Known&etw.FieldParentImage != 0 && e.classify(p.ParentImage) != nameSmss {
		return -1
	}
	if in.exited && t > in.exit+exitTolerance {
		return -1
	}
	if in.start != 0 && t < in.start-exitTolerance {
		return -1
	}
	return slot
}

// inferParent tracks the parent of ev, an smss.exe this source never saw
// start, with role: known only by PID, image and key.
func (e *Engine) inferParent(ev *etw.Event, role Role) int32 {
	var m etw.Event
	m.Time = ev.Time
	m.Kind = etw.KindRunning
	m.Known = etw.FieldImage
	m.Proc.Image = ev.Proc.ParentImage
	if ev.Known&etw.FieldParentPID != 0 {
		m.Known |= etw.FieldPID
		m.Proc.PID = ev.Proc.ParentPID
	}
	if ev.Known&etw.FieldParentKey != 0 {
		m.Known |= etw.FieldKey
		m.Proc.Key = ev.Proc.ParentKey
	}
	slot := e.track(&m, role, -1)
	in := &e.inst[slot]
	in.inferred, in.start = true, 0
	in.info.Known &^= etw.FieldCreateTime
	if role == RoleMaster {
		e.master = slot
	}
	return slot
}

// untrackedSmssParent handles a start whose parent image is smss.exe but
// whose parent this source never saw start (evidence rule 8): the parent
// is tracked as an smss.exe of unknown role, so what no role may start is
// judged and the rest waits. It returns the parent's slot, or -1 when
// nothing identifies the parent.
func (e *Engine) untrackedSmssParent(ev *etw.Event) int32 {
	if ev.Known&(etw.FieldParentPID|etw.FieldParentKey) == 0 {
		return -1
	}
	if ev.Known&etw.FieldParentPID != 0 && ev.Proc.ParentPID == 4 {
		return -1 // System, whatever the image says
	}
	e.stats.UnknownRole++
	return e.inferParent(ev, RoleUnknown)
}
