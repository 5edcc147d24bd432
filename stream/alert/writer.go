package alert

import (
	"io"

	"github.com/smsswatch/smsswatch/detect"
)

// A LineWriter is a detect.Sink that writes each violation as one alert
// document (AppendAlert) and a newline to an io.Writer. Every string of the
// violation is JSON-escaped, so a line never contains a raw control
// character or newline whatever the event held. With a dedupe bound it
// writes a violation only the first time its dedupe key is seen (another
// source reporting the same thing is counted, not written), remembering at
// most that many keys. It is used from one goroutine (the engine's).
type LineWriter struct {
	w          io.Writer
	buf        []byte
	seen       map[uint64]struct{}
	maxSeen    int
	written    int64
	duplicates int64
	err        error
}

var _ detect.Sink = (*LineWriter)(nil)

// NewLineWriter returns a LineWriter on w. dedupe is how many dedupe keys
// it remembers to drop repeats; 0 writes every violation.
func NewLineWriter(w io.Writer, dedupe int) *LineWriter {
	l := &LineWriter{w: w, buf: make([]byte, 0, 4096), maxSeen: dedupe}
	if dedupe > 0 {
		l.seen = make(map[uint64]struct{})
	}
	return l
}

// Violation implements detect.Sink: it writes v's alert line, unless v
// repeats a dedupe key already written. The first write error is kept
// (Err) and later lines are still attempted.
func (l *LineWriter) Violation(v *detect.Violation) {
	if l.seen != nil {
		if _, dup := l.seen[v.DedupeKey]; dup {
			l.duplicates++
			return
		}
		if len(l.seen) < l.maxSeen {
			l.seen[v.DedupeKey] = struct{}{}
		}
	}
	l.written++
	l.buf = AppendAlert(l.buf[:0], v)
	l.buf = append(l.buf, '\n')
	if _, err := l.w.Write(l.buf); err != nil && l.err == nil {
		l.err = err
	}
}

// Written is how many alert lines were written (or attempted).
func (l *LineWriter) Written() int64 { return l.written }

// Duplicates is how many violations were not written because their dedupe
// key was already written.
func (l *LineWriter) Duplicates() int64 { return l.duplicates }

// Err returns the first write error, if any.
func (l *LineWriter) Err() error { return l.err }
