package detect

import (
	"github.com/smsswatch/smsswatch/etw"
)

// procFields are the etw.Field bits that describe a process.
const procFields = etw.FieldPID | etw.FieldParentPID | etw.FieldCreatorPID | etw.FieldSession |
	etw.FieldImage | etw.FieldParentImage | etw.FieldUserSID | etw.FieldUserName | etw.FieldCreatorSID |
	etw.FieldCommandLine | etw.FieldCreateTime | etw.FieldExitTime | etw.FieldExitCode | etw.FieldKey

// startOf returns the creation time of the process in ev.
func startOf(ev *etw.Event) int64 {
	if ev.Known&etw.FieldCreateTime != 0 {
		return ev.Proc.CreateTime
	}
	return ev.Time
}

// infoOf copies what ev says about its process.
func infoOf(dst *ProcessInfo, ev *etw.Event) {
	p := &ev.Proc
	*dst = ProcessInfo{
		Known:       ev.Known & procFields,
		PID:         p.PID,
		ParentPID:   p.ParentPID,
		CreatorPID:  p.CreatorPID,
		Session:     p.Session,
		CreateTime:  p.CreateTime,
		ExitTime:    p.ExitTime,
		Image:       p.Image,
		CommandLine: p.CommandLine,
		UserSID:     p.UserSID,
		UserName:    p.UserName,
		CreatorSID:  p.CreatorSID,
		Key:         p.Key,
	}
	if ev.Kind == etw.KindStart && dst.Known&etw.FieldCreateTime == 0 {
		dst.CreateTime = ev.Time
		dst.Known |= etw.FieldCreateTime
	}
}

// parentInfoOf describes ev's parent from what ev says of it.
func parentInfoOf(dst *ProcessInfo, ev *etw.Event) {
	*dst = ProcessInfo{}
	if ev.Known&etw.FieldParentPID != 0 {
		dst.PID = ev.Proc.ParentPID
		dst.Known |= etw.FieldPID
	}
	if ev.Known&etw.FieldParentImage != 0 {
		dst.Image = ev.Proc.ParentImage
		dst.Known |= etw.FieldImage
	}
	if ev.Known&etw.FieldParentKey != 0 {
		dst.Key = ev.Proc.ParentKey
		dst.Known |= etw.FieldKey
	}
}

// onSmss classifies a new smss.exe instance (the host model's role
// decision), runs the rules that need only the start, and tracks it. It
// returns the parent's slot, which is new when the parent was inferred
// from this start.
func (e *Engine) onSmss(ev *etw.Event, parent int32) int32 {
	p := &ev.Proc
	k := ev.Known
	hasPPID := k&etw.FieldParentPID != 0
	hasPImage := k&etw.FieldParentImage != 0
	parentSystem := (hasPPID && p.ParentPID == 4) || (!hasPPID && hasPImage && equalFoldASCII(p.ParentImage, "system"))
	hasCmd := k&etw.FieldCommandLine != 0

	role := RoleRogue
	fireParent := false
	switch {
	case parentSystem:
		role = RoleMaster
	case parent >= 0 && e.inst[parent].role == RoleMaster:
		role = RoleChild
	case parent >= 0 && e.inst[parent].role == RoleUnknown:
		if par := &e.inst[parent]; e.master < 0 && e.inSystem32(par.info.Image, "smss.exe") != pathMismatch {
			// No master known, and a genuine smss.exe starts an
			// smss.exe: that is the master (the log began later).
			par.role = RoleMaster
			e.master = parent
			role = RoleChild
		} else {
			role = e.unknownRole(ev)
		}
	case parent >= 0:
		fireParent = true // started by a child or rogue smss.exe
	case !hasPPID && !hasPImage:
		// No parent information (Security 4688 of the boot master): the
		// command line, else the boot's story, decides; never a verdict.
		e.stats.Unevaluated[RuleParent][GapParent]++
		role = RoleMaster
		if hasCmd && isChildCmd(p.CommandLine) {
			role = RoleChild
		}
	case !hasPPID:
		// Only the parent's image is known (Security 4688 often has no
		// parent PID): a genuine smss.exe parent is taken as the master,
		// anything else is positive evidence.
		if e.genuineSmssParent(ev) {
			role = RoleChild
			e.stats.Unevaluated[RuleParent][GapParent]++
		} else {
			fireParent = true
		}
	case e.master >= 0 && e.genuineSmssParent(ev):
		// A genuine smss.exe this source never saw start, and not the
		// master: an smss.exe of unknown role (evidence rule 8).
		parent = e.inferParent(ev, RoleUnknown)
		e.stats.UnknownRole++
		role = e.unknownRole(ev)
	case e.master >= 0:
		fireParent = true
	case hasPImage:
		// The master of this boot is not known (the sensor or the log
		// started later): a genuine smss.exe parent is taken as the master.
		if e.genuineSmssParent(ev) {
			role = RoleChild
			parent = e.inferParent(ev, RoleMaster)
		} else {
			fireParent = true
		}
	default:
		e.stats.Unevaluated[RuleParent][GapMaster]++
		role = RoleChild
	}

	// A master while another is alive.
	second := false
	if role == RoleMaster && e.master >= 0 {
		m := &e.inst[e.master]
		switch {
		case m.exited:
			e.newBoot() // the previous boot's master is gone
		case e.live && e.bootTime != 0:
			// Live, the system told the boot: a second master.
			role, second = RoleRogue, parentSystem
			if !parentSystem {
				e.stats.Unevaluated[RuleSecondMaster][GapParent]++
			}
		}
	}

	slot := e.track(ev, role, parent)
	in := &e.inst[slot]
	switch role {
	case RoleMaster:
		if e.master < 0 {
			e.master = slot
			e.masterBeginsBoot(in)
			e.checkLateMaster(in)
		} else {
			// Recorded data: a new boot or a second master; the
			// evidence that follows decides (rule 7).
			e.candidate(slot, !parentSystem)
		}
	case RoleChild:
		in.deadline = in.start + int64(e.cfg.ChildWindow)
		e.armDeadline(in.deadline)
		if parent >= 0 {
			if par := &e.inst[parent]; par.pending || par.rejected {
				par.children++
				if par.children >= 2 {
					e.confirmCandidate(parent)
				}
			}
		}
	}

	e.checkImagePath(in, ev)
	if fireParent {
		e.fireParentRule(in, ev)
	}
	if second {
		e.fireSecondMaster(in, in.start)
	}
	e.checkSpoof(in, ev)
	e.checkUser(in, ev)
	e.checkCommandLine(in, ev)
	return parent
}

// genuineSmssParent reports whether ev's parent image is smss.exe in
// System32 (or on a volume the detector cannot place).
func (e *Engine) genuineSmssParent(ev *etw.Event) bool {
	return ev.Known&etw.FieldParentImage != 0 && e.classify(ev.Proc.ParentImage) == nameSmss &&
		e.inSystem32(ev.Proc.ParentImage, "smss.exe") != pathMismatch
}

// unknownRole is the role of an smss.exe whose parent is an smss.exe of
// unknown role: a session child when its command line has the child's
// shape, else unknown; the parent rule waits either way.
func (e *Engine) unknownRole(ev *etw.Event) Role {
	e.stats.Unevaluated[RuleParent][GapRoleUnknown]++
	if ev.Known&etw.FieldCommandLine != 0 && isChildCmd(ev.Proc.CommandLine) {
		return RoleChild
	}
	return RoleUnknown
}

// onSpawn records a process started by a tracked smss.exe instance (what
// it says about sessions and boots), then judges it.
func (e *Engine) onSpawn(parent int32, ev *etw.Event, cls nameClass) {
	par := &e.inst[parent]
	p := &ev.Proc
	name, exact := "", false
	if ev.Known&etw.FieldImage != 0 {
		name, _, exact = e.nameOf(p.Image)
	}
	if int(par.nSpawned) < maxSpawned {
		par.spawned[par.nSpawned] = spawn{name: name, pid: p.PID, session: p.Session, known: ev.Known, time: startOf(ev)}
		par.nSpawned++
	} else {
		par.more++
	}
	if par.role == RoleChild {
		if ev.Known&etw.FieldSession != 0 && (cls == nameCsrss || cls == nameWininit || cls == nameWinlogon) {
			par.session, par.hasSess = p.Session, true
			if p.Session != 0 {
				par.userSession = true
			}
		}
		switch cls {
		case nameWinlogon:
			par.userSession = true
		case nameWininit:
			e.session0Child(parent)
			par = &e.inst[parent]
		}
	}
	e.checkUnexpectedChild(par, ev, name, cls, exact)
}

// root32 names <SystemRoot>\System32\name for messages.
func (e *Engine) root32(name string) string {
	return e.cfg.SystemRoot + `\System32\` + name
}
