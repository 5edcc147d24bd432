package bench

import (
	"testing"
	"time"

	"github.com/smsswatch/smsswatch/detect"
	"github.com/smsswatch/smsswatch/etw"
)

var base = time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC).UnixNano()

const (
	sys32 = `\Device\HarddiskVolume3\Windows\System32\`
	smss  = sys32 + `smss.exe`
)

func start(t int64, pid, ppid uint32, image, parentImage, cmd string) etw.Event {
	ev := etw.Event{Time: t, Kind: etw.KindStart, Source: etw.SourceETW, Host: "BENCH01",
		Known: etw.FieldPID | etw.FieldParentPID | etw.FieldCreatorPID | etw.FieldImage | etw.FieldParentImage |
			etw.FieldCommandLine | etw.FieldUserSID | etw.FieldCreatorSID | etw.FieldSession | etw.FieldCreateTime}
	p := &ev.Proc
	p.PID, p.ParentPID, p.CreatorPID, p.Image, p.ParentImage, p.CommandLine = pid, ppid, ppid, image, parentImage, cmd
	p.UserSID, p.CreatorSID, p.CreateTime = "S-1-5-18", "S-1-5-18", t
	return ev
}

// bootedEngine returns a live-ETW engine that has seen a normal boot.
func bootedEngine(b *testing.B, cfg detect.Config, sink detect.Sink) *detect.Engine {
	d, err := detect.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	d.MapDevice(`\Device\HarddiskVolume3`, "C:")
	e := d.Engine("BENCH01", etw.SourceETW, sink)
	boot := etw.Event{Time: base, Kind: etw.KindBoot, Source: etw.SourceETW, Host: "BENCH01", Known: etw.FieldBootTime}
	boot.Boot.BootTime = base
	e.Handle(&boot)
	evs := []etw.Event{
		start(base+2e9, 404, 4, smss, "System", `\SystemRoot\System32\smss.exe`),
		start(base+17e9, 500, 404, smss, smss, `\SystemRoot\System32\smss.exe 000000c8 00000084`),
		start(base+17.1e9, 508, 500, sys32+"csrss.exe", smss, "csrss.exe"),
		start(base+17.2e9, 576, 500, sys32+"wininit.exe", smss, "wininit.exe"),
	}
	for i := range evs {
		e.Handle(&evs[i])
	}
	exit := etw.Event{Time: base + 17.3e9, Kind: etw.KindExit, Source: etw.SourceETW, Host: "BENCH01", Known: etw.FieldPID}
	exit.Proc.PID = 500
	e.Handle(&exit)
	return e
}

type discard struct{ n int }

func (d *discard) Violation(*detect.Violation) { d.n++ }

func report(b *testing.B, eventsPerOp int) {
	b.ReportMetric(float64(b.N)*float64(eventsPerOp)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkEngineBenignStart: a process start that has nothing to do with
// smss.exe (target: <= 20 ns best of 5, 0 allocs).
func BenchmarkEngineBenignStart(b *testing.B) {
	e := bootedEngine(b, detect.DefaultConfig(), &discard{})
	ev := start(base+60e9, 7000, 3120, `C:\Program Files\Contoso\agent.exe`, `C:\Windows\explorer.exe`, "agent.exe --run")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ev.Time += 1000
		ev.Proc.PID = uint32(8000 + (i&1023)*4)
		e.Handle(&ev)
	}
	report(b, 1)
}

// BenchmarkEngineUntrackedExit: the exit of a process the engine does not
// track (target: <= 25 ns, 0 allocs).
func BenchmarkEngineUntrackedExit(b *testing.B) {
	e := bootedEngine(b, detect.DefaultConfig(), &discard{})
	ev := etw.Event{Time: base + 60e9, Kind: etw.KindExit, Source: etw.SourceETW, Host: "BENCH01", Known: etw.FieldPID}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ev.Time += 1000
		ev.Proc.PID = uint32(8000 + (i&1023)*4)
		e.Handle(&ev)
	}
	report(b, 1)
}

// BenchmarkEngineSmssLifecycle: one RDP session child's life, four events
// (child start, csrss, winlogon, child exit); ns/op is one lifecycle
// (target: <= 200 ns best of 5, 0 allocs), ns/event a quarter of it.
func BenchmarkEngineSmssLifecycle(b *testing.B) {
	sink := &discard{}
	e := bootedEngine(b, detect.DefaultConfig(), sink)
	evs := [4]etw.Event{
		start(0, 3444, 404, smss, smss, `\SystemRoot\System32\smss.exe 000000d4 00000084 `),
		start(0, 3448, 3444, sys32+"csrss.exe", smss, "csrss.exe"),
		start(0, 3504, 3444, sys32+"winlogon.exe", smss, "winlogon.exe"),
		{Kind: etw.KindExit, Source: etw.SourceETW, Host: "BENCH01", Known: etw.FieldPID},
	}
	evs[1].Proc.Session, evs[2].Proc.Session = 2, 2
	evs[3].Proc.PID = 3444
	t := base + 100e9
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t += 1e9
		for j := range evs {
			evs[j].Time = t + int64(j)*1e7
			evs[j].Proc.CreateTime = evs[j].Time
			e.Handle(&evs[j])
		}
	}
	b.StopTimer()
	if sink.n != 0 {
		b.Fatalf("a normal lifecycle raised %d violations", sink.n)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
	report(b, len(evs))
}

// BenchmarkEngineViolation: an smss.exe run from C:\Users\Public by
// cmd.exe; each start builds two violations (image path and parent)
// (target: <= 1 us per violation).
func BenchmarkEngineViolation(b *testing.B) {
	cfg := detect.DefaultConfig()
	cfg.AggregateAfter = 1 << 30 // measure building, not folding
	sink := &discard{}
	e := bootedEngine(b, cfg, sink)
	ev := start(base+60e9, 7100, 6800, `C:\Users\Public\smss.exe`, `C:\Windows\System32\cmd.exe`, "smss.exe -k")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ev.Time += 1e6
		ev.Proc.CreateTime = ev.Time
		e.Handle(&ev)
	}
	b.StopTimer()
	if sink.n != 2*b.N {
		b.Fatalf("%d violations for %d starts", sink.n, b.N)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(sink.n), "ns/violation")
}
