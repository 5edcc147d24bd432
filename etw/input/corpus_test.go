package input

import (
	"archive/zip"
	"strings"
	"testing"
	"time"

	"github.com/smsswatch/smsswatch/etw"
	"github.com/smsswatch/smsswatch/etw/internal/etwtest"
	"github.com/smsswatch/smsswatch/etw/sessmgr"
)

// The real captures of shared/corpus, read through Open as hunt reads
// them (etwtest.CorpusFile skips, saying so, when they are absent).

func TestEvtxCorpus(t *testing.T) {
	cases := []struct {
		file    string
		host    string
		records int64
		events  int
		smss    []etwtest.SmssRow
	}{
		{"privesc_unquoted_svc_sysmon_1_11.evtx", "MSEDGEWIN10", 87, 79, []etwtest.SmssRow{
			etwtest.Row(etw.SourceSysmon, etw.KindStart, 300, 4, "2020-04-25 22:19:11.037"),
			etwtest.Row(etw.SourceSysmon, etw.KindStart, 388, 300, "2020-04-25 22:19:15.727"),
			etwtest.Row(etw.SourceSysmon, etw.KindStart, 460, 300, "2020-04-25 22:19:16.128"),
		}},
		{"DE_sysmon-3-rdp-tun.evtx", "PC01.example.corp", 73, 25, []etwtest.SmssRow{
			etwtest.Row(etw.SourceSysmon, etw.KindStart, 3444, 292, "2019-02-16 10:04:04.141"),
			etwtest.Row(etw.SourceSysmon, etw.KindExit, 3444, 0, "2019-02-16 10:04:04.211"),
			etwtest.Row(etw.SourceSysmon, etw.KindStart, 3064, 292, "2019-02-16 10:04:04.882"),
			etwtest.Row(etw.SourceSysmon, etw.KindExit, 3064, 0, "2019-02-16 10:04:04.952"),
		}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			var skips etwtest.SkipLog
			r, closer, err := Open(etwtest.CorpusFile(t, c.file), &skips)
			if err != nil {
				t.Fatal(err)
			}
			defer closer.Close()
			in := r.(*Input)
			if in.Format != FormatEVTX {
				t.Fatalf("format %v", in.Format)
			}
			rows, all := etwtest.SmssEvents(t, r)
			if len(skips.Got) != 0 {
				t.Errorf("skips %q", skips.Got)
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
		var skips etwtest.SkipLog
		r, closer, err := Open(etwtest.CorpusFile(t, "privesc_unquoted_svc_sysmon_1_11.evtx"), &skips)
		if err != nil {
			t.Fatal(err)
		}
		defer closer.Close()
		_, all := etwtest.SmssEvents(t, r)
		var master *etw.Event
		for i := range all {
			if all[i].Proc.PID == 300 && all[i].Kind == etw.KindStart {
				master = &all[i]
			}
		}
		if master == nil {
			t.Fatal("no master")
		}
		at := time.Date(2020, 4, 25, 22, 19, 11, 37e6, time.UTC).UnixNano()
		want := etw.Event{Time: at, Kind: etw.KindStart, Source: etw.SourceSysmon, Host: "MSEDGEWIN10",
			Known: etw.FieldPID | etw.FieldParentPID | etw.FieldSession | etw.FieldImage | etw.FieldParentImage | etw.FieldUserName | etw.FieldCommandLine |
				etw.FieldCreateTime | etw.FieldKey | etw.FieldParentKey,
			Proc: etw.Process{PID: 300, ParentPID: 4, CreateTime: at, Image: `C:\Windows\System32\smss.exe`, ParentImage: "System",
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
	zr, err := zip.OpenReader(etwtest.CorpusFile(t, "empire_persistence_registry_modification_run_keys_standard_user.zip"))
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
	var skips etwtest.SkipLog
	in, err := OpenReader(rc, member.Name, &skips)
	if err != nil {
		t.Fatal(err)
	}
	if in.Format != FormatNXLog {
		t.Fatalf("format %v", in.Format)
	}
	rows, all := etwtest.SmssEvents(t, in)
	if len(skips.Got) != 0 {
		t.Errorf("skips %q", skips.Got[:min(len(skips.Got), 5)])
	}
	st := in.Stats()
	if st.Records != 40569 || st.NoZone != 0 || st.NoUtcTime != 0 {
		t.Errorf("stats %+v", st)
	}
	const ws = "WORKSTATION5.theshire.local"
	want := map[etwtest.SmssRow]bool{
		etwtest.Row(etw.SourceSysmon, etw.KindStart, 404, 4, "2020-09-04 07:07:40.702"):      true,
		etwtest.Row(etw.SourceSecurity, etw.KindStart, 0x194, 0, "2020-09-04 07:07:40.000"):  true, // same second: zone right
		etwtest.Row(etw.SourceSysmon, etw.KindStart, 500, 404, "2020-09-04 07:07:55.191"):    true,
		etwtest.Row(etw.SourceSysmon, etw.KindExit, 500, 0, "2020-09-04 07:07:55.700"):       true,
		etwtest.Row(etw.SourceSysmon, etw.KindStart, 576, 404, "2020-09-04 07:07:55.698"):    true,
		etwtest.Row(etw.SourceSysmon, etw.KindExit, 576, 0, "2020-09-04 07:07:55.763"):       true,
		etwtest.Row(etw.SourceSecurity, etw.KindStart, 4952, 404, "2020-09-04 07:08:15.000"): true,
		etwtest.Row(etw.SourceSecurity, etw.KindExit, 4952, 0, "2020-09-04 07:08:15.000"):    true,
	}
	got := map[etwtest.SmssRow]bool{}
	for _, r := range rows {
		got[r] = true
	}
	for w := range want {
		if !got[w] {
			t.Errorf("missing %+v", w)
		}
	}
	var boot *etw.Event
	kinds := map[string]int{}
	for i, ev := range all {
		kinds[ev.Source.String()+"/"+ev.Kind.String()]++
		if ev.Kind == etw.KindBoot && ev.Has(etw.FieldBootTime) {
			boot = &all[i]
		}
		if ev.Kind == etw.KindRegistry && ev.Host == ws && !sessmgr.IsKey(ev.Reg.Key) {
			t.Errorf("registry outside Session Manager: %q", ev.Reg.Key)
		}
	}
	if boot == nil || etw.TimeOf(boot.Boot.BootTime) != time.Date(2020, 9, 4, 7, 7, 38, 5e8, time.UTC) || boot.Host != ws {
		t.Errorf("boot %+v", boot)
	}
	if kinds["sysmon/start"] == 0 || kinds["security/start"] == 0 || kinds["sysmon/registry"] == 0 || kinds["security/boot"] != 1 {
		t.Errorf("kinds %v", kinds)
	}
}
