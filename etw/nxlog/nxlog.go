package nxlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/smsswatch/smsswatch/etw"
	"github.com/smsswatch/smsswatch/etw/winlog"

	"github.com/smsswatch/smsswatch/etw/jsonscan"

	"github.com/smsswatch/smsswatch/etw/textparse"
)

// Reader reads JSON lines as forwarded by NXLog (im_msvistalog
// flattened: one object per line with EventID, Channel, Hostname,
// EventTime, EventReceivedTime, @timestamp and the EventData fields at top
// level). Several hosts and channels may be mixed in one file. It
// implements Reader.
//
// Lines are filtered before they are parsed: only a line whose EventID
// member could be one smsswatch reads (and, for ID 12, 13 and 14, whose
// TargetObject names a Session Manager key, or which may be a System
// boot record), or is not plainly a number, is scanned in full, and so is
// every line with a \u escape. Other lines are only checked to look like
// a JSON object ('{' ... '}'); lines that do not are skipped and
// reported. The filter looks for members written as `"EventID":` and
// `"TargetObject":"` (white space allowed around the colon), the way NXLog
// writes them.
type Reader struct {
	lines textparse.LineReader
	file  string
	skip  etw.Skipper
	sc    jsonscan.Scanner
	rec   winlog.Record
	m     winlog.Mapper
	err   error
}

var _ etw.Reader = (*Reader)(nil)

// NewReader returns a Reader of NXLog JSON lines from r; file names
// the input in skip reports.
func NewReader(r io.Reader, file string, skip etw.Skipper) *Reader {
	if skip == nil {
		skip = etw.SkipFunc(func(string, int64, string) {})
	}
	return &Reader{lines: textparse.Open(r), file: file, skip: skip}
}

// Stats returns the reader's counters so far.
func (n *Reader) Stats() etw.ReadStats {
	s := n.m.Stats
	s.Records = n.lines.Lines()
	return s
}

// Next implements Reader. A read error that means the data is damaged
// (a corrupt or truncated gzip stream) ends the input: it is reported to
// the Skipper and Next returns io.EOF; other read errors are returned.
func (n *Reader) Next(ev *etw.Event) error {
	if n.err != nil {
		return n.err
	}
	for {
		line, err := n.lines.Next()
		if err != nil {
			if errors.Is(err, textparse.ErrLineTooLong) {
				n.report(n.lines.Lines(), fmt.Sprintf("line longer than %d bytes", textparse.MaxLine))
				continue
			}
			n.err = n.endErr(err)
			return n.err
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if line[0] != '{' || line[len(line)-1] != '}' {
			n.report(n.lines.Lines(), "not a JSON object")
			continue
		}
		if !nxlogCandidate(line) {
			continue
		}
		if err := n.rec.FillJSON(&n.sc, line); err != nil {
			n.report(n.lines.Lines(), "invalid JSON: "+err.Error())
			continue
		}
		emit, reason := n.m.Map(&n.rec, ev)
		if reason != "" {
			n.report(n.lines.Lines(), reason)
			continue
		}
		if emit {
			n.m.Stats.Events++
			return nil
		}
	}
}

func (n *Reader) report(line int64, reason string) {
	n.m.Stats.Skipped++
	n.skip.Skip(n.file, line, reason)
}

// endErr turns the error that ended the line stream into Next's result.
func (n *Reader) endErr(err error) error {
	if err == io.EOF {
		return io.EOF
	}
	if etw.IsDamage(err) {
		n.m.Stats.Damaged++
		n.report(n.lines.Lines()+1, "input ends in damaged data: "+err.Error())
		return io.EOF
	}
	return fmt.Errorf("read %s after line %d: %w", n.file, n.lines.Lines(), err)
}

// nxlogCandidate is the cheap filter: does any "EventID" member of the line
// hold an ID smsswatch reads, with, for 12/13/14, a TargetObject under a
// Session Manager key or a log that may be System? False positives are
// harmless (the line is then parsed and mapped in full); the filter only
// has to let every real record of interest through, and every record
// whose EventID is not plainly a number, so that the mapper reports it.
// A line with a \u escape anywhere is always parsed: escapes can spell
// any member name or value.
//
// The escapes and the EventID members are found in one pass over the
// line (indexMark: every `\u` and every `D"`, the end of `"EventID"`),
// which on amd64 looks at sixteen positions at a time and stops only at
// those pairs, rather than at each 'u' and each 'D' (1.5% and 0.9% of the
// bytes of a real capture, issue #14). The rarer searches of lines of IDs
// 12 to 14 are anchored on a rare byte and check the bytes around it
// (findMember, kernelGeneralFrom, containsSessionManager).
func nxlogCandidate(line []byte) bool {
	// One pass over the line finds both the \u escapes and the `D"` that
	// ends every EventID member name (indexMark).
	for i := 0; ; i++ {
		j := indexMark(line[i:])
		if j < 0 {
			return false
		}
		i += j
		if line[i] == '\\' {
			return true // a \u escape
		}
		// line[i:i+2] is `D"`: the end of `"EventID"`?
		k := i + 2 - len(keyEventID.nameQ)
		if k < 1 || line[k-1] != '"' || string(line[k:i+2]) != string(keyEventID.nameQ) {
			continue
		}
		if v := memberValue(line[i+2:]); v != nil && eventIDCandidate(line, v) {
			return true
		}
	}
}

// eventIDCandidate is the filter's verdict on one EventID member value v
// of line.
func eventIDCandidate(line, v []byte) bool {
	id, plain := plainID(v)
	if !plain {
		return true
	}
	switch id {
	case winlog.SysmonProcessCreate, winlog.SysmonProcessTerminate, winlog.SecurityProcessCreate, winlog.SecurityProcessExit, winlog.SecurityStartup, winlog.SystemEventLogStart:
		return true
	case winlog.SysmonRegistryObject, winlog.SysmonRegistrySetValue, winlog.SysmonRegistryRename:
		return registryCandidate(line) || (id == winlog.SystemKernelStart && systemCandidate(line))
	}
	return false
}

// The member names the filter looks for, each with its closing quote.
// Each is searched for by its rarest byte in the lines it is looked for
// in (issue #14, the OTRF capture): EventID in every line, 'D' 0.86% of
// the bytes against 'E' 0.94%; TargetObject and StartTime in the lines
// of IDs 12 to 14, 'j' 0.21% against 'T' 1.4%, and 'S' 1.07% against
// 'T' 1.4%.
var (
	keyEventID      = memberKey{nameQ: []byte(`EventID"`), anchor: 6}
	keyTargetObject = memberKey{nameQ: []byte(`TargetObject"`), anchor: 7}
	keyStartTime    = memberKey{nameQ: []byte(`StartTime"`), anchor: 0}
)

// memberKey is a member name with its closing quote (`EventID"`) and the
// index in it of the byte a search is anchored on.
type memberKey struct {
	nameQ  []byte
	anchor int
}

// findMember finds the next member name in line whose opening quote is
// at or after from, and returns the offset just past its closing quote.
// The search is anchored on the key's rarest byte and then checks the
// rest of the name and the opening quote before it, so that it does not
// stop at every quote (or every 'E') of the line.
func findMember(line []byte, from int, key memberKey) (end int, ok bool) {
	name, a := key.nameQ, key.anchor
	n := len(name)
	// The name starts at k >= from+1 (its quote is at k-1 >= from), so
	// its anchor byte is at k+a, and at most at len(line)-n+a.
	if from+1+a > len(line)-n+a {
		return 0, false
	}
	c := name[a]
	win := line[:len(line)-n+a+1]
	for rest := win[from+1+a:]; ; {
		j := bytes.IndexByte(rest, c)
		if j < 0 {
			return 0, false
		}
		k := len(win) - len(rest) + j - a
		if line[k-1] == '"' && string(line[k:k+n]) == string(name) {
			return k + n, true
		}
		rest = rest[j+1:]
	}
}

// plainID reads a member value that is plainly an event ID: decimal
// digits as a JSON number (followed by the end of the member) or as the
// whole of a string. Anything else (a sign, a fraction, white space inside
// the quotes, null, an object...) is not plain, and the record is left to
// the mapper to judge.
func plainID(v []byte) (id uint64, plain bool) {
	quoted := len(v) > 0 && v[0] == '"'
	if quoted {
		v = v[1:]
	}
	n := 0
	for n < len(v) && v[n] >= '0' && v[n] <= '9' {
		if n == 10 {
			return 0, false
		}
		id = id*10 + uint64(v[n]-'0')
		n++
	}
	if n == 0 {
		return 0, false
	}
	if quoted {
		return id, n < len(v) && v[n] == '"'
	}
	if n == len(v) {
		return id, true
	}
	switch v[n] {
	case ',', '}', ' ', '\t', '\r':
		return id, true
	}
	return 0, false
}

// memberValue returns what follows `:` (white space skipped) after a
// member name, or nil when no colon follows.
func memberValue(b []byte) []byte {
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	if i >= len(b) || b[i] != ':' {
		return nil
	}
	i++
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	return b[i:]
}

// registryCandidate reports whether a TargetObject string member mentions
// "session manager" (any case; escapes are not decoded, and the words
// contain none).
func registryCandidate(line []byte) bool {
	for from := 0; ; {
		at, ok := findMember(line, from, keyTargetObject)
		if !ok {
			return false
		}
		from = at
		v := memberValue(line[at:])
		if len(v) == 0 || v[0] != '"' {
			continue
		}
		v = v[1:]
		if containsSessionManager(v[:stringEnd(v)]) {
			return true
		}
	}
}

// stringEnd returns the length of the JSON string body at the start of v
// (up to its closing quote, which is the first one not escaped by an odd
// run of backslashes), or len(v) when it is not closed.
func stringEnd(v []byte) int {
	for i := 0; i < len(v); {
		j := bytes.IndexByte(v[i:], '"')
		if j < 0 {
			return len(v)
		}
		q := i + j
		n := 0
		for n < q && v[q-1-n] == '\\' {
			n++
		}
		if n%2 == 0 {
			return q
		}
		i = q + 1
	}
	return len(v)
}

// containsSessionManager is textparse.ContainsFold(b, "session manager"), anchored
// on the space.
func containsSessionManager(b []byte) bool {
	const before, after = "session", "manager"
	for i := len(before); i+len(after) < len(b); {
		j := bytes.IndexByte(b[i:len(b)-len(after)], ' ')
		if j < 0 {
			return false
		}
		i += j
		if foldEqual(b[i-len(before):i], before) && foldEqual(b[i+1:i+1+len(after)], after) {
			return true
		}
		i++
	}
	return false
}

// systemCandidate reports whether an ID 12 record may be the System
// log's Kernel-General boot record. Such a record names its provider
// Microsoft-Windows-Kernel-General, or sits in Channel System with a
// StartTime and no provider: so it holds "kernel-general", or both
// "StartTime" and "system", somewhere (any case; escapes, which could
// spell them otherwise, send the line to the full parser before this).
// Channel need not be written (the mapper then goes by provider).
func systemCandidate(line []byte) bool {
	if containsKernelGeneral(line) {
		return true
	}
	_, start := findMember(line, 0, keyStartTime)
	return start && textparse.ContainsFold(line, "system")
}

// containsKernelGeneral is textparse.ContainsFold(b, "kernel-general"),
// anchored on the 'k' and then on the 'K' (0.41% of the bytes of the OTRF
// capture together, against 1.8% for the '-').
func containsKernelGeneral(b []byte) bool {
	return kernelGeneralFrom(b, 'k') || kernelGeneralFrom(b, 'K')
}

// kernelGeneralFrom looks for "kernel-general" (any case) at each k, a
// 'k' or a 'K', of b.
func kernelGeneralFrom(b []byte, k byte) bool {
	const before, after = "ernel", "general"
	const n = 1 + len(before) + 1 + len(after)
	for i := 0; i+n <= len(b); {
		j := bytes.IndexByte(b[i:len(b)-n+1], k)
		if j < 0 {
			return false
		}
		i += j
		if foldEqual(b[i+1:i+1+len(before)], before) && b[i+1+len(before)] == '-' && foldEqual(b[i+2+len(before):i+n], after) {
			return true
		}
		i++
	}
	return false
}

// foldEqual reports whether b is the lower-case ASCII letters w in any
// case (len(b) == len(w)).
func foldEqual(b []byte, w string) bool {
	for i := 0; i < len(w); i++ {
		if b[i]|0x20 != w[i] {
			return false
		}
	}
	return true
}
