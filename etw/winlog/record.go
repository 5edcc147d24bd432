package winlog

import (
	"bytes"
	"math"
	"strconv"
	"time"

	"github.com/smsswatch/smsswatch/etw/jsonscan"

	"github.com/smsswatch/smsswatch/etw/textparse"
)

// This file holds the flat record every importer fills before mapping:
// the fields of interest of one Windows event record (forwarded JSON line
// or parsed EVTX record) by name, as the event's provider writes them
// (Sysmon and Security EventData names, NXLog's Hostname/EventTime...).
// Only the fields the mappers read are kept; everything else is dropped
// while the record is scanned, so filling one costs no allocation once its
// buffers have grown.

// FieldID names a slot of a flatRecord.
type FieldID uint8

// The fields the mappers read. Names are those of the providers (and, for
// the record header, NXLog's names; EVTX System fields are stored under the
// same slots).
const (
	FieldEventID FieldID = iota
	FieldChannel
	FieldProvider // NXLog SourceName, EVTX System/Provider/Name
	FieldHost     // NXLog Hostname, EVTX System/Computer
	fEventTime
	fReceivedTime    // NXLog EventReceivedTime (forwarder's local time)
	fTimestamp       // @timestamp (forwarder's receive time, UTC)
	FieldTimeCreated // EVTX System/TimeCreated/SystemTime (UTC)
	FieldUtcTime
	fProcessID
	fParentProcessID
	fImage
	fParentImage
	fCommandLine
	fUser
	fTerminalSessionID
	fProcessGUID
	fParentProcessGUID
	fEventType
	fTargetObject
	fDetails
	fNewName
	fNewProcessID
	fNewProcessName
	fParentProcessName
	fSubjectUserSID
	fTargetUserSID
	fProcessName
	fStatus
	fStartTime
	numFields
)

// fieldNames are the record names of the slots, for MapFields and reports.
var fieldNames = [numFields]string{
	FieldEventID:       "EventID",
	FieldChannel:       "Channel",
	FieldProvider:      "SourceName",
	FieldHost:          "Hostname",
	fEventTime:         "EventTime",
	fReceivedTime:      "EventReceivedTime",
	fTimestamp:         "@timestamp",
	FieldTimeCreated:   "TimeCreated",
	FieldUtcTime:       "UtcTime",
	fProcessID:         "ProcessId",
	fParentProcessID:   "ParentProcessId",
	fImage:             "Image",
	fParentImage:       "ParentImage",
	fCommandLine:       "CommandLine",
	fUser:              "User",
	fTerminalSessionID: "TerminalSessionId",
	fProcessGUID:       "ProcessGuid",
	fParentProcessGUID: "ParentProcessGuid",
	fEventType:         "EventType",
	fTargetObject:      "TargetObject",
	fDetails:           "Details",
	fNewName:           "NewName",
	fNewProcessID:      "NewProcessId",
	fNewProcessName:    "NewProcessName",
	fParentProcessName: "ParentProcessName",
	fSubjectUserSID:    "SubjectUserSid",
	fTargetUserSID:     "TargetUserSid",
	fProcessName:       "ProcessName",
	fStatus:            "Status",
	fStartTime:         "StartTime",
}

// LookupField maps a record field name to its slot. Names are matched
// exactly (providers and forwarders write them in one case); aliases of
// the same datum share a slot.
func LookupField(name []byte) (FieldID, bool) {
	switch string(name) {
	case "EventID":
		return FieldEventID, true
	case "Channel":
		return FieldChannel, true
	case "SourceName", "ProviderName":
		return FieldProvider, true
	case "Hostname", "Computer":
		return FieldHost, true
	case "EventTime":
		return fEventTime, true
	case "EventReceivedTime":
		return fReceivedTime, true
	case "@timestamp":
		return fTimestamp, true
	case "TimeCreated":
		return FieldTimeCreated, true
	case "UtcTime":
		return FieldUtcTime, true
	case "ProcessId":
		return fProcessID, true
	case "ParentProcessId":
		return fParentProcessID, true
	case "Image":
		return fImage, true
	case "ParentImage":
		return fParentImage, true
	case "CommandLine":
		return fCommandLine, true
	case "User":
		return fUser, true
	case "TerminalSessionId":
		return fTerminalSessionID, true
	case "ProcessGuid":
		return fProcessGUID, true
	case "ParentProcessGuid":
		return fParentProcessGUID, true
	case "EventType":
		return fEventType, true
	case "TargetObject":
		return fTargetObject, true
	case "Details":
		return fDetails, true
	case "NewName":
		return fNewName, true
	case "NewProcessId":
		return fNewProcessID, true
	case "NewProcessName":
		return fNewProcessName, true
	case "ParentProcessName":
		return fParentProcessName, true
	case "SubjectUserSid":
		return fSubjectUserSID, true
	case "TargetUserSid":
		return fTargetUserSID, true
	case "ProcessName":
		return fProcessName, true
	case "Status":
		return fStatus, true
	case "StartTime":
		return fStartTime, true
	}
	return 0, false
}

// slotKind says how a slot's value is held.
type slotKind uint8

const (
	slotAbsent  slotKind = iota
	slotBytes            // text (a JSON string or number, an EVTX string)
	slotUint             // an EVTX integer
	slotSeconds          // an EVTX FILETIME, as seconds since the Unix epoch
)

type slot struct {
	kind       slotKind
	start, end int32
	u          uint64
	f          float64
}

// Record is one record's fields of interest. Text values live in one
// arena, reused from record to record.
type Record struct {
	slots [numFields]slot
	arena []byte
	// IDKind is the JSON kind (jsonNull, jsonNested...) of an EventID
	// member that is neither a string nor a number, 0 otherwise: such a
	// record names an event ID but not a readable one.
	IDKind byte
}

// Reset empties r, keeping its arena.
func (r *Record) Reset() {
	r.slots = [numFields]slot{}
	r.arena = r.arena[:0]
	r.IDKind = 0
}

// SetJSON stores a scanned JSON value: strings and numbers as text;
// anything else leaves the field unknown (for EventID, noted in idKind).
func (r *Record) SetJSON(id FieldID, kind byte, val []byte) {
	if id == FieldEventID {
		r.IDKind = 0
	}
	switch kind {
	case jsonscan.String, jsonscan.Number:
		r.SetBytes(id, val)
	default:
		r.slots[id] = slot{}
		if id == FieldEventID {
			r.IDKind = kind
		}
	}
}

// SetBytes stores a text value (copied). A repeated field keeps the last
// value, as encoding/json does.
func (r *Record) SetBytes(id FieldID, v []byte) {
	if len(r.arena)+len(v) > math.MaxInt32 {
		return // cannot happen with capped lines; never corrupt offsets
	}
	start := len(r.arena)
	r.arena = append(r.arena, v...)
	r.slots[id] = slot{kind: slotBytes, start: int32(start), end: int32(len(r.arena))}
}

// SetString is setBytes for a string.
func (r *Record) SetString(id FieldID, v string) {
	if len(r.arena)+len(v) > math.MaxInt32 {
		return
	}
	start := len(r.arena)
	r.arena = append(r.arena, v...)
	r.slots[id] = slot{kind: slotBytes, start: int32(start), end: int32(len(r.arena))}
}

func (r *Record) SetUint(id FieldID, v uint64) { r.slots[id] = slot{kind: slotUint, u: v} }

func (r *Record) SetSeconds(id FieldID, v float64) {
	r.slots[id] = slot{kind: slotSeconds, f: v}
}

// Has reports whether the field is present.
func (r *Record) Has(id FieldID) bool { return r.slots[id].kind != slotAbsent }

// text returns a field's text exactly as written (white space is
// significant in paths and command lines); ok is false when it is absent.
// Numbers are rendered in decimal (text slots allocate nothing; numeric
// slots use the arena).
func (r *Record) text(id FieldID) ([]byte, bool) {
	s := &r.slots[id]
	switch s.kind {
	case slotBytes:
		return r.arena[s.start:s.end], true
	case slotUint:
		start := len(r.arena)
		r.arena = strconv.AppendUint(r.arena, s.u, 10)
		return r.arena[start:], true
	case slotSeconds:
		start := len(r.arena)
		r.arena = strconv.AppendFloat(r.arena, s.f, 'f', -1, 64)
		return r.arena[start:], true
	}
	return nil, false
}

// uint32Field returns a numeric field: a number, a decimal string or a hex
// string with a 0x prefix. present is false when the field is absent or
// empty; ok is false when it is present but not such a number.
func (r *Record) uint32Field(id FieldID) (v uint32, present, ok bool) {
	s := &r.slots[id]
	switch s.kind {
	case slotUint:
		if s.u > math.MaxUint32 {
			return 0, true, false
		}
		return uint32(s.u), true, true
	case slotBytes:
		b := bytes.TrimSpace(r.arena[s.start:s.end])
		if len(b) == 0 {
			return 0, false, true
		}
		v, ok := textparse.Uint32(b)
		return v, true, ok
	case slotSeconds:
		return 0, true, false
	}
	return 0, false, true
}

// eventID returns the EventID field: an integer, or decimal digits exactly
// (a JSON number may have a zero fraction), as forwarders write it.
func (r *Record) eventID() (uint32, bool) {
	s := &r.slots[FieldEventID]
	switch s.kind {
	case slotUint:
		return uint32(s.u), s.u <= math.MaxUint32
	case slotBytes:
		b := r.arena[s.start:s.end]
		if len(b) == 0 || b[0] < '0' || b[0] > '9' || (len(b) > 1 && (b[1] == 'x' || b[1] == 'X')) {
			return 0, false
		}
		return textparse.Uint32(b)
	}
	return 0, false
}

// timeField returns a time field as Unix ns UTC: an EVTX FILETIME, or text
// in "2006-01-02 15:04:05.999999999" form (a 'T' separator and a Z or
// numeric zone are accepted; no zone means UTC). present is false when the
// field is absent or empty; ok is false when it is present but unreadable.
func (r *Record) timeField(id FieldID) (ns int64, present, ok bool) {
	s := &r.slots[id]
	switch s.kind {
	case slotSeconds:
		return secondsToNs(s.f)
	case slotBytes:
		b := bytes.TrimSpace(r.arena[s.start:s.end])
		if len(b) == 0 {
			return 0, false, true
		}
		ns, _, ok := parseWinTime(b)
		return ns, true, ok
	case slotUint:
		return 0, true, false
	}
	return 0, false, true
}

// minTime and maxTime bound the times accepted (years 1900 to 2261,
// inside int64 Unix ns).
var (
	minTime = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	maxTime = time.Date(2261, 12, 31, 0, 0, 0, 0, time.UTC).UnixNano()
)

// secondsToNs converts the library's FILETIME rendering (float seconds
// since the Unix epoch) to Unix ns. The library computes that float from
// the 100 ns FILETIME with about 2 µs of error, so the result is rounded
// to the microsecond.
func secondsToNs(f float64) (ns int64, present, ok bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, true, false
	}
	us := math.Round(f * 1e6)
	if us < float64(minTime/1000) || us > float64(maxTime/1000) {
		return 0, true, false
	}
	return int64(us) * 1000, true, true
}

// parseWinTime is textparse.Time with the records' plausibility bound:
// a year before 1900 in a Windows log is damage, not a time.
func parseWinTime(b []byte) (ns int64, zoned, ok bool) {
	ns, zoned, ok = textparse.Time(b)
	if ok && (b[0] < '1' || b[0] == '1' && b[1] < '9') {
		return 0, false, false
	}
	return ns, zoned, ok
}

// FillJSON scans one JSON object (an NXLog line) into r. Only top-level
// members are kept; nested objects, arrays, booleans and null are ignored.
// The values of members not of interest (the long Message above all) are
// skipped without being unescaped, though still checked as JSON.
func (r *Record) FillJSON(sc *jsonscan.Scanner, line []byte) error {
	r.Reset()
	sc.Reset(line)
	for {
		key, ok, err := sc.NextKey()
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		id, known := LookupField(key)
		if !known {
			if err := sc.SkipValue(); err != nil {
				return err
			}
			continue
		}
		kind, val, err := sc.Value()
		if err != nil {
			return err
		}
		r.SetJSON(id, kind, val)
	}
}
