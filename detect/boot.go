package detect

import "github.com/smsswatch/smsswatch/etw"

// This file is the host model's boots (DETECTION.md evidence rules 5 to
// 7): what begins a boot, what belongs to the current one, and how a
// master candidate becomes a new boot or a second master.

// maxBoots bounds the boots an engine lists in its report.
const maxBoots = 256

// Evidence strings of BootReport.
const (
	bootByRecord    = "boot record"
	bootByMaster    = "master start"
	bootByCandidate = "master start and session children"
	bootBySession0  = "session-0 child"
	bootByHost      = "another source of the host"
)

// onBoot handles OS start-up evidence: Kernel-General 12 (with the OS
// start time), Security 4608 ("Windows is starting up") and EventLog 6005
// ("the event log service was started", no OS start time). 6005 is also
// written when the service restarts within a boot, so alone it places no
// boot: it joins the boot other evidence shows, or confirms a candidate.
func (e *Engine) onBoot(ev *etw.Event) {
	if ev.Boot.SystemRoot != "" {
		if root, ok := systemRootDir(ev.Boot.SystemRoot); ok {
			e.paths.setRoot(root)
		}
	}
	if ev.Boot.SystemDevice != "" && len(e.paths.devices) < maxDevices {
		e.paths.mapDevice(ev.Boot.SystemDevice, e.paths.root.vol)
	}
	if ev.Boot.SystemRoot != "" || ev.Boot.SystemDevice != "" {
		e.pathCache.clear()
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
	weak := !hasBootTime && ev.Source == etw.SourceSystem
	if e.pendingN > 0 && e.confirmByRecord(ev.Time, bt) {
		if hasBootTime {
			e.bootTime = bt
		}
		return
	}
	if e.inCurrentBoot(ev.Time, bt, hasBootTime) {
		if hasBootTime && e.bootTime == 0 {
			e.bootTime = bt
			if e.master >= 0 {
				e.checkLateMaster(&e.inst[e.master])
			}
		}
		return
	}
	if weak {
		e.stats.UnplacedBoots++
		return
	}
	e.newBoot()
	e.bootStart = bt
	if hasBootTime {
		e.bootTime = bt
	}
	e.stats.Boots++
	e.addBoot(BootReport{Time: ev.Time, BootTime: e.bootTime, Evidence: bootByRecord})
	e.bootOpen = true
	// Boot records reach every source of the host from the reader, so
	// they are not shared again here.
}

// inCurrentBoot reports whether a boot record at t (naming the OS start
// bt when hasBootTime) belongs to the boot the engine is in.
func (e *Engine) inCurrentBoot(t, bt int64, hasBootTime bool) bool {
	if e.bootStart == 0 {
		return false
	}
	if hasBootTime {
		if e.bootTime != 0 {
			return absDiff(bt, e.bootTime) < 60e9
		}
		// The OS starts before its master; a later start time is a
		// later boot.
		return bt <= e.bootStart+exitTolerance && bt >= e.bootStart-int64(e.cfg.LateMasterAfter)
	}
	// 4608 and 6005 come seconds to minutes after the master, once
	// session 0 is up.
	last := e.bootStart
	if e.session0 >= 0 && e.inst[e.session0].start > last {
		last = e.inst[e.session0].start
	}
	return t >= e.bootStart-exitTolerance && t <= last+int64(e.cfg.LateMasterAfter)
}

func absDiff(a, b int64) int64 {
	if a > b {
		return a - b
	}
	return b - a
}

// addBoot records a boot for the report, bounded.
func (e *Engine) addBoot(b BootReport) {
	if len(e.boots) < maxBoots {
		e.boots = append(e.boots, b)
	} else {
		e.stats.BootsDropped++
	}
}

// newBoot forgets the previous boot's instances and proofs.
func (e *Engine) newBoot() {
	for i := range e.inst {
		if e.inst[i].used {
			e.retire(int32(i))
		}
	}
	e.epoch++
	e.master, e.pending, e.pendingN = -1, -1, 0
	e.bootTime, e.bootStart = 0, 0
	e.proof.reset()
	e.bootOpen = false
	e.next = noDeadline
}

// masterBeginsBoot: the first master of the engine's current boot
// started at start. Where no boot record opened the boot, the master's
// start begins it, and what came before (the previous boot's shutdown
// exits) is no evidence for it.
func (e *Engine) masterBeginsBoot(m *instance) {
	if e.bootOpen {
		e.bootOpen = false
		if m.start < e.bootStart || e.bootStart == 0 {
			e.bootStart = m.start
		}
		return
	}
	e.proof.reset()
	e.bootStart = m.start
	e.stats.Boots++
	e.addBoot(BootReport{Time: m.start, BootTime: e.bootTime, Evidence: bootByMaster})
}

// restartBootAround begins a new boot at start around the instances keep
// and keep2 (a confirmed candidate and its children, or a session-0 child
// and its parent): every other instance belonged to the previous boot.
func (e *Engine) restartBootAround(start int64, keep, keep2 int32, evidence string) {
	for i := range e.inst {
		in := &e.inst[i]
		if !in.used || int32(i) == keep || int32(i) == keep2 {
			continue
		}
		if keep >= 0 && in.parentSlot == keep && in.epoch == e.inst[keep].epoch && in.role == RoleChild {
			continue
		}
		e.retire(int32(i))
	}
	e.epoch++
	for i := range e.inst {
		if e.inst[i].used {
			e.inst[i].epoch = e.epoch
		}
	}
	e.pending = -1
	e.bootTime = 0
	e.bootStart = start
	e.bootOpen = false
	e.proof.reset()
	e.stats.Boots++
	e.addBoot(BootReport{Time: start, Evidence: evidence})
	e.shared.proveBoot(start)
}

// session0Child: the session child in slot set up session 0 (it started
// wininit.exe). smss.exe creates session 0 once per boot, first: a
// session-0 child after another child of the current boot began a new
// boot, even where the master's start was not recorded (evidence rule 6).
func (e *Engine) session0Child(slot int32) {
	in := &e.inst[slot]
	if e.session0 == slot {
		return
	}
	par := in.parentSlot
	if par >= 0 && e.inst[par].pending {
		e.confirmCandidate(par)
		e.session0 = slot
		return
	}
	newer := e.session0 >= 0 && e.inst[e.session0].start < in.start
	if !newer {
		for i := range e.inst {
			o := &e.inst[i]
			if o.used && int32(i) != slot && o.role == RoleChild && o.epoch == in.epoch && o.start < in.start-exitTolerance && o.userSession {
				newer = true
				break
			}
		}
	}
	switch {
	case e.live:
		// Live, the boot is the system's.
	case newer:
		e.restartBootAround(in.start, slot, par, bootBySession0)
		if par >= 0 && e.inst[par].used {
			e.inst[par].role = RoleMaster
			e.master = par
		}
	case e.bootStart == 0:
		// No boot evidence yet: the session-0 child shows one.
		e.bootStart = in.start
		e.stats.Boots++
		e.addBoot(BootReport{Time: in.start, Evidence: bootBySession0})
	}
	e.session0 = slot
}

// Master candidates (evidence rule 7), recorded data only.

// candidate makes slot a master candidate: another master lives.
func (e *Engine) candidate(slot int32, silent bool) {
	in := &e.inst[slot]
	in.pending = true
	in.silent = silent
	e.pending = slot
	e.pendingN++
}

// confirmByRecord confirms the candidate a boot record at t (OS start bt)
// belongs to. It reports whether one did.
func (e *Engine) confirmByRecord(t, bt int64) bool {
	w := int64(e.cfg.BootConfirmWindow)
	for i := range e.inst {
		in := &e.inst[i]
		if in.used && in.pending && t >= in.start-w && t <= in.start+w && bt <= in.start+exitTolerance {
			e.confirmCandidate(int32(i))
			return true
		}
	}
	return false
}

// noteBootGoesOn: the instance in slot, of the current boot, was seen
// alive (it started a process, or exited) at t. A candidate that started
// before t is then a second master: the boot it would have begun did not
// end the current one. With no candidate, and nothing to share (live, or
// no master), there is nothing to note: the common case returns at once.
func (e *Engine) noteBootGoesOn(slot int32, t int64) {
	if e.pendingN == 0 && (e.live || e.master < 0) {
		return
	}
	in := &e.inst[slot]
	if in.pending || in.epoch != e.epoch || in.role == RoleUnknown {
		return
	}
	if in.parentSlot >= 0 && e.inst[in.parentSlot].pending {
		return // the candidate's own child
	}
	if e.master >= 0 && !e.live {
		// Every source of the host may use it (evidence rule 7).
		if m := &e.inst[e.master]; m.startKnown && !m.inferred {
			e.shared.noteAlive(m.start, t)
		}
	}
	if e.pendingN == 0 {
		return
	}
	for i := range e.inst {
		c := &e.inst[i]
		if c.used && c.pending && c.start < t && int32(i) != slot {
			e.rejectCandidate(int32(i), t)
		}
	}
}

// rejectCandidate: the candidate in slot is proven a second master at t
// (the current boot went on, or the candidate exited).
func (e *Engine) rejectCandidate(slot int32, at int64) {
	in := &e.inst[slot]
	if !in.pending {
		return
	}
	in.pending = false
	e.pendingN--
	if e.pending == slot {
		e.pending = -1
	}
	// It keeps the master role: what it starts is judged against the
	// master's allow-list, and a proven boot still makes it the master.
	in.rejected = true
	if in.silent {
		e.stats.Unevaluated[RuleSecondMaster][GapParent]++
		return
	}
	e.fireSecondMaster(in, at)
}

// confirmCandidate: a boot was proven for the candidate in slot (its
// session children, a session-0 child, a boot record): a new boot began
// at its start, and the old boot's instances are retired.
func (e *Engine) confirmCandidate(slot int32) {
	cand := &e.inst[slot]
	cand.pending, cand.rejected = false, false
	e.restartBootAround(cand.start, slot, -1, bootByCandidate)
	e.master = slot
}

// decideCandidateAtEnd: candidates still undecided when the input ends
// are checks not made.
func (e *Engine) decideCandidateAtEnd() {
	for i := range e.inst {
		in := &e.inst[i]
		if !in.used || !in.pending {
			continue
		}
		// Another source of the host may have seen the current boot go
		// on after the candidate started.
		if m := e.master; m >= 0 && e.inst[m].startKnown && !e.inst[m].inferred {
			if t := e.shared.aliveAfter(e.inst[m].start, in.start); t != 0 {
				e.rejectCandidate(int32(i), t)
				continue
			}
		}
		in.pending = false
		e.stats.Unevaluated[RuleSecondMaster][GapUndecided]++
	}
	e.pending, e.pendingN = -1, 0
}
