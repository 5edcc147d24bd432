package input_test

import (
	"fmt"
	"strings"

	"github.com/smsswatch/smsswatch/etw"
	"github.com/smsswatch/smsswatch/etw/input"
)

// OpenReader tells the format by content: here NXLog JSON lines, one of
// them cut short (reported to the Skipper, counted in Stats).
func ExampleOpenReader() {
	log := `{"EventTime":"2026-11-02 08:00:02","Hostname":"WS1","Channel":"Microsoft-Windows-Sysmon/Operational","EventID":1,"UtcTime":"2026-11-02 08:00:02.125","ProcessId":"404","ParentProcessId":"4","Image":"C:\\Windows\\System32\\smss.exe","ParentImage":"System"}
{"EventTime":"2026-11-02 08:00:03","Hostname":"WS1","Channel":"Microsoft-Windows-Sysmon/Operational","EventID":1,"ProcessId":"x1"
`
	skip := etw.SkipFunc(func(file string, record int64, reason string) {
		fmt.Printf("skipped %s:%d: %s\n", file, record, reason)
	})
	in, err := input.OpenReader(strings.NewReader(log), "export.json", skip)
	if err != nil {
		panic(err)
	}
	var ev etw.Event
	for in.Next(&ev) == nil {
		fmt.Println(in.Format, ev.Kind, ev.Host, ev.Proc.PID, ev.Proc.Image)
	}
	st := in.Stats()
	fmt.Println("records", st.Records, "events", st.Events, "skipped", st.Skipped)
	// Output:
	// nxlog-json start WS1 404 C:\Windows\System32\smss.exe
	// skipped export.json:2: not a JSON object
	// records 2 events 1 skipped 1
}
