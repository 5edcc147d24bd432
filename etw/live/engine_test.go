package live_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smsswatch/smsswatch/detect"
	"github.com/smsswatch/smsswatch/etw"
	"github.com/smsswatch/smsswatch/etw/live"
)

// These tests drive the live sensor's consumer (snapshot, reorder, parent
// images, enrichment) into the real detector, as `smsswatch run` does.

const (
	boot   = int64(1_700_000_000_000_000_000)
	second = int64(time.Second)
	vol    = `\Device\HarddiskVolume3`
	sys32  = vol + `\Windows\System32\`
)

// childEnricher answers like the Windows enricher for the smss
// instances of the scenario.
type childEnricher struct{}

func (childEnricher) Enrich(ev *etw.Event) {
	p := &ev.Proc
	switch p.PID {
	case 268:
		p.CommandLine = `\SystemRoot\System32\smss.exe`
	case 900:
		p.CommandLine = `\SystemRoot\System32\smss.exe 000000c8 00000084 `
	case 4242:
		p.CommandLine = `C:\Users\Public\smss.exe`
		p.UserSID = "S-1-5-21-1-2-3-1001"
		ev.Known |= etw.FieldUserSID | etw.FieldCommandLine
		return
	default:
		return
	}
	p.UserSID = "S-1-5-18"
	ev.Known |= etw.FieldUserSID | etw.FieldCommandLine
}

// advanceWatch records how far the engine's clock was advanced (read by
// the test goroutine while the consumer runs the engine).
type advanceWatch struct {
	*detect.Engine
	at atomic.Int64
}

func (a *advanceWatch) Advance(now int64) {
	a.Engine.Advance(now)
	a.at.Store(now)
}

type collect struct {
	mu sync.Mutex
	v  []detect.Violation
}

func (c *collect) Violation(v *detect.Violation) {
	c.mu.Lock()
	c.v = append(c.v, *v)
	c.mu.Unlock()
}

func (c *collect) rules() map[detect.Rule]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := map[detect.Rule]int{}
	for _, v := range c.v {
		m[v.Rule]++
	}
	return m
}

func start(at int64, pid, ppid, creator uint32, session uint32, image string) etw.Event {
	return etw.Event{Time: at, Kind: etw.KindStart, Source: etw.SourceETW, Host: "WS1",
		Known: etw.FieldPID | etw.FieldParentPID | etw.FieldCreatorPID | etw.FieldCreatorSID | etw.FieldSession |
			etw.FieldImage | etw.FieldCreateTime,
		Proc: etw.Process{PID: pid, ParentPID: ppid, CreatorPID: creator, CreatorSID: "S-1-5-18", Session: session,
			Image: image, CreateTime: at}}
}

func exit(at, created int64, pid uint32) etw.Event {
	return etw.Event{Time: at, Kind: etw.KindExit, Source: etw.SourceETW, Host: "WS1",
		Known: etw.FieldPID | etw.FieldCreateTime | etw.FieldExitTime | etw.FieldExitCode,
		Proc:  etw.Process{PID: pid, CreateTime: created, ExitTime: at}}
}

// scenario runs a booted machine's snapshot and then live events through
// the consumer into an engine and returns the violations.
func scenario(t *testing.T, events func(now int64) []etw.Event, blind string) *collect {
	t.Helper()
	det, err := detect.New(detect.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	det.MapDevice(vol, "C:")
	sink := &collect{}
	eng := det.Engine("WS1", etw.SourceETW, sink)
	var clock atomic.Int64
	now := boot + 3600*second
	clock.Store(now)
	core, err := live.NewTestCore(live.Config{Host: "WS1", AdvanceEvery: time.Millisecond}, childEnricher{}, clock.Load)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	h := &advanceWatch{Engine: eng}
	go func() { core.Run(ctx, h); close(done) }()
	core.Snapshot(&live.Snapshot{Time: now, BootTime: boot, SystemRoot: `C:\Windows`, Processes: []live.SnapshotProcess{
		{PID: 4, CreateTime: boot, Image: "System", UserSID: "S-1-5-18"},
		{PID: 268, ParentPID: 4, CreateTime: boot + 2*second, Image: `C:\Windows\System32\smss.exe`, UserSID: "S-1-5-18"},
		// Session 0 and 1 processes whose smss children have exited.
		{PID: 400, ParentPID: 390, CreateTime: boot + 5*second, Image: `C:\Windows\System32\csrss.exe`, UserSID: "S-1-5-18"},
		{PID: 420, ParentPID: 390, CreateTime: boot + 5*second, Image: `C:\Windows\System32\wininit.exe`, UserSID: "S-1-5-18"},
		{PID: 480, ParentPID: 470, Session: 1, CreateTime: boot + 6*second, Image: `C:\Windows\System32\csrss.exe`, UserSID: "S-1-5-18"},
		{PID: 500, ParentPID: 470, Session: 1, CreateTime: boot + 6*second, Image: `C:\Windows\System32\winlogon.exe`, UserSID: "S-1-5-18"},
		{PID: 1000, ParentPID: 900, Session: 1, CreateTime: boot + 60*second, Image: `C:\Windows\explorer.exe`, UserSID: "S-1-5-21-1-2-3-1001"},
	}}, now-second)
	evs := events(now)
	for i := range evs {
		core.Push(&evs[i])
	}
	if blind != "" {
		core.Blind(blind)
	}
	// Let the wall clock run past every deadline (child window 30 s).
	for i := 0; i < 40; i++ {
		clock.Add(2 * second)
		time.Sleep(2 * time.Millisecond)
	}
	// Wait until the engine's clock has followed (wall clock - 1 s lag).
	deadline := time.Now().Add(10 * time.Second)
	for h.at.Load() < clock.Load()-second && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if h.at.Load() < clock.Load()-second {
		t.Fatalf("engine clock stuck at %d", h.at.Load())
	}
	cancel()
	<-done
	eng.Flush()
	return sink
}

// rdpLogon is a new session: the master starts a child, which starts
// csrss and winlogon and exits within half a second. Events arrive out
// of order (per-CPU buffers).
func rdpLogon(now int64) []etw.Event {
	t := now + 10*second
	child := start(t, 900, 268, 268, 2, sys32+"smss.exe")
	csrss := start(t+100_000_000, 910, 900, 900, 2, sys32+"csrss.exe")
	winlogon := start(t+150_000_000, 920, 900, 900, 2, sys32+"winlogon.exe")
	end := exit(t+400_000_000, t, 900)
	return []etw.Event{child, winlogon, csrss, end}
}

func TestLiveEngineNormalBootAndRDPLogon(t *testing.T) {
	sink := scenario(t, rdpLogon, "")
	if n := len(sink.v); n != 0 {
		for _, v := range sink.v {
			t.Errorf("violation %s: %s", v.Rule.ID(), v.Message)
		}
	}
}

func TestLiveEngineRogueSmss(t *testing.T) {
	sink := scenario(t, func(now int64) []etw.Event {
		rogue := start(now+5*second, 4242, 1000, 1000, 1, vol+`\Users\Public\smss.exe`)
		rogue.Proc.CreatorSID = "S-1-5-21-1-2-3-1001"
		return append(rdpLogon(now), rogue)
	}, "")
	got := sink.rules()
	for _, r := range []detect.Rule{detect.RuleImagePath, detect.RuleParent, detect.RuleUser} {
		if got[r] == 0 {
			t.Errorf("no %s in %v", r.ID(), got)
		}
	}
}

func TestLiveEngineSessionStopped(t *testing.T) {
	sink := scenario(t, rdpLogon, "ETW session smsswatch stopped from outside")
	got := sink.rules()
	if got[detect.RuleSensorBlind] != 1 || len(sink.v) != 1 {
		t.Errorf("violations %v", got)
	}
}

func TestLiveEnginePersistentChild(t *testing.T) {
	sink := scenario(t, func(now int64) []etw.Event {
		evs := rdpLogon(now)
		return evs[:3] // the child never exits
	}, "")
	if got := sink.rules(); got[detect.RulePersistentChild] != 1 {
		t.Errorf("violations %v", got)
	}
}
