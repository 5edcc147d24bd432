// Package nxlog reads NXLog's JSON lines (Sysmon, Security and System
// records forwarded by NXLog's to_json) as etw.Events.
//
//	r := nxlog.NewReader(f, "export.json", skipper)
//	for r.Next(&ev) == nil { ... }
//	st := r.Stats() // etw.ReadStats: records, events, skips, zone guesses
//
// A cheap pre-filter passes over the lines that cannot hold a record of
// interest without parsing them: one pass a line finds both the end of
// every "EventID" key and any \u escape (SSE2 on amd64, mark_amd64.s; plain
// Go elsewhere, both checked against a byte-at-a-time definition); every
// other line is scanned (etw/jsonscan) and mapped (etw/winlog). A
// malformed line of interest is reported to the Skipper and counted.
package nxlog
