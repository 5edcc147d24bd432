package stream

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// A backlog holds, in order, the violations that are not yet acknowledged
// and cannot be sent now. It has a read cursor (what was handed to the
// sender) and a commit cursor (what was acknowledged); rewind moves the
// read cursor back to the commit cursor so that unacknowledged records are
// sent again. When it exceeds its size it drops its oldest records.
// It is used by the publisher goroutine only.
type backlog interface {
	// append adds a record at the end. It fails only on I/O errors or
	// when one record is larger than the whole backlog.
	append(key uint64, subject, payload []byte) error
	// next reads the record at the read cursor into it (buf = subject then
	// payload) and advances; ok is false at the end.
	next(it *item) (ok bool, err error)
	// commit acknowledges the record that ends at pos; records are
	// committed in order.
	commit(pos spoolPos)
	// rewind moves the read cursor back to the commit cursor.
	rewind()
	// unread reports whether next has a record.
	unread() bool
	// depth returns the records and bytes not yet committed.
	depth() (records, bytes int64)
	// dropped returns how many records were dropped (oldest first) to stay
	// within the size limit, or lost to corruption.
	dropped() uint64
	// sync persists the commit cursor.
	sync() error
	// close syncs and releases files.
	close() error
}

// spoolPos is a position in a backlog: segment and offset (disk) or
// record index (memory).
type spoolPos struct {
	seg uint64
	off int64
}

// Record layout: [u32 body length][u32 CRC-32C of body][body], body =
// [u64 dedupe key][u16 subject length][subject][payload], little endian.
const (
	recHeader   = 8
	recBodyHead = 10
	// maxRecord bounds one record (a corrupt length must not make us
	// allocate gigabytes).
	maxRecord = 64 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errRecordTooLarge is returned by append for a record bigger than the
// backlog.
var errRecordTooLarge = errors.New("record larger than the spool")

// ---- disk spool ----

// diskSpool is a directory of append-only segment files
// (<16 hex digits>.seg) and a cursor file with the commit position.
type diskSpool struct {
	dir      string
	maxBytes int64
	segMax   int64

	segs    []*segment // oldest first; the last is the tail being appended
	w       *os.File   // tail writer, nil until the first append
	r       *os.File   // reader of segs[readSeg]
	rID     uint64     // segment r is open on
	read    spoolPos   // read cursor
	readIdx int64      // records of the read segment before read
	com     spoolPos   // commit cursor
	comIdx  int64      // records of segs[0] before com
	comDirt bool       // com changed since the last sync

	records int64 // records after the commit cursor
	bytes   int64 // bytes after the commit cursor
	drops   uint64
	scratch []byte
}

type segment struct {
	id   uint64
	size int64 // valid bytes
	n    int64 // records
}

const cursorFile = "cursor"

func segName(id uint64) string { return fmt.Sprintf("%016x.seg", id) }

// openSpool opens (creating) the spool in dir, keeping at most maxBytes.
// Records left by an earlier run after its last committed position are
// kept and will be sent first.
func openSpool(dir string, maxBytes int64) (*diskSpool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("stream: spool: %w", err)
	}
	s := &diskSpool{dir: dir, maxBytes: maxBytes}
	s.segMax = min(max(maxBytes/16, 64<<10), 8<<20)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("stream: spool: %w", err)
	}
	var ids []uint64
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".seg") || len(name) != 20 {
			continue
		}
		id, err := strconv.ParseUint(name[:16], 16, 64)
		if err != nil {
			continue
		}
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	cur, curOK := s.loadCursor()
	for i, id := range ids {
		if curOK && id < cur.seg {
			_ = os.Remove(filepath.Join(dir, segName(id)))
			continue
		}
		seg, err := s.scan(id, i == len(ids)-1)
		if err != nil {
			return nil, err
		}
		s.segs = append(s.segs, seg)
	}
	if len(s.segs) > 0 {
		s.com = spoolPos{seg: s.segs[0].id}
		if curOK && cur.seg == s.segs[0].id {
			// Count the records before the saved position; a position
			// that is not on a record boundary is ignored (resend all).
			if idx, ok := s.countTo(s.segs[0], cur.off); ok {
				s.com.off, s.comIdx = cur.off, idx
			}
		}
	}
	s.read, s.readIdx = s.com, s.comIdx
	for _, seg := range s.segs {
		s.records += seg.n
		s.bytes += seg.size
	}
	s.records -= s.comIdx
	s.bytes -= s.com.off
	s.trim()
	if s.records == 0 {
		s.reset()
	}
	return s, nil
}

// scan validates one segment: it counts its records and, for the tail,
// truncates a torn last record.
func (s *diskSpool) scan(id uint64, tail bool) (*segment, error) {
	path := filepath.Join(s.dir, segName(id))
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("stream: spool: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stream: spool: %w", err)
	}
	seg := &segment{id: id}
	var buf []byte
	for seg.size < st.Size() {
		n, body, ok := readRecord(f, seg.size, st.Size(), buf)
		if !ok {
			s.drops++ // a torn or corrupt record, and what follows it
			break
		}
		buf = body[:0]
		seg.size += n
		seg.n++
	}
	if tail && seg.size < st.Size() {
		if err := os.Truncate(path, seg.size); err != nil {
			return nil, fmt.Errorf("stream: spool: %w", err)
		}
	}
	return seg, nil
}

// countTo counts the records of seg before off; ok is false when off is
// not a record boundary.
func (s *diskSpool) countTo(seg *segment, off int64) (int64, bool) {
	f, err := os.Open(filepath.Join(s.dir, segName(seg.id)))
	if err != nil {
		return 0, false
	}
	defer f.Close()
	var pos, n int64
	var buf []byte
	for pos < off {
		size, body, ok := readRecord(f, pos, seg.size, buf)
		if !ok {
			return 0, false
		}
		buf = body[:0]
		pos += size
		n++
	}
	return n, pos == off
}

// readRecord reads the record at off (before limit) into buf; it returns
// the record's total size and its body.
func readRecord(f io.ReaderAt, off, limit int64, buf []byte) (int64, []byte, bool) {
	var h [recHeader]byte
	if off+recHeader > limit {
		return 0, nil, false
	}
	if _, err := f.ReadAt(h[:], off); err != nil {
		return 0, nil, false
	}
	n := int64(binary.LittleEndian.Uint32(h[0:]))
	if n < recBodyHead || n > maxRecord || off+recHeader+n > limit {
		return 0, nil, false
	}
	if int64(cap(buf)) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := f.ReadAt(buf, off+recHeader); err != nil {
		return 0, nil, false
	}
	if crc32.Checksum(buf, castagnoli) != binary.LittleEndian.Uint32(h[4:]) {
		return 0, nil, false
	}
	subjLen := int64(binary.LittleEndian.Uint16(buf[8:]))
	if recBodyHead+subjLen > n || subjLen == 0 {
		return 0, nil, false
	}
	return recHeader + n, buf, true
}

func (s *diskSpool) loadCursor() (spoolPos, bool) {
	b, err := os.ReadFile(filepath.Join(s.dir, cursorFile))
	if err != nil || len(b) != 20 {
		return spoolPos{}, false
	}
	if crc32.Checksum(b[:16], castagnoli) != binary.LittleEndian.Uint32(b[16:]) {
		return spoolPos{}, false
	}
	return spoolPos{seg: binary.LittleEndian.Uint64(b), off: int64(binary.LittleEndian.Uint64(b[8:]))}, true
}

func (s *diskSpool) append(key uint64, subject, payload []byte) error {
	bodyLen := recBodyHead + len(subject) + len(payload)
	total := int64(recHeader + bodyLen)
	if total > s.maxBytes || bodyLen > maxRecord || len(subject) > 0xffff {
		s.drops++
		return errRecordTooLarge
	}
	var tail *segment
	if len(s.segs) > 0 {
		tail = s.segs[len(s.segs)-1]
	}
	if tail == nil || (tail.size > 0 && tail.size+total > s.segMax) {
		id := max(s.com.seg, 1)
		if tail != nil {
			id = tail.id + 1
		}
		if err := s.closeWriter(); err != nil {
			return err
		}
		tail = &segment{id: id}
		s.segs = append(s.segs, tail)
		if len(s.segs) == 1 {
			s.com, s.comIdx, s.read, s.readIdx = spoolPos{seg: id}, 0, spoolPos{seg: id}, 0
		}
	}
	if s.w == nil {
		f, err := os.OpenFile(filepath.Join(s.dir, segName(tail.id)), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("stream: spool: %w", err)
		}
		s.w = f
	}
	b := s.scratch[:0]
	b = binary.LittleEndian.AppendUint32(b, uint32(bodyLen))
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint64(b, key)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(subject)))
	b = append(b, subject...)
	b = append(b, payload...)
	binary.LittleEndian.PutUint32(b[4:], crc32.Checksum(b[recHeader:], castagnoli))
	s.scratch = b[:0]
	if _, err := s.w.Write(b); err != nil {
		// A partial write leaves a torn record: start a new segment.
		_ = s.closeWriter()
		tail.size = s.fileSize(tail.id)
		s.segs = append(s.segs, &segment{id: tail.id + 1})
		return fmt.Errorf("stream: spool: %w", err)
	}
	tail.size += total
	tail.n++
	s.records++
	s.bytes += total
	s.trim()
	return nil
}

func (s *diskSpool) fileSize(id uint64) int64 {
	st, err := os.Stat(filepath.Join(s.dir, segName(id)))
	if err != nil {
		return 0
	}
	return st.Size()
}

// trim drops the oldest segments while the spool is over its size.
func (s *diskSpool) trim() {
	for s.bytes > s.maxBytes && len(s.segs) > 1 {
		old := s.segs[0]
		s.drops += uint64(old.n - s.comIdx)
		s.records -= old.n - s.comIdx
		s.bytes -= old.size - s.com.off
		s.removeOldest()
	}
}

// removeOldest deletes segs[0] and moves the cursors to the next segment.
func (s *diskSpool) removeOldest() {
	old := s.segs[0]
	if s.r != nil && s.rID == old.id {
		_ = s.r.Close()
		s.r = nil
	}
	_ = os.Remove(filepath.Join(s.dir, segName(old.id)))
	s.segs = s.segs[1:]
	next := spoolPos{seg: s.segs[0].id}
	s.com, s.comIdx, s.comDirt = next, 0, true
	if s.read.seg <= old.id {
		s.read, s.readIdx = next, 0
	}
}

func (s *diskSpool) next(it *item) (bool, error) {
	for {
		i := s.segIndex(s.read.seg)
		if i < 0 {
			return false, nil
		}
		seg := s.segs[i]
		if s.read.off >= seg.size {
			if i == len(s.segs)-1 {
				return false, nil
			}
			s.read, s.readIdx = spoolPos{seg: s.segs[i+1].id}, 0
			continue
		}
		if s.r == nil || s.rID != seg.id {
			if s.r != nil {
				_ = s.r.Close()
			}
			f, err := os.Open(filepath.Join(s.dir, segName(seg.id)))
			if err != nil {
				return false, fmt.Errorf("stream: spool: %w", err)
			}
			s.r, s.rID = f, seg.id
		}
		n, body, ok := readRecord(s.r, s.read.off, seg.size, it.buf[:0])
		if !ok {
			// Unreadable from here on: skip the rest of the segment.
			s.drops++
			if i == len(s.segs)-1 {
				// Never append after garbage.
				_ = s.closeWriter()
				s.segs = append(s.segs, &segment{id: seg.id + 1})
			}
			s.bytes -= seg.size - s.read.off
			s.records -= seg.n - s.readIdx
			seg.size, seg.n = s.read.off, s.readIdx
			continue
		}
		s.read.off += n
		s.readIdx++
		subjLen := int(binary.LittleEndian.Uint16(body[8:]))
		it.key = binary.LittleEndian.Uint64(body)
		copy(body, body[recBodyHead:])
		it.buf = body[:len(body)-recBodyHead]
		it.subjLen = subjLen
		it.pos = s.read
		return true, nil
	}
}

func (s *diskSpool) segIndex(id uint64) int {
	for i, seg := range s.segs {
		if seg.id == id {
			return i
		}
		if seg.id > id {
			return -1
		}
	}
	return -1
}

func (s *diskSpool) commit(pos spoolPos) {
	if len(s.segs) == 0 || pos.seg < s.com.seg || (pos.seg == s.com.seg && pos.off <= s.com.off) {
		return // already committed, or dropped by trim
	}
	for len(s.segs) > 1 && s.segs[0].id < pos.seg {
		old := s.segs[0]
		s.records -= old.n - s.comIdx
		s.bytes -= old.size - s.com.off
		s.removeOldest()
	}
	seg := s.segs[0]
	if seg.id != pos.seg {
		return
	}
	s.records--
	s.bytes -= pos.off - s.com.off
	s.com.off = pos.off
	s.comIdx++
	s.comDirt = true
	if s.records <= 0 && !s.unread() {
		s.reset()
	}
}

// reset empties a fully committed spool: every file is removed.
func (s *diskSpool) reset() {
	_ = s.closeWriter()
	if s.r != nil {
		_ = s.r.Close()
		s.r = nil
	}
	next := uint64(1)
	for _, seg := range s.segs {
		_ = os.Remove(filepath.Join(s.dir, segName(seg.id)))
		next = seg.id + 1
	}
	_ = os.Remove(filepath.Join(s.dir, cursorFile))
	s.segs = s.segs[:0]
	s.records, s.bytes, s.comIdx, s.comDirt = 0, 0, 0, false
	s.com, s.read, s.readIdx = spoolPos{seg: next}, spoolPos{seg: next}, 0
}

func (s *diskSpool) rewind() { s.read, s.readIdx = s.com, s.comIdx }

func (s *diskSpool) unread() bool {
	i := s.segIndex(s.read.seg)
	if i < 0 {
		return false
	}
	return s.read.off < s.segs[i].size || i < len(s.segs)-1 && s.hasData(i+1)
}

func (s *diskSpool) hasData(from int) bool {
	for _, seg := range s.segs[from:] {
		if seg.size > 0 {
			return true
		}
	}
	return false
}

func (s *diskSpool) depth() (int64, int64) { return s.records, s.bytes }

func (s *diskSpool) dropped() uint64 { return s.drops }

func (s *diskSpool) sync() error {
	if !s.comDirt {
		return nil
	}
	if len(s.segs) == 0 {
		s.comDirt = false
		return nil
	}
	var b [20]byte
	binary.LittleEndian.PutUint64(b[:], s.com.seg)
	binary.LittleEndian.PutUint64(b[8:], uint64(s.com.off))
	binary.LittleEndian.PutUint32(b[16:], crc32.Checksum(b[:16], castagnoli))
	tmp := filepath.Join(s.dir, cursorFile+".tmp")
	if err := os.WriteFile(tmp, b[:], 0o600); err != nil {
		return fmt.Errorf("stream: spool cursor: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, cursorFile)); err != nil {
		return fmt.Errorf("stream: spool cursor: %w", err)
	}
	s.comDirt = false
	return nil
}

func (s *diskSpool) closeWriter() error {
	if s.w == nil {
		return nil
	}
	err := s.w.Sync()
	if cerr := s.w.Close(); err == nil {
		err = cerr
	}
	s.w = nil
	if err != nil {
		return fmt.Errorf("stream: spool: %w", err)
	}
	return nil
}

func (s *diskSpool) close() error {
	err := s.closeWriter()
	if s.r != nil {
		_ = s.r.Close()
		s.r = nil
	}
	s.comDirt = s.comDirt || len(s.segs) > 0
	if serr := s.sync(); err == nil {
		err = serr
	}
	return err
}

// ---- memory backlog ----

// memBacklog is the backlog without a spool directory: same semantics,
// lost when the process ends.
type memBacklog struct {
	maxBytes int64
	recs     []memRec // recs[0] is the record after the commit cursor
	base     int64    // absolute index of recs[0]
	read     int64    // absolute index of the next record to read
	bytes    int64
	drops    uint64
}

type memRec struct {
	key  uint64
	subj int
	buf  []byte
}

func newMemBacklog(maxBytes int64) *memBacklog { return &memBacklog{maxBytes: maxBytes} }

func (m *memBacklog) append(key uint64, subject, payload []byte) error {
	n := int64(len(subject) + len(payload))
	if n > m.maxBytes {
		m.drops++
		return errRecordTooLarge
	}
	buf := make([]byte, 0, n)
	buf = append(append(buf, subject...), payload...)
	m.recs = append(m.recs, memRec{key: key, subj: len(subject), buf: buf})
	m.bytes += n
	for m.bytes > m.maxBytes {
		m.bytes -= int64(len(m.recs[0].buf))
		m.recs[0] = memRec{}
		m.recs = m.recs[1:]
		m.base++
		m.drops++
	}
	if m.read < m.base {
		m.read = m.base
	}
	return nil
}

func (m *memBacklog) next(it *item) (bool, error) {
	i := m.read - m.base
	if i >= int64(len(m.recs)) {
		return false, nil
	}
	r := &m.recs[i]
	it.buf = append(it.buf[:0], r.buf...)
	it.subjLen, it.key = r.subj, r.key
	m.read++
	it.pos = spoolPos{off: m.read}
	return true, nil
}

func (m *memBacklog) commit(pos spoolPos) {
	for m.base < pos.off && len(m.recs) > 0 {
		m.bytes -= int64(len(m.recs[0].buf))
		m.recs[0] = memRec{}
		m.recs = m.recs[1:]
		m.base++
	}
	if len(m.recs) == 0 {
		m.recs = nil
	}
}

func (m *memBacklog) rewind()               { m.read = m.base }
func (m *memBacklog) unread() bool          { return m.read-m.base < int64(len(m.recs)) }
func (m *memBacklog) depth() (int64, int64) { return int64(len(m.recs)), m.bytes }
func (m *memBacklog) dropped() uint64       { return m.drops }
func (m *memBacklog) sync() error           { return nil }
func (m *memBacklog) close() error          { return nil }
