package nxlog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/smsswatch/smsswatch/etw"
	"github.com/smsswatch/smsswatch/etw/internal/etwtest"
	"github.com/smsswatch/smsswatch/etw/winlog"
)

// nxlogShapedSeeds are records shaped like a real NXLog capture (the OTRF
// Mordor key order: Message first, EventID in the middle, Channel near
// the end), trimmed, each with its Channel and without it (the mapper
// then goes by SourceName), so that the fuzzer starts next to records
// that differ from one of interest by one member.
var nxlogShapedSeeds = []string{
	// System 12 (Kernel-General boot record), with and without Channel.
	`{"Version":0,"Message":"The operating system started at system time 2020-09-04T07:07:38.500000000Z.","StartTime":"2020-09-04T07:07:38.500000000Z","SourceName":"Microsoft-Windows-Kernel-General","Hostname":"WORKSTATION5.theshire.local","EventType":"INFO","EventID":12,"EventReceivedTime":"2020-09-04 03:08:06","EventTime":"2020-09-04 03:07:38","Channel":"System","@timestamp":"2020-09-04T07:08:06.091Z"}`,
	`{"Version":0,"Message":"The operating system started at system time 2020-09-04T07:07:38.500000000Z.","StartTime":"2020-09-04T07:07:38.500000000Z","SourceName":"Microsoft-Windows-Kernel-General","Hostname":"WORKSTATION5.theshire.local","EventType":"INFO","EventID":12,"EventReceivedTime":"2020-09-04 03:08:06","EventTime":"2020-09-04 03:07:38","@timestamp":"2020-09-04T07:08:06.091Z"}`,
	// System 6005 (EventLog started), without Channel.
	`{"Message":"The Event log service was started.","SourceName":"EventLog","Hostname":"WORKSTATION5.theshire.local","EventID":6005,"EventReceivedTime":"2020-09-04 03:08:06","EventTime":"2020-09-04 03:07:45","@timestamp":"2020-09-04T07:08:06.091Z"}`,
	// Sysmon 1, with and without Channel.
	`{"Version":5,"Message":"Process Create:\r\nRuleName: -\r\nUtcTime: 2020-09-04 07:07:40.702\r\nImage: C:\\Windows\\System32\\smss.exe","UtcTime":"2020-09-04 07:07:40.702","ProcessGuid":"{8ee6d027-e76d-5f51-0300-000000000400}","ProcessId":"404","Image":"C:\\Windows\\System32\\smss.exe","ParentProcessId":"4","ParentImage":"System","User":"NT AUTHORITY\\SYSTEM","SourceName":"Microsoft-Windows-Sysmon","Hostname":"WORKSTATION5.theshire.local","EventID":1,"EventReceivedTime":"2020-09-04 03:08:11","EventTime":"2020-09-04 03:07:40","Channel":"Microsoft-Windows-Sysmon/Operational","@timestamp":"2020-09-04T07:08:11.440Z"}`,
	`{"Version":5,"Message":"Process Create:\r\nRuleName: -\r\nUtcTime: 2020-09-04 07:07:40.702\r\nImage: C:\\Windows\\System32\\smss.exe","UtcTime":"2020-09-04 07:07:40.702","ProcessGuid":"{8ee6d027-e76d-5f51-0300-000000000400}","ProcessId":"404","Image":"C:\\Windows\\System32\\smss.exe","ParentProcessId":"4","ParentImage":"System","User":"NT AUTHORITY\\SYSTEM","SourceName":"Microsoft-Windows-Sysmon","Hostname":"WORKSTATION5.theshire.local","EventID":1,"EventReceivedTime":"2020-09-04 03:08:11","EventTime":"2020-09-04 03:07:40","@timestamp":"2020-09-04T07:08:11.440Z"}`,
	// Sysmon 13 under Session Manager, with and without Channel.
	`{"Version":2,"Message":"Registry value set:\r\nRuleName: -","EventType":"SetValue","UtcTime":"2020-09-04 07:20:01.100","ProcessGuid":"{8ee6d027-e76d-5f51-3b03-000000000400}","ProcessId":"2044","Image":"C:\\Windows\\regedit.exe","TargetObject":"HKLM\\System\\CurrentControlSet\\Control\\Session Manager\\BootExecute","Details":"autocheck autochk *","SourceName":"Microsoft-Windows-Sysmon","Hostname":"WORKSTATION5.theshire.local","EventID":13,"EventReceivedTime":"2020-09-04 03:20:11","EventTime":"2020-09-04 03:20:01","Channel":"Microsoft-Windows-Sysmon/Operational","@timestamp":"2020-09-04T07:20:11.440Z"}`,
	`{"Version":2,"Message":"Registry value set:\r\nRuleName: -","EventType":"SetValue","UtcTime":"2020-09-04 07:20:01.100","ProcessGuid":"{8ee6d027-e76d-5f51-3b03-000000000400}","ProcessId":"2044","Image":"C:\\Windows\\regedit.exe","TargetObject":"HKLM\\System\\CurrentControlSet\\Control\\Session Manager\\BootExecute","Details":"autocheck autochk *","SourceName":"Microsoft-Windows-Sysmon","Hostname":"WORKSTATION5.theshire.local","EventID":13,"EventReceivedTime":"2020-09-04 03:20:11","EventTime":"2020-09-04 03:20:01","@timestamp":"2020-09-04T07:20:11.440Z"}`,
	// Security 4688 and 4608, with and without Channel.
	`{"Version":2,"Message":"A new process has been created.\r\n\r\nCreator Subject:\r\n\tSecurity ID:\t\tS-1-5-18","SubjectUserSid":"S-1-5-18","TargetUserSid":"S-1-0-0","NewProcessId":"0x194","NewProcessName":"C:\\Windows\\System32\\smss.exe","ProcessId":"0x4","SourceName":"Microsoft-Windows-Security-Auditing","Hostname":"WORKSTATION5.theshire.local","EventID":4688,"EventReceivedTime":"2020-09-04 03:08:11","EventTime":"2020-09-04 03:07:40","Channel":"Security","@timestamp":"2020-09-04T07:08:11.440Z"}`,
	`{"Version":2,"Message":"A new process has been created.\r\n\r\nCreator Subject:\r\n\tSecurity ID:\t\tS-1-5-18","SubjectUserSid":"S-1-5-18","TargetUserSid":"S-1-0-0","NewProcessId":"0x194","NewProcessName":"C:\\Windows\\System32\\smss.exe","ProcessId":"0x4","SourceName":"Microsoft-Windows-Security-Auditing","Hostname":"WORKSTATION5.theshire.local","EventID":4688,"EventReceivedTime":"2020-09-04 03:08:11","EventTime":"2020-09-04 03:07:40","@timestamp":"2020-09-04T07:08:11.440Z"}`,
	`{"Message":"Windows is starting up.","SourceName":"Microsoft-Windows-Security-Auditing","Hostname":"WORKSTATION5.theshire.local","EventID":4608,"EventReceivedTime":"2020-09-04 03:08:11","EventTime":"2020-09-04 03:07:39","Channel":"Security","@timestamp":"2020-09-04T07:08:11.440Z"}`,
	// Member names spelled with escapes (as a forwarder that escapes
	// more than NXLog may write them), on a record of no interest
	// (Security 4609, shutdown): one digit away from 4608.
	`{"Message":"Windows is shutting down.","SourceName":"Microsoft-Windows-Security-Auditing","Hostname":"WORKSTATION5.theshire.local","Event\u0049D":4609,"EventReceivedTime":"2020-09-04 03:08:11","Event\u0054ime":"2020-09-04 03:07:39","Channel":"Security","@timestamp":"2020-09-04T07:08:11.440Z"}`,
}

// FuzzNXLogRecord fuzzes the JSON record path (filter, scanner, mapper)
// and checks it against a reference built on encoding/json and MapFields:
// for any line the filter lets through, both must agree; and no line may
// vanish silently: a line the reader neither turns into an event nor
// reports as skipped must be one the reference (every resolution of the
// alias members) says is not of interest, and so for re-encodings of the
// line that change one member the mapper reads (memberVariants), which
// put the malformed and unusual spellings next to every seed.
func FuzzNXLogRecord(f *testing.F) {
	if data, err := etwtest.ReadFixtureLines("testdata/nxlog_mixed.json"); err == nil {
		for _, l := range data {
			f.Add(l)
		}
	}
	f.Add([]byte(`{"Channel":"security","EventID":"4688","EventTime":"2020-09-04 03:07:40","EventReceivedTime":"2020-09-04 03:08:11","@timestamp":"2020-09-04T07:08:11.440Z","NewProcessId":"0x194"}`))
	f.Add([]byte(`{"Channel":"Microsoft-Windows-Sysmon/Operational","EventID":13,"UtcTime":"2020-01-01 00:00:00","TargetObject":"HKLM\\System\\CurrentControlSet\\Control\\Session Manager\\(Default)"}`))
	for _, l := range nxlogShapedSeeds {
		f.Add([]byte(l))
	}
	br := bufio.NewReaderSize(nil, 64<<10) // reused by readLineAlone
	f.Fuzz(func(t *testing.T, line []byte) {
		if got, want := nxlogCandidate(line), nxlogCandidateScan(line); got != want {
			t.Fatalf("anchored filter %v, unanchored %v", got, want)
		}
		ev, emit, reason, _ := mapLine(string(line))
		if emit {
			etwtest.CheckEvent(t, &ev)
			if reason != "" {
				t.Fatalf("emitted with reason %q", reason)
			}
		}
		// The reader must survive the line too, alone and repeated.
		r := NewReader(bytes.NewReader(bytes.Join([][]byte{line, line}, []byte("\n"))), "f", nil)
		for i := 0; i < 10; i++ {
			var e etw.Event
			if err := r.Next(&e); err != nil {
				break
			}
			etwtest.CheckEvent(t, &e)
		}

		// Reference.
		if !utf8.Valid(line) || strings.HasPrefix(reason, "invalid JSON") {
			return
		}
		obj, ok := decodeObject(line)
		if !ok {
			return
		}
		fields := fieldsOf(obj)
		checkNoSilentDrop(t, br, line, fields)
		if ms, ok := orderedMembers(line); ok {
			for _, v := range memberVariants(ms) {
				vline := encodeMembers(v)
				vobj, ok := decodeObject(vline)
				if !ok {
					t.Fatalf("variant %s does not decode", vline)
				}
				checkNoSilentDrop(t, br, vline, fieldsOf(vobj))
			}
		}
		if (has(obj, "Hostname") && has(obj, "Computer")) || (has(obj, "SourceName") && has(obj, "ProviderName")) {
			return // aliases: which wins depends on member order
		}
		if _, bad := obj["EventID"]; bad && fields["EventID"] == badIDMarker {
			return // reported by the fast path in its own words; checked above
		}
		var ref etw.Event
		remit, rreason := winlog.MapFields(fields, &ref)
		if nxlogCandidate(line) {
			if emit != remit || reason != rreason || (emit && ev != ref) {
				t.Fatalf("fast path (%v %q %+v) and reference (%v %q %+v) disagree", emit, reason, ev, remit, rreason, ref)
			}
		}
	})
}

// readLineAlone runs a reader over line as the whole input (through br,
// reset, so that no buffer is allocated per call) and counts the events
// it emits and the skips it reports.
func readLineAlone(br *bufio.Reader, line []byte) (events, skips int) {
	br.Reset(bytes.NewReader(line))
	r := NewReader(br, "f", etw.SkipFunc(func(string, int64, string) { skips++ }))
	for {
		var e etw.Event
		if r.Next(&e) != nil {
			return events, skips
		}
		events++
	}
}

// badIDMarker stands in the reference's fields for an EventID that is
// not a string or a number (null, an object...): a malformed ID, which
// the mapper reports whenever the log is one it reads.
const badIDMarker = "(not a string or number)"

// checkNoSilentDrop fails when the reader neither emits an event for
// line nor reports it skipped, although the reference (fields through
// MapFields, every resolution of the aliases) says it is of interest.
func checkNoSilentDrop(t *testing.T, br *bufio.Reader, line []byte, fields map[string]string) {
	t.Helper()
	if events, skips := readLineAlone(br, line); events > 0 || skips > 0 {
		return
	}
	for _, variant := range aliasVariants(fields) {
		var ref etw.Event
		if remit, rreason := winlog.MapFields(variant, &ref); remit || rreason != "" {
			t.Fatalf("the reader drops a record of interest silently: %s (reference %v %q)", line, remit, rreason)
		}
	}
}

// decodeObject decodes line as one JSON object (numbers kept as text),
// the way the reference reads it; ok is false for anything else.
func decodeObject(line []byte) (map[string]any, bool) {
	if !utf8.Valid(line) {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var obj map[string]any
	if dec.Decode(&obj) != nil || dec.More() {
		return nil, false
	}
	return obj, true
}

// fieldsOf returns the string and number members of obj as text; an
// EventID of another kind becomes badIDMarker.
func fieldsOf(obj map[string]any) map[string]string {
	fields := map[string]string{}
	for k, v := range obj {
		switch x := v.(type) {
		case string:
			fields[k] = x
		case json.Number:
			fields[k] = x.String()
		default:
			if k == "EventID" {
				fields[k] = badIDMarker
			}
		}
	}
	return fields
}

// jsonMember is one top-level member as written: its name encoded as
// JSON and its raw value.
type jsonMember struct {
	name  string
	key   []byte
	value []byte
}

// orderedMembers splits a JSON object line into its top-level members in
// order (at most 64; ok is false beyond, or for anything but an object).
func orderedMembers(line []byte) ([]jsonMember, bool) {
	dec := json.NewDecoder(bytes.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false
	}
	var ms []jsonMember
	for dec.More() {
		tok, err := dec.Token()
		name, isName := tok.(string)
		if err != nil || !isName || len(ms) == 64 {
			return nil, false
		}
		var raw json.RawMessage
		if dec.Decode(&raw) != nil {
			return nil, false
		}
		key, err := json.Marshal(name)
		if err != nil {
			return nil, false
		}
		ms = append(ms, jsonMember{name: name, key: key, value: raw})
	}
	return ms, true
}

// memberVariants returns, for each member whose name the mapper reads,
// the record with that member dropped, its name's first letter written
// as a \u escape, and its value replaced by null, by an object, and by
// the value negated (a number) or padded with a space (a string).
func memberVariants(ms []jsonMember) [][]jsonMember {
	var out [][]jsonMember
	with := func(i int, m jsonMember) {
		v := append([]jsonMember(nil), ms...)
		v[i] = m
		out = append(out, v)
	}
	for i, m := range ms {
		if _, known := winlog.LookupField([]byte(m.name)); !known {
			continue
		}
		out = append(out, append(append([]jsonMember(nil), ms[:i]...), ms[i+1:]...))
		if c := m.name[0]; ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') {
			e := m
			e.key = []byte(fmt.Sprintf(`"\u%04x%s`, c, m.key[2:]))
			with(i, e)
		}
		for _, val := range []string{"null", `{"v":1}`} {
			e := m
			e.value = []byte(val)
			with(i, e)
		}
		e := m
		switch {
		case len(m.value) > 0 && m.value[0] == '"':
			var s string
			if json.Unmarshal(m.value, &s) != nil {
				continue
			}
			e.value, _ = json.Marshal(" " + s)
		case len(m.value) > 0 && m.value[0] >= '0' && m.value[0] <= '9':
			e.value = append([]byte("-"), m.value...)
		default:
			continue
		}
		with(i, e)
	}
	return out
}

// encodeMembers writes members back as one JSON object line.
func encodeMembers(ms []jsonMember) []byte {
	b := []byte{'{'}
	for i, m := range ms {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(append(append(b, m.key...), ':'), m.value...)
	}
	return append(b, '}')
}

// aliasVariants returns fields as the fast path may see it: when a record
// has both names of an aliased datum, the one written last wins there
// (member order), so each is tried alone.
func aliasVariants(fields map[string]string) []map[string]string {
	out := []map[string]string{fields}
	for _, pair := range [][2]string{{"SourceName", "ProviderName"}, {"Hostname", "Computer"}} {
		_, a := fields[pair[0]]
		_, b := fields[pair[1]]
		if !a || !b {
			continue
		}
		var next []map[string]string
		for _, m := range out {
			for _, drop := range pair {
				c := make(map[string]string, len(m))
				for k, v := range m {
					if k != drop {
						c[k] = v
					}
				}
				next = append(next, c)
			}
		}
		out = next
	}
	return out
}

func has(m map[string]any, k string) bool { _, ok := m[k]; return ok }
