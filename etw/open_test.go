package etw

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// traceLines is a native trace file: two events written by TraceWriter.
func traceLines(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	w := NewTraceWriter(&b)
	for _, ev := range []Event{
		{Time: ns("2021-03-02 14:15:01"), Kind: KindStart, Source: SourceETW, Host: "H", Known: FieldPID, Proc: Process{PID: 388}},
		{Time: ns("2021-03-02 14:15:02"), Kind: KindExit, Source: SourceETW, Host: "H", Known: FieldPID, Proc: Process{PID: 388}},
	} {
		if err := w.Write(&ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gz(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

func TestOpenDetectsByContent(t *testing.T) {
	nx, err := os.ReadFile("testdata/importers/nxlog_mixed.json")
	if err != nil {
		t.Fatal(err)
	}
	nxgz, err := os.ReadFile("testdata/importers/nxlog_mixed.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	trace := traceLines(t)
	cases := []struct {
		name   string
		data   []byte
		format Format
		gzip   bool
		events int
		err    error
	}{
		{"nxlog", nx, FormatNXLog, false, 9, nil},
		{"nxlog gzip fixture", nxgz, FormatNXLog, true, 9, nil},
		{"nxlog with BOM and leading garbage", append([]byte("\xef\xbb\xbfgarbage\n\n"), nx...), FormatNXLog, false, 9, nil},
		{"trace", trace, FormatTrace, false, 2, nil},
		{"trace with comments", append([]byte("# smsswatch trace\n"), trace...), FormatTrace, false, 2, nil},
		{"gzip trace", gz(trace), FormatTrace, true, 2, nil},
		{"gzip in gzip", gz(gz(trace)), FormatTrace, true, 2, nil},
		{"evtx", synthFile(), FormatEVTX, false, 8, nil},
		{"empty", nil, 0, false, 0, ErrUnknownFormat},
		{"gzip of nothing", gz(nil), 0, true, 0, ErrUnknownFormat},
		{"binary garbage", bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 1000), 0, false, 0, ErrUnknownFormat},
		{"JSON of another kind", []byte(`{"foo":1}` + "\n" + `{"bar":2}`), 0, false, 0, ErrUnknownFormat},
		{"gzip nested too deep", gz(gz(gz(trace))), 0, true, 0, ErrUnknownFormat},
		{"bad gzip header", []byte{0x1f, 0x8b, 0xff, 0xff, 0, 0, 0, 0, 0, 0}, 0, false, 0, ErrUnknownFormat},
	}
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// A misleading name: detection must not look at it.
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".evtx.gz")
			if err := os.WriteFile(path, c.data, 0o600); err != nil {
				t.Fatal(err)
			}
			r, closer, err := Open(path, nil)
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("err %v, want %v", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer closer.Close()
			in := r.(*Input)
			if in.Format != c.format || in.Gzip != c.gzip {
				t.Errorf("format %v gzip %v", in.Format, in.Gzip)
			}
			evs, err := readAll(t, r)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != c.events || in.Stats().Events != int64(c.events) {
				t.Errorf("%d events (stats %+v), want %d", len(evs), in.Stats(), c.events)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		if _, _, err := Open(filepath.Join(dir, "nope"), nil); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("err %v", err)
		}
	})
}

func TestOpenDamagedGzip(t *testing.T) {
	nx, err := os.ReadFile("testdata/importers/nxlog_mixed.json")
	if err != nil {
		t.Fatal(err)
	}
	whole := gz(bytes.Repeat(nx, 50))
	cases := []struct {
		name string
		data []byte
	}{
		{"truncated", whole[:len(whole)/2]},
		{"corrupt in the middle", func() []byte {
			b := bytes.Clone(whole)
			for i := len(b) / 2; i < len(b)/2+64; i++ {
				b[i] ^= 0x5a
			}
			return b
		}()},
		{"bad checksum", func() []byte {
			b := bytes.Clone(whole)
			b[len(b)-8] ^= 1
			return b
		}()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var skips skipLog
			in, err := OpenReader(bytes.NewReader(c.data), "d.json.gz", &skips)
			if err != nil {
				t.Fatal(err)
			}
			evs, err := readAll(t, in)
			if err != nil {
				t.Fatalf("err %v", err)
			}
			if len(evs) == 0 && c.name != "bad checksum" {
				t.Errorf("no events before the damage")
			}
			last := ""
			if len(skips.got) > 0 {
				last = skips.got[len(skips.got)-1]
			}
			if !strings.Contains(last, "input ends in damaged data: gzip: damaged data") {
				t.Errorf("last skip %q", last)
			}
		})
	}
}

func TestOpenReaderIOError(t *testing.T) {
	eio := errors.New("input/output error")
	_, err := OpenReader(&failingReader{nil, eio}, "x", nil)
	if !errors.Is(err, eio) {
		t.Errorf("err %v", err)
	}
	// An I/O error under gzip is an I/O error, not damaged data.
	data := gz(bytes.Repeat([]byte(`{"EventTime":"2021-01-01 00:00:00","Channel":"Security","EventID":4608}`+"\n"), 10000))
	in, err := OpenReader(&failingReader{data[:len(data)/2], eio}, "x", nil)
	if err != nil {
		t.Fatal(err)
	}
	var ev Event
	for err == nil {
		err = in.Next(&ev)
	}
	if !errors.Is(err, eio) {
		t.Errorf("err %v", err)
	}
}

func TestFormatString(t *testing.T) {
	for f, want := range map[Format]string{FormatEVTX: "evtx", FormatNXLog: "nxlog-json", FormatTrace: "trace", FormatUnknown: "unknown", 99: "unknown"} {
		if f.String() != want {
			t.Errorf("%d: %q", f, f.String())
		}
	}
	var _ io.Closer = (*os.File)(nil)
}
