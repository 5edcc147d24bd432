package detect_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smsswatch/smsswatch/detect"
)

func TestConfigFile(t *testing.T) {
	cases := []struct {
		name, json, errKey string
		check              func(t *testing.T, c detect.Config)
	}{
		{name: "defaults", json: `{}`, check: func(t *testing.T, c detect.Config) {
			if c.ChildWindow != 30*time.Second || c.LateMasterAfter != 120*time.Second {
				t.Fatalf("defaults changed: %+v", c)
			}
		}},
		{name: "all keys", json: `{"system_root":"D:\\Win","child_window":"10s","late_master_after":"5m","boot_confirm_window":"1m",
			"allow_master":["autochk.exe"],"allow_child":["csrss.exe"],"boot_execute":["sdelete.exe"],
			"disabled_rules":["smss.late_master"],"severity":{"smss.command_line":"high"},
			"max_instances":100,"aggregate_after":3,"aggregate_window":"10s"}`,
			check: func(t *testing.T, c detect.Config) {
				if c.SystemRoot != `D:\Win` || c.ChildWindow != 10*time.Second || c.Disabled[0] != detect.RuleLateMaster ||
					c.Severity[detect.RuleCommandLine] != detect.SeverityHigh || c.BootExecute[0] != "sdelete.exe" {
					t.Fatalf("not applied: %+v", c)
				}
			}},
		{name: "unknown key", json: `{"child_windw":"10s"}`, errKey: "child_windw"},
		{name: "bad duration", json: `{"child_window":"soon"}`, errKey: "child_window"},
		{name: "negative window", json: `{"child_window":"-1s"}`, errKey: "child_window"},
		{name: "bad rule", json: `{"disabled_rules":["smss.nope"]}`, errKey: "disabled_rules"},
		{name: "bad severity", json: `{"severity":{"smss.parent":"huge"}}`, errKey: "severity"},
		{name: "bad system root", json: `{"system_root":"Windows"}`, errKey: "system_root"},
		{name: "path in allow list", json: `{"allow_child":["C:\\x\\csrss.exe"]}`, errKey: "allow_child"},
		{name: "tiny cap", json: `{"max_instances":1}`, errKey: "max_instances"},
		{name: "not JSON", json: `child_window: 10s`, errKey: "invalid"},
		{name: "a UTF-8 BOM is read past", json: "\xef\xbb\xbf{\"child_window\":\"10s\"}", check: func(t *testing.T, c detect.Config) {
			if c.ChildWindow != 10*time.Second {
				t.Fatalf("child_window %v after a BOM", c.ChildWindow)
			}
		}},
		{name: "top-level null", json: `null`, errKey: "JSON object"},
		{name: "every rule disabled", json: `{"disabled_rules":["smss.image_path","smss.parent","smss.parent_spoofed","smss.user","smss.second_master","smss.late_master","smss.persistent_child","smss.unexpected_child","smss.command_line","smss.session_chain","smss.registry","sensor.blind"]}`, errKey: "every rule is disabled"},
		{name: "top-level array", json: `[]`, errKey: "JSON object"},
		{name: "a key given twice", json: `{"child_window":"10s","child_window":"20s"}`, errKey: "child_window: given twice"},
		{name: "data after the object", json: `{} {}`, errKey: "data after"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "smsswatch.json")
			if err := os.WriteFile(path, []byte(tc.json), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := detect.LoadConfig(path)
			if tc.errKey != "" {
				if err == nil || !errors.Is(err, detect.ErrConfig) || !strings.Contains(err.Error(), tc.errKey) {
					t.Fatalf("error %v does not name %q", err, tc.errKey)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Fatalf("error is not one line: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
	if _, err := detect.LoadConfig(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Fatal("missing file accepted")
	}
}
