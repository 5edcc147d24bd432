// Package spool keeps, in order, the violations a publisher could not
// deliver yet.
//
//	b, err := spool.Open(dir, 256<<20) // or spool.NewMemory(256<<20)
//	b.Append(key, subject, payload)    // when NATS cannot take it now
//	var rec spool.Record
//	for ok, _ := b.Next(&rec); ok; ok, _ = b.Next(&rec) {
//		// send rec.Buf[:rec.SubjLen], rec.Buf[rec.SubjLen:] ...
//		b.Commit(rec.Pos) // ... once it was acknowledged
//	}
//	b.Rewind() // unacknowledged records are read again
//
// The disk spool is a directory of append-only segment files of
// self-checking records and a cursor file: it survives a restart, skips
// (and counts) damaged records, drops its oldest records to stay within
// its size, and refuses a directory others may write to or planted links
// (ErrUnsafe). A Backlog is used from one goroutine.
package spool
