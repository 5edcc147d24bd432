package evtx

import (
	"os"
	"reflect"
	"testing"

	"github.com/smsswatch/smsswatch/etw/internal/etwtest"
)

// filterRun is one read of an input, by the Reader as it is or with
// the event ID filter off (every record expanded by the library), and
// how many records the filter spared the library.
type filterRun struct {
	evtxRun
	filtered int
}

func readFiltered(t testing.TB, data []byte, full bool) filterRun {
	t.Helper()
	run, r := readEvtxWith(t, data, func(r *Reader) { r.fullParse = full })
	return filterRun{evtxRun: run, filtered: int(r.unexpanded)}
}

// checkSameAsFull fails unless the filtered read of data gives exactly
// what the full parse gives: events, skip reports, counters, error.
func checkSameAsFull(t *testing.T, data []byte) (filtered, full filterRun) {
	t.Helper()
	filtered, full = readFiltered(t, data, false), readFiltered(t, data, true)
	if full.filtered != 0 {
		t.Fatalf("full parse filtered %d records", full.filtered)
	}
	if !reflect.DeepEqual(filtered.evtxRun, full.evtxRun) {
		t.Fatalf("filtered read differs from the full parse:\nfiltered: %d events, stats %+v, skips %q, err %v\nfull:     %d events, stats %+v, skips %q, err %v",
			len(filtered.events), filtered.stats, filtered.skips, filtered.err,
			len(full.events), full.stats, full.skips, full.err)
	}
	return filtered, full
}

// TestEvtxFilterCorpus reads every corpus EVTX capture with the event ID
// filter and with the full parse: the same events, skips and counters,
// and the filter does spare the library most records.
func TestEvtxFilterCorpus(t *testing.T) {
	for _, name := range corpusEvtx {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(etwtest.CorpusFile(t, name))
			if err != nil {
				t.Fatal(err)
			}
			got, _ := checkSameAsFull(t, data)
			if len(got.events) == 0 {
				t.Errorf("no events")
			}
			if got.filtered == 0 {
				t.Errorf("no record filtered of %d", got.stats.Records)
			}
			t.Logf("%d records, %d events, %d not expanded", got.stats.Records, got.stats.Events, got.filtered)
		})
	}
}
