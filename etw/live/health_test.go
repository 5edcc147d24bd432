package live

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
)

func TestTracePropertiesBuffer(t *testing.T) {
	buf := newTracePropertiesBuffer()
	le := binary.LittleEndian
	if int(le.Uint32(buf[0:])) != len(buf) || le.Uint32(buf[etpWnodeFlags:]) != wnodeFlagTracedGUID ||
		le.Uint32(buf[etpLoggerNameOffset:]) != etpSize || le.Uint32(buf[etpLogFileNameOffset:]) != etpSize+etpNameRoom/2 {
		t.Fatal("query buffer header wrong")
	}
	// What ControlTrace QUERY would write back.
	le.PutUint64(buf[etpWnodeHistoricalContext:], 0x2c)
	le.PutUint32(buf[etpBufferSize:], 64)
	le.PutUint32(buf[etpLogFileMode:], eventTraceRealTime)
	le.PutUint32(buf[etpFlushTimer:], 1)
	le.PutUint32(buf[etpNumberOfBuffers:], 8)
	le.PutUint32(buf[etpFreeBuffers:], 6)
	le.PutUint32(buf[etpEventsLost:], 12)
	le.PutUint32(buf[etpBuffersWritten:], 99)
	le.PutUint32(buf[etpLogBuffersLost:], 1)
	le.PutUint32(buf[etpRealTimeBuffersLost:], 2)
	for i, c := range utf16.Encode([]rune("smsswatch")) {
		le.PutUint16(buf[etpSize+2*i:], c)
	}
	st, err := parseTraceProperties(buf)
	if err != nil {
		t.Fatal(err)
	}
	want := traceStats{handle: 0x2c, bufferSizeKB: 64, logFileMode: eventTraceRealTime, flushTimer: 1, buffers: 8,
		freeBuffers: 6, eventsLost: 12, buffersWritten: 99, logBuffersLost: 1, rtBuffersLost: 2, loggerName: "smsswatch"}
	if st != want {
		t.Errorf("got %+v\nwant %+v", st, want)
	}
	setFlushTimer(buf, 3)
	if st, _ := parseTraceProperties(buf); st.flushTimer != 3 || le.Uint32(buf[etpLogFileNameOffset:]) != 0 {
		t.Error("setFlushTimer")
	}
	if _, err := parseTraceProperties(buf[:100]); err == nil {
		t.Error("short buffer accepted")
	}
}

func TestHealthWatch(t *testing.T) {
	var w healthWatch
	if r := w.observe(traceStats{}); r != "" {
		t.Errorf("healthy start: %q", r)
	}
	if r := w.observe(traceStats{eventsLost: 3}); r != "ETW session lost 3 events" {
		t.Errorf("lost events: %q", r)
	}
	if r := w.observe(traceStats{eventsLost: 3}); r != "" {
		t.Errorf("no growth: %q", r)
	}
	if r := w.observe(traceStats{eventsLost: 3, rtBuffersLost: 1, logBuffersLost: 1}); r != "ETW session lost 2 buffers" {
		t.Errorf("lost buffers: %q", r)
	}
	if r := w.observe(traceStats{eventsLost: 4, rtBuffersLost: 2, logBuffersLost: 1}); r != "ETW session lost 1 events and 1 buffers" {
		t.Errorf("both: %q", r)
	}
	// A restarted session counts from zero: not a loss.
	w.reset()
	if r := w.observe(traceStats{}); r != "" {
		t.Errorf("after reset: %q", r)
	}
	// Losses already counted when first seen are reported.
	w.reset()
	if r := w.observe(traceStats{eventsLost: 7}); !strings.Contains(r, "7 events") {
		t.Errorf("first observation: %q", r)
	}
}

// guidInfo builds an EnumerateTraceGuidsEx(TraceGuidQueryInfo) buffer.
func guidInfo(instances [][]traceEnableInfo) []byte {
	le := binary.LittleEndian
	buf := make([]byte, 8)
	le.PutUint32(buf, uint32(len(instances)))
	for i, infos := range instances {
		inst := make([]byte, 16+32*len(infos))
		next := 0
		if i < len(instances)-1 {
			next = len(inst)
		}
		le.PutUint32(inst[0:], uint32(next))
		le.PutUint32(inst[4:], uint32(len(infos)))
		le.PutUint32(inst[8:], 1234)
		for j, e := range infos {
			p := inst[16+32*j:]
			le.PutUint32(p[0:], e.isEnabled)
			p[4] = e.level
			le.PutUint16(p[6:], e.loggerID)
			le.PutUint32(p[8:], e.enableProperty)
			le.PutUint64(p[16:], e.matchAnyKeyword)
			le.PutUint64(p[24:], e.matchAllKeyword)
		}
		buf = append(buf, inst...)
	}
	return buf
}

func TestTraceGuidInfoAndTamper(t *testing.T) {
	ours := traceEnableInfo{isEnabled: 1, level: 4, loggerID: 0x2c, enableProperty: 3, matchAnyKeyword: 0x10}
	other := traceEnableInfo{isEnabled: 1, level: 5, loggerID: 0x11, enableProperty: 0, matchAnyKeyword: 0xffff}
	buf := guidInfo([][]traceEnableInfo{{other}, {ours, other}})
	infos, err := parseTraceGuidInfo(buf)
	if err != nil || len(infos) != 3 || infos[1] != ours {
		t.Fatalf("parse: %v %+v", err, infos)
	}
	if r := checkEnabled(infos, 0x2c); r != "" {
		t.Errorf("healthy: %q", r)
	}
	for _, c := range []struct {
		mod  func(*traceEnableInfo)
		want string
	}{
		{func(e *traceEnableInfo) { e.isEnabled = 0 }, "disabled"},
		{func(e *traceEnableInfo) { e.matchAnyKeyword = 0x20 }, "keyword 0x10 removed"},
		{func(e *traceEnableInfo) { e.matchAllKeyword = 0x30 }, "MatchAllKeyword"},
		{func(e *traceEnableInfo) { e.level = 2 }, "level lowered"},
		{func(e *traceEnableInfo) { e.enableProperty = 1 }, "SID and terminal session"},
		{func(e *traceEnableInfo) { e.loggerID = 0x2d }, "no longer enabled"},
	} {
		e := ours
		c.mod(&e)
		if r := checkEnabled([]traceEnableInfo{other, e}, 0x2c); !strings.Contains(r, c.want) {
			t.Errorf("%s: got %q", c.want, r)
		}
	}
	// All keywords (0) and level 0 (all levels) are fine.
	e := ours
	e.matchAnyKeyword, e.level = 0, 0
	if r := checkEnabled([]traceEnableInfo{e}, 0x2c); r != "" {
		t.Errorf("any keyword: %q", r)
	}
	// Malformed buffers return what they hold and an error, never panic.
	for n := 0; n < len(buf); n++ {
		parseTraceGuidInfo(buf[:n])
	}
	bad := guidInfo([][]traceEnableInfo{{ours}, {ours}})
	binary.LittleEndian.PutUint32(bad[8:], 4) // NextOffset too small
	if _, err := parseTraceGuidInfo(bad); err == nil {
		t.Error("bad NextOffset accepted")
	}
}

func FuzzParseTraceGuidInfo(f *testing.F) {
	f.Add(guidInfo([][]traceEnableInfo{{{isEnabled: 1, loggerID: 3}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		infos, _ := parseTraceGuidInfo(b)
		if len(infos)*32 > len(b) {
			t.Fatalf("%d records from %d bytes", len(infos), len(b))
		}
	})
}

func TestBackoff(t *testing.T) {
	b := newBackoff(time.Second, 8*time.Second)
	var got []time.Duration
	for i := 0; i < 6; i++ {
		got = append(got, b.delay())
	}
	want := []time.Duration{1, 2, 4, 8, 8, 8}
	for i := range want {
		if got[i] != want[i]*time.Second {
			t.Fatalf("delays %v", got)
		}
	}
	b.stable(time.Second)
	if b.delay() != 8*time.Second {
		t.Error("short run reset the back-off")
	}
	b.stable(time.Minute)
	if b.delay() != time.Second {
		t.Error("long run did not reset the back-off")
	}
}
