package etw

import "testing"

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
	var ev Event
	sorted[1].event("WS1", 42, &ev)
	want := FieldPID | FieldParentPID | FieldSession | FieldImage | FieldUserSID | FieldCreateTime
	if ev.Kind != KindRunning || ev.Known != want || ev.Time != 42 || ev.Host != "WS1" || ev.Proc.Image != smss {
		t.Errorf("event %+v known %b", ev, ev.Known)
	}
	sorted[0].event("WS1", 42, &ev)
	if ev.Has(FieldParentPID) || ev.Proc.Image != "System" {
		t.Errorf("System %+v", ev)
	}
	(&SnapshotProcess{PID: 9}).event("", 1, &ev)
	if ev.Known != FieldPID|FieldParentPID|FieldSession {
		t.Errorf("bare process known %b", ev.Known)
	}
}
