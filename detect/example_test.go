package detect_test

import (
	"fmt"
	"time"

	"github.com/smsswatch/smsswatch/detect"
	"github.com/smsswatch/smsswatch/etw"
)

// printer is a Sink that prints each violation's rule and process.
type printer struct{}

func (printer) Violation(v *detect.Violation) {
	fmt.Println(v.Rule, v.Process.PID, v.Process.Image)
}

// An smss.exe started by explorer from a user folder breaks two rules:
// where it runs from, and who started it.
func Example() {
	det, err := detect.New(detect.DefaultConfig())
	if err != nil {
		panic(err)
	}
	eng := det.Engine("WS1", etw.SourceSysmon, printer{})
	boot := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC).UnixNano()
	start := func(sec int64, pid, ppid uint32, image, parent string) etw.Event {
		ev := etw.Event{Time: boot + sec*1e9, Kind: etw.KindStart, Source: etw.SourceSysmon, Host: "WS1",
			Known: etw.FieldPID | etw.FieldParentPID | etw.FieldImage | etw.FieldParentImage}
		ev.Proc.PID, ev.Proc.ParentPID, ev.Proc.Image, ev.Proc.ParentImage = pid, ppid, image, parent
		return ev
	}
	events := []etw.Event{
		start(2, 404, 4, `C:\Windows\System32\smss.exe`, "System"), // the master
		start(3600, 6120, 5004, `C:\Users\Public\smss.exe`, `C:\Windows\explorer.exe`),
	}
	for i := range events {
		eng.Handle(&events[i])
	}
	eng.Advance(boot + 7200*1e9) // deadlines fire on the event clock
	// Output:
	// smss.image_path 6120 C:\Users\Public\smss.exe
	// smss.parent 6120 C:\Users\Public\smss.exe
}
