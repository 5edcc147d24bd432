package main

import (
	"os"
	"runtime/debug"
)

// A recorded run's state is bounded (the reorder budget, the host and
// stream caps, and per input its read buffers), but Go's collector lets
// the heap grow to twice what is live before it runs, so peak RSS would
// be about twice the bound. boundMemory sets a soft memory limit sized to
// that bound, so the collector works harder as it is approached rather
// than the process growing: memBase for the pipeline, plus memPerInput for
// each input open at once (hunt passes at most recorded.DefaultMaxOpen). It is a soft limit: a run that needs more gets more
// (the collector's CPU is capped), never an out-of-memory failure. A
// GOMEMLIMIT in the environment wins. It returns the limit in effect.
func boundMemory(inputs int) int64 {
	if _, set := os.LookupEnv("GOMEMLIMIT"); set {
		return debug.SetMemoryLimit(-1)
	}
	limit := memBase + int64(max(inputs, 1))*memPerInput
	debug.SetMemoryLimit(limit)
	return limit
}

const (
	// memBase covers the reorder budget (recorded.DefaultReorderBytes),
	// the engines and the runtime.
	memBase = 16 << 20
	// memPerInput covers one open input's read buffers and decoder state
	// (etw/input's 1 MiB detection window, which text readers read
	// through, and its 64 KiB raw buffer); recorded.DefaultMaxOpen
	// bounds the inputs open at once.
	memPerInput = 5 << 18
)
