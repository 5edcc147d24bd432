//go:build windows && cgo

package live

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/smsswatch/smsswatch/etw"
	"github.com/smsswatch/smsswatch/etw/live/consumer"
	"github.com/smsswatch/smsswatch/etw/live/kernelproc"

	"golang.org/x/sys/windows"
)

// These tests run the Windows layer for real: on a Windows host, or under
// wine (.ci/windows-tests.sh), whose ETW is a stub, so nothing here needs
// a working ETW session.

func TestTakeSnapshotWindows(t *testing.T) {
	s, err := TakeSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixNano()
	if s.BootTime <= 0 || s.BootTime > now || s.Time > now || s.Time < now-int64(time.Minute) {
		t.Errorf("times: boot %v snapshot %v", etw.TimeOf(s.BootTime), etw.TimeOf(s.Time))
	}
	if !strings.Contains(strings.ToLower(s.SystemRoot), `\windows`) {
		t.Errorf("SystemRoot %q", s.SystemRoot)
	}
	var self *SnapshotProcess
	for i := range s.Processes {
		if s.Processes[i].PID == uint32(os.Getpid()) {
			self = &s.Processes[i]
		}
		if s.Processes[i].PID == 0 {
			t.Error("the idle process is in the snapshot")
		}
	}
	if self == nil {
		t.Fatalf("own PID %d not in %d processes", os.Getpid(), len(s.Processes))
	}
	if self.CreateTime <= s.BootTime-int64(time.Minute) || self.CreateTime > now {
		t.Errorf("own creation time %v", etw.TimeOf(self.CreateTime))
	}
	if !strings.HasSuffix(strings.ToLower(self.Image), ".exe") {
		t.Errorf("own image %q", self.Image)
	}
	if self.ParentPID != uint32(os.Getppid()) {
		t.Errorf("own parent %d, want %d", self.ParentPID, os.Getppid())
	}
	if !strings.HasPrefix(self.UserSID, "S-1-5-") {
		t.Errorf("own user %q", self.UserSID)
	}
}

func TestDOSDevicesWindows(t *testing.T) {
	devs, err := dosDevices()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, d := range devs {
		if d.Drive == "C:" && d.Device != "" {
			found = true
		}
	}
	if !found {
		t.Errorf("no C: in %+v", devs)
	}
}

func ownCreateTime(t *testing.T) int64 {
	t.Helper()
	var c, e, k, u windows.Filetime
	if err := windows.GetProcessTimes(windows.CurrentProcess(), &c, &e, &k, &u); err != nil {
		t.Fatal(err)
	}
	return c.Nanoseconds()
}

func TestEnricherWindows(t *testing.T) {
	var w winEnricher
	ev := etw.Event{Kind: etw.KindStart, Time: time.Now().UnixNano(), Known: etw.FieldPID | etw.FieldCreateTime,
		Proc: etw.Process{PID: uint32(os.Getpid()), CreateTime: ownCreateTime(t)}}
	w.Enrich(&ev)
	if !ev.Has(etw.FieldUserSID) || !strings.HasPrefix(ev.Proc.UserSID, "S-1-5-") {
		t.Errorf("user: %q known %b", ev.Proc.UserSID, ev.Known)
	}
	if !ev.Has(etw.FieldCommandLine) || !strings.Contains(ev.Proc.CommandLine, "test") {
		t.Errorf("command line: %q", ev.Proc.CommandLine)
	}
	// The same PID with another creation time is a reused PID: nothing is
	// read.
	ev2 := etw.Event{Kind: etw.KindStart, Known: etw.FieldPID | etw.FieldCreateTime,
		Proc: etw.Process{PID: uint32(os.Getpid()), CreateTime: ownCreateTime(t) - int64(time.Hour)}}
	w.Enrich(&ev2)
	if ev2.Known != etw.FieldPID|etw.FieldCreateTime {
		t.Errorf("reused PID enriched: %+v", ev2.Proc)
	}
	// A process that does not exist.
	ev3 := etw.Event{Kind: etw.KindStart, Known: etw.FieldPID, Proc: etw.Process{PID: 0xfffffff0}}
	w.Enrich(&ev3)
	if ev3.Known != etw.FieldPID {
		t.Errorf("missing process enriched: %+v", ev3.Proc)
	}
}

// testRecord is an EVENT_RECORD as ProcessTrace hands it to the callback,
// built in Go memory; it keeps the bytes its pointers refer to (the
// extended items hold their addresses as integers, as ETW's do).
type testRecord struct {
	rec   consumer.Record
	data  []byte
	items []consumer.ExtendedDataItem
	ext   [][]byte
}

// testExt is one extended data item of a testRecord.
type testExt struct {
	typ  uint16
	data []byte
}

// newTestRecord returns a record of provider with the descriptor id and
// version, header flags and process ID, the time stamp unixNano (as the
// FILETIME ETW delivers), the user data and the extended items.
func newTestRecord(provider windows.GUID, id uint16, version uint8, flags uint16, pid uint32, unixNano int64, data []byte, ext ...testExt) *testRecord {
	tr := &testRecord{data: data}
	r := &tr.rec
	r.Header.ProviderID = consumer.GUID(provider)
	r.Header.Descriptor.ID = id
	r.Header.Descriptor.Version = version
	r.Header.Flags = flags
	r.Header.ProcessID = pid
	r.Header.TimeStamp = unixNano/100 + 116444736000000000
	if len(data) > 0 {
		r.UserData = unsafe.Pointer(&data[0])
		r.UserDataLength = uint16(len(data))
	}
	for _, e := range ext {
		it := consumer.ExtendedDataItem{ExtType: e.typ, DataSize: uint16(len(e.data))}
		if len(e.data) > 0 {
			it.DataPtr = uint64(uintptr(unsafe.Pointer(&e.data[0])))
		}
		tr.items = append(tr.items, it)
		tr.ext = append(tr.ext, e.data)
	}
	if len(tr.items) > 0 {
		r.ExtendedData = &tr.items[0]
		r.ExtendedDataCount = uint16(len(tr.items))
	}
	return tr
}

// testSensor returns a Sensor with only what the callback uses: a core
// (host WS1), the provider and a decoder.
func testSensor(t *testing.T) *Sensor {
	t.Helper()
	core, _ := testCore(t, Config{}, nil)
	provider, err := windows.GUIDFromString(kernelProcessProvider)
	if err != nil {
		t.Fatal(err)
	}
	return &Sensor{cfg: core.cfg, core: core,
		plat: livePlatform{provider: provider, cbHost: "WS1", kp: newKPDecoder(), gate: newConsumerGate()}}
}

// callbackCounts are the counters the callback moves.
type callbackCounts struct {
	events, foreign, filtered, decodeErrors, partial uint64
}

func countsOf(c *liveCore) callbackCounts {
	return callbackCounts{events: c.c.events.Load(), foreign: c.c.foreign.Load(), filtered: c.c.filtered.Load(),
		decodeErrors: c.c.decodeErrors.Load(), partial: c.c.partial.Load()}
}

// TestCallbackWindows feeds the ETW callback records as ProcessTrace
// hands them over: it filters on the header's provider and descriptor
// ID, decodes UserData for the descriptor's version with the header's
// flags, time stamp and process ID, takes the SID extended item for
// ProcessStart only, and queues exactly what kpDecoder makes of that.
func TestCallbackWindows(t *testing.T) {
	provider, err := windows.GUIDFromString(kernelProcessProvider)
	if err != nil {
		t.Fatal(err)
	}
	other, err := windows.GUIDFromString("{EDD08927-9CC4-4E65-B970-C2560FB5C289}") // Kernel-File
	if err != nil {
		t.Fatal(err)
	}
	const flags64 = kernelproc.HeaderFlag64BitHeader
	ts := mustTime(t, kpHeaderTime)
	sid := testExt{extTypeSID, sidSystem}
	tsID := testExt{extTypeTSID, []byte{1, 0, 0, 0}}
	start4 := readKPFixture(t, "start_v4.hex")
	for _, c := range []struct {
		name string
		rec  *testRecord
		// queued: the event the callback must queue is kpDecoder's for
		// this header (nil: nothing queued).
		queued *kpHeader
		data   []byte
		want   callbackCounts
	}{
		{"start v4", newTestRecord(provider, 1, 4, flags64, 268, ts, start4, tsID, sid),
			&kpHeader{eventID: 1, version: 4, flags: flags64, processID: 268, timeStamp: ts, sid: sidSystem}, start4,
			callbackCounts{events: 1}},
		{"start v0", newTestRecord(provider, 1, 0, flags64, 268, ts, readKPFixture(t, "start_v0.hex"), sid),
			&kpHeader{eventID: 1, version: 0, flags: flags64, processID: 268, timeStamp: ts, sid: sidSystem}, readKPFixture(t, "start_v0.hex"),
			callbackCounts{events: 1}},
		{"stop v2", newTestRecord(provider, 2, 2, flags64, 4, ts, readKPFixture(t, "stop_v2.hex")),
			&kpHeader{eventID: 2, version: 2, flags: flags64, processID: 4, timeStamp: ts}, readKPFixture(t, "stop_v2.hex"),
			callbackCounts{events: 1}},
		// Extended items of other events are not the creator's: ignored.
		{"rundown v1 with a SID item", newTestRecord(provider, 15, 1, flags64, 4, ts, readKPFixture(t, "rundown_v1.hex"), sid),
			&kpHeader{eventID: 15, version: 1, flags: flags64, processID: 4, timeStamp: ts}, readKPFixture(t, "rundown_v1.hex"),
			callbackCounts{events: 1}},
		{"start v4 with an empty SID item", newTestRecord(provider, 1, 4, flags64, 268, ts, start4, testExt{extTypeSID, nil}),
			&kpHeader{eventID: 1, version: 4, flags: flags64, processID: 268, timeStamp: ts}, start4,
			callbackCounts{events: 1}},
		{"foreign provider", newTestRecord(other, 1, 4, flags64, 268, ts, start4, sid), nil, nil,
			callbackCounts{foreign: 1}},
		{"unwanted event ID", newTestRecord(provider, 5, 0, flags64, 268, ts, start4), nil, nil,
			callbackCounts{filtered: 1}},
		{"string-only data", newTestRecord(provider, 1, 4, flags64|eventHeaderFlagStringOnly, 268, ts, start4), nil, nil,
			callbackCounts{decodeErrors: 1}},
		{"truncated data", newTestRecord(provider, 1, 4, flags64, 268, ts, start4[:10], sid), nil, nil,
			callbackCounts{decodeErrors: 1}},
		{"no user data", newTestRecord(provider, 1, 4, flags64, 268, ts, nil, sid), nil, nil,
			callbackCounts{decodeErrors: 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := testSensor(t)
			l.callback(&c.rec.rec)
			if got := countsOf(l.core); got != c.want {
				t.Errorf("counters %+v, want %+v", got, c.want)
			}
			var got etw.Event
			queued := l.core.q.Pop(&got)
			if c.queued == nil {
				if queued {
					t.Fatalf("queued %+v", got)
				}
				return
			}
			if !queued {
				t.Fatal("nothing queued")
			}
			var want etw.Event
			if _, err := newKPDecoder().decode(c.queued, c.data, "WS1", &want); err != nil {
				t.Fatalf("reference decode: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("queued\n %+v\nwant\n %+v", got, want)
			}
			// What the header carries, said outright.
			if got.Time != ts || got.Host != "WS1" {
				t.Errorf("time %v host %q", etw.TimeOf(got.Time), got.Host)
			}
			if c.queued.eventID == eventProcessStart {
				if got.Proc.CreatorPID != 268 {
					t.Errorf("creator PID %d", got.Proc.CreatorPID)
				}
				if wantSID := c.queued.sid != nil; got.Has(etw.FieldCreatorSID) != wantSID || (wantSID && got.Proc.CreatorSID != "S-1-5-18") {
					t.Errorf("creator SID %q known %v", got.Proc.CreatorSID, got.Has(etw.FieldCreatorSID))
				}
			}
			if l.core.q.Pop(&got) {
				t.Errorf("a second event queued: %+v", got)
			}
		})
	}
}

// TestCallbackAllocsWindows: once the decoder's caches hold the image and
// the SID, the callback (decode and enqueue) does not allocate.
func TestCallbackAllocsWindows(t *testing.T) {
	provider, err := windows.GUIDFromString(kernelProcessProvider)
	if err != nil {
		t.Fatal(err)
	}
	const flags64 = kernelproc.HeaderFlag64BitHeader
	ts := mustTime(t, kpHeaderTime)
	sid := testExt{extTypeSID, sidSystem}
	for _, c := range []struct {
		name string
		rec  *testRecord
	}{
		{"start v4", newTestRecord(provider, 1, 4, flags64, 268, ts, readKPFixture(t, "start_v4.hex"), sid, testExt{extTypeTSID, []byte{1, 0, 0, 0}})},
		{"stop v2", newTestRecord(provider, 2, 2, flags64, 4, ts, readKPFixture(t, "stop_v2.hex"))},
		{"rundown v3", newTestRecord(provider, 15, 3, flags64, 4, ts, readKPFixture(t, "rundown_v3.hex"))},
		{"foreign", newTestRecord(windows.GUID{Data1: 1}, 1, 4, flags64, 268, ts, readKPFixture(t, "start_v4.hex"), sid)},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := testSensor(t)
			var ev etw.Event
			l.callback(&c.rec.rec) // fills the caches
			l.core.q.Pop(&ev)
			n := testing.AllocsPerRun(1000, func() {
				l.callback(&c.rec.rec)
				l.core.q.Pop(&ev)
			})
			if n != 0 {
				t.Errorf("%.2f allocations per event", n)
			}
		})
	}
}

// closeLog records the order of Close calls across fake closers.
type closeLog struct {
	calls []string
	logs  []string
}

// fakeCloser is a controller or consumer that records its Close.
type fakeCloser struct {
	name string
	log  *closeLog
	err  error
}

func (f *fakeCloser) Close() error {
	f.log.calls = append(f.log.calls, f.name)
	return f.err
}

// TestTraceRunWindows: closing a run closes the consumer's trace handle
// (CloseTrace) before stopping the session, once, whatever either
// returns; stopAndWait returns Process's result, or errProcessStuck
// (logged) when Process does not return in time.
func TestTraceRunWindows(t *testing.T) {
	errClose := errors.New("close failed")
	errProcess := errors.New("ProcessTrace failed")
	for _, c := range []struct {
		name            string
		consErr, ctlErr error
		// processed: what Process returned (queued on done before
		// stopAndWait); stuck: it never returns.
		processed error
		stuck     bool
		wantErr   error
		wantLogs  int
	}{
		{name: "closed cleanly", wantErr: nil},
		{name: "process failed", processed: errProcess, wantErr: errProcess},
		{name: "both closes fail", consErr: errClose, ctlErr: errClose, wantLogs: 2},
		{name: "process stuck", stuck: true, wantErr: errProcessStuck, wantLogs: 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			var log closeLog
			r := &traceRun{
				cons: &fakeCloser{name: "CloseTrace", log: &log, err: c.consErr},
				ctl:  &fakeCloser{name: "stop session", log: &log, err: c.ctlErr},
				done: make(chan error, 1),
				logf: func(f string, a ...any) { log.logs = append(log.logs, fmt.Sprintf(f, a...)) },
			}
			if !c.stuck {
				r.done <- c.processed
			}
			err := r.stopAndWait(time.Millisecond)
			if c.wantErr == nil && err != nil || c.wantErr != nil && !errors.Is(err, c.wantErr) {
				t.Errorf("stopAndWait: %v, want %v", err, c.wantErr)
			}
			r.stop() // a second stop closes nothing again
			if want := []string{"CloseTrace", "stop session"}; !reflect.DeepEqual(log.calls, want) {
				t.Errorf("calls %q, want %q", log.calls, want)
			}
			if len(log.logs) != c.wantLogs {
				t.Errorf("logged %q, want %d lines", log.logs, c.wantLogs)
			}
		})
	}
}

// TestStopReasonWindows: how a returned Process becomes the sensor.blind
// reason; ErrBusy (a second ProcessTrace for the name) says so.
func TestStopReasonWindows(t *testing.T) {
	l := testSensor(t)
	name := l.cfg.SessionName
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"stopped from outside", nil, "ETW session " + name + " stopped from outside"},
		{"busy", fmt.Errorf("ETW consumer of session %q: %w", name, consumer.ErrBusy),
			"ETW session " + name + " not consumed: another ProcessTrace still runs for it in this process"},
		{"failed", errors.New("ProcessTrace: boom"), "ETW session " + name + " stopped: ProcessTrace: boom"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := l.stopReason(c.err); got != c.want {
				t.Errorf("%q, want %q", got, c.want)
			}
		})
	}
}

// TestKPDecoderSIDWindows: the decoder's SID rendering agrees with
// Windows' own, and its cache does not allocate.
func TestKPDecoderSIDWindows(t *testing.T) {
	k := newKPDecoder()
	for _, s := range []string{"S-1-5-18", "S-1-5-21-1004336348-1177238915-682003330-512", "S-1-16-12288"} {
		sid, err := windows.StringToSid(s)
		if err != nil {
			t.Fatal(err)
		}
		b := unsafe.Slice((*byte)(unsafe.Pointer(sid)), windows.GetLengthSid(sid))
		if got := k.sidString(b); got != sid.String() || got != s {
			t.Errorf("sidString %q, Windows %q", got, sid.String())
		}
		if n := testing.AllocsPerRun(100, func() { k.sidString(b) }); n != 0 {
			t.Errorf("cached sidString allocates %.1f times", n)
		}
	}
}

func TestRegistryReadWindows(t *testing.T) {
	sets, err := controlSets()
	if err != nil {
		t.Fatal(err)
	}
	if len(sets) == 0 || sets[0] != "CurrentControlSet" {
		t.Fatalf("control sets %q", sets)
	}
	st := regState{}
	readControlSet("CurrentControlSet", st, make([]byte, 16))
	for _, v := range st {
		if !strings.HasPrefix(v.Key, `HKLM\SYSTEM\CurrentControlSet\Control\Session Manager`) {
			t.Errorf("key %q", v.Key)
		}
	}
	t.Logf("%d watched values in CurrentControlSet", len(st))
}

// TestLiveRunWindows starts the whole sensor for a moment: whatever ETW
// does (a real session as administrator; an error without rights or
// under wine's stub), the handler gets the boot evidence and the snapshot
// first, and Run returns promptly once cancelled.
func TestLiveRunWindows(t *testing.T) {
	var logMu sync.Mutex
	l, err := New(Config{SessionName: "smsswatch-test", RestartMin: 50 * time.Millisecond, RestartMax: 100 * time.Millisecond,
		Logf: func(f string, a ...any) { logMu.Lock(); t.Logf(f, a...); logMu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	if l.SystemRoot() == "" || len(l.Devices()) == 0 || l.Host() == "" {
		t.Fatalf("New: root %q devices %v host %q", l.SystemRoot(), l.Devices(), l.Host())
	}
	h := &recHandler{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx, h) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		evs, _, _ := h.snapshot()
		if len(evs) > 1 {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatal("no snapshot within 20 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	evs, blinds, advances := h.snapshot()
	if evs[0].Kind != etw.KindBoot || !evs[0].Has(etw.FieldBootTime) || evs[0].Boot.SystemRoot == "" {
		t.Errorf("first event %+v", evs[0])
	}
	self := false
	for _, ev := range evs {
		if ev.Kind == etw.KindRunning && ev.Proc.PID == uint32(os.Getpid()) {
			self = true
		}
	}
	if !self {
		t.Error("own process not reported as running")
	}
	if advances == 0 {
		t.Error("the handler's clock never advanced")
	}
	t.Logf("%d events, blind: %q, stats %+v", len(evs), blinds, l.Stats())
}
