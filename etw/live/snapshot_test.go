package live

import (
	"testing"

	"github.com/smsswatch/smsswatch/etw"
)

func TestSnapshotEvent(t *testing.T) {
	s := bootSnapshot()
	sorted := s.sorted()
	for i, want := range []uint32{4, 268, 400, 600} {
		if sorted[i].PID != want {
			t.Fatalf("sorted %+v", sorted)
		}
	}
	if s.Processes[0].PID != 600 {
		t.Error("sorted changed the snapshot")
	}
	var ev etw.Event
	sorted[1].event("WS1", 42, &ev)
	want := etw.FieldPID | etw.FieldParentPID | etw.FieldSession | etw.FieldImage | etw.FieldUserSID | etw.FieldCreateTime
	if ev.Kind != etw.KindRunning || ev.Known != want || ev.Time != 42 || ev.Host != "WS1" || ev.Proc.Image != smss {
		t.Errorf("event %+v known %b", ev, ev.Known)
	}
	sorted[0].event("WS1", 42, &ev)
	if ev.Has(etw.FieldParentPID) || ev.Proc.Image != "System" {
		t.Errorf("System %+v", ev)
	}
	(&SnapshotProcess{PID: 9}).event("", 1, &ev)
	if ev.Known != etw.FieldPID|etw.FieldParentPID|etw.FieldSession {
		t.Errorf("bare process known %b", ev.Known)
	}
}
