package alert

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/smsswatch/smsswatch/detect"
	"github.com/smsswatch/smsswatch/stream/internal/sample"
)

// TestAppendAlertFit: an alert longer than the limit is cut to fit, names
// what it cut in smsswatch.truncated, and stays valid JSON; one that
// cannot fit is refused.
func TestAppendAlertFit(t *testing.T) {
	long := strings.Repeat(`C:\evil\`, 8192) // 64 KiB
	cases := []struct {
		name   string
		limit  int
		set    func(v *detect.Violation)
		ok     bool
		fields []string
	}{
		{"fits as is", 1 << 20, func(v *detect.Violation) {}, true, nil},
		{"long command line", 4096, func(v *detect.Violation) { v.Process.CommandLine = long }, true, []string{"process.command_line"}},
		{"long image and message", 4096, func(v *detect.Violation) {
			v.Process.Image, v.Message = long+"smss.exe", "smss.exe ran from "+long
		}, true, []string{"message", "process.executable"}},
		{"escapes expand", 4096, func(v *detect.Violation) { v.Process.CommandLine = strings.Repeat("\x01", 4000) }, true, []string{"process.command_line"}},
		{"registry data", 4096, func(v *detect.Violation) {
			v.Rule = detect.RuleRegistry
			v.Evidence.RegKey, v.Evidence.RegValue, v.Evidence.RegData = `HKLM\X`, long, long
		}, true, []string{"registry.path", "registry.value", "registry.data.strings"}},
		{"cannot fit", 600, func(v *detect.Violation) { v.Process.CommandLine = long }, false, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := sample.Violation()
			c.set(v)
			prefix := []byte("subject")
			out, ok, _ := AppendFit(prefix, v, c.limit)
			if ok != c.ok {
				t.Fatalf("ok = %t, want %t", ok, c.ok)
			}
			if !ok {
				if string(out) != "subject" {
					t.Fatalf("refused alert left %d bytes", len(out)-7)
				}
				return
			}
			doc := out[len(prefix):]
			if len(doc) > c.limit {
				t.Fatalf("%d bytes, limit %d", len(doc), c.limit)
			}
			var d struct {
				Smsswatch struct {
					Truncated []string `json:"truncated"`
				} `json:"smsswatch"`
			}
			if err := json.Unmarshal(doc, &d); err != nil {
				t.Fatalf("%v: %s", err, doc)
			}
			for _, f := range c.fields {
				if !strings.Contains(strings.Join(d.Smsswatch.Truncated, " ")+" ", f+" ") {
					t.Errorf("smsswatch.truncated = %v, want %s in it", d.Smsswatch.Truncated, f)
				}
			}
			if c.fields == nil && len(d.Smsswatch.Truncated) != 0 {
				t.Errorf("smsswatch.truncated = %v for an alert that fits", d.Smsswatch.Truncated)
			}
		})
	}
}
