// Package evtx reads Windows EVTX files (Sysmon, Security and System logs)
// as etw.Events. It is the only importer of the EVTX library.
//
//	r := evtx.NewReader(f, "Security.evtx", skipper)
//	for r.Next(&ev) == nil { ... }
//	st := r.Stats() // bad and missing chunks, lost records, checksum errors
//
// Each chunk's header and CRCs are checked before its records are parsed
// (a dirty file or one without CRCs is still read); records lost to
// damage are counted and reported, never dropped silently. A record whose
// event ID the binary-XML check proves is of no interest (a single
// template instance with one Event/System/EventID, the ID a plain
// substitution) is not expanded; anything the check cannot judge is
// parsed in full (filter.go; TestEvtxFilterCorpus compares both paths).
// The records kept are decoded by our own binary-XML decoder, which
// mirrors the library's parse and expansion with value types and fills
// each record's fields straight from the chunk (decode.go); a chunk it
// does not mirror exactly is declined and parsed by the library
// (TestDecoderCorpus, TestDecoderMutation and FuzzEvtxDecode compare
// both).
package evtx
