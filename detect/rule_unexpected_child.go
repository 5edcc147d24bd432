package detect

import "github.com/smsswatch/smsswatch/etw"

// checkUnexpectedChild: smss.unexpected_child. What an smss.exe starts
// must be on its role's allow-list and in System32; an smss.exe of unknown
// role may start what some role may (evidence rule 8), and the
// session-dependent checks (wininit.exe in session 0 only, winlogon.exe
// never there) wait for its role. name is the started image's base name,
// cls its class and exact whether it is the class's name (nameOf).
func (e *Engine) checkUnexpectedChild(par *instance, ev *etw.Event, name string, cls nameClass, exact bool) {
	p := &ev.Proc
	if ev.Known&etw.FieldImage == 0 {
		e.stats.Unevaluated[RuleUnexpectedChild][GapImage]++
		return
	}
	if cls == nameSmss {
		return // a started smss.exe is judged by its own rules
	}
	if e.allowedChild(par, ev, name, cls, exact) {
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

// className is the lower-case file name of each name class but
// nameOther.
var className = [numNameClasses]string{
	nameSmss:     "smss.exe",
	nameCsrss:    "csrss.exe",
	nameWininit:  "wininit.exe",
	nameWinlogon: "winlogon.exe",
}

// allowedChild applies the role's allow-list without allocating.
func (e *Engine) allowedChild(par *instance, ev *etw.Event, name string, cls nameClass, exact bool) bool {
	if !e.listedChild(par.role, name, cls, exact) {
		return false
	}
	if par.role == RoleChild && ev.Known&etw.FieldSession != 0 {
		if cls == nameWininit && ev.Proc.Session != 0 {
			return false
		}
		if cls == nameWinlogon && ev.Proc.Session == 0 {
			return false
		}
	}
	switch e.inSystem32(ev.Proc.Image, "") {
	case pathMismatch:
		return false
	case pathUnknown:
		e.stats.Unevaluated[RuleUnexpectedChild][GapVolume]++
	}
	return true
}

// listedChild reports whether name (of name class cls) is on the
// allow-list of an smss.exe of role: the master's (with the BootExecute
// baseline), a session child's, either for an unknown role, none for a
// rogue. A name that is exact, its class's name in ASCII case
// (csrss.exe, WinLogon.exe; nameOf says so), is answered from the lists
// the Detector precomputed per class; the rest, and what only the
// baseline may allow, is looked up lower-cased.
func (e *Engine) listedChild(role Role, name string, cls nameClass, exact bool) bool {
	if role != RoleMaster && role != RoleChild && role != RoleUnknown {
		return false
	}
	if exact {
		switch role {
		case RoleChild:
			return e.d.childClass[cls]
		case RoleMaster:
			if e.d.masterClass[cls] {
				return true
			}
		default:
			if e.d.masterClass[cls] || e.d.childClass[cls] {
				return true
			}
		}
		// Not on the detector's lists: the engine's baseline decides.
	}
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
	switch role {
	case RoleMaster:
		return e.d.masterAllow[string(low)] || e.bootAllow[string(low)]
	case RoleChild:
		return e.d.childAllow[string(low)]
	default:
		return e.d.masterAllow[string(low)] || e.bootAllow[string(low)] || e.d.childAllow[string(low)]
	}
}
