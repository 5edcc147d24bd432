package detect

import (
	"encoding/binary"
	"strings"
	"unsafe"

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

// childCmdPrefix is masterCmd as Windows writes it: the spelling the
// session child's command line nearly always has.
const childCmdPrefix = `\SystemRoot\System32\smss.exe`

// isChildCmd reports whether cmd is a session child's command line:
// `\SystemRoot\System32\smss.exe XXXXXXXX XXXXXXXX` (two 8-digit hex
// words), or the Windows 11 form that adds the session's first program and
// a GUID: `... XXXXXXXX XXXXXXXX winlogon.exe {F481D527-E8FA-457D-87F9-084B51C10000}`
// (wininit.exe for session 0). Trailing spaces are allowed. It runs for
// every smss.exe start: the usual spelling of the image is one compare,
// and each hex word is tested eight bytes at once (isHex8).
func isChildCmd(cmd string) bool {
	for len(cmd) > 0 && cmd[len(cmd)-1] == ' ' {
		cmd = cmd[:len(cmd)-1]
	}
	if len(cmd) < len(masterCmd)+18 {
		return false
	}
	if head := cmd[:len(masterCmd)]; head != childCmdPrefix && !equalFoldASCII(head, masterCmd) {
		return false
	}
	rest := cmd[len(masterCmd):]
	if rest[0] != ' ' || rest[9] != ' ' || !isHex8(rest[1:9]) || !isHex8(rest[10:18]) {
		return false
	}
	return isChildCmdTail(rest[18:])
}

// isChildCmdTail reports whether rest, what follows a child command
// line's hex words (trailing spaces trimmed), is empty or the Windows 11
// form's " <program> {GUID}".
func isChildCmdTail(rest string) bool {
	if rest == "" {
		return true
	}
	prog, guid, ok := strings.Cut(strings.TrimPrefix(rest, " "), " ")
	if !ok || len(rest) == len(prog)+len(guid)+1 {
		return false // no single space before the program
	}
	if !equalFoldASCII(prog, "winlogon.exe") && !equalFoldASCII(prog, "wininit.exe") {
		return false
	}
	return isBracedGUID(guid)
}

// isHex8 reports whether the eight bytes of s (len(s) == 8) are all hex
// digits (isHex). With no byte of 0x80 or above, each byte's bit 7 after
// adding a constant tells whether it is at least a bound; additions to
// bytes below 0x80 cannot carry into the next byte.
func isHex8(s string) bool {
	const ones, high = 0x0101010101010101, 0x8080808080808080
	_ = s[7] // eight bytes to read
	x := binary.LittleEndian.Uint64(unsafe.Slice(unsafe.StringData(s), 8))
	if x&high != 0 {
		return false
	}
	digit := (x + (0x80-'0')*ones) &^ (x + (0x7f-'9')*ones)  // bit 7: '0' <= b <= '9'
	l := x | 0x20*ones                                       // a-f for A-F too; bit 7 stays clear
	letter := (l + (0x80-'a')*ones) &^ (l + (0x7f-'f')*ones) // bit 7: 'a' <= b|0x20 <= 'f'
	return (digit|letter)&high == high
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
