package detect_test

import (
	"testing"

	"github.com/smsswatch/smsswatch/detect"
	"github.com/smsswatch/smsswatch/etw"
)

// lifecycle is one session child's life as the live sensor sees it: the
// child starts, starts csrss.exe and winlogon.exe, and exits.
type lifecycle struct {
	evs [4]etw.Event
	sec float64
}

func newLifecycle() *lifecycle {
	l := &lifecycle{sec: 100}
	l.evs[0] = proc(etw.SourceETW, 0, 3444, 404, smssImg, smssImg, `\SystemRoot\System32\smss.exe 000000d4 00000084 `)
	l.evs[0].Known |= etw.FieldUserSID | etw.FieldCreatorPID | etw.FieldCreatorSID | etw.FieldSession
	l.evs[0].Proc.UserSID, l.evs[0].Proc.CreatorSID, l.evs[0].Proc.CreatorPID, l.evs[0].Proc.Session = "S-1-5-18", "S-1-5-18", 404, 2
	l.evs[1] = proc(etw.SourceETW, 0, 3448, 3444, sys32+"csrss.exe", smssImg, "csrss.exe")
	l.evs[2] = proc(etw.SourceETW, 0, 3504, 3444, sys32+"winlogon.exe", smssImg, "winlogon.exe")
	for i := 1; i < 3; i++ {
		l.evs[i].Known |= etw.FieldSession
		l.evs[i].Proc.Session = 2
	}
	l.evs[3] = exitOf(etw.SourceETW, 0, 3444)
	return l
}

// run feeds one life; the same PIDs come back each time (PID reuse), so
// the engine's tables stay the same size.
func (l *lifecycle) run(e *detect.Engine) {
	l.sec += 10
	for i := range l.evs {
		l.evs[i].Time = at(l.sec + float64(i)*0.01)
		if l.evs[i].Kind == etw.KindStart {
			l.evs[i].Proc.CreateTime = l.evs[i].Time
			l.evs[i].Known |= etw.FieldCreateTime
		}
		e.Handle(&l.evs[i])
	}
}

// TestAllocsHotPath is the allocation gate: benign events and the smss
// lifecycle must not allocate.
func TestAllocsHotPath(t *testing.T) {
	e, rec := newEngine(t, detect.DefaultConfig(), etw.SourceETW)
	bootChain(e, etw.SourceETW, true)

	benign := proc(etw.SourceETW, 50, 7000, 3120, `C:\Program Files\App\app.exe`, `C:\Windows\explorer.exe`, "app.exe --flag")
	localised := proc(etw.SourceETW, 50, 7004, 3120, `C:\Program Files\WeChat\微信客户端.exe`, `C:\Windows\explorer.exe`, "")
	trailing := proc(etw.SourceETW, 50, 7008, 3120, `C:\Tools\mise-à-jour.exe. `, `C:\Windows\explorer.exe`, "")
	exit := exitOf(etw.SourceETW, 50, 7000)
	sec := 50.0
	cases := []struct {
		name string
		fn   func()
	}{
		{"benign start", func() { sec += 0.001; benign.Time = at(sec); e.Handle(&benign) }},
		{"untracked exit", func() { sec += 0.001; exit.Time = at(sec); e.Handle(&exit) }},
		{"benign start, non-ASCII name", func() { sec += 0.001; localised.Time = at(sec); e.Handle(&localised) }},
		{"benign start, name ending in a dot", func() { sec += 0.001; trailing.Time = at(sec); e.Handle(&trailing) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(1000, tc.fn); n != 0 {
				t.Fatalf("%s: %v allocations per event, want 0", tc.name, n)
			}
		})
	}
	t.Run("smss lifecycle", func(t *testing.T) {
		e2, rec2 := newEngine(t, detect.DefaultConfig(), etw.SourceETW)
		bootChain(e2, etw.SourceETW, true)
		l := newLifecycle()
		l.run(e2) // warm the tables
		if n := testing.AllocsPerRun(1000, func() { l.run(e2) }); n != 0 {
			t.Fatalf("%v allocations per lifecycle (4 events), want 0", n)
		}
		if len(rec2.got) != 0 {
			t.Fatalf("the lifecycle raised %v", rec2.got[0].Message)
		}
		// Every run was a new child (PID reuse of the last one), not a
		// duplicate the engine skipped.
		if s := e2.Stats(); s.Instances[detect.RoleChild] < 1000 || s.Duplicates != 0 {
			t.Fatalf("lifecycles not tracked as new children: %+v", s.Instances)
		}
	})
	if len(rec.got) != 0 {
		t.Fatalf("benign events raised %v", rec.got[0].Message)
	}
}
