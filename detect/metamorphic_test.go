package detect_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/smsswatch/smsswatch/etw/trace"

	"github.com/smsswatch/smsswatch/detect"
	"github.com/smsswatch/smsswatch/etw"
)

// Metamorphic tests (DETECTION.md evidence rule 1): the project's traces,
// cut into the views real logs come in (one channel, no boot records, a
// capture that begins or ends mid-boot, shuffled, split in two files, the
// same activity again hours later with the same PIDs, one child's exit
// removed), replayed through the real recorded pipeline. A removal never
// adds an alert, except the one persistent child it names where the trace
// proves exit delivery; reordering and repeating change nothing.

// viewKind says what a view may do to the alerts.
type viewKind int

const (
	viewSubset     viewKind = iota // a removal: no rule that did not fire before
	viewSame                       // reordered or repeated: the same rules
	viewPersistent                 // one exit removed where proven: + persistent_child on pid
)

type view struct {
	name  string
	files [][]etw.Event
	kind  viewKind
	pid   uint32
}

func readTrace(t *testing.T, path string) []etw.Event {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := trace.NewReader(f, path, etw.SkipFunc(func(file string, rec int64, reason string) {
		t.Fatalf("%s:%d: %s", file, rec, reason)
	}))
	var out []etw.Event
	for {
		var ev etw.Event
		err := r.Next(&ev)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
}

func keep(evs []etw.Event, f func(*etw.Event) bool) []etw.Event {
	var out []etw.Event
	for i := range evs {
		if f(&evs[i]) {
			out = append(out, evs[i])
		}
	}
	return out
}

func baseLower(p string) string { return strings.ToLower(etw.BaseName(p)) }

func isSmssStart(ev *etw.Event) bool {
	return ev.Kind == etw.KindStart && ev.Known&etw.FieldImage != 0 && baseLower(ev.Proc.Image) == "smss.exe"
}

// shifted is the same activity again d later: same PIDs, new times and
// unique keys.
func shifted(evs []etw.Event, d int64) []etw.Event {
	out := make([]etw.Event, len(evs))
	for i, ev := range evs {
		ev.Time += d
		if ev.Known&etw.FieldCreateTime != 0 {
			ev.Proc.CreateTime += d
		}
		if ev.Known&etw.FieldExitTime != 0 {
			ev.Proc.ExitTime += d
		}
		if ev.Known&etw.FieldBootTime != 0 {
			ev.Boot.BootTime += d
		}
		if ev.Known&etw.FieldKey != 0 {
			ev.Proc.Key = "again-" + ev.Proc.Key
		}
		if ev.Known&etw.FieldParentKey != 0 {
			ev.Proc.ParentKey = "again-" + ev.Proc.ParentKey
		}
		out[i] = ev
	}
	return out
}

// underSystem32 is the test's own reading of "a program under System32".
func underSystem32(img string) bool {
	return strings.Contains(strings.ToLower(img), `\windows\system32\`)
}

// exitProven is evidence rule 2 computed independently of the engine:
// the source delivered, in the boot, a System32 exit no later than the
// child's start and another no earlier than its deadline.
func exitProven(evs []etw.Event, child *etw.Event, window int64) bool {
	start := child.Time
	boot, next := int64(0), int64(math.MaxInt64)
	// confirmed: a master start followed by two session children of it.
	confirmed := func(m *etw.Event) bool {
		n := 0
		for i := range evs {
			c := &evs[i]
			if isSmssStart(c) && c.Host == m.Host && c.Time > m.Time && c.Known&etw.FieldParentPID != 0 && c.Proc.ParentPID == m.Proc.PID {
				n++
			}
		}
		return n >= 2
	}
	for i := range evs {
		ev := &evs[i]
		// Boots: the records naming the OS start, and the master starts
		// (parent System, or no parent at all) that start two children.
		master := isSmssStart(ev) && (ev.Known&etw.FieldParentPID != 0 && ev.Proc.ParentPID == 4 ||
			ev.Known&(etw.FieldParentPID|etw.FieldParentImage) == 0) && confirmed(ev)
		if ev.Host != child.Host || !(ev.Kind == etw.KindBoot && ev.Known&etw.FieldBootTime != 0 || master) {
			continue
		}
		t := ev.Time
		if ev.Kind == etw.KindBoot {
			t = ev.Boot.BootTime
		}
		if t <= start && t > boot {
			boot = t
		}
		if t > start && t < next {
			next = t
		}
	}
	for i := range evs {
		ev := &evs[i]
		if ev.Kind == etw.KindStart && ev.Time > start && ev.Source == child.Source && ev.Host == child.Host &&
			ev.Known&etw.FieldPID != 0 && ev.Proc.PID == child.Proc.PID && ev.Time >= start && ev.Time < start+window {
			return false // its PID names another process before the deadline: it is gone
		}
	}
	if child.Source == etw.SourceETW {
		// Live ETW delivers every exit: the child persisted if the trace
		// goes on past its deadline in its boot.
		for i := range evs {
			if t := evs[i].Time; evs[i].Source == etw.SourceETW && t >= start+window && t < next {
				return true
			}
		}
		return false
	}
	before, after := false, false
	for i := range evs {
		ev := &evs[i]
		if ev.Kind != etw.KindExit || ev.Source != child.Source || ev.Host != child.Host || !underSystem32(ev.Proc.Image) {
			continue
		}
		if ev.Time >= boot && ev.Time <= start {
			before = true
		}
		if ev.Time >= start+window && ev.Time < next {
			after = true
		}
	}
	return before && after
}

func views(evs []etw.Event) []view {
	vs := []view{
		{name: "no-boot-records", files: [][]etw.Event{keep(evs, func(e *etw.Event) bool { return e.Kind != etw.KindBoot })}},
	}
	sources := map[etw.Source]bool{}
	for i := range evs {
		if evs[i].Kind == etw.KindStart {
			sources[evs[i].Source] = true
		}
	}
	if !sources[etw.SourceETW] {
		// Live ETW delivers every exit by definition (rule 2): a live
		// trace without exits is one whose children never exited.
		vs = append(vs,
			view{name: "starts-only", files: [][]etw.Event{keep(evs, func(e *etw.Event) bool { return e.Kind == etw.KindStart })}},
			view{name: "no-exits-under-windows", files: [][]etw.Event{keep(evs, func(e *etw.Event) bool {
				return e.Kind != etw.KindExit || !strings.Contains(strings.ToLower(e.Proc.Image), `\windows\`)
			})}})
	}
	if len(sources) > 1 {
		for s := range sources {
			vs = append(vs, view{name: s.String() + "-only", files: [][]etw.Event{keep(evs, func(e *etw.Event) bool {
				return e.Source == s || e.Source == etw.SourceSystem
			})}})
		}
	}
	// Captures that begin after the first master or session child start.
	var firstMaster, firstChild int64
	for i := range evs {
		ev := &evs[i]
		if !isSmssStart(ev) {
			continue
		}
		if ev.Known&etw.FieldParentPID != 0 && ev.Proc.ParentPID == 4 {
			if firstMaster == 0 {
				firstMaster = ev.Time
			}
		} else if ev.Known&etw.FieldParentImage != 0 && baseLower(ev.Proc.ParentImage) == "smss.exe" && firstChild == 0 {
			firstChild = ev.Time
		}
	}
	for _, m := range []struct {
		name string
		t    int64
	}{{"master", firstMaster}, {"child", firstChild}} {
		if m.t != 0 {
			t := m.t
			vs = append(vs, view{name: "begins-after-first-" + m.name, files: [][]etw.Event{keep(evs, func(e *etw.Event) bool { return e.Time > t })}})
		}
	}
	if firstChild != 0 {
		end := firstChild + 10e9
		vs = append(vs, view{name: "ends-10s-after-first-child", files: [][]etw.Event{keep(evs, func(e *etw.Event) bool { return e.Time <= end })}})
	}
	// Shuffled as a forwarder interleaves batches: every record within a
	// minute of its place, well inside the reorder window.
	mixed := append([]etw.Event(nil), evs...)
	sort.SliceStable(mixed, func(i, j int) bool { return mixed[i].Time < mixed[j].Time })
	rnd := rand.New(rand.NewSource(7))
	for lo := 0; lo < len(mixed); {
		hi := lo
		for hi < len(mixed) && mixed[hi].Time-mixed[lo].Time < int64(time.Minute) {
			hi++
		}
		block := mixed[lo:hi]
		rnd.Shuffle(len(block), func(i, j int) { block[i], block[j] = block[j], block[i] })
		lo = hi
	}
	vs = append(vs, view{name: "shuffled-within-a-minute", files: [][]etw.Event{mixed}, kind: viewSame})
	var odd, even []etw.Event
	for i := range evs {
		if i%2 == 0 {
			even = append(even, evs[i])
		} else {
			odd = append(odd, evs[i])
		}
	}
	vs = append(vs, view{name: "split-in-two-files", files: [][]etw.Event{even, odd}, kind: viewSame})
	if len(evs) > 0 {
		lo, hi := evs[0].Time, evs[0].Time
		for i := range evs {
			lo, hi = min(lo, evs[i].Time), max(hi, evs[i].Time)
		}
		again := append(append([]etw.Event(nil), evs...), shifted(evs, hi-lo+int64(3*time.Hour))...)
		vs = append(vs, view{name: "same-again-3h-later-same-pids", files: [][]etw.Event{again}, kind: viewSame})
	}
	// One session child's exit removed.
	window := int64(detect.DefaultConfig().ChildWindow)
	for i := range evs {
		ev := &evs[i]
		if ev.Kind != etw.KindExit || ev.Known&etw.FieldPID == 0 {
			continue
		}
		for j := range evs[:i] {
			c := &evs[j]
			if !isSmssStart(c) || c.Host != ev.Host || c.Source != ev.Source || c.Known&etw.FieldPID == 0 || c.Proc.PID != ev.Proc.PID ||
				c.Known&etw.FieldParentImage == 0 || baseLower(c.Proc.ParentImage) != "smss.exe" || ev.Time-c.Time > 5e9 || ev.Time < c.Time {
				continue
			}
			rest := append(append([]etw.Event(nil), evs[:i]...), evs[i+1:]...)
			v := view{name: fmt.Sprintf("drop-exit-of-child-%d", ev.Proc.PID), files: [][]etw.Event{rest}}
			if exitProven(rest, c, window) {
				v.kind, v.pid = viewPersistent, ev.Proc.PID
			}
			vs = append(vs, v)
		}
	}
	return vs
}

func writeView(t *testing.T, dir string, i int, files [][]etw.Event) []string {
	t.Helper()
	var paths []string
	for j, evs := range files {
		var buf bytes.Buffer
		w := trace.NewWriter(&buf)
		for k := range evs {
			if err := w.Write(&evs[k]); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, fmt.Sprintf("v%d_%d.jsonl", i, j))
		if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

func ruleSet(c *collected) map[string]bool {
	s := map[string]bool{}
	for _, r := range c.rules() {
		s[r] = true
	}
	return s
}

func TestMetamorphicViews(t *testing.T) {
	paths, err := filepath.Glob("testdata/traces/*.jsonl")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no traces: %v", err)
	}
	cfg := detect.DefaultConfig()
	for _, path := range paths {
		evs := readTrace(t, path)
		orig := ruleSet(runTrace(t, path, cfg))
		dir := t.TempDir()
		for i, v := range views(evs) {
			t.Run(filepath.Base(path)+"/"+v.name, func(t *testing.T) {
				for _, f := range v.files {
					if len(f) == 0 {
						t.Skip("the view leaves a file with no record (an empty input is an error of its own)")
					}
				}
				got := runFiles(t, cfg, writeView(t, dir, i, v.files)...)
				rules := ruleSet(got)
				switch v.kind {
				case viewSubset:
					for r := range rules {
						if !orig[r] {
							t.Fatalf("removing records raised %s (the whole trace raises %v)", r, sortedKeys(orig))
						}
					}
				case viewSame:
					if strings.Join(sortedKeys(rules), " ") != strings.Join(sortedKeys(orig), " ") {
						t.Fatalf("rules %v, the whole trace raises %v", sortedKeys(rules), sortedKeys(orig))
					}
				case viewPersistent:
					found := false
					for _, vi := range got.violations {
						if vi.Rule == detect.RulePersistentChild && vi.Process.PID == v.pid {
							found = true
						} else if !orig[vi.Rule.ID()] {
							t.Fatalf("removing the exit raised %s: %s", vi.Rule.ID(), vi.Message)
						}
					}
					if !found {
						t.Fatalf("no smss.persistent_child on pid %d though the trace proves exit delivery", v.pid)
					}
				}
			})
		}
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
