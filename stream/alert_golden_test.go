package stream

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/smsswatch/smsswatch/detect"
	"github.com/smsswatch/smsswatch/etw"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenViolations are the documents pinned byte for byte in
// testdata/alerts.golden.jsonl: every rule from every source, a registry
// alert with and without a value, and a violation with almost nothing
// known.
func goldenViolations() []*detect.Violation {
	var vs []*detect.Violation
	for r := detect.Rule(1); int(r) < detect.NumRules; r++ {
		v := sampleViolation()
		v.Rule, v.Severity = r, detect.Severity(int(r)%4+1)
		v.Source = etw.Source(int(r) % 5)
		v.Count = uint32(r)
		v.Evidence.Window = int64(r) * 1e9
		if r == detect.RuleRegistry {
			v.Evidence.RegOp, v.Evidence.RegKey = "set", `HKLM\SYSTEM\CurrentControlSet\Control\Session Manager`
			v.Evidence.RegValue, v.Evidence.RegData = "BootExecute", "autocheck autochk *\x00evil.exe"
			v.Evidence.RegDefault = "autocheck autochk *"
		}
		if r == detect.RuleSecondMaster {
			v.Evidence.Started, v.Evidence.Deadline = v.Time-5e9, v.Time+25e9
			v.Evidence.First, v.Evidence.Last = v.Time-9e9, v.Time
		}
		vs = append(vs, v)
	}
	key := sampleViolation()
	key.Rule = detect.RuleRegistry
	key.Evidence = detect.Evidence{RegKey: `HKLM\SYSTEM\CurrentControlSet\Control\Session Manager\KnownDLLs`, RegOp: "create"}
	bare := &detect.Violation{Rule: detect.RuleSensorBlind, Severity: detect.SeverityHigh, Host: "h\"\\\x01\u2028é\xff", Time: -1}
	odd := sampleViolation()
	odd.Process.Known |= etw.FieldExitTime
	odd.Process.ExitTime = odd.Time + 1
	odd.Process.Image = "C:\\Windows\\System32\\\u00e9\\sm\"ss\x7f.exe"
	odd.Process.CommandLine = "smss.exe \x1b[2J\t\r\n"
	odd.Parent.Known = etw.FieldPID
	return append(vs, key, bare, odd)
}

// TestAppendAlertGolden pins the alert documents byte for byte, so that a
// faster encoder cannot change what consumers receive. Run with -update
// after an intended change (and bump SchemaVersion if a field is removed
// or changes meaning).
func TestAppendAlertGolden(t *testing.T) {
	var got []byte
	for _, v := range goldenViolations() {
		got = AppendAlert(got, v)
		got = append(got, '\n')
	}
	path := filepath.Join("testdata", "alerts.golden.jsonl")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	gl, wl := bytes.Split(got, []byte("\n")), bytes.Split(want, []byte("\n"))
	if len(gl) != len(wl) {
		t.Fatalf("%d documents, golden has %d", len(gl), len(wl))
	}
	for i := range gl {
		if !bytes.Equal(gl[i], wl[i]) {
			t.Errorf("document %d differs:\n got %s\nwant %s", i+1, gl[i], wl[i])
		}
		if len(gl[i]) > 0 {
			decode(t, gl[i])
		}
	}
}
