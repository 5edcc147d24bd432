package alert_test

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/smsswatch/smsswatch/detect"
	"github.com/smsswatch/smsswatch/stream/alert"
)

func ExampleAppendAlert() {
	v := &detect.Violation{
		Rule: detect.RuleImagePath, Severity: detect.SeverityHigh,
		Host: "WS01", Message: "smss.exe ran from C:\\Users\\Public\\smss.exe",
		DedupeKey: 0x0123456789abcdef,
	}
	doc := alert.AppendAlert(nil, v)
	var d struct {
		Rule struct {
			ID string `json:"id"`
		} `json:"rule"`
		Host struct {
			Name string `json:"name"`
		} `json:"host"`
		Smsswatch struct {
			DedupeKey string `json:"dedupe_key"`
		} `json:"smsswatch"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		panic(err)
	}
	fmt.Println(d.Rule.ID, d.Host.Name, d.Smsswatch.DedupeKey)
	// Output: smss.image_path WS01 0123456789abcdef
}

func ExampleLineWriter() {
	w := alert.NewLineWriter(os.Stdout, 1024) // drop repeats of a dedupe key
	v := &detect.Violation{Rule: detect.RuleImagePath, Host: "WS01", DedupeKey: 1}
	w.Violation(v)
	w.Violation(v) // reported again by another source: not written
	fmt.Println(w.Written(), w.Duplicates(), w.Err())
}
