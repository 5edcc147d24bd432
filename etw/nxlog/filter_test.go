package nxlog

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/smsswatch/smsswatch/etw/internal/etwtest"
	"github.com/smsswatch/smsswatch/etw/winlog"

	"github.com/smsswatch/smsswatch/etw/textparse"
)

// nxlogCandidateScan is the line filter as it was before it was anchored
// on rare bytes (issue #14): the same rules, with searches for patterns
// that begin with '"' or '\' and byte-by-byte case folding. The anchored
// filter must decide every line the same way.
func nxlogCandidateScan(line []byte) bool {
	if bytes.Contains(line, []byte(`\u`)) {
		return true
	}
	rest := line
	for {
		i := bytes.Index(rest, []byte(`"EventID"`))
		if i < 0 {
			return false
		}
		rest = rest[i+len(`"EventID"`):]
		v := memberValue(rest)
		if v == nil {
			continue
		}
		id, plain := plainID(v)
		if !plain {
			return true
		}
		switch id {
		case winlog.SysmonProcessCreate, winlog.SysmonProcessTerminate, winlog.SecurityProcessCreate, winlog.SecurityProcessExit, winlog.SecurityStartup, winlog.SystemEventLogStart:
			return true
		case winlog.SysmonRegistryObject, winlog.SysmonRegistrySetValue, winlog.SysmonRegistryRename:
			if registryCandidateScan(line) || (id == winlog.SystemKernelStart && systemCandidateScan(line)) {
				return true
			}
		}
	}
}

func registryCandidateScan(line []byte) bool {
	rest := line
	for {
		i := bytes.Index(rest, []byte(`"TargetObject"`))
		if i < 0 {
			return false
		}
		rest = rest[i+len(`"TargetObject"`):]
		v := memberValue(rest)
		if len(v) == 0 || v[0] != '"' {
			continue
		}
		v = v[1:]
		end := 0
		for end < len(v) && v[end] != '"' {
			if v[end] == '\\' {
				end++
			}
			end++
		}
		if end > len(v) {
			end = len(v)
		}
		if textparse.ContainsFold(v[:end], "session manager") {
			return true
		}
	}
}

func systemCandidateScan(line []byte) bool {
	return textparse.ContainsFold(line, "kernel-general") ||
		(bytes.Contains(line, []byte(`"StartTime"`)) && textparse.ContainsFold(line, "system"))
}

const (
	filterTail = `,"EventTime":"2020-09-04 03:07:40","Hostname":"WS5"}`
	regSM      = `"TargetObject":"HKLM\\System\\CurrentControlSet\\Control\\Session Manager\\BootExecute"`
	regRun     = `"TargetObject":"HKU\\S-1-5-21-1\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\Updater"`
	sysmonCh   = `"Channel":"Microsoft-Windows-Sysmon/Operational"`
)

func TestNXLogPrefilter(t *testing.T) {
	tests := []struct {
		name string
		line string
		want bool
	}{
		{"sysmon 1", `{"Message":"Process Create:",` + sysmonCh + `,"EventID":1` + filterTail, true},
		{"sysmon 5 as a string", `{` + sysmonCh + `,"EventID":"5"` + filterTail, true},
		{"security 4688", `{"Channel":"Security","EventID":4688` + filterTail, true},
		{"security 4689 last member", `{"Channel":"Security","EventID":4689}`, true},
		{"security 4608", `{"EventID":4608,"Channel":"Security"}`, true},
		{"system 6005", `{"SourceName":"EventLog","EventID":6005}`, true},
		{"not of interest", `{"Channel":"Security","EventID":5158` + filterTail, false},
		{"no EventID", `{"Channel":"Security","Event":4688}`, false},
		{"white space around the colon", `{"EventID" :	4688}`, true},
		{"carriage return before the colon", "{\"EventID\"\r:4688}", true},
		{"no quote before the name", `{xEventID":4688}`, false},
		{"name at the start of the line", `EventID":4688}`, false},
		{"longer name", `{"MyEventID":4688}`, false},
		// Escapes: a \u anywhere sends the line to the parser.
		{"escaped key", `{"Channel":"Security","Event\u0049D":4608` + filterTail, true},
		{"escaped value letter", `{"Channel":"Security","EventID":5158,"Message":"caf\u00e9"}`, true},
		{"escaped backslash before u", `{"Channel":"Security","EventID":5158,"Image":"C:\\users\\a.exe"}`, true},
		{"other escapes only", `{"Channel":"Security","EventID":5158,"Message":"a\r\n\tb \"q\" C:\\Windows"}`, false},
		// EventID inside a value string, or as a value.
		{"EventID quoted in the message", `{"Message":"text \"EventID\":4688 text","Channel":"Security","EventID":5158}`, false},
		{"EventID as a value", `{"Field":"EventID","Channel":"Security","EventID":5158}`, false},
		{"EventID as a value, then of interest", `{"Field":"EventID","Channel":"Security","EventID":4688}`, true},
		// Several EventID members: any of interest lets the line by.
		{"second of interest", `{"EventID":5158,"Channel":"Security","EventID":4688}`, true},
		{"first of interest", `{"EventID":4688,"Channel":"Security","EventID":5158}`, true},
		{"neither of interest", `{"EventID":5158,"Channel":"Security","EventID":4658}`, false},
		{"nested then top level", `{"Data":{"EventID":4688},"EventID":5158}`, true},
		{"adjacent names", `{"EventID""EventID":4688}`, true},
		// Not plainly a number: left to the mapper.
		{"null", `{"Channel":"Security","EventID":null}`, true},
		{"object", `{"Channel":"Security","EventID":{"v":1}}`, true},
		{"negative", `{"Channel":"Security","EventID":-1}`, true},
		{"leading space in a string", `{"Channel":"Security","EventID":" 1"}`, true},
		{"fraction", `{"Channel":"Security","EventID":5158.0}`, true},
		{"empty string", `{"Channel":"Security","EventID":""}`, true},
		{"eleven digits", `{"Channel":"Security","EventID":12345678901}`, true},
		// Registry lines (12, 13, 14): only under Session Manager, any case.
		{"13 session manager", `{` + sysmonCh + `,"EventID":13,` + regSM + filterTail, true},
		{"13 run key", `{` + sysmonCh + `,"EventID":13,` + regRun + filterTail, false},
		{"12 session manager", `{` + sysmonCh + `,"EventID":12,` + regSM + filterTail, true},
		{"14 SESSION MANAGER", `{` + sysmonCh + `,"EventID":14,"TargetObject":"HKLM\\SYSTEM\\CONTROL\\SESSION MANAGER"}`, true},
		{"13 target object before the ID", `{` + regSM + `,"EventID":13}`, true},
		{"13 escaped quote inside the target", `{"EventID":13,"TargetObject":"HKLM\\a\"b\\Session Manager\\x"}`, true},
		{"13 session manager after the target", `{"EventID":13,"TargetObject":"HKLM\\Run","Details":"Session Manager"}`, false},
		{"13 target not a string", `{"EventID":13,"TargetObject":5,"Details":"Session Manager"}`, false},
		{"13 session manager split", `{"EventID":13,"TargetObject":"Session  Manager"}`, false},
		{"13 target unterminated", `{"EventID":13,"TargetObject":"HKLM\\Session Manager`, true},
		// System 12: Kernel-General, or Channel System with a StartTime.
		{"12 kernel-general without channel", `{"SourceName":"Microsoft-Windows-Kernel-General","EventID":12,"StartTime":"2020-09-04T07:07:38.5Z"}`, true},
		{"12 kernel-general any case", `{"SourceName":"MICROSOFT-WINDOWS-KERNEL-general","EventID":12}`, true},
		{"12 channel system and start time", `{"Channel":"system","EventID":12,"StartTime":"2020-09-04T07:07:38.5Z"}`, true},
		{"12 channel system without start time", `{"Channel":"System","EventID":12}`, false},
		{"12 sysmon elsewhere", `{` + sysmonCh + `,"EventID":12,` + regRun + filterTail, false},
		{"12 kernel general without the dash", `{"SourceName":"Kernel General","EventID":12}`, false},
		{"12 kernel- at the end", `{"EventID":12,"x":"kernel-genera"}`, false},
		{"12 start time as a value (a harmless false positive)", `{"Channel":"System","EventID":12,"x":"StartTime"}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nxlogCandidate([]byte(tt.line)); got != tt.want {
				t.Errorf("nxlogCandidate(%s) = %v, want %v", tt.line, got, tt.want)
			}
			if got := nxlogCandidateScan([]byte(tt.line)); got != tt.want {
				t.Errorf("reference scan(%s) = %v, want %v", tt.line, got, tt.want)
			}
		})
	}
}

// TestNXLogPrefilterMatchesScan checks the anchored filter against the
// unanchored one on the fixture and seed lines and on every one-byte
// edit of them that touches what the searches anchor on.
func TestNXLogPrefilterMatchesScan(t *testing.T) {
	lines, err := etwtest.ReadFixtureLines("testdata/nxlog_mixed.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range nxlogShapedSeeds {
		lines = append(lines, []byte(l))
	}
	seeds, err := filepath.Glob("testdata/fuzz/FuzzNXLogRecord/*")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range seeds {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		// "go test fuzz v1\n[]byte(\"...\")\n"
		parts := bytes.SplitN(bytes.TrimSpace(data), []byte("\n"), 2)
		if len(parts) != 2 || !bytes.HasPrefix(parts[1], []byte("[]byte(")) {
			t.Fatalf("%s: not a one-[]byte corpus file", name)
		}
		s, err := strconv.Unquote(string(bytes.TrimSuffix(bytes.TrimPrefix(parts[1], []byte("[]byte(")), []byte(")"))))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		lines = append(lines, []byte(s))
	}
	edits := []byte{'"', '\\', 'u', ':', ' ', '-', 'E', 'x', '}'}
	checked := 0
	check := func(l []byte) {
		if got, want := nxlogCandidate(l), nxlogCandidateScan(l); got != want {
			t.Errorf("anchored %v, scan %v: %q", got, want, l)
		}
		checked++
	}
	buf := make([]byte, 0, 4096)
	for _, l := range lines {
		check(l)
		for i := range l {
			buf = append(append(buf[:0], l[:i]...), l[i+1:]...)
			check(buf) // byte i deleted
			for _, c := range edits {
				buf = append(append(append(buf[:0], l[:i]...), c), l[i+1:]...)
				check(buf) // byte i replaced
			}
		}
	}
	if checked < 10000 {
		t.Fatalf("only %d lines checked", checked)
	}
}

func TestNXLogPrefilterAllocs(t *testing.T) {
	line := []byte(`{"Message":"a\r\nb",` + sysmonCh + `,"EventID":12,` + regRun + `,"SourceName":"Microsoft-Windows-Sysmon","StartTime":"x"` + filterTail)
	if n := testing.AllocsPerRun(100, func() { nxlogCandidate(line) }); n != 0 {
		t.Fatalf("%v allocations per line", n)
	}
}
