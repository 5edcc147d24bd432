package alert

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/smsswatch/smsswatch/detect"
	"github.com/smsswatch/smsswatch/etw"
	"github.com/smsswatch/smsswatch/stream/internal/sample"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenViolations are the documents pinned byte for byte in
// testdata/alerts.golden.jsonl: every rule from every source, a registry
// alert with and without a value, and a violation with almost nothing
// known.
func goldenViolations() []*detect.Violation {
	var vs []*detect.Violation
	for r := detect.Rule(1); int(r) < detect.NumRules; r++ {
		v := sample.Violation()
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
	key := sample.Violation()
	key.Rule = detect.RuleRegistry
	key.Evidence = detect.Evidence{RegKey: `HKLM\SYSTEM\CurrentControlSet\Control\Session Manager\KnownDLLs`, RegOp: "create"}
	bare := &detect.Violation{Rule: detect.RuleSensorBlind, Severity: detect.SeverityHigh, Host: "h\"\\\x01\u2028é\xff", Time: -1}
	odd := sample.Violation()
	odd.Process.Known |= etw.FieldExitTime
	odd.Process.ExitTime = odd.Time + 1
	odd.Process.Image = "C:\\Windows\\System32\\\u00e9\\sm\"ss\x7f.exe"
	odd.Process.CommandLine = "smss.exe \x1b[2J\t\r\n"
	odd.Parent.Known = etw.FieldPID
	odd.Message = "smss.exe ran from C:\\Windows\\System32\\\u00e9\\sm\"ss\x7f.exe \x1b]52;c;ZXZpbA==\x07\r\n\u202eexe.txt \xff"
	// A master's unexpected child: ATT&CK T1547.001, not T1055.
	master := sample.Violation()
	master.Rule, master.Evidence.Role = detect.RuleUnexpectedChild, detect.RoleMaster
	// A sensor that named itself, and an alert cut to fit a small payload.
	agent := sample.Violation()
	agent.Parent.Known |= etw.FieldSession | etw.FieldCommandLine | etw.FieldKey | etw.FieldCreateTime
	agent.Parent.Session, agent.Parent.CommandLine, agent.Parent.Key = 1, `C:\Windows\explorer.exe`, "999"
	agent.Parent.CreateTime = agent.Time - 3600e9
	// An overflow aggregate: the distinct kinds it folded, with counts.
	folded := sample.Violation()
	folded.Count = 40
	folded.Evidence.First, folded.Evidence.Last = folded.Time-30e9, folded.Time
	folded.Evidence.Folded = []detect.FoldedValue{
		{Image: `C:\Users\Public\1\smss.exe`, ParentImage: `C:\Windows\System32\cmd.exe`, CommandLine: "smss.exe", Count: 30},
		{Image: `C:\ProgramData\evil\smss.exe`, ParentImage: `C:\Windows\System32\cmd.exe`, CommandLine: "smss.exe -x\x1b]52", Count: 1},
	}
	folded.Evidence.MoreFolded = 9
	return append(vs, key, bare, odd, master, folded, agent)
}

// goldenDocuments encodes goldenViolations, the last one with a named
// agent and cut to a small limit (smsswatch.truncated).
func goldenDocuments() []byte {
	var got []byte
	vs := goldenViolations()
	for i, v := range vs {
		if i == len(vs)-1 {
			SetAgent(Agent{Name: "ws01-sensor", Version: "1.2.3", ID: "4f1c2b9e-sensor"})
			e := alertEnc{limit: 12}
			got = e.appendAlert(got, v)
			SetAgent(Agent{})
		} else {
			got = AppendAlert(got, v)
		}
		got = append(got, '\n')
	}
	return got
}

// TestAppendAlertGolden pins the alert documents byte for byte, so that a
// faster encoder cannot change what consumers receive. Run with -update
// after an intended change (and bump SchemaVersion if a field is removed
// or changes meaning).
func TestAppendAlertGolden(t *testing.T) {
	got := goldenDocuments()
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
