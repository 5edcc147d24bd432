package detect_test

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/smsswatch/smsswatch/detect"
	"github.com/smsswatch/smsswatch/detect/recorded"
)

// collected is what a trace run produced.
type collected struct {
	violations []detect.Violation
	engines    map[string]*detect.Engine
}

func (c *collected) rules() []string {
	seen := map[string]bool{}
	for _, v := range c.violations {
		seen[v.Rule.ID()] = true
	}
	out := make([]string, 0, len(seen))
	for r := range seen {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// runTrace replays a native trace through the real recorded pipeline
// (package recorded: reorder per (host, source), boot records to every
// stream of their host, one detect.Host per host).
func runTrace(t testing.TB, path string, cfg detect.Config) *collected {
	t.Helper()
	return runFiles(t, cfg, path)
}

// runFiles runs the recorded pipeline over paths.
func runFiles(t testing.TB, cfg detect.Config, paths ...string) *collected {
	t.Helper()
	d, err := detect.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := &collected{engines: map[string]*detect.Engine{}}
	sink := detect.SinkFunc(func(v *detect.Violation) {
		cp := *v
		cp.Evidence.Spawned = append([]string(nil), v.Evidence.Spawned...)
		c.violations = append(c.violations, cp)
	})
	p := recorded.New(d, sink, recorded.Options{ReorderWindow: 15 * time.Minute, ReorderMax: 1 << 16})
	if err := p.Run(context.Background(), paths); err != nil {
		t.Fatal(err)
	}
	for _, n := range p.Skips().Notes {
		t.Errorf("skipped: %s", n)
	}
	for _, st := range p.Streams() {
		c.engines[st.Key.Host+"/"+st.Key.Source.String()] = st.Engine
	}
	return c
}

// expectedRules reads the "# expect: rule rule" header of a trace.
func expectedRules(t testing.TB, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# expect:"); ok {
			out := strings.Fields(rest)
			sort.Strings(out)
			return out
		}
	}
	t.Fatalf("%s: no '# expect:' header", path)
	return nil
}

// TestTraces replays every trace under testdata/traces/ and checks that exactly
// the rules its header expects fire: each rule on its own trace, nothing
// on the normal ones.
func TestTraces(t *testing.T) {
	paths, err := filepath.Glob("testdata/traces/*.jsonl")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no traces: %v", err)
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			want := expectedRules(t, path)
			cfg := detect.DefaultConfig()
			cfg.History = 1024
			got := runTrace(t, path, cfg)
			if strings.Join(got.rules(), " ") != strings.Join(want, " ") {
				for _, v := range got.violations {
					t.Logf("%s: %s", v.Rule.ID(), v.Message)
				}
				t.Fatalf("rules fired %v, want %v", got.rules(), want)
			}
		})
	}
}
