// Package etw is the event model every smsswatch source produces and the
// detector consumes: an Event is a process start, exit or already-running
// record, a registry change, or boot evidence, with Known saying which of
// its fields the source actually knew.
//
//	var ev etw.Event
//	for {
//		err := r.Next(&ev) // r: an etw.Reader from etw/input, etw/trace, etw/nxlog...
//		if err == io.EOF { break }
//		if err != nil { return err }
//		engine.Handle(&ev) // a detect.Engine is an etw.Handler
//	}
//
// The sources live in sub-packages, one per source: etw/input opens any
// recorded input by content (etw/trace, etw/nxlog, etw/winlogbeat,
// etw/evtx, with etw/winlog mapping Windows event-log records), and
// etw/live is the live Microsoft-Windows-Kernel-Process ETW sensor. This
// package imports nothing but the standard library, so the detector
// (package detect) links no parser of any source.
package etw
