package input

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/smsswatch/smsswatch/etw"

	"github.com/smsswatch/smsswatch/etw/evtx"
	"github.com/smsswatch/smsswatch/etw/jsonscan"
	"github.com/smsswatch/smsswatch/etw/nxlog"
	"github.com/smsswatch/smsswatch/etw/trace"
	"github.com/smsswatch/smsswatch/etw/winlogbeat"

	"github.com/smsswatch/smsswatch/etw/textparse"
)

// Format is an input format Open recognises.
type Format uint8

// The formats Open detects, by content.
const (
	// FormatUnknown is the zero Format.
	FormatUnknown Format = iota
	// FormatEVTX is a Windows event log file ("ElfFile\x00").
	FormatEVTX
	// FormatNXLog is JSON lines as forwarded by NXLog: flat objects with
	// EventID, Channel, Hostname...
	FormatNXLog
	// FormatTrace is smsswatch's native trace format: JSON lines whose
	// objects have "v" and "kind" members.
	FormatTrace
	// FormatWinlogbeat is JSON lines as Winlogbeat and Elastic Agent
	// write Windows event log records: ECS documents with a winlog object
	// (channel, event_id, computer_name, event_data...).
	FormatWinlogbeat
	// FormatTar is a tar archive (POSIX ustar, pax or GNU): its regular
	// file members are read in order, each detected like a file.
	FormatTar
)

var formatNames = [...]string{"unknown", "evtx", "nxlog-json", "trace", "winlogbeat-json", "tar"}

// String names the format in logs.
func (f Format) String() string {
	if int(f) < len(formatNames) {
		return formatNames[f]
	}
	return "unknown"
}

// detectWindow is how much of a text input detection looks at, at most.
const detectWindow = 1 << 20

// maxGzipLayers bounds gzip-in-gzip.
const maxGzipLayers = 2

// Input is the Reader Open returns: the reader of the detected format,
// plus what was detected. Stats reports the reader's counters.
type Input struct {
	r etw.Reader
	// Format is the detected format of the (decompressed) content.
	Format Format
	// Gzip says the content was gzip-compressed.
	Gzip bool
	name string
	// st is the state of the decompressor (or archive member) the content
	// is read through.
	st     streamState
	events int64
	// skipped counts the reports of a reader without counters of its own
	// (the native trace reader).
	skipped int64
	// damaged is set once Next has reported damaged data that ended a
	// reader without counters of its own; Next then returns io.EOF.
	damaged bool
}

var _ etw.Reader = (*Input)(nil)

// Next implements Reader. Damaged compressed data ends the input: the
// damage is reported to the Skipper (file, the line it follows, the
// decompressed offset), counted in Stats().Damaged, and Next returns
// io.EOF after the events read before it.
func (in *Input) Next(ev *etw.Event) error {
	if in.damaged {
		return io.EOF
	}
	err := in.r.Next(ev)
	if err == nil {
		in.events++
		return nil
	}
	if tr, ok := in.r.(*trace.Reader); ok && err != io.EOF && !isIOErr(err) && etw.IsDamage(err) {
		in.damaged = true
		msg := err.Error()
		var d *dataDamage
		if errors.As(err, &d) {
			msg = d.Error()
		}
		tr.ReportDamage("input ends in damaged data: " + msg)
		return io.EOF
	}
	return err
}

// Stats returns the counters of the underlying reader.
func (in *Input) Stats() etw.ReadStats {
	var s etw.ReadStats
	switch r := in.r.(type) {
	case interface{ Stats() etw.ReadStats }:
		s = r.Stats()
	case *trace.Reader:
		s = etw.ReadStats{Records: r.Lines(), Events: in.events, Skipped: in.skipped}
	default:
		s = etw.ReadStats{Events: in.events, Skipped: in.skipped}
	}
	if in.damaged && s.Damaged == 0 {
		s.Damaged = 1
	}
	if in.st.damaged && s.Damaged == 0 {
		s.Damaged = 1 // reported by the reader in its own terms (EVTX)
	}
	return s
}

// What an open input holds while it is read, by format: the live heap of
// 50-100 inputs open at once, each past its first event, was 45 KiB a
// text input (its read buffer, textparse.BufferSize, and its decoder's
// state), 117 KiB a gzip-compressed one (flate's window and tables, a
// second buffer), and 280-630 KiB an EVTX log (its chunk and the chunk's
// parsed records; most for a log whose records are mostly of interest).
// Rounded up.
const (
	footprintText = 64 << 10
	footprintEVTX = 640 << 10
	footprintGzip = 96 << 10
)

// Footprint is about how many bytes the input holds while it is open (its
// read buffers and its decoder's state), by its format, for callers that
// bound how many inputs are open at once. A tar archive counts as its
// costliest possible member.
func (in *Input) Footprint() int64 {
	n := int64(footprintText)
	if in.Format == FormatEVTX || in.Format == FormatTar {
		n = footprintEVTX
	}
	if in.Gzip {
		n += footprintGzip
	}
	return n
}

// Open opens the file at path and returns a Reader of its events, with the
// format detected by content, never by name: EVTX (magic "ElfFile\x00"),
// gzip (magic 1f 8b, wrapping any of the formats), a tar archive (read
// member by member, each detected like a file), the native trace format
// (JSON lines with "v" and "kind"), Winlogbeat / Elastic Agent JSON lines
// (a "winlog" object) or NXLog JSON lines. A UTF-8 byte order mark before
// text is ignored. The Reader is an *Input. Close the returned Closer when
// done (it closes the file and any decompressor). Malformed records are
// reported to skip (which may be nil). An input in no known format yields
// an error wrapping ErrUnknownFormat.
func Open(path string, skip etw.Skipper) (etw.Reader, io.Closer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("open input: %w", err)
	}
	in, err := OpenReader(f, path, skip)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return in, f, nil
}

// OpenReader is Open for an input already open, such as standard input;
// name labels it in reports. Decompressors hold no resources beyond
// memory, so closing r is all the cleanup needed.
func OpenReader(r io.Reader, name string, skip etw.Skipper) (*Input, error) {
	if skip == nil {
		skip = etw.SkipFunc(func(string, int64, string) {})
	}
	in := &Input{name: name}
	if err := in.open(bufio.NewReaderSize(ioErrReader{r}, textparse.BufferSize), skip, 0); err != nil {
		return nil, err
	}
	return in, nil
}

// maxTarDepth is how deep archives may nest: a tar member that is itself
// a tar archive is skipped.
const maxTarDepth = 1

// open detects the format of br and sets in's reader. tarDepth is the
// number of archives br is inside.
func (in *Input) open(br *bufio.Reader, skip etw.Skipper, tarDepth int) error {
	name := in.name
	for layer := 0; ; layer++ {
		head, err := br.Peek(8)
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("%s: read: %w", name, unwrapIOErr(err))
		}
		switch {
		case len(head) == 0:
			return fmt.Errorf("%s: %w: empty input", name, etw.ErrUnknownFormat)
		case bytes.HasPrefix(head, []byte(evtx.Magic)):
			in.Format = FormatEVTX
			in.r = evtx.NewReader(br, name, skip)
			return nil
		case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
			if layer >= maxGzipLayers {
				return fmt.Errorf("%s: %w: gzip nested more than %d deep", name, etw.ErrUnknownFormat, maxGzipLayers)
			}
			zr, err := gzip.NewReader(br)
			if err != nil {
				if isIOErr(err) {
					return fmt.Errorf("%s: read: %w", name, unwrapIOErr(err))
				}
				return fmt.Errorf("%s: %w: bad gzip header: %v", name, etw.ErrUnknownFormat, err)
			}
			in.Gzip = true
			br = bufio.NewReaderSize(&gzipDataReader{z: zr, st: &in.st}, textparse.BufferSize)
			continue
		}
		if block, _ := br.Peek(tarBlock); isTarHeader(block) {
			if tarDepth >= maxTarDepth {
				return fmt.Errorf("%s: %w: a tar archive inside a tar archive is not read", name, etw.ErrUnknownFormat)
			}
			in.Format = FormatTar
			in.r = newTarReader(br, name, skip, tarDepth+1)
			return nil
		}
		// Text.
		var f Format
		f, br, err = detectText(br)
		if err != nil {
			return fmt.Errorf("%s: read: %w", name, unwrapIOErr(err))
		}
		in.Format = f
		switch f {
		case FormatTrace:
			in.r = trace.NewReader(br, name, countSkips{skip, &in.skipped})
		case FormatNXLog:
			in.r = nxlog.NewReader(br, name, skip)
		case FormatWinlogbeat:
			in.r = winlogbeat.NewReader(br, name, skip)
		default:
			return fmt.Errorf("%s: %w: neither EVTX, gzip, tar nor JSON lines of a known kind", name, etw.ErrUnknownFormat)
		}
		return nil
	}
}

// countSkips counts the reports it passes on.
type countSkips struct {
	s etw.Skipper
	n *int64
}

// Skip implements Skipper.
func (c countSkips) Skip(file string, record int64, reason string) {
	*c.n++
	c.s.Skip(file, record, reason)
}

// detectText tells the text formats apart by the members of the first
// JSON object line in the first MiB that names any: "v" and "kind" make a
// trace; a "winlog" object (or flattened "winlog.*" members) makes
// Winlogbeat JSON; EventID, Channel, SourceName, Hostname or EventTime
// make NXLog. Lines that are not JSON objects are passed over (the reader
// will report them). A UTF-8 byte order mark is ignored.
//
// It looks first at what br holds (its buffer, textparse.BufferSize, which the reader
// then reads through, so that an open input holds no more than that).
// Only when that is full and undecided (long first lines) does it read on
// to the first MiB, into a buffer of its own that the returned reader
// reads first and lets go of once read past.
func detectText(br *bufio.Reader) (Format, *bufio.Reader, error) {
	data, err := br.Peek(br.Size())
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		if isIOErr(err) && len(data) == 0 {
			return FormatUnknown, br, err
		}
		// Damaged compressed data, or an I/O error after some data:
		// decide on what could be read (the reader meets the error again
		// after it, and reports or returns it).
	}
	if f := detectLines(data); f != FormatUnknown || len(data) < br.Size() {
		return f, br, nil
	}
	ahead := make([]byte, detectWindow)
	n, err := io.ReadFull(br, ahead)
	ahead = ahead[:n]
	f := detectLines(ahead)
	var rest io.Reader = br
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		rest = errReader{err} // met by the reader after the data, as it was
	}
	return f, bufio.NewReaderSize(io.MultiReader(bytes.NewReader(ahead), rest), br.Size()), nil
}

// errReader returns err.
type errReader struct{ err error }

// Read returns the error.
func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// detectLines names the format of the first JSON object line in data
// that names one, or FormatUnknown.
func detectLines(data []byte) Format {
	data = bytes.TrimPrefix(data, textparse.BOM)
	var sc, sub jsonscan.Scanner
	for len(data) > 0 {
		line := data
		rest := []byte(nil)
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, rest = data[:i], data[i+1:]
		}
		data = rest
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		if f := detectLine(&sc, &sub, line); f != FormatUnknown {
			return f
		}
	}
	return FormatUnknown
}

// detectLine names the format one JSON object line is written in, or
// FormatUnknown.
func detectLine(sc, sub *jsonscan.Scanner, line []byte) Format {
	var v, kind, nx, wlb bool
	sc.Reset(line)
	for {
		key, ok, err := sc.NextKey()
		if err != nil || !ok {
			break
		}
		switch k := string(key); {
		case k == "v":
			v = true
		case k == "kind":
			kind = true
		case k == "EventID", k == "Channel", k == "SourceName", k == "Hostname", k == "EventTime", k == "EventReceivedTime":
			nx = true
		case k == "winlog" && sc.Peek() == '{':
			sc.Enter(sub)
			for {
				key, ok, err := sub.NextKey()
				if err != nil {
					return FormatUnknown // not JSON: the reader will say so
				}
				if !ok {
					break
				}
				if isWinlogMember(key) {
					wlb = true
				}
				if sub.SkipValue() != nil {
					return FormatUnknown
				}
			}
			sc.Leave(sub)
			continue
		case len(k) > len("winlog.") && k[:len("winlog.")] == "winlog.":
			if isWinlogMember(key[len("winlog."):]) || bytes.HasPrefix(key, []byte("winlog.event_data.")) {
				wlb = true
			}
		}
		if sc.SkipValue() != nil {
			break
		}
	}
	switch {
	case v && kind:
		return FormatTrace
	case wlb:
		return FormatWinlogbeat
	case nx:
		return FormatNXLog
	}
	return FormatUnknown
}

// isWinlogMember reports whether name is a member of Winlogbeat's winlog
// object that says what the document is.
func isWinlogMember(name []byte) bool {
	switch string(name) {
	case "channel", "event_id", "computer_name", "event_data", "record_id", "provider_name":
		return true
	}
	return false
}

// ioError marks an error of the underlying input (as opposed to damaged
// data found by a decompressor).
type ioError struct{ err error }

// Error returns the underlying error's text.
func (e ioError) Error() string { return e.err.Error() }

// Unwrap returns the underlying error.
func (e ioError) Unwrap() error { return e.err }

// ioErrReader tags the errors of the raw input.
type ioErrReader struct{ r io.Reader }

// Read reads from the raw input, tagging its errors.
func (r ioErrReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = ioError{err}
	}
	return n, err
}

func isIOErr(err error) bool {
	var e ioError
	return errors.As(err, &e)
}

func unwrapIOErr(err error) error {
	var e ioError
	if errors.As(err, &e) {
		return e.err
	}
	return err
}

// streamState is what a decompressor (or archive member reader) tells its
// Input: how much it delivered and whether it ended in damage.
type streamState struct {
	out     int64
	damaged bool
}

// dataDamage is the error of a decompressor or archive reader that found
// damaged data: what read it, how many decompressed bytes it delivered
// before, and the error. It matches errDamaged.
type dataDamage struct {
	what string
	off  int64
	err  error
}

// Error describes the damage and where reading stopped.
func (d *dataDamage) Error() string {
	return fmt.Sprintf("%s: damaged data after %d decompressed bytes: %v", d.what, d.off, d.err)
}

// Is matches errDamaged.
func (d *dataDamage) Is(target error) bool { return target == etw.ErrDamaged }

// Unwrap returns the underlying error.
func (d *dataDamage) Unwrap() error { return d.err }

// gzipDataReader reports decompression failures (bad data, bad checksum,
// a stream cut short) as damaged data (a *dataDamage, counted in st), and
// I/O errors as they are.
type gzipDataReader struct {
	z  *gzip.Reader
	st *streamState
}

// Read decompresses, marking bad data as damaged.
func (g *gzipDataReader) Read(p []byte) (int, error) {
	n, err := g.z.Read(p)
	g.st.out += int64(n)
	if err != nil && err != io.EOF {
		if !isIOErr(err) { // I/O errors stay tagged as such for the layers above
			g.st.damaged = true
			var d *dataDamage
			if !errors.As(err, &d) {
				err = &dataDamage{what: "gzip", off: g.st.out, err: err}
			}
		}
	}
	return n, err
}
