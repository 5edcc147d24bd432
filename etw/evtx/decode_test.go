package evtx

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smsswatch/smsswatch/etw/internal/etwtest"
	"github.com/smsswatch/smsswatch/etw/winlog"
)

// decodeDiff is what diffDecoder found.
type decodeDiff struct {
	compared int // records compared
	chunks   int // chunks decoded and compared
	declined int // chunks the decoder declined
}

// diffDecoder reads data with the library's parse (decoder off) and, for
// every chunk that gave records, runs the decoder on the same chunk
// buffer (blanked as the library saw it) and the same walk: each record's
// winlog.Record must be exactly what fillEvtx fills from the library's
// tree (every slot, the arena, IDKind), and fillEvtx's verdict the same.
func diffDecoder(t testing.TB, data []byte, fullParse bool) decodeDiff {
	t.Helper()
	r := NewReader(bytes.NewReader(data), "d.evtx", nil)
	r.noDecode, r.fullParse = true, fullParse
	r.started = true
	var got decodeDiff
	if err := r.readHeader(); err != nil {
		return got
	}
	var dec decoder
	for !r.done {
		if err := r.nextChunk(); err != nil {
			break
		}
		if len(r.ids) == 0 {
			continue
		}
		var drecs []decRecord // fresh records: nil arenas, as a fresh lib one
		if !dec.decodeChunk(r.buf, r.walk, r.fullParse, &drecs) {
			got.declined++
			continue
		}
		got.chunks++
		if len(drecs) != len(r.records) {
			t.Fatalf("chunk %d: decoder gave %d records, the library %d", r.chunkNo-1, len(drecs), len(r.records))
		}
		for i, rec := range r.records {
			var lib winlog.Record
			ok := rec != nil && fillSafely(&lib, rec.Event)
			if ok != drecs[i].ok || !reflect.DeepEqual(lib, drecs[i].rec) {
				t.Errorf("chunk %d record %d: decoder (ok %v)\n%#v\nlibrary (ok %v)\n%#v\ntree %v",
					r.chunkNo-1, r.ids[i], drecs[i].ok, drecs[i].rec, ok, lib, rec.Event)
			}
			got.compared++
		}
	}
	return got
}

// fillSafely is fillEvtx as mapRecordAny calls it: a panic is not a
// record.
func fillSafely(r *winlog.Record, tree any) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return fillEvtx(r, tree)
}

// decodeRun is one full read of an input by the Reader, decoder on or
// off, and the decoder's chunk counts.
type decodeRun struct {
	evtxRun
	decoded, declined int64
}

func readDecodeRun(t testing.TB, data []byte, noDecode, fullParse bool) decodeRun {
	t.Helper()
	run, r := readEvtxWith(t, data, func(r *Reader) { r.noDecode, r.fullParse = noDecode, fullParse })
	return decodeRun{evtxRun: run, decoded: r.dec.chunks, declined: r.dec.declined}
}

// checkDecoderOnOff fails unless the Reader gives exactly the same
// events, skip reports, counters and error with the decoder on and off
// (filter on and off). It returns the decoder-on run with the filter.
func checkDecoderOnOff(t *testing.T, data []byte) decodeRun {
	t.Helper()
	var first decodeRun
	for _, full := range []bool{false, true} {
		on, off := readDecodeRun(t, data, false, full), readDecodeRun(t, data, true, full)
		if off.decoded != 0 || off.declined != 0 {
			t.Fatalf("decoder off, yet it ran: %d decoded, %d declined", off.decoded, off.declined)
		}
		if !reflect.DeepEqual(on.evtxRun, off.evtxRun) {
			t.Fatalf("fullParse %v: decoder on differs from off:\non:  %d events, stats %+v, skips %q, err %v\noff: %d events, stats %+v, skips %q, err %v",
				full, len(on.events), on.stats, on.skips, on.err, len(off.events), off.stats, off.skips, off.err)
		}
		if !full {
			first = on
		}
	}
	return first
}

// TestDecoderCorpus decodes every record of every corpus EVTX capture:
// each equals what the library's tree gives, the Reader's output is the
// same with the decoder on and off, and no chunk is declined (so the
// decoder, not the library, did read them).
func TestDecoderCorpus(t *testing.T) {
	for _, name := range corpusEvtx {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(etwtest.CorpusFile(t, name))
			if err != nil {
				t.Fatal(err)
			}
			for _, full := range []bool{false, true} {
				d := diffDecoder(t, data, full)
				if d.declined != 0 || d.compared == 0 {
					t.Errorf("fullParse %v: %+v", full, d)
				}
				t.Logf("fullParse %v: %d records compared in %d chunks, %d declined", full, d.compared, d.chunks, d.declined)
			}
			run := checkDecoderOnOff(t, data)
			if run.declined != 0 || run.decoded == 0 || len(run.events) == 0 {
				t.Errorf("decoded %d chunks, declined %d, %d events", run.decoded, run.declined, len(run.events))
			}
		})
	}
}

// rawRecord is a record whose binary XML build writes into w at its
// offset in the chunk (names inline), returned as rawXML wants it.
func rawRecord(id uint64, build func(w *chunkWriter)) synthRecord {
	return synthRecord{id: id, rawXML: func(w *chunkWriter) []byte {
		start := len(w.buf)
		build(w)
		b := bytes.Clone(w.buf[start:])
		w.buf = w.buf[:start]
		return b
	}}
}

// instanceOf writes a template instance defining template tid inline
// with the given body (its end token included by body), then the
// arguments.
func instanceOf(w *chunkWriter, tid uint32, body func(w *chunkWriter), types []byte, args [][]byte) {
	w.buf = append(w.buf, 0x0F, 0x01, 0x01, 0x00, 0x0C, 0x01)
	w.u32(tid)
	w.u32(uint32(len(w.buf) + 4))
	w.u32(0)                                   // next template
	w.buf = append(w.buf, make([]byte, 16)...) // GUID
	lenAt := len(w.buf)
	w.u32(0)
	start := len(w.buf)
	body(w)
	binary.LittleEndian.PutUint32(w.buf[lenAt:], uint32(len(w.buf)-start))
	w.u32(uint32(len(args)))
	for i, a := range args {
		w.u16(uint16(len(a)))
		w.u8(types[i])
		w.u8(0)
	}
	for _, a := range args {
		w.buf = append(w.buf, a...)
	}
	w.u8(0x00)
}

// sysmonBody writes an Event template of Sysmon's System part (args 0-5
// as templateBody, but with no EventRecordID element: argument 3 is not
// referenced), then data(w) inside Event after System.
func sysmonBody(data func(w *chunkWriter)) func(w *chunkWriter) {
	return func(w *chunkWriter) {
		w.eventSystem(false)
		data(w)
		w.u8(0x04) // </Event>
		w.u8(0x00)
	}
}

// sysArgs are the System arguments of a Sysmon process creation.
func sysArgs() ([]byte, [][]byte) {
	return []byte{bxString, bxUint16, bxFileTime, bxUint64, bxString, bxString},
		[][]byte{utf16le("Microsoft-Windows-Sysmon"), argBytes(bxUint16, uint16(1)), argBytes(bxFileTime, synthT0),
			argBytes(bxUint64, uint64(7)), utf16le(winlog.SysmonChannel), utf16le(synthHost)}
}

// dataElem writes <Data Name="name">%id%</Data>.
func dataElem(w *chunkWriter, name string, id uint16, typ byte) {
	w.open("Data", true)
	w.u8(0x06)
	w.name("Name")
	w.text(name)
	w.u8(0x02)
	w.subst(id, typ)
	w.u8(0x04)
}

// eventData writes an EventData element of Data elements named names,
// substitutions 6.. of types.
func eventData(names []string, types []byte) func(w *chunkWriter) {
	return func(w *chunkWriter) {
		w.open("EventData", false)
		w.u8(0x02)
		for i, n := range names {
			dataElem(w, n, uint16(6+i), types[i])
		}
		w.u8(0x04)
	}
}

// decodeCase is a chunk's middle record, between two valid Sysmon
// process creations.
type decodeCase struct {
	name    string
	rec     synthRecord
	decline bool // the decoder must decline the chunk
}

func decodeCases() []decodeCase {
	oddTypes := []byte{bxString, 0x0F, bxSID, 0x81, 0x27, 0x30, 0x0D, 0x0E, bxUint64, 0x04, bxFileTime, bxHex32}
	oddNames := []string{"Image", "ProcessGuid", "User", "CommandLine", "Details", "TargetObject", "EventType", "NewName", "ProcessId", "TerminalSessionId", "UtcTime", "ParentProcessId"}
	guid := []byte{0x78, 0x56, 0x34, 0x12, 0xBC, 0x9A, 0xF0, 0xDE, 1, 2, 3, 4, 5, 6, 7, 0xAB}
	withSys := func(types []byte, args ...[]byte) ([]byte, [][]byte) {
		st, sa := sysArgs()
		return append(st, types...), append(sa, args...)
	}
	return []decodeCase{
		{name: "typed values", rec: rawRecord(2, func(w *chunkWriter) {
			types, args := withSys(oddTypes,
				[]byte("abc"), // odd length: raw bytes
				guid, sidBytes("S-1-5-21-1-2-3-500"),
				utf16le("one\x00two\x00 three\x00"), []byte("ansi\x00"), []byte("unk\x00\x00"),
				[]byte{1, 0, 0, 0}, []byte{9, 9}, argBytes(bxUint64, uint64(1<<40)), []byte{7},
				argBytes(bxFileTime, synthT0), argBytes(bxHex32, uint32(0x10)))
			instanceOf(w, 0x5000, sysmonBody(eventData(oddNames, oddTypes)), types, args)
		})},
		{name: "bad UTF-16 and short GUID", rec: rawRecord(2, func(w *chunkWriter) {
			types, args := withSys([]byte{bxString, 0x0F, bxString},
				[]byte{0x00, 0xD8, 'a', 0, 0x00, 0xDC, 0x3D, 0xD8, 0x00, 0xDE, 0, 0}, []byte{1, 2, 3}, nil)
			instanceOf(w, 0x5001, sysmonBody(eventData([]string{"Image", "ProcessGuid", "CommandLine"}, types[6:])), types, args)
		})},
		{name: "empty element takes argument 0", rec: rawRecord(2, func(w *chunkWriter) {
			types, args := withSys([]byte{bxString}, utf16le(`C:\x.exe`))
			instanceOf(w, 0x5002, sysmonBody(func(w *chunkWriter) {
				w.open("EventData", false)
				w.u8(0x02)
				w.open("Image", false)
				w.u8(0x03) // <Image/>: no content, so argument 0
				dataElem(w, "CommandLine", 6, bxString)
				w.u8(0x04)
			}), types, args)
		})},
		{name: "unnamed Data stays an array", rec: rawRecord(2, func(w *chunkWriter) {
			types, args := withSys([]byte{bxString, bxUint32}, utf16le("x"), argBytes(bxUint32, uint32(5)))
			instanceOf(w, 0x5003, sysmonBody(func(w *chunkWriter) {
				w.open("EventData", false)
				w.u8(0x02)
				dataElem(w, "Image", 6, bxString)
				w.open("Data", false)
				w.u8(0x02)
				w.subst(7, bxUint32)
				w.u8(0x04)
				w.u8(0x04)
			}), types, args)
		})},
		{name: "one named Data", rec: rawRecord(2, func(w *chunkWriter) {
			types, args := withSys([]byte{bxUint32}, argBytes(bxUint32, uint32(42)))
			instanceOf(w, 0x5004, sysmonBody(eventData([]string{"ProcessId"}, types[6:])), types, args)
		})},
		{name: "repeated names and absent values", rec: rawRecord(2, func(w *chunkWriter) {
			types, args := withSys([]byte{bxString, bxString, 0x00, bxString}, utf16le("a"), utf16le("b"), nil, utf16le("c"))
			instanceOf(w, 0x5005, sysmonBody(eventData([]string{"Image", "CommandLine", "User", "Image"}, types[6:])), types, args)
		})},
		{name: "absent value stops normalizing", rec: rawRecord(2, func(w *chunkWriter) {
			types, args := withSys([]byte{bxString, 0x00}, utf16le("a"), nil)
			types[len(types)-1] = 0x00
			instanceOf(w, 0x5006, sysmonBody(eventData([]string{"Image", "User"}, []byte{bxString, bxString})), types, args)
		})},
		{name: "EventData merged from a BinXml argument", rec: rawRecord(2, func(w *chunkWriter) {
			// The System template's argument 6 is binary XML holding an
			// instance of an EventData template (Sysmon's own layout).
			st, sa := sysArgs()
			types := append(st, 0x21)
			w.buf = append(w.buf, 0x0F, 0x01, 0x01, 0x00, 0x0C, 0x01)
			w.u32(0x5007)
			w.u32(uint32(len(w.buf) + 4))
			w.u32(0)
			w.buf = append(w.buf, make([]byte, 16)...)
			lenAt := len(w.buf)
			w.u32(0)
			start := len(w.buf)
			sysmonBody(func(w *chunkWriter) { w.subst(6, 0x21) })(w)
			binary.LittleEndian.PutUint32(w.buf[lenAt:], uint32(len(w.buf)-start))
			w.u32(uint32(len(types)))
			descAt := len(w.buf)
			for i, ty := range types {
				if i < len(sa) {
					w.u16(uint16(len(sa[i])))
				} else {
					w.u16(0) // patched below
				}
				w.u8(ty)
				w.u8(0)
			}
			for _, a := range sa {
				w.buf = append(w.buf, a...)
			}
			argStart := len(w.buf)
			instanceOf(w, 0x5008, func(w *chunkWriter) {
				eventData([]string{"Image", "ProcessId"}, []byte{bxString, bxUint32})(w)
				w.u8(0x00)
			}, []byte{0, 0, 0, 0, 0, 0, bxString, bxUint32},
				[][]byte{nil, nil, nil, nil, nil, nil, utf16le(`C:\nested.exe`), argBytes(bxUint32, uint32(77))})
			binary.LittleEndian.PutUint16(w.buf[descAt+4*6:], uint16(len(w.buf)-argStart))
			w.u8(0x00)
		})},
		{name: "attribute mode carried to the next record", rec: rawRecord(2, func(w *chunkWriter) {
			w.buf = append(w.buf, 0x0F, 0x01, 0x01, 0x00)
			w.u8(0x06)
			w.name("Stray")
			w.u8(0x00)
		})},
		{name: "unknown token ends the record", rec: rawRecord(2, func(w *chunkWriter) {
			w.buf = append(w.buf, 0x0F, 0x01, 0x01, 0x00, 0x1F, 0x0C)
		})},
		{name: "instance in a template body", decline: true, rec: rawRecord(2, func(w *chunkWriter) {
			types, args := withSys(nil)
			instanceOf(w, 0x5010, sysmonBody(func(w *chunkWriter) {
				instanceOf(w, 0x5011, func(w *chunkWriter) { w.open("X", false); w.u8(0x03); w.u8(0) }, nil, nil)
			}), types, args)
		})},
		{name: "template of a lone substitution", decline: true, rec: rawRecord(2, func(w *chunkWriter) {
			instanceOf(w, 0x5012, func(w *chunkWriter) { w.subst(0, bxString); w.u8(0) }, []byte{bxString}, [][]byte{utf16le("x")})
		})},
		{name: "empty template", decline: true, rec: rawRecord(2, func(w *chunkWriter) {
			instanceOf(w, 0x5013, func(w *chunkWriter) { w.u8(0) }, []byte{bxString}, [][]byte{utf16le("x")})
		})},
		{name: "element closed past the root", decline: true, rec: rawRecord(2, func(w *chunkWriter) {
			types, args := withSys(nil)
			instanceOf(w, 0x5014, sysmonBody(func(w *chunkWriter) { w.u8(0x04); w.u8(0x04) }), types, args)
		})},
	}
}

// TestDecoderCases decodes records of unusual shapes and types: the
// decoder gives what the library's tree gives, or declines the chunk
// when the case says so, and the Reader's output is the same either way.
func TestDecoderCases(t *testing.T) {
	smss := `C:\Windows\System32\smss.exe`
	for _, c := range decodeCases() {
		t.Run(c.name, func(t *testing.T) {
			data := buildEvtx([]synthRecord{
				synthStart(1, 300, 4, smss, "a", synthT0),
				c.rec,
				synthStart(3, 388, 300, smss, "b", synthT0.Add(time.Second)),
			})
			d := diffDecoder(t, data, true)
			if wantDecl := map[bool]int{true: 1, false: 0}[c.decline]; d.declined != wantDecl || d.chunks != 1-wantDecl {
				t.Errorf("%+v, want %d declined", d, wantDecl)
			}
			run := checkDecoderOnOff(t, data)
			if len(run.events) < 2 {
				t.Errorf("%d events", len(run.events))
			}
			t.Logf("%d events, skips %q", len(run.events), run.skips)
		})
	}
}

// TestDecoderSynthFile: the test writer's two-chunk log, and the hostile
// records of TestEvtxHostileRecords.
func TestDecoderSynthFile(t *testing.T) {
	d := diffDecoder(t, synthFile(), true)
	if d.declined != 0 || d.chunks != 2 {
		t.Errorf("%+v", d)
	}
	checkDecoderOnOff(t, synthFile())
	for _, bomb := range evtxBombs {
		t.Run(bomb.name, func(t *testing.T) {
			smss := `C:\Windows\System32\smss.exe`
			data := buildEvtx([]synthRecord{
				synthStart(1, 300, 4, smss, "a", synthT0),
				{id: 2, rawXML: bomb.build},
				synthStart(3, 388, 300, smss, "b", synthT0.Add(time.Second)),
			})
			diffDecoder(t, data, true)
			checkDecoderOnOff(t, data)
		})
	}
}

// TestDecoderAllocs: decoding a chunk again allocates nothing.
func TestDecoderAllocs(t *testing.T) {
	data, err := os.ReadFile(etwtest.CorpusFile(t, "privesc_unquoted_svc_sysmon_1_11.evtx"))
	if err != nil {
		t.Fatal(err)
	}
	r := NewReader(bytes.NewReader(data), "a.evtx", nil)
	r.noDecode = true
	r.started = true
	if err := r.readHeader(); err != nil {
		t.Fatal(err)
	}
	if err := r.nextChunk(); err != nil || len(r.ids) == 0 {
		t.Fatalf("no chunk: %v", err)
	}
	var drecs []decRecord
	if !r.dec.decodeChunk(r.buf, r.walk, false, &drecs) {
		t.Fatal(r.dec.lastDecline)
	}
	if n := testing.AllocsPerRun(20, func() { r.dec.decodeChunk(r.buf, r.walk, false, &drecs) }); n != 0 {
		t.Errorf("%.1f allocations per chunk", n)
	}
}

// fuzzSeeds reads the inputs of another fuzz target's corpus
// (testdata/fuzz/name, "go test fuzz v1" files of one []byte).
func fuzzSeeds(t testing.TB, name string) [][]byte {
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", name, "*"))
	if err != nil {
		t.Fatal(err)
	}
	var seeds [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<22)
		for sc.Scan() {
			line := sc.Text()
			if q, ok := strings.CutPrefix(line, "[]byte("); ok {
				s, err := strconv.Unquote(strings.TrimSuffix(q, ")"))
				if err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				seeds = append(seeds, []byte(s))
			}
		}
	}
	if len(seeds) == 0 {
		t.Fatalf("no seeds in testdata/fuzz/%s", name)
	}
	return seeds
}

// FuzzEvtxDecode is the decoder's differential fuzz target: the bytes
// after a valid chunk header (as FuzzEvtxChunk, whose corpus seeds it).
// When the decoder accepts the chunk, each record must be what the
// library's tree gives; either way the Reader's output must be the same
// with the decoder on and off.
func FuzzEvtxDecode(f *testing.F) {
	for _, s := range fuzzSeeds(f, "FuzzEvtxChunk") {
		f.Add(s)
	}
	good := synthFile()
	f.Add(good[0x1000+evtxChunkHeader : 0x1000+evtxChunkSize])
	for _, c := range decodeCases() {
		data := buildEvtx([]synthRecord{synthStart(1, 300, 4, "x", "a", synthT0), c.rec})
		f.Add(data[0x1000+evtxChunkHeader : 0x1000+evtxChunkSize])
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		file := bytes.Clone(good[:0x1000+evtxChunkSize])
		chunk := file[0x1000:]
		n := copy(chunk[evtxChunkHeader:], body)
		clear(chunk[evtxChunkHeader+n:])
		binary.LittleEndian.PutUint32(chunk[0x30:], uint32(evtxChunkHeader+n))
		signChunk(chunk)
		watchdog := time.AfterFunc(20*time.Second, func() { panic("EVTX input still being read after 20s") })
		defer watchdog.Stop()
		for _, full := range []bool{false, true} {
			diffDecoder(t, file, full)
			on, off := readDecodeRun(t, file, false, full), readDecodeRun(t, file, true, full)
			if !reflect.DeepEqual(on.evtxRun, off.evtxRun) {
				t.Fatalf("fullParse %v: decoder on differs from off:\non:  %s\noff: %s", full, summary(on.evtxRun), summary(off.evtxRun))
			}
		}
	})
}

func summary(r evtxRun) string {
	return fmt.Sprintf("%d events %+v, stats %+v, skips %q, err %v", len(r.events), r.events, r.stats, r.skips, r.err)
}

// TestDecoderMutation damages the records of a chunk (the checksums then
// set again, so that the damage reaches the record walk, the checker and
// the parsers): for every mutant the decoder, when it accepts the chunk,
// gives what the library's tree gives, and the Reader's output is the
// same with the decoder on and off. It counts the mutants the decoder
// accepted.
func TestDecoderMutation(t *testing.T) {
	n := 40
	if testing.Short() {
		n = 8
	}
	if v, err := strconv.Atoi(os.Getenv("EVTX_DECODE_MUTANTS")); err == nil && v > 0 {
		n = v // a longer run
	}
	rng := rand.New(rand.NewPCG(14, 35))
	for _, name := range append([]string{"synth"}, corpusEvtx...) {
		t.Run(name, func(t *testing.T) {
			data := synthFile()
			if name != "synth" {
				var err error
				if data, err = os.ReadFile(etwtest.CorpusFile(t, name)); err != nil {
					t.Fatal(err)
				}
			}
			// The first chunk.
			file := bytes.Clone(data[:0x1000+evtxChunkSize])
			fso := int(binary.LittleEndian.Uint32(file[0x1000+0x30:]))
			var accepted, reads int
			for range n {
				m := bytes.Clone(file)
				for range 1 + rng.IntN(3) {
					p := 0x1000 + evtxChunkHeader + rng.IntN(fso-evtxChunkHeader)
					if rng.IntN(2) == 0 {
						m[p] ^= 1 << rng.IntN(8)
					} else {
						m[p] = byte(rng.IntN(256))
					}
				}
				signChunk(m[0x1000:])
				for _, full := range []bool{false, true} {
					d := diffDecoder(t, m, full)
					accepted, reads = accepted+d.chunks, reads+d.chunks+d.declined
					on, off := readDecodeRun(t, m, false, full), readDecodeRun(t, m, true, full)
					if !reflect.DeepEqual(on.evtxRun, off.evtxRun) {
						t.Fatalf("fullParse %v: decoder on differs from off:\non:  %s\noff: %s", full, summary(on.evtxRun), summary(off.evtxRun))
					}
				}
			}
			t.Logf("%d mutants: the decoder accepted %d of the %d chunk parses that gave records", n, accepted, reads)
		})
	}
}
