package stream

import (
	"runtime"
	"testing"
)

// TestSlotRingOrderAcrossGoroutines: one producer and one consumer on
// different goroutines; every item arrives once, in order, and a full ring
// refuses rather than overwrites (run with -race to check the hand-off of
// the items' contents).
func TestSlotRingOrderAcrossGoroutines(t *testing.T) {
	const n = 200000
	items := newItems(n)
	r := newSlotRing(64, items)
	done := make(chan int)
	go func() {
		got := 0
		for got < n {
			it := r.pop()
			if it == nil {
				runtime.Gosched()
				continue
			}
			if it.Key != uint64(got) || it.Buf[0] != byte(got) {
				done <- -got - 1
				return
			}
			got++
		}
		done <- got
	}()
	full := 0
	for i := range items {
		items[i].Key = uint64(i)
		items[i].Buf = []byte{byte(i)}
		for !r.push(&items[i]) {
			full++
			runtime.Gosched()
		}
	}
	if got := <-done; got != n {
		t.Fatalf("consumer stopped at item %d (wrong key or contents)", -got-1)
	}
	if r.len() != 0 || r.pop() != nil {
		t.Fatalf("ring not empty after all items: len %d", r.len())
	}
	t.Logf("producer found the ring full %d times", full)
}

// TestSlotRingCapacity: a ring holds its (power-of-two) size, no more.
func TestSlotRingCapacity(t *testing.T) {
	for _, tc := range []struct{ ask, size int }{{1, 1}, {3, 4}, {4, 4}, {4096, 4096}, {5000, 8192}} {
		r := newSlotRing(tc.ask, newItems(1))
		it := &r.items[0]
		pushed := 0
		for r.push(it) {
			pushed++
		}
		if pushed != tc.size || r.len() != tc.size {
			t.Errorf("newSlotRing(%d) took %d (len %d), want %d", tc.ask, pushed, r.len(), tc.size)
		}
		if r.pop() == nil || !r.push(it) || r.push(it) {
			t.Errorf("newSlotRing(%d): pop then push should free exactly one slot", tc.ask)
		}
	}
}

// TestSlotRingPopInto: batches come out oldest first, as many as the
// destination holds or the ring has, and free exactly that many places.
func TestSlotRingPopInto(t *testing.T) {
	for _, tc := range []struct {
		name        string
		pushed, dst int
		batches     []int
	}{
		{"empty", 0, 4, []int{0}},
		{"fewer than a batch", 3, 4, []int{3, 0}},
		{"exact batches", 8, 4, []int{4, 4, 0}},
		{"a partial last batch", 10, 4, []int{4, 4, 2, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			items := newItems(tc.pushed)
			r := newSlotRing(16, items)
			for i := range items {
				items[i].Key = uint64(i)
				if !r.push(&items[i]) {
					t.Fatalf("push %d refused", i)
				}
			}
			dst := make([]uint32, tc.dst)
			next := uint64(0)
			for b, want := range tc.batches {
				n := r.popInto(dst)
				if n != want {
					t.Fatalf("batch %d: %d items, want %d", b, n, want)
				}
				for _, i := range dst[:n] {
					if it := &items[i]; it.Key != next {
						t.Fatalf("batch %d: item %d, want %d", b, items[i].Key, next)
					}
					next++
				}
				if r.len() != tc.pushed-int(next) {
					t.Fatalf("after batch %d: len %d, want %d", b, r.len(), tc.pushed-int(next))
				}
			}
		})
	}
}
