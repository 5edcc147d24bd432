package detect

import (
	"testing"

	"github.com/smsswatch/smsswatch/etw"
)

var fuzzImages = []string{
	`C:\Windows\System32\smss.exe`, `\Device\HarddiskVolume3\Windows\System32\smss.exe`, `C:\Users\Public\smss.exe`,
	`C:\Windows\System32\csrss.exe`, `C:\Windows\System32\wininit.exe`, `C:\Windows\System32\winlogon.exe`,
	`C:\Windows\System32\autochk.exe`, `C:\Windows\explorer.exe`, `System`, `C:\Windows\System32\ѕmss.exe:x`, ``,
}

var fuzzCmds = []string{`\SystemRoot\System32\smss.exe`, `\SystemRoot\System32\smss.exe 000000c8 00000084`, `x`, ``}

var fuzzRegKeys = []string{`HKLM\System\CurrentControlSet\Control\Session Manager`, `HKLM\System\ControlSet001\Control\Session Manager\AppCertDlls`, `HKLM\System\CurrentControlSet\Control\Session Manager\KnownDLLs`, `HKLM\Software\x`}

var fuzzRegValues = []string{"BootExecute", "PendingFileRenameOperations", "SetupExecute", "x", ""}

// eventFromBytes turns 8 fuzz bytes into an event over a small PID space,
// so that parents, reuse and exits collide often.
func eventFromBytes(b []byte, now *int64, ev *etw.Event) {
	ev.Reset()
	*now += int64(b[0]) * int64(b[0]) * 1e7 // up to ~650 s per step
	ev.Time = *now
	ev.Host = "H"
	ev.Source = etw.Source(1 + b[1]%3)
	ev.Kind = etw.Kind(1 + b[1]>>2%5)
	ev.Known = etw.Field(uint32(b[2]) | uint32(b[3])<<8)
	p := &ev.Proc
	p.PID = uint32(b[4]%16) * 4
	p.ParentPID = uint32(b[5]%16) * 4
	p.CreatorPID = uint32(b[6]%16) * 4
	p.Session = uint32(b[6] >> 6)
	p.Image = fuzzImages[int(b[7])%len(fuzzImages)]
	p.ParentImage = fuzzImages[int(b[5]>>4)%len(fuzzImages)]
	p.CommandLine = fuzzCmds[int(b[7]>>4)%len(fuzzCmds)]
	p.CreateTime = ev.Time - int64(b[3])*1e9
	p.ExitTime = ev.Time
	p.UserSID = "S-1-5-18"
	if b[2]&0x80 != 0 {
		p.UserSID = "S-1-5-21-1"
	}
	p.Key = fuzzCmds[int(b[4]>>4)%len(fuzzCmds)]
	p.ParentKey = fuzzCmds[int(b[5]>>4)%len(fuzzCmds)]
	ev.Reg = etw.Registry{Op: etw.RegOp(b[6] % 8), PID: p.PID, Image: p.Image,
		Key: fuzzRegKeys[int(b[7])%len(fuzzRegKeys)], Value: fuzzRegValues[int(b[6]>>3)%len(fuzzRegValues)], Data: p.CommandLine}
	ev.Boot.BootTime = ev.Time - int64(b[2])*1e9
}

// FuzzEngine: any sequence of events never panics and never grows the
// engine's state past its caps.
func FuzzEngine(f *testing.F) {
	f.Add([]byte("\x01\x00\xff\xff\x01\x01\x01\x00\x01\x04\xff\xff\x02\x01\x01\x00"))
	f.Add(make([]byte, 64))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := DefaultConfig()
		cfg.MaxInstances = 8
		cfg.AggregateAfter = 2
		cfg.History = 4
		d, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		emitted := 0
		e := d.Engine("H", etw.SourceSysmon, SinkFunc(func(v *Violation) {
			emitted++
			if v.Rule == RuleNone || v.Count == 0 || v.DedupeKey == 0 {
				t.Fatalf("malformed violation %+v", v)
			}
		}))
		var ev etw.Event
		now := int64(1e18)
		for len(data) >= 8 {
			eventFromBytes(data[:8], &now, &ev)
			data = data[8:]
			e.Handle(&ev)
			if len(e.inst) > cfg.MaxInstances || e.byPID.len() > cfg.MaxInstances || len(e.byKey) > cfg.MaxInstances {
				t.Fatalf("state past its cap: %d instances, %d pids, %d keys", len(e.inst), e.byPID.len(), len(e.byKey))
			}
			if len(e.history) > cfg.History {
				t.Fatalf("history past its cap: %d", len(e.history))
			}
		}
		e.Flush()
		_ = e.Report()
	})
}
