package stream

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/smsswatch/smsswatch/detect"
	"github.com/smsswatch/smsswatch/stream/natsserver"
)

// evilViolation carries terminal escapes, newlines, bidi overrides, C1
// controls and invalid UTF-8 in every attacker-controlled string.
func evilViolation() *detect.Violation {
	v := violation(7)
	const evil = "a\x1b[2J\x1b]0;pwned\x07\r\nFAKE ALERT\u202e\u2028\xc2\x9b31m\xff"
	v.Host = "host" + evil
	v.Message = "msg" + evil
	v.Process.Image = `C:\x\smss.exe` + evil
	v.Process.CommandLine = "cmd" + evil
	v.Process.UserName = "user" + evil
	v.Parent.Image = "parent" + evil
	v.Evidence.Expected, v.Evidence.Observed = "exp"+evil, "obs"+evil
	return v
}

// checkTerminalSafe fails on any byte sequence a terminal could act on.
func checkTerminalSafe(t *testing.T, out string) {
	t.Helper()
	for _, bad := range []string{"\x1b", "\r", "\x07", "\u202e", "\u2028", "\xc2\x9b", "\xff"} {
		if strings.Contains(out, bad) {
			t.Errorf("output contains %q: %q", bad, out)
		}
	}
}

// runTail runs Tail on a fresh server while alerts evil violations and one
// normal one are published, and returns its output.
func runTail(t *testing.T, cfg TailConfig, alerts int) string {
	t.Helper()
	srv := startServer(t, natsserver.Config{})
	cfg.Conn = ConnConfig{URL: srv.URL()}
	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	before := srv.NATSServer().NumSubscriptions()
	go func() { done <- Tail(ctx, cfg, &out) }()
	eventually(t, 5*time.Second, "tail subscribed", func() bool { return srv.NATSServer().NumSubscriptions() > before })
	p := newPublisher(t, Config{Conn: ConnConfig{URL: srv.URL()}, Logger: testLog(t), Heartbeat: -1})
	for i := 0; i < alerts; i++ {
		p.Violation(evilViolation())
	}
	p.Violation(violation(1))
	lines := 2 * (alerts + 1)
	if cfg.JSON {
		lines = alerts + 1
	}
	eventually(t, 5*time.Second, "tail output", func() bool { return out.lines() >= lines })
	closePublisher(t, p, 5*time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := out.lines(); got != lines {
		t.Errorf("%d lines, want %d:\n%s", got, lines, out.String())
	}
	return out.String()
}

func TestTailTextSanitized(t *testing.T) {
	for _, color := range []bool{false, true} {
		out := runTail(t, TailConfig{Color: color}, 3)
		if color {
			out = strings.NewReplacer(ansiReset, "", ansiBold, "", ansiRed, "", ansiYellow, "", ansiCyan, "", ansiDim, "").Replace(out)
		}
		checkTerminalSafe(t, out)
		first := strings.SplitN(out, "\n", 3)
		if !strings.Contains(first[0], "HIGH smss.image_path host=host") || !strings.Contains(first[0], `\u001b[2J`) {
			t.Errorf("first line %q", first[0])
		}
		if !strings.HasPrefix(first[1], "    msg") || !strings.Contains(first[1], "| cmd cmd") {
			t.Errorf("second line %q", first[1])
		}
	}
}

func TestTailJSONSanitized(t *testing.T) {
	out := runTail(t, TailConfig{JSON: true, Rule: "smss.image_path"}, 2)
	checkTerminalSafe(t, out)
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var d alertDoc
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if d.Rule.ID != "smss.image_path" {
			t.Errorf("rule %q", d.Rule.ID)
		}
	}
	// Decoded values still carry the original characters (escaped, not lost).
	var d alertDoc
	_ = json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &d)
	if !strings.Contains(d.Host.Name, "\x1b[2J") || !strings.Contains(d.Host.Name, "\u202e") {
		t.Errorf("host.name lost its characters: %q", d.Host.Name)
	}
}

func TestAppendSanitizedLimit(t *testing.T) {
	got := string(appendSanitized(nil, strings.Repeat("x", 5000), 100))
	if !strings.HasPrefix(got, strings.Repeat("x", 100)+"...(+4900 bytes)") {
		t.Errorf("%q", got)
	}
}
