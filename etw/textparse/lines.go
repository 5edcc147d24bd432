package textparse

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// MaxLine is the longest line the recorded sources read (16 MiB); longer
// lines are consumed, skipped and reported.
const MaxLine = 16 << 20

// ErrLineTooLong is returned by LineReader.Next for a line longer than
// the reader's maximum; the line has been consumed.
var ErrLineTooLong = errors.New("line too long")

// BOM is the UTF-8 byte order mark some Windows tools write at the start
// of a text file; it is not part of the first line.
var BOM = []byte("\xef\xbb\xbf")

// LineReader returns lines without copying them when they fit the
// bufio.Reader's buffer, and assembles longer ones (up to its maximum) in
// a buffer of its own that grows only as needed.
type LineReader struct {
	r    *bufio.Reader
	max  int
	long []byte
	n    int64
}

// NewLineReader reads lines of at most max bytes from r.
func NewLineReader(r *bufio.Reader, max int) LineReader {
	return LineReader{r: r, max: max}
}

// BufferSize is the read buffer of Open's line readers: lines that fit
// are returned in place, longer ones are assembled.
const BufferSize = 32 << 10

// Open reads lines of at most MaxLine bytes from r, through r itself
// when it is a bufio.Reader of at least BufferSize (so that a reader
// handed a detector's buffer reads on through it instead of copying it
// into another), otherwise through a new one of BufferSize.
func Open(r io.Reader) LineReader {
	br, ok := r.(*bufio.Reader)
	if !ok || br.Size() < BufferSize {
		br = bufio.NewReaderSize(r, BufferSize)
	}
	return NewLineReader(br, MaxLine)
}

// Lines is the number of lines returned (or skipped as too long) so far:
// the line number of the last line returned.
func (l *LineReader) Lines() int64 { return l.n }

// Next returns the next line without its end of line (\n or \r\n), valid
// until the next call, with a leading BOM removed from the first line. A
// line longer than the maximum is consumed and ErrLineTooLong returned.
// The last line may lack a newline; io.EOF follows it.
func (l *LineReader) Next() ([]byte, error) {
	line, err := l.next()
	if err == nil && l.n == 1 {
		line = bytes.TrimPrefix(line, BOM)
	}
	return line, err
}

func (l *LineReader) next() ([]byte, error) {
	chunk, err := l.r.ReadSlice('\n')
	if err == nil || (err == io.EOF && len(chunk) > 0) {
		l.n++
		if len(chunk) > l.max {
			return nil, ErrLineTooLong
		}
		return trimEOL(chunk), nil
	}
	if err != bufio.ErrBufferFull {
		return nil, err
	}
	l.long = append(l.long[:0], chunk...)
	tooLong := false
	for {
		chunk, err = l.r.ReadSlice('\n')
		if !tooLong {
			if len(l.long)+len(chunk) > l.max {
				tooLong = true
				l.long = l.long[:0]
			} else {
				l.long = append(l.long, chunk...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil && err != io.EOF {
			return nil, err
		}
		l.n++
		if tooLong {
			if cap(l.long) > l.max/4 {
				l.long = nil // do not keep a huge buffer for one odd line
			}
			return nil, ErrLineTooLong
		}
		return trimEOL(l.long), nil
	}
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}
