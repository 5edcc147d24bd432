package trace

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/smsswatch/smsswatch/etw"

	"github.com/smsswatch/smsswatch/etw/jsonscan"

	"github.com/smsswatch/smsswatch/etw/jsonenc"
	"github.com/smsswatch/smsswatch/etw/textparse"
)

// Version is the version of the native trace format written by
// Writer. Every line carries it as "v"; readers reject versions they
// do not know.
const Version = 1

// appendEvent appends e as one native trace line (without the newline).
// Only known fields are written, so unknown stays distinguishable from
// zero or empty.
func appendEvent(dst []byte, e *etw.Event) []byte {
	dst = append(dst, `{"v":`...)
	dst = strconv.AppendInt(dst, Version, 10)
	dst = append(dst, `,"time":`...)
	dst = jsonenc.AppendTime(dst, e.Time)
	dst = append(dst, `,"kind":"`...)
	dst = append(dst, e.Kind.String()...)
	dst = append(dst, `","source":"`...)
	dst = append(dst, e.Source.String()...)
	dst = append(dst, `","host":`...)
	dst = jsonenc.AppendString(dst, e.Host)
	k := e.Known
	str := func(dst []byte, f etw.Field, name, v string) []byte {
		if k&f == 0 {
			return dst
		}
		dst = append(dst, ',', '"')
		dst = append(dst, name...)
		dst = append(dst, '"', ':')
		return jsonenc.AppendString(dst, v)
	}
	num := func(dst []byte, f etw.Field, name string, v uint32) []byte {
		if k&f == 0 {
			return dst
		}
		dst = append(dst, ',', '"')
		dst = append(dst, name...)
		dst = append(dst, '"', ':')
		return strconv.AppendUint(dst, uint64(v), 10)
	}
	tm := func(dst []byte, f etw.Field, name string, v int64) []byte {
		if k&f == 0 {
			return dst
		}
		dst = append(dst, ',', '"')
		dst = append(dst, name...)
		dst = append(dst, '"', ':')
		return jsonenc.AppendTime(dst, v)
	}
	switch e.Kind {
	case etw.KindRegistry:
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
		dst = num(dst, etw.FieldPID, "pid", r.PID)
		dst = str(dst, etw.FieldImage, "image", r.Image)
	case etw.KindBoot:
		dst = tm(dst, etw.FieldBootTime, "boot_time", e.Boot.BootTime)
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
		dst = num(dst, etw.FieldPID, "pid", p.PID)
		dst = num(dst, etw.FieldParentPID, "ppid", p.ParentPID)
		dst = num(dst, etw.FieldCreatorPID, "creator_pid", p.CreatorPID)
		dst = num(dst, etw.FieldSession, "session", p.Session)
		dst = str(dst, etw.FieldImage, "image", p.Image)
		dst = str(dst, etw.FieldParentImage, "parent_image", p.ParentImage)
		dst = str(dst, etw.FieldCommandLine, "cmdline", p.CommandLine)
		dst = str(dst, etw.FieldUserSID, "user_sid", p.UserSID)
		dst = str(dst, etw.FieldUserName, "user", p.UserName)
		dst = str(dst, etw.FieldCreatorSID, "creator_sid", p.CreatorSID)
		dst = tm(dst, etw.FieldCreateTime, "create_time", p.CreateTime)
		dst = tm(dst, etw.FieldExitTime, "exit_time", p.ExitTime)
		dst = num(dst, etw.FieldExitCode, "exit_code", p.ExitCode)
		dst = str(dst, etw.FieldKey, "key", p.Key)
		dst = str(dst, etw.FieldParentKey, "parent_key", p.ParentKey)
	}
	return append(dst, '}')
}

// Writer writes events as native trace lines.
type Writer struct {
	w   *bufio.Writer
	buf []byte
}

// NewWriter returns a writer of native trace lines to w. Call Flush
// when done.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: bufio.NewWriterSize(w, 64<<10), buf: make([]byte, 0, 1024)}
}

// Write writes one event as a line.
func (t *Writer) Write(ev *etw.Event) error {
	t.buf = appendEvent(t.buf[:0], ev)
	t.buf = append(t.buf, '\n')
	if _, err := t.w.Write(t.buf); err != nil {
		return fmt.Errorf("write trace: %w", err)
	}
	return nil
}

// Flush writes buffered lines to the underlying writer.
func (t *Writer) Flush() error {
	if err := t.w.Flush(); err != nil {
		return fmt.Errorf("flush trace: %w", err)
	}
	return nil
}

// Reader reads native trace lines. It implements Reader.
type Reader struct {
	lines textparse.LineReader
	file  string
	skip  etw.Skipper
	line  int64
	sc    jsonscan.Scanner
	// interned keeps the last few host names so that a trace of one host
	// does not allocate its name on every line.
	lastHost string
}

var _ etw.Reader = (*Reader)(nil)

// NewReader returns a Reader of the native trace format from r; file
// names the input in skip reports. Blank lines and lines starting with '#'
// are comments.
func NewReader(r io.Reader, file string, skip etw.Skipper) *Reader {
	if skip == nil {
		skip = etw.SkipFunc(func(string, int64, string) {})
	}
	return &Reader{lines: textparse.Open(r), file: file, skip: skip}
}

// Next implements Reader.
func (t *Reader) Next(ev *etw.Event) error {
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

// Lines is the number of lines read so far.
func (t *Reader) Lines() int64 { return t.line }

// ReportDamage reports that the input ends in damaged data after the
// lines read (the next line, cut short, is the one reported), as the
// NXLog reader reports it. The caller stops reading.
func (t *Reader) ReportDamage(reason string) { t.skip.Skip(t.file, t.line+1, reason) }

// decodeLine decodes one native trace line into ev. It returns a short
// reason when the line is not a valid event.
func decodeLine(line []byte, ev *etw.Event) (reason string) {
	var t Reader
	return t.decode(line, ev)
}

func (t *Reader) decode(line []byte, ev *etw.Event) string {
	ev.Reset()
	sc := &t.sc
	sc.Reset(line)
	version := -1
	hasTime := false
	for {
		key, kind, val, ok, err := sc.Next()
		if err != nil {
			return "malformed JSON: " + err.Error()
		}
		if !ok {
			break
		}
		if kind == jsonscan.Null {
			continue
		}
		switch string(key) {
		case "v":
			n, ok := textparse.Uint32(val)
			if kind != jsonscan.Number || !ok {
				return "bad \"v\""
			}
			version = int(n)
		case "time":
			ts, ok := parseTraceTime(val)
			if kind != jsonscan.String || !ok {
				return "bad \"time\""
			}
			ev.Time, hasTime = ts, true
		case "kind":
			k, ok := etw.ParseKind(string(val))
			if !ok {
				return "unknown \"kind\""
			}
			ev.Kind = k
		case "source":
			s, ok := etw.ParseSource(string(val))
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
			op, ok := etw.ParseRegOp(string(val))
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
			if !t.timeField(ev, etw.FieldBootTime, &ev.Boot.BootTime, kind, val) {
				return "bad \"boot_time\""
			}
		case "create_time":
			if !t.timeField(ev, etw.FieldCreateTime, &ev.Proc.CreateTime, kind, val) {
				return "bad \"create_time\""
			}
		case "exit_time":
			if !t.timeField(ev, etw.FieldExitTime, &ev.Proc.ExitTime, kind, val) {
				return "bad \"exit_time\""
			}
		case "pid":
			if !numField(ev, etw.FieldPID, &ev.Proc.PID, kind, val) {
				return "bad \"pid\""
			}
		case "ppid":
			if !numField(ev, etw.FieldParentPID, &ev.Proc.ParentPID, kind, val) {
				return "bad \"ppid\""
			}
		case "creator_pid":
			if !numField(ev, etw.FieldCreatorPID, &ev.Proc.CreatorPID, kind, val) {
				return "bad \"creator_pid\""
			}
		case "session":
			if !numField(ev, etw.FieldSession, &ev.Proc.Session, kind, val) {
				return "bad \"session\""
			}
		case "exit_code":
			if !numField(ev, etw.FieldExitCode, &ev.Proc.ExitCode, kind, val) {
				return "bad \"exit_code\""
			}
		case "image":
			ev.Proc.Image = strField(ev, etw.FieldImage, val)
		case "parent_image":
			ev.Proc.ParentImage = strField(ev, etw.FieldParentImage, val)
		case "cmdline":
			ev.Proc.CommandLine = strField(ev, etw.FieldCommandLine, val)
		case "user_sid":
			ev.Proc.UserSID = strField(ev, etw.FieldUserSID, val)
		case "user":
			ev.Proc.UserName = strField(ev, etw.FieldUserName, val)
		case "creator_sid":
			ev.Proc.CreatorSID = strField(ev, etw.FieldCreatorSID, val)
		case "key":
			ev.Proc.Key = strField(ev, etw.FieldKey, val)
		case "parent_key":
			ev.Proc.ParentKey = strField(ev, etw.FieldParentKey, val)
		}
	}
	switch {
	case version < 0:
		return "no \"v\" (not a native trace line)"
	case version != Version:
		return fmt.Sprintf("trace version %d not supported (want %d)", version, Version)
	case !hasTime:
		return "no \"time\""
	case ev.Kind == etw.KindUnknown:
		return "no \"kind\""
	case ev.Source == etw.SourceUnknown:
		return "no \"source\""
	}
	if ev.Kind == etw.KindRegistry {
		// The writer fields share names with process fields.
		ev.Reg.PID, ev.Reg.Image = ev.Proc.PID, ev.Proc.Image
		ev.Proc = etw.Process{}
		if ev.Reg.Op == etw.RegOpUnknown {
			return "registry event without \"op\""
		}
	}
	return ""
}

func strField(ev *etw.Event, f etw.Field, val []byte) string {
	ev.Known |= f
	return string(val)
}

func numField(ev *etw.Event, f etw.Field, into *uint32, kind byte, val []byte) bool {
	n, ok := textparse.Uint32(val)
	if !ok || (kind != jsonscan.Number && kind != jsonscan.String) {
		return false
	}
	*into = n
	ev.Known |= f
	return true
}

func (t *Reader) timeField(ev *etw.Event, f etw.Field, into *int64, kind byte, val []byte) bool {
	ts, ok := parseTraceTime(val)
	if !ok || kind != jsonscan.String {
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
