package live

import (
	"sync"
	"testing"

	"github.com/smsswatch/smsswatch/etw"
)

func TestQueueCapacity(t *testing.T) {
	for _, c := range []struct{ in, want int }{{1, 2}, {2, 2}, {3, 4}, {1000, 1024}, {1024, 1024}} {
		q, err := NewQueue(c.in)
		if err != nil {
			t.Fatal(err)
		}
		if q.Cap() != c.want {
			t.Errorf("NewQueue(%d).Cap() = %d, want %d", c.in, q.Cap(), c.want)
		}
	}
	for _, bad := range []int{0, -1, 1<<24 + 1} {
		if _, err := NewQueue(bad); err == nil {
			t.Errorf("NewQueue(%d): no error", bad)
		}
	}
}

func TestQueueFIFOAndDrops(t *testing.T) {
	q, _ := NewQueue(4)
	var ev etw.Event
	for i := 1; i <= 6; i++ {
		ev = etw.Event{Kind: etw.KindStart, Proc: etw.Process{PID: uint32(i), Image: "x"}}
		ok := q.Push(&ev)
		if want := i <= 4; ok != want {
			t.Fatalf("push %d: ok=%v, want %v", i, ok, want)
		}
	}
	if q.Dropped() != 2 || q.Len() != 4 {
		t.Fatalf("dropped=%d len=%d, want 2 and 4", q.Dropped(), q.Len())
	}
	for i := 1; i <= 4; i++ {
		if !q.Pop(&ev) || ev.Proc.PID != uint32(i) {
			t.Fatalf("pop %d: got PID %d", i, ev.Proc.PID)
		}
	}
	if q.Pop(&ev) {
		t.Fatal("pop from empty queue succeeded")
	}
	// The slots were cleared: nothing keeps the strings alive.
	for i := range q.buf {
		if q.buf[i].Proc.Image != "" {
			t.Fatalf("slot %d not cleared", i)
		}
	}
}

// TestQueueTake: take hands the consumer the slot's event itself and
// puts the spare in its place; the producer's next lap writes into the
// spare, never into a taken event; the freed slots reach the producer in
// groups (publishMask+1), and all of them once the ring is seen empty.
func TestQueueTake(t *testing.T) {
	for _, c := range []struct {
		name     string
		capacity int
		every    int // take every every-th event, Discard the others
	}{
		{"small ring, take all", 8, 1},
		{"small ring, take every other", 8, 2},
		{"publish groups of 64", 1024, 1},
		{"publish groups of 64, mixed", 1024, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			q, _ := NewQueue(c.capacity)
			n := q.Cap()
			group := int(q.publishMask) + 1
			kept := map[*etw.Event]uint32{} // taken event -> its PID
			pid := uint32(0)
			for lap := 0; lap < 3; lap++ {
				for i := 0; i < n; i++ {
					pid++
					ev := etw.Event{Kind: etw.KindStart, Proc: etw.Process{PID: pid, Image: "x"}}
					if !q.Push(&ev) {
						t.Fatalf("lap %d: push %d dropped with the ring freed", lap, i)
					}
				}
				if ev := (etw.Event{}); q.Push(&ev) {
					t.Fatalf("lap %d: push into a full ring", lap)
				}
				for i := 0; i < n; i++ {
					if q.Ready(n) != n-i {
						t.Fatalf("lap %d: Ready %d before event %d, want %d", lap, q.Ready(n), i, n-i)
					}
					at := q.At(0)
					want := pid - uint32(n-1-i)
					if at.Proc.PID != want {
						t.Fatalf("lap %d: event %d has PID %d, want %d", lap, i, at.Proc.PID, want)
					}
					if _, ok := kept[at]; ok {
						t.Fatalf("lap %d: the producer wrote into a taken event", lap)
					}
					if i%c.every != 0 {
						q.Discard()
					} else {
						spare := new(etw.Event)
						slot := &q.buf[q.next&q.mask]
						if got := q.take(spare); got != at {
							t.Fatalf("lap %d: take returned %p, not the slot's event %p", lap, got, at)
						}
						if *slot != spare {
							t.Fatal("the slot does not hold the spare")
						}
						kept[at] = at.Proc.PID
					}
					// Freed slots are given back by groups.
					if got, want := q.head.Load(), q.next-q.next%uint64(group); got != want {
						t.Fatalf("lap %d after %d: head %d, want %d", lap, i+1, got, want)
					}
				}
				if q.Ready(1) != 0 || q.head.Load() != q.next {
					t.Fatalf("lap %d: empty ring, head %d, next %d", lap, q.head.Load(), q.next)
				}
			}
			// The taken events are the consumer's: untouched by the laps
			// after them.
			for ev, pid := range kept {
				if ev.Proc.PID != pid || ev.Proc.Image != "x" {
					t.Fatalf("taken event changed: PID %d (want %d), image %q", ev.Proc.PID, pid, ev.Proc.Image)
				}
			}
		})
	}
}

func TestQueueArmSignal(t *testing.T) {
	q, _ := NewQueue(8)
	if !q.Arm() {
		t.Fatal("Arm on empty queue reported events")
	}
	ev := etw.Event{Kind: etw.KindExit}
	q.Push(&ev)
	select {
	case <-q.Signal():
	default:
		t.Fatal("no signal after Arm and Push")
	}
	// Not armed: a push does not signal.
	q.Push(&ev)
	select {
	case <-q.Signal():
		t.Fatal("signal without Arm")
	default:
	}
	if q.Arm() {
		t.Fatal("Arm on a non-empty queue said sleep")
	}
}

// TestQueueConcurrent runs one producer and one consumer (go test -race):
// every event arrives once, in order, or is counted as dropped.
func TestQueueConcurrent(t *testing.T) {
	q, _ := NewQueue(64)
	const n = 200000
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ev := etw.Event{Kind: etw.KindStart, Proc: etw.Process{Image: `\Device\HarddiskVolume3\Windows\System32\smss.exe`}}
		for i := 1; i <= n; i++ {
			ev.Proc.PID = uint32(i)
			q.Push(&ev)
		}
	}()
	var got, last uint32
	var ev etw.Event
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	finished := false
	for {
		if q.Pop(&ev) {
			if ev.Proc.PID <= last {
				t.Fatalf("out of order: %d after %d", ev.Proc.PID, last)
			}
			if ev.Proc.Image == "" {
				t.Fatal("torn event")
			}
			last = ev.Proc.PID
			got++
			continue
		}
		if finished {
			break
		}
		if q.Arm() {
			select {
			case <-q.Signal():
			case <-done:
				finished = true
			}
		}
	}
	if uint64(got)+q.Dropped() != n {
		t.Fatalf("got %d + dropped %d != %d", got, q.Dropped(), n)
	}
}

func TestQueueNoAllocs(t *testing.T) {
	q, _ := NewQueue(1024)
	in := etw.Event{Kind: etw.KindStart, Source: etw.SourceETW, Host: "WS1", Proc: etw.Process{PID: 4242, Image: `\Device\HarddiskVolume3\Windows\System32\smss.exe`, CreatorSID: "S-1-5-18"}}
	var out etw.Event
	allocs := testing.AllocsPerRun(1000, func() {
		q.Push(&in)
		q.Pop(&out)
	})
	if allocs != 0 {
		t.Fatalf("push+pop allocates %.1f times per run", allocs)
	}
	// Drops and the wake-up path do not allocate either.
	allocs = testing.AllocsPerRun(100, func() {
		for q.Push(&in) {
		}
		q.Arm()
		for q.Pop(&out) {
		}
		q.Arm()
		q.Push(&in)
		<-q.Signal()
		q.Pop(&out)
	})
	if allocs != 0 {
		t.Fatalf("fill, drop, drain and signal allocate %.1f times per run", allocs)
	}
}

func BenchmarkQueuePushPop(b *testing.B) {
	q, _ := NewQueue(1024)
	in := etw.Event{Kind: etw.KindStart, Proc: etw.Process{PID: 1, Image: "smss.exe"}}
	var out etw.Event
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		q.Push(&in)
		q.Pop(&out)
	}
}
