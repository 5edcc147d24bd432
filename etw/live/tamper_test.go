package live

import (
	"strings"
	"testing"
)

func TestExpectSession(t *testing.T) {
	started := traceStats{logFileMode: eventTraceRealTime, flushTimer: 0, maximumBuffers: 38}
	cases := []struct {
		name          string
		ms, sec       uint32
		mode, timer   uint32
		maxBuffersOut uint32
	}{
		// The millisecond flush timer adds EVENT_TRACE_USE_MS_FLUSH_TIMER.
		{"ms flush timer", 250, 0, eventTraceRealTime | eventTraceUseMSFlushTimer, 250, 38},
		{"1 s flush timer", 0, 1, eventTraceRealTime, 1, 38},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := expectSession(started, c.ms, c.sec)
			if w.logFileMode != c.mode || w.flushTimer != c.timer || w.maximumBuffers != c.maxBuffersOut {
				t.Errorf("want %+v", w)
			}
			if w.level != 4 || w.anyKeyword != 0x10 || w.allKeyword != 0 || w.enableProperty != enablePropertySID|enablePropertyTSID {
				t.Errorf("provider expectation %+v", w)
			}
		})
	}
}

func TestCheckSession(t *testing.T) {
	const logger = 0x2c
	want := expectSession(traceStats{logFileMode: eventTraceRealTime, maximumBuffers: 38}, 250, 0)
	ours := traceEnableInfo{isEnabled: 1, level: 4, loggerID: logger, enableProperty: enablePropertySID | enablePropertyTSID,
		matchAnyKeyword: 0x10}
	other := traceEnableInfo{isEnabled: 1, level: 5, loggerID: 7, matchAnyKeyword: 0xffff}
	healthy := sessionObserved{
		stats:    traceStats{logFileMode: eventTraceRealTime | eventTraceUseMSFlushTimer, flushTimer: 250, maximumBuffers: 38},
		enables:  []traceEnableInfo{other, ours},
		loggerID: logger,
	}
	cases := []struct {
		name string
		mod  func(o *sessionObserved)
		want []string // substrings; none: healthy
	}{
		{"healthy (another session's enable is not ours)", func(*sessionObserved) {}, nil},
		{"keyword 0 (all events)", func(o *sessionObserved) { o.enables[1].matchAnyKeyword = 0 }, []string{"MatchAnyKeyword is 0x0, set 0x10"}},
		{"keyword added", func(o *sessionObserved) { o.enables[1].matchAnyKeyword = 0x30 }, []string{"MatchAnyKeyword is 0x30"}},
		{"keyword replaced", func(o *sessionObserved) { o.enables[1].matchAnyKeyword = 0x20 }, []string{"MatchAnyKeyword is 0x20"}},
		{"MatchAllKeyword set", func(o *sessionObserved) { o.enables[1].matchAllKeyword = 0x10 }, []string{"MatchAllKeyword is 0x10, set 0x0"}},
		{"level raised", func(o *sessionObserved) { o.enables[1].level = 5 }, []string{"level is 5, set 4"}},
		{"level lowered", func(o *sessionObserved) { o.enables[1].level = 2 }, []string{"level is 2"}},
		{"level 0", func(o *sessionObserved) { o.enables[1].level = 0 }, []string{"level is 0"}},
		{"properties removed", func(o *sessionObserved) { o.enables[1].enableProperty = enablePropertySID }, []string{"enable properties are 0x1, set 0x3"}},
		{"properties added", func(o *sessionObserved) { o.enables[1].enableProperty |= 0x40 }, []string{"enable properties are 0x43"}},
		{"disabled", func(o *sessionObserved) { o.enables[1].isEnabled = 0 }, []string{"disabled"}},
		{"no longer enabled", func(o *sessionObserved) { o.enables = o.enables[:1] }, []string{"no longer enabled"}},
		{"ms flush timer flag cleared", func(o *sessionObserved) { o.stats.logFileMode = eventTraceRealTime }, []string{"LogFileMode is 0x100, set 0x110"}},
		{"LogFileMode bit added", func(o *sessionObserved) { o.stats.logFileMode |= 0x8000 }, []string{"LogFileMode is 0x8110"}},
		{"FlushTimer changed", func(o *sessionObserved) { o.stats.flushTimer = 1 }, []string{"FlushTimer is 1, set 250"}},
		{"MaximumBuffers lowered", func(o *sessionObserved) { o.stats.maximumBuffers = 2 }, []string{"MaximumBuffers is 2, set 38"}},
		{"second provider", func(o *sessionObserved) { o.foreign = 12 }, []string{"12 events of another provider"}},
		{"several at once, all named", func(o *sessionObserved) {
			o.enables[1].matchAnyKeyword = 0
			o.stats.flushTimer = 1000
			o.foreign = 1
		}, []string{"MatchAnyKeyword", "FlushTimer is 1000", "another provider"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := healthy
			o.enables = append([]traceEnableInfo(nil), healthy.enables...)
			c.mod(&o)
			r := checkSession(want, o)
			if len(c.want) == 0 {
				if r != "" {
					t.Errorf("healthy session reported: %q", r)
				}
				return
			}
			if !strings.HasPrefix(r, "ETW session tampered with: ") {
				t.Errorf("reason %q", r)
			}
			for _, w := range c.want {
				if !strings.Contains(r, w) {
					t.Errorf("reason %q lacks %q", r, w)
				}
			}
		})
	}
}
