package live

import (
	"strconv"
	"strings"
)

// The tamper check of a health tick, in pure Go: what the sensor set up
// (sessionWant) against what ControlTrace QUERY, EnumerateTraceGuidsEx and
// the callback's counters show (sessionObserved). Anything other than
// what was set is tamper: a keyword added as well as one removed (keyword
// 0, "everything", floods the session as surely as 0x20 blinds it), any
// other level, other enable properties, another LogFileMode, FlushTimer or
// MaximumBuffers, and events of any other provider (someone enabled a
// second provider in our session). What the enable list cannot show, an
// event-ID filter, is undone by re-issuing the enable on every tick and
// caught end to end by the canary.

// sessionWant is how the sensor configured its session.
type sessionWant struct {
	level          uint8
	anyKeyword     uint64
	allKeyword     uint64
	enableProperty uint32
	logFileMode    uint32
	flushTimer     uint32
	maximumBuffers uint32
}

// sessionObserved is what one health tick read.
type sessionObserved struct {
	stats    traceStats
	enables  []traceEnableInfo
	loggerID uint16
	// foreign is how many events of other providers the callback dropped
	// since the previous tick.
	foreign uint64
}

// providerWant is the enable the sensor issues (openSession): level 4
// (information), MatchAnyKeyword 0x10, MatchAllKeyword 0, SID and terminal
// session properties.
var providerWant = sessionWant{
	level:          4,
	anyKeyword:     kernelProcessKeywordProcess,
	allKeyword:     0,
	enableProperty: enablePropertySID | enablePropertyTSID,
}

// expectSession returns the full expectation once the session is set up:
// started is the QUERY made right after StartTrace (LogFileMode,
// MaximumBuffers as the system gave them), msTimer the millisecond
// FlushTimer the session took (0: none) and secTimer the FlushTimer in
// seconds set otherwise. The millisecond timer sets
// EVENT_TRACE_USE_MS_FLUSH_TIMER (0x10) in LogFileMode: it is expected.
func expectSession(started traceStats, msTimer, secTimer uint32) sessionWant {
	w := providerWant
	w.logFileMode = started.logFileMode &^ eventTraceUseMSFlushTimer
	w.maximumBuffers = started.maximumBuffers
	w.flushTimer = secTimer
	if msTimer != 0 {
		w.logFileMode |= eventTraceUseMSFlushTimer
		w.flushTimer = msTimer
	}
	return w
}

// checkSession returns every difference between want and obs, as one
// sensor.blind reason ("" when nothing was changed).
func checkSession(want sessionWant, obs sessionObserved) string {
	var why []string
	found := false
	for _, e := range obs.enables {
		if e.loggerID != obs.loggerID {
			continue
		}
		found = true
		if e.isEnabled == 0 {
			why = append(why, "Kernel-Process provider disabled in the ETW session")
			continue
		}
		if e.matchAnyKeyword != want.anyKeyword {
			why = append(why, "MatchAnyKeyword is "+hexU(e.matchAnyKeyword)+", set "+hexU(want.anyKeyword))
		}
		if e.matchAllKeyword != want.allKeyword {
			why = append(why, "MatchAllKeyword is "+hexU(e.matchAllKeyword)+", set "+hexU(want.allKeyword))
		}
		if e.level != want.level {
			why = append(why, "level is "+strconv.Itoa(int(e.level))+", set "+strconv.Itoa(int(want.level)))
		}
		if e.enableProperty != want.enableProperty {
			why = append(why, "enable properties are "+hexU(uint64(e.enableProperty))+", set "+hexU(uint64(want.enableProperty)))
		}
	}
	if !found {
		why = append(why, "Kernel-Process provider no longer enabled in the ETW session")
	}
	st := obs.stats
	if st.logFileMode != want.logFileMode {
		why = append(why, "LogFileMode is "+hexU(uint64(st.logFileMode))+", set "+hexU(uint64(want.logFileMode)))
	}
	if st.flushTimer != want.flushTimer {
		why = append(why, "FlushTimer is "+strconv.FormatUint(uint64(st.flushTimer), 10)+", set "+strconv.FormatUint(uint64(want.flushTimer), 10))
	}
	if st.maximumBuffers != want.maximumBuffers {
		why = append(why, "MaximumBuffers is "+strconv.FormatUint(uint64(st.maximumBuffers), 10)+", set "+strconv.FormatUint(uint64(want.maximumBuffers), 10))
	}
	if obs.foreign > 0 {
		why = append(why, strconv.FormatUint(obs.foreign, 10)+" events of another provider (a second provider enabled in the session)")
	}
	if len(why) == 0 {
		return ""
	}
	return "ETW session tampered with: " + strings.Join(why, "; ")
}

func hexU(v uint64) string { return "0x" + strconv.FormatUint(v, 16) }
