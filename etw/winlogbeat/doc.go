// Package winlogbeat reads Winlogbeat and Elastic Agent JSON lines (ECS
// documents with a winlog object) as etw.Events, through the same
// mapping as every Windows event-log source (etw/winlog).
//
//	r := winlogbeat.NewReader(f, "winlogbeat.ndjson", skipper)
//	for r.Next(&ev) == nil { ... }
//	st := r.Stats()
//
// The README's "Winlogbeat / Elastic Agent fields read" lists the fields.
package winlogbeat
