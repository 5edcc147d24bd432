package detect

import (
	"strconv"

	"github.com/cespare/xxhash/v2"
)

// Blind raises sensor.blind: the live sensor lost events or its ETW session
// was stopped or changed. reason is one line saying what happened.
func (e *Engine) Blind(now int64, reason string) {
	e.Advance(now)
	v := &e.v
	*v = Violation{Rule: RuleSensorBlind, Time: now, Host: e.host, Source: e.src, Count: 1}
	v.Evidence.Observed = reason
	e.msgBuf = append(e.msgBuf[:0], "sensor blind: "...)
	e.msgBuf = append(e.msgBuf, reason...)
	b := append(e.keyBuf[:0], "sensor.blind\x00"...)
	b = appendLowerASCII(b, e.host)
	b = append(b, 0)
	b = append(b, reason...)
	b = append(b, 0)
	b = strconv.AppendInt(b, floorDiv(now, 1e9), 10)
	e.keyBuf = b
	v.DedupeKey = xxhash.Sum64(b)
	e.emit()
}
