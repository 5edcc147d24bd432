package detect

import (
	"strings"

	"github.com/smsswatch/smsswatch/etw"
)

// checkCommandLine: smss.command_line. An smss.exe command line must have
// the shape its role has in some Windows release (DETECTION.md); an
// smss.exe of unknown role must have one of the shapes; a rogue one has
// no shape to keep (its other rules fire).
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
		ok, want = isChildCmd(cmd), `\SystemRoot\System32\smss.exe XXXXXXXX XXXXXXXX [wininit.exe|winlogon.exe {GUID}]`
	case RoleUnknown:
		ok, want = isMasterCmd(cmd) || isChildCmd(cmd), `a master's or a session child's command line`
	default:
		return
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

// Command-line shapes of DETECTION.md.
const masterCmd = `\systemroot\system32\smss.exe`

func isMasterCmd(cmd string) bool {
	return equalFoldASCII(strings.TrimRight(cmd, " "), masterCmd)
}

// isChildCmd reports whether cmd is a session child's command line:
// `\SystemRoot\System32\smss.exe XXXXXXXX XXXXXXXX` (two 8-digit hex
// words), or the Windows 11 form that adds the session's first program and
// a GUID: `... XXXXXXXX XXXXXXXX winlogon.exe {F481D527-E8FA-457D-87F9-084B51C10000}`
// (wininit.exe for session 0). Trailing spaces are allowed.
func isChildCmd(cmd string) bool {
	cmd = strings.TrimRight(cmd, " ")
	if len(cmd) < len(masterCmd)+18 || !equalFoldASCII(cmd[:len(masterCmd)], masterCmd) {
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
		if !isHex(c) {
			return false
		}
	}
	rest = rest[18:]
	if rest == "" {
		return true
	}
	// Windows 11: " <program> {GUID}".
	prog, guid, ok := strings.Cut(strings.TrimPrefix(rest, " "), " ")
	if !ok || len(rest) == len(prog)+len(guid)+1 {
		return false // no single space before the program
	}
	if !equalFoldASCII(prog, "winlogon.exe") && !equalFoldASCII(prog, "wininit.exe") {
		return false
	}
	return isBracedGUID(guid)
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// isBracedGUID reports whether s is {XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}.
func isBracedGUID(s string) bool {
	if len(s) != 38 || s[0] != '{' || s[37] != '}' {
		return false
	}
	for i := 1; i < 37; i++ {
		switch i {
		case 9, 14, 19, 24:
			if s[i] != '-' {
				return false
			}
		default:
			if !isHex(s[i]) {
				return false
			}
		}
	}
	return true
}
