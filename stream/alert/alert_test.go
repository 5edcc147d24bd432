package alert

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/smsswatch/smsswatch/detect"
	"github.com/smsswatch/smsswatch/etw"
	"github.com/smsswatch/smsswatch/stream/internal/sample"
)

// fixUTF8 is what encoding/json makes of s: each invalid byte becomes
// U+FFFD.
func fixUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// decoded is the part of the alert the tests check.
type decoded struct {
	Timestamp string `json:"@timestamp"`
	Message   string `json:"message"`
	Event     struct {
		Kind     string   `json:"kind"`
		Severity int      `json:"severity"`
		Category []string `json:"category"`
		ID       string   `json:"id"`
	} `json:"event"`
	Rule struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"rule"`
	Threat struct {
		Tactic struct {
			ID   []string `json:"id"`
			Name []string `json:"name"`
		} `json:"tactic"`
		Technique struct {
			ID           []string `json:"id"`
			Name         []string `json:"name"`
			Subtechnique struct {
				ID []string `json:"id"`
			} `json:"subtechnique"`
		} `json:"technique"`
	} `json:"threat"`
	Host struct {
		Name string `json:"name"`
		OS   struct {
			Type string `json:"type"`
		} `json:"os"`
	} `json:"host"`
	ECS struct {
		Version string `json:"version"`
	} `json:"ecs"`
	Process struct {
		PID         uint32 `json:"pid"`
		Executable  string `json:"executable"`
		Name        string `json:"name"`
		CommandLine string `json:"command_line"`
		EntityID    string `json:"entity_id"`
		Parent      struct {
			PID        uint32 `json:"pid"`
			Executable string `json:"executable"`
		} `json:"parent"`
	} `json:"process"`
	User struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"user"`
	Registry struct {
		Path  string `json:"path"`
		Key   string `json:"key"`
		Value string `json:"value"`
		Data  struct {
			Strings []string `json:"strings"`
		} `json:"data"`
	} `json:"registry"`
	Smsswatch struct {
		SchemaVersion int    `json:"schema_version"`
		DedupeKey     string `json:"dedupe_key"`
		Creator       struct {
			PID    uint32 `json:"pid"`
			UserID string `json:"user_id"`
		} `json:"creator"`
		Evidence struct {
			Role     string   `json:"role"`
			Expected string   `json:"expected"`
			Observed string   `json:"observed"`
			Spawned  []string `json:"spawned"`
			RegOp    string   `json:"registry_op"`
		} `json:"evidence"`
	} `json:"smsswatch"`
}

func decode(t testing.TB, b []byte) decoded {
	t.Helper()
	if !json.Valid(b) {
		t.Fatalf("invalid JSON: %q", b)
	}
	var d decoded
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("unmarshal: %v in %s", err, b)
	}
	return d
}

func TestAppendAlertFields(t *testing.T) {
	v := sample.Violation()
	d := decode(t, AppendAlert(nil, v))
	checks := []struct{ name, got, want string }{
		{"@timestamp", d.Timestamp, "2025-03-04T05:06:07.890123456Z"},
		{"event.kind", d.Event.Kind, "alert"},
		{"event.id", d.Event.ID, "0123456789abcdef"},
		{"rule.id", d.Rule.ID, "smss.image_path"},
		{"rule.name", d.Rule.Name, v.Rule.Name()},
		{"host.name", d.Host.Name, v.Host},
		{"process.executable", d.Process.Executable, v.Process.Image},
		{"process.name", d.Process.Name, "smss.exe"},
		{"process.command_line", d.Process.CommandLine, v.Process.CommandLine},
		{"process.entity_id", d.Process.EntityID, "12345"},
		{"process.parent.executable", d.Process.Parent.Executable, v.Parent.Image},
		{"user.id", d.User.ID, v.Process.UserSID},
		{"user.name", d.User.Name, v.Process.UserName},
		{"smsswatch.dedupe_key", d.Smsswatch.DedupeKey, "0123456789abcdef"},
		{"smsswatch.creator.user_id", d.Smsswatch.Creator.UserID, v.Process.CreatorSID},
		{"smsswatch.evidence.role", d.Smsswatch.Evidence.Role, "rogue"},
		{"message", d.Message, v.Message},
		{"host.os.type", d.Host.OS.Type, "windows"},
		{"ecs.version", d.ECS.Version, ECSVersion},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if d.Event.Severity != detect.SeverityHigh.Score() {
		t.Errorf("event.severity = %d", d.Event.Severity)
	}
	if d.Process.PID != 4242 || d.Process.Parent.PID != 1000 || d.Smsswatch.Creator.PID != 1001 {
		t.Errorf("pids = %d %d %d", d.Process.PID, d.Process.Parent.PID, d.Smsswatch.Creator.PID)
	}
	if th := d.Threat; strings.Join(th.Technique.ID, ",") != "T1036" || strings.Join(th.Technique.Name, ",") != "Masquerading" ||
		strings.Join(th.Technique.Subtechnique.ID, ",") != "T1036.005" || strings.Join(th.Tactic.ID, ",") != "TA0005" ||
		strings.Join(th.Tactic.Name, ",") != "Defense Evasion" {
		t.Errorf("threat = %+v", th)
	}
	if d.Smsswatch.SchemaVersion != SchemaVersion {
		t.Errorf("schema_version = %d", d.Smsswatch.SchemaVersion)
	}
	if strings.Join(d.Smsswatch.Evidence.Spawned, ",") != "csrss.exe,cmd.exe" {
		t.Errorf("spawned = %v", d.Smsswatch.Evidence.Spawned)
	}
}

// TestAppendAlertParentPIDFallback: without a parent record the declared
// parent PID still lands in process.parent.pid.
func TestAppendAlertParentPIDFallback(t *testing.T) {
	v := sample.Violation()
	v.Parent = detect.ProcessInfo{}
	d := decode(t, AppendAlert(nil, v))
	if d.Process.Parent.PID != 1000 {
		t.Fatalf("process.parent.pid = %d, want 1000", d.Process.Parent.PID)
	}
}

// TestAppendAlertUnknownFieldsOmitted: fields a source did not record are
// left out, not written as zero.
func TestAppendAlertUnknownFieldsOmitted(t *testing.T) {
	v := sample.Violation()
	v.Process.Known = etw.FieldPID
	v.Parent.Known = 0
	b := string(AppendAlert(nil, v))
	for _, f := range []string{`"command_line"`, `"executable"`, `"user"`, `"parent"`, `"creator"`} {
		if strings.Contains(b, f) {
			t.Errorf("unknown field %s written: %s", f, b)
		}
	}
}

func TestAppendAlertRegistry(t *testing.T) {
	v := sample.Violation()
	v.Rule = detect.RuleRegistry
	v.Evidence.RegOp = "set"
	v.Evidence.RegKey = `HKLM\SYSTEM\CurrentControlSet\Control\Session Manager`
	v.Evidence.RegValue = "BootExecute"
	v.Evidence.RegData = "autocheck autochk * evil.exe"
	d := decode(t, AppendAlert(nil, v))
	if d.Registry.Path != v.Evidence.RegKey+`\BootExecute` || d.Registry.Value != "BootExecute" {
		t.Errorf("registry = %+v", d.Registry)
	}
	if len(d.Registry.Data.Strings) != 1 || d.Registry.Data.Strings[0] != v.Evidence.RegData {
		t.Errorf("registry.data.strings = %v", d.Registry.Data.Strings)
	}
	if d.Event.Category[0] != "registry" || strings.Join(d.Threat.Technique.ID, ",") != "T1547,T1546" ||
		strings.Join(d.Threat.Technique.Subtechnique.ID, ",") != "T1547.001,T1546.009" {
		t.Errorf("category %v techniques %+v", d.Event.Category, d.Threat.Technique)
	}
}

// TestAppendAlertZeroAllocs: encoding into a buffer with room does not
// allocate.
func TestAppendAlertZeroAllocs(t *testing.T) {
	v := sample.Violation()
	reg := sample.Violation()
	reg.Rule = detect.RuleRegistry
	reg.Evidence.RegKey, reg.Evidence.RegValue, reg.Evidence.RegData = `HKLM\X`, "BootExecute", "evil"
	buf := make([]byte, 0, 64<<10)
	for _, tc := range []*detect.Violation{v, reg} {
		allocs := testing.AllocsPerRun(200, func() {
			buf = AppendAlert(buf[:0], tc)
		})
		if allocs != 0 {
			t.Errorf("%s: %.1f allocations per AppendAlert, want 0", tc.Rule, allocs)
		}
	}
}

func TestAppendStringEscapes(t *testing.T) {
	for _, s := range []string{
		"", "plain", `q"uote\back`, "ctl\x00\x01\x1b[31m\x7f\n\r\t", "bad\xff\xfeutf8", "\u2028\u2029",
		"é中文😀", "\xed\xa0\x80 surrogate", strings.Repeat(`C:\very\long\path`, 4000),
	} {
		b := appendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q: %v (%s)", s, err, b)
		}
		if want := fixUTF8(s); got != want {
			t.Errorf("round trip %q = %q", s, got)
		}
		for _, c := range b {
			if c < 0x20 || c == 0x7f {
				t.Errorf("%q: raw control byte %#x in output", s, c)
			}
		}
	}
}

// FuzzAppendAlert: any strings give valid JSON that decodes back to them
// (invalid UTF-8 as U+FFFD).
func FuzzAppendAlert(f *testing.F) {
	f.Add("WS01", `C:\Windows\System32\smss.exe`, `\SystemRoot\System32\smss.exe 000000c8`, "S-1-5-18", "msg", "key", int64(0), uint32(4))
	f.Add("h\"o\\st\x00", "\xff\xfe\xfd", "\u2028\x1b[2J", "\xed\xa0\x80", "\n\r\t", "é", int64(-1), uint32(0))
	f.Add(strings.Repeat("A", 70000), strings.Repeat(`\x`, 33000), "", "", "", "", int64(1<<62), uint32(1<<31))
	f.Fuzz(func(t *testing.T, host, image, cmd, sid, msg, key string, ts int64, pid uint32) {
		v := sample.Violation()
		v.Host, v.Message, v.Time = host, msg, ts
		v.Process.Image, v.Process.CommandLine, v.Process.UserSID, v.Process.UserName = image, cmd, sid, msg
		v.Process.Key, v.Process.PID = key, pid
		v.Parent.Image = cmd
		v.Evidence.Expected, v.Evidence.Observed = image, host
		v.Evidence.Spawned = []string{image, cmd}
		v.Evidence.RegKey, v.Evidence.RegValue, v.Evidence.RegData = host, key, msg
		for _, rule := range []detect.Rule{detect.RuleImagePath, detect.RuleRegistry} {
			v.Rule = rule
			b := AppendAlert(make([]byte, 0, 16), v)
			d := decode(t, b)
			eq := func(name, got, in string) {
				if want := fixUTF8(in); got != want {
					t.Fatalf("%s = %q, want %q", name, got, want)
				}
			}
			eq("host.name", d.Host.Name, host)
			if want := printableRef(msg); d.Message != want {
				t.Fatalf("message = %q, want %q", d.Message, want)
			}
			eq("process.executable", d.Process.Executable, image)
			eq("process.command_line", d.Process.CommandLine, cmd)
			eq("process.entity_id", d.Process.EntityID, key)
			eq("process.parent.executable", d.Process.Parent.Executable, cmd)
			eq("user.id", d.User.ID, sid)
			eq("evidence.expected", d.Smsswatch.Evidence.Expected, image)
			if d.Process.PID != pid {
				t.Fatalf("pid %d != %d", d.Process.PID, pid)
			}
			if rule == detect.RuleRegistry {
				eq("registry.key", d.Registry.Key, host)
				if key != "" {
					eq("registry.path", d.Registry.Path, host+`\`+key)
				}
			}
		}
	})
}

// printableRef is a plain reference for appendPrintable: what "message"
// decodes to.
func printableRef(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1, r < 0x20, r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == 0x2028 || r == 0x2029:
			if r > 0xffff {
				fmt.Fprintf(&b, `\u{%06x}`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func BenchmarkAppendAlert(b *testing.B) {
	v := sample.Violation()
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendAlert(buf[:0], v)
	}
	b.SetBytes(int64(len(buf)))
}
