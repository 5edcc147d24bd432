// Package input opens a recorded input by its content, whatever its name:
// the native trace format, NXLog or Winlogbeat JSON lines, an EVTX file,
// any of them gzip-compressed or gathered in a tar archive. It is the
// factory of the readers of etw/trace, etw/nxlog, etw/winlogbeat and
// etw/evtx; hunt and replay read through it.
//
//	r, closer, err := input.Open(path, skipper) // "-" is standard input
//	if err != nil { ... }                        // etw.ErrUnknownFormat, I/O errors
//	defer closer.Close()
//	var ev etw.Event
//	for r.Next(&ev) == nil { ... }
//	st := r.(*input.Input).Stats() // records, events, skips, damage
//
// Damaged data (a gzip stream cut short, a corrupt EVTX chunk) ends the
// input with a skip report and is counted in Stats, never silently.
package input
