package etw

import "bytes"

// System log (channel System) records read, both KindBoot:
//
//	Microsoft-Windows-Kernel-General 12  "The operating system started at
//	     system time ..."; its StartTime is the boot time (UTC).
//	EventLog 6005  "The Event log service was started."
//
// Other providers reuse these IDs in the System log, so a record naming
// another provider is not of interest. A record without a provider is
// accepted for 6005, and for 12 only when it carries a StartTime.

// System event IDs.
const (
	systemKernelStart   = 12
	systemEventLogStart = 6005
)

// mapSystem maps a System record with event ID id.
func (m *mapper) mapSystem(r *flatRecord, id uint32, ev *Event) (bool, string) {
	prov, hasProv := r.text(fProvider)
	hasProv = hasProv && len(prov) > 0
	switch id {
	case systemKernelStart:
		if hasProv && !bytes.EqualFold(prov, []byte("Microsoft-Windows-Kernel-General")) {
			return false, ""
		}
		if !hasProv && !r.has(fStartTime) {
			return false, ""
		}
	case systemEventLogStart:
		if hasProv && !bytes.EqualFold(prov, []byte("EventLog")) {
			return false, ""
		}
	default:
		return false, ""
	}
	t, reason := m.recordTime(r)
	if reason != "" {
		return false, reason
	}
	ev.Kind = KindBoot
	ev.Source = SourceSystem
	ev.Time = t
	m.host(r, ev)
	if id == systemKernelStart {
		bt, present, ok := r.timeField(fStartTime)
		if present && !ok {
			return false, badField(r, fStartTime)
		}
		if present {
			ev.Boot.BootTime = bt
			ev.Known |= FieldBootTime
		}
	}
	return true, ""
}
