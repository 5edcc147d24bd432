package detect

import "github.com/smsswatch/smsswatch/etw"

// checkUnexpectedChild: smss.unexpected_child. What an smss.exe starts
// must be on its role's allow-list and in System32; an smss.exe of unknown
// role may start what some role may (evidence rule 8), and the
// session-dependent checks (wininit.exe in session 0 only, winlogon.exe
// never there) wait for its role.
func (e *Engine) checkUnexpectedChild(par *instance, ev *etw.Event, name string, cls nameClass) {
	p := &ev.Proc
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
	case RoleUnknown:
		v.Evidence.Expected = "what the master or a session child may start, in System32"
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
	case RoleUnknown:
		if !e.d.masterAllow[string(low)] && !e.bootAllow[string(low)] && !e.d.childAllow[string(low)] {
			return false
		}
	default:
		return false
	}
	switch e.inSystem32(ev.Proc.Image, "") {
	case pathMismatch:
		return false
	case pathUnknown:
		e.stats.Unevaluated[RuleUnexpectedChild][GapVolume]++
	}
	return true
}
