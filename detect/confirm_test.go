package detect_test

import (
	"testing"

	"github.com/smsswatch/smsswatch/detect"
	"github.com/smsswatch/smsswatch/etw"
)

// confirmCall is one question the engine asked Config.ConfirmRunning.
type confirmCall struct {
	pid     uint32
	created int64
}

// fakeConfirmer answers every question with (running, known) and records
// the questions.
type fakeConfirmer struct {
	running, known bool
	calls          []confirmCall
}

func (f *fakeConfirmer) confirm(pid uint32, created int64) (bool, bool) {
	f.calls = append(f.calls, confirmCall{pid, created})
	return f.running, f.known
}

// liveChild is a session child that starts at 1000 s (creation time from
// the source) and starts csrss.exe; its deadline is 1030 s.
func liveChild() []etw.Event {
	c := proc(etw.SourceETW, 1000, 3444, 404, smssImg, smssImg, `\SystemRoot\System32\smss.exe 000000d4 00000084`)
	c.Known |= etw.FieldCreateTime
	c.Proc.CreateTime = at(999.9995)
	return []etw.Event{c, proc(etw.SourceETW, 1000.1, 3448, 3444, sys32+"csrss.exe", smssImg, "")}
}

func TestLiveConfirmerAtDeadline(t *testing.T) {
	cases := []struct {
		name      string
		hook      *fakeConfirmer // nil: no hook
		wantFired int
		wantLost  uint64
	}{
		{"no confirmer: fires as before", nil, 1, 0},
		{"still running: fires", &fakeConfirmer{running: true, known: true}, 1, 0},
		{"exited, its exit record lost: no alert, gap counted", &fakeConfirmer{running: false, known: true}, 0, 1},
		{"cannot tell (access denied): fires as before", &fakeConfirmer{running: false, known: false}, 1, 0},
		{"running but not surely the same process: fires as before", &fakeConfirmer{running: true, known: false}, 1, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := detect.DefaultConfig()
			if tc.hook != nil {
				cfg.ConfirmRunning = tc.hook.confirm
			}
			e, rec := newEngine(t, cfg, etw.SourceETW)
			bootChain(e, etw.SourceETW, true)
			evs := liveChild()
			for i := range evs {
				e.Handle(&evs[i])
			}
			e.Advance(at(1029.999))
			if tc.hook != nil && len(tc.hook.calls) != 0 {
				t.Fatalf("confirmer asked %d time(s) before the deadline: %v", len(tc.hook.calls), tc.hook.calls)
			}
			e.Advance(at(1030))
			e.Advance(at(2000))
			e.Flush()
			if got := rec.count(detect.RulePersistentChild); got != tc.wantFired {
				t.Fatalf("persistent_child fired %d times, want %d", got, tc.wantFired)
			}
			s := e.Stats()
			if got := s.Unevaluated[detect.RulePersistentChild][detect.GapExitLost]; got != tc.wantLost {
				t.Fatalf("GapExitLost counted %d, want %d", got, tc.wantLost)
			}
			if tc.hook == nil {
				return
			}
			// Asked once, at the deadline, about the child as the
			// source described it.
			want := confirmCall{3444, at(999.9995)}
			if len(tc.hook.calls) != 1 || tc.hook.calls[0] != want {
				t.Fatalf("confirmer calls %v, want one %v", tc.hook.calls, want)
			}
		})
	}
}

// TestLiveConfirmerNoCreateTime: a start without the source's creation
// time is asked about with createTime 0 (unknown), not its event time.
func TestLiveConfirmerNoCreateTime(t *testing.T) {
	hook := &fakeConfirmer{running: false, known: true}
	cfg := detect.DefaultConfig()
	cfg.ConfirmRunning = hook.confirm
	e, rec := newEngine(t, cfg, etw.SourceETW)
	bootChain(e, etw.SourceETW, true)
	c := proc(etw.SourceETW, 1000, 3444, 404, smssImg, smssImg, `\SystemRoot\System32\smss.exe 000000d4 00000084`)
	e.Handle(&c)
	e.Advance(at(1031))
	if want := (confirmCall{3444, 0}); len(hook.calls) != 1 || hook.calls[0] != want {
		t.Fatalf("confirmer calls %v, want one %v", hook.calls, want)
	}
	if got := rec.count(detect.RulePersistentChild); got != 0 {
		t.Fatalf("persistent_child fired %d times for an exited child", got)
	}
}

// TestLiveConfirmerLateExitRecord: the confirmer found the child gone,
// then its exit record arrives (it exited after its deadline, before the
// check): the record proves it outlived its window, and the exit was not
// lost after all.
func TestLiveConfirmerLateExitRecord(t *testing.T) {
	hook := &fakeConfirmer{running: false, known: true}
	cfg := detect.DefaultConfig()
	cfg.ConfirmRunning = hook.confirm
	e, rec := newEngine(t, cfg, etw.SourceETW)
	bootChain(e, etw.SourceETW, true)
	evs := liveChild()
	for i := range evs {
		e.Handle(&evs[i])
	}
	e.Advance(at(1030))
	if got := e.Stats().Unevaluated[detect.RulePersistentChild][detect.GapExitLost]; got != 1 {
		t.Fatalf("GapExitLost counted %d at the deadline, want 1", got)
	}
	x := exitOf(etw.SourceETW, 1030.5, 3444)
	e.Handle(&x)
	if got := rec.count(detect.RulePersistentChild); got != 1 {
		t.Fatalf("persistent_child fired %d times, want 1 (at the late exit)", got)
	}
	if rec.got[len(rec.got)-1].Time != at(1030.5) {
		t.Fatalf("fired at %v, want the exit", rec.got[len(rec.got)-1].Time)
	}
	if got := e.Stats().Unevaluated[detect.RulePersistentChild][detect.GapExitLost]; got != 0 {
		t.Fatalf("GapExitLost still %d after the exit record came", got)
	}
}

// TestConfirmerNotAskedForRecordedData: recorded sources prove exit
// delivery from their own records (evidence rule 2); the host's present
// processes say nothing about them.
func TestConfirmerNotAskedForRecordedData(t *testing.T) {
	hook := &fakeConfirmer{running: false, known: true}
	cfg := detect.DefaultConfig()
	cfg.ConfirmRunning = hook.confirm
	e, rec := newEngine(t, cfg, etw.SourceSysmon)
	evs := []etw.Event{
		proc(etw.SourceSysmon, 2, 404, 4, smssImg, "System", `\SystemRoot\System32\smss.exe`),
		sysExitAt(10),
		proc(etw.SourceSysmon, 17, 500, 404, smssImg, smssImg, `\SystemRoot\System32\smss.exe 000000c8 00000084`),
		proc(etw.SourceSysmon, 17.1, 508, 500, sys32+"csrss.exe", smssImg, ""),
		sysExitAt(100),
	}
	for i := range evs {
		e.Handle(&evs[i])
	}
	e.Advance(at(200))
	e.Flush()
	if len(hook.calls) != 0 {
		t.Fatalf("confirmer asked about recorded data: %v", hook.calls)
	}
	if got := rec.count(detect.RulePersistentChild); got != 1 {
		t.Fatalf("persistent_child fired %d times, want 1", got)
	}
}

// sysExitAt is a Sysmon exit record of a System32 program.
func sysExitAt(sec float64) etw.Event {
	x := exitOf(etw.SourceSysmon, sec, 9999)
	x.Known |= etw.FieldImage
	x.Proc.Image = sys32 + "svchost.exe"
	return x
}

// TestAllocsConfirmedExit: a live child whose exit the confirmer finds
// lost costs no allocation, the question included.
func TestAllocsConfirmedExit(t *testing.T) {
	cfg := detect.DefaultConfig()
	cfg.ConfirmRunning = func(uint32, int64) (bool, bool) { return false, true }
	e, rec := newEngine(t, cfg, etw.SourceETW)
	bootChain(e, etw.SourceETW, true)
	c := proc(etw.SourceETW, 0, 3444, 404, smssImg, smssImg, `\SystemRoot\System32\smss.exe 000000d4 00000084`)
	c.Known |= etw.FieldCreateTime
	sec := 100.0
	life := func() {
		sec += 40 // past the previous child's deadline; PID reuse of it
		c.Time = at(sec)
		c.Proc.CreateTime = c.Time
		e.Handle(&c)
		e.Advance(at(sec + 31))
	}
	life() // warm the tables
	if n := testing.AllocsPerRun(1000, life); n != 0 {
		t.Fatalf("%v allocations per child and deadline, want 0", n)
	}
	if len(rec.got) != 0 {
		t.Fatalf("an exited child raised %v", rec.got[0].Message)
	}
	if got := e.Stats().Unevaluated[detect.RulePersistentChild][detect.GapExitLost]; got < 1000 {
		t.Fatalf("GapExitLost counted %d, want one per child", got)
	}
}
