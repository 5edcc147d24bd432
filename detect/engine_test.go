package detect_test

import (
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smsswatch/smsswatch/detect"
	"github.com/smsswatch/smsswatch/etw"
)

func TestPersistentChildNeedsProofOfExits(t *testing.T) {
	// Two children start at 17 s and never exit; their deadline is 47.4 s
	// at the latest. Evidence rule 2: the source must deliver a System32
	// program's exit in the boot before each start and another after its
	// deadline.
	sys := sys32 + "svchost.exe"
	user := `C:\Users\alice\AppData\Local\app.exe`
	cases := []struct {
		name      string
		exits     []float64 // times of unrelated exit records
		image     string
		wantFired int
		wantGap   detect.Gap
	}{
		{"no exit records: absence proves nothing", nil, sys, 0, detect.GapExitsBefore},
		{"exits before the start and after the deadline prove delivery", []float64{10, 100}, sys, 2, detect.GapNone},
		{"an exit before the start alone proves nothing after the deadline", []float64{10}, sys, 0, detect.GapExitsAfter},
		{"exits delivered only after the children started prove nothing", []float64{20, 100}, sys, 0, detect.GapExitsBefore},
		{"exits delivered only after the deadline prove nothing", []float64{100}, sys, 0, detect.GapExitsBefore},
		{"exits of programs outside System32 prove nothing", []float64{10, 100}, user, 0, detect.GapExitsBefore},
		{"exits of the previous boot's shutdown prove nothing", []float64{1, 100}, sys, 0, detect.GapExitsBefore},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, rec := newEngine(t, detect.DefaultConfig(), etw.SourceSysmon)
			evs := []etw.Event{
				proc(etw.SourceSysmon, 2, 404, 4, smssImg, "System", `\SystemRoot\System32\smss.exe`),
				proc(etw.SourceSysmon, 17, 500, 404, smssImg, smssImg, `\SystemRoot\System32\smss.exe 000000c8 00000084`),
				proc(etw.SourceSysmon, 17.1, 508, 500, sys32+"csrss.exe", smssImg, ""),
				proc(etw.SourceSysmon, 17.4, 584, 404, smssImg, smssImg, `\SystemRoot\System32\smss.exe 000000d0 00000084`),
				proc(etw.SourceSysmon, 17.6, 676, 584, sys32+"winlogon.exe", smssImg, ""),
			}
			for _, sec := range tc.exits {
				x := exitOf(etw.SourceSysmon, sec, 9999)
				x.Known |= etw.FieldImage
				x.Proc.Image = tc.image
				evs = append(evs, x)
			}
			sort.SliceStable(evs, func(i, j int) bool { return evs[i].Time < evs[j].Time })
			for i := range evs {
				e.Handle(&evs[i])
			}
			e.Advance(at(200))
			e.Flush()
			if got := rec.count(detect.RulePersistentChild); got != tc.wantFired {
				t.Fatalf("persistent_child fired %d times, want %d", got, tc.wantFired)
			}
			if tc.wantFired == 0 && e.Stats().Unevaluated[detect.RulePersistentChild][tc.wantGap] != 2 {
				t.Fatalf("the summary does not say why the check could not be made (%v): %v", tc.wantGap, e.Stats().Unevaluated[detect.RulePersistentChild])
			}
		})
	}
}

func TestChildExitingLateFiresAtItsExit(t *testing.T) {
	e, rec := newEngine(t, detect.DefaultConfig(), etw.SourceSysmon)
	bootChain(e, etw.SourceSysmon, true)
	c := proc(etw.SourceSysmon, 1000, 3444, 404, smssImg, smssImg, `\SystemRoot\System32\smss.exe 000000d4 00000084`)
	e.Handle(&c)
	x := exitOf(etw.SourceSysmon, 1045, 3444) // 45 s > 30 s, no event in between
	e.Handle(&x)
	if got := rec.count(detect.RulePersistentChild); got != 1 {
		t.Fatalf("persistent_child fired %d times, want 1", got)
	}
	v := rec.got[0]
	if v.Evidence.Started != at(1000) || v.Evidence.Deadline != at(1030) {
		t.Fatalf("evidence started %v deadline %v", v.Evidence.Started, v.Evidence.Deadline)
	}
}

func TestLiveChildFiresAtDeadlineOnAdvance(t *testing.T) {
	e, rec := newEngine(t, detect.DefaultConfig(), etw.SourceETW)
	bootChain(e, etw.SourceETW, true)
	c := proc(etw.SourceETW, 1000, 3444, 404, smssImg, smssImg, `\SystemRoot\System32\smss.exe 000000d4 00000084`)
	e.Handle(&c)
	e.Advance(at(1029.999))
	if n := rec.count(detect.RulePersistentChild); n != 0 {
		t.Fatalf("fired before the deadline")
	}
	e.Advance(at(1030))
	if n := rec.count(detect.RulePersistentChild); n != 1 {
		t.Fatalf("fired %d times at the deadline, want 1", n)
	}
	if rec.got[0].Time != at(1030) {
		t.Fatalf("fired at %v, want the deadline", rec.got[0].Time)
	}
}

// TestDeterministicAtAnySpeed: the same events give the same violations
// whatever the granularity of Advance (replay speed, ticks).
func TestDeterministicAtAnySpeed(t *testing.T) {
	run := func(step float64) []detect.Violation {
		e, rec := newEngine(t, detect.DefaultConfig(), etw.SourceETW)
		bootChain(e, etw.SourceETW, true)
		evs := []etw.Event{
			proc(etw.SourceETW, 500, 3444, 404, smssImg, smssImg, `\SystemRoot\System32\smss.exe 000000d4 00000084`),
			proc(etw.SourceETW, 600, 5000, 4424, `C:\Users\Public\smss.exe`, `C:\Windows\System32\cmd.exe`, "smss.exe"),
			proc(etw.SourceETW, 700, 5100, 404, sys32+"cmd.exe", smssImg, "cmd"),
		}
		now := 18.0
		for i := range evs {
			for ; now < float64(evs[i].Time-t0)/1e9; now += step {
				e.Advance(at(now))
			}
			e.Handle(&evs[i])
		}
		e.Advance(at(1000))
		e.Flush()
		return rec.got
	}
	a, b := run(0.25), run(97)
	if len(a) == 0 || !reflect.DeepEqual(a, b) {
		t.Fatalf("violations differ with the tick:\n%v\n%v", a, b)
	}
}

func TestFloodIsBoundedAndAggregated(t *testing.T) {
	cfg := detect.DefaultConfig()
	cfg.MaxInstances = 64
	cfg.AggregateAfter = 5
	cfg.AggregateWindow = time.Minute
	e, rec := newEngine(t, cfg, etw.SourceETW)
	bootChain(e, etw.SourceETW, true)
	const n = 10000
	for i := 0; i < n; i++ {
		ev := proc(etw.SourceETW, 100+float64(i)*0.001, uint32(10000+4*i), 4424, `C:\Users\Public\smss.exe`, `C:\Windows\System32\cmd.exe`, "")
		e.Handle(&ev)
	}
	e.Flush()
	if got := rec.count(detect.RuleImagePath); got != n {
		t.Fatalf("image_path covers %d occurrences, want %d (nothing dropped)", got, n)
	}
	individual := 0
	for _, v := range rec.got {
		if v.Rule == detect.RuleImagePath && v.Count == 1 {
			individual++
		}
	}
	if individual != 5 {
		t.Fatalf("%d individual alerts, want 5 before aggregation", individual)
	}
	s := e.Stats()
	if s.Evicted == 0 {
		t.Fatal("no eviction counted although the table is capped at 64")
	}
	if s.Instances[detect.RoleRogue] != n {
		t.Fatalf("tracked %d rogues, want %d", s.Instances[detect.RoleRogue], n)
	}
}

func TestBlindRaisesSensorBlind(t *testing.T) {
	e, rec := newEngine(t, detect.DefaultConfig(), etw.SourceETW)
	e.Blind(at(10), "ETW session smsswatch stopped")
	if rec.count(detect.RuleSensorBlind) != 1 {
		t.Fatalf("got %v", rec.got)
	}
	v := rec.got[0]
	if v.Severity != detect.SeverityHigh || v.Evidence.Observed != "ETW session smsswatch stopped" || v.Techniques()[0] != "T1562.006" {
		t.Fatalf("bad violation %+v", v)
	}
}

func TestDisabledRulesAndSeverityOverrides(t *testing.T) {
	cfg := detect.DefaultConfig()
	cfg.Disabled = []detect.Rule{detect.RuleParent}
	cfg.Severity = map[detect.Rule]detect.Severity{detect.RuleImagePath: detect.SeverityCritical}
	e, rec := newEngine(t, cfg, etw.SourceETW)
	bootChain(e, etw.SourceETW, true)
	ev := proc(etw.SourceETW, 100, 7000, 4424, `C:\Users\Public\smss.exe`, `C:\Windows\System32\cmd.exe`, "")
	e.Handle(&ev)
	if rec.count(detect.RuleParent) != 0 {
		t.Fatal("a disabled rule fired")
	}
	if e.Stats().Disabled[detect.RuleParent] != 1 {
		t.Fatal("the disabled alert was not counted")
	}
	if len(rec.got) != 1 || rec.got[0].Severity != detect.SeverityCritical {
		t.Fatalf("got %+v", rec.got)
	}
}

// TestDedupeKeyIsSourceIndependent: Sysmon and Security see the same
// process; its violation has one key, so it is reported once.
func TestDedupeKeyIsSourceIndependent(t *testing.T) {
	keys := map[etw.Source]uint64{}
	for _, src := range []etw.Source{etw.SourceSysmon, etw.SourceSecurity} {
		e, rec := newEngine(t, detect.DefaultConfig(), src)
		bootChain(e, src, true)
		ev := proc(src, 100.250, 7000, 4424, `C:\Users\Public\smss.exe`, `C:\Windows\System32\cmd.exe`, "")
		if src == etw.SourceSecurity {
			ev.Time = at(100) // one-second resolution
		}
		e.Handle(&ev)
		if rec.count(detect.RuleImagePath) != 1 {
			t.Fatalf("%v: got %v", src, rec.got)
		}
		for _, v := range rec.got {
			if v.Rule == detect.RuleImagePath {
				keys[src] = v.DedupeKey
			}
		}
	}
	if keys[etw.SourceSysmon] != keys[etw.SourceSecurity] || keys[etw.SourceSysmon] == 0 {
		t.Fatalf("keys differ: %x", keys)
	}
}

func TestPIDReuseIsNotASecondInstance(t *testing.T) {
	e, rec := newEngine(t, detect.DefaultConfig(), etw.SourceSysmon)
	bootChain(e, etw.SourceSysmon, false) // exits never seen
	// PID 500 (an exited child, exit not recorded) is reused by svchost,
	// which starts a process: that is not an smss child's start.
	evs := []etw.Event{
		proc(etw.SourceSysmon, 60, 500, 644, sys32+"svchost.exe", sys32+"services.exe", "svchost.exe -k netsvcs"),
		proc(etw.SourceSysmon, 61, 904, 500, sys32+"WmiPrvSE.exe", sys32+"svchost.exe", ""),
	}
	for i := range evs {
		e.Handle(&evs[i])
	}
	e.Flush()
	if len(rec.got) != 0 {
		t.Fatalf("violations on PID reuse: %+v", rec.got)
	}
	if e.Stats().PIDReused != 1 {
		t.Fatalf("PID reuse not counted: %+v", e.Stats())
	}
}

func TestMasterKnownOnlyFromChildParent(t *testing.T) {
	// A log that begins after boot: an RDP child names the master by PID
	// and image; a second child later must not be taken for a rogue.
	e, rec := newEngine(t, detect.DefaultConfig(), etw.SourceSysmon)
	for i, pid := range []uint32{3444, 3064} {
		c := proc(etw.SourceSysmon, float64(100*(i+1)), pid, 292, smssImg, smssImg, `\SystemRoot\System32\smss.exe 000000d4 00000084`)
		e.Handle(&c)
		g := proc(etw.SourceSysmon, float64(100*(i+1))+0.05, pid+4, pid, sys32+"winlogon.exe", smssImg, "")
		e.Handle(&g)
		x := exitOf(etw.SourceSysmon, float64(100*(i+1))+0.1, pid)
		e.Handle(&x)
	}
	// A real rogue: its parent is an smss.exe outside System32, not the
	// inferred master.
	r := proc(etw.SourceSysmon, 400, 5000, 6000, smssImg, `C:\Users\Public\smss.exe`, `\SystemRoot\System32\smss.exe 000000d4 00000084`)
	e.Handle(&r)
	if rec.count(detect.RuleParent) != 1 || len(rec.got) != 1 {
		t.Fatalf("got %+v", rec.got)
	}
}

// TestRegistryEvasionsEachFire: every line of rule_registry_evasions.jsonl
// is an evasion of the servicing and writer exemptions, and each fires.
func TestRegistryEvasionsEachFire(t *testing.T) {
	got := runTrace(t, "testdata/traces/rule_registry_evasions.jsonl", detect.DefaultConfig())
	lines := 0
	data, err := os.ReadFile("testdata/traces/rule_registry_evasions.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "{") {
			lines++
		}
	}
	if len(got.violations) != lines {
		for _, v := range got.violations {
			t.Log(v.Message)
		}
		t.Fatalf("%d alerts for %d evasions", len(got.violations), lines)
	}
}

// TestBaselineBootExecuteAllowsItsPrograms: a third-party BootExecute
// program in the running baseline may be started by the master.
func TestBaselineBootExecuteAllowsItsPrograms(t *testing.T) {
	e, rec := newEngine(t, detect.DefaultConfig(), etw.SourceETW)
	base := etw.Event{Time: at(1), Kind: etw.KindRegistry, Source: etw.SourceETW, Host: "HOST1"}
	base.Reg = etw.Registry{Op: etw.RegOpBaseline, Key: `HKLM\System\CurrentControlSet\Control\Session Manager`, Value: "BootExecute", Data: "autocheck autochk * sdelete64 -z"}
	e.Handle(&base)
	n := len(rec.got) // the baseline differs from the default: smss.registry
	m := proc(etw.SourceETW, 2, 404, 4, smssImg, "System", `\SystemRoot\System32\smss.exe`)
	e.Handle(&m)
	s := proc(etw.SourceETW, 5, 440, 404, sys32+"sdelete64.exe", smssImg, "sdelete64 -z")
	e.Handle(&s)
	if rec.count(detect.RuleUnexpectedChild) != 0 || n != 1 || rec.got[0].Rule != detect.RuleRegistry {
		t.Fatalf("got %+v", rec.got)
	}
}

// TestAggregationNeverHidesANewPayload (evidence rule 9): decoys of one
// path are folded, but an impostor with another path and command line is
// reported on its own; a flood of distinct paths is bounded and its
// overflow alert names every kind it folded, with counts.
func TestAggregationNeverHidesANewPayload(t *testing.T) {
	t.Run("decoys, the real one, more decoys", func(t *testing.T) {
		e, rec := newEngine(t, detect.DefaultConfig(), etw.SourceSysmon)
		bootChain(e, etw.SourceSysmon, true)
		sec := 100.0
		decoy := func(k int) {
			for i := 0; i < k; i++ {
				sec += 0.5
				ev := proc(etw.SourceSysmon, sec, uint32(20000+4*i+int(sec)*8), 4424, `C:\Users\Public\smss.exe`, sys32+"cmd.exe", "smss.exe")
				e.Handle(&ev)
			}
		}
		decoy(30)
		sec += 0.5
		real := proc(etw.SourceSysmon, sec, 31337, 4424, `C:\ProgramData\evil\smss.exe`, sys32+"cmd.exe", `smss.exe -payload`)
		e.Handle(&real)
		decoy(10)
		e.Flush()
		found := false
		for _, v := range rec.got {
			if v.Process.Image == real.Proc.Image && v.Process.CommandLine == real.Proc.CommandLine && v.Count == 1 {
				found = true
			}
		}
		if !found {
			t.Fatalf("the impostor's path and command line are in none of the %d alerts", len(rec.got))
		}
		if got := rec.count(detect.RuleImagePath); got != 41 {
			t.Fatalf("image_path covers %d occurrences, want 41", got)
		}
	})
	t.Run("a flood of distinct paths", func(t *testing.T) {
		cfg := detect.DefaultConfig()
		cfg.AggregateAfter = 2
		e, rec := newEngine(t, cfg, etw.SourceSysmon)
		bootChain(e, etw.SourceSysmon, true)
		const n = 400
		for i := 0; i < n; i++ {
			img := `C:\Users\Public\` + strconv.Itoa(i%40) + `\smss.exe`
			ev := proc(etw.SourceSysmon, 100+float64(i)*0.01, uint32(20000+4*i), 4424, img, sys32+"cmd.exe", "")
			e.Handle(&ev)
		}
		e.Flush()
		if got := rec.count(detect.RuleImagePath); got != n {
			t.Fatalf("image_path covers %d occurrences, want %d", got, n)
		}
		alerts := 0
		for _, v := range rec.got {
			if v.Rule == detect.RuleImagePath {
				alerts++
			}
		}
		// 8 fingerprints: 2 alerts each and an aggregate; one overflow.
		if alerts > 2*8+8+1 {
			t.Fatalf("%d image_path alerts for a flood: not bounded", alerts)
		}
		overflow := 0
		for _, v := range rec.got {
			if v.Rule != detect.RuleImagePath || len(v.Evidence.Folded) == 0 {
				continue
			}
			overflow++
			sum := v.Evidence.MoreFolded
			seen := map[string]bool{}
			for _, f := range v.Evidence.Folded {
				sum += f.Count
				seen[f.Image] = true
			}
			if len(seen) != 16 || sum != v.Count {
				t.Fatalf("overflow lists %d distinct kinds accounting for %d of %d alerts", len(seen), sum, v.Count)
			}
		}
		if overflow != 1 {
			t.Fatalf("%d overflow aggregates, want 1", overflow)
		}
	})
}
