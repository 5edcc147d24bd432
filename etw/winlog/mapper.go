package winlog

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"sort"
	"time"

	"github.com/smsswatch/smsswatch/etw"

	"github.com/smsswatch/smsswatch/etw/jsonscan"
)

// maxZoneOffset is the largest UTC offset a forwarder's local clock can
// have (UTC+14).
const maxZoneOffset = 14 * time.Hour

// Mapper turns flat records into events. It keeps a small string intern
// table (host names, images and SIDs repeat on almost every record) and the
// counters of ReadStats it owns.
type Mapper struct {
	intern interner
	Stats  etw.ReadStats
	guid   [36]byte
}

// MapFields maps one flat record onto ev: fields is what a forwarder or
// an EVTX EventData section holds (field name -> value, names as Sysmon,
// Security and NXLog write them: EventID, Channel, Hostname or Computer,
// UtcTime, ProcessId, NewProcessId, TargetObject, EventTime,
// EventReceivedTime, @timestamp, TimeCreated...). Numbers may be decimal
// or 0x-prefixed hexadecimal strings. emit is false when the record is not
// an event smsswatch reads; reason is set (and emit false) when it is one
// but is malformed.
func MapFields(fields map[string]string, ev *etw.Event) (emit bool, reason string) {
	var r Record
	// Deterministic order, so a duplicate alias (Hostname and Computer)
	// resolves the same way on every call.
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if id, ok := LookupField([]byte(k)); ok {
			r.SetString(id, fields[k])
		}
	}
	var m Mapper
	return m.Map(&r, ev)
}

// Map maps r onto ev (which it resets). emit is false for records
// that are not of interest; reason explains a malformed record of interest.
func (m *Mapper) Map(r *Record, ev *etw.Event) (emit bool, reason string) {
	ev.Reset()
	src := channelOf(r)
	if src == etw.SourceUnknown {
		return false, ""
	}
	id, ok := r.eventID()
	if !ok {
		// A record of a log we read that names an event ID we cannot
		// read may be one of ours: reported, never dropped unseen.
		switch {
		case r.IDKind != 0:
			return false, "bad EventID (" + jsonKindName(r.IDKind) + ")"
		case r.Has(FieldEventID):
			return false, badField(r, FieldEventID)
		}
		return false, "" // no event ID: no event of ours
	}
	switch src {
	case etw.SourceSysmon:
		return m.mapSysmon(r, id, ev)
	case etw.SourceSecurity:
		return m.mapSecurity(r, id, ev)
	case etw.SourceSystem:
		return m.mapSystem(r, id, ev)
	}
	return false, ""
}

// channelOf says which log a record comes from, by Channel (any case) or,
// when there is none, by provider.
func channelOf(r *Record) etw.Source {
	if ch, ok := r.text(FieldChannel); ok && len(ch) > 0 {
		switch {
		case bytes.EqualFold(ch, []byte("Microsoft-Windows-Sysmon/Operational")):
			return etw.SourceSysmon
		case bytes.EqualFold(ch, []byte("Security")):
			return etw.SourceSecurity
		case bytes.EqualFold(ch, []byte("System")):
			return etw.SourceSystem
		}
		return etw.SourceUnknown
	}
	p, _ := r.text(FieldProvider)
	switch {
	case bytes.EqualFold(p, []byte("Microsoft-Windows-Sysmon")):
		return etw.SourceSysmon
	case bytes.EqualFold(p, []byte("Microsoft-Windows-Security-Auditing")):
		return etw.SourceSecurity
	case bytes.EqualFold(p, []byte("Microsoft-Windows-Kernel-General")), bytes.EqualFold(p, []byte("EventLog")):
		return etw.SourceSystem
	}
	return etw.SourceUnknown
}

// recordTime returns the record's own event time in UTC: the EVTX
// TimeCreated, or NXLog's EventTime (the forwarder's local time) converted
// to UTC with the offset EventReceivedTime - @timestamp rounded to 15
// minutes. Without those two, EventTime is taken as UTC and counted.
func (m *Mapper) recordTime(r *Record) (ns int64, reason string) {
	if t, present, ok := r.timeField(FieldTimeCreated); present {
		if !ok {
			return 0, badField(r, FieldTimeCreated)
		}
		return t, ""
	}
	b, ok := r.text(fEventTime)
	if !ok || len(b) == 0 {
		return 0, "no event time (EventTime or TimeCreated)"
	}
	local, zoned, ok := parseWinTime(b)
	if !ok {
		return 0, badField(r, fEventTime)
	}
	if zoned {
		return local, ""
	}
	off, ok := zoneOffset(r)
	if !ok {
		m.Stats.NoZone++
		return local, ""
	}
	return local - off, ""
}

// zoneOffset derives the forwarder's UTC offset from one record:
// EventReceivedTime (local, no zone) minus @timestamp (UTC, with its Z or
// offset written), rounded to the nearest 15 minutes.
func zoneOffset(r *Record) (int64, bool) {
	rb, ok1 := r.text(fReceivedTime)
	tb, ok2 := r.text(fTimestamp)
	if !ok1 || !ok2 {
		return 0, false
	}
	recv, zoned, ok := parseWinTime(rb)
	if !ok || zoned {
		return 0, false
	}
	ts, zoned, ok := parseWinTime(tb)
	if !ok || !zoned {
		return 0, false // an @timestamp without a zone says nothing of UTC
	}
	const q = int64(15 * time.Minute)
	d := recv - ts
	var off int64
	if d >= 0 {
		off = (d + q/2) / q * q
	} else {
		off = -((-d + q/2) / q * q)
	}
	if off > int64(maxZoneOffset) || off < -int64(maxZoneOffset) {
		return 0, false
	}
	return off, true
}

// badField is the skip reason for a field that is present but unreadable.
func badField(r *Record, id FieldID) string {
	v, ok := r.text(id)
	if !ok {
		return "no " + fieldNames[id]
	}
	return fmt.Sprintf("bad %s %s", fieldNames[id], quoteShort(v))
}

// jsonKindName names a JSON value kind in reports.
func jsonKindName(k byte) string {
	switch k {
	case jsonscan.Null:
		return "null"
	case jsonscan.Nested:
		return "object or array"
	case jsonscan.True, jsonscan.False:
		return "boolean"
	case jsonscan.String:
		return "string"
	case jsonscan.Number:
		return "number"
	}
	return "unknown"
}

// quoteShort quotes at most 40 bytes of an attacker-controlled value for a
// one-line report.
func quoteShort(b []byte) string {
	const max = 40
	if len(b) > max {
		return fmt.Sprintf("%q...", b[:max])
	}
	return fmt.Sprintf("%q", b)
}

// host sets ev.Host from the record.
func (m *Mapper) host(r *Record, ev *etw.Event) {
	if h, ok := r.text(FieldHost); ok {
		ev.Host = m.intern.str(h)
	}
}

// str returns a known, non-empty text field as an interned string.
// Values in skip (compared case-sensitively) count as unknown.
func (m *Mapper) str(r *Record, id FieldID, skip ...string) (string, bool) {
	b, ok := r.text(id)
	if !ok || len(b) == 0 {
		return "", false
	}
	for _, s := range skip {
		if string(b) == s {
			return "", false
		}
	}
	return m.intern.str(b), true
}

// num reads an optional numeric field into *dst, setting bit f in ev.Known.
// It returns a skip reason when the field is present but unreadable.
func (m *Mapper) num(r *Record, id FieldID, ev *etw.Event, f etw.Field, dst *uint32) string {
	v, present, ok := r.uint32Field(id)
	if !present {
		return ""
	}
	if !ok {
		return badField(r, id)
	}
	*dst = v
	ev.Known |= f
	return ""
}

// nullSID is the SID Windows writes for "no account recorded".
const nullSID = "S-1-0-0"

// key returns a Sysmon ProcessGuid as a process key: braces removed and
// hex upper-cased so that forwarded JSON ({3ddc5665-...}) and EVTX
// (3DDC5665-...) name a process alike. The null GUID is unknown. Values
// that are not GUIDs are kept as written.
func (m *Mapper) key(r *Record, id FieldID) (string, bool) {
	b, ok := r.text(id)
	if !ok || len(b) == 0 {
		return "", false
	}
	if len(b) == 38 && b[0] == '{' && b[37] == '}' {
		b = b[1:37]
	}
	if len(b) != 36 {
		return string(b), true
	}
	zero := true
	for i, c := range b {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return string(b), true
			}
		case c >= '0' && c <= '9':
			if c != '0' {
				zero = false
			}
		case c >= 'a' && c <= 'f':
			c -= 'a' - 'A'
			zero = false
		case c >= 'A' && c <= 'F':
			zero = false
		default:
			return string(b), true
		}
		m.guid[i] = c
	}
	if zero {
		return "", false
	}
	return m.intern.str(m.guid[:]), true
}

// interner returns one string for repeated byte values (host names,
// images, users, SIDs), so that a million records of one host do not
// allocate its name a million times. It is a small direct-mapped cache:
// bounded, and a miss costs one allocation.
type interner struct {
	seed maphash.Seed
	init bool
	tab  [512]string
}

func (in *interner) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > 260 {
		return string(b)
	}
	if !in.init {
		in.seed = maphash.MakeSeed()
		in.init = true
	}
	i := maphash.Bytes(in.seed, b) % uint64(len(in.tab))
	if s := in.tab[i]; s == string(b) {
		return s
	}
	s := string(b)
	in.tab[i] = s
	return s
}
