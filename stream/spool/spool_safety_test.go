package spool

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// recordOffsets returns where each record of a segment file starts.
func recordOffsets(t *testing.T, path string) []int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var offs []int64
	for off := int64(0); off < int64(len(b)); {
		offs = append(offs, off)
		off += recHeader + int64(binary.LittleEndian.Uint32(b[off+4:]))
	}
	return offs
}

// TestSpoolFlippedByteLosesOne: one flipped byte anywhere in one record of
// N (its magic, length, checksum, sequence, key, subject or payload) loses
// exactly that record, counted as exactly 1 dropped, and every other
// record is read in order. Before, the rest of the segment was lost and
// counted as 1.
func TestSpoolFlippedByteLosesOne(t *testing.T) {
	const n = 100
	parts := []struct {
		name string
		at   int64 // offset in the record
	}{
		{"magic", 1}, {"length", 5}, {"length high byte", 7}, {"checksum", 9}, {"sequence", 12},
		{"key", 21}, {"subject", 31}, {"payload", 60},
	}
	for _, victim := range []int{0, 37, n - 1} {
		for _, part := range parts {
			t.Run(part.name+"/record "+string(rune('0'+victim/10))+string(rune('0'+victim%10)), func(t *testing.T) {
				dir := t.TempDir()
				s, err := openSpool(dir, 1<<20)
				if err != nil {
					t.Fatal(err)
				}
				appendN(t, s, 0, n)
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				seg := filepath.Join(dir, segName(1))
				offs := recordOffsets(t, seg)
				if len(offs) != n {
					t.Fatalf("%d records in the segment", len(offs))
				}
				flipByte(t, seg, offs[victim]+part.at)
				s, err = openSpool(dir, 1<<20)
				if err != nil {
					t.Fatal(err)
				}
				keys := readAll(t, s)
				if len(keys) != n-1 || s.Dropped() != 1 {
					t.Fatalf("read %d of %d, dropped %d; want %d and 1", len(keys), n, s.Dropped(), n-1)
				}
				for i, k := range keys {
					want := uint64(i)
					if i >= victim {
						want++
					}
					if k != want {
						t.Fatalf("record %d has key %d, want %d", i, k, want)
					}
				}
				_ = s.Close()
			})
		}
	}
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x10
	if _, err := f.WriteAt(b[:], off); err != nil {
		t.Fatal(err)
	}
}

// TestSpoolDamageWhileOpen: damage that appears after the spool was
// opened (under a running publisher) also loses exactly the damaged
// records, counted, and a run of damaged records is counted exactly.
func TestSpoolDamageWhileOpen(t *testing.T) {
	cases := []struct {
		name    string
		victims []int
	}{
		{"one record", []int{50}},
		{"three in a row", []int{10, 11, 12}},
		{"two apart", []int{3, 90}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := openSpool(dir, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			appendN(t, s, 0, 100)
			if err := s.Sync(); err != nil {
				t.Fatal(err)
			}
			seg := filepath.Join(dir, segName(1))
			offs := recordOffsets(t, seg)
			for _, v := range c.victims {
				flipByte(t, seg, offs[v]+5) // the length: the reader must resync
			}
			keys := readAll(t, s)
			if len(keys) != 100-len(c.victims) || s.Dropped() != uint64(len(c.victims)) {
				t.Fatalf("read %d, dropped %d; want %d and %d", len(keys), s.Dropped(), 100-len(c.victims), len(c.victims))
			}
			_ = s.Close()
		})
	}
}

// TestSpoolRefusesPlantedLinks: a symbolic link named like a segment,
// the cursor or cursor.tmp is never followed: the spool refuses to open
// (or to write through it) and the link's target is unchanged. Before, a
// segment link's target was truncated and a cursor.tmp link's target
// overwritten.
func TestSpoolRefusesPlantedLinks(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symbolic links need a privilege on Windows; spool_windows.go refuses reparse points")
	}
	const precious = "precious data, not a spool file\n"
	for _, name := range []string{segName(1), segName(7), cursorFile, cursorFile + ".tmp"} {
		t.Run("at open/"+name, func(t *testing.T) {
			dir, target := t.TempDir(), filepath.Join(t.TempDir(), "target")
			if err := os.WriteFile(target, []byte(precious), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
			s, err := openSpool(dir, 1<<20)
			if !errors.Is(err, ErrUnsafe) {
				if s != nil {
					appendN(t, s, 0, 10)
					_ = s.Close()
				}
				t.Errorf("openSpool = %v, want ErrUnsafe", err)
			}
			checkUnchanged(t, target, precious)
		})
	}
	t.Run("planted after open", func(t *testing.T) {
		dir, target := t.TempDir(), filepath.Join(t.TempDir(), "target")
		if err := os.WriteFile(target, []byte(precious), 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := openSpool(dir, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		// The next segment and the cursor's temporary file, planted.
		for _, name := range []string{segName(1), cursorFile + ".tmp"} {
			if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}
		err = s.Append(1, []byte("s.violations.h.r"), []byte(`{"n":1}`))
		if !errors.Is(err, ErrUnsafe) && !errors.Is(err, os.ErrExist) {
			t.Errorf("append through a planted segment link: %v", err)
		}
		if s.Dropped() != 1 {
			t.Errorf("the refused record is not counted: dropped %d", s.Dropped())
		}
		appendN(t, s, 2, 5) // goes to the next segment
		it := &Record{}
		if ok, _ := s.Next(it); ok {
			s.Commit(it.Pos)
		}
		if err := s.Sync(); err != nil {
			t.Fatalf("sync: %v", err)
		}
		_ = s.Close()
		checkUnchanged(t, target, precious)
	})
}

func checkUnchanged(t *testing.T, path, want string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != want {
		t.Fatalf("link target changed to %q", b)
	}
}

// TestSpoolRefusesWritableDir: a spool folder writable by group or others
// is refused with a clear error (before, a 0777 folder was used silently).
func TestSpoolRefusesWritableDir(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows folders have ACLs, not modes")
	}
	cases := []struct {
		mode os.FileMode
		ok   bool
	}{
		{0o700, true}, {0o750, true}, {0o755, true}, {0o770, false}, {0o777, false}, {0o702, false},
	}
	for _, c := range cases {
		t.Run(c.mode.String(), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "spool")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, c.mode); err != nil {
				t.Fatal(err)
			}
			s, err := openSpool(dir, 1<<20)
			if c.ok {
				if err != nil {
					t.Fatalf("mode %v refused: %v", c.mode, err)
				}
				_ = s.Close()
				return
			}
			if !errors.Is(err, ErrUnsafe) {
				t.Fatalf("mode %v: err = %v, want ErrUnsafe", c.mode, err)
			}
		})
	}
}

// TestSpoolPowerLossModel: what sync made durable survives a power loss
// (modelled as the directory as it was at the last sync, plus a torn
// fragment of what was appended after it): every synced record is read,
// the commit cursor holds, and the torn record is counted.
func TestSpoolPowerLossModel(t *testing.T) {
	dir := t.TempDir()
	s, err := openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, s, 0, 50)
	it := &Record{}
	for i := 0; i < 20; i++ {
		if ok, _ := s.Next(it); !ok {
			t.Fatal("short")
		}
		s.Commit(it.Pos)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	// The durable state at the sync.
	snap := map[string][]byte{}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		snap[e.Name()] = b
	}
	if _, ok := snap[cursorFile]; !ok {
		t.Fatal("no cursor after sync")
	}
	appendN(t, s, 50, 10) // not synced: lost in the power cut
	seg, _ := os.ReadFile(filepath.Join(dir, segName(1)))
	torn := seg[len(snap[segName(1)]) : len(snap[segName(1)])+30]
	_ = s.Close()
	// Power cut: the disk holds the synced files and a torn fragment.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, b := range snap {
		if name == segName(1) {
			b = append(append([]byte{}, b...), torn...)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s, err = openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if s.Dropped() != 1 {
		t.Errorf("torn record: dropped %d, want 1", s.Dropped())
	}
	checkKeys(t, readAll(t, s), 20, 30)
	_ = s.Close()
}

// TestSpoolReadsPreviousLayout: records written by the previous spool
// layout (no magic, no sequence) are still delivered after an upgrade.
func TestSpoolReadsPreviousLayout(t *testing.T) {
	dir := t.TempDir()
	var file []byte
	for i := 0; i < 5; i++ {
		subj, payload := []byte("s.violations.h.r"), []byte(`{"n":`+string(rune('0'+i))+`,"pad":"x"}`)
		body := binary.LittleEndian.AppendUint64(nil, uint64(i))
		body = binary.LittleEndian.AppendUint16(body, uint16(len(subj)))
		body = append(append(body, subj...), payload...)
		file = binary.LittleEndian.AppendUint32(file, uint32(len(body)))
		file = binary.LittleEndian.AppendUint32(file, crc32.Checksum(body, castagnoli))
		file = append(file, body...)
	}
	if err := os.WriteFile(filepath.Join(dir, segName(1)), file, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, s, 5, 3)
	checkKeys(t, readAll(t, s), 0, 8)
	if s.Dropped() != 0 {
		t.Errorf("dropped %d", s.Dropped())
	}
	_ = s.Close()
}
