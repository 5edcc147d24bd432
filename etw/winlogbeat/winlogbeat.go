package winlogbeat

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/smsswatch/smsswatch/etw"
	"github.com/smsswatch/smsswatch/etw/winlog"

	"github.com/smsswatch/smsswatch/etw/jsonscan"

	"github.com/smsswatch/smsswatch/etw/textparse"
)

// Reader reads JSON lines as Winlogbeat and Elastic Agent write
// Windows event log records (ECS documents, one a line, as shipped to a
// file or exported from Elasticsearch). It implements Reader.
//
// A record is mapped by the same rules as NXLog and EVTX records, from:
//
//	winlog.channel, winlog.event_id (number or string; else event.code),
//	winlog.provider_name (else event.provider),
//	winlog.computer_name (the machine that logged the event; else
//	host.name, which under Windows Event Forwarding is the collector),
//	winlog.event_data.* (Sysmon and Security fields by their own names),
//	winlog.time_created, else @timestamp: the record's own time (UTC).
//
// Sysmon events are timed by UtcTime as everywhere; event.created (when
// the shipper read the record) is never used. Members may be nested
// objects or flattened dotted names ("winlog.event_data.ProcessId"), or
// a mix. winlog.user and winlog.process (the provider's own account and
// process) are not the event's process and are ignored.
type Reader struct {
	lines textparse.LineReader
	file  string
	skip  etw.Skipper
	sc    [3]jsonscan.Scanner // one per object level read: document, winlog, event_data
	rec   winlog.Record
	m     winlog.Mapper
	err   error
	// Fallbacks, used when the winlog member is absent.
	code, provider, hostName, hostname, timestamp []byte
	has                                           uint8
}

var _ etw.Reader = (*Reader)(nil)

// Bits of Reader.has.
const (
	wlbCode = 1 << iota
	wlbProvider
	wlbHostName
	wlbHostname
	wlbTimestamp
)

// NewReader returns a Reader of Winlogbeat / Elastic Agent JSON
// lines from r; file names the input in skip reports.
func NewReader(r io.Reader, file string, skip etw.Skipper) *Reader {
	if skip == nil {
		skip = etw.SkipFunc(func(string, int64, string) {})
	}
	return &Reader{lines: textparse.Open(r), file: file, skip: skip}
}

// Stats returns the reader's counters so far.
func (w *Reader) Stats() etw.ReadStats {
	s := w.m.Stats
	s.Records = w.lines.Lines()
	return s
}

// Next implements Reader. Damaged data (a corrupt or truncated gzip
// stream) ends the input: it is reported to the Skipper and counted, and
// Next returns io.EOF; other read errors are returned.
func (w *Reader) Next(ev *etw.Event) error {
	if w.err != nil {
		return w.err
	}
	for {
		line, err := w.lines.Next()
		if err != nil {
			if errors.Is(err, textparse.ErrLineTooLong) {
				w.report(w.lines.Lines(), fmt.Sprintf("line longer than %d bytes", textparse.MaxLine))
				continue
			}
			w.err = w.endErr(err)
			return w.err
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if line[0] != '{' || line[len(line)-1] != '}' {
			w.report(w.lines.Lines(), "not a JSON object")
			continue
		}
		if err := w.fill(line); err != nil {
			w.report(w.lines.Lines(), "invalid JSON: "+err.Error())
			continue
		}
		emit, reason := w.m.Map(&w.rec, ev)
		if reason != "" {
			w.report(w.lines.Lines(), reason)
			continue
		}
		if emit {
			w.m.Stats.Events++
			return nil
		}
	}
}

func (w *Reader) report(line int64, reason string) {
	w.m.Stats.Skipped++
	w.skip.Skip(w.file, line, reason)
}

func (w *Reader) endErr(err error) error {
	if err == io.EOF {
		return io.EOF
	}
	if etw.IsDamage(err) {
		w.m.Stats.Damaged++
		w.report(w.lines.Lines()+1, "input ends in damaged data: "+err.Error())
		return io.EOF
	}
	return fmt.Errorf("read %s after line %d: %w", w.file, w.lines.Lines(), err)
}

// wlbCtx is the object a member belongs to.
type wlbCtx uint8

const (
	wlbTop wlbCtx = iota
	wlbWinlog
	wlbEventData
	wlbEvent
	wlbHost
	wlbIgnore
)

// fill scans one document into w.rec.
func (w *Reader) fill(line []byte) error {
	w.rec.Reset()
	w.has = 0
	w.sc[0].Reset(line)
	if err := w.walk(0, wlbTop); err != nil {
		return err
	}
	r := &w.rec
	if !r.Has(winlog.FieldEventID) && r.IDKind == 0 && w.has&wlbCode != 0 {
		r.SetBytes(winlog.FieldEventID, w.code)
	}
	if !r.Has(winlog.FieldProvider) && w.has&wlbProvider != 0 {
		r.SetBytes(winlog.FieldProvider, w.provider)
	}
	if !r.Has(winlog.FieldHost) {
		switch {
		case w.has&wlbHostName != 0:
			r.SetBytes(winlog.FieldHost, w.hostName)
		case w.has&wlbHostname != 0:
			r.SetBytes(winlog.FieldHost, w.hostname)
		}
	}
	// @timestamp is the record's own time (TimeCreated) in Beats
	// documents, unlike NXLog's receive time.
	if !r.Has(winlog.FieldTimeCreated) && w.has&wlbTimestamp != 0 {
		r.SetBytes(winlog.FieldTimeCreated, w.timestamp)
	}
	return nil
}

// walk reads the members of the object w.sc[depth] is at, in context ctx.
func (w *Reader) walk(depth int, ctx wlbCtx) error {
	sc := &w.sc[depth]
	for {
		key, ok, err := sc.NextKey()
		if err != nil || !ok {
			return err
		}
		c, name := resolveWlb(ctx, key)
		if sub := wlbChild(c, name); sub != wlbIgnore && sc.Peek() == '{' && depth+1 < len(w.sc) {
			inner := &w.sc[depth+1]
			sc.Enter(inner)
			if err := w.walk(depth+1, sub); err != nil {
				return err
			}
			sc.Leave(inner)
			continue
		}
		if !w.wanted(c, name) {
			if err := sc.SkipValue(); err != nil {
				return err
			}
			continue
		}
		kind, val, err := sc.Value()
		if err != nil {
			return err
		}
		w.set(c, name, kind, val)
	}
}

// resolveWlb follows the dots of a flattened member name
// ("winlog.event_data.Image") from ctx to the object it belongs to. Event
// data names are taken whole.
func resolveWlb(ctx wlbCtx, key []byte) (wlbCtx, []byte) {
	for ctx != wlbEventData && ctx != wlbIgnore {
		i := bytes.IndexByte(key, '.')
		if i < 0 {
			break
		}
		next := wlbChild(ctx, key[:i])
		if next == wlbIgnore {
			break
		}
		ctx, key = next, key[i+1:]
	}
	return ctx, key
}

// wlbChild is the context of the object member name of ctx, or wlbIgnore
// for objects not read.
func wlbChild(ctx wlbCtx, name []byte) wlbCtx {
	switch ctx {
	case wlbTop:
		switch string(name) {
		case "winlog":
			return wlbWinlog
		case "event":
			return wlbEvent
		case "host":
			return wlbHost
		}
	case wlbWinlog:
		if string(name) == "event_data" {
			return wlbEventData
		}
	}
	return wlbIgnore
}

// wanted reports whether member name of ctx is read.
func (w *Reader) wanted(ctx wlbCtx, name []byte) bool {
	switch ctx {
	case wlbTop:
		return string(name) == "@timestamp"
	case wlbWinlog:
		switch string(name) {
		case "channel", "event_id", "computer_name", "provider_name", "time_created":
			return true
		}
	case wlbEvent:
		return string(name) == "code" || string(name) == "provider"
	case wlbHost:
		return string(name) == "name" || string(name) == "hostname"
	case wlbEventData:
		id, ok := winlog.LookupField(name)
		return ok && isDataField(id)
	}
	return false
}

// isDataField reports whether a slot is filled from a record's event data
// (the record header's slots come from the header only).
func isDataField(id winlog.FieldID) bool {
	return id >= winlog.FieldUtcTime
}

// set stores one member value read.
func (w *Reader) set(ctx wlbCtx, name []byte, kind byte, val []byte) {
	r := &w.rec
	scalar := kind == jsonscan.String || kind == jsonscan.Number
	keep := func(dst *[]byte, bit uint8) {
		if scalar {
			*dst = append((*dst)[:0], val...)
			w.has |= bit
		} else {
			w.has &^= bit
		}
	}
	switch ctx {
	case wlbTop:
		keep(&w.timestamp, wlbTimestamp)
	case wlbWinlog:
		switch string(name) {
		case "channel":
			r.SetJSON(winlog.FieldChannel, kind, val)
		case "event_id":
			r.SetJSON(winlog.FieldEventID, kind, val)
		case "computer_name":
			r.SetJSON(winlog.FieldHost, kind, val)
		case "provider_name":
			r.SetJSON(winlog.FieldProvider, kind, val)
		case "time_created":
			r.SetJSON(winlog.FieldTimeCreated, kind, val)
		}
	case wlbEvent:
		if string(name) == "code" {
			keep(&w.code, wlbCode)
		} else {
			keep(&w.provider, wlbProvider)
		}
	case wlbHost:
		if string(name) == "name" {
			keep(&w.hostName, wlbHostName)
		} else {
			keep(&w.hostname, wlbHostname)
		}
	case wlbEventData:
		if id, ok := winlog.LookupField(name); ok {
			r.SetJSON(id, kind, val)
		}
	}
}
