package detect

import (
	"strconv"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/smsswatch/smsswatch/etw"
)

// Message building: appends into e.msgBuf, no fmt.

func (e *Engine) msg(s string) *Engine {
	e.msgBuf = append(e.msgBuf, s...)
	return e
}

func (e *Engine) num(n uint32) *Engine {
	e.msgBuf = strconv.AppendUint(e.msgBuf, uint64(n), 10)
	return e
}

func (e *Engine) dur(ns int64) *Engine {
	d := time.Duration(ns)
	switch {
	case d >= time.Second:
		d = d.Round(time.Millisecond)
	case d >= time.Millisecond:
		d = d.Round(time.Microsecond)
	}
	e.msgBuf = append(e.msgBuf, d.String()...)
	return e
}

// scratchNum formats n into a scratch buffer (copy before the next call).
func (e *Engine) scratchNum(n uint32) []byte {
	e.keyBuf = strconv.AppendUint(e.keyBuf[:0], uint64(n), 10)
	return e.keyBuf
}

// begin prepares e.v for a violation about a tracked instance.
func (e *Engine) begin(r Rule, at int64, in *instance) *Violation {
	v := &e.v
	*v = Violation{Rule: r, Time: at, Host: e.host, Source: e.src, Count: 1}
	v.Process = in.info
	v.Parent = in.parent
	v.Evidence.Role = in.role
	if e.bootTime != 0 {
		v.Evidence.BootTime = e.bootTime
	}
	e.msgBuf = e.msgBuf[:0]
	return v
}

// beginEvent prepares e.v for a violation about the process in ev.
func (e *Engine) beginEvent(r Rule, at int64, ev *etw.Event) *Violation {
	v := &e.v
	*v = Violation{Rule: r, Time: at, Host: e.host, Source: e.src, Count: 1}
	infoOf(&v.Process, ev)
	parentInfoOf(&v.Parent, ev)
	e.msgBuf = e.msgBuf[:0]
	return v
}

// finish emits e.v about instance in, once per rule and instance.
func (e *Engine) finish(in *instance) {
	if in.hasFired(e.v.Rule) {
		return
	}
	in.fired |= 1 << e.v.Rule
	e.v.DedupeKey = e.identityKey(e.v.Rule, in.pid, in.start, in.info.Key)
	e.emit()
}

// finishEvent emits e.v about the process in ev.
func (e *Engine) finishEvent(ev *etw.Event) {
	key := ""
	if ev.Known&etw.FieldKey != 0 {
		key = ev.Proc.Key
	}
	e.v.DedupeKey = e.identityKey(e.v.Rule, ev.Proc.PID, startOf(ev), key)
	e.emit()
}

// identityKey is the stable dedupe key of (rule, host, process identity).
// The identity is the PID and the start time to the second when the start
// is known, so that Sysmon and Security auditing, which see the same
// process, give the same key; else the source's unique key; else the PID
// within this engine's boot.
func (e *Engine) identityKey(r Rule, pid uint32, start int64, key string) uint64 {
	b := e.keyBuf[:0]
	b = append(b, r.ID()...)
	b = append(b, 0)
	b = appendLowerASCII(b, e.host)
	b = append(b, 0)
	b = strconv.AppendUint(b, uint64(pid), 10)
	b = append(b, 0)
	switch {
	case start != 0:
		b = strconv.AppendInt(b, floorDiv(start, 1e9), 10)
	case key != "":
		b = append(b, key...)
	default:
		b = append(b, "boot"...)
		b = strconv.AppendInt(b, int64(e.epoch), 10)
	}
	e.keyBuf = b
	return xxhash.Sum64(b)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

func appendLowerASCII(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// emit applies disabling, severity and flood control to e.v and hands it
// to the sink.
func (e *Engine) emit() {
	v := &e.v
	r := v.Rule
	if e.d.disabled[r] {
		e.stats.Disabled[r]++
		return
	}
	v.Severity = e.d.severity[r]
	v.Message = string(e.msgBuf)
	a := &e.agg[r]
	if a.n == 0 || v.Time-a.windowStart >= int64(e.cfg.AggregateWindow) || v.Time < a.windowStart {
		e.closeWindow(r)
		a.windowStart, a.n = v.Time, 0
	}
	a.n++
	if a.n <= e.cfg.AggregateAfter {
		e.stats.Violations[r]++
		e.sink.Violation(v)
		return
	}
	// Fold into the window's aggregate.
	e.stats.Aggregated[r]++
	if a.folded == 0 {
		a.first = v.Time
		a.tmpl = *v
		a.tmpl.Evidence.Spawned = nil
		if end := a.windowStart + int64(e.cfg.AggregateWindow); end < e.aggNext {
			e.aggNext = end
		}
	}
	a.folded++
	a.last = v.Time
}

// closeWindow emits the aggregate of rule r's current window, if any.
func (e *Engine) closeWindow(r Rule) {
	a := &e.agg[r]
	if a.folded == 0 {
		return
	}
	v := &e.v
	saved := *v
	*v = a.tmpl
	v.Time = a.last
	v.Count = a.folded
	v.Evidence.First, v.Evidence.Last = a.first, a.last
	e.msgBuf = append(e.msgBuf[:0], strconv.Itoa(int(a.folded))...)
	e.msgBuf = append(e.msgBuf, " more "...)
	e.msgBuf = append(e.msgBuf, r.ID()...)
	e.msgBuf = append(e.msgBuf, " alerts on this host within "...)
	e.msgBuf = append(e.msgBuf, time.Duration(e.cfg.AggregateWindow).String()...)
	e.msgBuf = append(e.msgBuf, " (aggregated; the first one: "...)
	e.msgBuf = append(e.msgBuf, a.tmpl.Message...)
	e.msgBuf = append(e.msgBuf, ')')
	v.Message = string(e.msgBuf)
	b := append(e.keyBuf[:0], r.ID()...)
	b = append(b, "\x00aggregate\x00"...)
	b = appendLowerASCII(b, e.host)
	b = append(b, 0)
	b = strconv.AppendInt(b, a.windowStart, 10)
	e.keyBuf = b
	v.DedupeKey = xxhash.Sum64(b)
	e.stats.Violations[r]++
	e.sink.Violation(v)
	a.folded = 0
	a.tmpl = Violation{}
	*v = saved
}

// flushAggregates closes windows that ended by now (all when force).
func (e *Engine) flushAggregates(now int64, force bool) {
	next := noDeadline
	for r := Rule(1); r < numRules; r++ {
		a := &e.agg[r]
		if a.folded == 0 {
			continue
		}
		end := a.windowStart + int64(e.cfg.AggregateWindow)
		if force || now >= end {
			e.closeWindow(r)
			a.n = 0
			continue
		}
		if end < next {
			next = end
		}
	}
	e.aggNext = next
}

func hashBytes(b []byte) uint64 { return xxhash.Sum64(b) }
