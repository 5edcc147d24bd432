package main

import (
	"math"
	"os"
	"runtime/debug"
	"testing"
)

func TestBoundMemory(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1)) // restore
	t.Run("sized by inputs", func(t *testing.T) {
		t.Setenv("GOMEMLIMIT", "") // restored after the test
		os.Unsetenv("GOMEMLIMIT")
		const mib = 1 << 20
		for _, c := range []struct {
			inputs int
			want   int64
		}{
			{0, 16*mib + 640*1024},   // at least one input
			{1, 16*mib + 640*1024},   // one EVTX log's worth
			{10, 16*mib + 6400*1024}, // ten
			{100, 16*mib + 8*mib},    // capped by what may be open at once
		} {
			if got := boundMemory(c.inputs); got != c.want || debug.SetMemoryLimit(-1) != c.want {
				t.Errorf("%d inputs: limit %d (in effect %d), want %d", c.inputs, got, debug.SetMemoryLimit(-1), c.want)
			}
		}
	})
	t.Run("GOMEMLIMIT wins", func(t *testing.T) {
		debug.SetMemoryLimit(math.MaxInt64)
		t.Setenv("GOMEMLIMIT", "1GiB")
		if got := boundMemory(5); got != math.MaxInt64 || debug.SetMemoryLimit(-1) != math.MaxInt64 {
			t.Errorf("limit %d with GOMEMLIMIT set, want the runtime's own", got)
		}
	})
}
