// Package trace is smsswatch's own recording format: one JSON object per
// line, each an etw.Event with only its known fields (see the README's
// "The native trace format"). `smsswatch record` and `convert` write it;
// every recorded path reads it.
//
//	w := trace.NewWriter(f)
//	err := w.Write(&ev) // and w.Flush() at the end
//
//	r := trace.NewReader(f, "day1.jsonl", skipper) // an etw.Reader
//	for r.Next(&ev) == nil { ... }                 // bad lines go to skipper
//
// Lines are read with etw/textparse's line reader (16 MiB at most) and
// parsed with etw/jsonscan, without allocating in steady state.
package trace
