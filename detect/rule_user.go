package detect

import (
	"strings"

	"github.com/smsswatch/smsswatch/etw"
)

const sidSystem = "S-1-5-18"

// isSystemSID reports whether sid is LocalSystem's SID, ignoring case.
// The exact spelling, what every source writes, costs one compare.
func isSystemSID(sid string) bool {
	return sid == sidSystem || strings.EqualFold(sid, sidSystem)
}

// checkUser: smss.user. An smss.exe must run as SYSTEM and be created by
// SYSTEM; with neither user nor creator known the check is not made.
func (e *Engine) checkUser(in *instance, ev *etw.Event) {
	k := ev.Known
	p := &ev.Proc
	who, bad := "", false
	switch {
	case k&etw.FieldUserSID != 0 && !isSystemSID(p.UserSID):
		who, bad = "runs as "+p.UserSID, true
	case k&etw.FieldUserSID == 0 && k&etw.FieldUserName != 0 && !isSystemName(p.UserName):
		who, bad = "runs as "+p.UserName, true
	case k&etw.FieldCreatorSID != 0 && !isSystemSID(p.CreatorSID):
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
