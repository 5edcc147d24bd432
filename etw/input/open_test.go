package input

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smsswatch/smsswatch/etw"
	"github.com/smsswatch/smsswatch/etw/internal/etwtest"
	"github.com/smsswatch/smsswatch/etw/trace"
)

// traceLines is a native trace file: two events written by TraceWriter.
func traceLines(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	w := trace.NewWriter(&b)
	for _, ev := range []etw.Event{
		{Time: etwtest.NS("2021-03-02 14:15:01"), Kind: etw.KindStart, Source: etw.SourceETW, Host: "H", Known: etw.FieldPID, Proc: etw.Process{PID: 388}},
		{Time: etwtest.NS("2021-03-02 14:15:02"), Kind: etw.KindExit, Source: etw.SourceETW, Host: "H", Known: etw.FieldPID, Proc: etw.Process{PID: 388}},
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
	nx, err := os.ReadFile("../nxlog/testdata/nxlog_mixed.json")
	if err != nil {
		t.Fatal(err)
	}
	nxgz, err := os.ReadFile("testdata/nxlog_mixed.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	trace := traceLines(t)
	wlb, err := os.ReadFile("../winlogbeat/testdata/winlogbeat_mixed.json")
	if err != nil {
		t.Fatal(err)
	}
	wlbgz, err := os.ReadFile("testdata/winlogbeat_mixed.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	flatWlb := []byte(`{"@timestamp":"2021-01-01T00:00:00Z","winlog.channel":"Security","winlog.event_id":4608,"winlog.computer_name":"H"}`)
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
		{"winlogbeat", wlb, FormatWinlogbeat, false, 11, nil},
		{"winlogbeat gzip fixture", wlbgz, FormatWinlogbeat, true, 11, nil},
		{"winlogbeat with BOM", append([]byte("\xef\xbb\xbf"), wlb...), FormatWinlogbeat, false, 11, nil},
		{"winlogbeat flattened", flatWlb, FormatWinlogbeat, false, 1, nil},
		{"winlogbeat after a line of another kind", append([]byte(`{"foo":1}`+"\n"), wlb...), FormatWinlogbeat, false, 11, nil},
		// Detection looks past the 64 KiB read buffer (up to a MiB) only
		// when that buffer holds no line of a known kind.
		{"winlogbeat after 100 KiB of JSON of another kind", append(bytes.Repeat([]byte(`{"foo":1}`+"\n"), 10<<10), wlb...), FormatWinlogbeat, false, 11, nil},
		{"nxlog after a 200 KiB first line", append(append(bytes.Repeat([]byte("x"), 200<<10), '\n'), nx...), FormatNXLog, false, 9, nil},
		{"nxlog only after the first MiB", append(bytes.Repeat([]byte(`{"foo":1}`+"\n"), 110<<10), nx...), 0, false, 0, etw.ErrUnknownFormat},
		{"winlog member that is not Winlogbeat's", []byte(`{"winlog":{"x":1},"EventID":4608,"Channel":"Security","EventTime":"2021-01-01 00:00:00"}`), FormatNXLog, false, 1, nil},
		{"trace", trace, FormatTrace, false, 2, nil},
		{"trace with BOM", append([]byte("\xef\xbb\xbf"), trace...), FormatTrace, false, 2, nil},
		{"gzip trace with BOM", gz(append([]byte("\xef\xbb\xbf"), trace...)), FormatTrace, true, 2, nil},
		{"trace with comments", append([]byte("# smsswatch trace\n"), trace...), FormatTrace, false, 2, nil},
		{"gzip trace", gz(trace), FormatTrace, true, 2, nil},
		{"gzip in gzip", gz(gz(trace)), FormatTrace, true, 2, nil},
		{"evtx", synthFixture(t), FormatEVTX, false, 8, nil},
		{"empty", nil, 0, false, 0, etw.ErrUnknownFormat},
		{"gzip of nothing", gz(nil), 0, true, 0, etw.ErrUnknownFormat},
		{"binary garbage", bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 1000), 0, false, 0, etw.ErrUnknownFormat},
		{"JSON of another kind", []byte(`{"foo":1}` + "\n" + `{"bar":2}`), 0, false, 0, etw.ErrUnknownFormat},
		{"gzip nested too deep", gz(gz(gz(trace))), 0, true, 0, etw.ErrUnknownFormat},
		{"bad gzip header", []byte{0x1f, 0x8b, 0xff, 0xff, 0, 0, 0, 0, 0, 0}, 0, false, 0, etw.ErrUnknownFormat},
	}
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// A misleading name: detection must not look at it.
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".evtx.gz")
			if err := os.WriteFile(path, c.data, 0o600); err != nil {
				t.Fatal(err)
			}
			var skips etwtest.SkipLog
			r, closer, err := Open(path, &skips)
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
			evs, err := etwtest.ReadAll(t, r)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != c.events || in.Stats().Events != int64(c.events) {
				t.Errorf("%d events (stats %+v), want %d", len(evs), in.Stats(), c.events)
			}
			if strings.Contains(c.name, "BOM") && !strings.Contains(c.name, "garbage") {
				for _, sk := range skips.Got {
					if strings.Contains(sk, ":1: ") {
						t.Errorf("first line skipped: %s", sk)
					}
				}
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
	nx, err := os.ReadFile("../nxlog/testdata/nxlog_mixed.json")
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
			var skips etwtest.SkipLog
			in, err := OpenReader(bytes.NewReader(c.data), "d.json.gz", &skips)
			if err != nil {
				t.Fatal(err)
			}
			evs, err := etwtest.ReadAll(t, in)
			if err != nil {
				t.Fatalf("err %v", err)
			}
			if len(evs) == 0 && c.name != "bad checksum" {
				t.Errorf("no events before the damage")
			}
			last := ""
			if len(skips.Got) > 0 {
				last = skips.Got[len(skips.Got)-1]
			}
			if !strings.Contains(last, "input ends in damaged data: gzip: damaged data") {
				t.Errorf("last skip %q", last)
			}
		})
	}
}

// TestOpenDamagedGzipTrace: a native trace in a damaged gzip is read up
// to the damage (an impostor in the readable part is not lost), and the
// damage is reported with the file, line and offset, and counted.
func TestOpenDamagedGzipTrace(t *testing.T) {
	var b bytes.Buffer
	w := trace.NewWriter(&b)
	for i := 0; i < 4000; i++ {
		ev := etw.Event{Time: etwtest.NS("2021-03-02 14:15:01") + int64(i)*1e6, Kind: etw.KindStart, Source: etw.SourceETW, Host: "H",
			Known: etw.FieldPID | etw.FieldImage, Proc: etw.Process{PID: uint32(1000 + i), Image: `C:\ProgramData\evil\smss.exe`}}
		if err := w.Write(&ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	whole := gz(b.Bytes())
	cases := []struct {
		name string
		data []byte
	}{
		{"truncated", whole[:len(whole)/2]},
		{"corrupt in the middle", func() []byte {
			c := bytes.Clone(whole)
			for i := len(c) / 2; i < len(c)/2+64; i++ {
				c[i] ^= 0x5a
			}
			return c
		}()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var skips etwtest.SkipLog
			in, err := OpenReader(bytes.NewReader(c.data), "t.jsonl.gz", &skips)
			if err != nil {
				t.Fatal(err)
			}
			if in.Format != FormatTrace {
				t.Fatalf("format %v", in.Format)
			}
			evs, err := etwtest.ReadAll(t, in)
			if err != nil {
				t.Fatalf("err %v", err)
			}
			if len(evs) < 100 || evs[0].Proc.Image != `C:\ProgramData\evil\smss.exe` {
				t.Fatalf("%d events before the damage", len(evs))
			}
			// Deflate may turn damage into garbage lines (each skipped)
			// before it notices; the damage is always the last report.
			if len(skips.Got) == 0 {
				t.Fatal("damage not reported")
			}
			st := in.Stats()
			last := skips.Got[len(skips.Got)-1]
			want := fmt.Sprintf("t.jsonl.gz:%d: input ends in damaged data: gzip: damaged data after ", st.Records+1)
			if !strings.HasPrefix(last, want) || !strings.Contains(last, "decompressed bytes") {
				t.Errorf("last skip %q, want it to start %q", last, want)
			}
			if c.name == "truncated" && (len(skips.Got) != 1 || st.Records != int64(len(evs))) {
				t.Errorf("%d skips (first %q), stats %+v", len(skips.Got), skips.Got[0], st)
			}
			if st.Damaged != 1 || st.Events != int64(len(evs)) || st.Skipped != int64(len(skips.Got)) {
				t.Errorf("stats %+v", st)
			}
			var ev etw.Event
			if err := in.Next(&ev); err != io.EOF {
				t.Errorf("after the damage: %v", err)
			}
		})
	}
}

// TestOpenDamageCounted: every reader's damage shows in Stats().Damaged.
func TestOpenDamageCounted(t *testing.T) {
	nx := readFixture(t, "winlogbeat_mixed.json")
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"winlogbeat", gz(bytes.Repeat(nx, 20))},
		{"nxlog", gz(bytes.Repeat(readFixture(t, "nxlog_mixed.json"), 50))},
		{"evtx", gz(bytes.Repeat(synthFixture(t), 4))},
	} {
		t.Run(c.name, func(t *testing.T) {
			in, err := OpenReader(bytes.NewReader(c.data[:len(c.data)-20]), "d.gz", nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := etwtest.ReadAll(t, in); err != nil {
				t.Fatal(err)
			}
			if st := in.Stats(); st.Damaged != 1 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestOpenReaderIOError(t *testing.T) {
	eio := errors.New("input/output error")
	_, err := OpenReader(&etwtest.FailingReader{Data: nil, Err: eio}, "x", nil)
	if !errors.Is(err, eio) {
		t.Errorf("err %v", err)
	}
	// An I/O error under gzip is an I/O error, not damaged data.
	data := gz(bytes.Repeat([]byte(`{"EventTime":"2021-01-01 00:00:00","Channel":"Security","EventID":4608}`+"\n"), 10000))
	in, err := OpenReader(&etwtest.FailingReader{Data: data[:len(data)/2], Err: eio}, "x", nil)
	if err != nil {
		t.Fatal(err)
	}
	var ev etw.Event
	for err == nil {
		err = in.Next(&ev)
	}
	if !errors.Is(err, eio) {
		t.Errorf("err %v", err)
	}
}

// onceFailing returns its data, then err once, then io.EOF: an error that
// only the first reader to meet it sees.
type onceFailing struct {
	data []byte
	err  error
}

func (o *onceFailing) Read(p []byte) (int, error) {
	if len(o.data) > 0 {
		n := copy(p, o.data)
		o.data = o.data[n:]
		return n, nil
	}
	err := o.err
	o.err = io.EOF
	return 0, err
}

// An I/O error after the data detection read ahead is met by the reader
// after that data, as it is without the read-ahead, even when the input
// would not return it twice.
func TestOpenReaderIOErrorAfterReadAhead(t *testing.T) {
	eio := errors.New("input/output error")
	nx, err := os.ReadFile("../nxlog/testdata/nxlog_mixed.json")
	if err != nil {
		t.Fatal(err)
	}
	data := append(bytes.Repeat([]byte(`{"foo":1}`+"\n"), 10<<10), nx...)
	in, err := OpenReader(&onceFailing{data: data, err: eio}, "x", nil)
	if err != nil {
		t.Fatal(err)
	}
	if in.Format != FormatNXLog {
		t.Fatalf("format %v", in.Format)
	}
	var ev etw.Event
	events := 0
	for err == nil {
		if err = in.Next(&ev); err == nil {
			events++
		}
	}
	if !errors.Is(err, eio) || events != 9 {
		t.Errorf("err %v after %d events, want the I/O error after 9", err, events)
	}
}

func TestFormatString(t *testing.T) {
	for f, want := range map[Format]string{FormatEVTX: "evtx", FormatNXLog: "nxlog-json", FormatTrace: "trace", FormatWinlogbeat: "winlogbeat-json", FormatTar: "tar", FormatUnknown: "unknown", 99: "unknown"} {
		if f.String() != want {
			t.Errorf("%d: %q", f, f.String())
		}
	}
	var _ io.Closer = (*os.File)(nil)
}

// countingSkips counts skip reports.
type countingSkips struct{ n int64 }

func (c *countingSkips) Skip(string, int64, string) { c.n++ }

// FuzzOpenReader fuzzes detection and every reader behind it (gzip, tar,
// trace, NXLog, Winlogbeat, EVTX): reading always ends, and nothing is
// lost without a count (every report is counted in Stats).
func FuzzOpenReader(f *testing.F) {
	wlb, _ := os.ReadFile("../winlogbeat/testdata/winlogbeat_mixed.json")
	nx, _ := os.ReadFile("../nxlog/testdata/nxlog_mixed.json")
	f.Add(wlb[:min(len(wlb), 3000)])
	f.Add(gz(nx))
	f.Add(makeTar(f, []tarMember{{"a.json", tar.TypeReg, wlb[:min(len(wlb), 2000)]}, {"l", tar.TypeSymlink, nil}, {"b.json.gz", tar.TypeReg, gz(nx)}}))
	f.Add([]byte("\xef\xbb\xbf{\"v\":1,\"time\":\"2021-01-01T00:00:00Z\",\"kind\":\"start\",\"source\":\"etw\",\"host\":\"H\",\"pid\":4}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var skips countingSkips
		in, err := OpenReader(bytes.NewReader(data), "f", &skips)
		if err != nil {
			// Unknown, or damaged before anything could be detected.
			if !errors.Is(err, etw.ErrUnknownFormat) && !etw.IsDamage(err) {
				t.Fatalf("open: %v", err)
			}
			return
		}
		var ev etw.Event
		events := int64(0)
		for i := 0; ; i++ {
			if i > 1<<20 {
				t.Fatal("reader does not end")
			}
			err := in.Next(&ev)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("next: %v", err) // no I/O errors from memory
			}
			events++
		}
		st := in.Stats()
		if st.Events != events {
			t.Fatalf("%d events, stats %+v", events, st)
		}
		if st.Skipped < skips.n {
			t.Fatalf("%d reports, stats %+v", skips.n, st)
		}
	})
}

// synthFixture is the synthetic two-chunk EVTX log of etw/evtx's tests
// (its TestSynthFixture keeps this copy current).
func synthFixture(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/synth.evtx")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEvtxGzipped(t *testing.T) {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(synthFixture(t))
	zw.Close()
	in, err := OpenReader(&b, "s.evtx.gz", nil)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := etwtest.ReadAll(t, in)
	if err != nil || len(evs) != 8 || in.Format != FormatEVTX || !in.Gzip {
		t.Errorf("events %d err %v format %v gzip %v", len(evs), err, in.Format, in.Gzip)
	}
}
