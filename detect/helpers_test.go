package detect_test

import (
	"testing"
	"time"

	"github.com/smsswatch/smsswatch/detect"
	"github.com/smsswatch/smsswatch/etw"
)

// t0 is the boot of every scenario built in code.
var t0 = time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC).UnixNano()

func at(sec float64) int64 { return t0 + int64(sec*1e9) }

const (
	sys32   = `C:\Windows\System32\`
	smssImg = sys32 + "smss.exe"
)

// proc builds a start event with the usual fields known.
func proc(src etw.Source, sec float64, pid, ppid uint32, image, parentImage, cmd string) etw.Event {
	ev := etw.Event{Time: at(sec), Kind: etw.KindStart, Source: src, Host: "HOST1"}
	ev.Known = etw.FieldPID | etw.FieldParentPID | etw.FieldImage
	ev.Proc.PID, ev.Proc.ParentPID, ev.Proc.Image = pid, ppid, image
	if parentImage != "" {
		ev.Known |= etw.FieldParentImage
		ev.Proc.ParentImage = parentImage
	}
	if cmd != "" {
		ev.Known |= etw.FieldCommandLine
		ev.Proc.CommandLine = cmd
	}
	return ev
}

func exitOf(src etw.Source, sec float64, pid uint32) etw.Event {
	ev := etw.Event{Time: at(sec), Kind: etw.KindExit, Source: src, Host: "HOST1", Known: etw.FieldPID}
	ev.Proc.PID = pid
	return ev
}

// recorder collects violations.
type recorder struct{ got []detect.Violation }

func (r *recorder) Violation(v *detect.Violation) { r.got = append(r.got, *v) }

func (r *recorder) count(rule detect.Rule) (n int) {
	for _, v := range r.got {
		if v.Rule == rule {
			n += int(v.Count)
		}
	}
	return n
}

func newEngine(t testing.TB, cfg detect.Config, src etw.Source) (*detect.Engine, *recorder) {
	t.Helper()
	d, err := detect.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	return d.Engine("HOST1", src, rec), rec
}

// bootChain feeds a master (404) and two session children (500, 584) that
// start csrss/wininit/winlogon; exits only when withExits.
func bootChain(e *detect.Engine, src etw.Source, withExits bool) {
	evs := []etw.Event{
		proc(src, 2, 404, 4, smssImg, "System", `\SystemRoot\System32\smss.exe`),
		proc(src, 17, 500, 404, smssImg, smssImg, `\SystemRoot\System32\smss.exe 000000c8 00000084 `),
		proc(src, 17.1, 508, 500, sys32+"csrss.exe", smssImg, ""),
		proc(src, 17.2, 576, 500, sys32+"wininit.exe", smssImg, ""),
	}
	for i := range evs {
		e.Handle(&evs[i])
	}
	if withExits {
		x := exitOf(src, 17.3, 500)
		e.Handle(&x)
	}
	more := []etw.Event{
		proc(src, 17.4, 584, 404, smssImg, smssImg, `\SystemRoot\System32\smss.exe 000000d0 00000084 `),
		proc(src, 17.5, 592, 584, sys32+"csrss.exe", smssImg, ""),
		proc(src, 17.6, 676, 584, sys32+"winlogon.exe", smssImg, ""),
	}
	for i := range more {
		e.Handle(&more[i])
	}
	if withExits {
		x := exitOf(src, 17.7, 584)
		e.Handle(&x)
	}
}
