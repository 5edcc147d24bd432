package main

import (
	"strings"
	"testing"
)

// TestStrictSettings: a bad value in a flag or in its environment variable
// is a one-line error and exit 2, never silently the default or a prefix
// of the value.
func TestStrictSettings(t *testing.T) {
	trace := "../../detect/testdata/traces/normal_boot.jsonl"
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string // in the one error line
	}{
		{"a duration without a unit in the environment", map[string]string{"SMSSWATCH_CHILD_WINDOW": "5"}, []string{"hunt", trace}, "$SMSSWATCH_CHILD_WINDOW"},
		{"a number with trailing garbage in the environment", map[string]string{"SMSSWATCH_REORDER_MAX": "12abc"}, []string{"hunt", trace}, "$SMSSWATCH_REORDER_MAX"},
		{"a boolean that is not one in the environment", map[string]string{"SMSSWATCH_STRICT": "yes please"}, []string{"hunt", trace}, "$SMSSWATCH_STRICT"},
		{"a negative reorder buffer", nil, []string{"hunt", "--reorder-max", "-1", trace}, "--reorder-max"},
		{"a negative reorder window", nil, []string{"hunt", "--reorder-window", "-1s", trace}, "--reorder-window"},
		{"a replay speed that is not a number", nil, []string{"replay", "--speed", "NaN", trace}, "--speed"},
		{"a heartbeat of a nanosecond", nil, []string{"replay", "--heartbeat", "1ns", trace}, "--heartbeat"},
		{"a spool of one byte", nil, []string{"replay", "--spool-max-bytes", "1", trace}, "--spool-max-bytes"},
		{"the server's JetStream API as prefix", nil, []string{"replay", "--subject-prefix", "$JS.API", trace}, "--subject-prefix"},
		{"the server's system account as prefix", nil, []string{"replay", "--subject-prefix", "$SYS", trace}, "--subject-prefix"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, out, errOut := runCLI(t, tc.args...)
			if code != exitError {
				t.Fatalf("exit %d, want %d (stderr %q)", code, exitError, errOut)
			}
			if out != "" {
				t.Fatalf("stdout %q: nothing may run", out)
			}
			lines := strings.Split(strings.TrimSpace(errOut), "\n")
			found := false
			for _, l := range lines {
				if strings.Contains(l, tc.want) {
					found = true
				}
			}
			if !found {
				t.Fatalf("no error line names %s: %q", tc.want, errOut)
			}
		})
	}
}
