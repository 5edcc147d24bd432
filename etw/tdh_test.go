package etw

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// tdhFixture is one file of testdata/tdh: a Kernel-Process event as
// github.com/bi-zone/etw hands it over (header fields and the TDH property
// map, every value a string), and the event it must decode to.
type tdhFixture struct {
	Name   string `json:"name"`
	Header struct {
		ID      uint16  `json:"id"`
		Version uint8   `json:"version"`
		PID     uint32  `json:"pid"`
		Time    string  `json:"time"`
		SID     string  `json:"sid"`
		TS      *uint32 `json:"ts"`
	} `json:"header"`
	Props map[string]interface{} `json:"props"`
	Want  map[string]interface{} `json:"want"`
}

func mustTime(t *testing.T, s string) int64 {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("bad time %q: %v", s, err)
	}
	return tm.UnixNano()
}

// eventView renders the known fields of a process event with the fixture
// names (numbers as float64, as encoding/json decodes them).
func eventView(ev *Event) map[string]interface{} {
	m := map[string]interface{}{"kind": ev.Kind.String(), "time": TimeOf(ev.Time).Format(time.RFC3339Nano)}
	p := &ev.Proc
	num := func(f Field, name string, v uint32) {
		if ev.Has(f) {
			m[name] = float64(v)
		}
	}
	str := func(f Field, name, v string) {
		if ev.Has(f) {
			m[name] = v
		}
	}
	tm := func(f Field, name string, v int64) {
		if ev.Has(f) {
			m[name] = TimeOf(v).Format(time.RFC3339Nano)
		}
	}
	num(FieldPID, "pid", p.PID)
	num(FieldParentPID, "ppid", p.ParentPID)
	num(FieldCreatorPID, "creator_pid", p.CreatorPID)
	num(FieldSession, "session", p.Session)
	num(FieldExitCode, "exit_code", p.ExitCode)
	str(FieldImage, "image", p.Image)
	str(FieldParentImage, "parent_image", p.ParentImage)
	str(FieldCommandLine, "cmdline", p.CommandLine)
	str(FieldUserSID, "user_sid", p.UserSID)
	str(FieldCreatorSID, "creator_sid", p.CreatorSID)
	str(FieldKey, "key", p.Key)
	str(FieldParentKey, "parent_key", p.ParentKey)
	tm(FieldCreateTime, "create_time", p.CreateTime)
	tm(FieldExitTime, "exit_time", p.ExitTime)
	return m
}

func (f *tdhFixture) header(t *testing.T) TDHHeader {
	h := TDHHeader{EventID: f.Header.ID, Version: f.Header.Version, ProcessID: f.Header.PID,
		TimeStamp: mustTime(t, f.Header.Time), UserSID: f.Header.SID}
	if f.Header.TS != nil {
		h.TerminalSession, h.HasTerminalSession = *f.Header.TS, true
	}
	return h
}

func TestDecodeKernelProcessFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/tdh/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	versions := map[string]bool{}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var f tdhFixture
			if err := json.Unmarshal(data, &f); err != nil {
				t.Fatal(err)
			}
			h := f.header(t)
			versions[strings.SplitN(f.Name, ":", 2)[0]] = true
			var ev Event
			if err := DecodeKernelProcess(&h, f.Props, "WS1", &ev); err != nil {
				t.Fatalf("%s: %v", f.Name, err)
			}
			if ev.Source != SourceETW || ev.Host != "WS1" {
				t.Errorf("source %v host %q", ev.Source, ev.Host)
			}
			got := eventView(&ev)
			// Normalise the fixture's times to the same rendering.
			for _, k := range []string{"time", "create_time", "exit_time"} {
				if s, ok := f.Want[k].(string); ok {
					f.Want[k] = TimeOf(mustTime(t, s)).Format(time.RFC3339Nano)
				}
			}
			if !reflect.DeepEqual(got, f.Want) {
				t.Errorf("%s\n got  %v\n want %v", f.Name, got, f.Want)
			}
		})
	}
	for _, v := range []string{"ProcessStart v0", "ProcessStart v1", "ProcessStart v2", "ProcessStart v3",
		"ProcessStart v4", "ProcessStart v5", "ProcessStop v0", "ProcessStop v1", "ProcessStop v2",
		"ProcessRundown v0", "ProcessRundown v1"} {
		found := false
		for name := range versions {
			if strings.HasPrefix(name, v) {
				found = true
			}
		}
		if !found {
			t.Errorf("no fixture for %s", v)
		}
	}
}

func TestDecodeKernelProcessErrors(t *testing.T) {
	h := TDHHeader{EventID: EventProcessStart, ProcessID: 4, TimeStamp: 1}
	var ev Event
	for _, c := range []struct {
		name  string
		h     TDHHeader
		props map[string]interface{}
	}{
		{"other event", TDHHeader{EventID: 3}, map[string]interface{}{"ProcessID": "1"}},
		{"no pid", h, map[string]interface{}{"ImageName": "x"}},
		{"pid not a string", h, map[string]interface{}{"ProcessID": []interface{}{"1"}}},
		{"pid garbage", h, map[string]interface{}{"ProcessID": "12a"}},
		{"pid too big", h, map[string]interface{}{"ProcessID": "4294967296"}},
		{"nil map", h, nil},
	} {
		err := DecodeKernelProcess(&c.h, c.props, "", &ev)
		if err == nil || !errors.Is(err, ErrTDHRecord) {
			t.Errorf("%s: err = %v, want ErrTDHRecord", c.name, err)
		}
	}
	// Broken optional fields are unknown, not errors.
	props := map[string]interface{}{"ProcessID": "8", "ParentProcessID": "x", "SessionID": "-1",
		"CreateTime": "yesterday", "ImageName": "  ", "ProcessSequenceNumber": "0",
		"ParentProcessSequenceNumber": map[string]interface{}{}}
	if err := DecodeKernelProcess(&h, props, "", &ev); err != nil {
		t.Fatal(err)
	}
	if want := FieldPID | FieldCreatorPID; ev.Known != want {
		t.Errorf("known = %b, want %b", ev.Known, want)
	}
}

func TestWantKernelProcessEvent(t *testing.T) {
	for id := uint16(0); id < 100; id++ {
		want := id == 1 || id == 2 || id == 15
		if WantKernelProcessEvent(id) != want {
			t.Errorf("WantKernelProcessEvent(%d) = %v", id, !want)
		}
	}
}

func TestParseTDHUint(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0", 0, true}, {"4242", 4242, true}, {" 12824", 12824, true}, {"12824 ", 12824, true},
		{"0x23D2D", 0x23d2d, true}, {"0XFF", 255, true}, {"0xc0000005", 0xc0000005, true},
		{"\u200e42\u200e", 42, true}, {"18446744073709551615", 1<<64 - 1, true},
		{"18446744073709551616", 0, false}, {"0x", 0, false}, {"", 0, false}, {"-1", 0, false},
		{"1,234", 0, false}, {"12 34", 0, false}, {"0x1g", 0, false}, {"0x10000000000000000", 0, false},
	} {
		got, ok := parseTDHUint(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("parseTDHUint(%q) = %d, %v; want %d, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestParseTDHTime(t *testing.T) {
	base := time.Date(2026, 3, 16, 0, 21, 34, 692334100, time.UTC).UnixNano()
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"2026-03-16T00:21:34.692334100Z", base, true},
		{"2026-03-16T00:21:34.6923341Z", base, true},
		{"2026-03-16T00:21:34.6923341", base, true},
		{"2026-03-16 00:21:34.6923341", base, true},
		{" 2026-03-16T00:21:34.6923341Z ", base, true},
		{"\u200e2026\u200e-\u200e03\u200e-\u200e16T00:21:34.692334100Z", base, true},
		{"2026-03-16T01:21:34.6923341+01:00", base, true},
		{"2026-03-15T23:21:34.6923341-01:00", base, true},
		{"2026-03-16T00:21:34.6923341 Z", base, true},
		{"2026-03-16T00:21:34.69233410099Z", base, true},
		{"2026-03-16T00:21:34Z", time.Date(2026, 3, 16, 0, 21, 34, 0, time.UTC).UnixNano(), true},
		{"134180940946923341", base, true}, // FILETIME ticks
		{"1601-01-01T00:00:00.000Z", 0, false},
		{"0", 0, false},
		{"2026-02-30T00:00:00Z", 0, false},
		{"2024-02-29T00:00:00Z", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC).UnixNano(), true},
		{"2026-13-01T00:00:00Z", 0, false},
		{"2026-03-16T24:00:00Z", 0, false},
		{"2026-03-16T00:21:34.Z", 0, false},
		{"2026-03-16T00:21:34Zjunk", 0, false},
		{"2026-03-16", 0, false},
		{"3/16/2026 12:21:34 AM", 0, false},
		{"", 0, false},
		{"\u200e", 0, false},
	} {
		got, ok := ParseTDHTime(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("ParseTDHTime(%q) = %v, %v; want %v, %v", c.in, TimeOf(got), ok, TimeOf(c.want), c.ok)
		}
	}
}

func TestDecodeKernelProcessNoAllocs(t *testing.T) {
	h := TDHHeader{EventID: EventProcessStart, Version: 3, ProcessID: 10736, TimeStamp: 1, UserSID: "S-1-5-18"}
	props := map[string]interface{}{
		"ProcessID": " 12824", "ProcessSequenceNumber": "11445", "CreateTime": "2026-03-16T00:21:34.692334100Z",
		"ParentProcessID": " 10736", "ParentProcessSequenceNumber": "11430", "SessionID": " 1",
		"ImageName": `\Device\HarddiskVolume4\Windows\System32\smss.exe`,
	}
	var ev Event
	allocs := testing.AllocsPerRun(200, func() {
		if err := DecodeKernelProcess(&h, props, "WS1", &ev); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("DecodeKernelProcess allocates %.1f times", allocs)
	}
}

// FuzzDecodeKernelProcess feeds arbitrary renderings: the decoder must not
// panic, must only fail with ErrTDHRecord, and must keep its invariants.
func FuzzDecodeKernelProcess(f *testing.F) {
	f.Add(uint16(1), uint32(4), "268", "2024-05-02T07:59:58.12Z", "4", "0", `\Device\HarddiskVolume2\Windows\System32\smss.exe`, "38", "1", "S-1-5-18")
	f.Add(uint16(2), uint32(392), "392", "2024-05-02T08:00:00.9999999Z", "0x0", "0", "smss.exe", "0", "", "")
	f.Add(uint16(15), uint32(4), " 12824", "\u200e2026\u200e-03-16 00:21:34", "", "4294967295", "", "0x2c", "x", "")
	f.Add(uint16(7), uint32(0), "", "", "", "", "", "", "", "")
	f.Fuzz(func(t *testing.T, id uint16, hpid uint32, pid, tm, ppid, session, image, seq, pseq, sid string) {
		h := TDHHeader{EventID: id, ProcessID: hpid, TimeStamp: 1700000000000000000, UserSID: sid}
		props := map[string]interface{}{"ProcessID": pid, "CreateTime": tm, "ExitTime": tm, "ParentProcessID": ppid,
			"SessionID": session, "ImageName": image, "ProcessSequenceNumber": seq,
			"ParentProcessSequenceNumber": pseq, "ExitCode": ppid}
		var ev Event
		err := DecodeKernelProcess(&h, props, "h", &ev)
		if err != nil {
			if !errors.Is(err, ErrTDHRecord) {
				t.Fatalf("error %v does not wrap ErrTDHRecord", err)
			}
			return
		}
		if !WantKernelProcessEvent(id) || !ev.Has(FieldPID) || ev.Time != h.TimeStamp || ev.Source != SourceETW {
			t.Fatalf("bad event %+v for id %d", ev, id)
		}
		switch ev.Kind {
		case KindStart:
			if !ev.Has(FieldCreatorPID) || ev.Proc.CreatorPID != hpid {
				t.Fatal("start without creator")
			}
		case KindExit:
			if ev.Known&(FieldImage|FieldParentPID|FieldCreatorPID) != 0 || !ev.Has(FieldExitTime) {
				t.Fatalf("exit fields %b", ev.Known)
			}
		case KindRunning:
			if ev.Known&(FieldCreatorPID|FieldCreatorSID) != 0 {
				t.Fatal("rundown with a creator")
			}
		default:
			t.Fatalf("kind %v", ev.Kind)
		}
		if ev.Has(FieldKey) && (ev.Proc.Key == "" || !isDigits(ev.Proc.Key) || ev.Proc.Key == "0") {
			t.Fatalf("key %q", ev.Proc.Key)
		}
		if ev.Has(FieldImage) && (ev.Proc.Image == "" || ev.Proc.Image != trimTDH(ev.Proc.Image)) {
			t.Fatalf("image %q", ev.Proc.Image)
		}
	})
}

// FuzzParseTDHTime checks that an accepted time is in range and that its
// canonical rendering parses back to the same instant.
func FuzzParseTDHTime(f *testing.F) {
	for _, s := range []string{"2026-03-16T00:21:34.692334100Z", "\u200e2024\u200e-02-29 23:59:60.5+14:00",
		"134180796946923341", "1601-01-01T00:00:00Z", "9999-12-31T23:59:59Z"} {
		f.Add(s)
	}
	lo := time.Date(1969, 12, 30, 0, 0, 0, 0, time.UTC).UnixNano()
	f.Fuzz(func(t *testing.T, s string) {
		v, ok := ParseTDHTime(s)
		if !ok {
			return
		}
		if v < lo {
			t.Fatalf("%q -> %d before 1970", s, v)
		}
		back, ok := ParseTDHTime(TimeOf(v).Format("2006-01-02T15:04:05.000000000Z"))
		if !ok || back != v {
			t.Fatalf("%q -> %v does not round-trip (%v %v)", s, TimeOf(v), TimeOf(back), ok)
		}
	})
}
