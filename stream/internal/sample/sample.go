// Package sample holds the test violation the stream packages' tests
// share: sample.Violation() is a fully populated one to encode, publish
// or print.
package sample

import (
	"time"

	"github.com/smsswatch/smsswatch/detect"
	"github.com/smsswatch/smsswatch/etw"
)

// Violation returns a fully populated violation (rule smss.image_path,
// every process field known), a new one on each call.
func Violation() *detect.Violation {
	t := time.Date(2025, 3, 4, 5, 6, 7, 890123456, time.UTC).UnixNano()
	return &detect.Violation{
		Rule:     detect.RuleImagePath,
		Severity: detect.SeverityHigh,
		Source:   etw.SourceETW,
		Time:     t,
		Host:     "WS01.corp.example",
		Message:  `smss.exe ran from C:\Users\Public\smss.exe`,
		Process: detect.ProcessInfo{
			Known: etw.FieldPID | etw.FieldParentPID | etw.FieldCreatorPID | etw.FieldImage |
				etw.FieldCommandLine | etw.FieldUserSID | etw.FieldUserName | etw.FieldCreatorSID |
				etw.FieldCreateTime | etw.FieldKey | etw.FieldSession,
			PID: 4242, ParentPID: 1000, CreatorPID: 1001, Session: 1,
			CreateTime:  t - int64(time.Second),
			Image:       `C:\Users\Public\smss.exe`,
			CommandLine: `"C:\Users\Public\smss.exe" 000000c8 00000084`,
			UserSID:     "S-1-5-21-1-2-3-1001", UserName: `CORP\eve`, CreatorSID: "S-1-5-21-1-2-3-1001",
			Key: "12345",
		},
		Parent: detect.ProcessInfo{
			Known: etw.FieldPID | etw.FieldImage,
			PID:   1000, Image: `C:\Windows\explorer.exe`,
		},
		Evidence: detect.Evidence{
			Role: detect.RoleRogue, Expected: `C:\Windows\System32\smss.exe`, Observed: `C:\Users\Public\smss.exe`,
			BootTime: t - int64(time.Hour), Spawned: []string{"csrss.exe", "cmd.exe"},
		},
		Count:     1,
		DedupeKey: 0x0123456789abcdef,
	}
}
