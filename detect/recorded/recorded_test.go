package recorded_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smsswatch/smsswatch/detect"
	"github.com/smsswatch/smsswatch/detect/recorded"
)

func write(t *testing.T, name string, lines []string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func start(host string, sec, pid, ppid int, image, parent string) string {
	ts := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC).Add(time.Duration(sec) * time.Second).Format(time.RFC3339Nano)
	return fmt.Sprintf(`{"v":1,"time":%q,"kind":"start","source":"sysmon","host":%q,"pid":%d,"ppid":%d,"image":%q,"parent_image":%q}`,
		ts, host, pid, ppid, image, parent)
}

// TestStreamsAreCapped: a million forged host names cannot grow the
// pipeline past its cap; evicted streams are counted, and their
// violations were still emitted.
func TestStreamsAreCapped(t *testing.T) {
	var lines []string
	for i := 0; i < 50; i++ {
		lines = append(lines, start(fmt.Sprintf("FORGED%d", i), i, 5000, 4100, `C:\Users\Public\smss.exe`, `C:\Windows\System32\cmd.exe`))
	}
	d, err := detect.New(detect.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	p := recorded.New(d, detect.SinkFunc(func(v *detect.Violation) {
		if v.Rule == detect.RuleImagePath {
			n++
		}
	}), recorded.Options{ReorderWindow: time.Minute, ReorderMax: 1024, MaxStreams: 8})
	if err := p.Run(context.Background(), []string{write(t, "forged.jsonl", lines)}); err != nil {
		t.Fatal(err)
	}
	if got := len(p.Streams()); got > 8 {
		t.Fatalf("%d streams kept, cap 8", got)
	}
	if p.Evicted() != 42 {
		t.Fatalf("evicted %d, want 42", p.Evicted())
	}
	if n != 50 {
		t.Fatalf("%d image_path alerts, want 50: an evicted stream lost its violation", n)
	}
}

// TestSplitFilesAreOnePass: one stream split across two files, given in
// either order, gives the same result as one file.
func TestSplitFilesAreOnePass(t *testing.T) {
	a := write(t, "a.jsonl", []string{
		start("WS1", 0, 404, 4, `C:\Windows\System32\smss.exe`, "System"),
		start("WS1", 20, 5000, 404, `C:\Windows\System32\cmd.exe`, `C:\Windows\System32\smss.exe`),
	})
	b := write(t, "b.jsonl", []string{
		start("WS1", 10, 500, 404, `C:\Windows\System32\smss.exe`, `C:\Windows\System32\smss.exe`),
	})
	for _, order := range [][]string{{a, b}, {b, a}} {
		d, _ := detect.New(detect.DefaultConfig())
		var got []string
		p := recorded.New(d, detect.SinkFunc(func(v *detect.Violation) { got = append(got, v.Rule.ID()) }),
			recorded.Options{ReorderWindow: time.Minute, ReorderMax: 1024})
		if err := p.Run(context.Background(), order); err != nil {
			t.Fatal(err)
		}
		if strings.Join(got, " ") != "smss.unexpected_child" {
			t.Fatalf("files %v: got %v, want the master's cmd.exe only", order, got)
		}
		if len(p.Inputs()) != 2 {
			t.Fatalf("%d inputs recorded", len(p.Inputs()))
		}
		if p.FirstLooks() != 0 || p.LateInputs() != 0 {
			t.Fatalf("files %v: %d first looks, %d late: both fit at once and are read once", order, p.FirstLooks(), p.LateInputs())
		}
	}
}

// TestInputsBeyondTheCaps: inputs that do not all fit at once (by count
// or by what they hold) are each looked at up to their first record,
// opened as the merge reaches them, and give the same result as inputs
// that fit, in either order; the first looks are counted.
func TestInputsBeyondTheCaps(t *testing.T) {
	files := []string{
		write(t, "a.jsonl", []string{start("WS1", 0, 404, 4, `C:\Windows\System32\smss.exe`, "System")}),
		write(t, "b.jsonl", []string{start("WS1", 10, 500, 404, `C:\Windows\System32\smss.exe`, `C:\Windows\System32\smss.exe`)}),
		write(t, "c.jsonl", []string{start("WS1", 20, 5000, 404, `C:\Windows\System32\cmd.exe`, `C:\Windows\System32\smss.exe`)}),
	}
	reversed := []string{files[2], files[1], files[0]}
	cases := []struct {
		name       string
		opts       recorded.Options
		order      []string
		firstLooks int64
	}{
		{"fit", recorded.Options{}, files, 0},
		{"fit reversed", recorded.Options{}, reversed, 0},
		{"one open at a time", recorded.Options{MaxOpen: 1}, files, 3},
		{"one open at a time reversed", recorded.Options{MaxOpen: 1}, reversed, 3},
		{"by bytes", recorded.Options{OpenBytes: 1}, files, 3},
		{"by bytes reversed", recorded.Options{OpenBytes: 1}, reversed, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, _ := detect.New(detect.DefaultConfig())
			var got []string
			c.opts.ReorderWindow, c.opts.ReorderMax = time.Minute, 1024
			p := recorded.New(d, detect.SinkFunc(func(v *detect.Violation) { got = append(got, v.Rule.ID()) }), c.opts)
			if err := p.Run(context.Background(), c.order); err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, " ") != "smss.unexpected_child" {
				t.Errorf("got %v, want the master's cmd.exe only", got)
			}
			if p.FirstLooks() != c.firstLooks || p.LateInputs() != 0 || len(p.Inputs()) != 3 {
				t.Errorf("%d first looks (want %d), %d late, %d inputs", p.FirstLooks(), c.firstLooks, p.LateInputs(), len(p.Inputs()))
			}
		})
	}
}

// TestSecondMasterProvenByAnotherSource (evidence rule 7): Security sees
// the master and a second one (parent System) and nothing after; Sysmon,
// on the same host, sees the master start an RDP session child after
// the candidate started. The host went on: smss.second_master, from the
// Security stream.
func TestSecondMasterProvenByAnotherSource(t *testing.T) {
	ev := func(src string, sec, pid, ppid int, parent string) string {
		ts := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC).Add(time.Duration(sec) * time.Second).Format(time.RFC3339Nano)
		return fmt.Sprintf(`{"v":1,"time":%q,"kind":"start","source":%q,"host":"WS1","pid":%d,"ppid":%d,"image":"C:\\Windows\\System32\\smss.exe","parent_image":%q}`,
			ts, src, pid, ppid, parent)
	}
	sec := write(t, "security.jsonl", []string{
		ev("security", 0, 404, 4, "System"),
		ev("security", 100, 6000, 4, "System"),
	})
	sys := write(t, "sysmon.jsonl", []string{
		ev("sysmon", 0, 404, 4, "System"),
		ev("sysmon", 200, 3444, 404, `C:\Windows\System32\smss.exe`),
	})
	d, _ := detect.New(detect.DefaultConfig())
	var got []string
	p := recorded.New(d, detect.SinkFunc(func(v *detect.Violation) { got = append(got, v.Source.String()+" "+v.Rule.ID()) }),
		recorded.Options{ReorderWindow: time.Minute, ReorderMax: 1024})
	if err := p.Run(context.Background(), []string{sec, sys}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "security smss.second_master" {
		t.Fatalf("got %v, want the Security stream's second master", got)
	}
}
