package evtx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"

	"github.com/smsswatch/smsswatch/etw"
	"github.com/smsswatch/smsswatch/etw/winlog"

	libevtx "www.velocidex.com/golang/evtx"
)

// EVTX layout (as written by the Windows event log service).
const (
	Magic              = "ElfFile\x00"
	evtxChunkMagic     = "ElfChnk\x00"
	evtxChunkSize      = 0x10000
	evtxChunkHeader    = 0x200
	evtxRecordMagic    = "\x2a\x2a\x00\x00"
	evtxRecordHeader   = 24
	evtxMinRecord      = evtxRecordHeader + 4 // header and trailing size copy
	evtxFileHeaderSize = 128
	// evtxMaxChunkRecords is the most records a chunk can hold.
	evtxMaxChunkRecords = (evtxChunkSize - evtxChunkHeader) / evtxMinRecord
)

// CRC32 (IEEE, as RFC 1952) fields, per libevtx's format documentation:
// the file header's covers its first 120 bytes; a chunk header's covers
// bytes 0-120 and 128-512 of the chunk; the event records checksum covers
// the records data, from the end of the chunk header to the free space
// offset.
const (
	evtxFileCRCAt     = 124
	evtxFileCRCLen    = 120
	evtxChunkCRCAt    = 124
	evtxChunkCRCLen   = 120
	evtxRecordsCRCAt  = 52
	evtxChunkCRCStart = 128 // the second covered range, to evtxChunkHeader
)

// Flags, at offset 120 of the file header and of a chunk header (neither
// checksum covers them). A dirty file was not closed cleanly (the log was
// open, a live copy): its header's chunk count and next record ID lag
// the chunks written since. No-CRC (newer Windows builds write live logs
// so) says the header or chunk carries no checksums (zeros).
const (
	evtxFlagsAt    = 120
	evtxFlagDirty  = 0x1
	evtxFlagNoCRC  = 0x4
	evtxFlagsKnown = evtxFlagDirty | 0x2 | evtxFlagNoCRC // 0x2: full
)

// Reader reads a Windows event log file (EVTX) of any channel; records
// of Sysmon, Security and System are mapped as their forwarded JSON
// counterparts are (same field names). It implements Reader.
//
// It reads the file front to back (no seeking, so a gzip-compressed EVTX
// works too), one 64 KiB chunk at a time, and parses each chunk as
// www.velocidex.com/golang/evtx does: with our own decoder (decode.go),
// or, for a chunk the decoder declines, with the library. Before either
// sees a chunk, the reader walks its records (magic, size, trailing size
// copy) and checks every record's binary XML against the work the
// library would do (see binxmlCheck). A truncated chunk yields the records that fit; a damaged
// record ends its chunk's walk; a record too costly to parse is blanked.
// All of these are skipped, counted and reported with the record number.
//
// Every header and chunk is checked against its CRC32 first. A chunk that
// fails its check is not read at all: it is reported with its number and
// every record it held is counted lost (ReadStats.LostRecords): as many as
// its header lists when only its records checksum fails, else as many as
// a scan of the chunk finds (its header's own count is not trusted), at
// least one. A file header that fails its check is reported and its chunk
// count is not trusted; when it passes, the chunks it names that the file
// does not hold are reported missing and their records counted lost.
//
// Live copies: a dirty file (flag 0x1) is read like any other; its header
// may lag the chunks written since (fewer chunks, an older next record
// ID), which only ever under-counts what is missing, and every chunk is
// checked on its own. A dirty file whose header checksum fails is not
// reported: its header is simply not used (nothing is lost by that; a
// file cut at a chunk boundary then goes unnoticed). A header flagged
// no-CRC (0x4) whose checksum is zero, and a chunk whose checksums are
// both zero, flagged no-CRC itself or in a file so flagged, are not
// checked (there is nothing to check against); its records are still
// walked and checked for structure. A no-CRC flag over checksums that are
// set is not believed: they are checked.
type Reader struct {
	r     io.Reader
	file  string
	skip  etw.Skipper
	m     winlog.Mapper
	rec   winlog.Record
	check binxmlCheck

	buf     []byte // the current chunk (evtxChunkSize)
	chunkNo int64  // chunks read
	started bool
	done    bool
	err     error

	// The current chunk's parsed records and their record IDs.
	records []*libevtx.EventRecord
	ids     []uint64
	pos     int
	walk    []evtxRecordSpan
	lastID  uint64

	// From the file header, when its checksum holds (hdrOK).
	hdrOK      bool
	noCRC      bool   // the file header is flagged no-CRC
	hdrChunks  int64  // chunks in use
	hdrFirst   uint64 // the oldest chunk's number
	hdrNextID  uint64 // the next record ID to be written
	oldestID   uint64 // first record ID of the oldest chunk, once read
	oldestSeen bool
	maxID      uint64 // the highest record ID walked
	finished   bool

	// The event ID filter (filter.go): the templates kept records need;
	// fullParse switches it off (every record expanded, for tests).
	want       map[uint32]struct{}
	fullParse  bool
	unexpanded int64 // records the filter spared the library

	// Our own binary XML decoder (decode.go), in place of the library's
	// parse for the chunks it does not decline: when decoded, the
	// current chunk's records are drecs (parallel to ids) rather than
	// records. noDecode switches it off (every chunk to the library, for
	// tests).
	dec      decoder
	drecs    []decRecord
	decoded  bool
	noDecode bool
}

type evtxRecordSpan struct {
	off, size int
	id        uint64
	reject    string
	// For the event ID filter: the record maps to nothing and is not
	// expanded (filter.go); the ranges of the templates it instantiates
	// and defines in check.uses and check.defs.
	filtered   bool
	uses, defs [2]int
}

var _ etw.Reader = (*Reader)(nil)

// NewReader returns a Reader of the EVTX file read from r; file names
// the input in skip reports and errors.
func NewReader(r io.Reader, file string, skip etw.Skipper) *Reader {
	if skip == nil {
		skip = etw.SkipFunc(func(string, int64, string) {})
	}
	return &Reader{r: r, file: file, skip: skip, buf: make([]byte, evtxChunkSize)}
}

// Stats returns the reader's counters so far.
func (e *Reader) Stats() etw.ReadStats { return e.m.Stats }

// Next implements Reader.
func (e *Reader) Next(ev *etw.Event) error {
	if e.err != nil {
		return e.err
	}
	if !e.started {
		e.started = true
		if err := e.readHeader(); err != nil {
			e.err = err
			return err
		}
	}
	for {
		for e.pos < len(e.ids) {
			id := e.ids[e.pos]
			var emit bool
			var reason string
			if e.decoded {
				emit, reason = e.mapDecoded(&e.drecs[e.pos], ev)
			} else {
				rec := e.records[e.pos]
				e.records[e.pos] = nil
				emit, reason = e.mapRecord(rec, ev)
			}
			e.pos++
			e.m.Stats.Records++
			if reason != "" {
				e.report(id, reason)
			} else if emit {
				e.m.Stats.Events++
				return nil
			}
		}
		if e.done {
			e.finish()
			e.err = io.EOF
			return io.EOF
		}
		if err := e.nextChunk(); err != nil {
			e.err = err
			return err
		}
	}
}

// mapRecord maps one parsed record.
func (e *Reader) mapRecord(rec *libevtx.EventRecord, ev *etw.Event) (emit bool, reason string) {
	if rec == nil {
		return false, "record has no Event/System element"
	}
	return e.mapRecordAny(rec.Event, ev)
}

// mapDecoded maps one record the decoder filled (fillEvtx's result for
// the library's tree of it), as mapRecordAny does.
func (e *Reader) mapDecoded(d *decRecord, ev *etw.Event) (emit bool, reason string) {
	defer func() {
		if p := recover(); p != nil {
			emit, reason = false, fmt.Sprintf("unreadable record: %v", p)
		}
	}()
	if !d.ok {
		ev.Reset()
		return false, "record has no Event/System element"
	}
	return e.m.Map(&d.rec, ev)
}

// mapRecordAny maps a record's tree as the library returns it; a panic
// in walking it (it should not happen after the checks) is a skipped
// record, not a crash.
func (e *Reader) mapRecordAny(tree any, ev *etw.Event) (emit bool, reason string) {
	defer func() {
		if p := recover(); p != nil {
			emit, reason = false, fmt.Sprintf("unreadable record: %v", p)
		}
	}()
	if !fillEvtx(&e.rec, tree) {
		ev.Reset()
		return false, "record has no Event/System element"
	}
	return e.m.Map(&e.rec, ev)
}

func (e *Reader) report(record uint64, reason string) {
	e.m.Stats.Skipped++
	n := int64(record)
	if n < 0 {
		n = -1
	}
	e.skip.Skip(e.file, n, reason)
}

// lose counts lost records (at least one) and reports them in one line.
func (e *Reader) lose(record uint64, lost int64, reason string) {
	lost = max(lost, 1)
	e.m.Stats.LostRecords += lost
	e.m.Stats.Skipped += lost - 1 // report counts one
	e.report(record, reason)
}

// finish reports the chunks the file header names that the file did not
// hold, at the end of the input.
func (e *Reader) finish() {
	if e.finished {
		return
	}
	e.finished = true
	if !e.hdrOK || e.chunkNo >= e.hdrChunks {
		return
	}
	missing := e.hdrChunks - e.chunkNo
	e.m.Stats.MissingChunks += missing
	// At least one record a chunk; more when the header's next record ID
	// says so: exactly, counted from the oldest chunk's first record when
	// it was read, else the records newer than any read.
	lost := missing
	if e.oldestSeen {
		total := int64(e.hdrNextID - e.oldestID)
		if seen := e.m.Stats.Records + e.m.Stats.LostRecords; e.hdrNextID > e.oldestID && total > seen {
			lost = max(lost, total-seen)
		}
	} else if e.maxID > 0 && e.hdrNextID > e.maxID+1 {
		lost = max(lost, int64(e.hdrNextID-1-e.maxID))
	}
	lost = min(lost, missing*evtxMaxChunkRecords)
	which := fmt.Sprintf("chunk %d", e.chunkNo)
	if missing > 1 {
		which = fmt.Sprintf("chunks %d-%d", e.chunkNo, e.hdrChunks-1)
	}
	e.lose(e.maxID+1, lost, fmt.Sprintf("%s missing: the file ends after %d of the %d chunks its header names (next record ID %d); at least %d record(s) lost",
		which, e.chunkNo, e.hdrChunks, e.hdrNextID, lost))
}

// readHeader reads and checks the file header and skips to the first
// chunk.
func (e *Reader) readHeader() error {
	var h [evtxFileHeaderSize]byte
	if _, err := io.ReadFull(e.r, h[:]); err != nil {
		return fmt.Errorf("%s: EVTX file header: %w", e.file, e.ioErr(err))
	}
	if string(h[:8]) != Magic {
		return fmt.Errorf("%s: %w: no EVTX magic", e.file, etw.ErrUnknownFormat)
	}
	block := int64(0x1000)
	flags := binary.LittleEndian.Uint32(h[evtxFlagsAt:])
	if flags&^evtxFlagsKnown != 0 {
		flags = 0 // not flags Windows writes: damaged, checked as if clean
	}
	// No-CRC is believed only with the checksum it promises: zero (the
	// flags are not covered, so one damaged byte must not switch the
	// check off).
	e.noCRC = flags&evtxFlagNoCRC != 0
	if !(e.noCRC && binary.LittleEndian.Uint32(h[evtxFileCRCAt:]) == 0) && crc32.ChecksumIEEE(h[:evtxFileCRCLen]) != binary.LittleEndian.Uint32(h[evtxFileCRCAt:]) {
		// Damaged (or, in a dirty file, possibly caught mid-update): none
		// of its fields is trusted; chunks are found where Windows puts
		// them and checked on their own.
		if flags&evtxFlagDirty == 0 {
			e.m.Stats.ChecksumErrors++
			e.skip.Skip(e.file, -1, "file header checksum mismatch: its version, chunk count and next record ID are not trusted")
		}
	} else {
		major := binary.LittleEndian.Uint16(h[0x26:])
		if major != 3 {
			return fmt.Errorf("%s: %w: EVTX major version %d", e.file, etw.ErrUnknownFormat, major)
		}
		if b := int64(binary.LittleEndian.Uint16(h[0x28:])); b >= evtxFileHeaderSize {
			block = b
		}
		e.hdrOK = true
		e.hdrFirst = binary.LittleEndian.Uint64(h[0x08:])
		e.hdrNextID = binary.LittleEndian.Uint64(h[0x18:])
		e.hdrChunks = int64(binary.LittleEndian.Uint16(h[0x2A:]))
	}
	if _, err := io.CopyN(io.Discard, e.r, block-evtxFileHeaderSize); err != nil {
		if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
			e.done = true // a header and nothing else
			return nil
		}
		return fmt.Errorf("%s: EVTX file header: %w", e.file, e.ioErr(err))
	}
	return nil
}

// ioErr passes I/O errors through and marks damaged data.
func (e *Reader) ioErr(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// nextChunk reads, checks and parses the next chunk into e.records.
func (e *Reader) nextChunk() error {
	e.records, e.ids, e.pos, e.decoded = e.records[:0], e.ids[:0], 0, false
	for !e.done && len(e.ids) == 0 {
		n, err := io.ReadFull(e.r, e.buf)
		switch {
		case err == io.EOF:
			e.done = true
			return nil
		case err == io.ErrUnexpectedEOF:
			e.done = true
		case err != nil && etw.IsDamage(err):
			e.done = true
			e.m.Stats.BadChunks++
			e.report(e.lastID+1, fmt.Sprintf("chunk %d: input ends in damaged data: %v", e.chunkNo, err))
			if n == 0 {
				return nil
			}
		case err != nil:
			return fmt.Errorf("%s: read chunk %d: %w", e.file, e.chunkNo, err)
		}
		clear(e.buf[n:])
		e.chunkNo++
		e.parseChunk(n)
	}
	return nil
}

// parseChunk checks, walks and parses the chunk in e.buf, of which n
// bytes were read (the rest is zero).
func (e *Reader) parseChunk(n int) {
	buf := e.buf
	chunk := e.chunkNo - 1
	if string(buf[:8]) != evtxChunkMagic {
		switch {
		case !allZero(buf[:n]):
			e.m.Stats.BadChunks++
			e.loseChunk(chunk, "no chunk header", n)
		case e.hdrOK && chunk < e.hdrChunks:
			e.m.Stats.MissingChunks++
			e.lose(e.lastID+1, 1, fmt.Sprintf("chunk %d: missing (zeros where the file header names a chunk); at least 1 record lost", chunk))
		}
		return
	}
	firstNum := binary.LittleEndian.Uint64(buf[0x08:])
	lastNum := binary.LittleEndian.Uint64(buf[0x10:])
	firstID := binary.LittleEndian.Uint64(buf[0x18:])
	lastID := binary.LittleEndian.Uint64(buf[0x20:])
	if lastID == evtxUnwritten { // an allocated chunk never written
		if _, reason := walkRecord(buf, evtxChunkHeader, n); reason != "" {
			return
		}
		// ... yet it holds a record: its header is not to be believed.
		e.m.Stats.BadChunks++
		e.loseChunk(chunk, "header says never written, yet it holds records", n)
		return
	}
	// held is what the header says the chunk holds, when that is
	// plausible.
	held := int64(0)
	if lastNum >= firstNum && lastNum-firstNum < evtxMaxChunkRecords {
		held = int64(lastNum-firstNum) + 1
	}
	if n < evtxChunkHeader {
		e.m.Stats.BadChunks++
		e.lose(firstID, held, fmt.Sprintf("chunk %d: truncated in its header; %d record(s) lost", chunk, max(held, 1)))
		return
	}
	fso := int(binary.LittleEndian.Uint32(buf[0x30:]))
	fsoValid := fso >= evtxChunkHeader && fso <= evtxChunkSize
	headerCRC := binary.LittleEndian.Uint32(buf[evtxChunkCRCAt:])
	recordsCRC := binary.LittleEndian.Uint32(buf[evtxRecordsCRCAt:])
	// Unchecked only when flagged no-CRC (the chunk or the file) and both
	// checksums are zero, as such logs are written.
	checked := headerCRC != 0 || recordsCRC != 0 ||
		(binary.LittleEndian.Uint32(buf[evtxFlagsAt:])&evtxFlagNoCRC == 0 && !e.noCRC)
	switch {
	case !checked:
	case evtxChunkCRC(buf) != headerCRC:
		// None of the header's fields is trusted: its records are
		// counted by scanning for them.
		e.m.Stats.ChecksumErrors++
		e.m.Stats.BadChunks++
		e.loseChunk(chunk, "header checksum mismatch", n)
		return
	case fsoValid && fso <= n && crc32.ChecksumIEEE(buf[evtxChunkHeader:fso]) != recordsCRC:
		e.m.Stats.ChecksumErrors++
		e.m.Stats.BadChunks++
		if held == 0 { // a header that checks out but lists no plausible count
			e.loseChunk(chunk, "event records checksum mismatch", n)
			return
		}
		e.lose(firstID, held, fmt.Sprintf("chunk %d: event records checksum mismatch; records %d-%d lost (%d, as its header lists)", chunk, firstID, firstID+uint64(held)-1, held))
		e.lastID = firstID + uint64(held) - 1
		return
	}
	if e.hdrOK && uint64(chunk) == e.hdrFirst {
		e.oldestID, e.oldestSeen = firstID, true
	}
	// Walk the records up to the free space offset (what follows it is
	// slack, often stale data), then on past it only while valid records
	// continue the ID sequence (a dirty chunk whose header lags).
	limit := evtxChunkSize
	if fsoValid {
		limit = fso
	}
	off, stop := e.walkRecords(limit, n, fsoValid)
	if stop == "" && limit > n {
		stop = "chunk cut short (truncated file)"
	}
	if stop == "" && len(e.walk) > 0 {
		for off+evtxRecordHeader <= n {
			w, reason := walkRecord(buf, off, n)
			if reason != "" || w.id != e.walk[len(e.walk)-1].id+1 {
				break
			}
			e.walk = append(e.walk, w)
			off += w.size
		}
	}
	for _, w := range e.walk {
		e.maxID = max(e.maxID, w.id)
	}
	if stop != "" {
		e.m.Stats.BadChunks++
		next := firstID + uint64(len(e.walk))
		lost := max(held-int64(len(e.walk)), 1)
		e.lose(next, lost, fmt.Sprintf("chunk %d: %s; %d record(s) lost", chunk, stop, lost))
	}
	if len(e.walk) == 0 {
		return
	}
	// Check the binary XML, blanking records the library must not parse.
	chk := &e.check
	chk.resetChunk(buf)
	clear(chk.starts[:])
	clear(chk.pinned[:])
	for _, w := range e.walk {
		p := w.off + evtxRecordHeader
		chk.starts[p>>6] |= 1 << uint(p&63)
	}
	var spent int64
	for i := range e.walk {
		w := &e.walk[i]
		budget := min(int64(bxRecordBudget), bxChunkBudget-spent)
		uses, defs := len(chk.uses), len(chk.defs)
		s, reason := chk.checkRecord(w.off+evtxRecordHeader, w.off+w.size, budget)
		spent += s
		if reason != "" {
			chk.uses = chk.uses[:uses]
			w.reject = reason
			buf[w.off+evtxRecordHeader] = 0 // end of binary XML
		} else if id, ok := chk.recordEventID(); ok && filterable(id) {
			w.filtered = true
		}
		w.uses, w.defs = [2]int{uses, len(chk.uses)}, [2]int{defs, len(chk.defs)}
		if w.id > math.MaxInt64 {
			// The library drops records whose ID overflows an int; it
			// still parses this one (its templates serve later records),
			// then it is skipped.
			binary.LittleEndian.PutUint64(buf[w.off+8:], 0)
			if w.reject == "" {
				w.reject = "record ID out of range"
			}
		}
	}
	if !e.fullParse {
		e.filterChunk()
	}
	e.decoded = !e.noDecode && e.dec.decodeChunk(buf, e.walk, e.fullParse, &e.drecs)
	if e.decoded {
		// Decoded: the library's parse would give every record (the walk
		// checked their magic), so the records map as below.
		for _, w := range e.walk {
			e.lastID = w.id
			switch {
			case w.reject != "":
				e.m.Stats.Records++
				e.report(w.id, w.reject)
			case w.filtered && !e.fullParse:
				e.m.Stats.Records++
				e.unexpanded++
			default:
				e.ids = append(e.ids, w.id)
			}
		}
		return
	}
	// Parse with the library: the header we hand it lists exactly the
	// records walked.
	c := &libevtx.Chunk{
		Header: libevtx.ChunkHeader{
			FirstEventRecNumber: 1,
			LastEventRecNumber:  uint64(len(e.walk)),
			FirstEventRecID:     firstID,
			LastEventRecID:      lastID,
			HeaderSize:          evtxChunkHeader,
		},
		Fd: bytes.NewReader(buf),
	}
	copy(c.Header.Magic[:], evtxChunkMagic)
	records, reason := parseChunkSafely(c)
	if reason != "" || len(records) != len(e.walk) {
		if reason == "" {
			reason = fmt.Sprintf("library returned %d of %d records", len(records), len(e.walk))
		}
		e.m.Stats.BadChunks++
		e.lose(firstID, int64(len(e.walk)), fmt.Sprintf("chunk %d: %s; %d record(s) lost", chunk, reason, len(e.walk)))
		return
	}
	for i, rec := range records {
		w := e.walk[i]
		e.lastID = w.id
		if w.reject != "" {
			e.m.Stats.Records++
			e.report(w.id, w.reject)
			continue
		}
		if w.filtered && !e.fullParse {
			e.m.Stats.Records++ // of no interest: maps to nothing
			e.unexpanded++
			continue
		}
		e.records = append(e.records, rec)
		e.ids = append(e.ids, w.id)
	}
}

// loseChunk counts the records of a chunk whose header is not trusted as
// lost, by a scan of the chunk (countRecords), and reports them with the
// first record ID the scan found (else the one after the last read).
func (e *Reader) loseChunk(chunk int64, why string, n int) {
	first, count, found := e.countRecords(n)
	if !found {
		e.lose(e.lastID+1, 1, fmt.Sprintf("chunk %d: %s; an unknown number of records lost (none could be found; counted as 1)", chunk, why))
		return
	}
	e.lose(first, count, fmt.Sprintf("chunk %d: %s; records %d-%d lost (%d, estimated by scanning the chunk: its header is not trusted)", chunk, why, first, first+uint64(count)-1, count))
	e.lastID = max(e.lastID, first+uint64(count)-1)
}

// walkRecords walks the records of the chunk in e.buf into e.walk, from
// the end of its header up to limit, of which n bytes were read. Without
// a free space offset, zeros end the records. It returns where the walk
// stopped and why, if not at the end or at zeros.
func (e *Reader) walkRecords(limit, n int, fsoValid bool) (off int, stop string) {
	buf := e.buf
	e.walk = e.walk[:0]
	off = evtxChunkHeader
	for off+evtxRecordHeader <= limit {
		w, reason := walkRecord(buf[:limit], off, n)
		if reason != "" {
			if !fsoValid && off+evtxRecordHeader <= n && allZero(buf[off:off+evtxRecordHeader]) {
				return off, ""
			}
			return off, reason
		}
		e.walk = append(e.walk, w)
		off += w.size
	}
	return off, ""
}

// countRecords counts the records of a chunk whose header is damaged, for
// the loss count. It scans for records at 8-byte boundaries (magic, size
// and size copy agree; the scan resynchronises past damaged ones) and
// counts the span of record IDs of the ascending run it finds (damaged
// records inside it included; stale slack records, older, are not); the
// header's count stands when larger and its record numbers and IDs agree
// (one damaged field cannot make them agree). It returns the first record
// ID, the count (at least one) and whether any record was found or the
// header's count stood.
func (e *Reader) countRecords(n int) (first uint64, count int64, found bool) {
	buf := e.buf
	var last uint64
	for off := evtxChunkHeader; off+evtxMinRecord <= n; {
		w, reason := walkRecord(buf, off, n)
		if reason != "" {
			off += 8
			continue
		}
		switch {
		case !found:
			first, last, found = w.id, w.id, true
		case w.id > last && w.id-first < evtxMaxChunkRecords:
			last = w.id
		}
		off += w.size
	}
	if found {
		count = int64(last-first) + 1
	}
	firstNum := binary.LittleEndian.Uint64(buf[0x08:])
	lastNum := binary.LittleEndian.Uint64(buf[0x10:])
	firstID := binary.LittleEndian.Uint64(buf[0x18:])
	lastID := binary.LittleEndian.Uint64(buf[0x20:])
	if lastID >= firstID && lastNum >= firstNum && lastNum-firstNum == lastID-firstID && lastID-firstID < evtxMaxChunkRecords {
		if c := int64(lastNum-firstNum) + 1; c > count {
			first, count, found = firstID, c, true
		}
	}
	return first, max(count, 1), found
}

// evtxChunkCRC is the CRC32 of a chunk header: bytes 0-120 and 128-512.
func evtxChunkCRC(chunk []byte) uint32 {
	c := crc32.ChecksumIEEE(chunk[:evtxChunkCRCLen])
	return crc32.Update(c, crc32.IEEETable, chunk[evtxChunkCRCStart:evtxChunkHeader])
}

// walkRecord checks the record at off in chunk (magic, size, trailing size
// copy, all inside chunk), of which only n bytes were read.
func walkRecord(chunk []byte, off, n int) (evtxRecordSpan, string) {
	if off+evtxRecordHeader > n {
		return evtxRecordSpan{}, "record header cut short (truncated file)"
	}
	if string(chunk[off:off+4]) != evtxRecordMagic {
		return evtxRecordSpan{}, "bad record header"
	}
	size := int(binary.LittleEndian.Uint32(chunk[off+4:]))
	id := binary.LittleEndian.Uint64(chunk[off+8:])
	if size < evtxMinRecord || size > len(chunk)-off {
		return evtxRecordSpan{}, fmt.Sprintf("record %d: bad size %d", id, size)
	}
	if off+size > n {
		return evtxRecordSpan{}, fmt.Sprintf("record %d: cut short (truncated file)", id)
	}
	if int(binary.LittleEndian.Uint32(chunk[off+size-4:])) != size {
		return evtxRecordSpan{}, fmt.Sprintf("record %d: size mismatch", id)
	}
	return evtxRecordSpan{off: off, size: size, id: id}, ""
}

// evtxUnwritten is the all-ones record ID of a chunk that was never written.
const evtxUnwritten = ^uint64(0)

// parseChunkSafely runs the library's chunk parser, turning a panic into
// a reason.
func parseChunkSafely(c *libevtx.Chunk) (records []*libevtx.EventRecord, reason string) {
	defer func() {
		if p := recover(); p != nil {
			records, reason = nil, fmt.Sprintf("EVTX parser failed: %v", p)
		}
	}()
	records, err := c.Parse(0)
	if err != nil {
		return nil, fmt.Sprintf("EVTX parser failed: %v", err)
	}
	return records, ""
}

// zeroBlock is a block of zeros for allZero to compare against.
var zeroBlock [4096]byte

// allZero reports whether b holds only zero bytes (unused chunk space).
// It compares whole blocks (bytes.Equal runs wide vector compares): the
// unused chunks of a preallocated log are 64 KiB of zeros each.
func allZero(b []byte) bool {
	for len(b) > len(zeroBlock) {
		if !bytes.Equal(b[:len(zeroBlock)], zeroBlock[:]) {
			return false
		}
		b = b[len(zeroBlock):]
	}
	return bytes.Equal(b, zeroBlock[:len(b)])
}
