package nxlog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/smsswatch/smsswatch/etw"
	"github.com/smsswatch/smsswatch/etw/internal/etwtest"
	"github.com/smsswatch/smsswatch/etw/winlog"

	"github.com/smsswatch/smsswatch/etw/jsonscan"

	"github.com/smsswatch/smsswatch/etw/textparse"
)

// mapLine runs one JSON line through the NXLog path (filter, scan, map).
func mapLine(line string) (ev etw.Event, emit bool, reason string, stats etw.ReadStats) {
	var m winlog.Mapper
	var rec winlog.Record
	var sc jsonscan.Scanner
	b := []byte(line)
	if !nxlogCandidate(b) {
		return ev, false, "", m.Stats
	}
	if err := rec.FillJSON(&sc, b); err != nil {
		return ev, false, "invalid JSON: " + err.Error(), m.Stats
	}
	emit, reason = m.Map(&rec, &ev)
	return ev, emit, reason, m.Stats
}

func TestNXLogReaderFixture(t *testing.T) {
	f, err := os.Open("testdata/nxlog_mixed.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var skips etwtest.SkipLog
	r := NewReader(f, "nxlog_mixed.json", &skips)
	evs, err := etwtest.ReadAll(t, r)
	if err != nil {
		t.Fatal(err)
	}
	wantSkips := []string{
		"nxlog_mixed.json:3: not a JSON object",
		"nxlog_mixed.json:4: not a JSON object",
		`nxlog_mixed.json:15: bad NewProcessId "0xZZ"`,
	}
	if strings.Join(skips.Got, "\n") != strings.Join(wantSkips, "\n") {
		t.Errorf("skips:\n%s\nwant:\n%s", strings.Join(skips.Got, "\n"), strings.Join(wantSkips, "\n"))
	}
	type row struct {
		src   etw.Source
		kind  etw.Kind
		host  string
		time  int64
		pid   uint32
		known etw.Field
	}
	const ws, dc = "WS01.example.test", "DC01.example.test"
	want := []row{
		{etw.SourceSecurity, etw.KindStart, ws, etwtest.NS("2021-03-02 14:15:01"), 0x184, etw.FieldPID | etw.FieldImage | etw.FieldCreatorSID | etw.FieldCreateTime},
		{etw.SourceSysmon, etw.KindStart, ws, etwtest.NS("2021-03-02 14:15:01.412"), 388, etw.FieldPID | etw.FieldKey | etw.FieldImage | etw.FieldCreateTime | etw.FieldParentPID | etw.FieldSession | etw.FieldParentImage | etw.FieldCommandLine | etw.FieldUserName | etw.FieldParentKey},
		{etw.SourceSysmon, etw.KindRegistry, ws, etwtest.NS("2021-03-02 14:15:20.004"), 0, etw.FieldPID | etw.FieldImage},
		{etw.SourceSecurity, etw.KindExit, ws, etwtest.NS("2021-03-02 14:15:02"), 0x1a0, etw.FieldPID | etw.FieldImage | etw.FieldExitCode | etw.FieldExitTime},
		{etw.SourceSystem, etw.KindBoot, ws, etwtest.NS("2021-03-02 14:14:58"), 0, etw.FieldBootTime},
		{etw.SourceSystem, etw.KindBoot, ws, etwtest.NS("2021-03-02 14:15:10"), 0, 0},
		{etw.SourceSecurity, etw.KindStart, dc, etwtest.NS("2021-03-02 10:20:00"), 0x9f0, etw.FieldPID | etw.FieldCreateTime | etw.FieldImage | etw.FieldCreatorPID | etw.FieldParentPID | etw.FieldParentImage | etw.FieldCreatorSID | etw.FieldUserSID | etw.FieldCommandLine},
		{etw.SourceSysmon, etw.KindExit, ws, etwtest.NS("2021-03-02 14:15:02.1"), 0, etw.FieldKey | etw.FieldImage | etw.FieldExitTime},
		{etw.SourceSysmon, etw.KindStart, ws, etwtest.NS("2021-03-02 14:15:01.9"), 416, etw.FieldPID | etw.FieldKey | etw.FieldImage | etw.FieldCreateTime | etw.FieldParentPID | etw.FieldSession | etw.FieldParentImage | etw.FieldCommandLine | etw.FieldUserName | etw.FieldParentKey},
	}
	if len(evs) != len(want) {
		t.Fatalf("got %d events, want %d: %+v", len(evs), len(want), evs)
	}
	for i, w := range want {
		t.Run(fmt.Sprintf("event%d", i), func(t *testing.T) {
			ev := evs[i]
			got := row{ev.Source, ev.Kind, ev.Host, ev.Time, ev.Proc.PID, ev.Known}
			if got != w {
				t.Errorf("got  %+v (%s)\nwant %+v (%s)", got, etw.TimeOf(got.time), w, etw.TimeOf(w.time))
			}
		})
	}
	// Field values worth a closer look.
	if p := evs[6].Proc; p.CreatorPID != 0x1c4 || p.ParentPID != 0x1c4 || p.UserSID != "S-1-5-18" ||
		p.CommandLine != `\SystemRoot\System32\smss.exe 000000d4 00000084 ` {
		t.Errorf("DC01 4688: %+v", p)
	}
	if g := evs[2].Reg; g.Op != etw.RegOpSetValue || g.Key != `HKLM\System\ControlSet001\Control\Session Manager` ||
		g.Value != "BootExecute" || g.Data != "autocheck autochk * evil.exe" || g.PID != 2044 || g.Image != `C:\Windows\regedit.exe` {
		t.Errorf("registry: %+v", g)
	}
	if evs[4].Boot.BootTime != etwtest.NS("2021-03-02 14:14:57.5") {
		t.Errorf("boot time %s", etw.TimeOf(evs[4].Boot.BootTime))
	}
	// The exit names its process by key alone; the start of the same key
	// (written lower case in braces) maps to the same key.
	if evs[7].Proc.Key != "1A2B3C4D-0001-0002-0500-00000000AA00" || evs[8].Proc.Key != evs[7].Proc.Key {
		t.Errorf("keys %q %q", evs[7].Proc.Key, evs[8].Proc.Key)
	}
	if evs[8].Proc.ParentKey != evs[1].Proc.Key {
		t.Errorf("parent key %q, master key %q", evs[8].Proc.ParentKey, evs[1].Proc.Key)
	}
	st := r.Stats()
	if st.Records != 15 || st.Events != int64(len(want)) || st.Skipped != 3 || st.NoZone != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestNXLogCandidate(t *testing.T) {
	cases := []struct {
		name string
		line string
		want bool
	}{
		{"sysmon start", `{"Channel":"x","EventID":1}`, true},
		{"quoted id", `{"EventID":"4688"}`, true},
		{"spaces around colon", `{"EventID" :  4689 }`, true},
		{"boot", `{"EventID":4608}`, true},
		{"eventlog start", `{"EventID":6005}`, true},
		{"other id", `{"EventID":4663,"TargetObject":"\\REGISTRY\\MACHINE\\SYSTEM\\ControlSet001\\Control\\Session Manager"}`, false},
		{"prefix of id", `{"EventID":10}`, false},
		{"longer id", `{"EventID":46880}`, false},
		{"registry in session manager", `{"EventID":13,"TargetObject":"HKLM\\System\\CurrentControlSet\\Control\\Session Manager\\BootExecute"}`, true},
		{"registry any case", `{"EventID":12,"TargetObject":"HKLM\\SYSTEM\\CONTROLSET002\\CONTROL\\SESSION MANAGER"}`, true},
		{"registry elsewhere", `{"EventID":13,"TargetObject":"HKLM\\Software\\Run\\x","Details":"Session Manager"}`, false},
		{"kernel general 12", `{"EventID":12,"Channel":"System","SourceName":"Microsoft-Windows-Kernel-General"}`, true},
		{"kernel general 12 without a Channel", `{"EventID":12,"SourceName":"Microsoft-Windows-Kernel-General","StartTime":"2021-01-01T00:00:00Z"}`, true},
		{"System 12 with StartTime and no provider", `{"EventID":12,"Channel":"System","StartTime":"2021-01-01T00:00:00Z"}`, true},
		{"System 12 of another provider", `{"EventID":12,"Channel":"System"}`, false},
		{"negative id", `{"EventID":-1}`, true},
		{"null id", `{"EventID":null}`, true},
		{"object id", `{"EventID":{"a":1}}`, true},
		{"id with a space", `{"EventID":" 1"}`, true},
		{"fraction", `{"EventID":4663.5}`, true},
		{"escaped key", `{"Event\u0049D":4688}`, true},
		{"CR before the colon", "{\"EventID\"\r:4688}", true},
		{"leading zeros", `{"EventID":"0000000001"}`, true},
		{"12 in another channel", `{"EventID":12,"Channel":"Application"}`, false},
		{"id only in a value", `{"Message":"\"EventID\":1","EventID":4663}`, false},
		{"fake key first, real key later", `{"x\"EventID":7,"EventID":1}`, true},
		{"no id", `{"Channel":"Security"}`, false},
		{"id without colon", `{"EventID"}`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := nxlogCandidate([]byte(c.line)); got != c.want {
				t.Errorf("nxlogCandidate(%s) = %v", c.line, got)
			}
		})
	}
}

// TestNXLogZone checks the local-to-UTC conversion of EventTime.
func TestNXLogZone(t *testing.T) {
	base := `"Hostname":"H","Channel":"Security","EventID":4689,"ProcessId":"0x10"`
	cases := []struct {
		name   string
		fields string
		want   int64
		noZone int64
	}{
		{"UTC-4 like the OTRF capture", `"EventTime":"2020-09-04 03:07:40","EventReceivedTime":"2020-09-04 03:08:11","@timestamp":"2020-09-04T07:08:11.440Z"`, etwtest.NS("2020-09-04 07:07:40"), 0},
		{"UTC+5:30", `"EventTime":"2020-09-04 12:37:40","EventReceivedTime":"2020-09-04 12:38:11","@timestamp":"2020-09-04T07:08:10.900Z"`, etwtest.NS("2020-09-04 07:07:40"), 0},
		{"forwarder delay of 6 minutes rounds away", `"EventTime":"2020-09-04 03:07:40","EventReceivedTime":"2020-09-04 03:08:11","@timestamp":"2020-09-04T07:14:11Z"`, etwtest.NS("2020-09-04 07:07:40"), 0},
		{"UTC itself", `"EventTime":"2020-09-04 07:07:40","EventReceivedTime":"2020-09-04 07:08:11","@timestamp":"2020-09-04T07:08:11Z"`, etwtest.NS("2020-09-04 07:07:40"), 0},
		{"across midnight", `"EventTime":"2020-09-04 23:59:59","EventReceivedTime":"2020-09-05 00:00:02","@timestamp":"2020-09-05T04:00:02Z"`, etwtest.NS("2020-09-05 03:59:59"), 0},
		{"no @timestamp", `"EventTime":"2020-09-04 03:07:40","EventReceivedTime":"2020-09-04 03:08:11"`, etwtest.NS("2020-09-04 03:07:40"), 1},
		{"no EventReceivedTime", `"EventTime":"2020-09-04 03:07:40","@timestamp":"2020-09-04T07:08:11Z"`, etwtest.NS("2020-09-04 03:07:40"), 1},
		{"implausible offset", `"EventTime":"2020-09-04 03:07:40","EventReceivedTime":"2020-09-05 03:08:11","@timestamp":"2020-09-04T03:08:11Z"`, etwtest.NS("2020-09-04 03:07:40"), 1},
		{"zoned EventTime", `"EventTime":"2020-09-04T03:07:40-04:00","@timestamp":"2020-09-04T07:08:11Z"`, etwtest.NS("2020-09-04 07:07:40"), 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev, emit, reason, st := mapLine("{" + base + "," + c.fields + "}")
			if !emit || reason != "" {
				t.Fatalf("emit %v reason %q", emit, reason)
			}
			if ev.Time != c.want || ev.Proc.ExitTime != c.want {
				t.Errorf("time %s, want %s", etw.TimeOf(ev.Time), etw.TimeOf(c.want))
			}
			if st.NoZone != c.noZone {
				t.Errorf("NoZone %d, want %d", st.NoZone, c.noZone)
			}
		})
	}
}

func TestNXLogBadLines(t *testing.T) {
	good := `{"EventTime":"2021-01-01 00:00:00","Hostname":"H","Channel":"Security","EventID":4608}`
	long10 := `{"EventTime":"2021-01-01 00:00:01","Hostname":"H","Channel":"Security","EventID":4689,"ProcessId":"0x20","Message":"` + strings.Repeat("x", 10<<20) + `"}`
	cases := []struct {
		name   string
		input  string
		events int
		skips  []string
	}{
		{"binary garbage", "\x00\x01\x02\xff\xfe\n" + good + "\n", 1, []string{"f:1: not a JSON object"}},
		{"invalid JSON inside braces", `{"EventID":4608,"Channel":}` + "\n" + good, 1, []string{"f:1: invalid JSON: not a JSON object"}},
		{"bad escape", `{"EventID":4608,"Channel":"Secu\qrity"}` + "\n" + good, 1, []string{"f:1: invalid JSON: not a JSON object"}},
		{"CRLF and no final newline", good + "\r\n" + good, 2, nil},
		{"missing EventTime", `{"Hostname":"H","Channel":"Security","EventID":4608}`, 0, []string{"f:1: no event time (EventTime or TimeCreated)"}},
		{"bad EventTime", `{"EventTime":"yesterday","Channel":"Security","EventID":4608}`, 0, []string{`f:1: bad EventTime "yesterday"`}},
		{"31 February", `{"EventTime":"2021-02-31 00:00:00","Channel":"Security","EventID":4608}`, 0, []string{`f:1: bad EventTime "2021-02-31 00:00:00"`}},
		{"nested and null values ignored", `{"EventTime":"2021-01-01 00:00:00","Channel":"Security","EventID":4689,"ProcessId":null,"ProcessName":{"a":[1,2]}}`, 0, []string{"f:1: no ProcessId"}},
		{"ten MB line is read", long10 + "\n" + good, 2, nil},
		{"PID over 32 bits", `{"EventTime":"2021-01-01 00:00:00","Channel":"Security","EventID":4689,"ProcessId":"0x100000000"}`, 0, []string{`f:1: bad ProcessId "0x100000000"`}},
		{"negative PID", `{"EventTime":"2021-01-01 00:00:00","Channel":"Security","EventID":4689,"ProcessId":-4}`, 0, []string{`f:1: bad ProcessId "-4"`}},
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

// TestNXLogLineCap checks that a line over the cap is consumed, reported
// and does not stop the reader (a small cap stands for the 16 MiB one).
func TestNXLogLineCap(t *testing.T) {
	good := `{"EventTime":"2021-01-01 00:00:00","Channel":"Security","EventID":4608}`
	for _, size := range []int{100, 300 << 10, 3 << 20} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			input := good + "\n" + `{"EventID":4608,"x":"` + strings.Repeat("y", size) + "\"}\n" + good + "\n"
			var skips etwtest.SkipLog
			r := NewReader(strings.NewReader(""), "f", &skips)
			r.lines = textparse.NewLineReader(bufio.NewReaderSize(strings.NewReader(input), 4096), 90)
			evs, err := etwtest.ReadAll(t, r)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != 2 || len(skips.Got) != 1 || !strings.HasPrefix(skips.Got[0], "f:2: line longer than") {
				t.Errorf("events %d, skips %q", len(evs), skips.Got)
			}
		})
	}
}

// TestNXLogLineOverMax feeds a line longer than textparse.MaxLine itself.
func TestNXLogLineOverMax(t *testing.T) {
	if testing.Short() {
		t.Skip("17 MiB line")
	}
	good := `{"EventTime":"2021-01-01 00:00:00","Channel":"Security","EventID":4608}`
	var b bytes.Buffer
	b.WriteString(`{"EventID":4608,"x":"`)
	b.Write(bytes.Repeat([]byte("z"), textparse.MaxLine+1))
	b.WriteString("\"}\n" + good + "\n")
	var skips etwtest.SkipLog
	evs, err := etwtest.ReadAll(t, NewReader(&b, "f", &skips))
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || len(skips.Got) != 1 || skips.Got[0] != fmt.Sprintf("f:1: line longer than %d bytes", textparse.MaxLine) {
		t.Errorf("events %d, skips %q", len(evs), skips.Got)
	}
}

func TestNXLogReadErrors(t *testing.T) {
	good := `{"EventTime":"2021-01-01 00:00:00","Channel":"Security","EventID":4608}` + "\n"
	t.Run("I/O error is returned", func(t *testing.T) {
		eio := errors.New("input/output error")
		r := NewReader(&etwtest.FailingReader{Data: []byte(good), Err: eio}, "f", nil)
		var ev etw.Event
		if err := r.Next(&ev); err != nil {
			t.Fatal(err)
		}
		err := r.Next(&ev)
		if !errors.Is(err, eio) || !strings.Contains(err.Error(), "after line 1") {
			t.Errorf("err %v", err)
		}
		if err2 := r.Next(&ev); err2 != err {
			t.Errorf("second call %v", err2)
		}
	})
	t.Run("damaged data ends the input", func(t *testing.T) {
		var skips etwtest.SkipLog
		r := NewReader(&etwtest.FailingReader{Data: []byte(good), Err: io.ErrUnexpectedEOF}, "f", &skips)
		evs, err := etwtest.ReadAll(t, r)
		if err != nil || len(evs) != 1 || len(skips.Got) != 1 || !strings.HasPrefix(skips.Got[0], "f:2: input ends in damaged data") {
			t.Errorf("events %d err %v skips %q", len(evs), err, skips.Got)
		}
	})
}

// TestNXLogNoSilentDrops: records of the logs smsswatch reads are either
// events or reported skips, never dropped unseen, whatever their EventID
// or member names look like (issue 16).
func TestNXLogNoSilentDrops(t *testing.T) {
	const sec = `"Hostname":"H","Channel":"Security","EventTime":"2021-01-01 00:00:00","EventReceivedTime":"2021-01-01 00:00:01","@timestamp":"2021-01-01T00:00:01Z","NewProcessId":"0x10"`
	cases := []struct {
		name   string
		line   string
		events int
		skips  []string
		noZone int64
	}{
		{"negative EventID", `{` + sec + `,"EventID":-4688}`, 0, []string{`f:1: bad EventID "-4688"`}, 0},
		{"null EventID", `{` + sec + `,"EventID":null}`, 0, []string{"f:1: bad EventID (null)"}, 0},
		{"object EventID", `{` + sec + `,"EventID":{"Value":4688}}`, 0, []string{"f:1: bad EventID (object or array)"}, 0},
		{"array EventID", `{` + sec + `,"EventID":[4688]}`, 0, []string{"f:1: bad EventID (object or array)"}, 0},
		{"boolean EventID", `{` + sec + `,"EventID":true}`, 0, []string{"f:1: bad EventID (boolean)"}, 0},
		{"EventID with a space", `{` + sec + `,"EventID":" 1"}`, 0, []string{`f:1: bad EventID " 1"`}, 0},
		{"EventID with an exponent", `{` + sec + `,"EventID":4.688e3}`, 0, []string{`f:1: bad EventID "4.688e3"`}, 0},
		{"empty EventID", `{` + sec + `,"EventID":""}`, 0, []string{`f:1: bad EventID ""`}, 0},
		{"EventID with a zero fraction is read", `{` + sec + `,"EventID":4688.0}`, 1, nil, 0},
		{"escaped member name", `{` + sec + `,"Event\u0049D":4688}`, 1, nil, 0},
		{"escaped EventID value", `{` + sec + `,"EventID":"\u0034688"}`, 1, nil, 0},
		{"CR before the colon", `{` + sec + ",\"EventID\"\r:4688}", 1, nil, 0},
		{"System 12 without a Channel", `{"Hostname":"H","SourceName":"Microsoft-Windows-Kernel-General","EventID":12,"EventTime":"2021-01-01 00:00:00","EventReceivedTime":"2021-01-01 00:00:01","@timestamp":"2021-01-01T00:00:01Z","StartTime":"2020-12-31T23:59:59.500000000Z"}`, 1, nil, 0},
		{"@timestamp without a zone: EventTime taken as UTC, counted", `{"Hostname":"H","Channel":"Security","EventTime":"2021-01-01 00:00:00","EventReceivedTime":"2021-01-01 00:00:01","@timestamp":"2021-01-01 05:00:01","NewProcessId":"0x10","EventID":4688}`, 1, nil, 1},
		{"BOM before the first line", "\xef\xbb\xbf{" + sec + `,"EventID":4688}`, 1, nil, 0},
		{"other log with a bad EventID is not ours", `{"Channel":"Application","EventID":null}`, 0, nil, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var skips etwtest.SkipLog
			r := NewReader(strings.NewReader(c.line), "f", &skips)
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
			st := r.Stats()
			if st.NoZone != c.noZone || st.Skipped != int64(len(c.skips)) {
				t.Errorf("stats %+v", st)
			}
			if c.name == "System 12 without a Channel" && len(evs) == 1 &&
				(evs[0].Kind != etw.KindBoot || evs[0].Source != etw.SourceSystem || evs[0].Boot.BootTime != etwtest.NS("2020-12-31 23:59:59.5")) {
				t.Errorf("boot %+v", evs[0])
			}
		})
	}
}
