package jsonenc

import (
	"testing"
	"time"
)

func TestAppendTimeMatchesTimeFormat(t *testing.T) {
	ts := []int64{0, 1, -1, 999999999, 1e9, -1e9 - 1, 951782400e9 /* 2000-02-29 */, 4102444800e9 - 1,
		time.Date(2262, 4, 11, 23, 47, 16, 854775807, time.UTC).UnixNano(), -1 << 63, 1<<63 - 1}
	for i := int64(0); i < 2000; i++ {
		ts = append(ts, i*7919*86400e9/3+i*1234567, -i*86400e9*11)
	}
	for _, n := range ts {
		want := `"` + time.Unix(0, n).UTC().Format("2006-01-02T15:04:05.000000000Z") + `"`
		if got := string(AppendTime([]byte("x"), n)); got != "x"+want {
			t.Fatalf("AppendTime(%d) = %s, want x%s", n, got, want)
		}
	}
}

func TestAppendJoined(t *testing.T) {
	for _, c := range []struct{ a, sep, b, want string }{
		{"smss", ".", "exe", `"smss.exe"`},
		{"", "", "", `""`},
		{"a\"", "\\", "\n", `"a\"\\\n"`},
	} {
		t.Run(c.want, func(t *testing.T) {
			if got := string(AppendJoined(nil, c.a, c.sep, c.b)); got != c.want {
				t.Errorf("AppendJoined(%q, %q, %q) = %s, want %s", c.a, c.sep, c.b, got, c.want)
			}
			if got, want := string(AppendStringBody(nil, c.a+c.sep+c.b)), c.want[1:len(c.want)-1]; got != want {
				t.Errorf("AppendStringBody = %s, want %s", got, want)
			}
		})
	}
}
