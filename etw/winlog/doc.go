// Package winlog is the mapping every Windows event-log source shares:
// the flat Record a reader fills (by field name, as Sysmon, Security,
// System and the forwarders write them) and the Mapper that turns it into
// an etw.Event, following DETECTION.md's evidence rules.
//
//	var rec winlog.Record
//	var m winlog.Mapper
//	rec.Reset()
//	rec.SetString(winlog.FieldChannel, "Security") // or rec.FillJSON(&sc, line)
//	emit, reason := m.Map(&rec, &ev)                // reason: a malformed record of interest
//
// MapFields does the same from a map, for tests and references.
package winlog
