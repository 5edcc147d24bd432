package evtx

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strings"
	"time"
	"unicode/utf16"
)

// A small EVTX writer for tests: it produces files the way the Windows
// event log service lays them out (file header, 64 KiB chunks, records
// whose binary XML instantiates a template defined inline at its first use
// in a chunk), enough for the library to parse them as it parses real
// files. Values are typed as Windows types them: strings UTF-16, PIDs
// uint32 (Sysmon) or HexInt64 (Security), times FILETIME, SIDs binary.

// Binary XML value types.
const (
	bxString   = 0x01
	bxUint16   = 0x06
	bxUint32   = 0x08
	bxUint64   = 0x0A
	bxFileTime = 0x11
	bxSID      = 0x13
	bxHex32    = 0x14
	bxHex64    = 0x15
)

// synthField is one EventData member.
type synthField struct {
	name string
	typ  byte
	val  any // string, uint32, uint64, time.Time, or a SID string
}

// synthRecord is one event record.
type synthRecord struct {
	id       uint64
	provider string
	channel  string
	computer string
	eventID  uint16
	created  time.Time
	data     []synthField
	// rawXML, when set, replaces the record's binary XML (for damaged
	// records).
	rawXML func(w *chunkWriter) []byte
}

// chunkWriter builds one chunk; names and templates are written at their
// chunk offsets, so it tracks where the bytes will land.
type chunkWriter struct {
	buf       []byte
	templates map[string][2]uint32 // signature -> (id, definition offset)
}

func newChunkWriter() *chunkWriter {
	return &chunkWriter{buf: make([]byte, evtxChunkHeader, evtxChunkSize), templates: map[string][2]uint32{}}
}

func (w *chunkWriter) u8(v byte)    { w.buf = append(w.buf, v) }
func (w *chunkWriter) u16(v uint16) { w.buf = binary.LittleEndian.AppendUint16(w.buf, v) }
func (w *chunkWriter) u32(v uint32) { w.buf = binary.LittleEndian.AppendUint32(w.buf, v) }
func (w *chunkWriter) u64(v uint64) { w.buf = binary.LittleEndian.AppendUint64(w.buf, v) }

func utf16le(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return b
}

// name writes an inline name at the current offset.
func (w *chunkWriter) name(s string) {
	w.u32(uint32(len(w.buf) + 4)) // the name follows: inline
	w.u32(0)                      // next name offset
	w.u16(0)                      // hash
	w.u16(uint16(len(utf16.Encode([]rune(s)))))
	w.buf = append(w.buf, utf16le(s)...)
	w.u16(0)
}

func (w *chunkWriter) open(name string, attrs bool) {
	if attrs {
		w.u8(0x41)
	} else {
		w.u8(0x01)
	}
	w.u16(0) // dependency
	w.u32(0) // data size (ignored by readers)
	w.name(name)
	if attrs {
		w.u32(0) // attribute list size
	}
}

func (w *chunkWriter) subst(id uint16, typ byte) {
	w.u8(0x0E)
	w.u16(id)
	w.u8(typ)
}

func (w *chunkWriter) text(s string) {
	w.u8(0x05)
	w.u8(0x01)
	w.u16(uint16(len(utf16.Encode([]rune(s)))))
	w.buf = append(w.buf, utf16le(s)...)
}

// eventSystem writes the template header, opens Event and writes its
// System part from substitutions 0..5 (provider, event ID, time, record
// ID when recordID, channel, computer), leaving Event open.
func (w *chunkWriter) eventSystem(recordID bool) {
	w.buf = append(w.buf, 0x0F, 0x01, 0x01, 0x00)
	w.open("Event", false)
	w.u8(0x02)
	w.open("System", false)
	w.u8(0x02)
	w.open("Provider", true)
	w.u8(0x06)
	w.name("Name")
	w.subst(0, bxString)
	w.u8(0x02)
	w.u8(0x04)
	w.open("EventID", false)
	w.u8(0x02)
	w.subst(1, bxUint16)
	w.u8(0x04)
	w.open("TimeCreated", true)
	w.u8(0x06)
	w.name("SystemTime")
	w.subst(2, bxFileTime)
	w.u8(0x02)
	w.u8(0x04)
	if recordID {
		w.open("EventRecordID", false)
		w.u8(0x02)
		w.subst(3, bxUint64)
		w.u8(0x04)
	}
	w.open("Channel", false)
	w.u8(0x02)
	w.subst(4, bxString)
	w.u8(0x04)
	w.open("Computer", false)
	w.u8(0x02)
	w.subst(5, bxString)
	w.u8(0x04)
	w.u8(0x04) // </System>
}

// templateBody writes the Event template for the given data members:
// substitutions 0..5 are the System values, 6.. the data.
func (w *chunkWriter) templateBody(data []synthField) {
	w.eventSystem(true)
	if len(data) > 0 {
		w.open("EventData", false)
		w.u8(0x02)
		for i, f := range data {
			w.open("Data", true)
			w.u8(0x06)
			w.name("Name")
			w.text(f.name)
			w.u8(0x02)
			w.subst(uint16(6+i), f.typ)
			w.u8(0x04)
		}
		w.u8(0x04) // </EventData>
	}
	w.u8(0x04) // </Event>
	w.u8(0x00)
}

func filetime(t time.Time) uint64 { return uint64(t.UnixNano()/100) + 116444736000000000 }

// sidBytes encodes "S-1-5-18"-style SIDs.
func sidBytes(s string) []byte {
	parts := strings.Split(s, "-")
	var rev, auth uint64
	fmt.Sscan(parts[1], &rev)
	fmt.Sscan(parts[2], &auth)
	b := []byte{byte(rev), byte(len(parts) - 3), 0, 0, 0, 0, 0, byte(auth)}
	for _, p := range parts[3:] {
		var v uint32
		fmt.Sscan(p, &v)
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	return b
}

// value encodes one argument.
func argBytes(typ byte, v any) []byte {
	switch typ {
	case bxString:
		return utf16le(v.(string))
	case bxUint16:
		return binary.LittleEndian.AppendUint16(nil, v.(uint16))
	case bxUint32, bxHex32:
		return binary.LittleEndian.AppendUint32(nil, v.(uint32))
	case bxUint64, bxHex64:
		return binary.LittleEndian.AppendUint64(nil, v.(uint64))
	case bxFileTime:
		return binary.LittleEndian.AppendUint64(nil, filetime(v.(time.Time)))
	case bxSID:
		return sidBytes(v.(string))
	}
	panic(fmt.Sprintf("synth: type %#x", typ))
}

// recordXML writes a record's binary XML: a template instance, defining
// the template inline at its first use in the chunk.
func (w *chunkWriter) recordXML(r synthRecord) {
	sig := make([]string, 0, len(r.data))
	for _, f := range r.data {
		sig = append(sig, fmt.Sprintf("%s/%d", f.name, f.typ))
	}
	key := strings.Join(sig, ",")
	w.buf = append(w.buf, 0x0F, 0x01, 0x01, 0x00)
	w.u8(0x0C)
	w.u8(0x01)
	tpl, known := w.templates[key]
	if !known {
		tpl = [2]uint32{uint32(len(w.buf) + 8), uint32(len(w.buf) + 8)}
		w.templates[key] = tpl
	}
	w.u32(tpl[0])
	w.u32(tpl[1])
	if !known {
		w.u32(0)                                   // next template
		w.buf = append(w.buf, make([]byte, 16)...) // GUID
		lenAt := len(w.buf)
		w.u32(0)
		start := len(w.buf)
		w.templateBody(r.data)
		binary.LittleEndian.PutUint32(w.buf[lenAt:], uint32(len(w.buf)-start))
	}
	args := [][]byte{
		utf16le(r.provider),
		argBytes(bxUint16, r.eventID),
		argBytes(bxFileTime, r.created),
		argBytes(bxUint64, r.id),
		utf16le(r.channel),
		utf16le(r.computer),
	}
	types := []byte{bxString, bxUint16, bxFileTime, bxUint64, bxString, bxString}
	for _, f := range r.data {
		if f.val == nil {
			args = append(args, nil)
			types = append(types, 0x00)
			continue
		}
		args = append(args, argBytes(f.typ, f.val))
		types = append(types, f.typ)
	}
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

// add appends a record; it reports false when the chunk is full.
func (w *chunkWriter) add(r synthRecord) bool {
	start := len(w.buf)
	w.buf = append(w.buf, evtxRecordMagic...)
	w.u32(0) // size, patched below
	w.u64(r.id)
	w.u64(filetime(r.created))
	if r.rawXML != nil {
		w.buf = append(w.buf, r.rawXML(w)...)
	} else {
		w.recordXML(r)
	}
	for (len(w.buf)-start+4)%8 != 0 {
		w.u8(0)
	}
	size := uint32(len(w.buf) - start + 4)
	w.u32(size)
	if len(w.buf) > evtxChunkSize {
		w.buf = w.buf[:start]
		return false
	}
	binary.LittleEndian.PutUint32(w.buf[start+4:], size)
	return true
}

// finish writes the chunk header for records first..last and pads the
// chunk to 64 KiB.
func (w *chunkWriter) finish(firstNum, lastNum, firstID, lastID uint64) []byte {
	b := w.buf[:evtxChunkSize]
	clear(b[len(w.buf):])
	copy(b, evtxChunkMagic)
	binary.LittleEndian.PutUint64(b[0x08:], firstNum)
	binary.LittleEndian.PutUint64(b[0x10:], lastNum)
	binary.LittleEndian.PutUint64(b[0x18:], firstID)
	binary.LittleEndian.PutUint64(b[0x20:], lastID)
	binary.LittleEndian.PutUint32(b[0x28:], 128)
	binary.LittleEndian.PutUint32(b[0x30:], uint32(len(w.buf)))
	signChunk(b)
	return b
}

// signChunk sets a chunk's event records and header checksums from its
// contents (records up to its free space offset).
func signChunk(c []byte) {
	if fso := int(binary.LittleEndian.Uint32(c[0x30:])); fso >= evtxChunkHeader && fso <= len(c) {
		binary.LittleEndian.PutUint32(c[evtxRecordsCRCAt:], crc32.ChecksumIEEE(c[evtxChunkHeader:fso]))
	}
	binary.LittleEndian.PutUint32(c[evtxChunkCRCAt:], evtxChunkCRC(c))
}

// signEvtx sets every checksum of a whole file (after a test patched it
// to test what lies behind them): the file header's and each chunk's.
func signEvtx(b []byte) []byte {
	binary.LittleEndian.PutUint32(b[evtxFileCRCAt:], crc32.ChecksumIEEE(b[:evtxFileCRCLen]))
	for off := 0x1000; off+evtxChunkHeader <= len(b); off += evtxChunkSize {
		if c := b[off:min(off+evtxChunkSize, len(b))]; string(c[:8]) == evtxChunkMagic {
			signChunk(c)
		}
	}
	return b
}

// buildEvtx writes a whole file: a header and one chunk per record list,
// every checksum set as Windows sets them.
func buildEvtx(chunks ...[]synthRecord) []byte {
	out := make([]byte, 0x1000)
	copy(out, Magic)
	binary.LittleEndian.PutUint64(out[0x10:], uint64(len(chunks))-1)
	binary.LittleEndian.PutUint32(out[0x20:], 128)
	binary.LittleEndian.PutUint16(out[0x24:], 1)
	binary.LittleEndian.PutUint16(out[0x26:], 3)
	binary.LittleEndian.PutUint16(out[0x28:], 0x1000)
	binary.LittleEndian.PutUint16(out[0x2A:], uint16(len(chunks)))
	num := uint64(1)
	for _, recs := range chunks {
		w := newChunkWriter()
		for _, r := range recs {
			if !w.add(r) {
				panic("synth: chunk full")
			}
		}
		first := recs[0].id
		last := recs[len(recs)-1].id
		out = append(out, w.finish(num, num+uint64(len(recs))-1, first, last)...)
		num += uint64(len(recs))
		binary.LittleEndian.PutUint64(out[0x18:], last+1) // next record ID
	}
	binary.LittleEndian.PutUint32(out[evtxFileCRCAt:], crc32.ChecksumIEEE(out[:evtxFileCRCLen]))
	return out
}
