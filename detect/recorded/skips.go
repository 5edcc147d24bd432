package recorded

import "fmt"

// maxSkipNotes is how many skipped records are listed by file and record.
const maxSkipNotes = 20

// maxSkipReasons bounds the distinct reasons counted; the rest count as
// "other".
const maxSkipReasons = 64

// Skips counts the records readers could not use, and keeps the first
// few by file and record. It is an etw.Skipper.
type Skips struct {
	// Total is the number of records skipped.
	Total int64
	// Notes lists the first skipped records as "file:record: reason".
	Notes []string
	// ByReason counts skipped records by reason (bounded).
	ByReason map[string]int64
}

// Skip implements etw.Skipper.
func (s *Skips) Skip(file string, record int64, reason string) {
	s.Total++
	if s.ByReason == nil {
		s.ByReason = map[string]int64{}
	}
	if _, ok := s.ByReason[reason]; ok || len(s.ByReason) < maxSkipReasons {
		s.ByReason[reason]++
	} else {
		s.ByReason["other"]++
	}
	if len(s.Notes) < maxSkipNotes {
		s.Notes = append(s.Notes, fmt.Sprintf("%s:%d: %s", file, record, reason))
	}
}
