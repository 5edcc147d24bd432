package winlogbeat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/smsswatch/smsswatch/etw"
	"github.com/smsswatch/smsswatch/etw/internal/etwtest"
	"github.com/smsswatch/smsswatch/etw/winlog"
)

// wlbRow is what TestWinlogbeatReaderFixture checks of each event.
type wlbRow struct {
	src   etw.Source
	kind  etw.Kind
	host  string
	time  int64
	pid   uint32
	known etw.Field
}

func TestWinlogbeatReaderFixture(t *testing.T) {
	f, err := os.Open("testdata/winlogbeat_mixed.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var skips etwtest.SkipLog
	r := NewReader(f, "winlogbeat_mixed.json", &skips)
	evs, err := etwtest.ReadAll(t, r)
	if err != nil {
		t.Fatal(err)
	}
	wantSkips := []string{
		"winlogbeat_mixed.json:8: not a JSON object",
		`winlogbeat_mixed.json:14: bad NewProcessId "0xZZ"`,
	}
	if strings.Join(skips.Got, "\n") != strings.Join(wantSkips, "\n") {
		t.Errorf("skips:\n%s\nwant:\n%s", strings.Join(skips.Got, "\n"), strings.Join(wantSkips, "\n"))
	}
	const ws, dc = "WS07.corp.example", "DC02.corp.example"
	sysmonStart := etw.FieldPID | etw.FieldKey | etw.FieldImage | etw.FieldCreateTime | etw.FieldParentPID | etw.FieldSession | etw.FieldParentImage | etw.FieldCommandLine | etw.FieldUserName
	want := []wlbRow{
		{etw.SourceSysmon, etw.KindStart, ws, etwtest.NS("2021-06-01 08:00:05.121"), 2316, sysmonStart | etw.FieldParentKey},
		{etw.SourceSecurity, etw.KindStart, ws, etwtest.NS("2021-06-01 08:00:05.121"), 0x90c, etw.FieldPID | etw.FieldCreateTime | etw.FieldImage | etw.FieldCreatorPID | etw.FieldParentPID | etw.FieldParentImage | etw.FieldCreatorSID | etw.FieldCommandLine},
		{etw.SourceSysmon, etw.KindRegistry, ws, etwtest.NS("2021-06-01 08:00:05.990"), 0, etw.FieldPID | etw.FieldImage},
		{etw.SourceSysmon, etw.KindExit, ws, etwtest.NS("2021-06-01 08:00:05.137"), 2316, etw.FieldPID | etw.FieldKey | etw.FieldImage | etw.FieldExitTime},
		{etw.SourceSecurity, etw.KindExit, ws, etwtest.NS("2021-06-01 08:00:05.145"), 0x90c, etw.FieldPID | etw.FieldImage | etw.FieldExitCode | etw.FieldExitTime},
		{etw.SourceSecurity, etw.KindBoot, dc, etwtest.NS("2021-06-01 04:10:00"), 0, 0},
		{etw.SourceSystem, etw.KindBoot, dc, etwtest.NS("2021-06-01 04:09:58"), 0, etw.FieldBootTime},
		{etw.SourceSystem, etw.KindBoot, dc, etwtest.NS("2021-06-01 04:10:05"), 0, 0},
		{etw.SourceSysmon, etw.KindRegistry, ws, etwtest.NS("2021-06-01 08:00:59.5"), 0, etw.FieldPID | etw.FieldImage},
		{etw.SourceSecurity, etw.KindStart, dc, etwtest.NS("2021-06-01 08:03:00.25"), 0x9f0, etw.FieldPID | etw.FieldCreateTime | etw.FieldImage | etw.FieldCreatorPID | etw.FieldParentPID | etw.FieldParentImage | etw.FieldCreatorSID | etw.FieldUserSID | etw.FieldCommandLine},
		{etw.SourceSysmon, etw.KindStart, dc, etwtest.NS("2021-06-01 08:03:59.876"), 3100, sysmonStart},
	}
	if len(evs) != len(want) {
		t.Fatalf("got %d events, want %d: %+v", len(evs), len(want), evs)
	}
	for i, w := range want {
		t.Run(fmt.Sprintf("event%d", i), func(t *testing.T) {
			ev := evs[i]
			got := wlbRow{ev.Source, ev.Kind, ev.Host, ev.Time, ev.Proc.PID, ev.Known}
			if got.kind == etw.KindRegistry {
				got.pid = 0
			}
			if got != w {
				t.Errorf("got  %+v (%s)\nwant %+v (%s)", got, etw.TimeOf(got.time), w, etw.TimeOf(w.time))
			}
		})
	}
	t.Run("values", func(t *testing.T) {
		child := evs[0].Proc
		if child.ParentPID != 396 || child.Session != 3 || child.Image != `C:\Windows\System32\smss.exe` ||
			child.CommandLine != `\SystemRoot\System32\smss.exe 000000fc 00000088 ` || child.UserName != `NT AUTHORITY\SYSTEM` ||
			child.Key != "5A1B2C3D-1111-60B5-0000-0010D6AC8100" || child.ParentKey != "5A1B2C3D-0803-60B5-0000-00107B2D0000" ||
			child.CreateTime != evs[0].Time {
			t.Errorf("sysmon child %+v", child)
		}
		// Sysmon's own process (winlog.process.pid 3124) and account
		// (winlog.user) are not the event's.
		if evs[0].Proc.PID == 3124 || evs[3].Proc.PID == 3124 {
			t.Error("winlog.process.pid taken as the process")
		}
		if sec := evs[1].Proc; sec.CreatorPID != 0x18c || sec.ParentPID != 0x18c || sec.CreatorSID != "S-1-5-18" || sec.UserSID != "" {
			t.Errorf("security child %+v", sec)
		}
		if g := evs[2].Reg; g.Op != etw.RegOpSetValue || g.Key != `HKLM\System\CurrentControlSet\Control\Session Manager` ||
			g.Value != "PendingFileRenameOperations" || g.Data != "Binary Data" || g.PID != 1844 || g.Image != `C:\Windows\System32\spoolsv.exe` {
			t.Errorf("registry %+v", g)
		}
		if evs[4].Proc.ExitCode != 0 || !evs[4].Has(etw.FieldExitCode) {
			t.Errorf("exit code %+v", evs[4].Proc)
		}
		if evs[6].Boot.BootTime != etwtest.NS("2021-06-01 04:09:57.5") {
			t.Errorf("boot time %s", etw.TimeOf(evs[6].Boot.BootTime))
		}
		if g := evs[8].Reg; g.Op != etw.RegOpRename || g.NewName != `HKLM\System\ControlSet001\Control\Session Manager\SubSystemsX` || g.PID != 4242 {
			t.Errorf("rename %+v", g)
		}
		if p := evs[10].Proc; p.Image != `C:\ProgramData\smss.exe` || p.ParentPID != 812 || p.ParentImage != `C:\Windows\explorer.exe` || p.UserName != `CORP\alice` {
			t.Errorf("flattened %+v", p)
		}
	})
	if st := r.Stats(); st.Records != 16 || st.Events != int64(len(want)) || st.Skipped != 2 || st.NoZone != 0 || st.NoUtcTime != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestWinlogbeatAgreesWithReference maps every fixture line through the
// reader and through an independent path (encoding/json, flattened by
// hand, then MapFields) and wants the same result.
func TestWinlogbeatAgreesWithReference(t *testing.T) {
	lines, err := etwtest.ReadFixtureLines("testdata/winlogbeat_mixed.json")
	if err != nil {
		t.Fatal(err)
	}
	compared := 0
	for i, line := range lines {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		t.Run(fmt.Sprint("line", i+1), func(t *testing.T) {
			ev, emit, reason := wlbMapLine(line)
			ref, remit, rreason, ok := wlbReference(line)
			if !ok {
				if json.Valid(line) {
					t.Fatalf("reference declined a fixture line")
				}
				return
			}
			compared++
			if emit != remit || reason != rreason || (emit && ev != ref) {
				t.Errorf("reader (%v %q %+v)\nreference (%v %q %+v)", emit, reason, ev, remit, rreason, ref)
			}
		})
	}
	if compared < 15 {
		t.Errorf("only %d lines compared", compared)
	}
}

// wlbMapLine maps one line as Reader does.
func wlbMapLine(line []byte) (ev etw.Event, emit bool, reason string) {
	var w Reader
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' || line[len(line)-1] != '}' {
		return ev, false, "not a JSON object"
	}
	if err := w.fill(line); err != nil {
		return ev, false, "invalid JSON: " + err.Error()
	}
	emit, reason = w.m.Map(&w.rec, &ev)
	return ev, emit, reason
}

// wlbReference maps one line with encoding/json and MapFields. ok is false
// for lines it does not judge: not valid JSON or UTF-8, a member read with
// a value that is not a string or a number, or a member written both
// nested and flattened.
func wlbReference(line []byte) (ev etw.Event, emit bool, reason string, ok bool) {
	if !utf8.Valid(line) {
		return ev, false, "", false
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var doc map[string]any
	if dec.Decode(&doc) != nil || dec.More() {
		return ev, false, "", false
	}
	flat := map[string]any{}
	collision := false
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			p := prefix + k
			if sub, isObj := v.(map[string]any); isObj {
				walk(p+".", sub)
				continue
			}
			if _, dup := flat[p]; dup {
				collision = true
			}
			flat[p] = v
		}
	}
	walk("", doc)
	if collision {
		return ev, false, "", false
	}
	fields := map[string]string{}
	scalar := true
	pick := func(name string, paths ...string) {
		for _, p := range paths {
			v, present := flat[p]
			if !present {
				continue
			}
			switch x := v.(type) {
			case string:
				fields[name] = x
			case json.Number:
				fields[name] = x.String()
			default:
				scalar = false
			}
			return
		}
	}
	pick("EventID", "winlog.event_id", "event.code")
	pick("Channel", "winlog.channel")
	pick("SourceName", "winlog.provider_name", "event.provider")
	pick("Hostname", "winlog.computer_name", "host.name", "host.hostname")
	pick("TimeCreated", "winlog.time_created", "@timestamp")
	const data = "winlog.event_data."
	for p := range flat {
		if !strings.HasPrefix(p, data) {
			continue
		}
		if id, known := winlog.LookupField([]byte(p[len(data):])); known && isDataField(id) {
			pick(p[len(data):], p)
		}
	}
	if !scalar {
		return ev, false, "", false
	}
	emit, reason = winlog.MapFields(fields, &ev)
	return ev, emit, reason, true
}

func TestWinlogbeatFlattenedEqualsNested(t *testing.T) {
	nested := `{"@timestamp":"2021-06-01T08:00:05.146Z","winlog":{"channel":"Microsoft-Windows-Sysmon/Operational","event_id":5,"computer_name":"H1","event_data":{"UtcTime":"2021-06-01 08:00:05.137","ProcessId":"2316","Image":"C:\\Windows\\System32\\smss.exe"}}}`
	cases := []struct{ name, line string }{
		{"flattened", `{"@timestamp":"2021-06-01T08:00:05.146Z","winlog.channel":"Microsoft-Windows-Sysmon/Operational","winlog.event_id":5,"winlog.computer_name":"H1","winlog.event_data.UtcTime":"2021-06-01 08:00:05.137","winlog.event_data.ProcessId":"2316","winlog.event_data.Image":"C:\\Windows\\System32\\smss.exe"}`},
		{"mixed", `{"@timestamp":"2021-06-01T08:00:05.146Z","winlog":{"channel":"Microsoft-Windows-Sysmon/Operational","event_data.UtcTime":"2021-06-01 08:00:05.137"},"winlog.event_id":5,"winlog.computer_name":"H1","winlog.event_data":{"ProcessId":"2316","Image":"C:\\Windows\\System32\\smss.exe"}}`},
		{"white space", "{ \"@timestamp\" : \"2021-06-01T08:00:05.146Z\" , \"winlog\" : { \"channel\" : \"Microsoft-Windows-Sysmon/Operational\" , \"event_id\" : 5 , \"computer_name\" : \"H1\" , \"event_data\" : { \"UtcTime\" : \"2021-06-01 08:00:05.137\" , \"ProcessId\" : \"2316\" , \"Image\" : \"C:\\\\Windows\\\\System32\\\\smss.exe\" } } }"},
		{"escaped names", `{"@timestamp":"2021-06-01T08:00:05.146Z","win\u006cog":{"channel":"Microsoft-Windows-Sysmon/Operational","event\u005fid":5,"computer_name":"H1","event_data":{"UtcTime":"2021-06-01 08:00:05.137","Process\u0049d":"2316","Image":"C:\\Windows\\System32\\smss.exe"}}}`},
	}
	want, emit, reason := wlbMapLine([]byte(nested))
	if !emit || reason != "" || want.Proc.PID != 2316 || want.Host != "H1" {
		t.Fatalf("nested: %v %q %+v", emit, reason, want)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, emit, reason := wlbMapLine([]byte(c.line))
			if !emit || reason != "" || got != want {
				t.Errorf("got %v %q %+v\nwant %+v", emit, reason, got, want)
			}
		})
	}
}

// TestWinlogbeatTime checks which time a record gets.
func TestWinlogbeatTime(t *testing.T) {
	cases := []struct {
		name      string
		line      string
		want      int64
		noUtcTime int64
	}{
		{"sysmon: UtcTime, not @timestamp nor event.created",
			`{"@timestamp":"2021-06-01T08:00:06Z","event":{"created":"2021-06-01T09:00:00Z"},"winlog":{"channel":"Microsoft-Windows-Sysmon/Operational","event_id":5,"event_data":{"UtcTime":"2021-06-01 08:00:05.137","ProcessId":"1"}}}`,
			etwtest.NS("2021-06-01 08:00:05.137"), 0},
		{"sysmon without UtcTime: record time, counted",
			`{"@timestamp":"2021-06-01T08:00:06Z","event":{"created":"2021-06-01T09:00:00Z"},"winlog":{"channel":"Microsoft-Windows-Sysmon/Operational","event_id":5,"event_data":{"ProcessId":"1"}}}`,
			etwtest.NS("2021-06-01 08:00:06"), 1},
		{"security: @timestamp",
			`{"event":{"created":"2021-06-01T09:00:00Z"},"@timestamp":"2021-06-01T08:00:05.145Z","winlog":{"channel":"Security","event_id":4689,"event_data":{"ProcessId":"0x10"}}}`,
			etwtest.NS("2021-06-01 08:00:05.145"), 0},
		{"security: @timestamp with an offset",
			`{"@timestamp":"2021-06-01T10:00:05+02:00","winlog":{"channel":"Security","event_id":4689,"event_data":{"ProcessId":"0x10"}}}`,
			etwtest.NS("2021-06-01 08:00:05"), 0},
		{"security: winlog.time_created wins over @timestamp",
			`{"@timestamp":"2021-06-01T08:00:09Z","winlog":{"time_created":"2021-06-01T08:00:05.5Z","channel":"Security","event_id":4689,"event_data":{"ProcessId":"0x10"}}}`,
			etwtest.NS("2021-06-01 08:00:05.5"), 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var w Reader
			if err := w.fill([]byte(c.line)); err != nil {
				t.Fatal(err)
			}
			var ev etw.Event
			emit, reason := w.m.Map(&w.rec, &ev)
			if !emit || reason != "" {
				t.Fatalf("emit %v reason %q", emit, reason)
			}
			if ev.Time != c.want {
				t.Errorf("time %s, want %s", etw.TimeOf(ev.Time), etw.TimeOf(c.want))
			}
			if w.m.Stats.NoUtcTime != c.noUtcTime || w.m.Stats.NoZone != 0 {
				t.Errorf("stats %+v", w.m.Stats)
			}
		})
	}
	t.Run("no time at all", func(t *testing.T) {
		_, emit, reason := wlbMapLine([]byte(`{"event":{"created":"2021-06-01T09:00:00Z"},"winlog":{"channel":"Security","event_id":4608}}`))
		if emit || reason != "no event time (EventTime or TimeCreated)" {
			t.Errorf("emit %v reason %q", emit, reason)
		}
	})
}

// TestWinlogbeatFields checks the header fields' sources and fallbacks.
func TestWinlogbeatFields(t *testing.T) {
	const ts = `"@timestamp":"2021-06-01T08:00:00Z"`
	cases := []struct {
		name   string
		line   string
		emit   bool
		reason string
		host   string
		src    etw.Source
	}{
		{"computer_name wins over host.name (the collector)", `{` + ts + `,"host":{"name":"WEC"},"winlog":{"computer_name":"H1","channel":"Security","event_id":4608}}`, true, "", "H1", etw.SourceSecurity},
		{"host.name without computer_name", `{` + ts + `,"host":{"name":"H2"},"winlog":{"channel":"Security","event_id":4608}}`, true, "", "H2", etw.SourceSecurity},
		{"host.hostname last", `{` + ts + `,"host":{"hostname":"H3"},"winlog":{"channel":"Security","event_id":4608}}`, true, "", "H3", etw.SourceSecurity},
		{"event.code without event_id", `{` + ts + `,"event":{"code":"4608"},"winlog":{"channel":"Security"}}`, true, "", "", etw.SourceSecurity},
		{"event_id wins over event.code", `{` + ts + `,"event":{"code":"4608"},"winlog":{"channel":"Security","event_id":4624}}`, false, "", "", 0},
		{"provider without channel", `{` + ts + `,"winlog":{"provider_name":"Microsoft-Windows-Kernel-General","event_id":12,"event_data":{"StartTime":"2021-06-01T07:59:00Z"}}}`, true, "", "", etw.SourceSystem},
		{"event.provider fallback", `{` + ts + `,"event":{"provider":"EventLog"},"winlog":{"event_id":6005}}`, true, "", "", etw.SourceSystem},
		{"header names inside event_data are not the header", `{` + ts + `,"winlog":{"channel":"Application","event_id":1000,"event_data":{"Channel":"Security","EventID":"4608"}}}`, false, "", "", 0},
		{"event_id null", `{` + ts + `,"winlog":{"channel":"Security","event_id":null}}`, false, "bad EventID (null)", "", 0},
		{"event_id object", `{` + ts + `,"winlog":{"channel":"Security","event_id":{"v":4688}}}`, false, "bad EventID (object or array)", "", 0},
		{"event_id negative", `{` + ts + `,"winlog":{"channel":"Security","event_id":-4688}}`, false, `bad EventID "-4688"`, "", 0},
		{"event_id with a space", `{` + ts + `,"winlog":{"channel":"Security","event_id":" 4688"}}`, false, `bad EventID " 4688"`, "", 0},
		{"other channel", `{` + ts + `,"winlog":{"channel":"Application","event_id":1}}`, false, "", "", 0},
		{"winlog not an object", `{` + ts + `,"winlog":"Security","event":{"code":4608}}`, false, "", "", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev, emit, reason := wlbMapLine([]byte(c.line))
			if emit != c.emit || reason != c.reason {
				t.Fatalf("emit %v reason %q, want %v %q", emit, reason, c.emit, c.reason)
			}
			if emit && (ev.Host != c.host || ev.Source != c.src) {
				t.Errorf("host %q source %v", ev.Host, ev.Source)
			}
		})
	}
}

func TestWinlogbeatBadLines(t *testing.T) {
	good := `{"@timestamp":"2021-01-01T00:00:00Z","winlog":{"channel":"Security","event_id":4608,"computer_name":"H"}}`
	cases := []struct {
		name   string
		input  string
		events int
		skips  []string
	}{
		{"BOM on the first line", "\xef\xbb\xbf" + good + "\n" + good, 2, nil},
		{"BOM later is not one", good + "\n\xef\xbb\xbf" + good, 1, []string{"f:2: not a JSON object"}},
		{"truncated line", good[:40] + "\n" + good, 1, []string{"f:1: not a JSON object"}},
		{"invalid JSON in a nested object", `{"winlog":{"channel":"Security",}}` + "\n" + good, 1, []string{"f:1: invalid JSON: not a JSON object"}},
		{"garbage after the object", `{"winlog":{"channel":"Security"}} x}` + "\n" + good, 1, []string{"f:1: invalid JSON: not a JSON object"}},
		{"bad escape in a skipped value", `{"message":"a\qb","winlog":{"channel":"Security","event_id":4608}}` + "\n" + good, 1, []string{"f:1: invalid JSON: not a JSON object"}},
		{"CRLF", good + "\r\n" + good + "\r\n", 2, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var skips etwtest.SkipLog
			r := NewReader(strings.NewReader(c.input), "f", &skips)
			evs, err := etwtest.ReadAll(t, r)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != c.events {
				t.Errorf("%d events, want %d", len(evs), c.events)
			}
			if strings.Join(skips.Got, "|") != strings.Join(c.skips, "|") {
				t.Errorf("skips %q, want %q", skips.Got, c.skips)
			}
		})
	}
}

// TestWinlogbeatPassOverAlloc: records not of interest (most of a real
// capture) and exits cost no allocation once the reader is warm.
func TestWinlogbeatPassOverAlloc(t *testing.T) {
	lines, err := etwtest.ReadFixtureLines("testdata/winlogbeat_mixed.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		line []byte
		emit bool
	}{
		{"sysmon 10", lines[0], false},
		{"sysmon 12 elsewhere", lines[4], false},
		{"sysmon 5", lines[5], true},
		{"security 4689", lines[6], true},
		{"system 7036", lines[11], false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var w Reader
			var ev etw.Event
			step := func() {
				if err := w.fill(c.line); err != nil {
					t.Fatal(err)
				}
				if emit, reason := w.m.Map(&w.rec, &ev); emit != c.emit || reason != "" {
					t.Fatalf("emit %v reason %q", emit, reason)
				}
			}
			step()
			if n := testing.AllocsPerRun(200, step); n != 0 {
				t.Errorf("%v allocations a record", n)
			}
		})
	}
}

// FuzzWinlogbeatRecord fuzzes the Winlogbeat record path (nested scanner,
// mapper) against the encoding/json reference, and the reader over the
// line alone and repeated.
func FuzzWinlogbeatRecord(f *testing.F) {
	if lines, err := etwtest.ReadFixtureLines("testdata/winlogbeat_mixed.json"); err == nil {
		for _, l := range lines {
			f.Add(l)
		}
	}
	f.Add([]byte(`{"winlog.channel":"System","winlog.event_id":"12","winlog.provider_name":"Microsoft-Windows-Kernel-General","@timestamp":"2021-01-01T00:00:00Z","winlog.event_data.StartTime":"2020-12-31T23:59:59.5Z"}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		ev, emit, reason := wlbMapLine(line)
		if emit {
			etwtest.CheckEvent(t, &ev)
			if reason != "" {
				t.Fatalf("emitted with reason %q", reason)
			}
		}
		r := NewReader(bytes.NewReader(bytes.Join([][]byte{line, line}, []byte("\n"))), "f", nil)
		for i := 0; i < 10; i++ {
			var e etw.Event
			if err := r.Next(&e); err != nil {
				break
			}
			etwtest.CheckEvent(t, &e)
		}
		if strings.HasPrefix(reason, "invalid JSON") || reason == "not a JSON object" {
			return
		}
		ref, remit, rreason, ok := wlbReference(bytes.TrimSpace(line))
		if !ok {
			return
		}
		if emit != remit || reason != rreason || (emit && ev != ref) {
			t.Fatalf("reader (%v %q %+v) and reference (%v %q %+v) disagree", emit, reason, ev, remit, rreason, ref)
		}
	})
}
