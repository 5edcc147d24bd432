package detect

import "github.com/smsswatch/smsswatch/etw"

// checkSessionChain: smss.session_chain. csrss.exe, wininit.exe and
// winlogon.exe must be started by a session child; started by an smss.exe
// of unknown role, or by a parent the source does not name, the check is
// not made.
func (e *Engine) checkSessionChain(ev *etw.Event, parent int32) {
	p := &ev.Proc
	if parent >= 0 {
		par := &e.inst[parent]
		switch par.role {
		case RoleChild:
			return
		case RoleUnknown:
			// Its role decides (evidence rule 8): wait.
			e.stats.Unevaluated[RuleSessionChain][GapRoleUnknown]++
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
		if e.classify(p.ParentImage) == nameSmss {
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
