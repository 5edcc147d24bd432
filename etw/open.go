package etw

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
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
)

var formatNames = [...]string{"unknown", "evtx", "nxlog-json", "trace"}

// String names the format in logs.
func (f Format) String() string {
	if int(f) < len(formatNames) {
		return formatNames[f]
	}
	return "unknown"
}

// detectWindow is how much of a text input detection looks at.
const detectWindow = 1 << 20

// maxGzipLayers bounds gzip-in-gzip.
const maxGzipLayers = 2

// Input is the Reader Open returns: the reader of the detected format,
// plus what was detected. Stats reports counters of the importers (NXLog
// and EVTX); for the native trace format only Events is counted.
type Input struct {
	r Reader
	// Format is the detected format of the (decompressed) content.
	Format Format
	// Gzip says the content was gzip-compressed.
	Gzip   bool
	events int64
}

var _ Reader = (*Input)(nil)

// Next implements Reader.
func (in *Input) Next(ev *Event) error {
	err := in.r.Next(ev)
	if err == nil {
		in.events++
	}
	return err
}

// Stats returns the counters of the underlying importer.
func (in *Input) Stats() ReadStats {
	if s, ok := in.r.(interface{ Stats() ReadStats }); ok {
		return s.Stats()
	}
	return ReadStats{Events: in.events}
}

// Open opens the file at path and returns a Reader of its events, with the
// format detected by content, never by name: EVTX (magic "ElfFile\x00"),
// gzip (magic 1f 8b, wrapping any of the formats), the native trace format
// (JSON lines with "v" and "kind") or NXLog JSON lines. The Reader is an
// *Input. Close the returned Closer when done (it closes the file and any
// decompressor). Malformed records are reported to skip (which may be
// nil). An input in no known format yields an error wrapping
// ErrUnknownFormat.
func Open(path string, skip Skipper) (Reader, io.Closer, error) {
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
func OpenReader(r io.Reader, name string, skip Skipper) (*Input, error) {
	if skip == nil {
		skip = SkipFunc(func(string, int64, string) {})
	}
	in := &Input{}
	br := bufio.NewReaderSize(ioErrReader{r}, 64<<10)
	for layer := 0; ; layer++ {
		head, err := br.Peek(8)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: read: %w", name, unwrapIOErr(err))
		}
		switch {
		case len(head) == 0:
			return nil, fmt.Errorf("%s: %w: empty input", name, ErrUnknownFormat)
		case bytes.HasPrefix(head, []byte(evtxMagic)):
			in.Format = FormatEVTX
			in.r = NewEvtxReader(br, name, skip)
			return in, nil
		case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
			if layer >= maxGzipLayers {
				return nil, fmt.Errorf("%s: %w: gzip nested more than %d deep", name, ErrUnknownFormat, maxGzipLayers)
			}
			zr, err := gzip.NewReader(br)
			if err != nil {
				if isIOErr(err) {
					return nil, fmt.Errorf("%s: read: %w", name, unwrapIOErr(err))
				}
				return nil, fmt.Errorf("%s: %w: bad gzip header: %v", name, ErrUnknownFormat, err)
			}
			in.Gzip = true
			br = bufio.NewReaderSize(gzipDataReader{zr}, 64<<10)
			continue
		}
		// Text: look further ahead (a first line can be long).
		br = bufio.NewReaderSize(br, detectWindow)
		f, err := detectText(br)
		if err != nil {
			return nil, fmt.Errorf("%s: read: %w", name, unwrapIOErr(err))
		}
		in.Format = f
		switch f {
		case FormatTrace:
			in.r = NewTraceReader(br, name, skip)
		case FormatNXLog:
			in.r = NewNXLogReader(br, name, skip)
		default:
			return nil, fmt.Errorf("%s: %w: neither EVTX, gzip nor JSON lines", name, ErrUnknownFormat)
		}
		return in, nil
	}
}

// detectText tells the native trace format from NXLog JSON lines by the
// members of the first JSON object line in the first MiB: "v" and "kind"
// make a trace; EventID, Channel, SourceName, Hostname or EventTime make
// NXLog. Lines that are not JSON objects are passed over (the reader will
// report them).
func detectText(br *bufio.Reader) (Format, error) {
	data, err := br.Peek(detectWindow)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		if isIOErr(err) {
			return FormatUnknown, err
		}
		// Damaged compressed data: decide on what could be read.
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var sc jsonScanner
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
		var v, kind, nx bool
		sc.reset(line)
		for {
			key, _, _, ok, err := sc.next()
			if err != nil || !ok {
				break
			}
			switch string(key) {
			case "v":
				v = true
			case "kind":
				kind = true
			case "EventID", "Channel", "SourceName", "Hostname", "EventTime", "EventReceivedTime":
				nx = true
			}
		}
		switch {
		case v && kind:
			return FormatTrace, nil
		case nx:
			return FormatNXLog, nil
		}
	}
	return FormatUnknown, nil
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

// gzipDataReader reports decompression failures (bad data, bad checksum,
// a stream cut short) as damaged data, and I/O errors as they are.
type gzipDataReader struct{ z *gzip.Reader }

// Read decompresses, marking bad data as damaged.
func (g gzipDataReader) Read(p []byte) (int, error) {
	n, err := g.z.Read(p)
	if err != nil && err != io.EOF {
		if isIOErr(err) {
			err = unwrapIOErr(err)
		} else {
			err = fmt.Errorf("gzip: %w: %w", errDamaged, err)
		}
	}
	return n, err
}
