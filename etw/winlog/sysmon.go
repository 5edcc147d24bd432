package winlog

import (
	"bytes"

	"github.com/smsswatch/smsswatch/etw"

	"github.com/smsswatch/smsswatch/etw/sessmgr"
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
	SysmonProcessCreate    = 1
	SysmonProcessTerminate = 5
	SysmonRegistryObject   = 12
	SysmonRegistrySetValue = 13
	SysmonRegistryRename   = 14
)

// mapSysmon maps a Sysmon record with event ID id.
func (m *Mapper) mapSysmon(r *Record, id uint32, ev *etw.Event) (bool, string) {
	switch id {
	case SysmonProcessCreate, SysmonProcessTerminate:
	case SysmonRegistryObject, SysmonRegistrySetValue, SysmonRegistryRename:
		return m.mapSysmonRegistry(r, id, ev)
	default:
		return false, ""
	}
	ev.Source = etw.SourceSysmon
	m.host(r, ev)
	t, fromUtc, reason := m.sysmonTime(r)
	if reason != "" {
		return false, reason
	}
	ev.Time = t
	p := &ev.Proc
	if reason := m.num(r, fProcessID, ev, etw.FieldPID, &p.PID); reason != "" {
		return false, reason
	}
	if k, ok := m.key(r, fProcessGUID); ok {
		p.Key = k
		ev.Known |= etw.FieldKey
	}
	if !ev.Has(etw.FieldPID) && !ev.Has(etw.FieldKey) {
		return false, "no ProcessId or ProcessGuid"
	}
	if s, ok := m.str(r, fImage); ok {
		p.Image = s
		ev.Known |= etw.FieldImage
	}
	if id == SysmonProcessTerminate {
		ev.Kind = etw.KindExit
		if fromUtc {
			p.ExitTime = t
			ev.Known |= etw.FieldExitTime
		}
		return true, ""
	}
	ev.Kind = etw.KindStart
	if fromUtc {
		p.CreateTime = t
		ev.Known |= etw.FieldCreateTime
	}
	if reason := m.num(r, fParentProcessID, ev, etw.FieldParentPID, &p.ParentPID); reason != "" {
		return false, reason
	}
	if reason := m.num(r, fTerminalSessionID, ev, etw.FieldSession, &p.Session); reason != "" {
		return false, reason
	}
	// Sysmon writes "?" for a parent it no longer knows.
	if s, ok := m.str(r, fParentImage, "?", "-"); ok {
		p.ParentImage = s
		ev.Known |= etw.FieldParentImage
	}
	// An empty command line is evidence (Sysmon always records it); a
	// missing one is not.
	if b, ok := r.text(fCommandLine); ok {
		p.CommandLine = string(b)
		ev.Known |= etw.FieldCommandLine
	}
	if s, ok := m.str(r, fUser, "-"); ok {
		p.UserName = s
		ev.Known |= etw.FieldUserName
	}
	if k, ok := m.key(r, fParentProcessGUID); ok {
		p.ParentKey = k
		ev.Known |= etw.FieldParentKey
	}
	return true, ""
}

// sysmonTime returns a Sysmon record's event time: UtcTime, or the record
// time (counted) when UtcTime is missing. fromUtc says which.
func (m *Mapper) sysmonTime(r *Record) (t int64, fromUtc bool, reason string) {
	t, present, ok := r.timeField(FieldUtcTime)
	if present {
		if !ok {
			return 0, false, badField(r, FieldUtcTime)
		}
		return t, true, ""
	}
	t, reason = m.recordTime(r)
	if reason != "" {
		return 0, false, reason
	}
	m.Stats.NoUtcTime++
	return t, false, ""
}

// mapSysmonRegistry maps Sysmon 12, 13 and 14. Records outside a Session
// Manager key are not of interest.
func (m *Mapper) mapSysmonRegistry(r *Record, id uint32, ev *etw.Event) (bool, string) {
	target, ok := r.text(fTargetObject)
	if !ok || len(target) == 0 {
		return false, "" // cannot be under Session Manager
	}
	var op etw.RegOp
	et, _ := r.text(fEventType)
	switch string(et) {
	case "SetValue":
		op = etw.RegOpSetValue
	case "DeleteValue":
		op = etw.RegOpDeleteValue
	case "CreateKey":
		op = etw.RegOpCreateKey
	case "DeleteKey":
		op = etw.RegOpDeleteKey
	case "RenameKey", "RenameValue":
		op = etw.RegOpRename
	default:
		switch id {
		case SysmonRegistrySetValue:
			op = etw.RegOpSetValue
		case SysmonRegistryRename:
			op = etw.RegOpRename
		default:
			// Only a malformed record of interest is worth a report.
			parent := target
			if i := bytes.LastIndexByte(target, '\\'); i >= 0 {
				parent = target[:i]
			}
			if sessmgr.IsKey(string(target)) || sessmgr.IsKey(string(parent)) {
				return false, badField(r, fEventType)
			}
			return false, ""
		}
	}
	key, value := target, []byte(nil)
	valueOp := op == etw.RegOpSetValue || op == etw.RegOpDeleteValue || string(et) == "RenameValue"
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
	if !textparse.ContainsFold(key, "session manager") || !sessmgr.IsKey(string(key)) {
		return false, ""
	}
	t, _, reason := m.sysmonTime(r)
	if reason != "" {
		return false, reason
	}
	ev.Kind = etw.KindRegistry
	ev.Source = etw.SourceSysmon
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
	if reason := m.num(r, fProcessID, ev, etw.FieldPID, &g.PID); reason != "" {
		return false, reason
	}
	if s, ok := m.str(r, fImage); ok {
		g.Image = s
		ev.Known |= etw.FieldImage
	}
	return true, ""
}

// SysmonChannel is the Sysmon event log's channel name.
const SysmonChannel = "Microsoft-Windows-Sysmon/Operational"
