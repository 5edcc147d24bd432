package evtx

import (
	"bytes"
	"encoding/binary"
	"flag"
	"hash/crc32"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/smsswatch/smsswatch/etw"
	"github.com/smsswatch/smsswatch/etw/internal/etwtest"
	"github.com/smsswatch/smsswatch/etw/winlog"

	"github.com/Velocidex/ordereddict"
)

// dict builds an ordered dict from key, value pairs, as the EVTX library
// returns records.
func dict(kv ...any) *ordereddict.Dict {
	d := ordereddict.NewDict()
	for i := 0; i+1 < len(kv); i += 2 {
		d.Set(kv[i].(string), kv[i+1])
	}
	return d
}

// parsedRecord is a record as the library returns it.
func parsedRecord(system, data *ordereddict.Dict) *ordereddict.Dict {
	ev := dict("System", system)
	if data != nil {
		ev.Set("EventData", data)
	}
	return dict("Event", ev)
}

func evtxSystem(provider, channel string, id any, created float64) *ordereddict.Dict {
	return dict(
		"Provider", dict("Name", provider, "Guid", "5770385F-C22A-43E0-BF4C-06F5698FFBD9"),
		"EventID", id,
		"Version", uint8(5),
		"TimeCreated", dict("SystemTime", created),
		"EventRecordID", uint64(27372),
		"Execution", dict("ProcessID", uint32(2796), "ThreadID", uint32(3572)),
		"Channel", channel,
		"Computer", "MSEDGEWIN10",
		"Security", dict("UserID", "S-1-5-18"),
	)
}

// secs is t as the library renders FILETIMEs: float seconds.
func secs(s string) float64 { return float64(etwtest.NS(s)) / 1e9 }

func TestEvtxRecordMapping(t *testing.T) {
	sysmonData := func(extra ...any) *ordereddict.Dict {
		kv := []any{
			"RuleName", "",
			"UtcTime", "2020-04-25 22:19:11.037",
			"ProcessGuid", "747F3D96-B75F-5EA4-0000-0010622C0000",
			"ProcessId", uint32(300),
			"Image", `C:\Windows\System32\smss.exe`,
			"CommandLine", `\SystemRoot\System32\smss.exe`,
			"User", `NT AUTHORITY\SYSTEM`,
			"LogonId", uint64(999),
			"TerminalSessionId", uint32(0),
			"ParentProcessGuid", "747F3D96-B75F-5EA4-0000-0010EB030000",
			"ParentProcessId", uint32(4),
			"ParentImage", "System",
			"ParentCommandLine", "?",
		}
		return dict(append(kv, extra...)...)
	}
	sysmonSys := evtxSystem("Microsoft-Windows-Sysmon", winlog.SysmonChannel, dict("Value", uint16(1)), secs("2020-04-25 22:19:20.13456"))
	secSys := func(id uint16) *ordereddict.Dict {
		return evtxSystem("Microsoft-Windows-Security-Auditing", "Security", dict("Value", id), secs("2019-02-08 05:36:55.453595"))
	}
	cases := []struct {
		name   string
		record any
		want   etw.Event
		reason string
	}{
		{"sysmon 1", parsedRecord(sysmonSys, sysmonData()), etw.Event{
			Time: etwtest.NS("2020-04-25 22:19:11.037"), Kind: etw.KindStart, Source: etw.SourceSysmon, Host: "MSEDGEWIN10",
			Known: etw.FieldPID | etw.FieldKey | etw.FieldImage | etw.FieldCreateTime | etw.FieldParentPID | etw.FieldSession | etw.FieldParentImage | etw.FieldCommandLine | etw.FieldUserName | etw.FieldParentKey,
			Proc: etw.Process{PID: 300, ParentPID: 4, CreateTime: etwtest.NS("2020-04-25 22:19:11.037"), Image: `C:\Windows\System32\smss.exe`,
				ParentImage: "System", CommandLine: `\SystemRoot\System32\smss.exe`, UserName: `NT AUTHORITY\SYSTEM`,
				Key: "747F3D96-B75F-5EA4-0000-0010622C0000", ParentKey: "747F3D96-B75F-5EA4-0000-0010EB030000"},
		}, ""},
		{"plain EventID", parsedRecord(evtxSystem("Microsoft-Windows-Sysmon", winlog.SysmonChannel, uint16(5), secs("2019-02-16 10:04:04.22152")),
			dict("UtcTime", "2019-02-16 10:04:04.211", "ProcessGuid", "365ABB72-E014-5C67-0000-0010FCA01500", "ProcessId", uint32(3444), "Image", `C:\Windows\System32\smss.exe`)),
			etw.Event{Time: etwtest.NS("2019-02-16 10:04:04.211"), Kind: etw.KindExit, Source: etw.SourceSysmon, Host: "MSEDGEWIN10",
				Known: etw.FieldPID | etw.FieldKey | etw.FieldImage | etw.FieldExitTime,
				Proc:  etw.Process{PID: 3444, ExitTime: etwtest.NS("2019-02-16 10:04:04.211"), Image: `C:\Windows\System32\smss.exe`, Key: "365ABB72-E014-5C67-0000-0010FCA01500"}}, ""},
		{"security 4688 of the boot master", parsedRecord(secSys(4688), dict(
			"SubjectUserSid", "S-1-5-18", "SubjectUserName", "-", "SubjectLogonId", uint64(999),
			"NewProcessId", uint64(368), "NewProcessName", `C:\Windows\System32\smss.exe`, "TokenElevationType", "%%1936",
			"ProcessId", uint64(4), "CommandLine", "", "TargetUserSid", "S-1-0-0", "ParentProcessName", "")),
			etw.Event{Time: etwtest.NS("2019-02-08 05:36:55.453595"), Kind: etw.KindStart, Source: etw.SourceSecurity, Host: "MSEDGEWIN10",
				Known: etw.FieldPID | etw.FieldCreateTime | etw.FieldImage | etw.FieldCreatorPID | etw.FieldParentPID | etw.FieldCreatorSID,
				Proc: etw.Process{PID: 368, CreatorPID: 4, ParentPID: 4, CreateTime: etwtest.NS("2019-02-08 05:36:55.453595"),
					Image: `C:\Windows\System32\smss.exe`, CreatorSID: "S-1-5-18"}}, ""},
		{"security 4689 status as HexInt32", parsedRecord(secSys(4689), dict("ProcessId", uint64(0x1a0), "ProcessName", `C:\Windows\System32\smss.exe`, "Status", uint32(0))),
			etw.Event{Time: etwtest.NS("2019-02-08 05:36:55.453595"), Kind: etw.KindExit, Source: etw.SourceSecurity, Host: "MSEDGEWIN10",
				Known: etw.FieldPID | etw.FieldImage | etw.FieldExitCode | etw.FieldExitTime,
				Proc:  etw.Process{PID: 0x1a0, ExitTime: etwtest.NS("2019-02-08 05:36:55.453595"), Image: `C:\Windows\System32\smss.exe`}}, ""},
		{"security 4608 without EventData", parsedRecord(secSys(4608), nil),
			etw.Event{Time: etwtest.NS("2019-02-08 05:36:55.453595"), Kind: etw.KindBoot, Source: etw.SourceSecurity, Host: "MSEDGEWIN10"}, ""},
		{"kernel general 12 with FILETIME StartTime", parsedRecord(
			evtxSystem("Microsoft-Windows-Kernel-General", "System", dict("Value", uint16(12)), secs("2020-09-04 07:07:38")),
			dict("MajorVersion", uint32(10), "StartTime", secs("2020-09-04 07:07:38.5"))),
			etw.Event{Time: etwtest.NS("2020-09-04 07:07:38"), Kind: etw.KindBoot, Source: etw.SourceSystem, Host: "MSEDGEWIN10",
				Known: etw.FieldBootTime, Boot: etw.Boot{BootTime: etwtest.NS("2020-09-04 07:07:38.5")}}, ""},
		{"unfolded Data list (a Data without value)", parsedRecord(sysmonSys, dict("Data", []any{
			dict("Name", "UtcTime", "Value", "2020-04-25 22:19:11.037"),
			dict("Name", "ProcessId", "Value", uint32(300)),
			dict("Name", "User"),
			dict("Name", "Image", "Value", `C:\Windows\System32\smss.exe`),
		})), etw.Event{Time: etwtest.NS("2020-04-25 22:19:11.037"), Kind: etw.KindStart, Source: etw.SourceSysmon, Host: "MSEDGEWIN10",
			Known: etw.FieldPID | etw.FieldImage | etw.FieldCreateTime,
			Proc:  etw.Process{PID: 300, CreateTime: etwtest.NS("2020-04-25 22:19:11.037"), Image: `C:\Windows\System32\smss.exe`}}, ""},
		{"lone Data element", parsedRecord(secSys(4689), dict("Data", dict("Name", "ProcessId", "Value", uint64(8)))),
			etw.Event{Time: etwtest.NS("2019-02-08 05:36:55.453595"), Kind: etw.KindExit, Source: etw.SourceSecurity, Host: "MSEDGEWIN10",
				Known: etw.FieldPID | etw.FieldExitTime, Proc: etw.Process{PID: 8, ExitTime: etwtest.NS("2019-02-08 05:36:55.453595")}}, ""},
		{"EventData cannot override System", parsedRecord(secSys(4608), dict("Channel", winlog.SysmonChannel, "Computer", "EVIL")),
			etw.Event{Time: etwtest.NS("2019-02-08 05:36:55.453595"), Kind: etw.KindBoot, Source: etw.SourceSecurity, Host: "MSEDGEWIN10"}, ""},
		{"odd value types are unknown", parsedRecord(sysmonSys, sysmonData("Image", []byte("bin"), "CommandLine", dict("x", 1), "User", true)),
			etw.Event{Time: etwtest.NS("2020-04-25 22:19:11.037"), Kind: etw.KindStart, Source: etw.SourceSysmon, Host: "MSEDGEWIN10",
				Known: etw.FieldPID | etw.FieldKey | etw.FieldCreateTime | etw.FieldParentPID | etw.FieldSession | etw.FieldParentImage | etw.FieldParentKey,
				Proc: etw.Process{PID: 300, ParentPID: 4, CreateTime: etwtest.NS("2020-04-25 22:19:11.037"), ParentImage: "System",
					Key: "747F3D96-B75F-5EA4-0000-0010622C0000", ParentKey: "747F3D96-B75F-5EA4-0000-0010EB030000"}}, ""},
		{"PID over 32 bits", parsedRecord(secSys(4689), dict("ProcessId", uint64(1<<40))), etw.Event{}, `bad ProcessId "1099511627776"`},
		{"bad TimeCreated", parsedRecord(evtxSystem("x", "Security", uint16(4608), -1e10), nil), etw.Event{}, `bad TimeCreated "-10000000000"`},
		{"no System", dict("Event", dict("EventData", dict())), etw.Event{}, "record has no Event/System element"},
		{"not a dict", "garbage", etw.Event{}, "record has no Event/System element"},
		{"nil", nil, etw.Event{}, "record has no Event/System element"},
		{"other channel", parsedRecord(evtxSystem("Microsoft-Windows-PowerShell", "Windows PowerShell", uint16(1), 1), nil), etw.Event{}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r Reader
			var ev etw.Event
			emit, reason := r.mapRecordAny(c.record, &ev)
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

var (
	synthT0   = time.Date(2021, 5, 6, 7, 8, 9, 123456000, time.UTC) // FILETIMEs come through the library as float seconds: µs precision
	synthHost = "WS02.example.test"
)

func sysmonSynth(id uint64, eventID uint16, at time.Time, data ...synthField) synthRecord {
	return synthRecord{id: id, provider: "Microsoft-Windows-Sysmon", channel: winlog.SysmonChannel, computer: synthHost,
		eventID: eventID, created: at.Add(9 * time.Second), data: data}
}

func synthStart(id uint64, pid, ppid uint32, image, cmd string, at time.Time) synthRecord {
	return sysmonSynth(id, 1, at,
		synthField{"UtcTime", bxString, at.Format("2006-01-02 15:04:05.000")},
		synthField{"ProcessGuid", bxString, "11111111-2222-3333-4444-" + strings.Repeat("0", 8) + string(rune('A'+pid%26)) + "000"},
		synthField{"ProcessId", bxUint32, pid},
		synthField{"Image", bxString, image},
		synthField{"CommandLine", bxString, cmd},
		synthField{"User", bxString, `NT AUTHORITY\SYSTEM`},
		synthField{"TerminalSessionId", bxUint32, uint32(0)},
		synthField{"ParentProcessId", bxUint32, ppid},
		synthField{"ParentImage", bxString, "System"},
	)
}

// synthFile is a two-chunk log: Sysmon, Security and System records, some
// of no interest, the second chunk reusing nothing of the first.
func synthFile() []byte {
	smss := `C:\Windows\System32\smss.exe`
	chunk1 := []synthRecord{
		synthStart(100, 300, 4, smss, `\SystemRoot\System32\smss.exe`, synthT0),
		sysmonSynth(101, 11, synthT0, synthField{"TargetFilename", bxString, `C:\x`}),
		synthStart(102, 388, 300, smss, `\SystemRoot\System32\smss.exe 000000cc 00000084 `, synthT0.Add(4*time.Second)),
		sysmonSynth(103, 13, synthT0.Add(5*time.Second),
			synthField{"EventType", bxString, "SetValue"},
			synthField{"UtcTime", bxString, synthT0.Add(5 * time.Second).Format("2006-01-02 15:04:05.000")},
			synthField{"ProcessId", bxUint32, uint32(300)},
			synthField{"Image", bxString, smss},
			synthField{"TargetObject", bxString, `HKLM\System\CurrentControlSet\Control\Session Manager\Environment\OS`},
			synthField{"Details", bxString, "Windows_NT"}),
		sysmonSynth(104, 5, synthT0.Add(6*time.Second),
			synthField{"UtcTime", bxString, synthT0.Add(6 * time.Second).Format("2006-01-02 15:04:05.000")},
			synthField{"ProcessId", bxUint32, uint32(388)},
			synthField{"Image", bxString, smss}),
	}
	chunk2 := []synthRecord{
		{id: 105, provider: "Microsoft-Windows-Security-Auditing", channel: "Security", computer: synthHost, eventID: 4688, created: synthT0,
			data: []synthField{
				{"SubjectUserSid", bxSID, "S-1-5-18"},
				{"NewProcessId", bxHex64, uint64(300)},
				{"NewProcessName", bxString, smss},
				{"ProcessId", bxHex64, uint64(4)},
				{"CommandLine", bxString, ""},
				{"TargetUserSid", bxSID, "S-1-0-0"},
				{"ParentProcessName", bxString, ""},
			}},
		{id: 106, provider: "Microsoft-Windows-Security-Auditing", channel: "Security", computer: synthHost, eventID: 4689, created: synthT0.Add(6 * time.Second),
			data: []synthField{{"ProcessId", bxHex64, uint64(388)}, {"ProcessName", bxString, smss}, {"Status", bxHex32, uint32(0)}}},
		{id: 107, provider: "Microsoft-Windows-Security-Auditing", channel: "Security", computer: synthHost, eventID: 4608, created: synthT0.Add(-time.Second)},
		{id: 108, provider: "Microsoft-Windows-Kernel-General", channel: "System", computer: synthHost, eventID: 12, created: synthT0.Add(-2 * time.Second),
			data: []synthField{{"MajorVersion", bxUint32, uint32(10)}, {"StartTime", bxFileTime, synthT0.Add(-3 * time.Second)}}},
		{id: 109, provider: "Microsoft-Windows-Security-Auditing", channel: "Security", computer: synthHost, eventID: 4624, created: synthT0},
	}
	return buildEvtx(chunk1, chunk2)
}

func TestEvtxReaderSynthetic(t *testing.T) {
	var skips etwtest.SkipLog
	r := NewReader(bytes.NewReader(synthFile()), "s.evtx", &skips)
	evs, err := etwtest.ReadAll(t, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(skips.Got) != 0 {
		t.Errorf("skips %q", skips.Got)
	}
	type row struct {
		src  etw.Source
		kind etw.Kind
		time time.Time
		pid  uint32
		ppid uint32
	}
	want := []row{
		{etw.SourceSysmon, etw.KindStart, synthT0.Truncate(time.Millisecond), 300, 4},
		{etw.SourceSysmon, etw.KindStart, synthT0.Add(4 * time.Second).Truncate(time.Millisecond), 388, 300},
		{etw.SourceSysmon, etw.KindRegistry, synthT0.Add(5 * time.Second).Truncate(time.Millisecond), 0, 0},
		{etw.SourceSysmon, etw.KindExit, synthT0.Add(6 * time.Second).Truncate(time.Millisecond), 388, 0},
		{etw.SourceSecurity, etw.KindStart, synthT0, 300, 4},
		{etw.SourceSecurity, etw.KindExit, synthT0.Add(6 * time.Second), 388, 0},
		{etw.SourceSecurity, etw.KindBoot, synthT0.Add(-time.Second), 0, 0},
		{etw.SourceSystem, etw.KindBoot, synthT0.Add(-2 * time.Second), 0, 0},
	}
	if len(evs) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(evs), len(want), evs)
	}
	for i, w := range want {
		ev := evs[i]
		got := row{ev.Source, ev.Kind, etw.TimeOf(ev.Time), ev.Proc.PID, ev.Proc.ParentPID}
		if got != w {
			t.Errorf("event %d: got %+v, want %+v", i, got, w)
		}
		if ev.Host != synthHost {
			t.Errorf("event %d: host %q", i, ev.Host)
		}
	}
	if p := evs[4].Proc; p.CreatorSID != "S-1-5-18" || evs[4].Has(etw.FieldUserSID|etw.FieldParentImage|etw.FieldCommandLine) || p.CreatorPID != 4 {
		t.Errorf("4688: %+v known %b", p, evs[4].Known)
	}
	if g := evs[2].Reg; g.Key != `HKLM\System\CurrentControlSet\Control\Session Manager\Environment` || g.Value != "OS" || g.Data != "Windows_NT" || g.PID != 300 {
		t.Errorf("registry: %+v", g)
	}
	if evs[7].Boot.BootTime != synthT0.Add(-3*time.Second).UnixNano() {
		t.Errorf("boot time %s", etw.TimeOf(evs[7].Boot.BootTime))
	}
	if st := r.Stats(); st.Records != 10 || st.Events != 8 || st.Skipped != 0 || st.BadChunks != 0 {
		t.Errorf("stats %+v", st)
	}
}

// anyTemplate returns a template of the chunk (defined by an earlier
// record) for damaged records to instantiate.
func (w *chunkWriter) anyTemplate() [2]uint32 {
	for _, t := range w.templates {
		return t
	}
	panic("no template")
}

func bxHeader(w *chunkWriter, numArgs uint32) []byte {
	t := w.anyTemplate()
	b := []byte{0x0F, 0x01, 0x01, 0x00, 0x0C, 0x01}
	b = binary.LittleEndian.AppendUint32(b, t[0])
	b = binary.LittleEndian.AppendUint32(b, t[1])
	return binary.LittleEndian.AppendUint32(b, numArgs)
}

// Records whose binary XML would make the library run out of memory or
// time; the checker must reject them and let the others through.
var evtxBombs = []struct {
	name, reason string
	build        func(w *chunkWriter) []byte
}{
	{"four billion arguments", "template instance with more arguments than bytes", func(w *chunkWriter) []byte {
		return bxHeader(w, 0xFFFFFFF0)
	}},
	{"BinXml arguments fanning out", "binary XML too costly to expand", func(w *chunkWriter) []byte {
		const k, levels = 48, 8
		var b []byte
		for l := 0; l < levels; l++ {
			lvl := bxHeader(w, k)
			if l > 0 {
				lvl = lvl[4:] // one fragment header
			}
			for i := 0; i < k; i++ {
				lvl = append(lvl, 0, 0, 0x21, 0)
			}
			b = append(b, lvl...)
		}
		return append(b, 0)
	}},
	{"huge SID", "SID argument too long", func(w *chunkWriter) []byte {
		b := append(bxHeader(w, 1), 0x60, 0xEA, 0x13, 0x00)
		return append(b, make([]byte, 200)...)
	}},
	{"nested template definitions", "", func(w *chunkWriter) []byte {
		// Each instance defines a new template whose body is the next
		// instance, 300 deep.
		var b []byte
		b = append(b, 0x0F, 0x01, 0x01, 0x00)
		for i := 0; i < 300; i++ {
			b = append(b, 0x0C, 0x01)
			b = binary.LittleEndian.AppendUint32(b, uint32(0x7000_0000+i))
			b = binary.LittleEndian.AppendUint32(b, 0)
			b = binary.LittleEndian.AppendUint32(b, 0)
			b = append(b, make([]byte, 16)...)
			b = binary.LittleEndian.AppendUint32(b, 0)
		}
		return append(b, 0)
	}},
}

func TestEvtxHostileRecords(t *testing.T) {
	for _, bomb := range evtxBombs {
		t.Run(bomb.name, func(t *testing.T) {
			recs := []synthRecord{
				synthStart(1, 300, 4, `C:\Windows\System32\smss.exe`, "a", synthT0),
				{id: 2, rawXML: bomb.build},
				synthStart(3, 388, 300, `C:\Windows\System32\smss.exe`, "b", synthT0.Add(time.Second)),
			}
			start := time.Now()
			var skips etwtest.SkipLog
			evs, err := etwtest.ReadAll(t, NewReader(bytes.NewReader(buildEvtx(recs)), "h.evtx", &skips))
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
			if len(evs) != 2 || evs[0].Proc.PID != 300 || evs[1].Proc.PID != 388 {
				t.Errorf("events %+v", evs)
			}
			if len(skips.Got) != 1 || !strings.HasPrefix(skips.Got[0], "h.evtx:2: "+bomb.reason) {
				t.Errorf("skips %q", skips.Got)
			}
		})
	}
}

func TestEvtxDamagedFiles(t *testing.T) {
	good := synthFile()
	const chunk0 = 0x1000
	firstRecord := chunk0 + evtxChunkHeader
	secondRecord := firstRecord + int(binary.LittleEndian.Uint32(good[firstRecord+4:]))
	// patch damages the file behind valid checksums (what the walk and
	// the binary XML check must catch); raw leaves the checksums stale.
	raw := func(off int, b ...byte) []byte {
		out := bytes.Clone(good)
		copy(out[off:], b)
		return out
	}
	patch := func(off int, b ...byte) []byte { return signEvtx(raw(off, b...)) }
	type counts struct{ bad, lost, missing, crc int64 }
	cases := []struct {
		name   string
		data   []byte
		events int
		skips  []string
		want   counts
		err    string
	}{
		{"intact", good, 8, nil, counts{}, ""},
		{"cut inside the second record", good[:secondRecord+40], 1,
			[]string{"c.evtx:101: chunk 0: record 101: cut short (truncated file); 4 record(s) lost",
				"c.evtx:101: chunk 1 missing: the file ends after 1 of the 2 chunks its header names (next record ID 110); at least 5 record(s) lost"},
			counts{bad: 1, lost: 9, missing: 1}, ""},
		{"cut between records", good[:secondRecord], 1,
			[]string{"c.evtx:101: chunk 0: record header cut short (truncated file); 4 record(s) lost",
				"c.evtx:101: chunk 1 missing: the file ends after 1 of the 2 chunks its header names (next record ID 110); at least 5 record(s) lost"},
			counts{bad: 1, lost: 9, missing: 1}, ""},
		{"cut in the second chunk's header", good[:chunk0+evtxChunkSize+100], 4,
			[]string{"c.evtx:105: chunk 1: truncated in its header; 5 record(s) lost"}, counts{bad: 1, lost: 5}, ""},
		{"cut after the first chunk", good[:chunk0+evtxChunkSize], 4,
			[]string{"c.evtx:105: chunk 1 missing: the file ends after 1 of the 2 chunks its header names (next record ID 110); at least 5 record(s) lost"},
			counts{lost: 5, missing: 1}, ""},
		{"header block only", good[:chunk0], 0,
			[]string{"c.evtx:1: chunks 0-1 missing: the file ends after 0 of the 2 chunks its header names (next record ID 110); at least 2 record(s) lost"},
			counts{lost: 2, missing: 2}, ""},
		{"cut in the header block", good[:2000], 0,
			[]string{"c.evtx:1: chunks 0-1 missing: the file ends after 0 of the 2 chunks its header names (next record ID 110); at least 2 record(s) lost"},
			counts{lost: 2, missing: 2}, ""},
		{"zeros in place of a chunk the header names", func() []byte {
			b := bytes.Clone(good)
			clear(b[chunk0+evtxChunkSize:])
			return b
		}(), 4, []string{"c.evtx:105: chunk 1: missing (zeros where the file header names a chunk); at least 1 record lost"},
			counts{lost: 1, missing: 1}, ""},
		{"cut in the file header", good[:100], 0, nil, counts{}, "unexpected EOF"},
		{"bad record size", patch(secondRecord+4, 0xff, 0xff, 0, 0), 5,
			[]string{"c.evtx:101: chunk 0: record 101: bad size 65535; 4 record(s) lost"}, counts{bad: 1, lost: 4}, ""},
		{"size copy mismatch", patch(secondRecord+4, 0x30, 0, 0, 0), 5,
			[]string{"c.evtx:101: chunk 0: record 101: size mismatch; 4 record(s) lost"}, counts{bad: 1, lost: 4}, ""},
		{"garbage record header", patch(secondRecord, 'x', 'y'), 5,
			[]string{"c.evtx:101: chunk 0: bad record header; 4 record(s) lost"}, counts{bad: 1, lost: 4}, ""},
		{"no free space offset (zeros end the records)", patch(chunk0+0x30, 0, 0, 0, 0), 8, nil, counts{}, ""},
		{"stale slack after the free space offset", func() []byte {
			b := bytes.Clone(good)
			fso := int(binary.LittleEndian.Uint32(b[chunk0+0x30:]))
			copy(b[chunk0+fso:], "stale stale stale stale stale")
			return b
		}(), 8, nil, counts{}, ""},
		{"garbage chunk", raw(chunk0+evtxChunkSize, 'g', 'a', 'r', 'b', 'a', 'g', 'e'), 4,
			[]string{"c.evtx:105: chunk 1: no chunk header; records 105-109 lost (5, estimated by scanning the chunk: its header is not trusted)"}, counts{bad: 1, lost: 5}, ""},
		{"record ID past int64 (record of no interest)", patch(secondRecord+8, 0, 0, 0, 0, 0, 0, 0, 0x80), 8,
			[]string{"c.evtx:-1: record ID out of range"}, counts{}, ""},
		{"record ID past int64 (smss start)", patch(firstRecord+8, 0, 0, 0, 0, 0, 0, 0, 0x80), 7,
			[]string{"c.evtx:-1: record ID out of range"}, counts{}, ""},
		{"not EVTX version 3", patch(0x26, 2), 0, nil, counts{}, "unknown input format"},
		// Checksums.
		{"file header checksum", raw(evtxFileCRCAt, 0), 8,
			[]string{"c.evtx:-1: file header checksum mismatch: its version, chunk count and next record ID are not trusted"}, counts{crc: 1}, ""},
		{"file header chunk count damaged", raw(0x2A, 9), 8,
			[]string{"c.evtx:-1: file header checksum mismatch: its version, chunk count and next record ID are not trusted"}, counts{crc: 1}, ""},
		{"file header damaged and cut after it", raw(0x2A, 9)[:chunk0], 0,
			[]string{"c.evtx:-1: file header checksum mismatch: its version, chunk count and next record ID are not trusted"}, counts{crc: 1}, ""},
		{"chunk header checksum", raw(chunk0+evtxChunkCRCAt, 0), 4,
			[]string{"c.evtx:100: chunk 0: header checksum mismatch; records 100-104 lost (5, estimated by scanning the chunk: its header is not trusted)"}, counts{bad: 1, lost: 5, crc: 1}, ""},
		{"chunk record count damaged", raw(chunk0+0x10, 0xff), 4,
			[]string{"c.evtx:100: chunk 0: header checksum mismatch; records 100-104 lost (5, estimated by scanning the chunk: its header is not trusted)"}, counts{bad: 1, lost: 5, crc: 1}, ""},
		{"chunk string table damaged", raw(chunk0+0x100, 1), 4,
			[]string{"c.evtx:100: chunk 0: header checksum mismatch; records 100-104 lost (5, estimated by scanning the chunk: its header is not trusted)"}, counts{bad: 1, lost: 5, crc: 1}, ""},
		{"event records checksum (header signed)", func() []byte {
			b := raw(chunk0+evtxRecordsCRCAt, 0)
			c := b[chunk0 : chunk0+evtxChunkSize]
			binary.LittleEndian.PutUint32(c[evtxChunkCRCAt:], evtxChunkCRC(c))
			return b
		}(), 4,
			[]string{"c.evtx:100: chunk 0: event records checksum mismatch; records 100-104 lost (5, as its header lists)"}, counts{bad: 1, lost: 5, crc: 1}, ""},
		{"one bit of an image path", func() []byte {
			b := bytes.Clone(good)
			i := bytes.Index(b[chunk0+evtxChunkSize:], utf16le("smss.exe")) + chunk0 + evtxChunkSize
			b[i] ^= 0x20
			return b
		}(), 4, []string{"c.evtx:105: chunk 1: event records checksum mismatch; records 105-109 lost (5, as its header lists)"}, counts{bad: 1, lost: 5, crc: 1}, ""},
		{"header says never written, over records", patch(chunk0+0x20, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), 4,
			[]string{"c.evtx:100: chunk 0: header says never written, yet it holds records; records 100-104 lost (5, estimated by scanning the chunk: its header is not trusted)"},
			counts{bad: 1, lost: 5}, ""},
		{"header checksum mismatch and no record to be found", func() []byte {
			b := raw(chunk0+0x10, 0xff)
			clear(b[firstRecord : chunk0+evtxChunkSize])
			return b
		}(), 4, []string{"c.evtx:1: chunk 0: header checksum mismatch; an unknown number of records lost (none could be found; counted as 1)"},
			counts{bad: 1, lost: 1, crc: 1}, ""},
		// Live copies.
		{"dirty file, header lagging the chunks written since", live(good, evtxFlagDirty, func(b []byte) {
			binary.LittleEndian.PutUint16(b[0x2A:], 1)   // chunk count
			binary.LittleEndian.PutUint64(b[0x10:], 0)   // last chunk
			binary.LittleEndian.PutUint64(b[0x18:], 105) // next record ID
			binary.LittleEndian.PutUint32(b[evtxFileCRCAt:], crc32.ChecksumIEEE(b[:evtxFileCRCLen]))
		}), 8, nil, counts{}, ""},
		{"dirty file, header checksum stale", live(good, evtxFlagDirty, func(b []byte) {
			binary.LittleEndian.PutUint16(b[0x2A:], 3)
		}), 8, nil, counts{}, ""},
		{"dirty file, header checksum stale, cut at a chunk boundary (unnoticed: the header is not used)", live(good, evtxFlagDirty, func(b []byte) {
			b[0x18]++
		})[:chunk0+evtxChunkSize], 4, nil, counts{}, ""},
		{"clean file, header checksum stale (the dirty flag alone excuses it)", live(good, 0, func(b []byte) {
			binary.LittleEndian.PutUint16(b[0x2A:], 3)
		}), 8, []string{"c.evtx:-1: file header checksum mismatch: its version, chunk count and next record ID are not trusted"}, counts{crc: 1}, ""},
		{"no-CRC file: header and chunks flagged, checksums zero", live(good, evtxFlagDirty|evtxFlagNoCRC, func(b []byte) {
			zeroCRCs(b, evtxFlagNoCRC)
		}), 8, nil, counts{}, ""},
		{"no-CRC file: chunks unflagged, checksums zero", live(good, evtxFlagNoCRC, func(b []byte) {
			zeroCRCs(b, 0)
		}), 8, nil, counts{}, ""},
		{"no-CRC file: a chunk whose checksums are set is checked", live(good, evtxFlagNoCRC, func(b []byte) {
			binary.LittleEndian.PutUint32(b[evtxFileCRCAt:], 0)
			i := bytes.Index(b[chunk0+evtxChunkSize:], utf16le("smss.exe")) + chunk0 + evtxChunkSize
			b[i] ^= 0x20
		}), 4, []string{"c.evtx:105: chunk 1: event records checksum mismatch; records 105-109 lost (5, as its header lists)"}, counts{bad: 1, lost: 5, crc: 1}, ""},
		{"zero checksums in a file not flagged no-CRC", live(good, 0, func(b []byte) {
			zeroCRCs(b, 0)
			binary.LittleEndian.PutUint32(b[evtxFileCRCAt:], crc32.ChecksumIEEE(b[:evtxFileCRCLen]))
		}), 0, []string{
			"c.evtx:100: chunk 0: header checksum mismatch; records 100-104 lost (5, estimated by scanning the chunk: its header is not trusted)",
			"c.evtx:105: chunk 1: header checksum mismatch; records 105-109 lost (5, estimated by scanning the chunk: its header is not trusted)"},
			counts{bad: 2, lost: 10, crc: 2}, ""},
		{"one chunk flagged no-CRC in a clean file", live(good, 0, func(b []byte) {
			c := b[chunk0+evtxChunkSize:]
			binary.LittleEndian.PutUint32(c[evtxFlagsAt:], evtxFlagNoCRC)
			binary.LittleEndian.PutUint32(c[evtxChunkCRCAt:], 0)
			binary.LittleEndian.PutUint32(c[evtxRecordsCRCAt:], 0)
		}), 8, nil, counts{}, ""},
		{"unknown file flags are damage, not a pass", live(good, 0x100|evtxFlagNoCRC, func(b []byte) {
			zeroCRCs(b, 0)
		}), 0, []string{
			"c.evtx:-1: file header checksum mismatch: its version, chunk count and next record ID are not trusted",
			"c.evtx:100: chunk 0: header checksum mismatch; records 100-104 lost (5, estimated by scanning the chunk: its header is not trusted)",
			"c.evtx:105: chunk 1: header checksum mismatch; records 105-109 lost (5, estimated by scanning the chunk: its header is not trusted)"},
			counts{bad: 2, lost: 10, crc: 3}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var skips etwtest.SkipLog
			r := NewReader(bytes.NewReader(c.data), "c.evtx", &skips)
			evs, err := etwtest.ReadAll(t, r)
			if (err == nil) != (c.err == "") || (err != nil && !strings.Contains(err.Error(), c.err)) {
				t.Fatalf("err %v, want %q", err, c.err)
			}
			if len(evs) != c.events {
				t.Errorf("%d events, want %d", len(evs), c.events)
			}
			if strings.Join(skips.Got, "|") != strings.Join(c.skips, "|") {
				t.Errorf("skips %q\nwant  %q", skips.Got, c.skips)
			}
			st := r.Stats()
			if got := (counts{st.BadChunks, st.LostRecords, st.MissingChunks, st.ChecksumErrors}); got != c.want {
				t.Errorf("bad, lost, missing, crc %+v, want %+v", got, c.want)
			}
			if st.Skipped < st.LostRecords {
				t.Errorf("lost records not in Skipped: %+v", st)
			}
		})
	}
}

// live returns a copy of an EVTX file with its file header flags set and
// then edited by edit (which may leave its checksum stale), as a copy of a
// log Windows has open looks.
func live(file []byte, flags uint32, edit func(b []byte)) []byte {
	b := bytes.Clone(file)
	binary.LittleEndian.PutUint32(b[evtxFlagsAt:], flags) // not covered by the checksum
	edit(b)
	return b
}

// zeroCRCs zeroes every checksum of an EVTX file (its header's and each
// chunk's), setting chunkFlags on each chunk, as Windows writes logs it
// flags no-CRC.
func zeroCRCs(b []byte, chunkFlags uint32) {
	binary.LittleEndian.PutUint32(b[evtxFileCRCAt:], 0)
	for off := 0x1000; off+evtxChunkHeader <= len(b); off += evtxChunkSize {
		c := b[off:]
		binary.LittleEndian.PutUint32(c[evtxFlagsAt:], chunkFlags)
		binary.LittleEndian.PutUint32(c[evtxChunkCRCAt:], 0)
		binary.LittleEndian.PutUint32(c[evtxRecordsCRCAt:], 0)
	}
}

// updateFixture rewrites the synthetic EVTX file that etw/input's tests
// read (go test ./etw/evtx -run TestSynthFixture -update).
var updateFixture = flag.Bool("update", false, "rewrite ../input/testdata/synth.evtx")

// TestSynthFixture keeps ../input/testdata/synth.evtx (the EVTX input of
// etw/input's tests, which cannot build one: the builder is this
// package's test code) equal to synthFile.
func TestSynthFixture(t *testing.T) {
	const path = "../input/testdata/synth.evtx"
	want := synthFile()
	if *updateFixture {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: run go test ./etw/evtx -run TestSynthFixture -update", path)
	}
}

// BenchmarkEvtxReader reads the synthetic two-chunk file.
func BenchmarkEvtxReader(b *testing.B) {
	data := synthFile()
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	events := 0
	for i := 0; i < b.N; i++ {
		r := NewReader(bytes.NewReader(data), "b", nil)
		var ev etw.Event
		for r.Next(&ev) == nil {
			events++
		}
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}
