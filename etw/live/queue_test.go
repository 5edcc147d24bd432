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
