package evtx

import (
	"os"
	"testing"

	"github.com/smsswatch/smsswatch/etw/internal/etwtest"
)

// corpusEvtx names the corpus's EVTX captures.
var corpusEvtx = []string{
	"DE_sysmon-3-rdp-tun.evtx",
	"privesc_unquoted_svc_sysmon_1_11.evtx",
	"win11_24h2_Security.evtx",
	"win11_24h2_System.evtx",
}

// BenchmarkEvtxCorpus reads each corpus EVTX file with the bare library
// (GetChunks and every chunk's Parse: the floor of issue #14's target)
// and with the Reader, side by side, so that one -count run interleaves
// them on the same noisy machine.
func BenchmarkEvtxCorpus(b *testing.B) {
	for _, name := range corpusEvtx {
		data, err := os.ReadFile(etwtest.CorpusFile(b, name))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name+"/bare", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				barePass(b, data)
			}
		})
		b.Run(name+"/reader", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				readerPass(data, name)
			}
		})
	}
}
