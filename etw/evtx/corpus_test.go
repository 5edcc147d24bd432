package evtx

import (
	"os"
	"testing"

	"github.com/smsswatch/smsswatch/etw/internal/etwtest"
)

// TestEvtxCorpusIntegrity reads every EVTX capture of the corpus: none has
// a bad checksum, a bad or missing chunk, or a lost record; and each cut
// to its header block reports the chunks its header names as missing.
func TestEvtxCorpusIntegrity(t *testing.T) {
	cases := []struct {
		file    string
		records int64
		chunks  int64 // the file header's chunk count
	}{
		{"DE_sysmon-3-rdp-tun.evtx", 73, 1},
		{"privesc_unquoted_svc_sysmon_1_11.evtx", 87, 3},
		{"win11_24h2_Security.evtx", 1715, 23},
		{"win11_24h2_System.evtx", 1247, 10},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			data, err := os.ReadFile(etwtest.CorpusFile(t, c.file))
			if err != nil {
				t.Fatal(err)
			}
			run := readEvtxRun(t, data)
			if run.err != nil {
				t.Fatal(run.err)
			}
			st := run.stats
			if st.Records != c.records || st.Skipped != 0 || st.BadChunks != 0 || st.LostRecords != 0 || st.MissingChunks != 0 || st.ChecksumErrors != 0 {
				t.Errorf("stats %+v, skips %q", st, run.skips)
			}
			cut := readEvtxRun(t, data[:0x1000])
			if cut.err != nil || len(cut.events) != 0 || cut.stats.MissingChunks != c.chunks || cut.stats.LostRecords < c.chunks || len(cut.skips) != 1 {
				t.Errorf("cut to its header: stats %+v, skips %q, err %v", cut.stats, cut.skips, cut.err)
			}
			t.Logf("cut to its header: %q", cut.skips)
			// Cut after its first chunk, the oldest: the records of the
			// others are counted exactly from the header's next record ID.
			half := readEvtxRun(t, data[:0x1000+evtxChunkSize])
			if c.chunks > 1 && (half.stats.MissingChunks != c.chunks-1 || half.stats.Records+half.stats.LostRecords != c.records) {
				t.Errorf("cut after chunk 0: stats %+v, skips %q", half.stats, half.skips)
			}
		})
	}
}
