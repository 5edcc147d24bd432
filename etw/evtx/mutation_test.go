package evtx

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"github.com/smsswatch/smsswatch/etw"
	"github.com/smsswatch/smsswatch/etw/internal/etwtest"
)

// evtxRun is what one read of an EVTX input gave.
type evtxRun struct {
	events []etw.Event
	stats  etw.ReadStats
	skips  []string
	err    error
}

// damaged reports whether the run told of any damage.
func (r evtxRun) damaged() bool {
	st := r.stats
	return r.err != nil || st.Skipped > 0 || st.BadChunks > 0 || st.LostRecords > 0 || st.MissingChunks > 0 || st.ChecksumErrors > 0
}

func readEvtxRun(t testing.TB, data []byte) evtxRun {
	t.Helper()
	run, _ := readEvtxWith(t, data, nil)
	return run
}

// readEvtxWith reads data to its end with a Reader that set (when not
// nil) configured first, and returns what it gave and the Reader, for
// its internal counters.
func readEvtxWith(t testing.TB, data []byte, set func(*Reader)) (evtxRun, *Reader) {
	t.Helper()
	var skips etwtest.SkipLog
	r := NewReader(bytes.NewReader(data), "m.evtx", &skips)
	if set != nil {
		set(r)
	}
	var run evtxRun
	for i := 0; ; i++ {
		if i > 1_000_000 {
			t.Fatal("reader does not end")
		}
		var ev etw.Event
		if err := r.Next(&ev); err != nil {
			if err != io.EOF {
				run.err = err
			}
			break
		}
		run.events = append(run.events, ev)
	}
	run.stats, run.skips = r.Stats(), skips.Got
	return run, r
}

// mutationPositions samples byte offsets of an EVTX file: every byte of
// the file header's first 128 and of each chunk header, and n more spread
// over the whole file (records, slack, unused chunks) at random.
func mutationPositions(size, n int, rng *rand.Rand) []int {
	var pos []int
	for i := 0; i < evtxFileHeaderSize && i < size; i++ {
		pos = append(pos, i)
	}
	for off := 0x1000; off < size; off += evtxChunkSize {
		for i := 0; i < evtxChunkHeader && off+i < size; i++ {
			pos = append(pos, off+i)
		}
	}
	for range n {
		pos = append(pos, rng.IntN(size))
	}
	return pos
}

// checkMutant asserts that a damaged copy of a file read either exactly
// as the original or with its damage counted, that it made up no event,
// and, with exact set (one damaged place), that every record of the
// original is either read or counted lost. It returns whether the mutant
// reported damage.
func checkMutant(t *testing.T, name string, orig evtxRun, data []byte, exact bool) bool {
	t.Helper()
	got := readEvtxRun(t, data)
	identical := got.err == nil && slices.Equal(got.events, orig.events)
	if !identical && !got.damaged() {
		t.Errorf("%s: silent change: %d events (of %d), stats %+v, err %v", name, len(got.events), len(orig.events), got.stats, got.err)
		return false
	}
	for i := range got.events {
		if !slices.Contains(orig.events, got.events[i]) {
			t.Errorf("%s: event not in the original: %+v (stats %+v, skips %q)", name, got.events[i], got.stats, got.skips)
			return got.damaged()
		}
	}
	if exact && got.err == nil && got.stats.Records+got.stats.LostRecords < orig.stats.Records {
		t.Errorf("%s: %d record(s) read and %d counted lost of %d (skips %q)", name, got.stats.Records, got.stats.LostRecords, orig.stats.Records, got.skips)
	}
	return got.damaged()
}

// mutate runs checkMutant over one flipped bit and one overwritten byte
// at every position.
func mutate(t *testing.T, data []byte, pos []int, rng *rand.Rand) {
	orig := readEvtxRun(t, data)
	if orig.err != nil || orig.damaged() {
		t.Fatalf("original is damaged: %+v %v %q", orig.stats, orig.err, orig.skips)
	}
	var damaged, same int
	buf := bytes.Clone(data)
	for _, p := range pos {
		bit := byte(1) << rng.IntN(8)
		b := byte(rng.IntN(256))
		if b == data[p] {
			b ^= 0xff
		}
		for _, m := range []struct {
			name string
			v    byte
		}{{fmt.Sprintf("offset %#x bit %#02x", p, bit), data[p] ^ bit}, {fmt.Sprintf("offset %#x byte %#02x", p, b), b}} {
			buf[p] = m.v
			if checkMutant(t, m.name, orig, buf, true) {
				damaged++
			} else {
				same++
			}
		}
		buf[p] = data[p]
	}
	t.Logf("%d mutants: %d reported damage, %d read identically", damaged+same, damaged, same)
}

// TestEvtxMutation flips bits and bytes of EVTX files: every mutant must
// read identically or report its damage, never change silently.
func TestEvtxMutation(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 520))
	t.Run("synthetic", func(t *testing.T) {
		data := synthFile()
		mutate(t, data, mutationPositions(len(data), 400, rng), rng)
	})
	t.Run("synthetic, dirty (a live copy)", func(t *testing.T) {
		// The dirty flag excuses a stale file header checksum: a mutant
		// of the header must still read identically (or report damage).
		data := live(synthFile(), evtxFlagDirty, func([]byte) {})
		mutate(t, data, mutationPositions(len(data), 200, rng), rng)
	})
	t.Run("corpus", func(t *testing.T) {
		data, err := os.ReadFile(etwtest.CorpusFile(t, "DE_sysmon-3-rdp-tun.evtx"))
		if err != nil {
			t.Fatal(err)
		}
		n := 200
		if testing.Short() {
			n = 50
		}
		mutate(t, data, mutationPositions(len(data), n, rng), rng)
	})
}

// TestEvtxTruncation cuts files at every chunk boundary and inside chunks:
// whatever is cut is counted lost or missing.
func TestEvtxTruncation(t *testing.T) {
	data := synthFile()
	orig := readEvtxRun(t, data)
	cuts := []int{evtxFileHeaderSize, 0x800, 0x1000, 0x1000 + 100, 0x1000 + evtxChunkHeader, 0x1000 + 0x400,
		0x1000 + evtxChunkSize, 0x1000 + evtxChunkSize + 0x300, len(data) - 1}
	for _, n := range cuts {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			got := readEvtxRun(t, data[:n])
			if got.err != nil {
				t.Fatal(got.err)
			}
			if len(got.events) < len(orig.events) && !got.damaged() {
				t.Errorf("%d of %d events with no damage reported", len(got.events), len(orig.events))
			}
			if got.stats.Records+got.stats.LostRecords < orig.stats.Records && n >= 0x1000+evtxChunkHeader {
				t.Errorf("%d record(s) read, %d counted lost, of %d: %q", got.stats.Records, got.stats.LostRecords, orig.stats.Records, got.skips)
			}
			if got.stats.LostRecords == 0 && n < len(data)-evtxChunkSize+0x300 {
				t.Errorf("nothing counted lost: %+v %q", got.stats, got.skips)
			}
		})
	}
}
