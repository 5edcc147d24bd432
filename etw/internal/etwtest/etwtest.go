// Package etwtest holds the helpers the source packages' tests share (the
// readers' tests in etw/nxlog, etw/winlogbeat, etw/evtx, etw/trace,
// etw/input and the mappers' in etw/winlog):
//
//	var skips etwtest.SkipLog
//	evs, err := etwtest.ReadAll(t, nxlog.NewReader(f, "f", &skips))
//	if skips.Got[0] != "f:3: invalid JSON: ..." { ... }
//
// It is internal: nothing outside etw's tests imports it.
package etwtest

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/smsswatch/smsswatch/etw"
	"github.com/smsswatch/smsswatch/etw/sessmgr"
)

// NS is a UTC time ("2006-01-02 15:04:05.999999999") as Unix ns, for
// expected values.
func NS(s string) int64 {
	t, err := time.Parse("2006-01-02 15:04:05.999999999", s)
	if err != nil {
		panic(err)
	}
	return t.UnixNano()
}

// SkipLog collects skip reports as "file:record: reason" (file's base
// name).
type SkipLog struct{ Got []string }

// Skip implements etw.Skipper.
func (s *SkipLog) Skip(file string, record int64, reason string) {
	s.Got = append(s.Got, fmt.Sprintf("%s:%d: %s", filepath.Base(file), record, reason))
}

// ReadAll drains a Reader (at most a million events).
func ReadAll(t testing.TB, r etw.Reader) ([]etw.Event, error) {
	t.Helper()
	var out []etw.Event
	for i := 0; i < 1_000_000; i++ {
		var ev etw.Event
		err := r.Next(&ev)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, ev)
	}
	t.Fatal("reader does not end")
	return nil, nil
}

// FailingReader returns Data, then Err.
type FailingReader struct {
	Data []byte
	Err  error
}

// Read implements io.Reader.
func (f *FailingReader) Read(p []byte) (int, error) {
	if len(f.Data) == 0 {
		return 0, f.Err
	}
	n := copy(p, f.Data)
	f.Data = f.Data[n:]
	return n, nil
}

// The bounds of the times a Windows-log mapper accepts (winlog's minTime
// and maxTime), widened by the largest zone offset.
var (
	minTime = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano() - 15*int64(time.Hour)
	maxTime = time.Date(2261, 12, 31, 0, 0, 0, 0, time.UTC).UnixNano() + 15*int64(time.Hour)
)

// CheckEvent asserts what every event a Windows-log reader emits
// satisfies, whatever the input.
func CheckEvent(t testing.TB, ev *etw.Event) {
	t.Helper()
	switch ev.Kind {
	case etw.KindStart, etw.KindExit, etw.KindRegistry, etw.KindBoot:
	default:
		t.Fatalf("kind %v", ev.Kind)
	}
	switch ev.Source {
	case etw.SourceSysmon, etw.SourceSecurity, etw.SourceSystem:
	default:
		t.Fatalf("source %v", ev.Source)
	}
	if ev.Time < minTime || ev.Time > maxTime {
		t.Fatalf("time %d out of range", ev.Time)
	}
	if ev.Kind == etw.KindRegistry && !sessmgr.IsKey(ev.Reg.Key) {
		t.Fatalf("registry event outside Session Manager: %q", ev.Reg.Key)
	}
	if ev.Kind == etw.KindBoot && ev.Known&^etw.FieldBootTime != 0 {
		t.Fatalf("boot with fields %b", ev.Known)
	}
	if (ev.Kind == etw.KindStart || ev.Kind == etw.KindExit) && !ev.Has(etw.FieldPID) && !ev.Has(etw.FieldKey) {
		t.Fatalf("process event without PID or key")
	}
}

// ReadFixtureLines returns the lines of a fixture file.
func ReadFixtureLines(path string) ([][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return bytes.Split(data, []byte("\n")), nil
}

// corpusDir is ../shared/corpus beside the repository: the real captures
// (see its README), read in place and never copied into the repository.
func corpusDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "shared", "corpus")
}

// CorpusFile returns the path of a real capture, or skips the test (saying
// so) when the corpus is not beside the repository.
func CorpusFile(t testing.TB, name string) string {
	t.Helper()
	path := filepath.Join(corpusDir(), name)
	if _, err := os.Stat(path); err != nil {
		t.Skipf("corpus capture %s not present (%v): real-data conformance not checked", path, err)
	}
	return path
}

// SmssRow is one smss.exe process event as a corpus test expects it.
type SmssRow struct {
	Src  etw.Source
	Kind etw.Kind
	PID  uint32
	PPID uint32 // 0: unknown
	At   string
}

// SmssEvents reads a capture and returns its smss.exe process events, and
// all its events.
func SmssEvents(t testing.TB, r etw.Reader) (rows []SmssRow, all []etw.Event) {
	t.Helper()
	evs, err := ReadAll(t, r)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if (ev.Kind == etw.KindStart || ev.Kind == etw.KindExit) && strings.HasSuffix(strings.ToLower(ev.Proc.Image), `\smss.exe`) {
			rows = append(rows, SmssRow{ev.Source, ev.Kind, ev.Proc.PID, ev.Proc.ParentPID, etw.TimeOf(ev.Time).Format("2006-01-02 15:04:05.000")})
		}
	}
	return rows, evs
}

// Row is an SmssRow (a constructor, so tables stay short).
func Row(src etw.Source, kind etw.Kind, pid, ppid uint32, at string) SmssRow {
	return SmssRow{Src: src, Kind: kind, PID: pid, PPID: ppid, At: at}
}
