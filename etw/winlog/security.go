package winlog

import "github.com/smsswatch/smsswatch/etw"

// Security log (channel Security, any case) records read:
//
//	4688 a new process has been created -> KindStart
//	4689 a process has exited           -> KindExit
//	4608 Windows is starting up         -> KindBoot
//
// PIDs are hexadecimal strings ("0x194") in forwarded JSON and integers in
// EVTX. 4688 names one process besides the new one, ProcessId: the creator,
// which is also the parent the new process declares, so it fills both
// CreatorPID and ParentPID. ParentProcessName exists from Windows 10 on and
// is empty or absent for the boot master. TargetUserSid S-1-0-0 (the NULL
// SID) and an empty CommandLine (command-line auditing off) are unknown,
// not values. The event time is the record's own time (see recordTime).

// Security event IDs.
const (
	SecurityProcessCreate = 4688
	SecurityProcessExit   = 4689
	SecurityStartup       = 4608
)

// mapSecurity maps a Security record with event ID id.
func (m *Mapper) mapSecurity(r *Record, id uint32, ev *etw.Event) (bool, string) {
	switch id {
	case SecurityProcessCreate, SecurityProcessExit, SecurityStartup:
	default:
		return false, ""
	}
	t, reason := m.recordTime(r)
	if reason != "" {
		return false, reason
	}
	ev.Source = etw.SourceSecurity
	ev.Time = t
	m.host(r, ev)
	p := &ev.Proc
	switch id {
	case SecurityStartup:
		ev.Kind = etw.KindBoot
		return true, ""
	case SecurityProcessExit:
		ev.Kind = etw.KindExit
		if reason := m.num(r, fProcessID, ev, etw.FieldPID, &p.PID); reason != "" {
			return false, reason
		}
		if !ev.Has(etw.FieldPID) {
			return false, "no ProcessId"
		}
		if s, ok := m.str(r, fProcessName, "-"); ok {
			p.Image = s
			ev.Known |= etw.FieldImage
		}
		if reason := m.num(r, fStatus, ev, etw.FieldExitCode, &p.ExitCode); reason != "" {
			return false, reason
		}
		p.ExitTime = t
		ev.Known |= etw.FieldExitTime
		return true, ""
	}
	ev.Kind = etw.KindStart
	if reason := m.num(r, fNewProcessID, ev, etw.FieldPID, &p.PID); reason != "" {
		return false, reason
	}
	if !ev.Has(etw.FieldPID) {
		return false, "no NewProcessId"
	}
	p.CreateTime = t
	ev.Known |= etw.FieldCreateTime
	if s, ok := m.str(r, fNewProcessName, "-"); ok {
		p.Image = s
		ev.Known |= etw.FieldImage
	}
	if reason := m.num(r, fProcessID, ev, etw.FieldCreatorPID, &p.CreatorPID); reason != "" {
		return false, reason
	}
	if ev.Has(etw.FieldCreatorPID) {
		p.ParentPID = p.CreatorPID
		ev.Known |= etw.FieldParentPID
	}
	if s, ok := m.str(r, fParentProcessName, "-"); ok {
		p.ParentImage = s
		ev.Known |= etw.FieldParentImage
	}
	if s, ok := m.str(r, fSubjectUserSID, nullSID, "-"); ok {
		p.CreatorSID = s
		ev.Known |= etw.FieldCreatorSID
	}
	if s, ok := m.str(r, fTargetUserSID, nullSID, "-"); ok {
		p.UserSID = s
		ev.Known |= etw.FieldUserSID
	}
	if b, ok := r.text(fCommandLine); ok && len(b) > 0 {
		p.CommandLine = string(b)
		ev.Known |= etw.FieldCommandLine
	}
	return true, ""
}
