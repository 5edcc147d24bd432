package main

import (
	"os"
	"runtime/debug"

	"github.com/smsswatch/smsswatch/detect/recorded"
)

// A recorded run's state is bounded (the reorder budget, the host and
// stream caps, and what the open inputs hold: recorded.DefaultOpenBytes
// at most), but Go's collector lets the heap grow to twice what is live
// before it runs, so peak RSS would be about twice the bound. boundMemory
// sets a soft memory limit sized to that bound, so the collector works
// harder as it is approached rather than the process growing: memBase for
// the pipeline, plus memPerInput for each input (up to what may be open at
// once). It is a soft limit: a run that needs more gets more (the
// collector's CPU is capped), never an out-of-memory failure. A GOMEMLIMIT
// in the environment wins. It returns the limit in effect.
func boundMemory(inputs int) int64 {
	if _, set := os.LookupEnv("GOMEMLIMIT"); set {
		return debug.SetMemoryLimit(-1)
	}
	open := min(int64(max(inputs, 1))*memPerInput, recorded.DefaultOpenBytes)
	limit := memBase + open
	debug.SetMemoryLimit(limit)
	return limit
}

const (
	// memBase covers the reorder budget (recorded.DefaultReorderBytes),
	// the engines and the runtime.
	memBase = 16 << 20
	// memPerInput covers one open input's read buffers and decoder state
	// (an EVTX log's, the largest: etw/input's Footprint).
	memPerInput = 640 << 10
)
