package etw

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/smsswatch/smsswatch/etw/jsonenc"
	"github.com/smsswatch/smsswatch/etw/textparse"
)

// TraceVersion is the version of the native trace format written by
// TraceWriter. Every line carries it as "v"; readers reject versions they
// do not know.
const TraceVersion = 1

// AppendJSON appends e as one native trace line (without the newline).
// Only known fields are written, so unknown stays distinguishable from
// zero or empty.
func (e *Event) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"v":`...)
	dst = strconv.AppendInt(dst, TraceVersion, 10)
	dst = append(dst, `,"time":`...)
	dst = jsonenc.AppendTime(dst, e.Time)
	dst = append(dst, `,"kind":"`...)
	dst = append(dst, e.Kind.String()...)
	dst = append(dst, `","source":"`...)
	dst = append(dst, e.Source.String()...)
	dst = append(dst, `","host":`...)
	dst = jsonenc.AppendString(dst, e.Host)
	k := e.Known
	str := func(dst []byte, f Field, name, v string) []byte {
		if k&f == 0 {
			return dst
		}
		dst = append(dst, ',', '"')
		dst = append(dst, name...)
		dst = append(dst, '"', ':')
		return jsonenc.AppendString(dst, v)
	}
	num := func(dst []byte, f Field, name string, v uint32) []byte {
		if k&f == 0 {
			return dst
		}
		dst = append(dst, ',', '"')
		dst = append(dst, name...)
		dst = append(dst, '"', ':')
		return strconv.AppendUint(dst, uint64(v), 10)
	}
	tm := func(dst []byte, f Field, name string, v int64) []byte {
		if k&f == 0 {
			return dst
		}
		dst = append(dst, ',', '"')
		dst = append(dst, name...)
		dst = append(dst, '"', ':')
		return jsonenc.AppendTime(dst, v)
	}
	switch e.Kind {
	case KindRegistry:
		r := &e.Reg
		dst = append(dst, `,"op":"`...)
		dst = append(dst, r.Op.String()...)
		dst = append(dst, `","reg_key":`...)
		dst = jsonenc.AppendString(dst, r.Key)
		dst = append(dst, `,"reg_value":`...)
		dst = jsonenc.AppendString(dst, r.Value)
		if r.Data != "" {
			dst = append(dst, `,"reg_data":`...)
			dst = jsonenc.AppendString(dst, r.Data)
		}
		if r.NewName != "" {
			dst = append(dst, `,"new_name":`...)
			dst = jsonenc.AppendString(dst, r.NewName)
		}
		dst = num(dst, FieldPID, "pid", r.PID)
		dst = str(dst, FieldImage, "image", r.Image)
	case KindBoot:
		dst = tm(dst, FieldBootTime, "boot_time", e.Boot.BootTime)
		if e.Boot.SystemRoot != "" {
			dst = append(dst, `,"system_root":`...)
			dst = jsonenc.AppendString(dst, e.Boot.SystemRoot)
		}
		if e.Boot.SystemDevice != "" {
			dst = append(dst, `,"system_device":`...)
			dst = jsonenc.AppendString(dst, e.Boot.SystemDevice)
		}
	default:
		p := &e.Proc
		dst = num(dst, FieldPID, "pid", p.PID)
		dst = num(dst, FieldParentPID, "ppid", p.ParentPID)
		dst = num(dst, FieldCreatorPID, "creator_pid", p.CreatorPID)
		dst = num(dst, FieldSession, "session", p.Session)
		dst = str(dst, FieldImage, "image", p.Image)
		dst = str(dst, FieldParentImage, "parent_image", p.ParentImage)
		dst = str(dst, FieldCommandLine, "cmdline", p.CommandLine)
		dst = str(dst, FieldUserSID, "user_sid", p.UserSID)
		dst = str(dst, FieldUserName, "user", p.UserName)
		dst = str(dst, FieldCreatorSID, "creator_sid", p.CreatorSID)
		dst = tm(dst, FieldCreateTime, "create_time", p.CreateTime)
		dst = tm(dst, FieldExitTime, "exit_time", p.ExitTime)
		dst = num(dst, FieldExitCode, "exit_code", p.ExitCode)
		dst = str(dst, FieldKey, "key", p.Key)
		dst = str(dst, FieldParentKey, "parent_key", p.ParentKey)
	}
	return append(dst, '}')
}

// TraceWriter writes events as native trace lines.
type TraceWriter struct {
	w   *bufio.Writer
	buf []byte
}

// NewTraceWriter returns a writer of native trace lines to w. Call Flush
// when done.
func NewTraceWriter(w io.Writer) *TraceWriter {
	return &TraceWriter{w: bufio.NewWriterSize(w, 64<<10), buf: make([]byte, 0, 1024)}
}

// Write writes one event as a line.
func (t *TraceWriter) Write(ev *Event) error {
	t.buf = ev.AppendJSON(t.buf[:0])
	t.buf = append(t.buf, '\n')
	if _, err := t.w.Write(t.buf); err != nil {
		return fmt.Errorf("write trace: %w", err)
	}
	return nil
}

// Flush writes buffered lines to the underlying writer.
func (t *TraceWriter) Flush() error {
	if err := t.w.Flush(); err != nil {
		return fmt.Errorf("flush trace: %w", err)
	}
	return nil
}

// TraceReader reads native trace lines. It implements Reader.
type TraceReader struct {
	lines textparse.LineReader
	file  string
	skip  Skipper
	line  int64
	sc    jsonScanner
	// interned keeps the last few host names so that a trace of one host
	// does not allocate its name on every line.
	lastHost string
}

var _ Reader = (*TraceReader)(nil)

// NewTraceReader returns a Reader of the native trace format from r; file
// names the input in skip reports. Blank lines and lines starting with '#'
// are comments.
func NewTraceReader(r io.Reader, file string, skip Skipper) *TraceReader {
	if skip == nil {
		skip = SkipFunc(func(string, int64, string) {})
	}
	return &TraceReader{lines: textparse.NewLineReader(bufio.NewReaderSize(r, 256<<10), textparse.MaxLine), file: file, skip: skip}
}

// Next implements Reader.
func (t *TraceReader) Next(ev *Event) error {
	for {
		line, err := t.lines.Next()
		if err == io.EOF {
			return io.EOF
		}
		t.line = t.lines.Lines()
		if errors.Is(err, textparse.ErrLineTooLong) {
			t.skip.Skip(t.file, t.line, fmt.Sprintf("line longer than %d bytes", textparse.MaxLine))
			continue
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", t.file, err)
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		if reason := t.decode(line, ev); reason != "" {
			t.skip.Skip(t.file, t.line, reason)
			continue
		}
		return nil
	}
}

// DecodeTraceLine decodes one native trace line into ev. It returns a short
// reason when the line is not a valid event.
func DecodeTraceLine(line []byte, ev *Event) (reason string) {
	var t TraceReader
	return t.decode(line, ev)
}

func (t *TraceReader) decode(line []byte, ev *Event) string {
	ev.Reset()
	sc := &t.sc
	sc.reset(line)
	version := -1
	hasTime := false
	for {
		key, kind, val, ok, err := sc.next()
		if err != nil {
			return "malformed JSON: " + err.Error()
		}
		if !ok {
			break
		}
		if kind == jsonNull {
			continue
		}
		switch string(key) {
		case "v":
			n, ok := textparse.Uint32(val)
			if kind != jsonNumber || !ok {
				return "bad \"v\""
			}
			version = int(n)
		case "time":
			ts, ok := parseTraceTime(val)
			if kind != jsonString || !ok {
				return "bad \"time\""
			}
			ev.Time, hasTime = ts, true
		case "kind":
			k, ok := ParseKind(string(val))
			if !ok {
				return "unknown \"kind\""
			}
			ev.Kind = k
		case "source":
			s, ok := ParseSource(string(val))
			if !ok {
				return "unknown \"source\""
			}
			ev.Source = s
		case "host":
			if string(val) != t.lastHost {
				t.lastHost = string(val)
			}
			ev.Host = t.lastHost
		case "op":
			op, ok := ParseRegOp(string(val))
			if !ok {
				return "unknown registry \"op\""
			}
			ev.Reg.Op = op
		case "reg_key":
			ev.Reg.Key = string(val)
		case "reg_value":
			ev.Reg.Value = string(val)
		case "reg_data":
			ev.Reg.Data = string(val)
		case "new_name":
			ev.Reg.NewName = string(val)
		case "system_root":
			ev.Boot.SystemRoot = string(val)
		case "system_device":
			ev.Boot.SystemDevice = string(val)
		case "boot_time":
			if !t.timeField(ev, FieldBootTime, &ev.Boot.BootTime, kind, val) {
				return "bad \"boot_time\""
			}
		case "create_time":
			if !t.timeField(ev, FieldCreateTime, &ev.Proc.CreateTime, kind, val) {
				return "bad \"create_time\""
			}
		case "exit_time":
			if !t.timeField(ev, FieldExitTime, &ev.Proc.ExitTime, kind, val) {
				return "bad \"exit_time\""
			}
		case "pid":
			if !numField(ev, FieldPID, &ev.Proc.PID, kind, val) {
				return "bad \"pid\""
			}
		case "ppid":
			if !numField(ev, FieldParentPID, &ev.Proc.ParentPID, kind, val) {
				return "bad \"ppid\""
			}
		case "creator_pid":
			if !numField(ev, FieldCreatorPID, &ev.Proc.CreatorPID, kind, val) {
				return "bad \"creator_pid\""
			}
		case "session":
			if !numField(ev, FieldSession, &ev.Proc.Session, kind, val) {
				return "bad \"session\""
			}
		case "exit_code":
			if !numField(ev, FieldExitCode, &ev.Proc.ExitCode, kind, val) {
				return "bad \"exit_code\""
			}
		case "image":
			ev.Proc.Image = strField(ev, FieldImage, val)
		case "parent_image":
			ev.Proc.ParentImage = strField(ev, FieldParentImage, val)
		case "cmdline":
			ev.Proc.CommandLine = strField(ev, FieldCommandLine, val)
		case "user_sid":
			ev.Proc.UserSID = strField(ev, FieldUserSID, val)
		case "user":
			ev.Proc.UserName = strField(ev, FieldUserName, val)
		case "creator_sid":
			ev.Proc.CreatorSID = strField(ev, FieldCreatorSID, val)
		case "key":
			ev.Proc.Key = strField(ev, FieldKey, val)
		case "parent_key":
			ev.Proc.ParentKey = strField(ev, FieldParentKey, val)
		}
	}
	switch {
	case version < 0:
		return "no \"v\" (not a native trace line)"
	case version != TraceVersion:
		return fmt.Sprintf("trace version %d not supported (want %d)", version, TraceVersion)
	case !hasTime:
		return "no \"time\""
	case ev.Kind == KindUnknown:
		return "no \"kind\""
	case ev.Source == SourceUnknown:
		return "no \"source\""
	}
	if ev.Kind == KindRegistry {
		// The writer fields share names with process fields.
		ev.Reg.PID, ev.Reg.Image = ev.Proc.PID, ev.Proc.Image
		ev.Proc = Process{}
		if ev.Reg.Op == RegOpUnknown {
			return "registry event without \"op\""
		}
	}
	return ""
}

func strField(ev *Event, f Field, val []byte) string {
	ev.Known |= f
	return string(val)
}

func numField(ev *Event, f Field, into *uint32, kind byte, val []byte) bool {
	n, ok := textparse.Uint32(val)
	if !ok || (kind != jsonNumber && kind != jsonString) {
		return false
	}
	*into = n
	ev.Known |= f
	return true
}

func (t *TraceReader) timeField(ev *Event, f Field, into *int64, kind byte, val []byte) bool {
	ts, ok := parseTraceTime(val)
	if !ok || kind != jsonString {
		return false
	}
	*into = ts
	ev.Known |= f
	return true
}

// parseTraceTime parses a trace time: an RFC 3339 timestamp with a zone
// (textparse.Time; a time without a zone is refused).
func parseTraceTime(b []byte) (int64, bool) {
	ns, zoned, ok := textparse.Time(b)
	return ns, ok && zoned
}
