// Package evtx reads Windows EVTX files (Sysmon, Security and System logs)
// as etw.Events. It is the only importer of the EVTX library.
//
//	r := evtx.NewReader(f, "Security.evtx", skipper)
//	for r.Next(&ev) == nil { ... }
//	st := r.Stats() // bad and missing chunks, lost records, checksum errors
//
// Each chunk's header and CRCs are checked before its records are parsed
// (a dirty file or one without CRCs is still read); records lost to
// damage are counted and reported, never dropped silently.
package evtx
