package live

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/smsswatch/smsswatch/etw"

	"github.com/smsswatch/smsswatch/etw/live/kernelproc"
)

// The raw records are the kernelproc package's fixtures (one per version
// of each event; see etw/kernelproc/kernelproc_test.go for how they are
// made).
func readKPFixture(t testing.TB, name string) []byte {
	t.Helper()
	text, err := os.ReadFile(filepath.Join("kernelproc", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var digits strings.Builder
	for _, line := range strings.Split(string(text), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		digits.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(digits.String())
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return b
}

func mustTime(t *testing.T, s string) int64 {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("bad time %q: %v", s, err)
	}
	return tm.UnixNano()
}

// eventView renders the known fields of a process event with fixture
// names (numbers as float64, as encoding/json decodes them).
func eventView(ev *etw.Event) map[string]interface{} {
	m := map[string]interface{}{"kind": ev.Kind.String(), "time": etw.TimeOf(ev.Time).Format(time.RFC3339Nano)}
	p := &ev.Proc
	num := func(f etw.Field, name string, v uint32) {
		if ev.Has(f) {
			m[name] = float64(v)
		}
	}
	str := func(f etw.Field, name, v string) {
		if ev.Has(f) {
			m[name] = v
		}
	}
	tm := func(f etw.Field, name string, v int64) {
		if ev.Has(f) {
			m[name] = etw.TimeOf(v).Format(time.RFC3339Nano)
		}
	}
	num(etw.FieldPID, "pid", p.PID)
	num(etw.FieldParentPID, "ppid", p.ParentPID)
	num(etw.FieldCreatorPID, "creator_pid", p.CreatorPID)
	num(etw.FieldSession, "session", p.Session)
	num(etw.FieldExitCode, "exit_code", p.ExitCode)
	str(etw.FieldImage, "image", p.Image)
	str(etw.FieldParentImage, "parent_image", p.ParentImage)
	str(etw.FieldCommandLine, "cmdline", p.CommandLine)
	str(etw.FieldUserSID, "user_sid", p.UserSID)
	str(etw.FieldCreatorSID, "creator_sid", p.CreatorSID)
	str(etw.FieldKey, "key", p.Key)
	str(etw.FieldParentKey, "parent_key", p.ParentKey)
	tm(etw.FieldCreateTime, "create_time", p.CreateTime)
	tm(etw.FieldExitTime, "exit_time", p.ExitTime)
	return m
}

// sidSystem is S-1-5-18 as the SID extended data item carries it.
var sidSystem = []byte{1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0}

const (
	kpHeaderTime = "2026-03-16T00:21:35Z"
	kpCreate     = "2026-03-16T00:21:34.6923341Z"
	kpExit       = "2026-03-16T00:21:35.3Z"
	kpSmss       = `\Device\HarddiskVolume4\Windows\System32\smss.exe`
	kpLogman     = `\Device\HarddiskVolume4\Windows\System32\logman.exe`
)

// TestKPDecodeFixtures decodes the raw record of every version into the
// event model, with the mapping the TDH decoder had (same fields known,
// same values), so nothing downstream changes.
func TestKPDecodeFixtures(t *testing.T) {
	start0 := `{"kind":"start","time":"` + kpHeaderTime + `","pid":612,"ppid":4,"creator_pid":268,"session":0,
		"creator_sid":"S-1-5-18","image":` + jsonQuote(kpSmss) + `,"create_time":"` + kpCreate + `"}`
	start2 := strings.Replace(start0, jsonQuote(kpSmss), jsonQuote(`\Device\HarddiskVolume4\Windows\System32\csrss.exe`), 1)
	start3 := `{"kind":"start","time":"` + kpHeaderTime + `","pid":12824,"ppid":10736,"creator_pid":268,"session":1,
		"creator_sid":"S-1-5-18","key":"11445","parent_key":"11430","image":` + jsonQuote(kpLogman) + `,"create_time":"` + kpCreate + `"}`
	stop0 := `{"kind":"exit","time":"` + kpHeaderTime + `","pid":392,"exit_code":3221225477,"create_time":"` + kpCreate +
		`","exit_time":"` + kpExit + `"}`
	stop2 := strings.Replace(stop0, `"pid":392`, `"pid":392,"key":"77"`, 1)
	run0 := `{"kind":"running","time":"` + kpHeaderTime + `","pid":612,"ppid":4,"session":0,
		"image":` + jsonQuote(`\Device\HarddiskVolume2\Users\Пётр\😀smss.exe`) + `,"create_time":"` + kpCreate + `"}`
	run1 := `{"kind":"running","time":"` + kpHeaderTime + `","pid":12824,"ppid":10736,"session":1,
		"key":"11445","parent_key":"11430","image":` + jsonQuote(kpLogman) + `,"create_time":"` + kpCreate + `"}`
	for _, c := range []struct {
		file    string
		id      uint16
		version uint8
		want    string
	}{
		{"start_v0.hex", 1, 0, start0},
		{"start_v1.hex", 1, 1, start0},
		{"start_v2.hex", 1, 2, start2},
		{"start_v3.hex", 1, 3, start3},
		{"start_v4.hex", 1, 4, start3},
		{"start_v5.hex", 1, 5, start3},
		{"stop_v0.hex", 2, 0, stop0},
		{"stop_v1.hex", 2, 1, stop0},
		{"stop_v2.hex", 2, 2, stop2},
		{"rundown_v0.hex", 15, 0, run0},
		{"rundown_v1.hex", 15, 1, run1},
		{"rundown_v2.hex", 15, 2, run1},
		{"rundown_v3.hex", 15, 3, run1},
	} {
		t.Run(c.file, func(t *testing.T) {
			k := newKPDecoder()
			h := kpHeader{eventID: c.id, version: c.version, flags: kernelproc.HeaderFlag64BitHeader, processID: 268,
				timeStamp: mustTime(t, kpHeaderTime)}
			h.addExt(extTypeSID, sidSystem)
			h.addExt(extTypeTSID, []byte{1, 0, 0, 0})
			var ev etw.Event
			partial, err := k.decode(&h, readKPFixture(t, c.file), "WS1", &ev)
			if err != nil || partial {
				t.Fatalf("decode: %v, partial %v", err, partial)
			}
			if ev.Source != etw.SourceETW || ev.Host != "WS1" {
				t.Errorf("source %v host %q", ev.Source, ev.Host)
			}
			if !h.hasTS || h.terminalSession != 1 {
				t.Errorf("terminal session item not read: %v %d", h.hasTS, h.terminalSession)
			}
			var want map[string]interface{}
			if err := json.Unmarshal([]byte(c.want), &want); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"time", "create_time", "exit_time"} {
				if s, ok := want[k].(string); ok {
					want[k] = etw.TimeOf(mustTime(t, s)).Format(time.RFC3339Nano)
				}
			}
			if got := eventView(&ev); !reflect.DeepEqual(got, want) {
				t.Errorf("\n got  %v\n want %v", got, want)
			}
		})
	}
}

func jsonQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestKPDecodeEdges(t *testing.T) {
	k := newKPDecoder()
	hdr := func(id uint16, v uint8) *kpHeader {
		return &kpHeader{eventID: id, version: v, flags: kernelproc.HeaderFlag64BitHeader, processID: 4, timeStamp: 1700000000000000000}
	}
	var ev etw.Event
	t.Run("truncated", func(t *testing.T) {
		data := readKPFixture(t, "start_v3.hex")
		_, err := k.decode(hdr(1, 3), data[:len(data)-1], "h", &ev)
		if !errors.Is(err, kernelproc.ErrTruncated) {
			t.Errorf("err %v", err)
		}
	})
	t.Run("unknown event", func(t *testing.T) {
		if _, err := k.decode(hdr(3, 0), readKPFixture(t, "start_v0.hex"), "h", &ev); !errors.Is(err, kernelproc.ErrUnknownEvent) {
			t.Errorf("err %v", err)
		}
	})
	t.Run("newer version is partial", func(t *testing.T) {
		data := append(readKPFixture(t, "start_v5.hex"), 7, 7, 7, 7)
		partial, err := k.decode(hdr(1, 6), data, "h", &ev)
		if err != nil || !partial || ev.Proc.PID != 12824 || ev.Proc.Image != kpLogman {
			t.Errorf("partial %v err %v ev %+v", partial, err, ev.Proc)
		}
	})
	t.Run("trailing bytes are partial", func(t *testing.T) {
		partial, err := k.decode(hdr(2, 1), append(readKPFixture(t, "stop_v1.hex"), 0), "h", &ev)
		if err != nil || !partial {
			t.Errorf("partial %v err %v", partial, err)
		}
	})
	t.Run("stop without exit time takes the header time", func(t *testing.T) {
		data := readKPFixture(t, "stop_v0.hex")
		clear(data[12:20]) // ExitTime
		if _, err := k.decode(hdr(2, 0), data, "h", &ev); err != nil {
			t.Fatal(err)
		}
		if !ev.Has(etw.FieldExitTime) || ev.Proc.ExitTime != 1700000000000000000 {
			t.Errorf("exit time %v known %v", ev.Proc.ExitTime, ev.Has(etw.FieldExitTime))
		}
	})
	t.Run("zero sequence numbers and create time are unknown", func(t *testing.T) {
		data := readKPFixture(t, "rundown_v1.hex")
		clear(data[4:20])  // ProcessSequenceNumber, CreateTime
		clear(data[24:32]) // ParentProcessSequenceNumber
		if _, err := k.decode(hdr(15, 1), data, "h", &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Known&(etw.FieldKey|etw.FieldParentKey|etw.FieldCreateTime|etw.FieldCreatorPID|etw.FieldCreatorSID) != 0 {
			t.Errorf("known %b", ev.Known)
		}
	})
	t.Run("malformed or missing SID item", func(t *testing.T) {
		for _, sid := range [][]byte{nil, {1, 1, 0}, {2, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0}} {
			h := hdr(1, 0)
			h.addExt(extTypeSID, sid)
			h.addExt(99, []byte{1, 2, 3})
			h.addExt(extTypeTSID, []byte{1, 2})
			if _, err := k.decode(h, readKPFixture(t, "start_v0.hex"), "h", &ev); err != nil {
				t.Fatal(err)
			}
			if ev.Has(etw.FieldCreatorSID) || h.hasTS {
				t.Errorf("sid % x: creator SID %q, TS %v", sid, ev.Proc.CreatorSID, h.hasTS)
			}
		}
	})
	t.Run("a 32-bit writer", func(t *testing.T) {
		h := hdr(1, 4)
		h.flags = kernelproc.HeaderFlag32BitHeader
		if _, err := k.decode(h, readKPFixture(t, "start_v4.hex"), "h", &ev); err != nil || ev.Proc.PID != 12824 {
			t.Errorf("err %v pid %d", err, ev.Proc.PID)
		}
	})
}

// TestKPDecodeAllocs: decoding a process start into the event model makes
// no allocation per event. Image paths and SIDs come from caches; keys are
// carved from 4 KiB arenas, so distinct sequence numbers cost one chunk
// per ~250 keys (measured exactly below, not rounded away).
func TestKPDecodeAllocs(t *testing.T) {
	k := newKPDecoder()
	data := readKPFixture(t, "start_v4.hex")
	h := kpHeader{eventID: 1, version: 4, flags: kernelproc.HeaderFlag64BitHeader, processID: 268, timeStamp: 1}
	h.addExt(extTypeSID, sidSystem)
	var ev etw.Event
	if _, err := k.decode(&h, data, "WS1", &ev); err != nil {
		t.Fatal(err)
	}
	// Same record again: nothing at all.
	if n := testing.AllocsPerRun(500, func() { _, _ = k.decode(&h, data, "WS1", &ev) }); n != 0 {
		t.Errorf("repeated decode: %.2f allocations", n)
	}
	// Distinct sequence numbers, as on a real host.
	const runs = 20000
	seq := uint64(1_000_000_000)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < runs; i++ {
		seq++
		putUint64(data[4:], seq)
		putUint64(data[24:], seq-1)
		if _, err := k.decode(&h, data, "WS1", &ev); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	mallocs := after.Mallocs - before.Mallocs
	// Two 10-digit keys an event: 2*10 bytes, 4096/20 = 204 events a chunk.
	if limit := uint64(runs/150 + 10); mallocs > limit {
		t.Errorf("%d allocations for %d decodes (limit %d)", mallocs, runs, limit)
	}
	t.Logf("%d allocations for %d decodes with distinct keys (%.4f an event)", mallocs, runs, float64(mallocs)/runs)
}

func putUint64(b []byte, v uint64) {
	for i := 0; i < 8; i++ {
		b[i] = byte(v >> (8 * i))
	}
}

// TestKPKeyArena: carved keys stay intact when the arena moves on.
func TestKPKeyArena(t *testing.T) {
	k := newKPDecoder()
	var keys []string
	for v := uint64(0); v < 2000; v++ {
		keys = append(keys, k.key(v*1_000_003))
	}
	for i, s := range keys {
		if want := uitoa(uint64(i) * 1_000_003); s != want {
			t.Fatalf("key %d = %q, want %q", i, s, want)
		}
	}
	if k.key(18446744073709551615) != "18446744073709551615" || k.key(0) != "0" {
		t.Error("extremes")
	}
}

func uitoa(v uint64) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestKPCaches: the caches are bounded.
func TestKPCaches(t *testing.T) {
	k := newKPDecoder()
	for i := 0; i < maxImageCache+10; i++ {
		k.image([]byte(uitoa(uint64(i))))
	}
	if len(k.images) > maxImageCache || k.image([]byte("x")) != "x" {
		t.Errorf("image cache %d entries", len(k.images))
	}
	for i := 0; i < maxSIDCache+10; i++ {
		k.sidString([]byte{1, 1, 0, 0, 0, 0, 0, 5, byte(i), byte(i >> 8), 0, 0})
	}
	if len(k.sids) > maxSIDCache {
		t.Errorf("SID cache %d entries", len(k.sids))
	}
}

func TestWantKernelProcessEvent(t *testing.T) {
	for id := uint16(0); id < 100; id++ {
		want := id == 1 || id == 2 || id == 15
		if wantKernelProcessEvent(id) != want {
			t.Errorf("wantKernelProcessEvent(%d) = %v", id, !want)
		}
	}
}

func TestFiletimeToUnixNano(t *testing.T) {
	for _, c := range []struct {
		ft   uint64
		want int64
		ok   bool
	}{
		{134180940946923341, time.Date(2026, 3, 16, 0, 21, 34, 692334100, time.UTC).UnixNano(), true},
		{116444736000000001, 100, true},
		{116444736000000000, 0, false},
		{0, 0, false},
		{1<<64 - 1, 0, false},
	} {
		got, ok := filetimeToUnixNano(c.ft)
		if got != c.want || ok != c.ok {
			t.Errorf("filetimeToUnixNano(%d) = %d, %v; want %d, %v", c.ft, got, ok, c.want, c.ok)
		}
	}
}

// FuzzKPDecode: any record bytes decode into a consistent event or fail
// with a kernelproc error; never a panic.
func FuzzKPDecode(f *testing.F) {
	for _, c := range []struct {
		file    string
		id      uint16
		version uint8
	}{{"start_v0.hex", 1, 0}, {"start_v4.hex", 1, 4}, {"stop_v2.hex", 2, 2}, {"rundown_v0.hex", 15, 0}} {
		f.Add(c.id, c.version, uint16(0x40), readKPFixture(f, c.file), []byte{1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0})
	}
	f.Fuzz(func(t *testing.T, id uint16, version uint8, flags uint16, data, sid []byte) {
		k := newKPDecoder()
		h := kpHeader{eventID: id, version: version, flags: flags, processID: 7, timeStamp: 1700000000000000000}
		h.addExt(extTypeSID, sid)
		var ev etw.Event
		_, err := k.decode(&h, data, "h", &ev)
		if err != nil {
			var e *kernelproc.Error
			if !errors.As(err, &e) && !errors.Is(err, errKPNoImage) {
				t.Fatalf("error %T %v", err, err)
			}
			return
		}
		if !wantKernelProcessEvent(id) || !ev.Has(etw.FieldPID) || ev.Time != h.timeStamp || ev.Source != etw.SourceETW {
			t.Fatalf("bad event %+v for id %d", ev, id)
		}
		switch ev.Kind {
		case etw.KindStart:
			if !ev.Has(etw.FieldCreatorPID) || ev.Proc.CreatorPID != 7 {
				t.Fatal("start without creator")
			}
		case etw.KindExit:
			if ev.Known&(etw.FieldImage|etw.FieldParentPID|etw.FieldCreatorPID) != 0 || !ev.Has(etw.FieldExitTime) {
				t.Fatalf("exit fields %b", ev.Known)
			}
		case etw.KindRunning:
			if ev.Known&(etw.FieldCreatorPID|etw.FieldCreatorSID) != 0 {
				t.Fatal("rundown with a creator")
			}
		default:
			t.Fatalf("kind %v", ev.Kind)
		}
		if ev.Has(etw.FieldKey) && (ev.Proc.Key == "" || !isDigits(ev.Proc.Key) || ev.Proc.Key == "0") {
			t.Fatalf("key %q", ev.Proc.Key)
		}
		if ev.Has(etw.FieldCreatorSID) && !strings.HasPrefix(ev.Proc.CreatorSID, "S-1-") {
			t.Fatalf("creator SID %q", ev.Proc.CreatorSID)
		}
	})
}
