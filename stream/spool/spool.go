package spool

import (
	"bytes"
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

// A Backlog holds, in order, the violations that are not yet acknowledged
// and cannot be sent now. It has a read cursor (what was handed to the
// sender) and a commit cursor (what was acknowledged); Rewind moves the
// read cursor back to the commit cursor so that unacknowledged records are
// sent again. When it exceeds its size it drops its oldest records.
// It is used from one goroutine (the publisher's).
type Backlog interface {
	// Append adds a record at the end. It fails only on I/O errors or
	// when one record is larger than the whole Backlog.
	Append(key uint64, subject, payload []byte) error
	// Next reads the record at the read cursor into rec (Buf = subject
	// then payload) and advances; ok is false at the end.
	Next(rec *Record) (ok bool, err error)
	// Commit acknowledges the record that ends at pos; records are
	// committed in order.
	Commit(pos Pos)
	// Rewind moves the read cursor back to the commit cursor.
	Rewind()
	// Unread reports whether Next has a record.
	Unread() bool
	// Depth returns the records and bytes not yet committed.
	Depth() (records, bytes int64)
	// Dropped returns how many records were dropped (oldest first) to stay
	// within the size limit, or lost to corruption.
	Dropped() uint64
	// Sync persists the commit cursor.
	Sync() error
	// Close syncs and releases files.
	Close() error
}

// Pos is a position in a Backlog: segment and offset (disk) or
// record index (memory), and the sequence number of the record that ends
// there (disk).
type Pos struct {
	seg uint64
	off int64
	seq uint64
}

// Record is one spooled violation as Next reads it: Buf holds the subject
// (the first SubjLen bytes) then the payload; Pos is where it ends, for
// Commit. Next reuses Buf's capacity.
type Record struct {
	Buf     []byte
	SubjLen int
	Key     uint64
	Pos     Pos
}

// Open opens (or creates) the disk spool in dir, bounded to maxBytes. It
// refuses a directory others may write to, and planted links
// (ErrUnsafe), and counts records a crash or damage made unreadable.
func Open(dir string, maxBytes int64) (Backlog, error) {
	s, err := openSpool(dir, maxBytes)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// NewMemory returns a Backlog kept in memory, bounded to maxBytes: the
// same semantics as the disk spool, lost when the process ends.
func NewMemory(maxBytes int64) Backlog { return newMemBacklog(maxBytes) }

// Record layout (little endian):
//
//	[u32 magic "SWR\xff"][u32 body length][u32 CRC-32C of body][body]
//	body = [u64 sequence][u64 dedupe key][u16 subject length][subject][payload]
//
// Every record checks itself: a damaged one is skipped and reading resumes
// at the next record whose magic, length and checksum hold. Sequence
// numbers increase by one per record across segments, so the number of
// records lost in a damaged stretch is exact when a good record follows.
// Records of the previous layout ([u32 length][u32 CRC][body without the
// sequence]) are still read.
const (
	recMagic    = 0xff525753 // "SWR\xff"
	recHeader   = 12
	recBodyHead = 18
	// Previous layout.
	oldRecHeader   = 8
	oldRecBodyHead = 10
	// maxRecord bounds one record (a corrupt length must not make us
	// allocate gigabytes).
	maxRecord = 64 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errRecordTooLarge is returned by append for a record bigger than the
// Backlog.
var errRecordTooLarge = errors.New("record larger than the spool")

// ErrUnsafe is wrapped when a spool directory is writable by other
// users or holds something that is not a plain file where a spool file
// goes (a symbolic link, a reparse point, a device): the spool refuses it
// rather than follow or clobber it.
var ErrUnsafe = errors.New("stream: unsafe spool directory")

// ---- disk spool ----

// diskSpool is a directory of append-only segment files
// (<16 hex digits>.seg) and a cursor file with the commit position.
type diskSpool struct {
	dir      string
	maxBytes int64
	segMax   int64

	segs    []*segment // oldest first; the last is the tail being appended
	w       *os.File   // tail writer, nil until the first append
	wDirty  bool       // w has data not yet fsynced
	r       *os.File   // reader of segs[readSeg]
	rID     uint64     // segment r is open on
	read    Pos        // read cursor
	readIdx int64      // records of the read segment before read
	com     Pos        // commit cursor
	comIdx  int64      // records of segs[0] before com
	comDirt bool       // com changed since the last sync
	nextSeq uint64     // sequence number of the next record appended

	records int64 // records after the commit cursor
	bytes   int64 // bytes after the commit cursor
	drops   uint64
	corrupt uint64 // of drops: records lost to damage
	scratch []byte
}

type segment struct {
	id   uint64
	size int64 // valid bytes (damaged stretches included)
	n    int64 // readable records
	bad  []badRange
}

// badRange is a damaged stretch of a segment, skipped when reading.
type badRange struct {
	off, end int64
	lost     int64 // records it held (at least 1)
}

const cursorFile = "cursor"

func segName(id uint64) string { return fmt.Sprintf("%016x.seg", id) }

// openSpool opens (creating) the spool in dir, keeping at most maxBytes.
// Records left by an earlier run after its last committed position are
// kept and will be sent first. A directory writable by other users, or a
// symbolic link (or other non-file) named like a spool file, is refused
// with an error wrapping ErrUnsafe.
func openSpool(dir string, maxBytes int64) (*diskSpool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("stream: spool: %w", err)
	}
	if err := checkSpoolDir(dir); err != nil {
		return nil, err
	}
	s := &diskSpool{dir: dir, maxBytes: maxBytes, nextSeq: 1}
	s.segMax = min(max(maxBytes/16, 64<<10), 8<<20)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("stream: spool: %w", err)
	}
	var ids []uint64
	for _, e := range entries {
		name := e.Name()
		isSeg := strings.HasSuffix(name, ".seg") && len(name) == 20
		var id uint64
		if isSeg {
			if id, err = strconv.ParseUint(name[:16], 16, 64); err != nil {
				isSeg = false
			}
		}
		if !isSeg && name != cursorFile && name != cursorFile+".tmp" {
			continue
		}
		if !e.Type().IsRegular() {
			return nil, fmt.Errorf("%w: %s is not a regular file (%s); remove it", ErrUnsafe, filepath.Join(dir, name), e.Type())
		}
		if isSeg {
			ids = append(ids, id)
		}
	}
	_ = os.Remove(filepath.Join(dir, cursorFile+".tmp")) // a sync cut short
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	cur, curOK, err := s.loadCursor()
	if err != nil {
		return nil, err
	}
	var prevSeq uint64 // last sequence number seen, 0: unknown
	var open *badRange // a damaged tail waiting for the next segment's first sequence
	for i, id := range ids {
		if curOK && id < cur.seg {
			_ = os.Remove(filepath.Join(dir, segName(id)))
			continue
		}
		seg, first, last, err := s.scan(id, i == len(ids)-1, prevSeq)
		if err != nil {
			return nil, err
		}
		if open != nil && first != 0 && prevSeq != 0 && first > prevSeq {
			open.lost = int64(first - prevSeq - 1)
		}
		open = nil
		if n := len(seg.bad); n > 0 && seg.bad[n-1].end == seg.size {
			open = &seg.bad[n-1]
		}
		if last != 0 {
			prevSeq = last
		}
		s.segs = append(s.segs, seg)
	}
	s.nextSeq = prevSeq + 1
	if len(s.segs) > 0 {
		s.com = Pos{seg: s.segs[0].id}
		if curOK && cur.seg == s.segs[0].id {
			// Count the records before the saved position; a position
			// that is not on a record boundary is ignored (resend all).
			if idx, seq, ok := s.countTo(s.segs[0], cur.off); ok {
				s.com.off, s.com.seq, s.comIdx = cur.off, seq, idx
			}
		}
	}
	// What damage took is lost unless it was delivered before.
	for i, seg := range s.segs {
		for _, b := range seg.bad {
			if i == 0 && b.end <= s.com.off {
				continue
			}
			s.drops += uint64(b.lost)
			s.corrupt += uint64(b.lost)
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

// scan validates one segment: it counts its readable records, notes the
// damaged stretches (and how many records each held, from the sequence
// numbers around it) and, for the tail, truncates a torn end. prevSeq is
// the last sequence number before the segment (0: unknown); first and last
// are the segment's own (0: none).
func (s *diskSpool) scan(id uint64, tail bool, prevSeq uint64) (seg *segment, first, last uint64, err error) {
	path := filepath.Join(s.dir, segName(id))
	mode := os.O_RDONLY
	if tail {
		mode = os.O_RDWR // to cut a torn end
	}
	f, err := openSpoolFile(path, mode, false)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("stream: spool: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, 0, 0, fmt.Errorf("stream: spool: %w", err)
	}
	size := st.Size()
	seg = &segment{id: id}
	var buf []byte
	var pos int64
	for pos < size {
		n, body, seq, ok := readRecord(f, pos, size, buf)
		if ok {
			buf = body[:0]
			if seq != 0 {
				if first == 0 {
					first = seq
				}
				last, prevSeq = seq, seq
			}
			pos += n
			seg.n++
			continue
		}
		next, nextSeq := resync(f, pos+1, size)
		lost := int64(1)
		if next < size && prevSeq != 0 && nextSeq > prevSeq {
			lost = int64(nextSeq - prevSeq - 1)
		}
		seg.bad = append(seg.bad, badRange{off: pos, end: next, lost: max(lost, 1)})
		pos = next
	}
	seg.size = size
	if nb := len(seg.bad); tail && nb > 0 && seg.bad[nb-1].end == size {
		// A torn or damaged end of the segment being appended: cut it
		// off (never append after garbage). Its records are counted.
		cut := seg.bad[nb-1].off
		if err := f.Truncate(cut); err != nil {
			return nil, 0, 0, fmt.Errorf("stream: spool: %w", err)
		}
		seg.size = cut
		seg.bad[nb-1].end = cut
		if err := f.Sync(); err != nil {
			return nil, 0, 0, fmt.Errorf("stream: spool: %w", err)
		}
	}
	return seg, first, last, nil
}

// resync finds the first good record at or after from (before limit); it
// returns limit when there is none, and the record's sequence number.
func resync(f io.ReaderAt, from, limit int64) (int64, uint64) {
	var magic [4]byte
	binary.LittleEndian.PutUint32(magic[:], recMagic)
	buf := make([]byte, 64<<10)
	var rec []byte
	for off := from; off < limit; {
		n := int64(len(buf))
		if off+n > limit {
			n = limit - off
		}
		got, err := f.ReadAt(buf[:n], off)
		if got <= 0 {
			_ = err
			return limit, 0
		}
		chunk := buf[:got]
		for i := 0; i < len(chunk); {
			j := bytes.Index(chunk[i:], magic[:])
			if j < 0 {
				break
			}
			p := off + int64(i+j)
			if _, body, seq, ok := readRecord(f, p, limit, rec); ok {
				return p, seq
			} else if body != nil {
				rec = body[:0]
			}
			i += j + 1
		}
		if int64(got) < n {
			return limit, 0
		}
		// Overlap so that a magic across the chunk border is found.
		off += int64(got) - 3
		if int64(got) <= 3 {
			return limit, 0
		}
	}
	return limit, 0
}

// badAt returns the damaged stretch that starts at off, if any.
func (seg *segment) badAt(off int64) *badRange {
	for i := range seg.bad {
		if seg.bad[i].off == off && seg.bad[i].end > off { // a cut-off tail is empty
			return &seg.bad[i]
		}
	}
	return nil
}

// countTo counts the records of seg before off; ok is false when off is
// not a record boundary. seq is the sequence number of the record ending
// at off.
func (s *diskSpool) countTo(seg *segment, off int64) (int64, uint64, bool) {
	f, err := openSpoolFile(filepath.Join(s.dir, segName(seg.id)), os.O_RDONLY, false)
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	var pos, n int64
	var seq uint64
	var buf []byte
	for pos < off {
		if b := seg.badAt(pos); b != nil {
			pos = b.end
			continue
		}
		size, body, sq, ok := readRecord(f, pos, seg.size, buf)
		if !ok {
			return 0, 0, false
		}
		buf = body[:0]
		pos += size
		seq = sq
		n++
	}
	return n, seq, pos == off
}

// readRecord reads the record at off (before limit) into buf; it returns
// the record's total size, its body (from the dedupe key on) and its
// sequence number (0 for a record of the previous layout). body is
// non-nil when buf was (re)used, even if the record is bad.
func readRecord(f io.ReaderAt, off, limit int64, buf []byte) (int64, []byte, uint64, bool) {
	var h [recHeader]byte
	if off+oldRecHeader > limit {
		return 0, nil, 0, false
	}
	hn := int64(recHeader)
	if off+hn > limit {
		hn = oldRecHeader
	}
	if _, err := f.ReadAt(h[:hn], off); err != nil {
		return 0, nil, 0, false
	}
	head, bodyHead := int64(recHeader), int64(recBodyHead)
	lenAt := 4
	if binary.LittleEndian.Uint32(h[0:]) != recMagic {
		head, bodyHead, lenAt = oldRecHeader, oldRecBodyHead, 0 // previous layout
	} else if hn < recHeader {
		return 0, nil, 0, false
	}
	n := int64(binary.LittleEndian.Uint32(h[lenAt:]))
	if n < bodyHead || n > maxRecord || off+head+n > limit {
		return 0, nil, 0, false
	}
	if int64(cap(buf)) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := f.ReadAt(buf, off+head); err != nil {
		return 0, buf, 0, false
	}
	if crc32.Checksum(buf, castagnoli) != binary.LittleEndian.Uint32(h[lenAt+4:]) {
		return 0, buf, 0, false
	}
	var seq uint64
	if head == recHeader {
		seq = binary.LittleEndian.Uint64(buf)
		if seq == 0 {
			return 0, buf, 0, false
		}
		copy(buf, buf[8:]) // keep buf's start: the caller reuses it
		buf = buf[:n-8]
	}
	subjLen := int64(binary.LittleEndian.Uint16(buf[8:]))
	if oldRecBodyHead+subjLen > int64(len(buf)) || subjLen == 0 {
		return 0, buf, 0, false
	}
	return head + n, buf, seq, true
}

func (s *diskSpool) loadCursor() (Pos, bool, error) {
	f, err := openSpoolFile(filepath.Join(s.dir, cursorFile), os.O_RDONLY, false)
	if errors.Is(err, os.ErrNotExist) {
		return Pos{}, false, nil
	}
	if err != nil {
		return Pos{}, false, fmt.Errorf("stream: spool cursor: %w", err)
	}
	defer f.Close()
	var b [21]byte
	n, _ := io.ReadFull(f, b[:])
	if n != 20 {
		return Pos{}, false, nil
	}
	if crc32.Checksum(b[:16], castagnoli) != binary.LittleEndian.Uint32(b[16:]) {
		return Pos{}, false, nil
	}
	return Pos{seg: binary.LittleEndian.Uint64(b[:]), off: int64(binary.LittleEndian.Uint64(b[8:]))}, true, nil
}

func (s *diskSpool) Append(key uint64, subject, payload []byte) error {
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
			s.drops++
			return err
		}
		tail = &segment{id: id}
		s.segs = append(s.segs, tail)
		if len(s.segs) == 1 {
			s.com, s.comIdx, s.read, s.readIdx = Pos{seg: id, seq: s.com.seq}, 0, Pos{seg: id}, 0
		}
	}
	if s.w == nil {
		// A new segment is created exclusively; the tail of an earlier
		// run is reopened; neither follows a link.
		f, err := openSpoolFile(filepath.Join(s.dir, segName(tail.id)), os.O_WRONLY|os.O_APPEND, tail.size == 0 && tail.n == 0)
		if err != nil {
			s.drops++
			if tail.size == 0 && tail.n == 0 {
				// Do not retry the same name for ever.
				tail.id = tail.id + 1
			}
			return fmt.Errorf("stream: spool: %w", err)
		}
		s.w = f
	}
	seq := s.nextSeq
	b := s.scratch[:0]
	b = binary.LittleEndian.AppendUint32(b, recMagic)
	b = binary.LittleEndian.AppendUint32(b, uint32(bodyLen))
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint64(b, seq)
	b = binary.LittleEndian.AppendUint64(b, key)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(subject)))
	b = append(b, subject...)
	b = append(b, payload...)
	binary.LittleEndian.PutUint32(b[8:], crc32.Checksum(b[recHeader:], castagnoli))
	s.scratch = b[:0]
	if _, err := s.w.Write(b); err != nil {
		// A partial write leaves a torn record: start a new segment.
		// tail.size stays the valid extent: the torn bytes after it are
		// never read, and this record is counted here.
		s.drops++
		_ = s.closeWriter()
		s.segs = append(s.segs, &segment{id: tail.id + 1})
		return fmt.Errorf("stream: spool: %w", err)
	}
	s.nextSeq++
	s.wDirty = true
	tail.size += total
	tail.n++
	s.records++
	s.bytes += total
	s.trim()
	return nil
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
	next := Pos{seg: s.segs[0].id, seq: s.com.seq}
	s.com, s.comIdx, s.comDirt = next, 0, true
	if s.read.seg <= old.id {
		s.read, s.readIdx = next, 0
	}
}

func (s *diskSpool) Next(rec *Record) (bool, error) {
	for {
		i := s.segIndex(s.read.seg)
		if i < 0 {
			return false, nil
		}
		seg := s.segs[i]
		if b := seg.badAt(s.read.off); b != nil {
			s.read.off = b.end // known damage, already counted
			continue
		}
		if s.read.off >= seg.size {
			if i == len(s.segs)-1 {
				return false, nil
			}
			s.read, s.readIdx = Pos{seg: s.segs[i+1].id, seq: s.read.seq}, 0
			continue
		}
		if s.r == nil || s.rID != seg.id {
			if s.r != nil {
				_ = s.r.Close()
			}
			f, err := openSpoolFile(filepath.Join(s.dir, segName(seg.id)), os.O_RDONLY, false)
			if err != nil {
				return false, fmt.Errorf("stream: spool: %w", err)
			}
			s.r, s.rID = f, seg.id
		}
		n, body, seq, ok := readRecord(s.r, s.read.off, seg.size, rec.Buf[:0])
		if !ok {
			s.damaged(seg, i)
			continue
		}
		s.read.off += n
		s.read.seq = seq
		s.readIdx++
		subjLen := int(binary.LittleEndian.Uint16(body[8:]))
		rec.Key = binary.LittleEndian.Uint64(body)
		copy(body, body[oldRecBodyHead:])
		rec.Buf = body[:len(body)-oldRecBodyHead]
		rec.SubjLen = subjLen
		rec.Pos = s.read
		return true, nil
	}
}

// damaged handles a record that went bad after the spool was opened: the
// stretch up to the next good record is skipped and its records counted
// (from the sequence numbers, or all that were left in the segment).
func (s *diskSpool) damaged(seg *segment, i int) {
	if i == len(s.segs)-1 {
		// Never append after garbage.
		_ = s.closeWriter()
		s.segs = append(s.segs, &segment{id: seg.id + 1})
	}
	next, nextSeq := resync(s.r, s.read.off+1, seg.size)
	left := seg.n - s.readIdx
	lost := left
	if next < seg.size {
		lost = 1
		if s.read.seq != 0 && nextSeq > s.read.seq {
			lost = int64(nextSeq - s.read.seq - 1)
		}
		lost = min(lost, left)
	}
	lost = max(lost, 1)
	seg.bad = append(seg.bad, badRange{off: s.read.off, end: next, lost: lost})
	seg.n -= min(lost, left)
	s.records -= min(lost, left)
	s.drops += uint64(lost)
	s.corrupt += uint64(lost)
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

func (s *diskSpool) Commit(pos Pos) {
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
	s.com.off, s.com.seq = pos.off, pos.seq
	s.comIdx++
	s.comDirt = true
	if s.records <= 0 && !s.Unread() {
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
	s.com, s.read, s.readIdx = Pos{seg: next, seq: s.com.seq}, Pos{seg: next}, 0
}

func (s *diskSpool) Rewind() { s.read, s.readIdx = s.com, s.comIdx }

func (s *diskSpool) Unread() bool {
	i := s.segIndex(s.read.seg)
	if i < 0 {
		return false
	}
	seg := s.segs[i]
	off := s.read.off
	for b := seg.badAt(off); b != nil; b = seg.badAt(off) {
		off = b.end
	}
	return off < seg.size || i < len(s.segs)-1 && s.hasData(i+1)
}

func (s *diskSpool) hasData(from int) bool {
	for _, seg := range s.segs[from:] {
		if seg.n > 0 {
			return true
		}
	}
	return false
}

func (s *diskSpool) Depth() (int64, int64) { return s.records, s.bytes }

func (s *diskSpool) Dropped() uint64 { return s.drops }

// sync makes what was appended and the commit cursor durable: the tail
// segment is fsynced, then the cursor is written to a new file (created
// exclusively, never through a link), fsynced, renamed over the old one,
// and the directory fsynced.
func (s *diskSpool) Sync() error {
	if s.w != nil && s.wDirty {
		if err := s.w.Sync(); err != nil {
			return fmt.Errorf("stream: spool: %w", err)
		}
		s.wDirty = false
	}
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
	_ = os.Remove(tmp) // a leftover (or a planted link: removed, never followed)
	f, err := openSpoolFile(tmp, os.O_WRONLY, true)
	if err != nil {
		return fmt.Errorf("stream: spool cursor: %w", err)
	}
	_, err = f.Write(b[:])
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(s.dir, cursorFile))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("stream: spool cursor: %w", err)
	}
	syncDir(s.dir)
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
	s.w, s.wDirty = nil, false
	if err != nil {
		return fmt.Errorf("stream: spool: %w", err)
	}
	syncDir(s.dir) // the new segment's name
	return nil
}

func (s *diskSpool) Close() error {
	err := s.closeWriter()
	if s.r != nil {
		_ = s.r.Close()
		s.r = nil
	}
	s.comDirt = s.comDirt || len(s.segs) > 0
	if serr := s.Sync(); err == nil {
		err = serr
	}
	return err
}

// ---- memory Backlog ----

// memBacklog is the Backlog without a spool directory: same semantics,
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

func (m *memBacklog) Append(key uint64, subject, payload []byte) error {
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

func (m *memBacklog) Next(rec *Record) (bool, error) {
	i := m.read - m.base
	if i >= int64(len(m.recs)) {
		return false, nil
	}
	r := &m.recs[i]
	rec.Buf = append(rec.Buf[:0], r.buf...)
	rec.SubjLen, rec.Key = r.subj, r.key
	m.read++
	rec.Pos = Pos{off: m.read}
	return true, nil
}

func (m *memBacklog) Commit(pos Pos) {
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

func (m *memBacklog) Rewind()               { m.read = m.base }
func (m *memBacklog) Unread() bool          { return m.read-m.base < int64(len(m.recs)) }
func (m *memBacklog) Depth() (int64, int64) { return int64(len(m.recs)), m.bytes }
func (m *memBacklog) Dropped() uint64       { return m.drops }
func (m *memBacklog) Sync() error           { return nil }
func (m *memBacklog) Close() error          { return nil }

// statDir returns dir's file info, refusing what is not a directory
// (ErrUnsafe).
func statDir(dir string) (os.FileInfo, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("stream: spool: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%w: %s is not a directory", ErrUnsafe, dir)
	}
	return st, nil
}
