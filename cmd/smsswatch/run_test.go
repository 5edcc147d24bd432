package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/smsswatch/smsswatch/etw/trace"

	"github.com/rs/zerolog"

	"github.com/smsswatch/smsswatch/etw"
	"github.com/smsswatch/smsswatch/etw/live"
)

// fakeLive plays a script of events into the handler, as the live sensor
// would from its consumer goroutine.
type fakeLive struct {
	events  []etw.Event
	blind   []string
	ran     bool
	confirm live.ProcessConfirmer
}

func (f *fakeLive) Run(ctx context.Context, h etw.Handler) error {
	f.ran = true
	var last int64
	for i := range f.events {
		ev := f.events[i]
		h.Handle(&ev)
		last = ev.Time
	}
	for _, r := range f.blind {
		h.Blind(last, r)
	}
	h.Advance(last + int64(time.Minute))
	return nil
}

func (f *fakeLive) SystemRoot() string { return `C:\Windows` }
func (f *fakeLive) Devices() []live.DeviceMapping {
	return []live.DeviceMapping{{Device: `\Device\HarddiskVolume3`, Drive: "C:"}}
}
func (f *fakeLive) Host() string { return "WS1" }
func (f *fakeLive) Stats() live.Stats {
	return live.Stats{Events: uint64(len(f.events)), Handled: uint64(len(f.events)), ClockSteps: 3, CanaryMissed: 2}
}
func (f *fakeLive) Confirmer() live.ProcessConfirmer { return f.confirm }

const (
	t0     = int64(1_700_000_000_000_000_000)
	second = int64(time.Second)
)

func liveScript() []etw.Event {
	proc := func(kind etw.Kind, at int64, pid, ppid uint32, image string) etw.Event {
		return etw.Event{Time: at, Kind: kind, Source: etw.SourceETW, Host: "WS1",
			Known: etw.FieldPID | etw.FieldParentPID | etw.FieldImage | etw.FieldCreateTime | etw.FieldSession,
			Proc:  etw.Process{PID: pid, ParentPID: ppid, Image: image, CreateTime: at}}
	}
	boot := etw.Event{Time: t0, Kind: etw.KindBoot, Source: etw.SourceETW, Host: "WS1", Known: etw.FieldBootTime,
		Boot: etw.Boot{BootTime: t0, SystemRoot: `C:\Windows`}}
	master := proc(etw.KindRunning, t0+3*second, 268, 4, `C:\Windows\System32\smss.exe`)
	master.Proc.ParentImage, master.Known = "System", master.Known|etw.FieldParentImage
	rogue := proc(etw.KindStart, t0+3600*second, 4242, 1000, `\Device\HarddiskVolume3\Users\Public\smss.exe`)
	return []etw.Event{boot, master, rogue}
}

func testRunOptions(t *testing.T, args ...string) *runOptions {
	t.Helper()
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o := addRunFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return o
}

// alertRules returns the rule IDs of the JSON alert lines in out.
func alertRules(t *testing.T, out string) []string {
	t.Helper()
	var rules []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var doc struct {
			Rule struct {
				ID string `json:"id"`
			} `json:"rule"`
		}
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
			t.Fatalf("bad alert line %q: %v", sc.Text(), err)
		}
		rules = append(rules, doc.Rule.ID)
	}
	return rules
}

func TestRunPipeline(t *testing.T) {
	src := &fakeLive{events: liveScript(), blind: []string{"ETW session smsswatch stopped from outside"}}
	var out bytes.Buffer
	var logs lockedBuffer
	log := zerolog.New(&logs)
	o := testRunOptions(t)
	code := runPipeline(context.Background(), o, src, &out, &log, func() string { return "smsswatch service stopped (service control request)" })
	if code != exitOK {
		t.Fatalf("exit %d; log:\n%s", code, logs.String())
	}
	rules := alertRules(t, out.String())
	want := map[string]bool{"smss.image_path": false, "sensor.blind": false}
	blinds := 0
	for _, r := range rules {
		if _, ok := want[r]; ok {
			want[r] = true
		}
		if r == "sensor.blind" {
			blinds++
		}
	}
	for r, seen := range want {
		if !seen {
			t.Errorf("no %s alert in %q", r, rules)
		}
	}
	if blinds != 2 {
		t.Errorf("%d sensor.blind alerts, want 2 (session stopped, service stopped): %q", blinds, rules)
	}
	// The Windows folder came from the sensor, the NT device from its map.
	if *o.detect.systemRoot != `C:\Windows` {
		t.Errorf("system root %q", *o.detect.systemRoot)
	}
	if !strings.Contains(logs.String(), `"violations":`) {
		t.Errorf("no summary in the log: %s", logs.String())
	}
}

func TestRunPipelineQuietAndBadConfig(t *testing.T) {
	src := &fakeLive{events: liveScript()}
	var out bytes.Buffer
	var logs lockedBuffer
	log := zerolog.New(&logs)
	if code := runPipeline(context.Background(), testRunOptions(t, "--quiet"), src, &out, &log, nil); code != exitOK || out.Len() != 0 {
		t.Errorf("quiet: exit %d, stdout %q", code, out.String())
	}
	src = &fakeLive{}
	if code := runPipeline(context.Background(), testRunOptions(t, "--disable-rules", "smss.nope"), src, &out, &log, nil); code != exitError || src.ran {
		t.Errorf("bad rule: exit %d, ran %v", code, src.ran)
	}
}

func TestRunUnsupported(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("run works on Windows")
	}
	var out, errb bytes.Buffer
	code := dispatch(context.Background(), []string{"run"}, stdio{in: strings.NewReader(""), out: &out, err: &errb})
	if code != exitError || !strings.Contains(errb.String(), "live ETW sensor: not supported on "+runtime.GOOS) {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
	errb.Reset()
	if code := dispatch(context.Background(), []string{"run", "extra"}, stdio{out: &out, err: &errb}); code != exitError {
		t.Errorf("extra argument: exit %d", code)
	}
	errb.Reset()
	if code := dispatch(context.Background(), []string{"run", "--help"}, stdio{out: &out, err: &errb}); code != exitOK ||
		!strings.Contains(errb.String(), "-flush-every") || !strings.Contains(errb.String(), "SMSSWATCH_QUEUE_SIZE") {
		t.Errorf("help: exit %d, %q", code, errb.String())
	}
}

func TestRecord(t *testing.T) {
	src := &fakeLive{events: liveScript(), blind: []string{"gap"}}
	var out bytes.Buffer
	var logs lockedBuffer
	log := zerolog.New(&logs)
	if code := record(context.Background(), src, &out, &log); code != exitOK {
		t.Fatalf("exit %d: %s", code, logs.String())
	}
	if !strings.Contains(logs.String(), "recording has a gap") {
		t.Errorf("blind not logged: %s", logs.String())
	}
	// The trace reads back as the same events.
	rd := trace.NewReader(&out, "live.trace", etw.SkipFunc(func(file string, rec int64, reason string) {
		t.Errorf("skipped record %d: %s", rec, reason)
	}))
	want := liveScript()
	for i := range want {
		var ev etw.Event
		if err := rd.Next(&ev); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if ev.Kind != want[i].Kind || ev.Time != want[i].Time || ev.Proc.PID != want[i].Proc.PID || ev.Known != want[i].Known {
			t.Errorf("event %d: got %+v, want %+v", i, ev, want[i])
		}
	}
	var ev etw.Event
	if err := rd.Next(&ev); err != io.EOF {
		t.Errorf("after the last event: %v", err)
	}
}

func TestRecordUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := dispatch(context.Background(), []string{"record"}, stdio{out: &out, err: &errb}); code != exitError {
		t.Errorf("no FILE: exit %d", code)
	}
	if runtime.GOOS != "windows" {
		errb.Reset()
		code := dispatch(context.Background(), []string{"record", "x.trace"}, stdio{out: &out, err: &errb})
		if code != exitError || !strings.Contains(errb.String(), "not supported on "+runtime.GOOS) {
			t.Errorf("exit %d, %q", code, errb.String())
		}
	}
}

// childScript is liveScript with a session child (pid 500, started by the
// master) that has no exit record: it is past its deadline long before
// the script ends.
func childScript() []etw.Event {
	evs := liveScript()
	child := etw.Event{Time: t0 + 10*second, Kind: etw.KindStart, Source: etw.SourceETW, Host: "WS1",
		Known: etw.FieldPID | etw.FieldParentPID | etw.FieldImage | etw.FieldParentImage | etw.FieldCreateTime | etw.FieldCommandLine,
		Proc: etw.Process{PID: 500, ParentPID: 268, Image: `C:\Windows\System32\smss.exe`, ParentImage: `C:\Windows\System32\smss.exe`,
			CreateTime: t0 + 10*second, CommandLine: `\SystemRoot\System32\smss.exe 000000c8 00000084`}}
	return append(evs[:2:2], child, evs[2])
}

// TestRunPipelineConfirmer: run gives the sensor's confirmer to the
// detector, so a child whose exit was lost is not persistent.
func TestRunPipelineConfirmer(t *testing.T) {
	cases := []struct {
		name      string
		confirm   live.ProcessConfirmer
		wantAlert bool
		wantLost  string
	}{
		{"no confirmer", nil, true, `"exits_lost":0`},
		{"child still running", func(uint32, int64) (bool, bool) { return true, true }, true, `"exits_lost":0`},
		{"child exited, exit lost", func(uint32, int64) (bool, bool) { return false, true }, false, `"exits_lost":1`},
		{"cannot tell", func(uint32, int64) (bool, bool) { return false, false }, true, `"exits_lost":0`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var asked []uint32
			src := &fakeLive{events: childScript()}
			if tc.confirm != nil {
				src.confirm = func(pid uint32, created int64) (bool, bool) {
					asked = append(asked, pid)
					return tc.confirm(pid, created)
				}
			}
			var out bytes.Buffer
			var logs lockedBuffer
			log := zerolog.New(&logs)
			if code := runPipeline(context.Background(), testRunOptions(t), src, &out, &log, nil); code != exitOK {
				t.Fatalf("exit %d; log:\n%s", code, logs.String())
			}
			got := false
			for _, r := range alertRules(t, out.String()) {
				got = got || r == "smss.persistent_child"
			}
			if got != tc.wantAlert {
				t.Errorf("smss.persistent_child alert %v, want %v (alerts %q)", got, tc.wantAlert, out.String())
			}
			if tc.confirm != nil && (len(asked) != 1 || asked[0] != 500) {
				t.Errorf("confirmer asked about %v, want [500]", asked)
			}
			for _, want := range []string{tc.wantLost, `"clock_steps":3`, `"canary_missed":2`} {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("no %s in the summary log: %s", want, logs.String())
				}
			}
		})
	}
}

// TestRunCanaryFlags: --canary-every and --canary-timeout (and their
// variables) reach the sensor's configuration, and bad values are
// refused.
func TestRunCanaryFlags(t *testing.T) {
	cases := []struct {
		name                 string
		args                 []string
		env                  map[string]string
		ok                   bool
		wantEvery, wantAfter time.Duration
	}{
		{"defaults", nil, nil, true, 30 * time.Second, 5 * time.Second},
		{"flags", []string{"--canary-every", "2m", "--canary-timeout", "10s"}, nil, true, 2 * time.Minute, 10 * time.Second},
		{"negative disables the canary", []string{"--canary-every=-1s"}, nil, true, -time.Second, 5 * time.Second},
		{"environment", nil, map[string]string{"SMSSWATCH_CANARY_EVERY": "45s", "SMSSWATCH_CANARY_TIMEOUT": "3s"}, true, 45 * time.Second, 3 * time.Second},
		{"command line wins over the environment", []string{"--canary-every=1m"}, map[string]string{"SMSSWATCH_CANARY_EVERY": "45s"}, true, time.Minute, 5 * time.Second},
		{"zero period", []string{"--canary-every=0"}, nil, false, 0, 0},
		{"period below a second", []string{"--canary-every=500ms"}, nil, false, 0, 0},
		{"zero timeout", []string{"--canary-timeout=0s"}, nil, false, 0, 0},
		{"negative timeout", []string{"--canary-timeout=-5s"}, nil, false, 0, 0},
		{"not a duration", []string{"--canary-every=often"}, nil, false, 0, 0},
		{"bad variable", nil, map[string]string{"SMSSWATCH_CANARY_TIMEOUT": "5"}, false, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var errb bytes.Buffer
			fs := newFlagSet("run", "run [flags]", "", &errb)
			o := addRunFlags(fs)
			_, ok := parseFlags(fs, tc.args)
			if ok != tc.ok {
				t.Fatalf("parse ok %v, want %v (%s)", ok, tc.ok, errb.String())
			}
			if !ok {
				return
			}
			log := zerolog.Nop()
			cfg := o.liveConfig(&log)
			if cfg.CanaryEvery != tc.wantEvery || cfg.CanaryTimeout != tc.wantAfter {
				t.Errorf("canary every %v timeout %v, want %v and %v", cfg.CanaryEvery, cfg.CanaryTimeout, tc.wantEvery, tc.wantAfter)
			}
		})
	}
}

func TestCheckedDurationErrors(t *testing.T) {
	for _, tc := range []struct {
		check func(time.Duration) error
		d     time.Duration
	}{{checkCanaryEvery, 0}, {checkCanaryEvery, time.Millisecond}, {checkCanaryTimeout, 0}, {checkCanaryTimeout, -time.Second}} {
		if err := tc.check(tc.d); !errors.Is(err, errFlagValue) {
			t.Errorf("check(%v) = %v, want errFlagValue", tc.d, err)
		}
	}
	var d time.Duration
	if err := (&checkedDuration{d: &d, check: checkCanaryEvery}).Set("x"); !errors.Is(err, errFlagValue) {
		t.Errorf("Set(x) = %v, want errFlagValue", err)
	}
}
