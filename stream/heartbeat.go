package stream

import (
	"strconv"
	"time"

	"github.com/smsswatch/smsswatch/etw/jsonenc"
	"github.com/smsswatch/smsswatch/stream/alert"
)

// Counters are the sensor pipeline's own counters, reported in every
// heartbeat next to the publisher's.
type Counters struct {
	// Events is how many events the sources delivered.
	Events uint64
	// Violations is how many violations the engines emitted.
	Violations uint64
	// Drops is how many events the pipeline dropped (queue full).
	Drops uint64
	// LostEvents is how many events the source itself lost (ETW).
	LostEvents uint64
	// QueueDepth is how many events wait in the pipeline's queue.
	QueueDepth int
	// ClockSteps is how many times the events' time base jumped (the
	// live sensor's clock check).
	ClockSteps uint64
	// CanaryMissed is how many canary processes' starts the source did
	// not deliver (a sign it lost events).
	CanaryMissed uint64
	// ExitsLost is how many session children's exit records were lost
	// (the detector found them exited without one; their persistence
	// check was not made).
	ExitsLost uint64
}

// heartbeat publishes the counters on prefix.heartbeat.<host> (core NATS,
// not stored; skipped while disconnected).
func (p *Publisher) heartbeat() {
	if !p.connected {
		return
	}
	var c Counters
	if p.cfg.Counters != nil {
		c = p.cfg.Counters()
	}
	p.snapshot()
	p.hbBuf = appendHeartbeat(p.hbBuf[:0], &p.cfg, time.Now(), time.Since(p.t0), c, p.Stats())
	_ = p.nc.Publish(HeartbeatSubject(p.prefix, p.cfg.Host), p.hbBuf)
}

// appendHeartbeat appends the heartbeat document (ParseHeartbeat reads it).
func appendHeartbeat(b []byte, cfg *Config, now time.Time, uptime time.Duration, c Counters, s Stats) []byte {
	b = append(b, `{"@timestamp":`...)
	b = jsonenc.AppendTime(b, now.UnixNano())
	b = append(b, `,"event":{"kind":"metric","module":"smsswatch","dataset":"smsswatch.heartbeat"}`...)
	b = append(b, `,"host":{"name":`...)
	b = jsonenc.AppendString(b, cfg.Host)
	b = append(b, `},"smsswatch":{"schema_version":`...)
	b = strconv.AppendInt(b, alert.SchemaVersion, 10)
	b = append(b, `,"version":`...)
	b = jsonenc.AppendString(b, cfg.Version)
	b = append(b, `,"uptime_s":`...)
	b = strconv.AppendInt(b, int64(uptime/time.Second), 10)
	b = append(b, `,"heartbeat_ms":`...) // the period, for consumers that watch for silence
	b = strconv.AppendInt(b, int64(cfg.Heartbeat/time.Millisecond), 10)
	for _, kv := range [...]struct {
		k string
		v uint64
	}{
		{"events", c.Events}, {"violations", c.Violations}, {"drops", c.Drops},
		{"lost_events", c.LostEvents}, {"queue_depth", uint64(max(c.QueueDepth, 0))},
		{"clock_steps", c.ClockSteps}, {"canary_missed", c.CanaryMissed}, {"exits_lost", c.ExitsLost},
		{"published", s.Published}, {"publish_drops", s.Dropped}, {"publish_rejected", s.Rejected},
		{"publish_truncated", s.Truncated}, {"publish_oversized", s.Oversized},
		{"publish_queue_depth", uint64(s.QueueDepth)}, {"inflight", uint64(s.Inflight)},
		{"retries", s.Retries}, {"spool_depth", uint64(s.SpoolDepth)},
		{"spool_bytes", uint64(s.SpoolBytes)}, {"spool_dropped", s.SpoolDropped},
	} {
		b = append(b, ',', '"')
		b = append(b, kv.k...)
		b = append(b, '"', ':')
		b = strconv.AppendUint(b, kv.v, 10)
	}
	return append(b, '}', '}')
}
