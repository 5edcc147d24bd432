package spool

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func appendN(t *testing.T, b Backlog, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		payload := fmt.Appendf(nil, `{"n":%d,"pad":"%0200d"}`, i, 0)
		if err := b.Append(uint64(i), []byte("s.violations.h.r"), payload); err != nil {
			t.Fatal(err)
		}
	}
}

// readAll reads and commits everything, returning the keys in order.
func readAll(t *testing.T, b Backlog) []uint64 {
	t.Helper()
	var keys []uint64
	it := &Record{}
	for {
		ok, err := b.Next(it)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return keys
		}
		if string(it.Buf[:it.SubjLen]) != "s.violations.h.r" {
			t.Fatalf("subject %q", it.Buf[:it.SubjLen])
		}
		want := fmt.Sprintf(`{"n":%d,`, it.Key)
		if got := string(it.Buf[it.SubjLen : it.SubjLen+len(want)]); got != want {
			t.Fatalf("payload %q for key %d", got, it.Key)
		}
		keys = append(keys, it.Key)
		b.Commit(it.Pos)
	}
}

func checkKeys(t *testing.T, keys []uint64, from, n int) {
	t.Helper()
	if len(keys) != n {
		t.Fatalf("got %d records, want %d", len(keys), n)
	}
	for i, k := range keys {
		if k != uint64(from+i) {
			t.Fatalf("record %d has key %d, want %d", i, k, from+i)
		}
	}
}

// TestSpoolOrderRewindReopen: records come back in order; rewind re-reads
// what was not committed; a reopened spool resumes after the commit.
func TestSpoolOrderRewindReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, s, 0, 500)
	it := &Record{}
	for i := 0; i < 100; i++ { // read 100, commit 40
		if ok, _ := s.Next(it); !ok {
			t.Fatal("short")
		}
		if i < 40 {
			s.Commit(it.Pos)
		}
	}
	s.Rewind()
	if n, _ := s.Depth(); n != 460 {
		t.Fatalf("depth %d", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Depth(); n != 460 {
		t.Fatalf("depth after reopen %d", n)
	}
	appendN(t, s, 500, 10)
	checkKeys(t, readAll(t, s), 40, 470)
	if n, b := s.Depth(); n != 0 || b != 0 {
		t.Fatalf("depth %d/%d after draining", n, b)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	left, _ := os.ReadDir(dir)
	for _, e := range left {
		t.Errorf("file %s left in a drained spool", e.Name())
	}
}

// TestSpoolDropsOldest: a full spool drops its oldest records, counts
// them, and keeps the newest in order, also across a reopen.
func TestSpoolDropsOldest(t *testing.T) {
	dir := t.TempDir()
	const max = 1 << 20 // segments of 64 KiB
	s, err := openSpool(dir, max)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, s, 0, 20000) // ~5 MB
	n, b := s.Depth()
	if b > max || s.Dropped() == 0 || uint64(n)+s.Dropped() != 20000 {
		t.Fatalf("depth %d records %d bytes, dropped %d", n, b, s.Dropped())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = openSpool(dir, max)
	if err != nil {
		t.Fatal(err)
	}
	keys := readAll(t, s)
	checkKeys(t, keys, 20000-len(keys), len(keys))
	if int64(len(keys)) != n {
		t.Fatalf("reopened spool has %d, had %d", len(keys), n)
	}
	_ = s.Close()
}

// TestSpoolTornTail: a record cut short by a crash is discarded, the rest
// kept, and appending goes on cleanly.
func TestSpoolTornTail(t *testing.T) {
	dir := t.TempDir()
	s, err := openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, s, 0, 10)
	_ = s.Close()
	seg := filepath.Join(dir, segName(1))
	st, _ := os.Stat(seg)
	if err := os.Truncate(seg, st.Size()-7); err != nil {
		t.Fatal(err)
	}
	s, err = openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, s, 9, 3)
	checkKeys(t, readAll(t, s), 0, 12)
	_ = s.Close()

	// A flipped byte in the middle: exactly that record is lost, counted;
	// what follows is read (TestSpoolFlippedByteLosesOne covers every
	// part of a record).
	s, _ = openSpool(dir, 1<<20)
	appendN(t, s, 0, 10)
	_ = s.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(segs) != 1 {
		t.Fatalf("segments %v", segs)
	}
	f, err := os.OpenFile(segs[0], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteAt([]byte{0xff}, 1000)
	_ = f.Close()
	s, _ = openSpool(dir, 1<<20)
	keys := readAll(t, s)
	if len(keys) != 9 || s.Dropped() != 1 {
		t.Fatalf("after corruption read %v, dropped %d", keys, s.Dropped())
	}
	_ = s.Close()
}

func TestMemBacklog(t *testing.T) {
	m := newMemBacklog(10 << 10)
	appendN(t, m, 0, 100)
	n, b := m.Depth()
	if b > 10<<10 || uint64(n)+m.Dropped() != 100 {
		t.Fatalf("depth %d/%d dropped %d", n, b, m.Dropped())
	}
	keys := readAll(t, m)
	checkKeys(t, keys, 100-len(keys), len(keys))
}
