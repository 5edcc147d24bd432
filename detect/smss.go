package detect

import (
	"strings"

	"github.com/smsswatch/smsswatch/etw"
)

const sidSystem = "S-1-5-18"

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

// isSystemName reports whether an account name is LocalSystem, in the
// spellings Windows uses (including common localisations).
func isSystemName(name string) bool {
	n := strings.ToLower(strings.TrimSpace(name))
	switch n {
	case `nt authority\system`, `autorite nt\système`, `nt-autorität\system`, `nt authority\система`,
		`nt-autoriteit\system`, `nt instans\system`, `autoridad nt\system`, `autorità nt\system`,
		`autoridade nt\sistema`, `system`, `localsystem`, `s-1-5-18`:
		return true
	}
	return false
}

// Command-line shapes of DETECTION.md.
const masterCmd = `\systemroot\system32\smss.exe`

func isMasterCmd(cmd string) bool {
	return equalFoldASCII(strings.TrimRight(cmd, " "), masterCmd)
}

// isChildCmd reports whether cmd is `\SystemRoot\System32\smss.exe
// XXXXXXXX XXXXXXXX` (two 8-digit hex words, trailing spaces allowed).
func isChildCmd(cmd string) bool {
	cmd = strings.TrimRight(cmd, " ")
	if len(cmd) != len(masterCmd)+18 || !equalFoldASCII(cmd[:len(masterCmd)], masterCmd) {
		return false
	}
	rest := cmd[len(masterCmd):]
	for i := 0; i < 18; i++ {
		c := rest[i]
		if i == 0 || i == 9 {
			if c != ' ' {
				return false
			}
			continue
		}
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// onSmss classifies a new smss.exe instance, runs the checks that need only
// the start, and tracks it. It returns the parent's slot, which is new when
// the master was inferred from this start.
func (e *Engine) onSmss(ev *etw.Event, parent int32) int32 {
	p := &ev.Proc
	k := ev.Known
	hasPPID := k&etw.FieldParentPID != 0
	hasPImage := k&etw.FieldParentImage != 0
	parentSystem := (hasPPID && p.ParentPID == 4) || (!hasPPID && hasPImage && equalFoldASCII(p.ParentImage, "system"))
	hasCmd := k&etw.FieldCommandLine != 0

	role := RoleRogue
	fireParent := false
	inferMaster := false
	switch {
	case parentSystem:
		role = RoleMaster
	case parent >= 0 && e.inst[parent].role == RoleMaster:
		role = RoleChild
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
		if isSmssName(etw.BaseName(p.ParentImage)) && e.paths.inSystem32(p.ParentImage, "smss.exe") != pathMismatch {
			role = RoleChild
			e.stats.Unevaluated[RuleParent][GapParent]++
		} else {
			fireParent = true
		}
	case e.master >= 0:
		fireParent = true
	case hasPImage:
		// The master of this boot is not known (the sensor or the log
		// started later): a genuine smss.exe parent is taken as the master.
		if isSmssName(etw.BaseName(p.ParentImage)) && e.paths.inSystem32(p.ParentImage, "smss.exe") != pathMismatch {
			role = RoleChild
			inferMaster = hasPPID
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
		case e.live || e.pending >= 0:
			// Live, the boot is known: a second master. Recorded, one
			// candidate at a time.
			role, second = RoleRogue, parentSystem
			if !parentSystem {
				e.stats.Unevaluated[RuleSecondMaster][GapParent]++
			}
		}
	}

	if inferMaster {
		parent = e.inferMaster(ev)
	}
	slot := e.track(ev, role, parent)
	in := &e.inst[slot]
	switch role {
	case RoleMaster:
		if e.master < 0 {
			e.master = slot
			if !e.bootOpen {
				e.stats.Boots++
				e.addBoot(BootReport{Time: in.start, BootTime: e.bootTime, Evidence: "master start"})
			}
			e.bootOpen = false
			e.checkLateMaster(in)
		} else {
			// Recorded data: a new boot or a second master; its session
			// children decide.
			in.pending = true
			in.silent = !parentSystem
			in.confirmBy = in.start + int64(e.cfg.BootConfirmWindow)
			e.pending = slot
			e.armDeadline(in.confirmBy)
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

	// Checks on the start itself.
	if k&etw.FieldImage == 0 {
		e.stats.Unevaluated[RuleImagePath][GapImage]++
	} else {
		switch e.paths.inSystem32(p.Image, "smss.exe") {
		case pathMismatch:
			e.fireInstance(RuleImagePath, in, e.root32("smss.exe"), p.Image)
		case pathUnknown:
			e.stats.Unevaluated[RuleImagePath][GapVolume]++
		}
	}
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

// inferMaster tracks the parent of a child as the master when the log
// began after the master started: known only by PID and image.
func (e *Engine) inferMaster(ev *etw.Event) int32 {
	var m etw.Event
	m.Time = ev.Time
	m.Kind = etw.KindRunning
	m.Known = etw.FieldPID | etw.FieldImage
	m.Proc.PID = ev.Proc.ParentPID
	m.Proc.Image = ev.Proc.ParentImage
	if ev.Known&etw.FieldParentKey != 0 {
		m.Known |= etw.FieldKey
		m.Proc.Key = ev.Proc.ParentKey
	}
	slot := e.track(&m, RoleMaster, -1)
	in := &e.inst[slot]
	in.inferred, in.start = true, 0
	in.info.Known &^= etw.FieldCreateTime
	e.master = slot
	return slot
}

// root32 names <SystemRoot>\System32\name for messages.
func (e *Engine) root32(name string) string {
	return e.cfg.SystemRoot + `\System32\` + name
}

func (e *Engine) checkLateMaster(m *instance) {
	if m.inferred {
		return
	}
	if !m.startKnown {
		e.stats.Unevaluated[RuleLateMaster][GapCreateTime]++
		return
	}
	if e.bootTime == 0 {
		e.stats.Unevaluated[RuleLateMaster][GapBootTime]++
		return
	}
	delta := m.start - e.bootTime
	if delta < -exitTolerance {
		e.stats.Unevaluated[RuleLateMaster][GapClock]++
		return
	}
	if delta > int64(e.cfg.LateMasterAfter) && !m.hasFired(RuleLateMaster) {
		v := e.begin(RuleLateMaster, m.start, m)
		v.Evidence.BootTime = e.bootTime
		v.Evidence.Window = int64(e.cfg.LateMasterAfter)
		v.Evidence.Deadline = e.bootTime + int64(e.cfg.LateMasterAfter)
		e.msg("smss.exe master (pid ").num(m.pid).msg(") started ").dur(delta).msg(" after boot, later than ").dur(int64(e.cfg.LateMasterAfter))
		e.finish(m)
	}
}

func (e *Engine) checkSpoof(in *instance, ev *etw.Event) {
	k := ev.Known
	if k&etw.FieldCreatorPID == 0 || k&etw.FieldParentPID == 0 || ev.Proc.CreatorPID == 0 {
		e.stats.Unevaluated[RuleParentSpoofed][GapCreator]++
		return
	}
	if ev.Proc.CreatorPID == ev.Proc.ParentPID {
		return
	}
	v := e.begin(RuleParentSpoofed, in.start, in)
	v.Evidence.Expected = "creator is the declared parent"
	e.msg("smss.exe (pid ").num(in.pid).msg(") declares parent pid ").num(ev.Proc.ParentPID).msg(" but was created by pid ").num(ev.Proc.CreatorPID)
	v.Evidence.Observed = "creator pid " + string(e.scratchNum(ev.Proc.CreatorPID))
	e.finish(in)
}

func (e *Engine) checkUser(in *instance, ev *etw.Event) {
	k := ev.Known
	p := &ev.Proc
	who, bad := "", false
	switch {
	case k&etw.FieldUserSID != 0 && !strings.EqualFold(p.UserSID, sidSystem):
		who, bad = "runs as "+p.UserSID, true
	case k&etw.FieldUserSID == 0 && k&etw.FieldUserName != 0 && !isSystemName(p.UserName):
		who, bad = "runs as "+p.UserName, true
	case k&etw.FieldCreatorSID != 0 && !strings.EqualFold(p.CreatorSID, sidSystem):
		who, bad = "was created by "+p.CreatorSID, true
	case k&(etw.FieldUserSID|etw.FieldUserName|etw.FieldCreatorSID) == 0:
		e.stats.Unevaluated[RuleUser][GapUser]++
	}
	if !bad {
		return
	}
	v := e.begin(RuleUser, in.start, in)
	v.Evidence.Expected = "NT AUTHORITY\\SYSTEM (" + sidSystem + ")"
	v.Evidence.Observed = who
	e.msg("smss.exe (pid ").num(in.pid).msg(") ").msg(who).msg(", not SYSTEM")
	e.finish(in)
}

func (e *Engine) checkCommandLine(in *instance, ev *etw.Event) {
	if ev.Known&etw.FieldCommandLine == 0 {
		e.stats.Unevaluated[RuleCommandLine][GapCommandLine]++
		return
	}
	cmd := ev.Proc.CommandLine
	var ok bool
	var want string
	switch in.role {
	case RoleMaster:
		ok, want = isMasterCmd(cmd), `\SystemRoot\System32\smss.exe`
	case RoleChild:
		ok, want = isChildCmd(cmd), `\SystemRoot\System32\smss.exe XXXXXXXX XXXXXXXX`
	default:
		return // a rogue instance has no shape to keep
	}
	if ok {
		return
	}
	v := e.begin(RuleCommandLine, in.start, in)
	v.Evidence.Expected = want
	v.Evidence.Observed = cmd
	e.msg("smss.exe ").msg(in.role.String()).msg(" (pid ").num(in.pid).msg(") command line is not ").msg(want)
	e.finish(in)
}

func (e *Engine) fireParentRule(in *instance, ev *etw.Event) {
	v := e.begin(RuleParent, in.start, in)
	if e.master >= 0 && !e.inst[e.master].exited {
		v.Evidence.Expected = "System (pid 4) or the master (pid " + string(e.scratchNum(e.inst[e.master].pid)) + ")"
	} else {
		v.Evidence.Expected = "System (pid 4) or the master"
	}
	e.msg("smss.exe (pid ").num(in.pid).msg(") started by ")
	if ev.Known&etw.FieldParentImage != 0 {
		e.msg(etw.BaseName(ev.Proc.ParentImage)).msg(" ")
		v.Evidence.Observed = ev.Proc.ParentImage
	}
	if ev.Known&etw.FieldParentPID != 0 {
		e.msg("(pid ").num(ev.Proc.ParentPID).msg(")")
		if v.Evidence.Observed == "" {
			v.Evidence.Observed = "pid " + string(e.scratchNum(ev.Proc.ParentPID))
		}
	}
	e.msg(", not System or the master")
	e.finish(in)
}

func (e *Engine) fireSecondMaster(in *instance, at int64) {
	v := e.begin(RuleSecondMaster, at, in)
	v.Evidence.Role = RoleMaster
	if e.master >= 0 {
		m := &e.inst[e.master]
		v.Evidence.Expected = "one master per boot: pid " + string(e.scratchNum(m.pid)) + " is alive"
	}
	if !e.live {
		v.Evidence.Window = int64(e.cfg.BootConfirmWindow)
	}
	e.msg("second smss.exe master (pid ").num(in.pid).msg(", parent System) while the master of this boot is alive")
	e.finish(in)
}

// rejectCandidate: a master candidate did not start a boot's session
// children in time (or exited): it is a second master.
func (e *Engine) rejectCandidate(slot int32, at int64) {
	in := &e.inst[slot]
	in.pending = false
	if e.pending == slot {
		e.pending = -1
	}
	// It keeps the master role: what it starts is judged against the
	// master's allow-list, and two session children still make it a boot.
	in.rejected = true
	if in.silent {
		e.stats.Unevaluated[RuleSecondMaster][GapParent]++
		return
	}
	e.fireSecondMaster(in, at)
}

// confirmCandidate: the candidate started the session children of a boot,
// so a new boot began: the old one's instances are retired.
func (e *Engine) confirmCandidate(slot int32) {
	cand := &e.inst[slot]
	for i := range e.inst {
		in := &e.inst[i]
		if !in.used || int32(i) == slot || (in.parentSlot == slot && in.epoch == cand.epoch && in.role == RoleChild) {
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
	cand.pending, cand.rejected = false, false
	e.pending = -1
	e.master = slot
	e.bootTime = 0
	e.exitProof = 0
	e.stats.Boots++
	e.addBoot(BootReport{Time: cand.start, Evidence: "master start and session children"})
}

func (e *Engine) firePersistent(in *instance, at int64) {
	if in.hasFired(RulePersistentChild) {
		return
	}
	v := e.begin(RulePersistentChild, at, in)
	v.Evidence.Started = in.start
	v.Evidence.Window = int64(e.cfg.ChildWindow)
	v.Evidence.Deadline = in.start + int64(e.cfg.ChildWindow)
	if in.nSpawned > 0 {
		v.Evidence.Spawned = make([]string, in.nSpawned)
		for i := range v.Evidence.Spawned {
			v.Evidence.Spawned[i] = in.spawned[i].name
		}
	}
	e.msg("smss.exe session child (pid ").num(in.pid).msg(") still alive ").dur(at - in.start).msg(" after it started (window ").dur(int64(e.cfg.ChildWindow)).msg(")")
	e.finish(in)
}

// onSpawn handles a process started by a tracked smss.exe instance.
func (e *Engine) onSpawn(parent int32, ev *etw.Event, cls nameClass) {
	par := &e.inst[parent]
	p := &ev.Proc
	name := ""
	if ev.Known&etw.FieldImage != 0 {
		name = etw.BaseName(p.Image)
	}
	if int(par.nSpawned) < maxSpawned {
		par.spawned[par.nSpawned] = spawn{name: name, pid: p.PID, session: p.Session, known: ev.Known, time: startOf(ev)}
		par.nSpawned++
	} else {
		par.more++
	}
	if par.pending && cls != nameSmss {
		// A candidate running boot-phase programs (autochk, poqexec) is
		// booting: chkdsk or servicing can take minutes.
		par.booting = true
	}
	if par.role == RoleChild && ev.Known&etw.FieldSession != 0 && (cls == nameCsrss || cls == nameWininit || cls == nameWinlogon) {
		par.session, par.hasSess = p.Session, true
	}
	if ev.Known&etw.FieldImage == 0 {
		e.stats.Unevaluated[RuleUnexpectedChild][GapImage]++
		return
	}
	if cls == nameSmss {
		return // a started smss.exe is judged by its own rules
	}
	if e.allowedChild(par, ev, name, cls) {
		return
	}
	v := e.beginEvent(RuleUnexpectedChild, startOf(ev), ev)
	v.Parent = par.info
	v.Evidence.Role = par.role
	switch par.role {
	case RoleMaster:
		v.Evidence.Expected = "autochk.exe, session children and the BootExecute programs, in System32"
	case RoleChild:
		v.Evidence.Expected = "csrss.exe, wininit.exe (session 0), winlogon.exe (session 1+), WerFault.exe, in System32"
	default:
		v.Evidence.Expected = "nothing: the parent is not a genuine smss.exe"
	}
	v.Evidence.Observed = p.Image
	e.msg("smss.exe ").msg(par.role.String()).msg(" (pid ").num(par.pid).msg(") started ").msg(name)
	if ev.Known&etw.FieldPID != 0 {
		e.msg(" (pid ").num(p.PID).msg(")")
	}
	e.finishEvent(ev)
}

// allowedChild applies the role's allow-list without allocating.
func (e *Engine) allowedChild(par *instance, ev *etw.Event, name string, cls nameClass) bool {
	var buf [64]byte
	if len(name) > len(buf) {
		return false
	}
	low := buf[:len(name)]
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		low[i] = c
	}
	switch par.role {
	case RoleMaster:
		if !e.d.masterAllow[string(low)] && !e.bootAllow[string(low)] {
			return false
		}
	case RoleChild:
		if !e.d.childAllow[string(low)] {
			return false
		}
		if ev.Known&etw.FieldSession != 0 {
			if cls == nameWininit && ev.Proc.Session != 0 {
				return false
			}
			if cls == nameWinlogon && ev.Proc.Session == 0 {
				return false
			}
		}
	default:
		return false
	}
	switch e.paths.inSystem32(ev.Proc.Image, "") {
	case pathMismatch:
		return false
	case pathUnknown:
		e.stats.Unevaluated[RuleUnexpectedChild][GapVolume]++
	}
	return true
}

// checkSessionChain: csrss.exe, wininit.exe and winlogon.exe must be
// started by a session child.
func (e *Engine) checkSessionChain(ev *etw.Event, parent int32) {
	p := &ev.Proc
	if parent >= 0 {
		par := &e.inst[parent]
		if par.role == RoleChild {
			return
		}
		v := e.beginEvent(RuleSessionChain, startOf(ev), ev)
		v.Parent = par.info
		v.Evidence.Role = par.role
		v.Evidence.Expected = "an smss.exe session child"
		v.Evidence.Observed = "smss.exe " + par.role.String()
		e.msg(etw.BaseName(p.Image)).msg(" started by the smss.exe ").msg(par.role.String()).msg(" (pid ").num(par.pid).msg("), not by a session child")
		e.finishEvent(ev)
		return
	}
	if ev.Kind == etw.KindRunning {
		e.stats.Unevaluated[RuleSessionChain][GapRunning]++
		return
	}
	switch {
	case ev.Known&etw.FieldParentImage != 0:
		if isSmssName(etw.BaseName(p.ParentImage)) {
			// An smss.exe we do not track (the log began later).
			e.stats.Unevaluated[RuleSessionChain][GapMaster]++
			return
		}
	case ev.Known&etw.FieldParentPID != 0 && p.ParentPID == 4:
	default:
		e.stats.Unevaluated[RuleSessionChain][GapSessionParent]++
		return
	}
	v := e.beginEvent(RuleSessionChain, startOf(ev), ev)
	parentInfoOf(&v.Parent, ev)
	v.Evidence.Expected = "an smss.exe session child"
	if ev.Known&etw.FieldParentImage != 0 {
		v.Evidence.Observed = p.ParentImage
	} else {
		v.Evidence.Observed = "System"
	}
	e.msg(etw.BaseName(p.Image))
	if ev.Known&etw.FieldPID != 0 {
		e.msg(" (pid ").num(p.PID).msg(")")
	}
	e.msg(" started by ")
	if ev.Known&etw.FieldParentImage != 0 {
		e.msg(etw.BaseName(p.ParentImage))
	} else {
		e.msg("System")
	}
	if ev.Known&etw.FieldParentPID != 0 {
		e.msg(" (pid ").num(p.ParentPID).msg(")")
	}
	e.msg(", not by an smss.exe session child")
	e.finishEvent(ev)
}

// fireInstance fires the image-path rule for a tracked instance.
func (e *Engine) fireInstance(r Rule, in *instance, expected, observed string) {
	v := e.begin(r, in.start, in)
	v.Evidence.Expected = expected
	v.Evidence.Observed = observed
	e.msg("smss.exe (pid ").num(in.pid).msg(") runs from ").msg(observed).msg(", not ").msg(expected)
	e.finish(in)
}
