package input

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"

	"github.com/smsswatch/smsswatch/etw"
	"github.com/smsswatch/smsswatch/etw/textparse"
)

// tarBlock is the size of a tar header block.
const tarBlock = 512

// isTarHeader reports whether b starts with a POSIX (ustar, pax) or GNU tar
// header: the magic at offset 257 and a header checksum that matches.
// Pre-POSIX archives without the magic are not recognised.
func isTarHeader(b []byte) bool {
	if len(b) < tarBlock {
		return false
	}
	magic := string(b[257:265])
	if magic != "ustar\x0000" && magic != "ustar  \x00" {
		return false
	}
	// Checksum: octal, NUL- or space-terminated, over the block with the
	// checksum field read as spaces (unsigned; old writers used signed).
	field := b[148:156]
	var want int64
	digits := 0
	for _, c := range field {
		if c == ' ' && digits == 0 {
			continue
		}
		if c < '0' || c > '7' {
			break
		}
		want = want<<3 | int64(c-'0')
		digits++
	}
	if digits == 0 {
		return false
	}
	var unsigned, signed int64
	for i, c := range b[:tarBlock] {
		if i >= 148 && i < 156 {
			c = ' '
		}
		unsigned += int64(c)
		signed += int64(int8(c))
	}
	return want == unsigned || want == signed
}

// tarReader reads the regular file members of a tar archive in order,
// each through an Input of its own (detected by content like a file).
// Directory entries are passed over; other members (links, devices) and
// members in no known format are skipped, counted and reported. It
// implements Reader.
type tarReader struct {
	tr    *tar.Reader
	name  string
	skip  etw.Skipper
	depth int
	cur   *Input
	total etw.ReadStats
	// member is the number of the current member (1-based), in reports.
	member int64
	err    error
}

var _ etw.Reader = (*tarReader)(nil)

func newTarReader(r io.Reader, name string, skip etw.Skipper, depth int) *tarReader {
	return &tarReader{tr: tar.NewReader(r), name: name, skip: skip, depth: depth}
}

// Stats returns the counters over the members read so far.
func (t *tarReader) Stats() etw.ReadStats {
	s := t.total
	if t.cur != nil {
		s.Add(t.cur.Stats())
	}
	return s
}

// Next implements Reader. Damaged data ends the archive (reported and
// counted); I/O errors are returned.
func (t *tarReader) Next(ev *etw.Event) error {
	if t.err != nil {
		return t.err
	}
	for {
		if t.cur != nil {
			err := t.cur.Next(ev)
			if err == nil {
				return nil
			}
			if err != io.EOF {
				t.err = err
				return err
			}
			st := t.cur.Stats()
			t.total.Add(st)
			t.cur = nil
			if st.Damaged > 0 {
				// The member's data ended in damage: what follows in the
				// archive cannot be found.
				t.err = io.EOF
				return io.EOF
			}
		}
		hdr, err := t.tr.Next()
		if err == io.EOF {
			t.err = io.EOF
			return io.EOF
		}
		if err != nil {
			return t.endErr(err)
		}
		t.member++
		label := memberLabel(hdr.Name)
		switch hdr.Typeflag {
		case tar.TypeReg:
		case tar.TypeDir:
			continue
		default:
			t.skipMember(fmt.Sprintf("member %s: not a regular file (type %s)", label, typeName(hdr.Typeflag)))
			continue
		}
		in := &Input{name: t.name + "[" + label + "]"}
		br := bufio.NewReaderSize(&tarDataReader{tr: t.tr, st: &in.st}, textparse.BufferSize)
		if err := in.open(br, t.skip, t.depth); err != nil {
			switch {
			case isIOErr(err):
				t.err = err
				return err
			case errors.Is(err, etw.ErrUnknownFormat):
				t.skipMember(fmt.Sprintf("member %s: %v", label, errors.Unwrap(err)))
				continue
			case etw.IsDamage(err):
				return t.endErr(err)
			}
			t.err = err
			return err
		}
		t.total.Members++
		t.cur = in
	}
}

// skipMember counts and reports a member not read.
func (t *tarReader) skipMember(reason string) {
	t.total.MembersSkipped++
	t.total.Skipped++
	t.skip.Skip(t.name, t.member, reason)
}

// endErr ends the archive on an error of tar.Reader.Next: I/O errors are
// returned, anything else is damage, reported and counted.
func (t *tarReader) endErr(err error) error {
	if isIOErr(err) {
		t.err = err
		return err
	}
	t.total.Damaged++
	t.total.Skipped++
	msg := err.Error()
	var d *dataDamage
	if !errors.As(err, &d) {
		msg = "tar: damaged data: " + msg
	}
	t.skip.Skip(t.name, t.member+1, fmt.Sprintf("archive ends in damaged data after member %d: %s", t.member, msg))
	t.err = io.EOF
	return io.EOF
}

// tarDataReader reads one member's data, marking errors that are not I/O
// errors as damaged data.
type tarDataReader struct {
	tr *tar.Reader
	st *streamState
}

// Read reads member data.
func (r *tarDataReader) Read(p []byte) (int, error) {
	n, err := r.tr.Read(p)
	r.st.out += int64(n)
	if err != nil && err != io.EOF && !isIOErr(err) {
		r.st.damaged = true
		var d *dataDamage
		if !errors.As(err, &d) {
			err = &dataDamage{what: "tar member", off: r.st.out, err: err}
		}
	}
	return n, err
}

// memberLabel renders an attacker-chosen member name for a report line:
// at most 120 characters, controls and non-printing characters as '?'.
func memberLabel(name string) string {
	const max = 120
	var b strings.Builder
	n := 0
	for _, c := range name {
		if n == max {
			b.WriteString("...")
			break
		}
		if !unicode.IsPrint(c) {
			c = '?'
		}
		b.WriteRune(c)
		n++
	}
	return b.String()
}

// typeName names a tar entry type in reports.
func typeName(f byte) string {
	switch f {
	case tar.TypeLink:
		return "hard link"
	case tar.TypeSymlink:
		return "symlink"
	case tar.TypeChar:
		return "character device"
	case tar.TypeBlock:
		return "block device"
	case tar.TypeFifo:
		return "FIFO"
	case tar.TypeCont:
		return "contiguous file"
	case tar.TypeGNUSparse:
		return "GNU sparse file"
	}
	if unicode.IsPrint(rune(f)) && f < 0x80 {
		return fmt.Sprintf("%q", f)
	}
	return fmt.Sprintf("0x%02x", f)
}
