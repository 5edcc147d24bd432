package winlog

import (
	"testing"

	"github.com/smsswatch/smsswatch/etw"

	"github.com/smsswatch/smsswatch/etw/internal/etwtest"
)

// security4688 is a Windows 10 4688 as NXLog forwards it (UTC-4 forwarder).
func security4688() map[string]string {
	return map[string]string{
		"Channel":           "Security",
		"EventID":           "4688",
		"Hostname":          "DC01.example.test",
		"EventTime":         "2021-03-02 05:20:00",
		"EventReceivedTime": "2021-03-02 05:20:05",
		"@timestamp":        "2021-03-02T09:20:05.120Z",
		"NewProcessId":      "0x9f0",
		"NewProcessName":    `C:\Windows\System32\smss.exe`,
		"ProcessId":         "0x1c4",
		"ParentProcessName": `C:\Windows\System32\smss.exe`,
		"SubjectUserSid":    "S-1-5-18",
		"TargetUserSid":     "S-1-5-21-1-2-3-1001",
		"CommandLine":       `\SystemRoot\System32\smss.exe 000000d4 00000084 `,
	}
}

func TestSecurity4688(t *testing.T) {
	var ev etw.Event
	emit, reason := MapFields(security4688(), &ev)
	if !emit || reason != "" {
		t.Fatalf("emit %v reason %q", emit, reason)
	}
	at := etwtest.NS("2021-03-02 09:20:00")
	want := etw.Event{
		Time: at, Kind: etw.KindStart, Source: etw.SourceSecurity, Host: "DC01.example.test",
		Known: etw.FieldPID | etw.FieldCreateTime | etw.FieldImage | etw.FieldCreatorPID | etw.FieldParentPID | etw.FieldParentImage |
			etw.FieldCreatorSID | etw.FieldUserSID | etw.FieldCommandLine,
		Proc: etw.Process{
			PID: 0x9f0, CreatorPID: 0x1c4, ParentPID: 0x1c4, CreateTime: at,
			Image: `C:\Windows\System32\smss.exe`, ParentImage: `C:\Windows\System32\smss.exe`,
			CreatorSID: "S-1-5-18", UserSID: "S-1-5-21-1-2-3-1001",
			CommandLine: `\SystemRoot\System32\smss.exe 000000d4 00000084 `,
		},
	}
	if ev != want {
		t.Errorf("got  %+v\nwant %+v", ev, want)
	}
}

func TestSecurityFields(t *testing.T) {
	cases := []struct {
		name   string
		fields map[string]string
		check  func(t *testing.T, ev *etw.Event)
		reason string
	}{
		{"boot master: no creator, no parent name, NULL target SID", with(security4688(),
			"ProcessId", del, "ParentProcessName", del, "TargetUserSid", "S-1-0-0", "CommandLine", del),
			func(t *testing.T, ev *etw.Event) {
				if ev.Has(etw.FieldCreatorPID) || ev.Has(etw.FieldParentPID) || ev.Has(etw.FieldParentImage) || ev.Has(etw.FieldUserSID) || ev.Has(etw.FieldCommandLine) {
					t.Errorf("known %b", ev.Known)
				}
				if !ev.Has(etw.FieldCreatorSID) || ev.Proc.CreatorSID != "S-1-5-18" {
					t.Errorf("creator SID %q", ev.Proc.CreatorSID)
				}
			}, ""},
		{"EVTX-style empties are unknown", with(security4688(), "ParentProcessName", "", "CommandLine", "", "SubjectUserSid", "S-1-0-0"),
			func(t *testing.T, ev *etw.Event) {
				if ev.Has(etw.FieldParentImage) || ev.Has(etw.FieldCommandLine) || ev.Has(etw.FieldCreatorSID) {
					t.Errorf("known %b", ev.Known)
				}
			}, ""},
		{"decimal PIDs", with(security4688(), "NewProcessId", "2544", "ProcessId", "452"),
			func(t *testing.T, ev *etw.Event) {
				if ev.Proc.PID != 2544 || ev.Proc.CreatorPID != 452 {
					t.Errorf("%d %d", ev.Proc.PID, ev.Proc.CreatorPID)
				}
			}, ""},
		{"lower-case channel", with(security4688(), "Channel", "security"),
			func(t *testing.T, ev *etw.Event) {
				if ev.Source != etw.SourceSecurity {
					t.Errorf("source %v", ev.Source)
				}
			}, ""},
		{"64-bit hex rendering", with(security4688(), "NewProcessId", "0x00000000000009f0"),
			func(t *testing.T, ev *etw.Event) {
				if ev.Proc.PID != 0x9f0 {
					t.Errorf("pid %#x", ev.Proc.PID)
				}
			}, ""},
		{"no NewProcessId", with(security4688(), "NewProcessId", del), nil, "no NewProcessId"},
		{"bad creator", with(security4688(), "ProcessId", "0x"), nil, `bad ProcessId "0x"`},
		{"no time", with(security4688(), "EventTime", del), nil, "no event time (EventTime or TimeCreated)"},
		{"EVTX time wins", with(security4688(), "TimeCreated", "2021-03-02T09:20:00.5Z"),
			func(t *testing.T, ev *etw.Event) {
				if ev.Time != etwtest.NS("2021-03-02 09:20:00.5") {
					t.Errorf("time %s", etw.TimeOf(ev.Time))
				}
			}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var ev etw.Event
			emit, reason := MapFields(c.fields, &ev)
			if reason != c.reason || emit != (c.reason == "") {
				t.Fatalf("emit %v reason %q, want %q", emit, reason, c.reason)
			}
			if c.check != nil {
				c.check(t, &ev)
			}
		})
	}
}

func TestSecurityExitAndBoot(t *testing.T) {
	base := map[string]string{"Channel": "Security", "Computer": "H", "TimeCreated": "2021-03-02T09:20:01Z"}
	cases := []struct {
		name   string
		fields map[string]string
		want   etw.Event
		reason string
	}{
		{"4689", with(base, "EventID", "4689", "ProcessId", "0x1a0", "ProcessName", `C:\Windows\System32\smss.exe`, "Status", "0xc0000005"),
			etw.Event{Time: etwtest.NS("2021-03-02 09:20:01"), Kind: etw.KindExit, Source: etw.SourceSecurity, Host: "H",
				Known: etw.FieldPID | etw.FieldImage | etw.FieldExitCode | etw.FieldExitTime,
				Proc:  etw.Process{PID: 0x1a0, ExitCode: 0xc0000005, ExitTime: etwtest.NS("2021-03-02 09:20:01"), Image: `C:\Windows\System32\smss.exe`}}, ""},
		{"4689 without status", with(base, "EventID", "4689", "ProcessId", "416"),
			etw.Event{Time: etwtest.NS("2021-03-02 09:20:01"), Kind: etw.KindExit, Source: etw.SourceSecurity, Host: "H",
				Known: etw.FieldPID | etw.FieldExitTime, Proc: etw.Process{PID: 416, ExitTime: etwtest.NS("2021-03-02 09:20:01")}}, ""},
		{"4689 without pid", with(base, "EventID", "4689"), etw.Event{}, "no ProcessId"},
		{"4608", with(base, "EventID", "4608"), etw.Event{Time: etwtest.NS("2021-03-02 09:20:01"), Kind: etw.KindBoot, Source: etw.SourceSecurity, Host: "H"}, ""},
		{"4624 is not read", with(base, "EventID", "4624"), etw.Event{}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var ev etw.Event
			emit, reason := MapFields(c.fields, &ev)
			if reason != c.reason {
				t.Fatalf("reason %q, want %q", reason, c.reason)
			}
			if emit != (c.want.Kind != etw.KindUnknown) {
				t.Fatalf("emit %v", emit)
			}
			if emit && ev != c.want {
				t.Errorf("got  %+v\nwant %+v", ev, c.want)
			}
		})
	}
}

// BenchmarkSecurity4688Line maps one Security 4688 record from an NXLog
// JSON line.
func BenchmarkSecurity4688Line(b *testing.B) {
	line := []byte(`{"Version":2,"Message":"A new process has been created.\r\n\r\nCreator Subject:\r\n\tSecurity ID:\t\tS-1-5-18\r\n\tAccount Name:\t\tWS01$\r\n\r\nProcess Information:\r\n\tNew Process ID:\t\t0x9f0\r\n\tNew Process Name:\tC:\\Windows\\System32\\smss.exe\r\n\tCreator Process ID:\t0x1c4","TargetLogonId":"0x0","SubjectLogonId":"0x3e7","ParentProcessName":"C:\\Windows\\System32\\smss.exe","SourceName":"Microsoft-Windows-Security-Auditing","Hostname":"WS01.example.test","NewProcessId":"0x9f0","NewProcessName":"C:\\Windows\\System32\\smss.exe","EventType":"AUDIT_SUCCESS","EventID":4688,"SubjectUserName":"WS01$","ProcessId":"0x1c4","TargetUserSid":"S-1-0-0","Category":"Process Creation","EventReceivedTime":"2021-03-02 05:20:05","EventTime":"2021-03-02 05:20:00","Channel":"Security","@timestamp":"2021-03-02T09:20:05.120Z","SubjectUserSid":"S-1-5-18","CommandLine":"\\SystemRoot\\System32\\smss.exe 000000d4 00000084 "}`)
	benchLine(b, line, etw.KindStart)
}
