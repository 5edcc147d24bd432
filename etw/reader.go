package etw

import "errors"

// Reader yields events from one recorded input, in file order.
type Reader interface {
	// Next fills ev (after resetting it) with the next event and returns
	// nil, or io.EOF at the end of the input, or another error when the
	// input cannot be read further (a broken file). Records that are not
	// events of interest are passed over silently; records that are
	// malformed are skipped and reported to the Skipper given to the
	// reader's constructor.
	Next(ev *Event) error
}

// Skipper is told about every record a reader could not use. file and
// record (a line number for text, a record number for EVTX) locate it;
// reason is one short line.
type Skipper interface {
	Skip(file string, record int64, reason string)
}

// SkipFunc adapts a function to Skipper.
type SkipFunc func(file string, record int64, reason string)

// Skip calls f.
func (f SkipFunc) Skip(file string, record int64, reason string) { f(file, record, reason) }

// ErrUnknownFormat is returned by Open when an input is in no format
// smsswatch reads.
var ErrUnknownFormat = errors.New("unknown input format")
