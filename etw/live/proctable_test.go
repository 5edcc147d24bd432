package live

import (
	"math/rand"
	"strconv"
	"testing"
)

// TestProcTableModel runs random puts and deletes against a map model:
// the table holds exactly the model's entries (less the evicted ones,
// each counted), PID 4 stays, and the bound holds.
func TestProcTableModel(t *testing.T) {
	cases := []struct {
		name      string
		max, pids int // bound, PID range (multiples of 4 below 4*pids)
		ops       int
		delEvery  int
	}{
		{"sparse, never full", 4096, 500, 20000, 3},
		{"dense, grows", 70000, 60000, 200000, 5},
		{"over the bound, evicts", 64, 400, 20000, 4},
		{"no deletes, evicts", 100, 1000, 5000, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewSource(int64(c.max)))
			tb := newProcTable(c.max)
			model := map[uint32]procEntry{4: {image: "System"}}
			for op := 0; op < c.ops; op++ {
				pid := uint32(4 * rng.Intn(c.pids))
				if c.delEvery > 0 && op%c.delEvery == 0 {
					// Half the deletes by lookup and delAt, as the
					// consumer's exits do.
					if op%(2*c.delEvery) == 0 {
						tb.del(pid)
					} else if e, i := tb.lookup(pid); e != nil {
						tb.delAt(i)
					}
					if pid != 4 {
						delete(model, pid)
					}
					continue
				}
				e := procEntry{image: "img" + strconv.Itoa(op), createTime: int64(op), key: strconv.Itoa(op % 7)}
				before := tb.evicted.Load()
				tb.put(pid, e.image, e.createTime, e.key)
				if pid == 4 && e.image == "" {
					e.image = "System"
				}
				model[pid] = e
				if d := tb.evicted.Load() - before; d > 1 {
					t.Fatalf("op %d: %d evictions for one put", op, d)
				} else if d == 1 {
					if len(model) <= c.max {
						t.Fatalf("op %d: eviction with %d entries, bound %d", op, len(model)-1, c.max)
					}
					n := 0
					for p := range model {
						if _, ok := tb.get(p); !ok {
							if p == 4 || p == pid {
								t.Fatalf("op %d: PID %d evicted", op, p)
							}
							delete(model, p)
							n++
						}
					}
					if n != 1 {
						t.Fatalf("op %d: %d entries gone for one eviction", op, n)
					}
				}
				if op%997 == 0 {
					checkProcTable(t, tb, model)
				}
			}
			checkProcTable(t, tb, model)
			if tb.len() > c.max {
				t.Errorf("len %d over the bound %d", tb.len(), c.max)
			}
			if n := len(tb.slots); n > max(procTableMin, 2*c.max) || 2*tb.len() > n {
				t.Errorf("%d slots for %d entries, bound %d", n, tb.len(), c.max)
			}
		})
	}
}

func checkProcTable(t *testing.T, tb *procTable, model map[uint32]procEntry) {
	t.Helper()
	if tb.len() != len(model) {
		t.Fatalf("len %d, model %d", tb.len(), len(model))
	}
	for p, want := range model {
		if got, ok := tb.get(p); !ok || got != want {
			t.Fatalf("PID %d: got %+v %v, want %+v", p, got, ok, want)
		}
		if e, i := tb.lookup(p); e == nil || *e != want || &tb.slots[i].procEntry != e {
			t.Fatalf("PID %d: lookup %+v at %d, want %+v", p, e, i, want)
		}
	}
	for p := uint32(2); p < 400; p += 4 { // PIDs the model never has
		if e, _ := tb.lookup(p); e != nil {
			t.Fatalf("PID %d: lookup found %+v", p, *e)
		}
	}
	pids := tb.pids()
	if len(pids) != len(model) {
		t.Fatalf("pids %d, model %d", len(pids), len(model))
	}
	for _, p := range pids {
		if _, ok := model[p]; !ok {
			t.Fatalf("PID %d listed, not in the model", p)
		}
	}
}

// TestProcTableNoAllocs: once grown, put, get and del allocate nothing.
func TestProcTableNoAllocs(t *testing.T) {
	tb := newProcTable(4096)
	for i := uint32(0); i < 4096; i++ {
		tb.put(4*i+8, "x", 0, "")
	}
	pid := uint32(8)
	if n := testing.AllocsPerRun(1000, func() {
		tb.del(pid)
		tb.put(pid, "y", 1, "")
		tb.get(pid + 4)
		pid += 4
		if pid > 4*4096 {
			pid = 8
		}
	}); n != 0 {
		t.Errorf("%v allocs per put/get/del", n)
	}
}
