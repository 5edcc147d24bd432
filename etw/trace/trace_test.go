package trace

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/smsswatch/smsswatch/etw"

	"github.com/smsswatch/smsswatch/etw/textparse"
)

func sampleEvents() []etw.Event {
	start := etw.Event{Time: 1762070417000000000, Kind: etw.KindStart, Source: etw.SourceETW, Host: "WS01",
		Known: etw.FieldPID | etw.FieldParentPID | etw.FieldCreatorPID | etw.FieldSession | etw.FieldImage | etw.FieldParentImage | etw.FieldCommandLine |
			etw.FieldUserSID | etw.FieldUserName | etw.FieldCreatorSID | etw.FieldCreateTime | etw.FieldKey | etw.FieldParentKey}
	start.Proc = etw.Process{PID: 500, ParentPID: 404, CreatorPID: 404, Session: 0, Image: `\Device\HarddiskVolume3\Windows\System32\smss.exe`,
		ParentImage: `C:\Windows\System32\smss.exe`, CommandLine: "\\SystemRoot\\System32\\smss.exe 000000c8 00000084 \"quoted\"\n\x1b[31m",
		UserSID: "S-1-5-18", UserName: `NT AUTHORITY\SYSTEM`, CreatorSID: "S-1-5-18", CreateTime: 1762070417000000001, Key: "1003", ParentKey: "1001"}
	zero := etw.Event{Time: 1, Kind: etw.KindExit, Source: etw.SourceSecurity, Host: "", Known: etw.FieldPID | etw.FieldExitCode | etw.FieldExitTime}
	zero.Proc = etw.Process{PID: 0, ExitCode: 0, ExitTime: 1}
	reg := etw.Event{Time: 5, Kind: etw.KindRegistry, Source: etw.SourceSysmon, Host: "H", Known: etw.FieldPID | etw.FieldImage}
	reg.Reg = etw.Registry{Op: etw.RegOpSetValue, PID: 4424, Image: `C:\Windows\System32\reg.exe`, Key: `HKLM\System\CurrentControlSet\Control\Session Manager`, Value: "BootExecute", Data: "autocheck autochk * evil"}
	boot := etw.Event{Time: 7, Kind: etw.KindBoot, Source: etw.SourceSystem, Host: "H", Known: etw.FieldBootTime}
	boot.Boot = etw.Boot{BootTime: 3, SystemRoot: `C:\Windows`, SystemDevice: `\Device\HarddiskVolume3`}
	return []etw.Event{start, zero, reg, boot}
}

func TestTraceRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	in := sampleEvents()
	for i := range in {
		if err := w.Write(&in[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if !json.Valid([]byte(line)) {
			t.Fatalf("invalid JSON line %q", line)
		}
	}
	r := NewReader(&buf, "mem", etw.SkipFunc(func(f string, n int64, why string) { t.Errorf("%s:%d: %s", f, n, why) }))
	for i := range in {
		var got etw.Event
		if err := r.Next(&got); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if got != in[i] {
			t.Fatalf("event %d:\n got %+v\nwant %+v", i, got, in[i])
		}
	}
	var ev etw.Event
	if err := r.Next(&ev); !errors.Is(err, io.EOF) {
		t.Fatalf("want EOF, got %v", err)
	}
}

func TestTraceReaderSkipsBadLines(t *testing.T) {
	cases := []struct {
		name, line, reason string
	}{
		{"not JSON", `hello`, "malformed JSON"},
		{"truncated", `{"v":1,"time":"2026-11-02T08:00:00Z"`, "malformed JSON"},
		{"no version", `{"time":"2026-11-02T08:00:00Z","kind":"start","source":"etw"}`, `no "v"`},
		{"future version", `{"v":2,"time":"2026-11-02T08:00:00Z","kind":"start","source":"etw"}`, "version 2"},
		{"bad time", `{"v":1,"time":"yesterday","kind":"start","source":"etw"}`, `bad "time"`},
		{"no time", `{"v":1,"kind":"start","source":"etw"}`, `no "time"`},
		{"bad kind", `{"v":1,"time":"2026-11-02T08:00:00Z","kind":"spawn","source":"etw"}`, `unknown "kind"`},
		{"bad source", `{"v":1,"time":"2026-11-02T08:00:00Z","kind":"start","source":"edr"}`, `unknown "source"`},
		{"pid too large", `{"v":1,"time":"2026-11-02T08:00:00Z","kind":"start","source":"etw","pid":4294967296}`, `bad "pid"`},
		{"negative pid", `{"v":1,"time":"2026-11-02T08:00:00Z","kind":"start","source":"etw","pid":-4}`, `bad "pid"`},
		{"registry without op", `{"v":1,"time":"2026-11-02T08:00:00Z","kind":"registry","source":"sysmon"}`, `without "op"`},
		{"binary", "\x00\x01\xff{", "malformed JSON"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var reasons []string
			var lines []int64
			input := tc.line + "\n" + `{"v":1,"time":"2026-11-02T08:00:00Z","kind":"exit","source":"etw","pid":8}` + "\n"
			r := NewReader(strings.NewReader(input), "t.jsonl", etw.SkipFunc(func(f string, n int64, why string) {
				reasons, lines = append(reasons, why), append(lines, n)
			}))
			var ev etw.Event
			if err := r.Next(&ev); err != nil {
				t.Fatal(err)
			}
			if ev.Proc.PID != 8 {
				t.Fatalf("the good line after the bad one was not read: %+v", ev)
			}
			if len(reasons) != 1 || lines[0] != 1 || !strings.Contains(reasons[0], tc.reason) {
				t.Fatalf("skips %v at %v, want one at line 1 containing %q", reasons, lines, tc.reason)
			}
		})
	}
}

func TestTraceReaderLongLine(t *testing.T) {
	long := `{"v":1,"time":"2026-11-02T08:00:00Z","kind":"start","source":"etw","cmdline":"` + strings.Repeat("A", textparse.MaxLine) + `"}`
	input := long + "\n" + `{"v":1,"time":"2026-11-02T08:00:00Z","kind":"exit","source":"etw","pid":8}` + "\n"
	skipped := 0
	r := NewReader(strings.NewReader(input), "t", etw.SkipFunc(func(string, int64, string) { skipped++ }))
	var ev etw.Event
	if err := r.Next(&ev); err != nil || ev.Proc.PID != 8 || skipped != 1 {
		t.Fatalf("err %v pid %d skipped %d", err, ev.Proc.PID, skipped)
	}
	// A 10 MB line within the limit is read.
	ten := `{"v":1,"time":"2026-11-02T08:00:00Z","kind":"start","source":"etw","cmdline":"` + strings.Repeat("B", 10<<20) + `"}` + "\n"
	r = NewReader(strings.NewReader(ten), "t", nil)
	if err := r.Next(&ev); err != nil || len(ev.Proc.CommandLine) != 10<<20 {
		t.Fatalf("10 MB line: %v", err)
	}
}

func TestParseTraceTime(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1970-01-01T00:00:00Z", 0, true},
		{"1970-01-01T00:00:01.5Z", 1500000000, true},
		{"1970-01-01T00:00:00.000000001Z", 1, true},
		{"1970-01-01T01:00:00+01:00", 0, true},
		{"1970-01-01T00:00:00.Z", 0, false},
		{"1970-13-01T00:00:00Z", 0, false},
		{"1970-01-01T00:00:00.1234567890Z", 123456789, true}, // digits past the ninth dropped (textparse.Time)
		{"1970-01-01T00:00:00", 0, false},                    // no zone
		{"1970-02-29T00:00:00Z", 0, false},
		{"", 0, false},
	}
	for _, tc := range cases {
		got, ok := parseTraceTime([]byte(tc.in))
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("%q: got %d %v", tc.in, got, ok)
		}
	}
}

// FuzzDecodeLine: any line decodes or is rejected with a reason,
// never a panic; what decodes re-encodes to valid JSON that decodes to
// the same event.
func FuzzDecodeLine(f *testing.F) {
	var buf []byte
	for _, ev := range sampleEvents() {
		buf = appendEvent(buf[:0], &ev)
		f.Add(append([]byte(nil), buf...))
	}
	f.Add([]byte(`{"v":1,"time":"2026-11-02T08:00:00Z","kind":"start","source":"etw","image":"\ud800x\u00e9"}`))
	f.Add([]byte(`{"v":1,"a":{"b":[1,{"c":"}"}]},"time":"2026-11-02T08:00:00Z","kind":"boot","source":"system"}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		var ev etw.Event
		if reason := decodeLine(line, &ev); reason != "" {
			return
		}
		out := appendEvent(nil, &ev)
		if !json.Valid(out) {
			t.Fatalf("re-encoded line is not JSON: %q", out)
		}
		var again etw.Event
		if reason := decodeLine(out, &again); reason != "" {
			t.Fatalf("re-encoded line rejected (%s): %q", reason, out)
		}
		out2 := appendEvent(nil, &again)
		if !bytes.Equal(out, out2) {
			t.Fatalf("not stable:\n%q\n%q", out, out2)
		}
	})
}
