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

// Flood control (DETECTION.md evidence rule 9). Alerts of one rule on
// one host are aggregated only with alerts the same in substance: the same
// evidence fingerprint (image, parent image, command line; for registry
// alerts the key, value and data). Each fingerprint lets AggregateAfter
// alerts through per AggregateWindow and folds the rest into one alert
// with a count, so decoys with one path never hide an impostor with
// another. Past maxFingerprints distinct fingerprints in a window the rest
// fold into one overflow alert that lists the distinct values it folded
// (up to maxFoldedValues, each with its count, and how many alerts were
// of kinds beyond the list).
const (
	maxFingerprints = 8
	maxFoldedValues = 16
)

// aggSlot is one fingerprint's window.
type aggSlot struct {
	used        bool
	fp          uint64
	windowStart int64
	n           int
	folded      uint32
	first, last int64
	tmpl        Violation
	values      []FoldedValue // overflow slot only
	moreValues  uint32
}

// aggState is the flood control for one rule on this engine.
type aggState struct {
	slots    [maxFingerprints]aggSlot
	overflow aggSlot
}

// fingerprint is what makes two alerts of a rule the same in substance.
func fingerprint(v *Violation) uint64 {
	var d xxhash.Digest
	d.Reset()
	d.WriteString(v.Process.Image)
	d.WriteString("\x00")
	d.WriteString(v.Parent.Image)
	d.WriteString("\x00")
	d.WriteString(v.Process.CommandLine)
	d.WriteString("\x00")
	d.WriteString(v.Evidence.RegKey)
	d.WriteString("\x00")
	d.WriteString(v.Evidence.RegValue)
	d.WriteString("\x00")
	d.WriteString(v.Evidence.RegData)
	d.WriteString("\x00")
	d.WriteString(v.Evidence.Observed)
	return d.Sum64()
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
	window := int64(e.cfg.AggregateWindow)
	fp := fingerprint(v)
	a := &e.agg[r]
	slot := (*aggSlot)(nil)
	var free *aggSlot
	for i := range a.slots {
		s := &a.slots[i]
		if s.used && (v.Time-s.windowStart >= window || v.Time < s.windowStart) {
			e.closeSlot(r, s)
			s.used = false
		}
		if s.used && s.fp == fp {
			slot = s
		} else if !s.used && free == nil {
			free = s
		}
	}
	if slot == nil && free != nil {
		slot = free
		*slot = aggSlot{used: true, fp: fp, windowStart: v.Time}
	}
	if slot == nil {
		// Too many distinct fingerprints this window: fold into the
		// overflow alert, which names what it folded.
		o := &a.overflow
		if o.used && (v.Time-o.windowStart >= window || v.Time < o.windowStart) {
			e.closeSlot(r, o)
			o.used = false
		}
		if !o.used {
			*o = aggSlot{used: true, windowStart: v.Time, values: o.values[:0]}
		}
		e.fold(r, o, v)
		o.addValue(v)
		return
	}
	slot.n++
	if slot.n <= e.cfg.AggregateAfter {
		e.stats.Violations[r]++
		e.sink.Violation(v)
		return
	}
	e.fold(r, slot, v)
}

// fold adds v to slot's aggregate.
func (e *Engine) fold(r Rule, slot *aggSlot, v *Violation) {
	e.stats.Aggregated[r]++
	if slot.folded == 0 {
		slot.first = v.Time
		slot.tmpl = *v
		slot.tmpl.Evidence.Spawned = nil
		if end := slot.windowStart + int64(e.cfg.AggregateWindow); end < e.aggNext {
			e.aggNext = end
		}
	}
	slot.folded++
	slot.last = v.Time
}

// addValue records v's substance in the overflow slot, bounded.
func (s *aggSlot) addValue(v *Violation) {
	for i := range s.values {
		f := &s.values[i]
		if f.Image == v.Process.Image && f.ParentImage == v.Parent.Image && f.CommandLine == v.Process.CommandLine {
			f.Count++
			return
		}
	}
	if len(s.values) >= maxFoldedValues {
		s.moreValues++
		return
	}
	s.values = append(s.values, FoldedValue{Image: v.Process.Image, ParentImage: v.Parent.Image, CommandLine: v.Process.CommandLine, Count: 1})
}

// closeSlot emits the aggregate of one slot's window, if any.
func (e *Engine) closeSlot(r Rule, a *aggSlot) {
	if a.folded == 0 {
		return
	}
	v := &e.v
	saved := *v
	*v = a.tmpl
	v.Time = a.last
	v.Count = a.folded
	v.Evidence.First, v.Evidence.Last = a.first, a.last
	v.Evidence.Folded, v.Evidence.MoreFolded = nil, 0
	if a.fp == 0 {
		v.Evidence.Folded = append([]FoldedValue(nil), a.values...)
		v.Evidence.MoreFolded = a.moreValues
	}
	e.msgBuf = append(e.msgBuf[:0], strconv.Itoa(int(a.folded))...)
	e.msgBuf = append(e.msgBuf, " more "...)
	e.msgBuf = append(e.msgBuf, r.ID()...)
	if a.fp == 0 {
		e.msgBuf = append(e.msgBuf, " alerts of other kinds ("...)
		e.msgBuf = strconv.AppendInt(e.msgBuf, int64(len(a.values)), 10)
		e.msgBuf = append(e.msgBuf, " kinds listed with their counts"...)
		if a.moreValues > 0 {
			e.msgBuf = append(e.msgBuf, ", "...)
			e.msgBuf = strconv.AppendUint(e.msgBuf, uint64(a.moreValues), 10)
			e.msgBuf = append(e.msgBuf, " of kinds not listed"...)
		}
		e.msgBuf = append(e.msgBuf, ')')
	} else {
		e.msgBuf = append(e.msgBuf, " alerts the same as this one"...)
	}
	e.msgBuf = append(e.msgBuf, " on this host within "...)
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
	b = append(b, 0)
	b = strconv.AppendUint(b, a.fp, 16)
	e.keyBuf = b
	v.DedupeKey = xxhash.Sum64(b)
	e.stats.Violations[r]++
	e.sink.Violation(v)
	a.folded = 0
	a.tmpl = Violation{}
	a.values = a.values[:0]
	a.moreValues = 0
	*v = saved
}

// flushAggregates closes windows that ended by now (all when force).
func (e *Engine) flushAggregates(now int64, force bool) {
	next := noDeadline
	window := int64(e.cfg.AggregateWindow)
	for r := Rule(1); r < numRules; r++ {
		a := &e.agg[r]
		for i := -1; i < maxFingerprints; i++ {
			s := &a.overflow
			if i >= 0 {
				s = &a.slots[i]
			}
			if !s.used {
				continue
			}
			end := s.windowStart + window
			if force || now >= end {
				e.closeSlot(r, s)
				s.used = false
				continue
			}
			if s.folded > 0 && end < next {
				next = end
			}
		}
	}
	e.aggNext = next
}

func hashBytes(b []byte) uint64 { return xxhash.Sum64(b) }
