package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestReplayDemoThroughEmbeddedNATS: replay runs the demo trace through the
// detector, publishes to a nats-server it starts on 127.0.0.1, and its
// subscriber prints every alert a downstream consumer receives.
func TestReplayDemoThroughEmbeddedNATS(t *testing.T) {
	code, out, errOut := runCLI(t, "replay", "--json", "testdata/demo.jsonl")
	if code != exitViolations {
		t.Fatalf("exit %d, want %d\n%s", code, exitViolations, errOut)
	}
	got := huntRules(t, out)
	want := expectedDemoRules(t)
	if strings.Join(sorted(got), " ") != strings.Join(want, " ") {
		t.Fatalf("received %v, want %v\n%s", got, want, errOut)
	}
	if !strings.Contains(errOut, "received 5 of 5 alert(s)") || !strings.Contains(errOut, "5 published, 0 dropped") {
		t.Fatalf("summary:\n%s", errOut)
	}
	// The same alerts as hunt: replay and hunt share the detector.
	_, huntOut, _ := runCLI(t, "hunt", "testdata/demo.jsonl")
	if strings.Join(sorted(huntRules(t, huntOut)), " ") != strings.Join(want, " ") {
		t.Fatal("hunt and replay disagree")
	}
}

func TestReplayErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no files", []string{"replay"}, "no input files"},
		{"negative speed", []string{"replay", "--speed", "-1", "x"}, "--speed"},
		{"unreachable NATS with a bad URL", []string{"replay", "--nats", "://bad", "testdata/demo.jsonl"}, "replay"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runCLI(t, tc.args...)
			if code != exitError || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d\n%s", code, errOut)
			}
		})
	}
}

func expectedDemoRules(t *testing.T) []string {
	t.Helper()
	return sorted([]string{"smss.image_path", "smss.parent", "smss.persistent_child", "smss.registry", "smss.user"})
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	slices.Sort(out)
	return out
}

// TestReplayFloodLosesNothing: a replay with thousands of violations at
// full speed waits for room in the publisher's queue instead of dropping:
// every alert is published and received, and the heartbeat counters are
// the pipeline's.
func TestReplayFloodLosesNothing(t *testing.T) {
	const hosts = 5000
	var b strings.Builder
	for i := 0; i < hosts; i++ {
		fmt.Fprintf(&b, `{"v":1,"time":"2026-11-02T08:%02d:%02d.%03dZ","kind":"start","source":"sysmon","host":"H%d","pid":5000,"ppid":4100,"image":"C:\\Users\\Public\\smss.exe","parent_image":"C:\\Windows\\System32\\cmd.exe"}`+"\n",
			i/60%60, i%60, i%1000, i)
	}
	path := filepath.Join(t.TempDir(), "flood.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, "replay", "--json", "--wait", "60s", path)
	if code != exitViolations {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	const alerts = 2 * hosts // smss.image_path and smss.parent on every host
	if !strings.Contains(errOut, fmt.Sprintf("%d violation(s), %d published, 0 dropped", alerts, alerts)) ||
		!strings.Contains(errOut, fmt.Sprintf("received %d of %d alert(s)", alerts, alerts)) {
		t.Fatalf("alerts lost:\n%s", errOut)
	}
}
