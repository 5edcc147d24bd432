package live

import "testing"

func TestJudgeProbe(t *testing.T) {
	const ct = int64(1_700_000_000_000_000_000)
	cases := []struct {
		name           string
		p              procProbe
		create         int64
		running, known bool
	}{
		{"same process, running", procProbe{opened: true, created: ct}, ct, true, true},
		{"creation time within 1 ms", procProbe{opened: true, created: ct + 999_999}, ct, true, true},
		{"no such process (lost ProcessStop)", procProbe{gone: true}, ct, false, true},
		{"PID reused by a later process", procProbe{opened: true, created: ct + 5_000_000_000}, ct, false, true},
		{"PID reused, earlier creation", procProbe{opened: true, created: ct - 2_000_000}, ct, false, true},
		{"exited, handle still open elsewhere", procProbe{opened: true, created: ct, exited: ct + 1}, ct, false, true},
		{"access denied: unknown", procProbe{}, ct, false, false},
		{"running, no creation time to compare", procProbe{opened: true, created: ct}, 0, true, false},
		{"exited, no creation time", procProbe{opened: true, created: ct, exited: ct + 1}, 0, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, k := judgeProbe(c.p, c.create)
			if r != c.running || k != c.known {
				t.Errorf("judgeProbe = (%v, %v), want (%v, %v)", r, k, c.running, c.known)
			}
		})
	}
}
