package live

import (
	"context"
	"errors"
	"math/rand"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smsswatch/smsswatch/etw"
)

// recHandler records what the consumer gives it.
type recHandler struct {
	mu       sync.Mutex
	events   []etw.Event
	blinds   []string
	advances int
	advTo    int64
	blindAt  int64
	onHandle func(ev *etw.Event)
}

func (h *recHandler) Handle(ev *etw.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, *ev)
	if h.onHandle != nil {
		h.onHandle(ev)
	}
}

func (h *recHandler) Advance(now int64) {
	h.mu.Lock()
	h.advances++
	h.advTo = now
	h.mu.Unlock()
}

func (h *recHandler) Blind(now int64, reason string) {
	h.mu.Lock()
	h.blinds = append(h.blinds, reason)
	h.blindAt = now
	h.mu.Unlock()
}

func (h *recHandler) snapshot() ([]etw.Event, []string, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]etw.Event(nil), h.events...), append([]string(nil), h.blinds...), h.advances
}

// fakeEnricher "reads" user and command line of the PIDs it knows.
type fakeEnricher struct {
	mu    sync.Mutex
	known map[uint32]string // pid -> command line
	asked []uint32
}

func (f *fakeEnricher) Enrich(ev *etw.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, ev.Proc.PID)
	if cl, ok := f.known[ev.Proc.PID]; ok {
		ev.Proc.CommandLine, ev.Proc.UserSID = cl, "S-1-5-18"
		ev.Known |= etw.FieldCommandLine | etw.FieldUserSID
	}
}

const (
	bootNS = int64(1_700_000_000_000_000_000)
	sec    = int64(time.Second)
	smss   = `C:\Windows\System32\smss.exe`
	ntSmss = `\Device\HarddiskVolume3\Windows\System32\smss.exe`
)

// testCore returns a core with a controllable clock.
func testCore(t *testing.T, cfg Config, enr Enricher) (*liveCore, *atomic.Int64) {
	t.Helper()
	cfg.Host = "WS1"
	cfg, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	var clock atomic.Int64
	clock.Store(bootNS + 7200*sec)
	c, err := newLiveCore(cfg, enr, clock.Load)
	if err != nil {
		t.Fatal(err)
	}
	return c, &clock
}

func bootSnapshot() *Snapshot {
	return &Snapshot{
		Time:       bootNS + 3600*sec,
		BootTime:   bootNS,
		SystemRoot: `C:\Windows`,
		Processes: []SnapshotProcess{
			// Out of order on purpose: the consumer sorts by creation.
			{PID: 600, ParentPID: 500, Session: 1, CreateTime: bootNS + 9*sec, Image: `C:\Windows\System32\winlogon.exe`},
			{PID: 268, ParentPID: 4, CreateTime: bootNS + 2*sec, Image: smss, UserSID: "S-1-5-18"},
			{PID: 4, CreateTime: bootNS, Image: "System", UserSID: "S-1-5-18"},
			{PID: 400, ParentPID: 390, CreateTime: bootNS + 5*sec, Image: `C:\Windows\System32\csrss.exe`},
		},
	}
}

func startEv(pid, ppid uint32, created int64, image string) etw.Event {
	return etw.Event{Time: created, Kind: etw.KindStart, Source: etw.SourceETW, Host: "WS1",
		Known: etw.FieldPID | etw.FieldParentPID | etw.FieldCreatorPID | etw.FieldImage | etw.FieldCreateTime,
		Proc:  etw.Process{PID: pid, ParentPID: ppid, CreatorPID: ppid, Image: image, CreateTime: created}}
}

func withKey(ev etw.Event, key string) etw.Event {
	ev.Proc.Key = key
	ev.Known |= etw.FieldKey
	return ev
}

func exitEv(pid uint32, created, exited int64) etw.Event {
	return etw.Event{Time: exited, Kind: etw.KindExit, Source: etw.SourceETW, Host: "WS1",
		Known: etw.FieldPID | etw.FieldCreateTime | etw.FieldExitTime,
		Proc:  etw.Process{PID: pid, CreateTime: created, ExitTime: exited}}
}

// runCore runs the consumer until stop() and returns the stop function.
func runCore(c *liveCore, h etw.Handler) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.run(ctx, h); close(done) }()
	return func() { cancel(); <-done }
}

// waitFor polls until cond holds (or fails the test after 5 s).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func kinds(evs []etw.Event) string {
	var b strings.Builder
	for i, ev := range evs {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(ev.Kind.String())
		if ev.Kind != etw.KindBoot && ev.Kind != etw.KindRegistry {
			b.WriteByte(':')
			b.WriteString(itoa(ev.Proc.PID))
		}
	}
	return b.String()
}

func itoa(v uint32) string {
	if v == 0 {
		return "0"
	}
	var b [10]byte
	i := len(b)
	for v > 0 {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b[i:])
}

func TestLiveSnapshotPrecedesLiveEvents(t *testing.T) {
	enr := &fakeEnricher{known: map[uint32]string{268: `\SystemRoot\System32\smss.exe`, 700: `\SystemRoot\System32\smss.exe 000000c8 00000084`}}
	c, _ := testCore(t, Config{}, enr)
	h := &recHandler{}
	stop := runCore(c, h)
	defer stop()

	// A session child starts (live) before the snapshot note arrives: it
	// must reach the handler after the boot and the snapshot.
	ev := startEv(700, 268, bootNS+3601*sec, ntSmss)
	c.push(&ev)
	time.Sleep(20 * time.Millisecond)
	if evs, _, _ := h.snapshot(); len(evs) != 0 {
		t.Fatalf("events before the snapshot: %s", kinds(evs))
	}
	c.send(context.Background(), liveNote{kind: noteSnapshot, snap: bootSnapshot(), since: bootNS + 3599*sec})
	waitFor(t, "the live start", func() bool { evs, _, _ := h.snapshot(); return len(evs) == 6 })
	evs, blinds, _ := h.snapshot()
	if got, want := kinds(evs), "boot running:4 running:268 running:400 running:600 start:700"; got != want {
		t.Fatalf("order:\n got  %s\n want %s", got, want)
	}
	boot := evs[0]
	if !boot.Has(etw.FieldBootTime) || boot.Boot.BootTime != bootNS || boot.Boot.SystemRoot != `C:\Windows` || boot.Time != bootNS {
		t.Errorf("boot event %+v", boot)
	}
	master := evs[2]
	if master.Proc.ParentImage != "System" || !master.Has(etw.FieldParentImage) || master.Proc.CommandLine != `\SystemRoot\System32\smss.exe` {
		t.Errorf("master: %+v", master.Proc)
	}
	if master.Source != etw.SourceETW || master.Host != "WS1" {
		t.Errorf("master source/host %v %q", master.Source, master.Host)
	}
	child := evs[5]
	if child.Proc.ParentImage != smss || child.Proc.CommandLine == "" || !child.Has(etw.FieldUserSID) {
		t.Errorf("child: %+v known %b", child.Proc, child.Known)
	}
	// winlogon's parent (500) is unknown: no guess.
	if evs[4].Has(etw.FieldParentImage) {
		t.Errorf("winlogon got parent image %q", evs[4].Proc.ParentImage)
	}
	if len(blinds) != 0 {
		t.Errorf("blind: %v", blinds)
	}
	// Enrichment only for smss.exe and its children.
	enr.mu.Lock()
	asked := append([]uint32(nil), enr.asked...)
	enr.mu.Unlock()
	if len(asked) != 2 || asked[0] != 268 || asked[1] != 700 {
		t.Errorf("enriched %v, want [268 700]", asked)
	}
}

func TestLiveParentImageProof(t *testing.T) {
	c, _ := testCore(t, Config{}, nil)
	h := &recHandler{}
	stop := runCore(c, h)
	defer stop()
	c.send(context.Background(), liveNote{kind: noteSnapshot, snap: &Snapshot{Time: bootNS, BootTime: bootNS}})

	evs := []etw.Event{
		startEv(1000, 4, bootNS+10*sec, `\Device\HarddiskVolume3\Windows\explorer.exe`),
		// Child of 1000: parent known.
		startEv(1001, 1000, bootNS+11*sec, `\Device\HarddiskVolume3\Windows\System32\cmd.exe`),
		// 1000 exits; its PID is reused by a later process.
		exitEv(1000, bootNS+10*sec, bootNS+12*sec),
		withKey(startEv(1000, 4, bootNS+20*sec, `\Device\HarddiskVolume3\Windows\notepad.exe`), "78"),
		// A process created before the current 1000 that names 1000 as
		// parent: the old 1000, not the notepad.
		startEv(1002, 1000, bootNS+15*sec, `\Device\HarddiskVolume3\x.exe`),
	}
	// Sequence numbers disagree: no parent image.
	k := startEv(1003, 1000, bootNS+21*sec, `\Device\HarddiskVolume3\y.exe`)
	k.Proc.ParentKey, k.Known = "77", k.Known|etw.FieldParentKey
	evs = append(evs, k)
	for i := range evs {
		c.push(&evs[i])
	}
	waitFor(t, "events", func() bool { got, _, _ := h.snapshot(); return len(got) == 7 })
	got, _, _ := h.snapshot()
	if got[2].Proc.ParentImage != `\Device\HarddiskVolume3\Windows\explorer.exe` {
		t.Errorf("cmd.exe parent image %q", got[2].Proc.ParentImage)
	}
	if got[1].Proc.ParentImage != "System" {
		t.Errorf("explorer parent image %q", got[1].Proc.ParentImage)
	}
	exit := got[3]
	if exit.Kind != etw.KindExit || exit.Proc.Image != `\Device\HarddiskVolume3\Windows\explorer.exe` || !exit.Has(etw.FieldImage) {
		t.Errorf("exit did not get its image: %+v", exit)
	}
	// Delivered in time order: 1002 (15 s) before the notepad (20 s).
	if got[4].Proc.PID != 1002 || got[4].Has(etw.FieldParentImage) {
		t.Errorf("process older than its 'parent' got parent image %q", got[4].Proc.ParentImage)
	}
	if got[5].Proc.PID != 1000 || got[5].Proc.ParentImage != "System" {
		t.Errorf("notepad: %+v", got[5].Proc)
	}
	if got[6].Has(etw.FieldParentImage) {
		t.Errorf("parent sequence number mismatch, yet parent image %q", got[6].Proc.ParentImage)
	}
}

func TestLiveRundownAndPending(t *testing.T) {
	cfg := Config{SettleTime: 2 * time.Second, AdvanceEvery: 5 * time.Millisecond}
	c, clock := testCore(t, cfg, nil)
	h := &recHandler{}
	stop := runCore(c, h)
	defer stop()
	since := bootNS + 3600*sec
	snap := &Snapshot{Time: since + sec, BootTime: bootNS, Processes: []SnapshotProcess{
		{PID: 268, ParentPID: 4, CreateTime: bootNS + 2*sec, Image: smss},
		// Created after the session was started: may be reported live.
		{PID: 900, ParentPID: 268, CreateTime: since + sec/2, Image: smss, UserSID: "S-1-5-18"},
		{PID: 901, ParentPID: 268, CreateTime: since + sec/2, Image: smss},
		{PID: 902, ParentPID: 268, CreateTime: since + sec/2, Image: smss},
		{PID: 903, ParentPID: 268, CreateTime: since + sec/2, Image: smss},
	}}
	c.send(context.Background(), liveNote{kind: noteSnapshot, snap: snap, since: since})
	waitFor(t, "snapshot", func() bool { got, _, _ := h.snapshot(); return len(got) == 2 })

	// Pushed in time order: the test clock is far past these events, so
	// each is released as soon as the consumer has seen it, and pushes
	// out of order would be delivered in whatever batches the consumer
	// happened to take them (the reorder buffer has tests of its own).
	// 900 is reported live: the live start replaces the snapshot record,
	// keeping the user the snapshot read.
	st := startEv(900, 268, since+sec/2, ntSmss)
	c.push(&st)
	// 902 exits before settling: its running record precedes the exit.
	ex := exitEv(902, since+sec/2, since+sec)
	c.push(&ex)
	// Rundown of a known process: dropped, but its key is kept.
	run := etw.Event{Time: since + 2*sec, Kind: etw.KindRunning, Source: etw.SourceETW, Known: etw.FieldPID | etw.FieldCreateTime | etw.FieldKey | etw.FieldImage | etw.FieldParentPID,
		Proc: etw.Process{PID: 268, CreateTime: bootNS + 2*sec, Key: "38", Image: ntSmss, ParentPID: 4}}
	c.push(&run)
	// Rundown of an unknown process: delivered.
	run2 := run
	run2.Proc.PID, run2.Proc.CreateTime, run2.Proc.Key = 333, bootNS+30*sec, "90"
	c.push(&run2)
	// 901 comes by rundown: delivered once, as running.
	run3 := run
	run3.Proc.PID, run3.Proc.CreateTime, run3.Proc.Key = 901, since+sec/2, "91"
	c.push(&run3)
	waitFor(t, "live events", func() bool { got, _, _ := h.snapshot(); return len(got) == 7 })
	got, _, _ := h.snapshot()
	// In time order: the snapshot (dated at the session start), 900 and
	// 902 (created half a second later), 902's exit, then the rundown.
	if k := kinds(got); k != "boot running:268 start:900 running:902 exit:902 running:333 running:901" {
		t.Fatalf("got %s", k)
	}
	if e, _ := c.procs.get(268); e.key != "38" {
		t.Errorf("rundown key not kept: %+v", e)
	}
	if got[2].Proc.UserSID != "S-1-5-18" || got[2].Proc.ParentImage != smss {
		t.Errorf("live start not merged with the snapshot: %+v", got[2].Proc)
	}
	// 903 never shows up live: delivered from the snapshot once settled.
	clock.Add(3 * sec)
	waitFor(t, "settled snapshot process", func() bool { got, _, _ := h.snapshot(); return len(got) == 8 })
	got, _, _ = h.snapshot()
	if last := got[7]; last.Kind != etw.KindRunning || last.Proc.PID != 903 || last.Proc.ParentImage != smss {
		t.Errorf("settled: %+v", last)
	}
}

func TestLiveRestartReconcile(t *testing.T) {
	c, _ := testCore(t, Config{}, nil)
	h := &recHandler{}
	stop := runCore(c, h)
	defer stop()
	c.send(context.Background(), liveNote{kind: noteSnapshot, snap: bootSnapshot()})
	waitFor(t, "snapshot", func() bool { got, _, _ := h.snapshot(); return len(got) == 5 })
	// A session child started before the gap.
	st := startEv(700, 268, bootNS+3601*sec, ntSmss)
	c.push(&st)
	waitFor(t, "start", func() bool { got, _, _ := h.snapshot(); return len(got) == 6 })

	// The session was stopped; after the restart the snapshot shows the
	// child gone (its exit was missed), winlogon still there, and a new
	// process.
	c.send(context.Background(), liveNote{kind: noteBlind, reason: "ETW session smsswatch stopped from outside"})
	snap := bootSnapshot()
	snap.Time = bootNS + 3700*sec
	snap.Processes = append(snap.Processes[:1], snap.Processes[1], snap.Processes[2],
		SnapshotProcess{PID: 1200, ParentPID: 268, CreateTime: bootNS + 3650*sec, Image: `C:\Users\Public\smss.exe`})
	// (csrss 400 is gone too.)
	c.send(context.Background(), liveNote{kind: noteSnapshot, snap: snap, since: bootNS + 3699*sec})
	waitFor(t, "reconcile", func() bool { got, _, _ := h.snapshot(); return len(got) == 9 })
	got, blinds, _ := h.snapshot()
	tail := kinds(got[6:])
	if !strings.HasPrefix(tail, "running:1200 ") || !strings.Contains(tail, "exit:700") || !strings.Contains(tail, "exit:400") {
		t.Fatalf("reconcile: %s", tail)
	}
	for _, ev := range got[7:] {
		if ev.Has(etw.FieldExitTime) || ev.Time != snap.Time || !ev.Has(etw.FieldImage) {
			t.Errorf("synthesised exit %+v", ev)
		}
	}
	if got[6].Proc.ParentImage != smss {
		t.Errorf("gap process parent %q", got[6].Proc.ParentImage)
	}
	if len(blinds) != 1 || !strings.Contains(blinds[0], "stopped from outside") {
		t.Errorf("blinds %v", blinds)
	}
	// A failed snapshot after a restart is itself a blind spot.
	c.send(context.Background(), liveNote{kind: noteSnapshot, err: errors.New("access denied")})
	waitFor(t, "blind", func() bool { _, b, _ := h.snapshot(); return len(b) == 2 })
}

func TestLiveQueueDropsRaiseBlind(t *testing.T) {
	c, _ := testCore(t, Config{QueueSize: 16}, nil)
	h := &recHandler{}
	// Fill the queue beyond capacity before the consumer runs.
	for i := 0; i < 20; i++ {
		ev := startEv(uint32(2000+i), 4, bootNS, `x.exe`)
		c.push(&ev)
	}
	c.c.decodeErrors.Add(3)
	stop := runCore(c, h)
	defer stop()
	c.send(context.Background(), liveNote{kind: noteSnapshot, snap: &Snapshot{Time: bootNS}})
	waitFor(t, "blind", func() bool { _, b, _ := h.snapshot(); return len(b) == 2 })
	_, blinds, _ := h.snapshot()
	if blinds[0] != "event queue full: 4 events dropped" || blinds[1] != "3 Kernel-Process events could not be decoded" {
		t.Errorf("blinds %q", blinds)
	}
	st := c.stats()
	if st.Dropped != 4 || st.Events != 16 || st.Blind != 2 || st.DecodeErrors != 3 {
		t.Errorf("stats %+v", st)
	}
	waitFor(t, "handled", func() bool { return c.stats().Handled == 17 })
}

func TestLiveAdvancesWhenIdle(t *testing.T) {
	cfg := Config{AdvanceEvery: 10 * time.Millisecond}
	cfg.Host = "WS1"
	cfg, _ = cfg.withDefaults()
	c, err := newLiveCore(cfg, nil, nil) // real clock
	if err != nil {
		t.Fatal(err)
	}
	h := &recHandler{}
	stop := runCore(c, h)
	defer stop()
	c.send(context.Background(), liveNote{kind: noteSnapshot, snap: &Snapshot{Time: bootNS}})
	time.Sleep(200 * time.Millisecond)
	if _, _, n := h.snapshot(); n < 5 {
		t.Errorf("%d advances in 200 ms at a 10 ms period", n)
	}
}

func TestLiveAdvancesUnderLoad(t *testing.T) {
	cfg := Config{AdvanceEvery: 10 * time.Millisecond, QueueSize: 1 << 16}
	c, clock := testCore(t, cfg, nil)
	h := &recHandler{}
	// Each handled event moves the clock by 1 ms: 50 events span 50 ms, so
	// the consumer must advance in between, not only once idle.
	h.onHandle = func(*etw.Event) { clock.Add(int64(time.Millisecond)) }
	c.send(context.Background(), liveNote{kind: noteSnapshot, snap: &Snapshot{Time: bootNS}})
	for i := 0; i < 2000; i++ {
		ev := startEv(uint32(i+10), 4, bootNS, "a.exe")
		c.push(&ev)
	}
	stop := runCore(c, h)
	defer stop()
	waitFor(t, "drain", func() bool { return c.stats().Handled == 2001 })
	if _, _, n := h.snapshot(); n < 3 {
		t.Errorf("only %d advances while draining 2000 ms of events", n)
	}
}

func TestLiveRegistryNote(t *testing.T) {
	c, _ := testCore(t, Config{}, nil)
	h := &recHandler{}
	stop := runCore(c, h)
	defer stop()
	c.send(context.Background(), liveNote{kind: noteSnapshot, snap: &Snapshot{Time: bootNS}})
	var ev etw.Event
	registryEvent("WS1", bootNS+sec, etw.Registry{Op: etw.RegOpSetValue, Key: regKeyPath("CurrentControlSet", ""), Value: "BootExecute", Data: "autocheck autochk * evil"}, &ev)
	c.send(context.Background(), liveNote{kind: noteEvent, ev: ev})
	waitFor(t, "registry", func() bool { got, _, _ := h.snapshot(); return len(got) == 2 })
	got, _, _ := h.snapshot()
	r := got[1]
	if r.Kind != etw.KindRegistry || r.Reg.Op != etw.RegOpSetValue || r.Reg.Key != `HKLM\SYSTEM\CurrentControlSet\Control\Session Manager` ||
		r.Known&(etw.FieldPID|etw.FieldImage) != 0 || r.Source != etw.SourceETW {
		t.Errorf("registry event %+v", r)
	}
	if c.stats().Registry != 1 {
		t.Errorf("registry counter %d", c.stats().Registry)
	}
}

func TestLiveStopsOnCancelBeforeSnapshot(t *testing.T) {
	c, _ := testCore(t, Config{}, nil)
	stop := runCore(c, &recHandler{})
	stop() // must return although no snapshot ever came
}

func TestProcTableBound(t *testing.T) {
	tb := newProcTable(64)
	for i := uint32(10); i < 200; i++ {
		tb.put(i, "x", 0, "")
	}
	if tb.len() != 64 || tb.evicted.Load() != 200-10-63 {
		t.Errorf("len %d evicted %d", tb.len(), tb.evicted.Load())
	}
	if e, ok := tb.get(4); !ok || e.image != "System" {
		t.Error("PID 4 evicted or renamed")
	}
	tb.del(4)
	if _, ok := tb.get(4); !ok {
		t.Error("PID 4 deleted")
	}
}

func TestSmssLike(t *testing.T) {
	for _, c := range []struct {
		in   string
		want bool
	}{
		{smss, true}, {ntSmss, true}, {`SMSS.EXE`, true}, {`C:\Users\Public\smss.exe:ads`, true},
		{`C:\x\ѕmss.exe`, true}, {`csrss.exe`, false}, {``, false}, {`C:\smss\`, false}, {`C:\sms.exe`, false},
		{`/tmp/smss2.exe`, true},
	} {
		if got := smssLike(c.in); got != c.want {
			t.Errorf("smssLike(%q) = %v", c.in, got)
		}
	}
}

func TestLiveConfigDefaults(t *testing.T) {
	c, err := Config{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.SessionName != "smsswatch" || c.QueueSize != 65536 || c.AdvanceEvery != 250*time.Millisecond ||
		c.FlushEvery != 250*time.Millisecond || c.Logf == nil || c.RestartMax != time.Minute {
		t.Errorf("defaults %+v", c)
	}
	c, _ = Config{AdvanceEvery: time.Hour}.withDefaults()
	if c.AdvanceEvery != 250*time.Millisecond {
		t.Errorf("AdvanceEvery not capped: %v", c.AdvanceEvery)
	}
	for _, bad := range []Config{{QueueSize: 3}, {FlushEvery: time.Millisecond}, {MaxProcesses: 10}, {SessionName: strings.Repeat("x", 1001)}} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestNewLiveUnsupported(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the live sensor exists on Windows")
	}
	l, err := New(Config{})
	if l != nil || !errors.Is(err, etw.ErrUnsupported) {
		t.Fatalf("New = %v, %v", l, err)
	}
	if want := "live ETW sensor: not supported on " + runtime.GOOS; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if _, err := TakeSnapshot(); !errors.Is(err, etw.ErrUnsupported) {
		t.Errorf("TakeSnapshot: %v", err)
	}
}

func TestLiveTimeOrderAndLag(t *testing.T) {
	cfg := Config{DeliveryLag: time.Second, AdvanceEvery: time.Millisecond}
	c, clock := testCore(t, cfg, nil)
	now := clock.Load()
	h := &recHandler{}
	stop := runCore(c, h)
	defer stop()
	c.send(context.Background(), liveNote{kind: noteSnapshot, snap: &Snapshot{Time: now - 10*sec}})
	// A child's start, a later event from another CPU, then the child's
	// exit (which happened before that event) arrives last.
	a := startEv(500, 4, now-3*sec, smss)
	b := startEv(501, 4, now-sec/2, `C:\x.exe`)
	x := exitEv(500, now-3*sec, now-2*sec)
	for _, ev := range []*etw.Event{&a, &b, &x} {
		c.push(ev)
	}
	waitFor(t, "old events", func() bool { got, _, _ := h.snapshot(); return len(got) == 3 })
	time.Sleep(20 * time.Millisecond)
	got, _, _ := h.snapshot()
	if k := kinds(got); k != "boot start:500 exit:500" {
		t.Fatalf("released %s (501 is younger than the lag)", k)
	}
	h.mu.Lock()
	adv := h.advTo
	h.mu.Unlock()
	if adv != now-sec {
		t.Errorf("handler clock %d, want now-lag %d", adv, now-sec)
	}
	clock.Add(sec)
	waitFor(t, "young event", func() bool { got, _, _ := h.snapshot(); return len(got) == 4 })
	c.send(context.Background(), liveNote{kind: noteBlind, reason: "test"})
	waitFor(t, "blind", func() bool { _, b, _ := h.snapshot(); return len(b) == 1 })
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.blindAt != clock.Load()-sec {
		t.Errorf("blind at %d, want now-lag", h.blindAt)
	}
}

func TestLiveReleasesAllOnStop(t *testing.T) {
	c, clock := testCore(t, Config{}, nil)
	h := &recHandler{}
	stop := runCore(c, h)
	c.send(context.Background(), liveNote{kind: noteSnapshot, snap: &Snapshot{Time: bootNS}})
	ev := startEv(42, 4, clock.Load()+sec, smss) // not due yet
	c.push(&ev)
	waitFor(t, "queue drained", func() bool { return c.q.Len() == 0 })
	time.Sleep(10 * time.Millisecond)
	stop()
	got, _, _ := h.snapshot()
	if k := kinds(got); k != "boot start:42" {
		t.Fatalf("after stop: %s", k)
	}
}

func TestSystemDeviceOf(t *testing.T) {
	devs := []DeviceMapping{{Device: `\Device\HarddiskVolume1`, Drive: "D:"}, {Device: `\Device\HarddiskVolume3`, Drive: "C:"}}
	cases := map[string]string{`C:\Windows`: `\Device\HarddiskVolume3`, `c:\windows`: `\Device\HarddiskVolume3`, `D:\Win`: `\Device\HarddiskVolume1`, `E:\Windows`: "", ``: ""}
	for root, want := range cases {
		if got := SystemDeviceOf(root, devs); got != want {
			t.Errorf("%q: %q, want %q", root, got, want)
		}
	}
}

// orderHandler records the time and PID of what it is given.
type orderHandler struct{ got []etw.Event }

func (h *orderHandler) Handle(ev *etw.Event) {
	h.got = append(h.got, etw.Event{Time: ev.Time, Proc: etw.Process{PID: ev.Proc.PID}})
}
func (h *orderHandler) Advance(int64)       {}
func (h *orderHandler) Blind(int64, string) {}

// TestConsumeOverBound drives the consumer with a reorder bound of 16
// (the smallest queue) and no release by time (the events span less than
// the delivery lag), so that the buffer is full and every kept event is
// exchanged for the one it releases: the handler gets refReorder's
// overflow order, then the rest in order, and every event once. The queue
// reuses the released events as its slots: an event still held that the
// producer overwrote would show here.
func TestConsumeOverBound(t *testing.T) {
	for _, p := range reorderPatterns {
		t.Run(p.name, func(t *testing.T) {
			for seed := int64(1); seed <= 5; seed++ {
				rng := rand.New(rand.NewSource(seed))
				cfg, err := Config{Host: "WS1", QueueSize: 16}.withDefaults()
				if err != nil {
					t.Fatal(err)
				}
				mono := func() int64 { return benchBase }
				c, err := newLiveCore(cfg, nil, mono)
				if err != nil {
					t.Fatal(err)
				}
				c.booted = true
				ts := p.times(rng, 2000)
				h, ref := &orderHandler{}, &refReorder{}
				var want []etw.Event
				for i := 0; i < len(ts); {
					k := min(len(ts)-i, 1+rng.Intn(c.q.Cap()))
					for j := i; j < i+k; j++ {
						// Starts and exits of PIDs that may or may not
						// be known: both kinds are kept.
						pid := uint32(8 + 4*rng.Intn(64))
						ev := startEv(pid, 4, benchBase+ts[j], `C:\Windows\System32\cmd.exe`)
						if rng.Intn(2) == 0 {
							ev = exitEv(pid, benchBase, benchBase+ts[j])
						}
						ev.Proc.Key = itoa(uint32(j)) // which event this is
						c.push(&ev)
						if len(ref.evs) >= cfg.QueueSize {
							w, _ := ref.popReady(1<<63 - 1)
							want = append(want, w)
						}
						ref.evs = append(ref.evs, etw.Event{Time: ev.Time, Proc: etw.Process{PID: pid}})
					}
					c.consume(h)
					c.release(false, h)
					c.q.Ready(1) // the ring is empty: every slot back to the producer (run's Arm)
					i += k
				}
				c.release(true, h)
				for {
					w, ok := ref.popReady(1<<63 - 1)
					if !ok {
						break
					}
					want = append(want, w)
				}
				if len(h.got) != len(want) {
					t.Fatalf("seed %d: %d events handled, want %d", seed, len(h.got), len(want))
				}
				for i := range want {
					if h.got[i] != want[i] {
						t.Fatalf("seed %d: event %d is %d/%d, want %d/%d", seed, i, h.got[i].Time, h.got[i].Proc.PID, want[i].Time, want[i].Proc.PID)
					}
				}
				if st := c.stats(); st.Handled != uint64(len(ts)) || st.Events != uint64(len(ts)) || st.Dropped != 0 {
					t.Fatalf("seed %d: stats %+v for %d events", seed, st, len(ts))
				}
			}
		})
	}
}

// TestConsumeNoAllocs: once the reorder buffer and the process table have
// grown, the path from the queue to the handler does not allocate, with
// events in order, late, and over the reorder bound.
func TestConsumeNoAllocs(t *testing.T) {
	for _, rate := range []int64{1_000, 100_000} {
		t.Run(itoa(uint32(rate)), func(t *testing.T) {
			in := newConsumeInput(benchInput, rate)
			c, mono := benchCore(t)
			h := &countHandler{}
			next := drive(nil, c, mono, in, h, 0, warmUp(c, rate))
			if n := testing.AllocsPerRun(20, func() { next = drive(nil, c, mono, in, h, next, 4*batch) }); n != 0 {
				t.Errorf("%.1f allocations for %d events", n, 4*batch)
			}
			if h.disorder != 0 || h.n == 0 {
				t.Errorf("%d events handled, %d out of order", h.n, h.disorder)
			}
		})
	}
}
