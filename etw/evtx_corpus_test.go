package etw

import (
	"archive/zip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The real captures of shared/corpus (see its README), read in place: they
// are never copied into the repository. These tests skip when the corpus
// is not beside the repository.
const corpusDir = "../../shared/corpus"

func corpusFile(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(corpusDir, name)
	if _, err := os.Stat(path); err != nil {
		t.Skipf("corpus capture %s not present (%v): real-data conformance not checked", path, err)
	}
	return path
}

// smssRow is one smss.exe process event as a test expects it.
type smssRow struct {
	src  Source
	kind Kind
	pid  uint32
	ppid uint32 // 0: unknown
	at   string
}

// smssEvents reads a capture and returns its smss.exe process events.
func smssEvents(t *testing.T, r Reader) (rows []smssRow, all []Event) {
	t.Helper()
	evs, err := readAll(t, r)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if (ev.Kind == KindStart || ev.Kind == KindExit) && strings.HasSuffix(strings.ToLower(ev.Proc.Image), `\smss.exe`) {
			rows = append(rows, smssRow{ev.Source, ev.Kind, ev.Proc.PID, ev.Proc.ParentPID, TimeOf(ev.Time).Format("2006-01-02 15:04:05.000")})
		}
	}
	return rows, evs
}

func TestEvtxCorpus(t *testing.T) {
	cases := []struct {
		file    string
		host    string
		records int64
		events  int
		smss    []smssRow
	}{
		{"privesc_unquoted_svc_sysmon_1_11.evtx", "MSEDGEWIN10", 87, 79, []smssRow{
			{SourceSysmon, KindStart, 300, 4, "2020-04-25 22:19:11.037"},
			{SourceSysmon, KindStart, 388, 300, "2020-04-25 22:19:15.727"},
			{SourceSysmon, KindStart, 460, 300, "2020-04-25 22:19:16.128"},
		}},
		{"DE_sysmon-3-rdp-tun.evtx", "PC01.example.corp", 73, 25, []smssRow{
			{SourceSysmon, KindStart, 3444, 292, "2019-02-16 10:04:04.141"},
			{SourceSysmon, KindExit, 3444, 0, "2019-02-16 10:04:04.211"},
			{SourceSysmon, KindStart, 3064, 292, "2019-02-16 10:04:04.882"},
			{SourceSysmon, KindExit, 3064, 0, "2019-02-16 10:04:04.952"},
		}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			var skips skipLog
			r, closer, err := Open(corpusFile(t, c.file), &skips)
			if err != nil {
				t.Fatal(err)
			}
			defer closer.Close()
			in := r.(*Input)
			if in.Format != FormatEVTX {
				t.Fatalf("format %v", in.Format)
			}
			rows, all := smssEvents(t, r)
			if len(skips.got) != 0 {
				t.Errorf("skips %q", skips.got)
			}
			if st := in.Stats(); st.Records != c.records || len(all) != c.events || st.Events != int64(c.events) {
				t.Errorf("stats %+v, %d events", st, len(all))
			}
			if len(rows) != len(c.smss) {
				t.Fatalf("smss events %+v", rows)
			}
			for i, want := range c.smss {
				if rows[i] != want {
					t.Errorf("smss %d: got %+v, want %+v", i, rows[i], want)
				}
			}
			for _, ev := range all {
				if ev.Host != c.host {
					t.Fatalf("host %q", ev.Host)
				}
			}
		})
	}
	t.Run("master of the privesc capture in full", func(t *testing.T) {
		var skips skipLog
		r, closer, err := Open(corpusFile(t, "privesc_unquoted_svc_sysmon_1_11.evtx"), &skips)
		if err != nil {
			t.Fatal(err)
		}
		defer closer.Close()
		_, all := smssEvents(t, r)
		var master *Event
		for i := range all {
			if all[i].Proc.PID == 300 && all[i].Kind == KindStart {
				master = &all[i]
			}
		}
		if master == nil {
			t.Fatal("no master")
		}
		at := time.Date(2020, 4, 25, 22, 19, 11, 37e6, time.UTC).UnixNano()
		want := Event{Time: at, Kind: KindStart, Source: SourceSysmon, Host: "MSEDGEWIN10",
			Known: FieldPID | FieldParentPID | FieldSession | FieldImage | FieldParentImage | FieldUserName | FieldCommandLine |
				FieldCreateTime | FieldKey | FieldParentKey,
			Proc: Process{PID: 300, ParentPID: 4, CreateTime: at, Image: `C:\Windows\System32\smss.exe`, ParentImage: "System",
				CommandLine: `\SystemRoot\System32\smss.exe`, UserName: `NT AUTHORITY\SYSTEM`,
				Key: "747F3D96-B75F-5EA4-0000-0010622C0000", ParentKey: "747F3D96-B75F-5EA4-0000-0010EB030000"}}
		if *master != want {
			t.Errorf("got  %+v\nwant %+v", *master, want)
		}
	})
}

// TestNXLogCorpus streams the OTRF capture out of its zip (nothing is
// extracted) and checks the zone conversion against Sysmon's UtcTime: the
// Security 4688 of the master (EventTime 03:07:40, forwarder at UTC-4)
// and the Sysmon 1 of it (UtcTime 07:07:40.702) must agree.
func TestNXLogCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("80 MB capture")
	}
	zr, err := zip.OpenReader(corpusFile(t, "empire_persistence_registry_modification_run_keys_standard_user.zip"))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var member *zip.File
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, ".json") {
			member = f
		}
	}
	if member == nil {
		t.Fatal("no JSON member")
	}
	rc, err := member.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var skips skipLog
	in, err := OpenReader(rc, member.Name, &skips)
	if err != nil {
		t.Fatal(err)
	}
	if in.Format != FormatNXLog {
		t.Fatalf("format %v", in.Format)
	}
	rows, all := smssEvents(t, in)
	if len(skips.got) != 0 {
		t.Errorf("skips %q", skips.got[:min(len(skips.got), 5)])
	}
	st := in.Stats()
	if st.Records != 40569 || st.NoZone != 0 || st.NoUtcTime != 0 {
		t.Errorf("stats %+v", st)
	}
	const ws = "WORKSTATION5.theshire.local"
	want := map[smssRow]bool{
		{SourceSysmon, KindStart, 404, 4, "2020-09-04 07:07:40.702"}:      true,
		{SourceSecurity, KindStart, 0x194, 0, "2020-09-04 07:07:40.000"}:  true, // same second: zone right
		{SourceSysmon, KindStart, 500, 404, "2020-09-04 07:07:55.191"}:    true,
		{SourceSysmon, KindExit, 500, 0, "2020-09-04 07:07:55.700"}:       true,
		{SourceSysmon, KindStart, 576, 404, "2020-09-04 07:07:55.698"}:    true,
		{SourceSysmon, KindExit, 576, 0, "2020-09-04 07:07:55.763"}:       true,
		{SourceSecurity, KindStart, 4952, 404, "2020-09-04 07:08:15.000"}: true,
		{SourceSecurity, KindExit, 4952, 0, "2020-09-04 07:08:15.000"}:    true,
	}
	got := map[smssRow]bool{}
	for _, r := range rows {
		got[r] = true
	}
	for w := range want {
		if !got[w] {
			t.Errorf("missing %+v", w)
		}
	}
	var boot *Event
	kinds := map[string]int{}
	for i, ev := range all {
		kinds[ev.Source.String()+"/"+ev.Kind.String()]++
		if ev.Kind == KindBoot && ev.Has(FieldBootTime) {
			boot = &all[i]
		}
		if ev.Kind == KindRegistry && ev.Host == ws && !IsSessionManagerKey(ev.Reg.Key) {
			t.Errorf("registry outside Session Manager: %q", ev.Reg.Key)
		}
	}
	if boot == nil || TimeOf(boot.Boot.BootTime) != time.Date(2020, 9, 4, 7, 7, 38, 5e8, time.UTC) || boot.Host != ws {
		t.Errorf("boot %+v", boot)
	}
	if kinds["sysmon/start"] == 0 || kinds["security/start"] == 0 || kinds["sysmon/registry"] == 0 || kinds["security/boot"] != 1 {
		t.Errorf("kinds %v", kinds)
	}
}

// TestEvtxCorpusIntegrity reads every EVTX capture of the corpus: none has
// a bad checksum, a bad or missing chunk, or a lost record; and each cut
// to its header block reports the chunks its header names as missing.
func TestEvtxCorpusIntegrity(t *testing.T) {
	cases := []struct {
		file    string
		records int64
		chunks  int64 // the file header's chunk count
	}{
		{"DE_sysmon-3-rdp-tun.evtx", 73, 1},
		{"privesc_unquoted_svc_sysmon_1_11.evtx", 87, 3},
		{"win11_24h2_Security.evtx", 1715, 23},
		{"win11_24h2_System.evtx", 1247, 10},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			data, err := os.ReadFile(corpusFile(t, c.file))
			if err != nil {
				t.Fatal(err)
			}
			run := readEvtxRun(t, data)
			if run.err != nil {
				t.Fatal(run.err)
			}
			st := run.stats
			if st.Records != c.records || st.Skipped != 0 || st.BadChunks != 0 || st.LostRecords != 0 || st.MissingChunks != 0 || st.ChecksumErrors != 0 {
				t.Errorf("stats %+v, skips %q", st, run.skips)
			}
			cut := readEvtxRun(t, data[:0x1000])
			if cut.err != nil || len(cut.events) != 0 || cut.stats.MissingChunks != c.chunks || cut.stats.LostRecords < c.chunks || len(cut.skips) != 1 {
				t.Errorf("cut to its header: stats %+v, skips %q, err %v", cut.stats, cut.skips, cut.err)
			}
			t.Logf("cut to its header: %q", cut.skips)
			// Cut after its first chunk, the oldest: the records of the
			// others are counted exactly from the header's next record ID.
			half := readEvtxRun(t, data[:0x1000+evtxChunkSize])
			if c.chunks > 1 && (half.stats.MissingChunks != c.chunks-1 || half.stats.Records+half.stats.LostRecords != c.records) {
				t.Errorf("cut after chunk 0: stats %+v, skips %q", half.stats, half.skips)
			}
		})
	}
}
