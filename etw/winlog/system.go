package winlog

import (
	"bytes"

	"github.com/smsswatch/smsswatch/etw"
)

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
	SystemKernelStart   = 12
	SystemEventLogStart = 6005
)

// mapSystem maps a System record with event ID id.
func (m *Mapper) mapSystem(r *Record, id uint32, ev *etw.Event) (bool, string) {
	prov, hasProv := r.text(FieldProvider)
	hasProv = hasProv && len(prov) > 0
	switch id {
	case SystemKernelStart:
		if hasProv && !bytes.EqualFold(prov, []byte("Microsoft-Windows-Kernel-General")) {
			return false, ""
		}
		if !hasProv && !r.Has(fStartTime) {
			return false, ""
		}
	case SystemEventLogStart:
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
	ev.Kind = etw.KindBoot
	ev.Source = etw.SourceSystem
	ev.Time = t
	m.host(r, ev)
	if id == SystemKernelStart {
		bt, present, ok := r.timeField(fStartTime)
		if present && !ok {
			return false, badField(r, fStartTime)
		}
		if present {
			ev.Boot.BootTime = bt
			ev.Known |= etw.FieldBootTime
		}
	}
	return true, ""
}
