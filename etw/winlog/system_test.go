package winlog

import (
	"testing"

	"github.com/smsswatch/smsswatch/etw"

	"github.com/smsswatch/smsswatch/etw/internal/etwtest"
)

func TestSystemBoot(t *testing.T) {
	base := map[string]string{"Channel": "System", "Hostname": "H",
		"EventTime": "2021-03-02 09:14:58", "EventReceivedTime": "2021-03-02 09:16:29", "@timestamp": "2021-03-02T14:16:29.9Z"}
	at := etwtest.NS("2021-03-02 14:14:58")
	cases := []struct {
		name     string
		fields   map[string]string
		emit     bool
		bootTime int64 // 0: unknown
		reason   string
	}{
		{"kernel general 12", with(base, "EventID", "12", "SourceName", "Microsoft-Windows-Kernel-General", "StartTime", "2021-03-02T14:14:57.500000000Z"), true, etwtest.NS("2021-03-02 14:14:57.5"), ""},
		{"12 from EVTX (FILETIME seconds as text)", with(base, "EventID", "12", "ProviderName", "Microsoft-Windows-Kernel-General"), true, 0, ""},
		{"12 of another provider", with(base, "EventID", "12", "SourceName", "Microsoft-Windows-Kernel-Boot", "StartTime", "2021-03-02T14:14:57Z"), false, 0, ""},
		{"12 without provider but with StartTime", with(base, "EventID", "12", "StartTime", "2021-03-02T14:14:57Z"), true, etwtest.NS("2021-03-02 14:14:57"), ""},
		{"12 without provider nor StartTime", with(base, "EventID", "12"), false, 0, ""},
		{"bad StartTime", with(base, "EventID", "12", "SourceName", "Microsoft-Windows-Kernel-General", "StartTime", "soon"), false, 0, `bad StartTime "soon"`},
		{"6005", with(base, "EventID", "6005", "SourceName", "EventLog"), true, 0, ""},
		{"6005 without provider", with(base, "EventID", "6005"), true, 0, ""},
		{"6005 of another provider", with(base, "EventID", "6005", "SourceName", "Fake"), false, 0, ""},
		{"6006 is not read", with(base, "EventID", "6006", "SourceName", "EventLog"), false, 0, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var ev etw.Event
			emit, reason := MapFields(c.fields, &ev)
			if emit != c.emit || reason != c.reason {
				t.Fatalf("emit %v reason %q", emit, reason)
			}
			if !emit {
				return
			}
			if ev.Kind != etw.KindBoot || ev.Source != etw.SourceSystem || ev.Time != at || ev.Host != "H" {
				t.Errorf("%+v", ev)
			}
			if ev.Has(etw.FieldBootTime) != (c.bootTime != 0) || ev.Boot.BootTime != c.bootTime {
				t.Errorf("boot time %s known %v", etw.TimeOf(ev.Boot.BootTime), ev.Has(etw.FieldBootTime))
			}
		})
	}
}
