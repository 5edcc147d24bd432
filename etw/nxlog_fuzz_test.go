package etw

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"unicode/utf8"
)

// checkEvent asserts what every emitted event satisfies, whatever the
// input.
func checkEvent(t *testing.T, ev *Event) {
	t.Helper()
	switch ev.Kind {
	case KindStart, KindExit, KindRegistry, KindBoot:
	default:
		t.Fatalf("kind %v", ev.Kind)
	}
	switch ev.Source {
	case SourceSysmon, SourceSecurity, SourceSystem:
	default:
		t.Fatalf("source %v", ev.Source)
	}
	const slack = int64(15 * 3600 * 1e9) // zone conversion
	if ev.Time < minTimeNs-slack || ev.Time > maxTimeNs+slack {
		t.Fatalf("time %d out of range", ev.Time)
	}
	if ev.Kind == KindRegistry && !IsSessionManagerKey(ev.Reg.Key) {
		t.Fatalf("registry event outside Session Manager: %q", ev.Reg.Key)
	}
	if ev.Kind == KindBoot && ev.Known&^FieldBootTime != 0 {
		t.Fatalf("boot with fields %b", ev.Known)
	}
	if (ev.Kind == KindStart || ev.Kind == KindExit) && !ev.Has(FieldPID) && !ev.Has(FieldKey) {
		t.Fatalf("process event without PID or key")
	}
}

// FuzzNXLogRecord fuzzes the JSON record path (filter, scanner, mapper)
// and checks it against a reference built on encoding/json and MapFields:
// for any line the filter lets through, both must agree; a record the
// filter drops must not be one of interest in NXLog's canonical encoding.
func FuzzNXLogRecord(f *testing.F) {
	if data, err := readFixtureLines("testdata/importers/nxlog_mixed.json"); err == nil {
		for _, l := range data {
			f.Add(l)
		}
	}
	f.Add([]byte(`{"Channel":"security","EventID":"4688","EventTime":"2020-09-04 03:07:40","EventReceivedTime":"2020-09-04 03:08:11","@timestamp":"2020-09-04T07:08:11.440Z","NewProcessId":"0x194"}`))
	f.Add([]byte(`{"Channel":"Microsoft-Windows-Sysmon/Operational","EventID":13,"UtcTime":"2020-01-01 00:00:00","TargetObject":"HKLM\\System\\CurrentControlSet\\Control\\Session Manager\\(Default)"}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		ev, emit, reason, _ := mapLine(string(line))
		if emit {
			checkEvent(t, &ev)
			if reason != "" {
				t.Fatalf("emitted with reason %q", reason)
			}
		}
		// The reader must survive the line too, alone and repeated.
		r := NewNXLogReader(bytes.NewReader(bytes.Join([][]byte{line, line}, []byte("\n"))), "f", nil)
		for i := 0; i < 10; i++ {
			var e Event
			if err := r.Next(&e); err != nil {
				break
			}
			checkEvent(t, &e)
		}

		// Reference.
		if !utf8.Valid(line) || strings.HasPrefix(reason, "invalid JSON") {
			return
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		var obj map[string]any
		if dec.Decode(&obj) != nil || dec.More() {
			return
		}
		fields := map[string]string{}
		for k, v := range obj {
			switch x := v.(type) {
			case string:
				fields[k] = x
			case json.Number:
				fields[k] = x.String()
			}
		}
		if (has(obj, "Hostname") && has(obj, "Computer")) || (has(obj, "SourceName") && has(obj, "ProviderName")) {
			return // aliases: which wins depends on member order
		}
		if v, ok := obj["EventID"]; ok {
			switch v.(type) {
			case string, json.Number:
			default:
				// null, an object...: reported by the fast path, unknown to
				// the reference's string fields. The filter must let it by.
				if !nxlogCandidate(line) {
					t.Fatalf("filter drops a record with EventID %v", v)
				}
				return
			}
		}
		var ref Event
		remit, rreason := MapFields(fields, &ref)
		if nxlogCandidate(line) {
			if emit != remit || reason != rreason || (emit && ev != ref) {
				t.Fatalf("fast path (%v %q %+v) and reference (%v %q %+v) disagree", emit, reason, ev, remit, rreason, ref)
			}
			return
		}
		if remit || rreason != "" {
			canonical, err := json.Marshal(fields)
			if err != nil {
				return
			}
			if !nxlogCandidate(canonical) {
				t.Fatalf("filter drops a record of interest: %s (reference %v %q)", canonical, remit, rreason)
			}
		}
	})
}

func has(m map[string]any, k string) bool { _, ok := m[k]; return ok }

func readFixtureLines(path string) ([][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return bytes.Split(data, []byte("\n")), nil
}
