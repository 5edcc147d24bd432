package etw

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
	securityProcessCreate = 4688
	securityProcessExit   = 4689
	securityStartup       = 4608
)

// mapSecurity maps a Security record with event ID id.
func (m *mapper) mapSecurity(r *flatRecord, id uint32, ev *Event) (bool, string) {
	switch id {
	case securityProcessCreate, securityProcessExit, securityStartup:
	default:
		return false, ""
	}
	t, reason := m.recordTime(r)
	if reason != "" {
		return false, reason
	}
	ev.Source = SourceSecurity
	ev.Time = t
	m.host(r, ev)
	p := &ev.Proc
	switch id {
	case securityStartup:
		ev.Kind = KindBoot
		return true, ""
	case securityProcessExit:
		ev.Kind = KindExit
		if reason := m.num(r, fProcessID, ev, FieldPID, &p.PID); reason != "" {
			return false, reason
		}
		if !ev.Has(FieldPID) {
			return false, "no ProcessId"
		}
		if s, ok := m.str(r, fProcessName, "-"); ok {
			p.Image = s
			ev.Known |= FieldImage
		}
		if reason := m.num(r, fStatus, ev, FieldExitCode, &p.ExitCode); reason != "" {
			return false, reason
		}
		p.ExitTime = t
		ev.Known |= FieldExitTime
		return true, ""
	}
	ev.Kind = KindStart
	if reason := m.num(r, fNewProcessID, ev, FieldPID, &p.PID); reason != "" {
		return false, reason
	}
	if !ev.Has(FieldPID) {
		return false, "no NewProcessId"
	}
	p.CreateTime = t
	ev.Known |= FieldCreateTime
	if s, ok := m.str(r, fNewProcessName, "-"); ok {
		p.Image = s
		ev.Known |= FieldImage
	}
	if reason := m.num(r, fProcessID, ev, FieldCreatorPID, &p.CreatorPID); reason != "" {
		return false, reason
	}
	if ev.Has(FieldCreatorPID) {
		p.ParentPID = p.CreatorPID
		ev.Known |= FieldParentPID
	}
	if s, ok := m.str(r, fParentProcessName, "-"); ok {
		p.ParentImage = s
		ev.Known |= FieldParentImage
	}
	if s, ok := m.str(r, fSubjectUserSID, nullSID, "-"); ok {
		p.CreatorSID = s
		ev.Known |= FieldCreatorSID
	}
	if s, ok := m.str(r, fTargetUserSID, nullSID, "-"); ok {
		p.UserSID = s
		ev.Known |= FieldUserSID
	}
	if b, ok := r.text(fCommandLine); ok && len(b) > 0 {
		p.CommandLine = string(b)
		ev.Known |= FieldCommandLine
	}
	return true, ""
}
