// Package textparse holds the text primitives every recorded source
// shares, each written once: the line reader, the timestamp parser, the
// unsigned-number parser and a case-folding search. None allocates once
// its buffers have grown.
//
//	lr := textparse.Open(f) // or NewLineReader(bufio.Reader, max)
//	for {
//		line, err := lr.Next() // textparse.ErrLineTooLong: skipped, counted by the caller
//		...
//	}
//	ns, zoned, ok := textparse.Time([]byte("2026-11-02 08:00:00.5+01:00"))
//	pid, ok := textparse.Uint32([]byte("0x1a4"))
package textparse
