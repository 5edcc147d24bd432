package live

import (
	"encoding/binary"
	"errors"
	"strconv"
	"time"
	"unicode/utf16"
)

// This file holds the pure-Go half of the session health checks: the
// layouts of the buffers that ControlTrace and EnumerateTraceGuidsEx fill
// (built and read with encoding/binary so they are tested on any OS), the
// comparison of successive counters, and the restart back-off.

// EVENT_TRACE_PROPERTIES offsets on 64-bit Windows (WNODE_HEADER is 48
// bytes; HANDLE LoggerThreadId is 8 bytes at 104).
const (
	etpWnodeBufferSize        = 0
	etpWnodeHistoricalContext = 8
	etpWnodeFlags             = 44
	etpBufferSize             = 48
	etpMinimumBuffers         = 52
	etpMaximumBuffers         = 56
	etpLogFileMode            = 64
	etpFlushTimer             = 68
	etpNumberOfBuffers        = 80
	etpFreeBuffers            = 84
	etpEventsLost             = 88
	etpBuffersWritten         = 92
	etpLogBuffersLost         = 96
	etpRealTimeBuffersLost    = 100
	etpLogFileNameOffset      = 112
	etpLoggerNameOffset       = 116
	// etpSize is sizeof(EVENT_TRACE_PROPERTIES) on 64-bit Windows.
	etpSize = 120
	// etpNameRoom is the room left after the structure for the session
	// and log file names (1024 UTF-16 characters each, as the
	// documentation advises for a query).
	etpNameRoom = 2 * 1024 * 2

	wnodeFlagTracedGUID = 0x00020000
	eventTraceRealTime  = 0x00000100
)

// traceStats is what a ControlTrace QUERY says about a session.
type traceStats struct {
	// handle is Wnode.HistoricalContext: the session's TRACEHANDLE (its
	// low 16 bits are the logger ID).
	handle         uint64
	logFileMode    uint32
	flushTimer     uint32
	buffers        uint32
	freeBuffers    uint32
	eventsLost     uint32
	buffersWritten uint32
	logBuffersLost uint32
	rtBuffersLost  uint32
	minimumBuffers uint32
	maximumBuffers uint32
	bufferSizeKB   uint32
	loggerName     string
}

// newTracePropertiesBuffer returns a zeroed EVENT_TRACE_PROPERTIES with
// room for the session and log file names, ready for a QUERY, FLUSH or
// STOP by name.
func newTracePropertiesBuffer() []byte {
	buf := make([]byte, etpSize+etpNameRoom)
	le := binary.LittleEndian
	le.PutUint32(buf[etpWnodeBufferSize:], uint32(len(buf)))
	le.PutUint32(buf[etpWnodeFlags:], wnodeFlagTracedGUID)
	le.PutUint32(buf[etpLoggerNameOffset:], etpSize)
	le.PutUint32(buf[etpLogFileNameOffset:], etpSize+etpNameRoom/2)
	return buf
}

// setFlushTimer prepares a queried buffer for an UPDATE that sets the
// session's FlushTimer (seconds; the API's minimum is 1 s). The log file
// offset is cleared: a real-time session has no file to switch to.
func setFlushTimer(buf []byte, seconds uint32) {
	binary.LittleEndian.PutUint32(buf[etpFlushTimer:], seconds)
	binary.LittleEndian.PutUint32(buf[etpLogFileNameOffset:], 0)
}

// errShortTraceBuffer is returned for a buffer too small to be an
// EVENT_TRACE_PROPERTIES.
var errShortTraceBuffer = errors.New("EVENT_TRACE_PROPERTIES buffer too short")

// parseTraceProperties reads a buffer ControlTrace filled.
func parseTraceProperties(buf []byte) (traceStats, error) {
	if len(buf) < etpSize {
		return traceStats{}, errShortTraceBuffer
	}
	le := binary.LittleEndian
	s := traceStats{
		handle:         le.Uint64(buf[etpWnodeHistoricalContext:]),
		bufferSizeKB:   le.Uint32(buf[etpBufferSize:]),
		minimumBuffers: le.Uint32(buf[etpMinimumBuffers:]),
		maximumBuffers: le.Uint32(buf[etpMaximumBuffers:]),
		logFileMode:    le.Uint32(buf[etpLogFileMode:]),
		flushTimer:     le.Uint32(buf[etpFlushTimer:]),
		buffers:        le.Uint32(buf[etpNumberOfBuffers:]),
		freeBuffers:    le.Uint32(buf[etpFreeBuffers:]),
		eventsLost:     le.Uint32(buf[etpEventsLost:]),
		buffersWritten: le.Uint32(buf[etpBuffersWritten:]),
		logBuffersLost: le.Uint32(buf[etpLogBuffersLost:]),
		rtBuffersLost:  le.Uint32(buf[etpRealTimeBuffersLost:]),
	}
	if off := int(le.Uint32(buf[etpLoggerNameOffset:])); off >= etpSize && off < len(buf) {
		s.loggerName = utf16Z(buf[off:])
	}
	return s, nil
}

// utf16Z decodes a NUL-terminated little-endian UTF-16 string.
func utf16Z(b []byte) string {
	u := make([]uint16, 0, 32)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

// healthWatch compares successive session counters and says when the
// session lost events. It is reset when the session is restarted (its
// counters start again at zero).
type healthWatch struct {
	seen bool
	last traceStats
}

// observe records s and returns a sensor.blind reason when events or
// buffers were lost since the previous observation ("" when healthy). The
// first observation of a session reports losses already counted.
func (w *healthWatch) observe(s traceStats) string {
	prev := w.last
	if !w.seen {
		prev = traceStats{}
	}
	w.seen, w.last = true, s
	lost := uint64(s.eventsLost) - uint64(min(prev.eventsLost, s.eventsLost))
	bufs := uint64(s.rtBuffersLost) - uint64(min(prev.rtBuffersLost, s.rtBuffersLost)) +
		uint64(s.logBuffersLost) - uint64(min(prev.logBuffersLost, s.logBuffersLost))
	switch {
	case lost > 0 && bufs > 0:
		return "ETW session lost " + strconv.FormatUint(lost, 10) + " events and " + strconv.FormatUint(bufs, 10) + " buffers"
	case lost > 0:
		return "ETW session lost " + strconv.FormatUint(lost, 10) + " events"
	case bufs > 0:
		return "ETW session lost " + strconv.FormatUint(bufs, 10) + " buffers"
	}
	return ""
}

func (w *healthWatch) reset() { *w = healthWatch{} }

// traceEnableInfo is one TRACE_ENABLE_INFO: how one session enables a
// provider.
type traceEnableInfo struct {
	isEnabled       uint32
	level           uint8
	loggerID        uint16
	enableProperty  uint32
	matchAnyKeyword uint64
	matchAllKeyword uint64
}

// parseTraceGuidInfo reads the buffer EnumerateTraceGuidsEx
// (TraceGuidQueryInfo) fills: a TRACE_GUID_INFO, then InstanceCount
// TRACE_PROVIDER_INSTANCE_INFO, each followed by EnableCount
// TRACE_ENABLE_INFO (32 bytes). It returns every enable record; a
// malformed buffer yields what could be read and an error.
func parseTraceGuidInfo(buf []byte) ([]traceEnableInfo, error) {
	le := binary.LittleEndian
	if len(buf) < 8 {
		return nil, errors.New("TRACE_GUID_INFO buffer too short")
	}
	instances := le.Uint32(buf[0:])
	var out []traceEnableInfo
	off := 8
	for i := uint32(0); i < instances; i++ {
		if off+16 > len(buf) {
			return out, errors.New("TRACE_PROVIDER_INSTANCE_INFO past the end of the buffer")
		}
		next := int(le.Uint32(buf[off:]))
		count := int(le.Uint32(buf[off+4:]))
		p := off + 16
		for j := 0; j < count; j++ {
			if p+32 > len(buf) {
				return out, errors.New("TRACE_ENABLE_INFO past the end of the buffer")
			}
			out = append(out, traceEnableInfo{
				isEnabled:       le.Uint32(buf[p:]),
				level:           buf[p+4],
				loggerID:        le.Uint16(buf[p+6:]),
				enableProperty:  le.Uint32(buf[p+8:]),
				matchAnyKeyword: le.Uint64(buf[p+16:]),
				matchAllKeyword: le.Uint64(buf[p+24:]),
			})
			p += 32
		}
		if next == 0 {
			break
		}
		if next < 16 {
			return out, errors.New("TRACE_PROVIDER_INSTANCE_INFO NextOffset too small")
		}
		off += next
	}
	return out, nil
}

// EVENT_ENABLE_PROPERTY_* bits the sensor asks for.
const (
	enablePropertySID  = 0x001
	enablePropertyTSID = 0x002
)

// checkEnabled returns "" when session loggerID enables the provider with
// the process keyword and the SID / terminal session properties, or a
// sensor.blind reason saying what was changed from outside.
func checkEnabled(infos []traceEnableInfo, loggerID uint16) string {
	for _, e := range infos {
		if e.loggerID != loggerID {
			continue
		}
		if e.isEnabled == 0 {
			return "Kernel-Process provider disabled in the ETW session"
		}
		if e.matchAnyKeyword != 0 && e.matchAnyKeyword&kernelProcessKeywordProcess == 0 {
			return "ETW session keywords changed to 0x" + strconv.FormatUint(e.matchAnyKeyword, 16) + " (process keyword 0x10 removed)"
		}
		if e.matchAllKeyword&^kernelProcessKeywordProcess != 0 {
			return "ETW session MatchAllKeyword changed to 0x" + strconv.FormatUint(e.matchAllKeyword, 16)
		}
		if e.level != 0 && e.level < 4 {
			return "ETW session level lowered to " + strconv.Itoa(int(e.level)) + " (process events are level 4)"
		}
		if e.enableProperty&(enablePropertySID|enablePropertyTSID) != enablePropertySID|enablePropertyTSID {
			return "ETW session enable properties changed to 0x" + strconv.FormatUint(uint64(e.enableProperty), 16) + " (SID and terminal session data removed)"
		}
		return ""
	}
	return "Kernel-Process provider no longer enabled in the ETW session"
}

// backoff spaces restart attempts: min, doubling up to max; a session that
// stayed up for stableAfter resets it.
type backoff struct {
	min, max time.Duration
	next     time.Duration
}

func newBackoff(min, max time.Duration) *backoff { return &backoff{min: min, max: max, next: min} }

// delay returns the wait before the next attempt and doubles the one after.
func (b *backoff) delay() time.Duration {
	d := b.next
	b.next *= 2
	if b.next > b.max {
		b.next = b.max
	}
	return d
}

// stable is called when a session ran for uptime; a long run resets the
// back-off.
func (b *backoff) stable(uptime time.Duration) {
	if uptime >= 2*b.max || uptime >= 10*time.Minute {
		b.next = b.min
	}
}
