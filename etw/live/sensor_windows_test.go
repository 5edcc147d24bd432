//go:build windows && cgo

package live

import (
	"context"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/smsswatch/smsswatch/etw"

	bizetw "github.com/bi-zone/etw"
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

// TestBizEventLayoutWindows pins the record accessor to the compiled
// github.com/bi-zone/etw: Event is {Header EventHeader; eventRecord
// *EVENT_RECORD}, and bizEvent's record field sits where eventRecord does.
func TestBizEventLayoutWindows(t *testing.T) {
	typ := reflect.TypeOf(bizetw.Event{})
	if typ.NumField() != 2 {
		t.Fatalf("bi-zone Event has %d fields", typ.NumField())
	}
	h, r := typ.Field(0), typ.Field(1)
	if h.Name != "Header" || h.Type != reflect.TypeOf(bizetw.EventHeader{}) || h.Offset != 0 {
		t.Errorf("field 0: %s %v at %d", h.Name, h.Type, h.Offset)
	}
	if r.Name != "eventRecord" || r.Type.Kind() != reflect.Pointer || r.Offset != unsafe.Offsetof(bizEvent{}.record) {
		t.Errorf("field 1: %s %v at %d, mirror at %d", r.Name, r.Type, r.Offset, unsafe.Offsetof(bizEvent{}.record))
	}
	if r.Type.Elem().Size() != unsafe.Sizeof(eventRecordRaw{}) {
		t.Errorf("C EVENT_RECORD is %d bytes, the mirror %d", r.Type.Elem().Size(), unsafe.Sizeof(eventRecordRaw{}))
	}
	// The accessor returns what the field holds.
	var rec eventRecordRaw
	ev := bizEvent{record: &rec}
	if rawRecord((*bizetw.Event)(unsafe.Pointer(&ev))) != &rec {
		t.Error("rawRecord does not return the record")
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
