package stream

import (
	"strings"
	"testing"

	"github.com/smsswatch/smsswatch/detect"
)

// TestAppendViolationSubjectZeroAllocs: building a violation's subject into
// a buffer with room does not allocate.
func TestAppendViolationSubjectZeroAllocs(t *testing.T) {
	sub := make([]byte, 0, 256)
	if a := testing.AllocsPerRun(200, func() {
		sub = appendViolationSubject(sub[:0], "smsswatch", "WS01.Corp", "smss.image_path")
	}); a != 0 {
		t.Errorf("%.1f allocations per subject", a)
	}
}

// FuzzViolationSubject: whatever the host name, the subject built from it
// has exactly one host token and no wildcard or white space.
func FuzzViolationSubject(f *testing.F) {
	for _, s := range []string{"WS01.Corp", "", "a b", "*", ">", "x.y.z", "\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		for _, rule := range []detect.Rule{detect.RuleImagePath, detect.RuleRegistry} {
			subj := ViolationSubject("smsswatch", host, rule.ID())
			tok := strings.Split(subj, ".")
			if len(tok) != 5 || tok[2] == "" || strings.ContainsAny(subj, " \t\r\n*>") {
				t.Fatalf("subject %q", subj)
			}
		}
	})
}
