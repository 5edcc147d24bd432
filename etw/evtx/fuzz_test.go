package evtx

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/smsswatch/smsswatch/etw"
	"github.com/smsswatch/smsswatch/etw/internal/etwtest"
)

// fuzzChunkFile builds a file whose single chunk holds a valid record
// (defining the template), a record whose binary XML is xml, and another
// valid record instantiating the same template.
func fuzzChunkFile(xml []byte) []byte {
	smss := `C:\Windows\System32\smss.exe`
	if len(xml) > 60000 {
		xml = xml[:60000]
	}
	return buildEvtx([]synthRecord{
		synthStart(1, 300, 4, smss, "a", synthT0),
		{id: 2, rawXML: func(*chunkWriter) []byte { return xml }},
		synthStart(3, 388, 300, smss, "b", synthT0.Add(time.Second)),
	})
}

// runEvtx reads a whole EVTX input and checks the events and the time it
// took.
func runEvtx(t *testing.T, data []byte) []etw.Event {
	t.Helper()
	start := time.Now()
	// A hang must become a crash the fuzzer records, not a stall.
	watchdog := time.AfterFunc(20*time.Second, func() { panic("EVTX input still being read after 20s") })
	defer watchdog.Stop()
	r := NewReader(bytes.NewReader(data), "f.evtx", nil)
	var evs []etw.Event
	for i := 0; i < 10000; i++ {
		var ev etw.Event
		if err := r.Next(&ev); err != nil {
			break
		}
		etwtest.CheckEvent(t, &ev)
		evs = append(evs, ev)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %v", d)
	}
	return evs
}

// FuzzEvtxRecord fuzzes the EVTX record path (binary XML checker, library
// parse, record mapper) with the binary XML of one record between two
// valid ones.
func FuzzEvtxRecord(f *testing.F) {
	w := newChunkWriter()
	w.add(synthStart(1, 300, 4, "x", "a", synthT0))
	for _, b := range evtxBombs {
		f.Add(b.build(w))
	}
	valid := newChunkWriter()
	valid.recordXML(synthStart(2, 388, 300, "y", "b", synthT0))
	f.Add(valid.buf[evtxChunkHeader:])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, xml []byte) {
		evs := runEvtx(t, fuzzChunkFile(xml))
		if len(evs) == 0 || evs[0].Proc.PID != 300 {
			t.Fatalf("the record before the fuzzed one was lost: %+v", evs)
		}
		if len(evs) > 3 {
			t.Fatalf("%d events from 3 records", len(evs))
		}
	})
}

// FuzzEvtxChunk fuzzes the record walk: the bytes after a valid chunk
// header, records and all.
func FuzzEvtxChunk(f *testing.F) {
	good := synthFile()
	f.Add(good[0x1000+evtxChunkHeader : 0x1000+evtxChunkSize])
	f.Add(fuzzChunkFile([]byte{0x0F, 1, 1, 0, 0x0C, 1, 0xff, 0xff, 0xff, 0xff})[0x1000+evtxChunkHeader:])
	f.Add([]byte("**\x00\x00\x1c\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, body []byte) {
		file := bytes.Clone(good[:0x1000+evtxChunkSize])
		chunk := file[0x1000:]
		n := copy(chunk[evtxChunkHeader:], body)
		clear(chunk[evtxChunkHeader+n:])
		binary.LittleEndian.PutUint32(chunk[0x30:], uint32(evtxChunkHeader+n))
		signChunk(chunk) // past the checksums, to the walk
		runEvtx(t, file)
		// And cut short anywhere.
		if len(body) > 0 {
			runEvtx(t, file[:0x1000+evtxChunkHeader+int(body[0])*len(body)/256])
		}
	})
}

// FuzzEvtxDamage damages the synthetic file at fuzzed places (each 5 bytes
// of input: a little-endian offset and a byte to XOR there), checksums
// left as they were: every read must give the original events or report
// damage, and never an event the original does not hold; damaged in one
// place, it must count every record it does not read.
func FuzzEvtxDamage(f *testing.F) {
	good := synthFile()
	orig := readEvtxRun(f, good)
	f.Add([]byte{0x28, 0, 0, 0, 0x08})                      // file header block size
	f.Add([]byte{0x10, 0x10, 0, 0, 0xff})                   // chunk 0 last record number
	f.Add([]byte{0x00, 0x12, 0, 0, 0x01})                   // a record's magic
	f.Add([]byte{0x2A, 0, 0, 0, 0x01, 0x7C, 0, 0, 0, 0x55}) // chunk count, and its checksum
	// A chunk's no-CRC flag (not covered by its checksum) and a record
	// byte: the flag must not switch the check off.
	f.Add([]byte{0x78, 0x10, 0, 0, 0x04, 0x94, 0x18, 0, 0, 0x20}) // the S of an smss.exe path
	f.Add([]byte{0x78, 0, 0, 0, 0x04, 0x2A, 0, 0, 0, 0x01})       // the file's no-CRC flag and its chunk count
	f.Fuzz(func(t *testing.T, edits []byte) {
		data := bytes.Clone(good)
		places := map[int]bool{}
		for ; len(edits) >= 5; edits = edits[5:] {
			off := int(binary.LittleEndian.Uint32(edits) % uint32(len(data)))
			data[off] ^= edits[4]
			places[off/8] = true
		}
		// Damage in several places can hide records from the loss
		// count (a damaged header and a damaged record); one cannot.
		checkMutant(t, "fuzzed", orig, data, len(places) <= 1)
	})
}
