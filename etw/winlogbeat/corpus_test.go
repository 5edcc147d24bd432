package winlogbeat_test

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"os"
	"testing"

	"github.com/smsswatch/smsswatch/etw"
	"github.com/smsswatch/smsswatch/etw/input"
	"github.com/smsswatch/smsswatch/etw/internal/etwtest"
	"github.com/smsswatch/smsswatch/etw/sessmgr"
	"github.com/smsswatch/smsswatch/etw/winlogbeat"

	"github.com/smsswatch/smsswatch/etw/textparse"
)

// TestWinlogbeatCorpus reads the real Winlogbeat 7.4 capture of
// shared/corpus (a JSON-lines file in a tar.gz) in place through Open, and
// checks it reads cleanly, holds the RDP session child seen by Sysmon and
// by Security, and maps every record as the encoding/json reference does.
func TestWinlogbeatCorpus(t *testing.T) {
	path := etwtest.CorpusFile(t, "winlogbeat_dataset-sample-one.tar.gz")
	var skips etwtest.SkipLog
	r, closer, err := input.Open(path, &skips)
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	in := r.(*input.Input)
	if in.Format != input.FormatTar || !in.Gzip {
		t.Fatalf("format %v gzip %v", in.Format, in.Gzip)
	}
	rows, all := etwtest.SmssEvents(t, r)
	if len(skips.Got) != 0 {
		t.Errorf("skips %q", skips.Got[:min(len(skips.Got), 5)])
	}
	st := in.Stats()
	want := etw.ReadStats{Records: 8960, Events: int64(len(all)), Members: 1}
	if st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
	child := map[etwtest.SmssRow]bool{
		etwtest.Row(etw.SourceSysmon, etw.KindStart, 2316, 396, "2019-10-27 05:50:41.121"):      true,
		etwtest.Row(etw.SourceSysmon, etw.KindExit, 2316, 0, "2019-10-27 05:50:41.137"):         true,
		etwtest.Row(etw.SourceSecurity, etw.KindStart, 0x90c, 0x18c, "2019-10-27 05:50:41.121"): true,
		etwtest.Row(etw.SourceSecurity, etw.KindExit, 0x90c, 0, "2019-10-27 05:50:41.145"):      true,
	}
	for _, row := range rows {
		if !child[row] {
			t.Errorf("unexpected smss event %+v", row)
		}
		delete(child, row)
	}
	for row := range child {
		t.Errorf("missing smss event %+v", row)
	}
	hosts := map[string]int{}
	for _, ev := range all {
		hosts[ev.Host]++
		if ev.Kind == etw.KindRegistry && !sessmgr.IsKey(ev.Reg.Key) {
			t.Errorf("registry outside Session Manager: %q", ev.Reg.Key)
		}
	}
	// The collector (host.name WECServer) is never taken for the machine.
	if len(hosts) != 2 || hosts["HFDC01.shire.com"] == 0 || hosts["IT001.shire.com"] == 0 {
		t.Errorf("hosts %v", hosts)
	}

	// Every line, through the reference.
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	if _, err := tr.Next(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(tr)
	sc.Buffer(nil, textparse.MaxLine)
	var ref []etw.Event
	line := 0
	for sc.Scan() {
		line++
		ev, emit, reason, ok := winlogbeat.WLBReference(sc.Bytes())
		if !ok || reason != "" {
			t.Fatalf("line %d: reference ok %v reason %q", line, ok, reason)
		}
		if emit {
			ref = append(ref, ev)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(ref) != len(all) {
		t.Fatalf("reference %d events, reader %d", len(ref), len(all))
	}
	for i := range ref {
		if ref[i] != all[i] {
			t.Fatalf("event %d: reader %+v\nreference %+v", i, all[i], ref[i])
		}
	}
	kinds := map[string]int{}
	for _, ev := range all {
		kinds[ev.Source.String()+"/"+ev.Kind.String()]++
	}
	t.Logf("%d events: %v", len(all), kinds)
	if kinds["sysmon/start"] != 17 || kinds["security/start"] != 17 || kinds["sysmon/exit"] != 18 || kinds["security/exit"] != 19 {
		t.Errorf("kinds %v", kinds)
	}
}
