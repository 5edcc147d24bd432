package etw

import (
	"errors"
	"strconv"
	"time"
	"unicode/utf8"
)

// Microsoft-Windows-Kernel-Process, the provider the live sensor enables.
const (
	// KernelProcessProvider is the provider GUID.
	KernelProcessProvider = "{22FB2CD6-0E7B-422B-A0C7-2FAD1FD0E716}"
	// KernelProcessKeywordProcess is WINEVENT_KEYWORD_PROCESS: process
	// start, stop and rundown events only.
	KernelProcessKeywordProcess uint64 = 0x10
)

// Kernel-Process event IDs the live sensor decodes. Every other ID is
// dropped on the event header alone, before TDH parses the properties.
const (
	// EventProcessStart is ProcessStart (manifest versions 0 to 5).
	EventProcessStart uint16 = 1
	// EventProcessStop is ProcessStop (versions 0 to 2).
	EventProcessStop uint16 = 2
	// EventProcessRundown is ProcessRundown (versions 0 and 1), written
	// for every running process when a consumer asks for capture state.
	EventProcessRundown uint16 = 15
)

// WantKernelProcessEvent reports whether the live sensor decodes events
// with this ID. The ETW callback calls it on the header before asking for
// the (expensive) TDH property map.
func WantKernelProcessEvent(id uint16) bool {
	return id == EventProcessStart || id == EventProcessStop || id == EventProcessRundown
}

// TDHHeader is what DecodeKernelProcess needs from an ETW event record
// besides its TDH property map: the EVENT_HEADER fields and the extended
// data items the session enables (EVENT_ENABLE_PROPERTY_SID and _TS_ID).
type TDHHeader struct {
	// EventID is EVENT_DESCRIPTOR.Id.
	EventID uint16
	// Version is EVENT_DESCRIPTOR.Version (the manifest template version).
	Version uint8
	// ProcessID is EVENT_HEADER.ProcessId: for ProcessStart, the process
	// whose thread created the new process (the real creator).
	ProcessID uint32
	// TimeStamp is EVENT_HEADER.TimeStamp, Unix ns UTC.
	TimeStamp int64
	// UserSID is the EVENT_HEADER_EXT_TYPE_SID item in S-1-... form: the
	// user of the thread that wrote the event (for ProcessStart, the
	// creator's user). Empty when the record has no such item.
	UserSID string
	// TerminalSession is the EVENT_HEADER_EXT_TYPE_TS_ID item: the
	// terminal session of the writing thread (HasTerminalSession says
	// whether the record carries it). The event model has no field for the
	// creator's session, so it is decoded but not mapped.
	TerminalSession    uint32
	HasTerminalSession bool
}

// ErrTDHRecord is wrapped by every error DecodeKernelProcess returns.
var ErrTDHRecord = errors.New("kernel-process record")

// The decoder's errors are made once: the ETW callback counts them and
// must not allocate.
var (
	errTDHEventID = tdhError("event ID is not ProcessStart, ProcessStop or ProcessRundown")
	errTDHNoPID   = tdhError("no ProcessID property")
	errTDHBadPID  = tdhError("ProcessID is not a number")
)

func tdhError(msg string) error { return &tdhErr{msg} }

type tdhErr struct{ msg string }

// Error returns "kernel-process record: " and the reason.
func (e *tdhErr) Error() string { return ErrTDHRecord.Error() + ": " + e.msg }

// Unwrap returns ErrTDHRecord.
func (e *tdhErr) Unwrap() error { return ErrTDHRecord }

// DecodeKernelProcess fills ev (after resetting it) from one
// Microsoft-Windows-Kernel-Process event: h is the record's header and
// props its TDH property map as github.com/bi-zone/etw's
// Event.EventProperties returns it (property name to the value
// TdhFormatProperty rendered, a string; arrays and structs, which these
// events do not have, are ignored).
//
// Properties are looked up by name, so every manifest version decodes the
// same way: ProcessStart v0-v5, ProcessStop v0-v2 and ProcessRundown v0-v1
// differ only in which names are present. A property that is missing or
// that does not parse leaves its field unknown (Event.Known); only a
// missing or broken ProcessID, or an event ID that is not 1, 2 or 15, is an
// error.
//
// Mapping: ProcessID -> Proc.PID, ParentProcessID -> ParentPID, SessionID ->
// Session, ImageName -> Image (start and rundown only: the stop event's
// ImageName is the 15-character kernel short name, not a path),
// CreateTime, ExitTime, ExitCode, ProcessSequenceNumber -> Key and
// ParentProcessSequenceNumber -> ParentKey (decimal; 0 means none). For
// ProcessStart only, the header PID is CreatorPID and the SID extended item
// CreatorSID. An exit without a readable ExitTime takes the header time
// (the stop event is written as the process ends).
//
// It does not allocate unless a number is rendered in hex where the event
// model wants decimal (a sequence number).
func DecodeKernelProcess(h *TDHHeader, props map[string]interface{}, host string, ev *Event) error {
	ev.Reset()
	switch h.EventID {
	case EventProcessStart:
		ev.Kind = KindStart
	case EventProcessStop:
		ev.Kind = KindExit
	case EventProcessRundown:
		ev.Kind = KindRunning
	default:
		return errTDHEventID
	}
	ev.Time = h.TimeStamp
	ev.Source = SourceETW
	ev.Host = host
	p := &ev.Proc

	s, ok := prop(props, "ProcessID")
	if !ok {
		return errTDHNoPID
	}
	pid, ok := parseTDHUint32(s)
	if !ok {
		return errTDHBadPID
	}
	p.PID = pid
	ev.Known |= FieldPID

	if s, ok := prop(props, "CreateTime"); ok {
		if t, ok := ParseTDHTime(s); ok {
			p.CreateTime = t
			ev.Known |= FieldCreateTime
		}
	}
	if s, ok := prop(props, "ProcessSequenceNumber"); ok {
		if k, ok := tdhKey(s); ok {
			p.Key = k
			ev.Known |= FieldKey
		}
	}

	if ev.Kind == KindExit {
		if s, ok := prop(props, "ExitCode"); ok {
			if c, ok := parseTDHUint32(s); ok {
				p.ExitCode = c
				ev.Known |= FieldExitCode
			}
		}
		p.ExitTime = h.TimeStamp
		if s, ok := prop(props, "ExitTime"); ok {
			if t, ok := ParseTDHTime(s); ok {
				p.ExitTime = t
			}
		}
		if p.ExitTime != 0 {
			ev.Known |= FieldExitTime
		}
		return nil
	}

	if s, ok := prop(props, "ParentProcessID"); ok {
		if v, ok := parseTDHUint32(s); ok {
			p.ParentPID = v
			ev.Known |= FieldParentPID
		}
	}
	if s, ok := prop(props, "ParentProcessSequenceNumber"); ok {
		if k, ok := tdhKey(s); ok {
			p.ParentKey = k
			ev.Known |= FieldParentKey
		}
	}
	if s, ok := prop(props, "SessionID"); ok {
		if v, ok := parseTDHUint32(s); ok {
			p.Session = v
			ev.Known |= FieldSession
		}
	}
	if s, ok := prop(props, "ImageName"); ok {
		if s = trimTDH(s); s != "" {
			p.Image = s
			ev.Known |= FieldImage
		}
	}
	if ev.Kind == KindStart {
		p.CreatorPID = h.ProcessID
		ev.Known |= FieldCreatorPID
		if h.UserSID != "" {
			p.CreatorSID = h.UserSID
			ev.Known |= FieldCreatorSID
		}
	}
	return nil
}

// prop returns the string value of property name.
func prop(props map[string]interface{}, name string) (string, bool) {
	v, ok := props[name]
	if !ok {
		return "", false
	}
	s, ok := v.(string)
	return s, ok
}

// tdhKey renders a sequence number as the event model's decimal key; 0
// (not available) is no key.
func tdhKey(s string) (string, bool) {
	v, ok := parseTDHUint(s)
	if !ok || v == 0 {
		return "", false
	}
	t := trimTDH(s)
	if len(t) > 0 && t[0] != '0' && isDigits(t) {
		return t, true // already decimal: no allocation
	}
	return strconv.FormatUint(v, 10), true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isTDHMark reports whether r is a character TDH or the locale may wrap
// around numbers and dates that is not part of the value: spaces and
// Unicode direction marks (Event Viewer's notorious U+200E).
func isTDHMark(r rune) bool {
	switch r {
	case ' ', '\t', '\r', '\n', 0xa0, 0x200e, 0x200f, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e,
		0x2066, 0x2067, 0x2068, 0x2069, 0xfeff:
		return true
	}
	return false
}

// trimTDH trims isTDHMark characters (and NULs, which a counted string may
// carry) from both ends of s.
func trimTDH(s string) string {
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		if r != 0 && !isTDHMark(r) {
			break
		}
		s = s[n:]
	}
	for len(s) > 0 {
		r, n := utf8.DecodeLastRuneInString(s)
		if r != 0 && !isTDHMark(r) {
			break
		}
		s = s[:len(s)-n]
	}
	return s
}

// parseTDHUint parses an unsigned number as TdhFormatProperty renders one:
// decimal ("4242", " 4242"), or hexadecimal with 0x ("0x1092", used for
// HexInt outtypes such as ImageChecksum and for NTSTATUS exit codes).
func parseTDHUint(s string) (uint64, bool) {
	s = trimTDH(s)
	base := uint64(10)
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		base, s = 16, s[2:]
	}
	if s == "" || len(s) > 20 {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		var d uint64
		switch {
		case c >= '0' && c <= '9':
			d = uint64(c - '0')
		case base == 16 && c >= 'a' && c <= 'f':
			d = uint64(c-'a') + 10
		case base == 16 && c >= 'A' && c <= 'F':
			d = uint64(c-'A') + 10
		default:
			return 0, false
		}
		if v > (^uint64(0)-d)/base {
			return 0, false
		}
		v = v*base + d
	}
	return v, true
}

func parseTDHUint32(s string) (uint32, bool) {
	v, ok := parseTDHUint(s)
	if !ok || v > 0xffffffff {
		return 0, false
	}
	return uint32(v), true
}

// filetimeEpochDelta is the number of 100 ns intervals between 1601-01-01
// (the FILETIME epoch) and 1970-01-01.
const filetimeEpochDelta = 116444736000000000

// FiletimeToUnixNano converts a FILETIME (100 ns intervals since 1601,
// UTC) to Unix nanoseconds. Zero, and times before 1970 or after 2262, are
// not a time (ok false).
func FiletimeToUnixNano(ft uint64) (int64, bool) {
	if ft <= filetimeEpochDelta {
		return 0, false
	}
	d := ft - filetimeEpochDelta
	if d > uint64(1<<63-1)/100 {
		return 0, false
	}
	return int64(d) * 100, true
}

// ParseTDHTime parses a FILETIME or SYSTEMTIME property as
// TdhFormatProperty renders it (github.com/bi-zone/etw returns that string
// as is): an ISO 8601 UTC time with up to 9 fractional digits,
// "2026-03-16T00:21:34.692334100Z". It also accepts what other renderings
// produce: Unicode direction marks anywhere (U+200E), a space instead of
// the T, no fraction, no zone (UTC) or a +hh:mm / -hh:mm offset, and a
// plain decimal FILETIME. It returns Unix nanoseconds; ok is false for
// anything else, for the zero FILETIME (rendered 1601-01-01) and for years
// outside 1970-2261.
func ParseTDHTime(s string) (int64, bool) {
	s = trimTDH(s)
	if s == "" {
		return 0, false
	}
	// A bare FILETIME number.
	if v, ok := parseTDHUint(s); ok {
		return FiletimeToUnixNano(v)
	}
	sc := timeScanner{s: s}
	year, ok := sc.num(4)
	if !ok || !sc.sep('-') {
		return 0, false
	}
	month, ok := sc.num(2)
	if !ok || !sc.sep('-') {
		return 0, false
	}
	day, ok := sc.num(2)
	if !ok {
		return 0, false
	}
	if !sc.sep('T') && !sc.sep('t') && !sc.sep(' ') {
		return 0, false
	}
	hour, ok := sc.num(2)
	if !ok || !sc.sep(':') {
		return 0, false
	}
	minute, ok := sc.num(2)
	if !ok || !sc.sep(':') {
		return 0, false
	}
	sec, ok := sc.num(2)
	if !ok {
		return 0, false
	}
	nsec := 0
	if sc.sep('.') || sc.sep(',') {
		digits := 0
		for {
			c, ok := sc.peekDigit()
			if !ok {
				break
			}
			sc.i++
			if digits < 9 {
				nsec = nsec*10 + c
			}
			digits++
		}
		if digits == 0 {
			return 0, false
		}
		for d := digits; d < 9; d++ {
			nsec *= 10
		}
	}
	offset := 0
	sc.sep(' ')
	sc.skipDirMarks()
	if sc.i < len(sc.s) {
		switch c := sc.s[sc.i]; c {
		case 'Z', 'z':
			sc.i++
		case '+', '-':
			sc.i++
			oh, ok := sc.num(2)
			if !ok {
				return 0, false
			}
			sc.sep(':')
			om, ok := sc.num(2)
			if !ok || oh > 23 || om > 59 {
				return 0, false
			}
			offset = (oh*60 + om) * 60
			if c == '-' {
				offset = -offset
			}
		default:
			return 0, false
		}
	}
	sc.skipDirMarks()
	if sc.i != len(sc.s) {
		return 0, false
	}
	if year < 1970 || year > 2261 || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 60 {
		return 0, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	return t.UnixNano() - int64(offset)*int64(time.Second), true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// timeScanner reads ASCII digits and separators, passing over the marks
// (isTDHMark) that a locale-aware renderer puts between them.
type timeScanner struct {
	s string
	i int
}

func (sc *timeScanner) peekDigit() (int, bool) {
	sc.skipDirMarks()
	if sc.i < len(sc.s) && sc.s[sc.i] >= '0' && sc.s[sc.i] <= '9' {
		return int(sc.s[sc.i] - '0'), true
	}
	return 0, false
}

// skipDirMarks skips direction marks only (not spaces).
func (sc *timeScanner) skipDirMarks() {
	for sc.i < len(sc.s) {
		r, n := utf8.DecodeRuneInString(sc.s[sc.i:])
		if r < 0x80 || !isTDHMark(r) {
			return
		}
		sc.i += n
	}
}

// num reads exactly n digits.
func (sc *timeScanner) num(n int) (int, bool) {
	v := 0
	for k := 0; k < n; k++ {
		d, ok := sc.peekDigit()
		if !ok {
			return 0, false
		}
		sc.i++
		v = v*10 + d
	}
	return v, true
}

// sep consumes separator c (after any direction marks) if it is next.
func (sc *timeScanner) sep(c byte) bool {
	sc.skipDirMarks()
	if sc.i < len(sc.s) && sc.s[sc.i] == c {
		sc.i++
		return true
	}
	return false
}
