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
		for _, n := range []int{0, 1, 100} {
			want := memBase + int64(max(n, 1))*memPerInput
			if got := boundMemory(n); got != want || debug.SetMemoryLimit(-1) != want {
				t.Errorf("%d inputs: limit %d (in effect %d), want %d", n, got, debug.SetMemoryLimit(-1), want)
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
