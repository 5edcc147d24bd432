package alert

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/smsswatch/smsswatch/detect"
	"github.com/smsswatch/smsswatch/stream/internal/sample"
)

// loadECSFields reads testdata/ecs_fields.tsv: field name -> ECS type.
func loadECSFields(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "ecs_fields.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fields := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, typ, ok := strings.Cut(line, "\t")
		if !ok || name == "" || typ == "" || strings.Contains(typ, "\t") {
			t.Fatalf("ecs_fields.tsv:%d: want <field>TAB<type>, got %q", n, line)
		}
		fields[name] = typ
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(fields) < 20 {
		t.Fatalf("ecs_fields.tsv has only %d fields", len(fields))
	}
	return fields
}

// ecsTypeOK reports whether the JSON value v (decoded with UseNumber) is a
// value of ECS type typ; ECS lets any field hold an array of its type.
func ecsTypeOK(typ string, v any) bool {
	if a, ok := v.([]any); ok {
		for _, x := range a {
			if _, nested := x.([]any); nested || !ecsTypeOK(typ, x) {
				return false
			}
		}
		return true
	}
	switch typ {
	case "keyword", "wildcard", "match_only_text", "text", "constant_keyword":
		_, ok := v.(string)
		return ok
	case "long", "integer", "short", "byte", "unsigned_long":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		_, err := n.Int64()
		return err == nil
	case "float", "double", "scaled_float", "half_float":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		_, err := n.Float64()
		return err == nil
	case "date":
		s, ok := v.(string)
		if !ok {
			return false
		}
		_, err := time.Parse(time.RFC3339Nano, s)
		return err == nil
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "object", "flattened", "nested":
		_, ok := v.(map[string]any)
		return ok
	}
	return false
}

// ecsProblems checks every field of doc against fields; it returns the
// fields seen and what is wrong.
func ecsProblems(doc map[string]any, fields map[string]string) (seen, problems []string) {
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			name := prefix + k
			if name == "smsswatch" {
				if _, ok := v.(map[string]any); !ok {
					problems = append(problems, "smsswatch is not an object")
				}
				continue // custom fields
			}
			typ, listed := fields[name]
			if sub, ok := v.(map[string]any); ok && (!listed || typ != "object") {
				if listed {
					problems = append(problems, name+" is an object, ECS type is "+typ)
				}
				walk(name+".", sub)
				continue
			}
			seen = append(seen, name)
			switch {
			case !listed:
				problems = append(problems, name+" is not an ECS field (testdata/ecs_fields.tsv) nor under smsswatch.*")
			case !ecsTypeOK(typ, v):
				problems = append(problems, fmt.Sprintf("%s = %v is not of ECS type %s", name, v, typ))
			}
		}
	}
	walk("", doc)
	return seen, problems
}

func decodeNumbers(t *testing.T, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return doc
}

// TestAlertECSFields: every field of every golden alert document is an ECS
// field with a value of its ECS type, or a custom field under smsswatch.*;
// ecs.version names the version the field list was derived for.
func TestAlertECSFields(t *testing.T) {
	fields := loadECSFields(t)
	data, err := os.ReadFile(filepath.Join("testdata", "alerts.golden.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	tsv, err := os.ReadFile(filepath.Join("testdata", "ecs_fields.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(tsv, []byte("# ECS version: "+ECSVersion+" ")) {
		t.Errorf("ecs_fields.tsv does not name ECS version %s", ECSVersion)
	}
	// The golden file must be what the encoder writes now.
	if !bytes.Equal(goldenDocuments(), data) {
		t.Fatal("alerts.golden.jsonl is stale (TestAppendAlertGolden -update)")
	}
	all := map[string]bool{}
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	for i, line := range lines {
		doc := decodeNumbers(t, line)
		where := fmt.Sprintf("document %d", i+1)
		seen, problems := ecsProblems(doc, fields)
		for _, p := range problems {
			t.Errorf("%s: %s", where, p)
		}
		for _, f := range seen {
			all[f] = true
		}
		if ecs, _ := doc["ecs"].(map[string]any); ecs == nil || ecs["version"] != ECSVersion {
			t.Errorf("%s: ecs.version = %v, want %s", where, doc["ecs"], ECSVersion)
		}
	}
	// The documents exercise the fields consumers rely on.
	for _, f := range []string{"@timestamp", "message", "ecs.version", "event.kind", "event.category", "event.type",
		"event.action", "event.outcome", "event.severity", "event.id", "rule.id", "rule.description", "rule.reference",
		"threat.tactic.id", "threat.tactic.name", "threat.technique.id", "threat.technique.name",
		"threat.technique.reference", "threat.technique.subtechnique.id", "threat.technique.subtechnique.name",
		"threat.technique.subtechnique.reference", "host.name", "host.os.type", "agent.type", "agent.name",
		"agent.version", "agent.id", "process.pid", "process.command_line", "process.parent.pid",
		"registry.path", "registry.data.strings", "user.id"} {
		if !all[f] {
			t.Errorf("no golden document carries %s", f)
		}
	}
	var names []string
	for f := range all {
		names = append(names, f)
	}
	sort.Strings(names)
	t.Logf("%d ECS fields in %d documents: %s", len(names), len(lines), strings.Join(names, " "))
}

// TestAlertECSWalkerCatches: the field walk rejects what it must (a
// non-ECS field, a wrong type), so TestAlertECSFields cannot pass vacuously.
func TestAlertECSWalkerCatches(t *testing.T) {
	fields := map[string]string{"event.severity": "long", "process.pid": "long", "@timestamp": "date"}
	cases := []struct {
		name, doc string
		bad       bool
	}{
		{"custom under smsswatch", `{"smsswatch":{"anything":1},"process":{"pid":4}}`, false},
		{"not ECS", `{"event":{"count":2}}`, true},
		{"string for long", `{"process":{"pid":"4"}}`, true},
		{"float for long", `{"event":{"severity":1.5}}`, true},
		{"bad date", `{"@timestamp":"yesterday"}`, true},
		{"array of long", `{"process":{"pid":[1,2]}}`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, problems := ecsProblems(decodeNumbers(t, []byte(c.doc)), fields)
			if bad := len(problems) > 0; bad != c.bad {
				t.Errorf("rejected = %t (%v), want %t", bad, problems, c.bad)
			}
		})
	}
}

// controlSamples are the characters that must never reach a terminal raw
// from "message": every C0 byte, DEL, C1 controls, bidi overrides and
// isolates, line and paragraph separators, zero-width characters, a BOM,
// invalid UTF-8, and escape sequences built from them (OSC 52, CSI).
func controlSamples() []string {
	var out []string
	for b := 0; b < 0x20; b++ {
		out = append(out, string([]byte{byte(b)}))
	}
	out = append(out, "\x7f")
	for r := rune(0x80); r <= 0x9f; r++ {
		out = append(out, string(r))
	}
	for _, r := range []rune{0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069,
		0x200e, 0x200f, 0x061c, 0x2028, 0x2029, 0x200b, 0x200d, 0xfeff, 0xe0041} {
		out = append(out, string(r))
	}
	for b := 0x80; b <= 0xff; b++ {
		out = append(out, string([]byte{byte(b)}))
	}
	return append(out, "\x1b]52;c;ZXZpbA==\x07", "\x1b[2J\x1b[H", "\x9b31m", "a\r\nb", "\xed\xa0\x80")
}

// TestAlertMessagePrintable: whatever control character is in whatever
// string field, the decoded message is one line of printable runes, while
// each field keeps its raw value.
func TestAlertMessagePrintable(t *testing.T) {
	type field struct {
		name string
		set  func(v *detect.Violation, s string)
		get  func(d decoded) string
	}
	fields := []field{
		{"host.name", func(v *detect.Violation, s string) { v.Host = s }, func(d decoded) string { return d.Host.Name }},
		{"process.executable", func(v *detect.Violation, s string) { v.Process.Image = s }, func(d decoded) string { return d.Process.Executable }},
		{"process.command_line", func(v *detect.Violation, s string) { v.Process.CommandLine = s }, func(d decoded) string { return d.Process.CommandLine }},
		{"process.parent.executable", func(v *detect.Violation, s string) { v.Parent.Image = s }, func(d decoded) string { return d.Process.Parent.Executable }},
		{"user.name", func(v *detect.Violation, s string) { v.Process.UserName = s }, func(d decoded) string { return d.User.Name }},
		{"registry.value", func(v *detect.Violation, s string) { v.Evidence.RegValue = s }, func(d decoded) string { return d.Registry.Value }},
		{"registry.data.strings", func(v *detect.Violation, s string) { v.Evidence.RegData = s }, func(d decoded) string {
			if len(d.Registry.Data.Strings) == 0 {
				return ""
			}
			return d.Registry.Data.Strings[0]
		}},
		{"smsswatch.evidence.observed", func(v *detect.Violation, s string) { v.Evidence.Observed = s }, func(d decoded) string { return d.Smsswatch.Evidence.Observed }},
	}
	for _, f := range fields {
		t.Run(f.name, func(t *testing.T) {
			for _, c := range controlSamples() {
				v := sample.Violation()
				v.Rule = detect.RuleRegistry
				val := `C:\x` + c + `y.exe`
				f.set(v, val)
				// detect builds the message from the same values.
				v.Message = "smss.exe ran from " + val + " under " + c
				d := decode(t, AppendAlert(nil, v))
				if got, want := f.get(d), fixUTF8(val); got != want {
					t.Fatalf("%q: %s = %q, want the raw value %q", c, f.name, got, want)
				}
				for _, r := range d.Message {
					if unprintableRune(r) || r == utf8.RuneError {
						t.Fatalf("%q: message %q carries %U", c, d.Message, r)
					}
				}
			}
		})
	}
}

// TestAppendPrintableEscapes pins the visible escapes.
func TestAppendPrintableEscapes(t *testing.T) {
	cases := []struct{ in, want string }{
		{"plain C:\\Windows\\smss.exe", "plain C:\\Windows\\smss.exe"},
		{"a\x1b]52;c;x\x07b", `a\x1b]52;c;x\x07b`},
		{"line\r\nnext", `line\x0d\x0anext`},
		{"rlo\u202eexe.txt", `rlo\u202eexe.txt`},
		{"bad\xffutf8", `bad\xffutf8`},
		{"c1\u009b", `c1\u009b`},
		{"tag\U000E0041", `tag\u{0e0041}`},
		{"é中😀", "é中😀"},
		{`q"uote`, `q"uote`},
	}
	for _, c := range cases {
		var got string
		if err := json.Unmarshal(appendPrintable(nil, c.in), &got); err != nil {
			t.Fatalf("%q: %v", c.in, err)
		}
		if got != c.want {
			t.Errorf("appendPrintable(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
