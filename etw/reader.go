package etw

import (
	"errors"
	"io"
)

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

// ReadStats counts what an importer (NXLog or Winlogbeat JSON lines, EVTX,
// the native trace format, a tar archive of them) did with its input.
// Every skipped record was also reported to the reader's Skipper.
type ReadStats struct {
	// Records is the number of lines (JSON) or event records (EVTX) read.
	Records int64
	// Events is the number of events returned by Next.
	Events int64
	// Skipped is the number of malformed records skipped and reported.
	Skipped int64
	// NoZone counts NXLog records whose EventTime has no zone and whose
	// forwarder offset could not be derived (no EventReceivedTime, no
	// @timestamp with a zone, or an implausible difference between them):
	// their local EventTime was taken as UTC, so their times may be off by
	// the forwarder's UTC offset.
	NoZone int64
	// NoUtcTime counts Sysmon records without UtcTime: their record time
	// was used as the event time and CreateTime/ExitTime stay unknown.
	NoUtcTime int64
	// BadChunks counts EVTX chunks that were truncated, had no valid
	// header, or had records that could not be walked.
	BadChunks int64
	// LostRecords counts EVTX records known to exist but not read: in bad
	// chunks (a chunk whose records fail their CRC32 loses every record
	// its header lists; one whose header fails, as many as a scan of the
	// chunk finds, at least one) and in missing chunks (at least one a
	// chunk). They are part of Skipped.
	LostRecords int64
	// MissingChunks counts chunks the EVTX file header names that the
	// file does not hold (cut short, or zeros in their place).
	MissingChunks int64
	// ChecksumErrors counts EVTX file headers and chunks whose CRC32 did
	// not match (a chunk is counted once, and also in BadChunks).
	ChecksumErrors int64
	// Damaged counts inputs (or archive members) whose data ended in
	// damage: a corrupt or truncated gzip stream or tar archive. What was
	// readable before the damage was read; the rest is lost. Each damage
	// was reported to the Skipper with the file, the line or record it
	// follows, and the decompressed byte offset where reading stopped.
	Damaged int64
	// Members counts the tar archive members read as inputs.
	Members int64
	// MembersSkipped counts tar archive members not read, each reported
	// to the Skipper: links, devices and other entries that are not
	// regular files, files in no format smsswatch reads, archives inside
	// an archive. Directory entries hold no data and are not counted.
	MembersSkipped int64
}

// IsDamage reports whether err means the input's bytes are damaged (bad
// compressed data or a stream cut short), as opposed to an I/O error:
// readers report such an end as a skip and stop, rather than fail.
func IsDamage(err error) bool {
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, ErrDamaged)
}

// ErrDamaged is wrapped by the errors of damaged inputs (the decompressors
// of package etw/input, a broken EVTX chunk).
var ErrDamaged = errors.New("damaged data")

// Add adds the counters of o to s (totals over several inputs).
func (s *ReadStats) Add(o ReadStats) {
	s.Records += o.Records
	s.Events += o.Events
	s.Skipped += o.Skipped
	s.NoZone += o.NoZone
	s.NoUtcTime += o.NoUtcTime
	s.BadChunks += o.BadChunks
	s.LostRecords += o.LostRecords
	s.MissingChunks += o.MissingChunks
	s.ChecksumErrors += o.ChecksumErrors
	s.Damaged += o.Damaged
	s.Members += o.Members
	s.MembersSkipped += o.MembersSkipped
}
