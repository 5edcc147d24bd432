package etw

import (
	"bytes"

	"github.com/smsswatch/smsswatch/etw/textparse"
)

// Sysmon (channel Microsoft-Windows-Sysmon/Operational) records read:
//
//	1  process create   -> KindStart
//	5  process terminate -> KindExit
//	12 registry object create/delete, 13 value set, 14 rename -> KindRegistry,
//	   only under Control\Session Manager of a control set.
//
// The event time is UtcTime (when Sysmon saw the operation, often long
// before it wrote the record at boot). User is the process's account name;
// the record's own UserID (Sysmon's account) is never used.

// Sysmon event IDs.
const (
	sysmonProcessCreate    = 1
	sysmonProcessTerminate = 5
	sysmonRegistryObject   = 12
	sysmonRegistrySetValue = 13
	sysmonRegistryRename   = 14
)

// mapSysmon maps a Sysmon record with event ID id.
func (m *mapper) mapSysmon(r *flatRecord, id uint32, ev *Event) (bool, string) {
	switch id {
	case sysmonProcessCreate, sysmonProcessTerminate:
	case sysmonRegistryObject, sysmonRegistrySetValue, sysmonRegistryRename:
		return m.mapSysmonRegistry(r, id, ev)
	default:
		return false, ""
	}
	ev.Source = SourceSysmon
	m.host(r, ev)
	t, fromUtc, reason := m.sysmonTime(r)
	if reason != "" {
		return false, reason
	}
	ev.Time = t
	p := &ev.Proc
	if reason := m.num(r, fProcessID, ev, FieldPID, &p.PID); reason != "" {
		return false, reason
	}
	if k, ok := m.key(r, fProcessGUID); ok {
		p.Key = k
		ev.Known |= FieldKey
	}
	if !ev.Has(FieldPID) && !ev.Has(FieldKey) {
		return false, "no ProcessId or ProcessGuid"
	}
	if s, ok := m.str(r, fImage); ok {
		p.Image = s
		ev.Known |= FieldImage
	}
	if id == sysmonProcessTerminate {
		ev.Kind = KindExit
		if fromUtc {
			p.ExitTime = t
			ev.Known |= FieldExitTime
		}
		return true, ""
	}
	ev.Kind = KindStart
	if fromUtc {
		p.CreateTime = t
		ev.Known |= FieldCreateTime
	}
	if reason := m.num(r, fParentProcessID, ev, FieldParentPID, &p.ParentPID); reason != "" {
		return false, reason
	}
	if reason := m.num(r, fTerminalSessionID, ev, FieldSession, &p.Session); reason != "" {
		return false, reason
	}
	// Sysmon writes "?" for a parent it no longer knows.
	if s, ok := m.str(r, fParentImage, "?", "-"); ok {
		p.ParentImage = s
		ev.Known |= FieldParentImage
	}
	// An empty command line is evidence (Sysmon always records it); a
	// missing one is not.
	if b, ok := r.text(fCommandLine); ok {
		p.CommandLine = string(b)
		ev.Known |= FieldCommandLine
	}
	if s, ok := m.str(r, fUser, "-"); ok {
		p.UserName = s
		ev.Known |= FieldUserName
	}
	if k, ok := m.key(r, fParentProcessGUID); ok {
		p.ParentKey = k
		ev.Known |= FieldParentKey
	}
	return true, ""
}

// sysmonTime returns a Sysmon record's event time: UtcTime, or the record
// time (counted) when UtcTime is missing. fromUtc says which.
func (m *mapper) sysmonTime(r *flatRecord) (t int64, fromUtc bool, reason string) {
	t, present, ok := r.timeField(fUtcTime)
	if present {
		if !ok {
			return 0, false, badField(r, fUtcTime)
		}
		return t, true, ""
	}
	t, reason = m.recordTime(r)
	if reason != "" {
		return 0, false, reason
	}
	m.stats.NoUtcTime++
	return t, false, ""
}

// mapSysmonRegistry maps Sysmon 12, 13 and 14. Records outside a Session
// Manager key are not of interest.
func (m *mapper) mapSysmonRegistry(r *flatRecord, id uint32, ev *Event) (bool, string) {
	target, ok := r.text(fTargetObject)
	if !ok || len(target) == 0 {
		return false, "" // cannot be under Session Manager
	}
	var op RegOp
	et, _ := r.text(fEventType)
	switch string(et) {
	case "SetValue":
		op = RegOpSetValue
	case "DeleteValue":
		op = RegOpDeleteValue
	case "CreateKey":
		op = RegOpCreateKey
	case "DeleteKey":
		op = RegOpDeleteKey
	case "RenameKey", "RenameValue":
		op = RegOpRename
	default:
		switch id {
		case sysmonRegistrySetValue:
			op = RegOpSetValue
		case sysmonRegistryRename:
			op = RegOpRename
		default:
			// Only a malformed record of interest is worth a report.
			parent := target
			if i := bytes.LastIndexByte(target, '\\'); i >= 0 {
				parent = target[:i]
			}
			if IsSessionManagerKey(string(target)) || IsSessionManagerKey(string(parent)) {
				return false, badField(r, fEventType)
			}
			return false, ""
		}
	}
	key, value := target, []byte(nil)
	valueOp := op == RegOpSetValue || op == RegOpDeleteValue || string(et) == "RenameValue"
	if valueOp {
		i := bytes.LastIndexByte(target, '\\')
		if i < 0 {
			return false, "" // a bare value name: no key, not ours
		}
		key, value = target[:i], target[i+1:]
		if string(value) == "(Default)" {
			value = nil
		}
	}
	// The word test first: it rejects most keys without converting them.
	if !textparse.ContainsFold(key, "session manager") || !IsSessionManagerKey(string(key)) {
		return false, ""
	}
	t, _, reason := m.sysmonTime(r)
	if reason != "" {
		return false, reason
	}
	ev.Kind = KindRegistry
	ev.Source = SourceSysmon
	ev.Time = t
	m.host(r, ev)
	g := &ev.Reg
	g.Op = op
	g.Key = m.intern.str(key)
	g.Value = m.intern.str(value)
	if b, ok := r.text(fDetails); ok {
		g.Data = string(b)
	}
	if b, ok := r.text(fNewName); ok {
		g.NewName = string(b)
	}
	if reason := m.num(r, fProcessID, ev, FieldPID, &g.PID); reason != "" {
		return false, reason
	}
	if s, ok := m.str(r, fImage); ok {
		g.Image = s
		ev.Known |= FieldImage
	}
	return true, ""
}

// IsSessionManagerKey reports whether a registry key path is the Session
// Manager key of a control set, or under it: its elements contain
// CurrentControlSet or ControlSetNNN, then Control, then Session Manager
// (compared case-insensitively, as the registry does; no trimming, since
// "Session Manager " is another key).
func IsSessionManagerKey(key string) bool {
	var prev2, prev1 string
	for len(key) > 0 {
		el := key
		if i := indexByte(key, '\\'); i >= 0 {
			el, key = key[:i], key[i+1:]
		} else {
			key = ""
		}
		if equalFold(el, "Session Manager") && equalFold(prev1, "Control") && isControlSet(prev2) {
			return true
		}
		prev2, prev1 = prev1, el
	}
	return false
}

// isControlSet reports whether el is CurrentControlSet or ControlSetNNN.
func isControlSet(el string) bool {
	if equalFold(el, "CurrentControlSet") {
		return true
	}
	if len(el) != len("ControlSet001") || !equalFold(el[:10], "ControlSet") {
		return false
	}
	for i := 10; i < len(el); i++ {
		if el[i] < '0' || el[i] > '9' {
			return false
		}
	}
	return true
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// equalFold compares ASCII case-insensitively (registry names of interest
// are ASCII; a non-ASCII lookalike is another key).
func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
