package detect

import (
	"math/rand"
	"testing"
)

// TestPIDTableMatchesMap runs sequences of puts, gets and deletes on a
// pidTable and on a map (the reference it replaced) and requires the same
// answers after every step. The PID spaces are small, so that probe runs
// collide, wrap around the end of the table and are cut by deletions.
func TestPIDTableMatchesMap(t *testing.T) {
	cases := []struct {
		name   string
		pids   uint32 // PIDs drawn from [0, pids) times stride
		stride uint32
		hint   int
		steps  int
	}{
		{"tiny, PID 0 included", 4, 1, 0, 2000},
		{"windows multiples of 4", 64, 4, 16, 20000},
		{"grows past its hint", 4096, 4, 16, 50000},
		{"high bits only (wrapping)", 40, 1 << 27, 16, 20000},
		{"large PIDs", 1000, 0x10001, 0, 20000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewSource(int64(tc.steps) + int64(tc.pids)))
			tab := newPIDTable(tc.hint)
			ref := map[uint32]int32{}
			for step := 0; step < tc.steps; step++ {
				pid := uint32(rng.Intn(int(tc.pids))) * tc.stride
				switch op := rng.Intn(3); op {
				case 0:
					slot := int32(rng.Intn(5000))
					tab.put(pid, slot)
					ref[pid] = slot
				case 1:
					tab.del(pid)
					delete(ref, pid)
				}
				got, ok := tab.get(pid)
				want, wantOK := ref[pid]
				if ok != wantOK || (ok && got != want) {
					t.Fatalf("step %d: get(%d) = %d, %v; want %d, %v", step, pid, got, ok, want, wantOK)
				}
				if tab.len() != len(ref) {
					t.Fatalf("step %d: len %d, want %d", step, tab.len(), len(ref))
				}
				if 2*tab.len() > len(tab.e) {
					t.Fatalf("step %d: %d entries in %d: more than half full", step, tab.len(), len(tab.e))
				}
			}
			for pid, want := range ref {
				if got, ok := tab.get(pid); !ok || got != want {
					t.Fatalf("final get(%d) = %d, %v; want %d", pid, got, ok, want)
				}
			}
			for pid := uint32(0); pid < tc.pids; pid++ {
				p := pid * tc.stride
				if _, inRef := ref[p]; !inRef {
					if got, ok := tab.get(p); ok {
						t.Fatalf("final get(%d) = %d, true; want absent", p, got)
					}
				}
			}
		})
	}
}

// TestPIDTableSizes checks the size a hint gives and that growth keeps
// the table a power of two at most half full.
func TestPIDTableSizes(t *testing.T) {
	cases := []struct {
		hint, size int
	}{
		{0, pidTableMin}, {16, pidTableMin}, {17, 64}, {32, 64}, {33, 128}, {4096, 8192},
	}
	for _, tc := range cases {
		tab := newPIDTable(tc.hint)
		if len(tab.e) != tc.size {
			t.Errorf("newPIDTable(%d): %d entries, want %d", tc.hint, len(tab.e), tc.size)
		}
		if 1<<(64-tab.shift) != len(tab.e) {
			t.Errorf("newPIDTable(%d): shift %d for %d entries", tc.hint, tab.shift, len(tab.e))
		}
		for i := 0; i < 3*tc.size; i++ {
			tab.put(uint32(i)*4, int32(i))
		}
		if n := len(tab.e); n&(n-1) != 0 || 2*tab.len() > n || 1<<(64-tab.shift) != n {
			t.Errorf("hint %d after %d puts: %d entries, shift %d, %d used", tc.hint, 3*tc.size, n, tab.shift, tab.len())
		}
	}
}

// meanDisplacement is the mean distance of the table's entries from their
// homes: how many extra entries a lookup of a present PID reads.
func meanDisplacement(t *pidTable) float64 {
	mask := uint32(len(t.e) - 1)
	sum, n := 0, 0
	for i, en := range t.e {
		if en.slot != 0 {
			sum += int((uint32(i) - t.home(en.pid)) & mask)
			n++
		}
	}
	return float64(sum) / float64(max(n, 1))
}

// TestPIDTableCollidingPIDs forges what a hostile log could hold: 2,048
// PIDs that all land on one home of the 4,096-entry table they grow it
// to under a fixed, unseeded hash (the Fibonacci multiply this table
// first used). Such a table walks one run on every lookup (mean
// displacement in the hundreds; shown with fibHome, so that the forged
// set is known to bite); the seeded table spreads them. The bound of 4
// is far above what a good hash gives at half load (about 0.5).
func TestPIDTableCollidingPIDs(t *testing.T) {
	const fib, n, shift = 0x9e3779b1, 2048, 32 - 12
	fibHome := func(pid uint32) uint32 { return (pid * fib) >> shift }
	var pids []uint32
	for pid := uint32(4); len(pids) < n; pid += 4 {
		if fibHome(pid) == 77 {
			pids = append(pids, pid)
		}
	}
	// Under fibHome they would all share one run: entry k of it sits k
	// places from home, a mean displacement of (n-1)/2.
	homes := map[uint32]int{}
	for _, pid := range pids {
		homes[fibHome(pid)]++
	}
	if len(homes) != 1 {
		t.Fatalf("the forged PIDs have %d homes under the fixed hash, want 1", len(homes))
	}
	for round := range 20 {
		tab := newPIDTable(0)
		for i, pid := range pids {
			tab.put(pid, int32(i))
		}
		for i, pid := range pids {
			if got, ok := tab.get(pid); !ok || got != int32(i) {
				t.Fatalf("get(%d) = %d, %v; want %d", pid, got, ok, i)
			}
		}
		if len(tab.e) != 4096 {
			t.Fatalf("table of %d entries, want 4096", len(tab.e))
		}
		if d := meanDisplacement(&tab); d > 4 {
			t.Fatalf("round %d: seed %#x: mean displacement %.1f", round, tab.seed, d)
		}
	}
}
