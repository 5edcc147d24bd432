package winlog

import (
	"testing"

	"github.com/smsswatch/smsswatch/etw"

	"github.com/smsswatch/smsswatch/etw/internal/etwtest"

	"github.com/smsswatch/smsswatch/etw/jsonscan"
)

// sysmonStart is a full Sysmon 1 record as NXLog forwards it.
func sysmonStart() map[string]string {
	return map[string]string{
		"Channel":           SysmonChannel,
		"EventID":           "1",
		"Hostname":          "WS01.example.test",
		"EventTime":         "2021-03-02 09:20:00",
		"UtcTime":           "2021-03-02 14:15:01.412",
		"ProcessGuid":       "{1a2b3c4d-0001-0002-0300-00000000aa00}",
		"ProcessId":         "388",
		"Image":             `C:\Windows\System32\smss.exe`,
		"CommandLine":       `\SystemRoot\System32\smss.exe 000000c8 00000084 `,
		"User":              `NT AUTHORITY\SYSTEM`,
		"UserID":            "S-1-5-21-1-2-3-500",
		"TerminalSessionId": "1",
		"ParentProcessGuid": "{1a2b3c4d-0001-0002-0100-00000000aa00}",
		"ParentProcessId":   "4",
		"ParentImage":       "System",
	}
}

func with(m map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "\x00delete" {
			delete(out, kv[i])
			continue
		}
		out[kv[i]] = kv[i+1]
	}
	return out
}

const del = "\x00delete"

func TestSysmonStart(t *testing.T) {
	var ev etw.Event
	emit, reason := MapFields(sysmonStart(), &ev)
	if !emit || reason != "" {
		t.Fatalf("emit %v reason %q", emit, reason)
	}
	want := etw.Event{
		Time:   etwtest.NS("2021-03-02 14:15:01.412"),
		Kind:   etw.KindStart,
		Source: etw.SourceSysmon,
		Host:   "WS01.example.test",
		Known: etw.FieldPID | etw.FieldParentPID | etw.FieldSession | etw.FieldImage | etw.FieldParentImage | etw.FieldUserName |
			etw.FieldCommandLine | etw.FieldCreateTime | etw.FieldKey | etw.FieldParentKey,
		Proc: etw.Process{
			PID: 388, ParentPID: 4, Session: 1,
			CreateTime:  etwtest.NS("2021-03-02 14:15:01.412"),
			Image:       `C:\Windows\System32\smss.exe`,
			ParentImage: "System",
			CommandLine: `\SystemRoot\System32\smss.exe 000000c8 00000084 `,
			UserName:    `NT AUTHORITY\SYSTEM`,
			Key:         "1A2B3C4D-0001-0002-0300-00000000AA00",
			ParentKey:   "1A2B3C4D-0001-0002-0100-00000000AA00",
		},
	}
	if ev != want {
		t.Errorf("got  %+v\nwant %+v", ev, want)
	}
}

func TestSysmonFields(t *testing.T) {
	cases := []struct {
		name   string
		fields map[string]string
		check  func(t *testing.T, ev *etw.Event)
		reason string
		skip   bool // not of interest
	}{
		{"JSON numbers and hex", with(sysmonStart(), "ProcessId", "0x184", "ParentProcessId", "4.0"), func(t *testing.T, ev *etw.Event) {
			if ev.Proc.PID != 388 || ev.Proc.ParentPID != 4 {
				t.Errorf("pids %d %d", ev.Proc.PID, ev.Proc.ParentPID)
			}
		}, "", false},
		{"unknown parent image", with(sysmonStart(), "ParentImage", "?", "ParentProcessGuid", "00000000-0000-0000-0000-000000000000"), func(t *testing.T, ev *etw.Event) {
			if ev.Has(etw.FieldParentImage) || ev.Has(etw.FieldParentKey) || !ev.Has(etw.FieldParentPID) {
				t.Errorf("known %b", ev.Known)
			}
		}, "", false},
		{"missing fields stay unknown", with(sysmonStart(), "User", del, "CommandLine", del, "TerminalSessionId", del, "ParentProcessId", del), func(t *testing.T, ev *etw.Event) {
			if ev.Has(etw.FieldUserName) || ev.Has(etw.FieldCommandLine) || ev.Has(etw.FieldSession) || ev.Has(etw.FieldParentPID) {
				t.Errorf("known %b", ev.Known)
			}
		}, "", false},
		{"empty command line is evidence", with(sysmonStart(), "CommandLine", ""), func(t *testing.T, ev *etw.Event) {
			if !ev.Has(etw.FieldCommandLine) || ev.Proc.CommandLine != "" {
				t.Errorf("command line %q known %v", ev.Proc.CommandLine, ev.Has(etw.FieldCommandLine))
			}
		}, "", false},
		{"record time when UtcTime is missing", with(sysmonStart(), "UtcTime", del, "EventTime", "2021-03-02 14:20:00", "EventReceivedTime", "2021-03-02 14:20:05", "@timestamp", "2021-03-02T14:20:05Z"), func(t *testing.T, ev *etw.Event) {
			if ev.Time != etwtest.NS("2021-03-02 14:20:00") || ev.Has(etw.FieldCreateTime) {
				t.Errorf("time %s known %b", etw.TimeOf(ev.Time), ev.Known)
			}
		}, "", false},
		{"UserID is not the user", with(sysmonStart(), "User", del), func(t *testing.T, ev *etw.Event) {
			if ev.Has(etw.FieldUserName) || ev.Has(etw.FieldUserSID) {
				t.Errorf("user %q %q", ev.Proc.UserName, ev.Proc.UserSID)
			}
		}, "", false},
		{"Computer names the host", with(sysmonStart(), "Hostname", del, "Computer", "PC01"), func(t *testing.T, ev *etw.Event) {
			if ev.Host != "PC01" {
				t.Errorf("host %q", ev.Host)
			}
		}, "", false},
		{"key that is not a GUID is kept", with(sysmonStart(), "ProcessGuid", "weird"), func(t *testing.T, ev *etw.Event) {
			if ev.Proc.Key != "weird" {
				t.Errorf("key %q", ev.Proc.Key)
			}
		}, "", false},
		{"bad PID", with(sysmonStart(), "ProcessId", "12abc"), nil, `bad ProcessId "12abc"`, false},
		{"bad UtcTime", with(sysmonStart(), "UtcTime", "2021-13-02 14:15:01"), nil, `bad UtcTime "2021-13-02 14:15:01"`, false},
		{"bad session", with(sysmonStart(), "TerminalSessionId", "one"), nil, `bad TerminalSessionId "one"`, false},
		{"neither PID nor key", with(sysmonStart(), "ProcessId", del, "ProcessGuid", del), nil, "no ProcessId or ProcessGuid", false},
		{"no EventID", with(sysmonStart(), "EventID", del), nil, "", true},
		{"hex EventID is reported, not taken", with(sysmonStart(), "EventID", "0x1"), nil, `bad EventID "0x1"`, true},
		{"other event", with(sysmonStart(), "EventID", "7"), nil, "", true},
		{"other channel", with(sysmonStart(), "Channel", "Application"), nil, "", true},
		{"channel from provider", with(sysmonStart(), "Channel", del, "SourceName", "Microsoft-Windows-Sysmon"), func(t *testing.T, ev *etw.Event) {
			if ev.Source != etw.SourceSysmon {
				t.Errorf("source %v", ev.Source)
			}
		}, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var ev etw.Event
			emit, reason := MapFields(c.fields, &ev)
			if reason != c.reason {
				t.Fatalf("reason %q, want %q", reason, c.reason)
			}
			if emit != (c.reason == "" && !c.skip) {
				t.Fatalf("emit %v", emit)
			}
			if c.check != nil {
				c.check(t, &ev)
			}
		})
	}
}

func TestSysmonExit(t *testing.T) {
	base := map[string]string{
		"Channel": SysmonChannel, "EventID": "5", "Computer": "PC01",
		"UtcTime": "2019-02-16 10:04:04.211", "ProcessGuid": "365ABB72-E014-5C67-0000-0010FCA01500",
		"ProcessId": "3444", "Image": `C:\Windows\System32\smss.exe`,
	}
	cases := []struct {
		name   string
		fields map[string]string
		pid    bool
	}{
		{"pid and key", base, true},
		{"key alone", with(base, "ProcessId", del), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var ev etw.Event
			emit, reason := MapFields(c.fields, &ev)
			if !emit || reason != "" {
				t.Fatalf("emit %v reason %q", emit, reason)
			}
			if ev.Kind != etw.KindExit || ev.Proc.ExitTime != etwtest.NS("2019-02-16 10:04:04.211") || ev.Time != ev.Proc.ExitTime ||
				ev.Proc.Key != "365ABB72-E014-5C67-0000-0010FCA01500" || ev.Has(etw.FieldPID) != c.pid || !ev.Has(etw.FieldExitTime|etw.FieldKey|etw.FieldImage) {
				t.Errorf("%+v", ev)
			}
		})
	}
}

func TestSysmonRegistry(t *testing.T) {
	reg := func(id, typ, target string, kv ...string) map[string]string {
		m := map[string]string{
			"Channel": SysmonChannel, "EventID": id, "Hostname": "H", "EventType": typ,
			"UtcTime": "2021-03-02 14:15:20.004", "ProcessId": "4", "Image": "System", "TargetObject": target,
		}
		return with(m, kv...)
	}
	const sm = `HKLM\System\CurrentControlSet\Control\Session Manager`
	cases := []struct {
		name                   string
		fields                 map[string]string
		emit                   bool
		op                     etw.RegOp
		key, value, data, newN string
	}{
		{"set value", reg("13", "SetValue", sm+`\BootExecute`, "Details", "autocheck autochk *"), true, etw.RegOpSetValue, sm, "BootExecute", "autocheck autochk *", ""},
		{"default value", reg("13", "SetValue", sm+`\AppCertDlls\(Default)`, "Details", "x.dll"), true, etw.RegOpSetValue, sm + `\AppCertDlls`, "", "x.dll", ""},
		{"sub key value", reg("13", "SetValue", sm+`\SubSystems\Windows`, "Details", "csrss"), true, etw.RegOpSetValue, sm + `\SubSystems`, "Windows", "csrss", ""},
		{"delete value", reg("12", "DeleteValue", sm+`\Environment\NUMBER_OF_PROCESSORS`), true, etw.RegOpDeleteValue, sm + `\Environment`, "NUMBER_OF_PROCESSORS", "", ""},
		{"create the key itself", reg("12", "CreateKey", sm), true, etw.RegOpCreateKey, sm, "", "", ""},
		{"delete sub key", reg("12", "DeleteKey", sm+`\AppCertDlls`), true, etw.RegOpDeleteKey, sm + `\AppCertDlls`, "", "", ""},
		{"rename", reg("14", "RenameKey", sm+`\AppCertDlls`, "NewName", `HKLM\System\CurrentControlSet\Control\Session Manager\AppCertDll`), true, etw.RegOpRename, sm + `\AppCertDlls`, "", "", sm + `\AppCertDll`},
		{"control set 002, any case", reg("13", "SetValue", `HKLM\SYSTEM\ControlSet002\CONTROL\session manager\Execute`), true, etw.RegOpSetValue, `HKLM\SYSTEM\ControlSet002\CONTROL\session manager`, "Execute", "", ""},
		{"raw registry path", reg("13", "SetValue", `\REGISTRY\MACHINE\SYSTEM\ControlSet001\Control\Session Manager\SetupExecute`), true, etw.RegOpSetValue, `\REGISTRY\MACHINE\SYSTEM\ControlSet001\Control\Session Manager`, "SetupExecute", "", ""},
		{"op from event ID", reg("13", "", sm+`\Execute`), true, etw.RegOpSetValue, sm, "Execute", "", ""},
		{"value named Session Manager under Control", reg("13", "SetValue", `HKLM\System\CurrentControlSet\Control\Session Manager`), false, 0, "", "", "", ""},
		{"trailing space is another key", reg("12", "CreateKey", sm+` `), false, 0, "", "", "", ""},
		{"not a control set", reg("12", "CreateKey", `HKLM\Software\Control\Session Manager`), false, 0, "", "", "", ""},
		{"ControlSet with letters", reg("12", "CreateKey", `HKLM\System\ControlSetABC\Control\Session Manager`), false, 0, "", "", "", ""},
		{"run key", reg("13", "SetValue", `HKLM\Software\Microsoft\Windows\CurrentVersion\Run\x`), false, 0, "", "", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var ev etw.Event
			emit, reason := MapFields(c.fields, &ev)
			if reason != "" {
				t.Fatalf("reason %q", reason)
			}
			if emit != c.emit {
				t.Fatalf("emit %v", emit)
			}
			if !emit {
				return
			}
			g := ev.Reg
			if ev.Kind != etw.KindRegistry || g.Op != c.op || g.Key != c.key || g.Value != c.value || g.Data != c.data ||
				g.NewName != c.newN || g.PID != 4 || g.Image != "System" || !ev.Has(etw.FieldPID|etw.FieldImage) ||
				ev.Time != etwtest.NS("2021-03-02 14:15:20.004") {
				t.Errorf("%+v", ev)
			}
		})
	}
	t.Run("unknown EventType of 12", func(t *testing.T) {
		var ev etw.Event
		if emit, reason := MapFields(reg("12", "Frobnicate", sm), &ev); emit || reason != `bad EventType "Frobnicate"` {
			t.Errorf("emit %v reason %q", emit, reason)
		}
	})
	t.Run("unknown EventType elsewhere is not reported", func(t *testing.T) {
		var ev etw.Event
		if emit, reason := MapFields(reg("12", "Frobnicate", `HKLM\Software\x`), &ev); emit || reason != "" {
			t.Errorf("emit %v reason %q", emit, reason)
		}
	})
	t.Run("no TargetObject", func(t *testing.T) {
		var ev etw.Event
		if emit, reason := MapFields(reg("13", "SetValue", ""), &ev); emit || reason != "" {
			t.Errorf("emit %v reason %q", emit, reason)
		}
	})
}

// BenchmarkSysmonStartLine maps one Sysmon 1 record from an NXLog JSON line
// (filter, scan and map, as the reader does for each line of interest).
func BenchmarkSysmonStartLine(b *testing.B) {
	line := []byte(`{"Version":5,"Message":"Process Create:\r\nRuleName: -\r\nUtcTime: 2021-03-02 14:15:01.412\r\nProcessGuid: {1a2b3c4d-0001-0002-0500-00000000aa00}\r\nProcessId: 416\r\nImage: C:\\Windows\\System32\\smss.exe\r\nCommandLine: \\SystemRoot\\System32\\smss.exe 000000c8 00000084 \r\nUser: NT AUTHORITY\\SYSTEM","Hostname":"WS01.example.test","TerminalSessionId":"0","EventType":"INFO","CommandLine":"\\SystemRoot\\System32\\smss.exe 000000c8 00000084 ","IntegrityLevel":"System","EventID":1,"ParentProcessId":"388","ProcessId":"416","ProcessGuid":"{1a2b3c4d-0001-0002-0500-00000000aa00}","Channel":"Microsoft-Windows-Sysmon/Operational","ParentProcessGuid":"{1a2b3c4d-0001-0002-0300-00000000aa00}","SourceName":"Microsoft-Windows-Sysmon","ParentImage":"C:\\Windows\\System32\\smss.exe","EventReceivedTime":"2021-03-02 09:16:47","UtcTime":"2021-03-02 14:15:01.900","EventTime":"2021-03-02 09:16:06","@timestamp":"2021-03-02T14:16:47.698Z","User":"NT AUTHORITY\\SYSTEM","Image":"C:\\Windows\\System32\\smss.exe"}`)
	benchLine(b, line, etw.KindStart)
}

func benchLine(b *testing.B, line []byte, want etw.Kind) {
	var m Mapper
	var rec Record
	var sc jsonscan.Scanner
	var ev etw.Event
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := rec.FillJSON(&sc, line); err != nil {
			b.Fatal(err)
		}
		if emit, reason := m.Map(&rec, &ev); !emit || ev.Kind != want {
			b.Fatal(reason)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
